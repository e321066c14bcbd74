// reduce_copy on the GPU: the same test body as tests/core/test_reduce_copy.cpp,
// run through a CUDA kernel (cuda_cta groups, several blocks). Typed cases are
// in test_reduce_copy_gpu_{float,narrow,int}.cu.
#include "reduce_copy_gpu_runner.cuh"

using namespace rc_test;

TEST_CASE("gpu reduce_copy: a few MiB", "[gpu][reduce_copy][large]") {
  std::size_t const bytes = 6u << 20;
  require_ok<float>(opk::sum, 2, 1, bytes / 4 + 3, offsets(2, 0), offsets(1, 0), false, {}, 1, gpu_runner{});
  require_ok<weft::bfloat16_t>(opk::sum, 4, 1, bytes / 2, offsets(4, 1), offsets(1, 1), false, {}, 2, gpu_runner{});
  require_ok<weft::float8_e5m2_t>(opk::sum, 3, 2, bytes, offsets(3, 2), offsets(2, 2), true, {}, 3, gpu_runner{});
}
