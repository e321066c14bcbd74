// GPU reduce_copy typed cases for (fp64, fp32); see reduce_copy_gpu_cases.inc.
#include "reduce_copy_gpu_runner.cuh"

using namespace rc_test;
using rc_types = std::tuple<double, float>;
#define RC_SUFFIX "(fp64, fp32)"
#include "reduce_copy_gpu_cases.inc"
