// Bootstraps: the wire format's parser on good, truncated, oversized and hostile
// bytes; unique ids; the in-process and callback bootstraps; the TCP bootstrap
// with ranks as threads, strangers that do not hold the secret, and ranks that
// disagree on a size.
#include <catch2/catch.hpp>
#include <weft/bootstrap/bootstrap.hpp>
#include <weft/bootstrap/tcp.hpp>
#include <weft/bootstrap/wire.hpp>
#include <weft/team/cpu_team.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

using weft::status;
namespace wire = weft::wire;

namespace {

bool contains(std::string const& s, std::string const& part) { return s.find(part) != std::string::npos; }

wire::hello sample_hello(int rank, int size) {
  wire::hello h;
  h.rank = rank;
  h.size = size;
  for (int i = 0; i < weft::bootstrap_secret_bytes; ++i) h.secret[i] = static_cast<unsigned char>(i * 7 + 3);
  return h;
}

// A raw TCP connection to the root of `id`, for playing a stranger.
int raw_connect(weft::tcp_unique_id const& id) {
  sockaddr_storage a;
  socklen_t al;
  if (!weft::decode_unique_id(id, a, al, nullptr)) return -1;
  int const fd = ::socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), al) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void send_raw(int fd, void const* p, std::size_t n) {
  auto const* b = static_cast<unsigned char const*>(p);
  while (n > 0) {
    ssize_t const w = ::send(fd, b, n, MSG_NOSIGNAL);
    if (w <= 0) return; // the root may close on us mid-way: that is the point
    b += w;
    n -= std::size_t(w);
  }
}

} // namespace

TEST_CASE("wire: hello and frame headers round-trip; truncated, bad and oversized input is refused", "[proc][wire]") {
  unsigned char h[wire::hello_bytes];
  wire::hello in = sample_hello(3, 8), out;
  wire::encode_hello(in, h);
  REQUIRE(wire::parse_hello(h, sizeof h, out) == wire::parse::ok);
  CHECK(out.rank == 3);
  CHECK(out.size == 8);
  CHECK(wire::admit_hello(out, in.secret, 8) == wire::parse::ok);
  CHECK(wire::admit_hello(out, in.secret, 3) == wire::parse::bad_rank);
  unsigned char other[weft::bootstrap_secret_bytes] = {};
  CHECK(wire::admit_hello(out, other, 8) == wire::parse::bad_secret);
  for (std::size_t n = 0; n < wire::hello_bytes; ++n) CHECK(wire::parse_hello(h, n, out) == wire::parse::need_more);
  unsigned char bad[wire::hello_bytes];
  std::memcpy(bad, h, sizeof h);
  bad[0] = 'X';
  CHECK(wire::parse_hello(bad, 1, out) == wire::parse::bad_magic); // refused on its first byte
  std::memcpy(bad, h, sizeof h);
  bad[4] = 9;
  CHECK(wire::parse_hello(bad, sizeof bad, out) == wire::parse::bad_version);
  std::memcpy(bad, h, sizeof h);
  bad[60] = 1;
  CHECK(wire::parse_hello(bad, sizeof bad, out) == wire::parse::bad_field);

  unsigned char f[wire::frame_header_bytes];
  wire::encode_frame_header({wire::frame_kind::gather, 42, 1000}, f);
  wire::frame_header fh;
  REQUIRE(wire::parse_frame_header(f, sizeof f, 1000, fh) == wire::parse::ok);
  CHECK(fh.seq == 42);
  CHECK(fh.length == 1000);
  CHECK(wire::parse_frame_header(f, sizeof f, 999, fh) == wire::parse::too_large);
  CHECK(wire::parse_frame_header(f, 10, 1000, fh) == wire::parse::need_more);
  f[4] = 9;
  CHECK(wire::parse_frame_header(f, sizeof f, 1000, fh) == wire::parse::bad_kind);
}

