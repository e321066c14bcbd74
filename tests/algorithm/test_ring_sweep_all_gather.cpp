// Full sweep of the ring all-gather, staged and direct (see ring_sweep.hpp).
#include "ring_sweep.hpp"

using namespace ring_test;

TEST_CASE("ring sweep: all_gather", "[ring][sweep]") {
  full_sweep<bit(coll::all_gather)>(coll::all_gather);
}

TEST_CASE("ring sweep: all_gather direct (Simple)", "[ring][sweep][direct]") {
  full_sweep<bit(coll::all_gather)>(coll::all_gather, true);
}
