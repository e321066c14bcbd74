// Flags and step counters stay correct across thousands of back-to-back
// collectives on the same communicator and connections: no barrier between
// calls, so ranks drift apart by up to a whole collective, slots are reused many
// times over and LL/LL128 flags keep growing. Every rank checks every result on
// its own thread (inputs are small integers held in floats, so sums are exact),
// and afterwards every connection's counters must agree (sent == received).
#include <catch2/catch.hpp>
#include <weft/team/cpu_comm.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

using weft::protocol;

std::uint64_t hash3(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b * 0xC2B2AE3D27D4EB4Full + c * 0x165667B19E3779F9ull + 0x27d4eb2f;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Rank r's input element j of call `it`: a nonzero integer in [-15, 15], exact in float.
float input(int r, int it, std::size_t j) {
  std::uint64_t const h = hash3(std::uint64_t(r), std::uint64_t(it), j);
  float const v = float(1 + h % 15);
  return (h & 16u) ? -v : v;
}

constexpr float sentinel = -12345.5f;

// Checks the connection counters after a run: every step sent was received and consumed.
std::string counters_agree(weft::cpu_comm& comm, int nchannels) {
  for (int pi = 0; pi < weft::protocol_count; ++pi)
    for (int ch = 0; ch < nchannels; ++ch)
      for (int s = 0; s < comm.size(); ++s) {
        weft::connection const* c = comm.ring_conn(protocol(pi), ch, s);
        std::uint64_t const sent = *c->send_step, got = *c->recv_step, head = *c->head;
        bool ok = sent == got && head == got;
        if (protocol(pi) == protocol::simple)
          ok = ok && *c->tail == sent;
        if (!ok)
          return std::string(weft::to_string(protocol(pi))) + " channel " + std::to_string(ch) + " connection " +
                 std::to_string(s) + "->" + std::to_string((s + 1) % comm.size()) + ": send_step " +
                 std::to_string(sent) + " recv_step " + std::to_string(got) + " head " + std::to_string(head);
      }
  return {};
}

struct rank_log {
  int failures = 0;
  std::string first;
  void fail(std::string const& s) {
    if (failures++ == 0)
      first = s;
  }
};

// `iterations` all-reduces per protocol on one communicator, counts cycling through
// sizes that are and are not multiples of the steps, channels cycling through 1..nch.
void back_to_back_all_reduce(int n, int iterations, int max_ch, weft::cpu_comm_config cfg) {
  weft::cpu_team team(n);
  weft::cpu_comm comm(n, cfg);
  for (protocol p : {protocol::simple, protocol::ll, protocol::ll128}) {
    std::vector<rank_log> logs(std::size_t(n), rank_log{});
    std::vector<weft::status> per_rank;
    weft::status const st = team.run(
        [&](weft::team_rank& tr) -> weft::status {
          int const me = tr.rank();
          rank_log& log = logs[std::size_t(me)];
          std::vector<float> send, recv;
          for (int it = 0; it < iterations; ++it) {
            std::size_t const count = 1 + std::size_t(it) * 97 % 1200;
            weft::coll_options o;
            o.proto = p;
            o.nchannels = 1 + it % max_ch;
            bool const in_place = it % 3 == 2;
            send.resize(count);
            recv.assign(count + 8, sentinel);
            for (std::size_t j = 0; j < count; ++j)
              send[j] = input(me, it, j);
            if (in_place)
              std::copy(send.begin(), send.end(), recv.begin());
            weft::status const s = weft::all_reduce(comm, tr, in_place ? recv.data() : send.data(), recv.data(), count,
                                                    weft::op::sum<float>{}, o);
            if (s != weft::status::success) {
              log.fail("call " + std::to_string(it) + ": " + weft::to_string(s) + " (" + comm.last_error(me) + ")");
              return s;
            }
            for (std::size_t j = 0; j < count + 8; ++j) {
              float want = sentinel;
              if (j < count) {
                want = 0;
                for (int r = 0; r < n; ++r)
                  want += input(r, it, j);
              }
              if (recv[j] != want) {
                log.fail("call " + std::to_string(it) + " count " + std::to_string(count) + " element " +
                         std::to_string(j) + ": got " + std::to_string(recv[j]) + " want " + std::to_string(want));
                break;
              }
            }
          }
          return weft::status::success;
        },
        &per_rank);
    INFO("protocol " << weft::to_string(p) << " nranks " << n << " nslots " << cfg.nslots);
    CHECK(st == weft::status::success);
    for (int r = 0; r < n; ++r) {
      INFO("rank " << r << ": " << logs[std::size_t(r)].first);
      CHECK(logs[std::size_t(r)].failures == 0);
    }
    std::string const counters = counters_agree(comm, cfg.max_channels);
    INFO(counters);
    CHECK(counters.empty());
    if (st != weft::status::success)
      return;
  }
}

} // namespace

TEST_CASE("ring: 2000 back-to-back all-reduces per protocol on one communicator", "[ring][back-to-back]") {
  back_to_back_all_reduce(4, 2000, 2, weft::cpu_comm_config{});
}

