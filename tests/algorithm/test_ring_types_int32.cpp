// Every operator for all-reduce and reduce-scatter on: std::int32_t std::uint32_t (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: std::int32_t, every operator", "[ring][types]") {
  types_sweep<std::int32_t>();
}

TEST_CASE("ring types: std::uint32_t, every operator", "[ring][types]") {
  types_sweep<std::uint32_t>();
}
