// Every operator for all-reduce and reduce-scatter on: std::int64_t std::uint64_t (see ring_types.hpp).
#include "ring_types.hpp"

using namespace ring_test;

TEST_CASE("ring types: std::int64_t, every operator", "[ring][types]") {
  types_sweep<std::int64_t>();
}

TEST_CASE("ring types: std::uint64_t, every operator", "[ring][types]") {
  types_sweep<std::uint64_t>();
}
