// Every operator for all-reduce and reduce-scatter on: double float (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: double, every operator", "[ring][types]") {
  types_sweep<double>();
}

TEST_CASE("ring types: float, every operator", "[ring][types]") {
  types_sweep<float>();
}
