#pragma once
// Every operator on one data type for the tree, hierarchical (inner rings, and
// inner recursive doubling) and rank-order all-reduce and the hierarchical reduce-scatter and all-gather: ranks 3 and 4,
// counts 1 and 1003, every protocol. Each test_tree_types_*.cpp runs two types
// (each (type, operator) instantiates every all-reduce algorithm per protocol).
#include "test_tree_cases.hpp"

#include <weft/core/types.hpp>

namespace tree_test {

template <class T>
void types_sweep() {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 90000 + sizeof(T) * 100 + (is_int<T> ? 10 : 0);
  struct variant {
    coll c;
    weft::algorithm a;
    weft::algorithm within = weft::algorithm::ring; // hierarchical all-reduce: the inner levels' algorithm
  };
  variant const variants[] = {{coll::all_reduce, weft::algorithm::tree},
                              {coll::all_reduce, weft::algorithm::hierarchical},
                              {coll::all_reduce, weft::algorithm::hierarchical, weft::algorithm::recursive_doubling},
                              {coll::all_reduce, weft::algorithm::rank_order},
                              {coll::reduce_scatter, weft::algorithm::hierarchical},
                              {coll::all_gather, weft::algorithm::hierarchical}};
  for (variant const& v : variants)
    for (opk o : rc_test::all_ops)
      for (int n : {3, 4})
        for (std::size_t count : {std::size_t(1), std::size_t(1003)})
          for (weft::protocol p : all_protocols) {
            if (v.c == coll::all_gather && o != opk::sum) continue; // a copy: no operator
            algo_case c;
            c.c = v.c;
            c.algo = v.a;
            c.o = o;
            c.nranks = n;
            c.count = count;
            c.proto = p;
            c.nchannels = count > 1 ? 2 : 1;
            c.in_place = (n + int(p)) % 2 == 1;
            c.hier.inner = 2 * (n % 2 == 0); // 4 ranks: 2 x 2 with a tree across; 3 ranks: automatic
            c.hier.outer = weft::algorithm::tree;
            c.hier.within = v.within;
            c.seed = ++seed;
            require_algo<T, every_op>(c, env, t);
          }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}


} // namespace tree_test