TEST_CASE("wire: the frame reader reassembles frames from any split and stops at a bad header", "[proc][wire]") {
  std::vector<unsigned char> stream;
  for (int k = 0; k < 3; ++k) {
    unsigned char f[wire::frame_header_bytes];
    std::size_t const len = std::size_t(k * 37);
    wire::encode_frame_header({wire::frame_kind::gather, std::uint64_t(k), len}, f);
    stream.insert(stream.end(), f, f + sizeof f);
    for (std::size_t i = 0; i < len; ++i) stream.push_back(static_cast<unsigned char>(k + i));
  }
  for (std::size_t chunk : {std::size_t(1), std::size_t(5), std::size_t(24), std::size_t(1000)}) {
    wire::frame_reader rd(100);
    int frames = 0;
    std::size_t off = 0;
    while (off < stream.size()) {
      std::size_t const n = std::min(chunk, stream.size() - off);
      std::size_t used = 0;
      while (used < n) {
        used += rd.feed(stream.data() + off + used, n - used);
        REQUIRE(!rd.failed());
        if (rd.complete()) {
          CHECK(rd.header().seq == std::uint64_t(frames));
          CHECK(rd.payload().size() == std::size_t(frames * 37));
          if (!rd.payload().empty()) CHECK(rd.payload().back() == static_cast<unsigned char>(frames + frames * 37 - 1));
          ++frames;
          rd.next();
        }
      }
      off += n;
    }
    CHECK(frames == 3);
  }
  wire::frame_reader small(50); // the third frame (74 bytes) is over this bound
  std::size_t used = 0;
  int frames = 0;
  while (used < stream.size() && !small.failed()) {
    used += small.feed(stream.data() + used, stream.size() - used);
    if (small.complete()) ++frames, small.next();
  }
  CHECK(frames == 2);
  CHECK(small.error() == wire::parse::too_large);
}

TEST_CASE("unique id: text round-trip, and anything else is refused", "[proc][wire]") {
  std::unique_ptr<weft::tcp_root> root;
  weft::tcp_unique_id id;
  weft::tcp_root_options o;
  o.nranks = 1;
  REQUIRE(weft::tcp_root::start(o, id, root) == status::success);
  std::string const text = weft::to_string(id);
  CHECK(text.size() == 256);
  weft::tcp_unique_id back;
  REQUIRE(weft::parse_unique_id(text, back) == status::success);
  CHECK(std::memcmp(back.data, id.data, sizeof id.data) == 0);
  CHECK(weft::parse_unique_id(text.substr(1), back) == status::invalid_argument);
  CHECK(weft::parse_unique_id(std::string(256, 'g'), back) == status::invalid_argument);
  CHECK(weft::parse_unique_id(std::string(256, '0'), back) == status::invalid_argument);
  // Every byte outside the fields must be zero (found by the fuzzer: padding after the port).
  for (std::size_t at : {std::size_t(10), std::size_t(11), std::size_t(60), std::size_t(127)}) {
    std::string bad = text;
    bad[2 * at + 1] = '1';
    CHECK(weft::parse_unique_id(bad, back) == status::invalid_argument);
  }
  // Two roots never share a secret.
  std::unique_ptr<weft::tcp_root> root2;
  weft::tcp_unique_id id2;
  REQUIRE(weft::tcp_root::start(o, id2, root2) == status::success);
  CHECK(std::memcmp(id.data + 28, id2.data + 28, weft::bootstrap_secret_bytes) != 0);
  root->stop();
  root2->stop();
}

