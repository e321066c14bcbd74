// Every operator for all-reduce and reduce-scatter on: weft::float8_e4m3_t weft::float8_e5m2_t (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: weft::float8_e4m3_t, every operator", "[ring][types]") {
  types_sweep<weft::float8_e4m3_t>();
}

TEST_CASE("ring types: weft::float8_e5m2_t, every operator", "[ring][types]") {
  types_sweep<weft::float8_e5m2_t>();
}