TEST_CASE("ring: back-to-back all-reduces with two tiny slots per connection", "[ring][back-to-back]") {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 2;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 256;
  cfg.ll_slot_bytes = 256;
  cfg.ll128_slot_bytes = 256;
  back_to_back_all_reduce(3, 300, 2, cfg);
}

TEST_CASE("ring: back-to-back all-reduces, 5 ranks, three slots", "[ring][back-to-back]") {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 3;
  cfg.nslots = 3;
  cfg.simple_slot_bytes = 1024;
  cfg.ll_slot_bytes = 512;
  cfg.ll128_slot_bytes = 2048;
  back_to_back_all_reduce(5, 400, 3, cfg);
}

// Every collective, protocol, channel count, root, in-place or not, direct or
// not, mixed in one seeded sequence on one communicator.
TEST_CASE("ring: mixed collectives and protocols in sequence on one communicator", "[ring][back-to-back]") {
  enum kind { ar, ag, rs, bc, red, kinds };
  char const* const kind_name[] = {"all_reduce", "all_gather", "reduce_scatter", "broadcast", "reduce"};
  struct call {
    kind k;
    protocol p;
    int nch, root;
    std::size_t count;
    bool in_place, direct, use_max;
  };
  for (int n : {3, 4}) {
    weft::cpu_comm_config cfg;
    cfg.max_channels = 3;
    cfg.nslots = 2;
    cfg.simple_slot_bytes = 1024;
    cfg.ll_slot_bytes = 512;
    cfg.ll128_slot_bytes = 1024;
    int const ncalls = 600;
    std::vector<call> calls;
    for (int it = 0; it < ncalls; ++it) {
      std::uint64_t const h = hash3(0xabc, std::uint64_t(it), std::uint64_t(n));
      call c;
      c.k = kind(h % kinds);
      c.p = protocol((h >> 8) % 3);
      c.nch = 1 + int((h >> 12) % 3);
      c.root = int((h >> 16) % std::uint64_t(n));
      c.count = (h >> 20) % 5 == 0 ? (h >> 24) % 4 : (h >> 24) % 1500;
      c.in_place = ((h >> 40) & 1u) != 0;
      c.direct = c.k == ag && c.p == protocol::simple && ((h >> 41) & 1u) != 0;
      c.use_max = ((h >> 42) & 1u) != 0;
      calls.push_back(c);
    }
    weft::cpu_team team(n);
    weft::cpu_comm comm(n, cfg);
    std::vector<rank_log> logs(std::size_t(n), rank_log{});
    weft::status const st = team.run([&](weft::team_rank& tr) -> weft::status {
      int const me = tr.rank();
      rank_log& log = logs[std::size_t(me)];
      std::vector<float> send, buf;
      for (int it = 0; it < ncalls; ++it) {
        call const& c = calls[std::size_t(it)];
        std::size_t const cnt = c.count, un = std::size_t(n);
        std::size_t const in_n = c.k == rs ? un * cnt : cnt;
        std::size_t const out_n = c.k == ag ? un * cnt : cnt;
        auto in = [&](int r, std::size_t j) { return input(r, it, j); };
        send.resize(in_n);
        for (std::size_t j = 0; j < in_n; ++j)
          send[j] = in(me, j);
        // The receive buffer (in place: the only buffer), 8 sentinel elements past its end.
        std::size_t const buf_n = c.in_place && c.k == rs ? in_n : out_n;
        buf.assign(buf_n + 8, sentinel);
        float const* s = send.data();
        float* d = buf.data();
        std::size_t out_lo = 0;
        if (c.in_place) {
          if (c.k == ag) {
            std::copy(send.begin(), send.end(), buf.begin() + std::ptrdiff_t(std::size_t(me) * cnt));
            s = buf.data() + std::size_t(me) * cnt;
          } else if (c.k == rs) {
            std::copy(send.begin(), send.end(), buf.begin());
            s = buf.data();
            d = buf.data() + std::size_t(me) * cnt;
            out_lo = std::size_t(me) * cnt;
          } else {
            std::copy(send.begin(), send.end(), buf.begin());
            s = buf.data();
          }
        }
        weft::coll_options o;
        o.proto = c.p;
        o.nchannels = c.nch;
        o.direct = c.direct;
        weft::status stc = weft::status::internal_error;
        auto reduce_with = [&](auto const& op) {
          switch (c.k) {
          case ar:
            stc = weft::all_reduce(comm, tr, s, d, cnt, op, o);
            break;
          case rs:
            stc = weft::reduce_scatter(comm, tr, s, d, cnt, op, o);
            break;
          case red:
            stc = weft::reduce(comm, tr, s, d, cnt, c.root, op, o);
            break;
          default:
            break;
          }
        };
        if (c.k == ag)
          stc = weft::all_gather(comm, tr, s, d, cnt, o);
        else if (c.k == bc)
          stc = weft::broadcast(comm, tr, s, d, cnt, c.root, o);
        else if (c.use_max)
          reduce_with(weft::op::max<float>{});
        else
          reduce_with(weft::op::sum<float>{});
        std::string const what = "call " + std::to_string(it) + " " + kind_name[c.k] + " " + weft::to_string(c.p) +
                                 " nch " + std::to_string(c.nch) + " count " + std::to_string(cnt) +
                                 (c.in_place ? " in-place" : "") + (c.direct ? " direct" : "");
        if (stc != weft::status::success) {
          log.fail(what + ": " + weft::to_string(stc) + " (" + comm.last_error(me) + ")");
          return stc;
        }
        auto reduced = [&](std::size_t j) {
          float a = in(0, j);
          for (int r = 1; r < n; ++r)
            a = c.use_max ? (in(r, j) > a ? in(r, j) : a) : a + in(r, j);
          return a;
        };
        for (std::size_t j = 0; j < buf.size(); ++j) {
          float want = sentinel;
          bool const has_out = !(c.k == red && me != c.root);
          if (has_out && j >= out_lo && j < out_lo + out_n) {
            std::size_t const i = j - out_lo;
            switch (c.k) {
            case ar:
            case red:
              want = reduced(i);
              break;
            case rs:
              want = reduced(std::size_t(me) * cnt + i);
              break;
            case ag:
              want = in(int(i / cnt), i % cnt);
              break;
            case bc:
              want = in(c.root, i);
              break;
            default:
              break;
            }
          } else if (c.in_place && j < in_n && c.k != ag) {
            want = send[j]; // in place: input outside the output range stays as it was
          }
          if (buf[j] != want) {
            log.fail(what + " element " + std::to_string(j) + ": got " + std::to_string(buf[j]) + " want " +
                     std::to_string(want));
            break;
          }
        }
      }
      return weft::status::success;
    });
    INFO("nranks " << n);
    CHECK(st == weft::status::success);
    for (int r = 0; r < n; ++r) {
      INFO("rank " << r << ": " << logs[std::size_t(r)].first);
      CHECK(logs[std::size_t(r)].failures == 0);
    }
    std::string const counters = counters_agree(comm, cfg.max_channels);
    INFO(counters);
    CHECK(counters.empty());
  }
}