TEST_CASE("in-process and callback bootstraps gather every rank's bytes", "[proc]") {
  int const n = 4;
  weft::cpu_team team(n);
  std::vector<int> ok(n, 0);
  weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
    weft::team_bootstrap tb(tr);
    // A callback bootstrap over the team's own gather stands in for a framework's process group.
    // example-begin callback-boot
    weft::callback_bootstrap cb(tr.rank(), n, [&](void const* mine, std::size_t bytes, void* out) {
      return tr.all_gather(mine, bytes, out);
    });
    // example-end callback-boot
    int good = 1;
    for (weft::bootstrap* b : {static_cast<weft::bootstrap*>(&tb), static_cast<weft::bootstrap*>(&cb)}) {
      long mine[2] = {long(tr.rank()) * 10, long(tr.rank()) * 10 + 1};
      std::vector<long> all(2 * n, -1);
      if (b->all_gather(mine, sizeof mine, all.data()) != status::success) return status::internal_error;
      for (int r = 0; r < n; ++r) good &= all[2 * r] == r * 10 && all[2 * r + 1] == r * 10 + 1;
      if (b->barrier() != status::success) return status::internal_error;
      int v = tr.rank() == 2 ? 77 : 0;
      if (weft::bootstrap_broadcast(*b, 2, &v, sizeof v) != status::success) return status::internal_error;
      good &= v == 77;
      good &= b->all_gather(nullptr, 4, all.data()) == status::invalid_argument;
    }
    ok[tr.rank()] = good;
    return status::success;
  });
  CHECK(s == status::success);
  for (int r = 0; r < n; ++r) CHECK(ok[r] == 1);

  weft::callback_bootstrap broken(0, 1, {});
  int x = 0;
  CHECK(broken.all_gather(&x, sizeof x, &x) == status::invalid_argument);
  CHECK(contains(broken.last_error(), "callback"));
  weft::callback_bootstrap failing(0, 1, [](void const*, std::size_t, void*) { return status::peer_failure; });
  CHECK(failing.barrier() == status::peer_failure);
  CHECK(contains(failing.last_error(), "gather callback failed"));
}

