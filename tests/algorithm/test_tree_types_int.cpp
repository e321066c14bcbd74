// Every operator on int32 and uint8 for the tree family (see test_tree_types.hpp).
#include "test_tree_types.hpp"

using namespace tree_test;

TEST_CASE("tree family types: int32", "[tree][types]") { types_sweep<std::int32_t>(); }
TEST_CASE("tree family types: uint8", "[tree][types]") { types_sweep<std::uint8_t>(); }
