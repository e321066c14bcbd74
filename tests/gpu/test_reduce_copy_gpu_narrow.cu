// GPU reduce_copy typed cases for (fp16, bf16, fp8); see reduce_copy_gpu_cases.inc.
#include "reduce_copy_gpu_runner.cuh"

using namespace rc_test;
using rc_types = std::tuple<weft::half_t, weft::bfloat16_t, weft::float8_e4m3_t, weft::float8_e5m2_t>;
#define RC_SUFFIX "(fp16, bf16, fp8)"
#include "reduce_copy_gpu_cases.inc"