TEST_CASE("TCP bootstrap: four ranks gather; strangers are refused without disturbing the job", "[proc][tcp]") {
  int const n = 4;
  weft::tcp_root_options ro;
  ro.nranks = n;
  ro.hello_timeout_ns = 300'000'000ull;
  ro.max_message_bytes = 4096;
  std::unique_ptr<weft::tcp_root> root;
  weft::tcp_unique_id id;
  REQUIRE(weft::tcp_root::start(ro, id, root) == status::success);

  // Strangers first, so they are there while the job joins.
  std::vector<int> strangers;
  {
    int fd = raw_connect(id); // the right format, the wrong secret
    unsigned char h[wire::hello_bytes];
    wire::hello w = sample_hello(1, n);
    wire::encode_hello(w, h);
    send_raw(fd, h, sizeof h);
    strangers.push_back(fd);
    fd = raw_connect(id); // a truncated hello, then gone
    send_raw(fd, h, 10);
    ::close(fd);
    fd = raw_connect(id); // junk
    send_raw(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    strangers.push_back(fd);
    fd = raw_connect(id); // an oversized message: a right magic, then a megabyte
    std::vector<unsigned char> big(1 << 20, 0xab);
    std::memcpy(big.data(), h, 4);
    send_raw(fd, big.data(), big.size());
    strangers.push_back(fd);
    strangers.push_back(raw_connect(id)); // silent: must be dropped after hello_timeout_ns
  }

  weft::cpu_team team(n);
  std::vector<int> ok(n, 0);
  std::vector<weft::status> too_big(n), mismatch(n), after(n);
  std::vector<std::string> mismatch_err(n);
  weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
    weft::tcp_options o;
    o.timeout_ns = 20'000'000'000ull;
    o.max_message_bytes = 4096;
    std::unique_ptr<weft::tcp_bootstrap> b;
    if (auto st = weft::tcp_bootstrap::connect(id, tr.rank(), n, o, b); st != status::success) return st;
    int good = b->rank() == tr.rank() && b->size() == n;
    for (int round = 0; round < 20; ++round) {
      std::vector<std::uint32_t> mine(size_t(round + 1), std::uint32_t(tr.rank() * 1000 + round));
      std::vector<std::uint32_t> all(mine.size() * n, 0);
      if (b->all_gather(mine.data(), mine.size() * 4, all.data()) != status::success) return status::internal_error;
      for (int r = 0; r < n; ++r)
        for (std::size_t i = 0; i < mine.size(); ++i) good &= all[std::size_t(r) * mine.size() + i] == std::uint32_t(r * 1000 + round);
      if (round == 5) std::this_thread::sleep_for(std::chrono::milliseconds(400)); // outlast the silent stranger
    }
    good &= b->barrier() == status::success;
    // Over the bound: refused here, nothing sent, the job goes on.
    std::vector<unsigned char> big(5000), bigall(5000 * n);
    too_big[tr.rank()] = b->all_gather(big.data(), big.size(), bigall.data());
    after[tr.rank()] = b->barrier();
    ok[tr.rank()] = good;
    // Ranks that disagree on the size: every rank hears it from the root.
    std::vector<unsigned char> part(std::size_t(8 + (tr.rank() == 1 ? 4 : 0))), parts(part.size() * n);
    mismatch[tr.rank()] = b->all_gather(part.data(), part.size(), parts.data());
    mismatch_err[tr.rank()] = b->last_error();
    return status::success;
  });
  CHECK(s == status::success);
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << ": " << mismatch_err[r]);
    CHECK(ok[r] == 1);
    CHECK(too_big[r] == status::invalid_argument);
    CHECK(after[r] == status::success);
    CHECK(mismatch[r] == status::invalid_argument);
    CHECK(contains(mismatch_err[r], "different sizes"));
  }
  CHECK(root->wait_done(5'000'000'000ull));
  CHECK(root->refused() == 5);
  auto const log = root->log();
  std::string all_log;
  for (auto const& l : log) all_log += l + "\n";
  INFO(all_log);
  CHECK(contains(all_log, "wrong secret"));
  CHECK(contains(all_log, "truncated"));
  CHECK(contains(all_log, "bad magic"));
  CHECK(contains(all_log, "no hello in time"));
  for (int fd : strangers)
    if (fd >= 0) ::close(fd);
}

TEST_CASE("TCP bootstrap: a rank that leaves is reported to the others; nobody waits without bound", "[proc][tcp]") {
  int const n = 3;
  weft::tcp_root_options ro;
  ro.nranks = n;
  std::unique_ptr<weft::tcp_root> root;
  weft::tcp_unique_id id;
  REQUIRE(weft::tcp_root::start(ro, id, root) == status::success);
  weft::cpu_team team(n);
  std::vector<weft::status> st(n, status::success);
  std::vector<double> secs(n, 0);
  weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
    weft::tcp_options o;
    o.timeout_ns = 5'000'000'000ull;
    std::unique_ptr<weft::tcp_bootstrap> b;
    if (auto e = weft::tcp_bootstrap::connect(id, tr.rank(), n, o, b); e != status::success) return e;
    if (b->barrier() != status::success) return status::internal_error;
    if (tr.rank() == 2) {
      b.reset(); // leaves (says bye) while the others gather
      return status::success;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto const t0 = std::chrono::steady_clock::now();
    int x = 1, all[3];
    st[tr.rank()] = b->all_gather(&x, sizeof x, all);
    secs[tr.rank()] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return status::success;
  });
  CHECK(s == status::success);
  for (int r = 0; r < 2; ++r) {
    CHECK(st[r] == status::peer_failure);
    CHECK(secs[r] < 5.0);
  }
  // A member whose connection drops without a bye (its process died): the others hear who.
  {
    std::unique_ptr<weft::tcp_root> root2;
    weft::tcp_unique_id id2;
    REQUIRE(weft::tcp_root::start(ro, id2, root2) == status::success);
    sockaddr_storage a{};
    socklen_t al = 0;
    wire::hello h;
    REQUIRE(weft::decode_unique_id(id2, a, al, h.secret));
    h.rank = 2;
    h.size = n;
    int const fd = raw_connect(id2);
    unsigned char m[wire::hello_bytes];
    wire::encode_hello(h, m);
    send_raw(fd, m, sizeof m);
    weft::cpu_team pair(2);
    std::vector<weft::status> got(2, status::success);
    std::vector<std::string> err(2);
    CHECK(pair.run([&](weft::team_rank& tr) -> weft::status {
      std::unique_ptr<weft::tcp_bootstrap> b;
      weft::tcp_options o;
      o.timeout_ns = 5'000'000'000ull;
      if (auto e = weft::tcp_bootstrap::connect(id2, tr.rank(), n, o, b); e != status::success) return e;
      if (tr.rank() == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        ::close(fd); // rank 2 "dies"
      }
      int x = 1, all[3];
      got[tr.rank()] = b->all_gather(&x, sizeof x, all);
      err[tr.rank()] = b->last_error();
      return status::success;
    }) == status::success);
    for (int r = 0; r < 2; ++r) {
      INFO(err[r]);
      CHECK(got[r] == status::peer_failure);
      CHECK(contains(err[r], "rank 2 disconnected without a bye"));
    }
  }
  // Joining with a unique id nobody serves times out instead of hanging.
  root.reset();
  std::unique_ptr<weft::tcp_bootstrap> b;
  weft::tcp_options quick;
  quick.timeout_ns = 300'000'000ull;
  auto const t0 = std::chrono::steady_clock::now();
  CHECK(weft::tcp_bootstrap::connect(id, 0, 1, quick, b) == status::timeout);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 3.0);
  CHECK(weft::tcp_bootstrap::connect(id, 5, 2, quick, b) == status::invalid_argument);
}

