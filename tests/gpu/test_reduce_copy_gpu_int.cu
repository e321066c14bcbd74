// GPU reduce_copy typed cases for (integers); see reduce_copy_gpu_cases.inc.
#include "reduce_copy_gpu_runner.cuh"

using namespace rc_test;
using rc_types = std::tuple<std::int8_t, std::uint8_t, std::int32_t, std::uint32_t, std::int64_t, std::uint64_t>;
#define RC_SUFFIX "(integers)"
#include "reduce_copy_gpu_cases.inc"
