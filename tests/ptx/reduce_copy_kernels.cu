// Kernels whose PTX and ptxas report are checked by check_ptx.sh: reduce_copy
// must move 16-byte global loads/stores and must not spill.
#include <weft/core/reduce_copy.hpp>
#include <weft/group/cuda_groups.cuh>

using weft::ptr_list;

extern "C" __global__ void rc_f32_sum2(ptr_list<float const, 2> s, ptr_list<float, 1> d, std::size_t n) {
  weft::cuda_cta g;
  weft::reduce_copy(g, weft::op::sum<float>{}, s, d, n);
}

extern "C" __global__ void rc_bf16_sum2(ptr_list<weft::bfloat16_t const, 2> s, ptr_list<weft::bfloat16_t, 1> d,
                                        std::size_t n) {
  weft::cuda_cta g;
  weft::reduce_copy(g, weft::op::sum<weft::bfloat16_t>{}, s, d, n);
}

extern "C" __global__ void rc_bf16_sum8_dst8(ptr_list<weft::bfloat16_t const, 8> s, ptr_list<weft::bfloat16_t, 8> d,
                                             std::size_t n) {
  weft::cuda_cta g;
  weft::reduce_copy(g, weft::op::sum<weft::bfloat16_t>{}, s, d, n);
}

extern "C" __global__ void rc_f32_copy(float const* s, ptr_list<float, 1> d, std::size_t n) {
  weft::cuda_cta g;
  weft::copy(g, s, d, n);
}
