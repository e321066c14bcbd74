// NVLS collectives on the CPU team (multicast emulated with peer reads and
// writes on a window): all-reduce, all-gather and reduce-scatter over ranks
// 1..16, counts 0, 1, odd and several rounds, one and three blocks, in place
// and out of place.
#include "test_direct_cases.hpp"

using namespace direct_test;


TEST_CASE("nvls all-reduce over ranks 1..16", "[nvls]") { sweep(kind::all_reduce, algo::nvls); }
TEST_CASE("nvls all-gather over ranks 1..16", "[nvls]") { sweep(kind::all_gather, algo::nvls); }
TEST_CASE("nvls reduce-scatter over ranks 1..16", "[nvls]") { sweep(kind::reduce_scatter, algo::nvls); }

TEST_CASE("nvls: counter barriers and direct flag barriers mixed on one window", "[nvls]") {
  // NVLS calls cross the switch's counter barrier (emulated: an atomic add to
  // every rank's counter); the direct ones cross flag barriers. Both advance the
  // same cursors (epoch, parity), so they interleave on one window.
  int const n = 5;
  weft::cpu_window w(n, small_window());
  algo const seq[] = {algo::one_shot, algo::nvls, algo::two_shot, algo::nvls, algo::nvls, algo::ll, algo::nvls};
  int k = 0;
  for (int it = 0; it < 60; ++it) {
    case_spec c;
    c.k = kind::all_reduce;
    c.a = seq[it % 7];
    if (c.a == algo::nvls && it % 3 == 1) c.k = kind::all_gather;
    if (c.a == algo::nvls && it % 3 == 2) c.k = kind::reduce_scatter;
    c.nranks = n;
    c.count = c.a == algo::ll ? 37 : 700 + std::size_t(it);
    c.iters = 2;
    c.nblocks = 1 + (k++ % 2);
    std::string const e = run_case<std::int64_t>(c, &w, nullptr, weft::op::sum<std::int64_t>{});
    INFO(describe(c));
    REQUIRE(e == "");
  }
  // Every rank's counter of each block: nranks additions per counter barrier crossed.
  std::vector<std::uint64_t> counters(std::size_t(n) * 2), arrivals(std::size_t(n) * 2), epochs(std::size_t(n) * 2);
  weft::cpu_team team(n);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    if (weft::status s = w.admit(tr, "inspect", 1); s != weft::status::success) return s;
    weft::peer_multicast const mc{w.view(tr), w.counter_offset()};
    for (int b = 0; b < 2; ++b) {
      std::size_t const i = std::size_t(tr.rank()) * 2 + std::size_t(b);
      counters[i] = *mc.counter(tr.rank(), b);
      arrivals[i] = mc.v.cursors[b].arrivals;
      epochs[i] = mc.v.cursors[b].epoch;
    }
    return weft::status::success;
  }) == weft::status::success);
  for (std::size_t i = 0; i < counters.size(); ++i) {
    INFO("rank " << i / 2 << " block " << i % 2 << ": counter " << counters[i] << ", arrivals " << arrivals[i]
                 << ", epoch " << epochs[i]);
    CHECK(arrivals[i] > 0);
    CHECK(counters[i] == std::uint64_t(n) * arrivals[i]);
    CHECK(epochs[i] > arrivals[i]); // the direct calls' flag barriers advanced the epoch too
  }
}

TEST_CASE("nvls: a rank that never arrives at a counter barrier times out, named", "[nvls]") {
  weft::cpu_window w(3);
  // The first call crosses 2 counter barriers on block 0.
  std::vector<weft::status> const st = second_call_without_rank2(w, [](auto& win, auto& tr, float* x, float* y) {
    return weft::nvls_all_reduce(win, tr, x, y, 8, weft::op::sum<float>{});
  });
  CHECK(st[0] == weft::status::timeout);
  CHECK(st[1] == weft::status::timeout);
  CHECK(st[2] == weft::status::success);
  INFO(w.last_error(0));
  CHECK(w.last_error(0).find("nvls_all_reduce") != std::string::npos);
  CHECK(w.last_error(0).find("NVLS barrier counter") != std::string::npos);
  // The third barrier on block 0: target 3 ranks x 3; ranks 0 and 1 added, rank 2 did not.
  CHECK(w.last_error(0).find("target 9, last seen 8") != std::string::npos);
  CHECK_FALSE(w.healthy());
}

TEST_CASE("nvls: back-to-back calls keep flags and parities straight", "[nvls]") {
  weft::cpu_window w(6, small_window());
  for (kind k : {kind::all_reduce, kind::all_gather, kind::reduce_scatter}) {
    case_spec c;
    c.k = k;
    c.a = algo::nvls;
    c.nranks = 6;
    c.count = 700;
    c.iters = 200;
    c.nblocks = 2;
    std::string const e = run_case<std::int64_t>(c, &w, nullptr, weft::op::sum<std::int64_t>{});
    INFO(describe(c));
    REQUIRE(e == "");
  }
}
