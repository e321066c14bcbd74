// The shared-memory communicator with ranks as threads of one process: each
// rank maps the segment at its own address, exactly as separate processes do,
// so the layout, the per-process connection views and the liveness slots are
// exercised here (and under ThreadSanitizer), without spawning processes.
#include "proc_cases.hpp"

#include <catch2/catch.hpp>
#include <weft/bootstrap/bootstrap.hpp>
#include <weft/team/cpu_team.hpp>

#include <algorithm>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

namespace {

bool contains(std::string const& s, std::string const& part) { return s.find(part) != std::string::npos; }

bool listed(std::string const& name) {
  auto const all = weft::shm_list();
  return std::find(all.begin(), all.end(), name.substr(1)) != all.end();
}

} // namespace

TEST_CASE("shm_comm runs every collective with ranks mapping their own views", "[proc]") {
  for (int n : {1, 2, 3, 4}) {
    INFO("ranks = " << n);
    weft::cpu_team team(n);
    std::mutex m;
    std::vector<std::string> failures;
    weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
      weft::team_bootstrap boot(tr);
      std::unique_ptr<weft::shm_comm> comm;
      std::string why;
      if (auto st = weft::shm_comm::create(boot, proc_test::small_config(), comm, &why); st != weft::status::success) {
        std::lock_guard<std::mutex> l(m);
        failures.push_back(why);
        return st;
      }
      weft::proc_rank me = comm->rank_handle();
      proc_test::checker c;
      bool ok = !listed(comm->segment_name()); // the name is gone once every rank mapped it
      if (!ok) c.fail("segment still listed in /dev/shm after create");
      for (int pi = 0; pi < weft::protocol_count && ok; ++pi)
        for (std::size_t count : {std::size_t(1), std::size_t(5000)}) {
          weft::coll_options o;
          o.proto = weft::protocol(pi);
          o.nchannels = 2;
          ok = ok && proc_test::run_round(*comm, me, o, count, c);
        }
      for (auto a : {weft::algorithm::recursive_doubling, weft::algorithm::rabenseifner, weft::algorithm::tree,
                     weft::algorithm::hierarchical, weft::algorithm::rank_order}) {
        weft::coll_options o;
        o.algo = a;
        ok = ok && proc_test::run_round(*comm, me, o, 3000, c);
      }
      if (!ok) {
        std::lock_guard<std::mutex> l(m);
        failures.push_back("rank " + std::to_string(tr.rank()) + ": " + c.why);
        return weft::status::internal_error;
      }
      return boot.barrier();
    });
    for (auto const& f : failures) FAIL_CHECK(f);
    CHECK(s == weft::status::success);
  }
}

TEST_CASE("shm_comm refuses bad calls and configurations, and changes nothing", "[proc]") {
  int const n = 3;
  weft::cpu_team team(n);
  std::vector<std::string> errs(n), direct_errs(n);
  std::vector<weft::status> null_st(n), direct_st(n), chan_st(n), after_st(n), mismatch_st(n);
  std::vector<int> healthy(n, 0);
  std::vector<std::string> mismatch_why(n);
  weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    weft::team_bootstrap boot(tr);
    // Ranks that disagree on the configuration are refused together.
    {
      weft::shm_comm_config cfg = proc_test::small_config();
      if (r == 1) cfg.conn.nslots = 6;
      std::unique_ptr<weft::shm_comm> bad;
      mismatch_st[r] = weft::shm_comm::create(boot, cfg, bad, &mismatch_why[r]);
    }
    // A configuration the prims cannot use (one slot deadlocks a ring) is refused everywhere.
    {
      weft::shm_comm_config cfg = proc_test::small_config();
      cfg.conn.nslots = 1;
      std::unique_ptr<weft::shm_comm> bad;
      std::string why;
      if (weft::shm_comm::create(boot, cfg, bad, &why) != weft::status::invalid_argument || bad ||
          why.find("invalid configuration") == std::string::npos)
        return weft::status::internal_error;
    }
    std::unique_ptr<weft::shm_comm> comm;
    if (auto st = weft::shm_comm::create(boot, proc_test::small_config(), comm); st != weft::status::success) return st;
    weft::proc_rank me = comm->rank_handle();
    std::vector<float> buf(64, float(r + 1)), out(64, -1.f);
    null_st[r] = weft::all_reduce(*comm, me, static_cast<float const*>(nullptr), out.data(), 64, weft::op::sum<float>{});
    errs[r] = comm->last_error();
    weft::coll_options d;
    d.direct = true;
    std::vector<float> gathered(64 * n, -1.f);
    direct_st[r] = weft::all_gather(*comm, me, buf.data(), gathered.data(), 64, d);
    direct_errs[r] = comm->last_error();
    weft::coll_options wide;
    wide.nchannels = 3; // max_channels is 2
    chan_st[r] = weft::all_reduce(*comm, me, buf.data(), out.data(), 64, weft::op::sum<float>{}, wide);
    // Nothing was touched, and the communicator still works.
    if (std::any_of(out.begin(), out.end(), [](float v) { return v != -1.f; })) return weft::status::internal_error;
    after_st[r] = weft::all_reduce(*comm, me, buf.data(), out.data(), 64, weft::op::sum<float>{});
    healthy[r] = comm->healthy() && out[0] == float(n * (n + 1) / 2);
    return weft::status::success;
  });
  REQUIRE(s == weft::status::success);
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << ": " << errs[r] << " / " << direct_errs[r] << " / " << mismatch_why[r]);
    CHECK(mismatch_st[r] == weft::status::invalid_argument);
    CHECK(contains(mismatch_why[r], "different configurations"));
    CHECK(null_st[r] == weft::status::invalid_argument);
    CHECK(contains(errs[r], "all_reduce"));
    CHECK(direct_st[r] == weft::status::unsupported);
    CHECK(contains(direct_errs[r], "all_gather"));
    CHECK(chan_st[r] == weft::status::invalid_argument);
    CHECK(after_st[r] == weft::status::success);
    CHECK(healthy[r] == 1);
  }
}

