// Double binary tree all-reduce on the CPU team: the trees' shape, the sweep
// (ranks 1..16, counts 0/1/non-divisible, every protocol, 1 and 3 channels, in and
// out of place), back-to-back calls, and what it refuses.
#include "test_tree_cases.hpp"

#include <weft/algorithm/tree.hpp>

using namespace tree_test;

TEST_CASE("tree: two spanning trees, each rank interior in at most one", "[tree]") {
  for (int n = 1; n <= 600; n += (n < 40 ? 1 : 37)) {
    int interior_both = 0;
    for (int which = 0; which < 2; ++which) {
      int roots = 0;
      std::vector<int> parent_of(std::size_t(n), -2);
      for (int r = 0; r < n; ++r) {
        weft::tree_links const t = weft::double_tree_links(r, n, which);
        if (t.parent < 0) ++roots;
        for (int c = 0; c < t.nchildren(); ++c) {
          INFO("n " << n << " tree " << which << " rank " << r << " child " << t.child[c]);
          REQUIRE(t.child[c] >= 0);
          REQUIRE(t.child[c] < n);
          REQUIRE(weft::double_tree_links(t.child[c], n, which).parent == r); // links agree both ways
          REQUIRE(parent_of[std::size_t(t.child[c])] == -2);                 // one parent each
          parent_of[std::size_t(t.child[c])] = r;
        }
      }
      REQUIRE(roots == 1);
      // Spanning: every rank reaches the root.
      for (int r = 0; r < n; ++r) {
        int hops = 0;
        for (int q = r; weft::double_tree_links(q, n, which).parent >= 0; q = weft::double_tree_links(q, n, which).parent)
          REQUIRE(++hops < 64);
      }
    }
    for (int r = 0; r < n; ++r)
      interior_both += weft::double_tree_links(r, n, 0).nchildren() > 0 && weft::double_tree_links(r, n, 1).nchildren() > 0;
    INFO("n " << n);
    REQUIRE(interior_both == 0);
  }
  // Depth is logarithmic: at 576 ranks no rank is more than 10 hops from the root.
  for (int which = 0; which < 2; ++which)
    for (int r = 0; r < 576; ++r) {
      int hops = 0;
      for (int q = r; weft::double_tree_links(q, 576, which).parent >= 0; q = weft::double_tree_links(q, 576, which).parent) ++hops;
      REQUIRE(hops <= 10);
    }
}

// 1000 calls inside one team run (each rank loops), alternating the tree, the
// hierarchical and the rank-order all-reduce, protocols, channels and in-place:
// every rank checks every call's result itself (exact integer sums).
TEST_CASE("tree: 1000 back-to-back all-reduces on one communicator", "[tree]") {
  int const n = 6, calls = 1000; // hierarchical: automatic layout 2 x 3
  std::size_t const count = 150;
  weft::cpu_comm_config cfg;
  cfg.simple_slot_bytes = 128; // 32 elements: several steps per tree
  cfg.nslots = 2;
  weft::cpu_team team(n);
  weft::cpu_comm comm(n, cfg);
  std::vector<std::size_t> wrong(std::size_t(n), 0);
  weft::status const st = team.run([&](weft::team_rank& tr) {
    int const me = tr.rank();
    std::vector<std::int32_t> in(count), out(count);
    for (int k = 0; k < calls; ++k) {
      weft::algorithm const algos[] = {weft::algorithm::tree, weft::algorithm::hierarchical, weft::algorithm::rank_order};
      weft::coll_options o;
      o.algo = algos[k % 3];
      o.proto = all_protocols[(k / 3) % 3];
      o.nchannels = 1 + k % 2;
      bool const in_place = k % 4 >= 2;
      for (std::size_t i = 0; i < count; ++i) in[i] = std::int32_t(k * 131 + me * 7 + int(i));
      std::int32_t* dst = in_place ? in.data() : out.data();
      if (weft::status s = weft::all_reduce(comm, tr, in.data(), dst, count, weft::op::sum<std::int32_t>{}, o);
          s != weft::status::success)
        return s;
      for (std::size_t i = 0; i < count; ++i)
        wrong[std::size_t(me)] += dst[i] != std::int32_t(n * (k * 131 + int(i)) + 7 * n * (n - 1) / 2);
    }
    return weft::status::success;
  });
  REQUIRE(st == weft::status::success);
  for (int r = 0; r < n; ++r) REQUIRE(wrong[std::size_t(r)] == 0);
}

TEST_CASE("tree: what the tree refuses", "[tree]") {
  weft::cpu_team team(4);
  weft::cpu_comm comm(4);
  std::vector<std::vector<float>> bufs(4, std::vector<float>(4 * 8, 1.0f));
  weft::coll_options o;
  o.algo = weft::algorithm::tree;
  for (coll cl : {coll::all_gather, coll::reduce_scatter}) {
    weft::status const st = team.run([&](weft::team_rank& tr) {
      float* b = bufs[std::size_t(tr.rank())].data();
      return cl == coll::all_gather ? weft::all_gather(comm, tr, b, b, 2, o)
                                    : weft::reduce_scatter(comm, tr, b, b + 2, 2, weft::op::sum<float>{}, o);
    });
    REQUIRE(st == weft::status::unsupported);
    REQUIRE(comm.last_error(0).find("all-reduce only") != std::string::npos);
  }
  REQUIRE(comm.healthy()); // refused calls change nothing
}
