// Full sweep of the ring all-reduce (see ring_sweep.hpp).
#include "ring_sweep.hpp"

using namespace ring_test;

TEST_CASE("ring sweep: all_reduce", "[ring][sweep]") {
  full_sweep<bit(coll::all_reduce)>(coll::all_reduce);
}
