// NVLS collectives on the CPU team (multicast emulated with peer reads and
// writes on a window): all-reduce, all-gather and reduce-scatter over ranks
// 1..16, counts 0, 1, odd and several rounds, one and three blocks, in place
// and out of place.
#include "test_direct_cases.hpp"

using namespace direct_test;


TEST_CASE("nvls all-reduce over ranks 1..16", "[nvls]") { sweep(kind::all_reduce, algo::nvls); }
TEST_CASE("nvls all-gather over ranks 1..16", "[nvls]") { sweep(kind::all_gather, algo::nvls); }
TEST_CASE("nvls reduce-scatter over ranks 1..16", "[nvls]") { sweep(kind::reduce_scatter, algo::nvls); }

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
