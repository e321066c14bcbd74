// Hierarchical all-reduce, all-gather and reduce-scatter on the CPU team: the
// automatic layout and fixed ones (inner 2/4, three levels), every outer
// algorithm, ranks 1..16, counts 0/1/non-divisible, every protocol, 1 and 3
// channels, in and out of place; back-to-back calls; layouts that do not fit.
#include "test_tree_cases.hpp"

#include <weft/algorithm/hierarchical.hpp>

#include <algorithm>
#include <numeric>

using namespace tree_test;


TEST_CASE("hierarchical: levels and teams", "[hier]") {
  weft::hier_layout l;
  l.inner = 4;
  l.middle = 3;
  weft::hier_shape s;
  REQUIRE(weft::hier_shape::of(l, 24, s));
  REQUIRE(s.levels == 3);
  REQUIRE((s.size[0] == 4 && s.size[1] == 3 && s.size[2] == 2));
  // Rank 17 = 1 + 4 * (1 + 3 * 1): digits (1, 1, 1).
  REQUIRE((s.index(17, 0) == 1 && s.index(17, 1) == 1 && s.index(17, 2) == 1));
  REQUIRE(s.member(17, 0, 3) == 19); // inner team: consecutive ranks 16..19
  REQUIRE(s.member(17, 1, 0) == 13); // middle team: 13, 17, 21
  REQUIRE(s.member(17, 2, 0) == 5);  // outer team: 5, 17
  REQUIRE(weft::hier_layout::automatic(72).inner == 8);
  REQUIRE(weft::hier_layout::automatic(7).inner == 1);
  char const* why = "";
  l.middle = 5;
  REQUIRE_FALSE(weft::hier_shape::of(l, 24, s, &why));
  REQUIRE(std::string(why).find("multiple") != std::string::npos);
}

TEST_CASE("hierarchical: back-to-back calls mixing collectives and algorithms", "[hier]") {
  int const n = 8;
  weft::cpu_comm_config cfg;
  cfg.simple_slot_bytes = 256;
  cfg.nslots = 2;
  weft::cpu_team team(n);
  weft::cpu_comm comm(n, cfg);
  for (int k = 0; k < 60; ++k) {
    algo_case c;
    c.nranks = n;
    c.c = k % 3 == 0 ? coll::all_reduce : k % 3 == 1 ? coll::all_gather : coll::reduce_scatter;
    c.count = 50 + std::size_t(k % 7) * 13;
    c.algo = k % 5 == 4 ? weft::algorithm::tree : weft::algorithm::hierarchical;
    if (c.c != coll::all_reduce) c.algo = weft::algorithm::hierarchical;
    c.hier = k % 2 ? fitted(2, 3)(n) : fitted(4, 1, weft::algorithm::tree)(n);
    c.proto = all_protocols[k % 3];
    c.nchannels = 1 + k % 2;
    c.in_place = k % 4 < 2;
    c.seed = std::uint64_t(k) + 11;
    outcome const r = check_algo<float>(c, team, comm);
    INFO(describe(c) << ": " << r.error);
    REQUIRE(r.ok);
  }
}

TEST_CASE("hierarchical: layouts that do not fit are refused with a reason", "[hier]") {
  weft::cpu_team team(6);
  weft::cpu_comm comm(6);
  std::vector<std::vector<float>> a(6, std::vector<float>(6 * 4, 1.0f)), b(6, std::vector<float>(6 * 4, 0.0f));
  weft::coll_options o;
  o.algo = weft::algorithm::hierarchical;
  o.hier.inner = 4; // 6 ranks are not teams of 4
  auto call = [&](coll cl) {
    return team.run([&](weft::team_rank& tr) {
      float const* x = a[std::size_t(tr.rank())].data();
      float* y = b[std::size_t(tr.rank())].data();
      if (cl == coll::all_gather) return weft::all_gather(comm, tr, x, y, 4, o);
      if (cl == coll::reduce_scatter) return weft::reduce_scatter(comm, tr, x, y, 4, weft::op::sum<float>{}, o);
      return weft::all_reduce(comm, tr, x, y, 4, weft::op::sum<float>{}, o);
    });
  };
  for (coll cl : {coll::all_reduce, coll::all_gather, coll::reduce_scatter}) {
    REQUIRE(call(cl) == weft::status::unsupported);
    REQUIRE(comm.last_error(3).find("multiple of the inner team size") != std::string::npos);
  }
  o.hier.inner = 2;
  o.hier.middle = 2; // 6 / 2 = 3 is not a multiple of 2
  REQUIRE(call(coll::all_reduce) == weft::status::unsupported);
  o.hier.middle = 1;
  o.hier.outer = weft::algorithm::rank_order; // not an outer algorithm
  REQUIRE(call(coll::all_reduce) == weft::status::unsupported);
  REQUIRE(comm.last_error(0).find("outer algorithm") != std::string::npos);
  for (auto const& v : b) REQUIRE(std::all_of(v.begin(), v.end(), [](float e) { return e == 0.0f; })); // nothing written
  REQUIRE(comm.healthy());
  o.hier.outer = weft::algorithm::tree; // and a layout that fits runs on the same communicator
  REQUIRE(call(coll::all_reduce) == weft::status::success);
  REQUIRE(b[5][3] == 6.0f);
}
