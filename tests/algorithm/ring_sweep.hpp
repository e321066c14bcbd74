#pragma once
// The full sweep of one collective (float; sum, and max for the reducing ones):
// every protocol x nchannels 1..3 x ranks {1,2,3,4,5,7,8,16} x counts {0, 1, 7,
// 16*ranks+3, 4099, ~300k} x in place and out of place (the ~300k cases alternate
// between the two over protocols and channel counts). ~300k is the total element
// count (all-gather and reduce-scatter move nranks blocks of ~300k/nranks),
// reduced to ~65k at 16 ranks to keep the run short on two cores.
#include "ring_cases.hpp"

namespace ring_test {

inline std::vector<int> sweep_ranks() {
  return {1, 2, 3, 4, 5, 7, 8, 16};
}

inline std::vector<std::size_t> sweep_counts(coll cl, int n) {
  std::size_t const big = n >= 16 ? 65541 : 300007;
  bool const blocks = cl == coll::all_gather || cl == coll::reduce_scatter;
  return {0, 1, 7, std::size_t(16 * n + 3), 4099, blocks ? big / std::size_t(n) + 1 : big};
}

//! Runs the sweep of `cl` with check_ring<float, sum_max, Colls>; `direct` sets coll_options.direct (Simple only).
template <unsigned Colls>
void full_sweep(coll cl, bool direct = false) {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 1000 * (unsigned(cl) + 1) + (direct ? 500 : 0);
  for (int n : sweep_ranks()) {
    std::vector<std::size_t> const counts = sweep_counts(cl, n);
    for (weft::protocol p : all_protocols) {
      if (direct && p != weft::protocol::simple)
        continue;
      for (int nch : {1, 2, 3})
        for (std::size_t k = 0; k < counts.size(); ++k)
          for (bool ip : {false, true}) {
            // The largest count runs in place or out of place, alternating over protocols and channels.
            if (k + 1 == counts.size() && ip != ((nch + int(p)) % 2 == 1))
              continue;
            ring_case c;
            c.c = cl;
            c.nranks = n;
            c.count = counts[k];
            c.proto = p;
            c.nchannels = nch;
            c.in_place = ip;
            c.direct = direct;
            c.root = int(k * 3 + std::size_t(nch) + (ip ? 1 : 0)) % n;
            c.seed = ++seed;
            require_ring<float, sum_max, Colls>(c, env, t);
            if (is_reducing(cl) && (k == 2 || k == 4)) {
              c.o = opk::max;
              c.seed = ++seed;
              require_ring<float, sum_max, Colls>(c, env, t);
            }
          }
    }
  }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}

} // namespace ring_test
