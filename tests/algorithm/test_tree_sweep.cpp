// Sweeps of the tree, hierarchical and rank-order algorithms on the CPU team
// (see test_tree_cases.hpp): ranks 1..9, 12, 13, 16 (fewer for the fixed layouts),
// counts 0, 7, 16n+3 and 1000, every protocol, 1 and 3 channels, in and out of place.
// Too slow under ThreadSanitizer; the team tests cover the same code with fewer cases.
#include "test_tree_cases.hpp"

using namespace tree_test;


TEST_CASE("tree: all-reduce sweep", "[tree][sweep]") {
  sweep(coll::all_reduce, weft::algorithm::tree, nullptr);
}

TEST_CASE("hierarchical: all-reduce sweep, automatic layout", "[hier][sweep]") {
  sweep(coll::all_reduce, weft::algorithm::hierarchical, nullptr);
}

TEST_CASE("hierarchical: all-reduce with every outer algorithm and three levels", "[hier][sweep]") {
  std::vector<int> const ranks = {1, 2, 4, 6, 8, 12, 16};
  sweep(coll::all_reduce, weft::algorithm::hierarchical, fitted(4, 1, weft::algorithm::tree), false, ranks);
  sweep(coll::all_reduce, weft::algorithm::hierarchical, fitted(2, 1, weft::algorithm::recursive_doubling), false, ranks);
  sweep(coll::all_reduce, weft::algorithm::hierarchical, fitted(4, 1, weft::algorithm::rabenseifner), false, ranks);
  sweep(coll::all_reduce, weft::algorithm::hierarchical, fitted(2, 3), false, ranks);
}

TEST_CASE("hierarchical: all-reduce with every inner algorithm", "[hier][sweep]") {
  // Inner levels that all-reduce the whole range (then the outer level does):
  // each inner algorithm under a different outer one, two and three levels.
  std::vector<int> const ranks = {1, 2, 4, 6, 8, 12, 16};
  using weft::algorithm;
  sweep(coll::all_reduce, algorithm::hierarchical, fitted(4, 1, algorithm::ring, algorithm::tree), false, ranks);
  sweep(coll::all_reduce, algorithm::hierarchical, fitted(2, 1, algorithm::tree, algorithm::recursive_doubling), false, ranks);
  sweep(coll::all_reduce, algorithm::hierarchical, fitted(4, 1, algorithm::recursive_doubling, algorithm::rabenseifner), false,
        ranks);
  sweep(coll::all_reduce, algorithm::hierarchical, fitted(2, 3, algorithm::rabenseifner, algorithm::tree), false, ranks);
}

TEST_CASE("hierarchical: all-gather and reduce-scatter sweeps", "[hier][sweep]") {
  sweep(coll::all_gather, weft::algorithm::hierarchical, nullptr);
  sweep(coll::reduce_scatter, weft::algorithm::hierarchical, nullptr);
  std::vector<int> const ranks = {2, 6, 8, 12, 16};
  sweep(coll::all_gather, weft::algorithm::hierarchical, fitted(2, 3), false, ranks);
  sweep(coll::reduce_scatter, weft::algorithm::hierarchical, fitted(2, 3), false, ranks);
}

TEST_CASE("deterministic: rank-order all-reduce sweep, and the mode's other collectives", "[determinism][sweep]") {
  sweep(coll::all_reduce, weft::algorithm::rank_order, nullptr);
  // Reduce-scatter under the mode runs the ring whatever algo says (hierarchical here).
  sweep(coll::reduce_scatter, weft::algorithm::hierarchical, nullptr, true, {1, 2, 3, 4, 6, 9});
}
