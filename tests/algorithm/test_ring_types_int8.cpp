// Every operator for all-reduce and reduce-scatter on: std::int8_t std::uint8_t (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: std::int8_t, every operator", "[ring][types]") {
  types_sweep<std::int8_t>();
}

TEST_CASE("ring types: std::uint8_t, every operator", "[ring][types]") {
  types_sweep<std::uint8_t>();
}