TEST_CASE("torchrun variables are read and checked", "[proc][tcp]") {
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  ::setenv("RANK", "2", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::unsetenv("WEFT_BOOTSTRAP_SECRET");
  weft::torchrun_env e;
  std::string why;
  REQUIRE(weft::read_torchrun_env(e, &why) == status::success);
  CHECK(e.master_addr == "127.0.0.1");
  CHECK(e.master_port == 29511);
  CHECK(e.rank == 2);
  CHECK(e.world_size == 4);
  CHECK(e.local_rank == 1);
  CHECK(!e.has_secret);
  // Without a secret from_env refuses unless told otherwise.
  std::unique_ptr<weft::tcp_bootstrap> b;
  CHECK(weft::tcp_bootstrap::from_env({}, b, nullptr, false, &why) == status::invalid_argument);
  CHECK(contains(why, "WEFT_BOOTSTRAP_SECRET"));
  ::setenv("WEFT_BOOTSTRAP_SECRET", "xyz", 1);
  CHECK(weft::read_torchrun_env(e, &why) == status::invalid_argument);
  ::setenv("WEFT_BOOTSTRAP_SECRET", std::string(64, 'a').c_str(), 1);
  REQUIRE(weft::read_torchrun_env(e, &why) == status::success);
  CHECK(e.has_secret);
  CHECK(e.secret[0] == 0xaa);
  ::setenv("RANK", "4", 1);
  CHECK(weft::read_torchrun_env(e, &why) == status::invalid_argument);
  CHECK(contains(why, "RANK"));
  ::setenv("RANK", "1", 1);
  ::setenv("WEFT_BOOTSTRAP_PORT", "29600", 1); // takes MASTER_PORT's place
  REQUIRE(weft::read_torchrun_env(e, &why) == status::success);
  CHECK(e.master_port == 29600);
  ::unsetenv("WEFT_BOOTSTRAP_PORT");
  ::setenv("MASTER_PORT", "http", 1);
  CHECK(weft::read_torchrun_env(e, &why) == status::invalid_argument);
  for (char const* v : {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK", "WEFT_BOOTSTRAP_SECRET"})
    ::unsetenv(v);
}