// Step counters are 64-bit, but LL carries only the low 32 bits of (step + 1) as
// its flag. A fresh communicator whose counters are moved to just below 2^32
// stands for one whose connections have already carried ~4 billion steps of
// small messages: lines of a slot that no step has filled yet still hold the
// zeros they were initialised with. Every result across the wrap must be exact.
TEST_CASE("ring: results stay exact across the 32-bit wrap of the step flags", "[ring][back-to-back][wrap]") {
  int const n = 3;
  for (protocol p : {protocol::simple, protocol::ll, protocol::ll128}) {
    weft::cpu_comm comm(n);
    std::uint64_t const start = (std::uint64_t(1) << 32) - 3;
    for (int s = 0; s < n; ++s) {
      weft::connection* c = comm.ring_conn(p, 0, s);
      *c->send_step = start;
      *c->recv_step = start;
      *c->head = start;
      *c->tail = start;
    }
    weft::team_options opts;
    opts.timeout_ns = 2'000'000'000ull;
    weft::cpu_team team(n, opts);
    std::vector<rank_log> logs(std::size_t(n), rank_log{});
    weft::status const st = team.run([&](weft::team_rank& tr) -> weft::status {
      int const me = tr.rank();
      for (int it = 0; it < 10; ++it) {
        std::size_t const count = 3000;
        std::vector<float> send(count), recv(count, sentinel);
        for (std::size_t j = 0; j < count; ++j)
          send[j] = input(me, it, j);
        weft::coll_options o;
        o.proto = p;
        weft::status const s = weft::all_reduce(comm, tr, send.data(), recv.data(), count, weft::op::sum<float>{}, o);
        if (s != weft::status::success) {
          logs[std::size_t(me)].fail("call " + std::to_string(it) + ": " + weft::to_string(s));
          return s;
        }
        for (std::size_t j = 0; j < count; ++j) {
          float want = 0;
          for (int r = 0; r < n; ++r)
            want += input(r, it, j);
          if (recv[j] != want) {
            logs[std::size_t(me)].fail("call " + std::to_string(it) + " (connection step " +
                                       std::to_string(*comm.ring_conn(p, 0, me)->send_step) + ") element " +
                                       std::to_string(j) + ": got " + std::to_string(recv[j]) + " want " +
                                       std::to_string(want));
            break;
          }
        }
      }
      return weft::status::success;
    });
    INFO("protocol " << weft::to_string(p));
    CHECK(st == weft::status::success);
    for (int r = 0; r < n; ++r) {
      INFO("rank " << r << ": " << logs[std::size_t(r)].first);
      CHECK(logs[std::size_t(r)].failures == 0);
    }
    std::string const counters = counters_agree(comm, 1);
    INFO(counters);
    CHECK(counters.empty());
    CHECK(*comm.ring_conn(p, 0, 0)->send_step > (std::uint64_t(1) << 32));
  }
}
