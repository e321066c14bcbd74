#pragma once
// Every operator on one data type, for all-reduce and reduce-scatter: ranks 3
// and 4, counts 1 and 5003, every protocol; in place or out of place alternate
// over the protocols so each (collective, operator, rank count) sees both.
#include "ring_cases.hpp"

namespace ring_test {

constexpr unsigned type_colls = bit(coll::all_reduce) | bit(coll::reduce_scatter);

template <class T>
void types_sweep() {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 50000 + sizeof(T) * 1000 + (is_int<T> ? 100 : 0) + (std::is_signed_v<T> ? 10 : 0);
  for (coll cl : {coll::all_reduce, coll::reduce_scatter})
    for (opk o : rc_test::all_ops)
      for (int n : {3, 4})
        for (std::size_t count : {std::size_t(1), std::size_t(5003)})
          for (weft::protocol p : all_protocols) {
            ring_case c;
            c.c = cl;
            c.o = o;
            c.nranks = n;
            c.count = count;
            c.proto = p;
            c.nchannels = count > 1 ? 2 : 1;
            c.in_place = (n + int(p)) % 2 == 1; // both, spread over the protocols and rank counts
            c.seed = ++seed;
            require_ring<T, every_op, type_colls>(c, env, t);
          }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}

} // namespace ring_test
