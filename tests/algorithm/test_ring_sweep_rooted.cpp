// Full sweeps of the chain broadcast and reduce (see ring_sweep.hpp), and every
// root at 1..6 ranks.
#include "ring_sweep.hpp"

using namespace ring_test;

namespace {
constexpr unsigned rooted = bit(coll::broadcast) | bit(coll::reduce);
}

TEST_CASE("ring sweep: broadcast", "[ring][sweep]") {
  full_sweep<rooted>(coll::broadcast);
}

TEST_CASE("ring sweep: reduce", "[ring][sweep]") {
  full_sweep<rooted>(coll::reduce);
}

TEST_CASE("ring sweep: broadcast and reduce from every root, 1..6 ranks", "[ring][sweep][root]") {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 90000;
  for (coll cl : {coll::broadcast, coll::reduce})
    for (int n = 1; n <= 6; ++n)
      for (int root = 0; root < n; ++root)
        for (weft::protocol p : all_protocols)
          for (std::size_t count : {std::size_t(1), std::size_t(16 * n + 3), std::size_t(4099)})
            for (bool ip : {false, true}) {
              ring_case c;
              c.c = cl;
              c.nranks = n;
              c.count = count;
              c.proto = p;
              c.nchannels = 1 + int(count % 3);
              c.in_place = ip;
              c.root = root;
              c.null_unused = !ip && count == 1;
              c.o = count == 4099 ? opk::max : opk::sum;
              c.seed = ++seed;
              require_ring<float, sum_max, rooted>(c, env, t);
            }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}
