// Every operator on half and bfloat16 for the tree family (see test_tree_types.hpp).
#include "test_tree_types.hpp"

using namespace tree_test;

TEST_CASE("tree family types: half", "[tree][types]") { types_sweep<weft::half_t>(); }
TEST_CASE("tree family types: bfloat16", "[tree][types]") { types_sweep<weft::bfloat16_t>(); }
