// Every operator for all-reduce and reduce-scatter on: weft::half_t weft::bfloat16_t (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: weft::half_t, every operator", "[ring][types]") {
  types_sweep<weft::half_t>();
}

TEST_CASE("ring types: weft::bfloat16_t, every operator", "[ring][types]") {
  types_sweep<weft::bfloat16_t>();
}
