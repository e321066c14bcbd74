// Full sweep of the ring reduce-scatter (see ring_sweep.hpp).
#include "ring_sweep.hpp"

using namespace ring_test;

TEST_CASE("ring sweep: reduce_scatter", "[ring][sweep]") {
  full_sweep<bit(coll::reduce_scatter)>(coll::reduce_scatter);
}
