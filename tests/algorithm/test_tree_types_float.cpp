// Every operator on double and float for the tree family (see test_tree_types.hpp).
#include "test_tree_types.hpp"

using namespace tree_test;

TEST_CASE("tree family types: double", "[tree][types]") { types_sweep<double>(); }
TEST_CASE("tree family types: float", "[tree][types]") { types_sweep<float>(); }