TEST_CASE("shm_comm: a rank that stops calling is reported within the bound, by every rank", "[proc]") {
  int const n = 4, absent = 2;
  weft::cpu_team team(n);
  std::vector<weft::status> st(n, weft::status::success);
  std::vector<std::string> err(n);
  std::vector<double> secs(n, 0);
  std::vector<int> healthy_after(n, 1);
  weft::status s = team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    weft::team_bootstrap boot(tr);
    weft::shm_comm_config cfg = proc_test::small_config();
    cfg.timeout_ns = 300'000'000ull;
    std::unique_ptr<weft::shm_comm> comm;
    if (auto e = weft::shm_comm::create(boot, cfg, comm); e != weft::status::success) return e;
    weft::proc_rank me = comm->rank_handle();
    std::vector<float> a(20000, 1.f), b(20000);
    if (r != absent) {
      auto const t0 = std::chrono::steady_clock::now();
      st[r] = weft::all_reduce(*comm, me, a.data(), b.data(), a.size(), weft::op::sum<float>{});
      secs[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      err[r] = comm->last_error();
      healthy_after[r] = comm->healthy();
    }
    return boot.barrier(); // the absent rank keeps its communicator until the others are done
  });
  REQUIRE(s == weft::status::success);
  for (int r = 0; r < n; ++r) {
    if (r == absent) continue;
    INFO("rank " << r << ": " << to_string(st[r]) << ": " << err[r]);
    CHECK((st[r] == weft::status::timeout || st[r] == weft::status::aborted));
    CHECK(secs[r] < 0.3 + 2.0);
    CHECK(contains(err[r], "all_reduce: rank " + std::to_string(r)));
    CHECK(contains(err[r], "step"));
    CHECK(healthy_after[r] == 0);
  }
  // The neighbour that waits on the absent rank directly names it.
  CHECK(contains(err[absent + 1], "from rank " + std::to_string(absent)));
}

TEST_CASE("shm segments: names are checked, stale ones are swept, a missing one is reported", "[proc]") {
  CHECK(weft::shm_segment::valid_name("/weft-12-0-0a1b2c3d"));
  CHECK(!weft::shm_segment::valid_name("weft-12-0-0a"));         // no slash
  CHECK(!weft::shm_segment::valid_name("/other-12-0-0a"));       // not ours
  CHECK(!weft::shm_segment::valid_name("/weft-12/../etc"));      // not a plain name
  CHECK(!weft::shm_segment::valid_name("/weft-" + std::string(80, '1'))); // too long
  CHECK(weft::shm_creator_pid("weft-4242-3-deadbeef") == 4242);
  CHECK(weft::shm_creator_pid("/weft-4242-3-deadbeef") == 4242);
  CHECK(weft::shm_creator_pid("weft-x") == -1);

  weft::shm_segment missing;
  CHECK(weft::shm_segment::open("/weft-1-0-00000000", 4096, missing) == weft::status::peer_failure);
  CHECK(weft::shm_segment::open("/etc-passwd", 4096, missing) == weft::status::invalid_argument);

  // A segment whose creator is gone (a pid no process has) is swept; a live creator's is kept.
  weft::shm_segment live;
  REQUIRE(weft::shm_segment::create(4096, live) == weft::status::success);
  std::string const stale = "/weft-" + std::to_string(0x3ffffff0) + "-0-00000000"; // above pid_max
  int const fd = ::shm_open(stale.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  ::close(fd);
  CHECK(listed(stale));
  CHECK(weft::shm_sweep_stale() >= 1);
  CHECK(!listed(stale));
  CHECK(listed(live.name()));
  weft::shm_segment other;
  REQUIRE(weft::shm_segment::open(live.name(), 4096, other) == weft::status::success);
  static_cast<unsigned char*>(live.data())[100] = 42; // one segment, two mappings
  CHECK(static_cast<unsigned char*>(other.data())[100] == 42);
  CHECK(weft::shm_segment::open(live.name(), 1 << 20, missing) == weft::status::invalid_argument); // too small
  std::string const name = live.name();
  live.reset(); // the creator removes the name
  CHECK(!listed(name));
  CHECK(static_cast<unsigned char*>(other.data())[100] == 42); // the mapping outlives the name
}
