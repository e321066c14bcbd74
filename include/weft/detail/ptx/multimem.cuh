#pragma once
//! \file
//! NVLink SHARP (NVLS) multicast instructions, sm_90 and newer, one function per
//! instruction. `p` must be a multicast address (from a CUDA multicast object).
//! On older architectures each function stops the kernel with a trap, and a
//! host caller must not select an NVLS algorithm there (the tuner refuses it).

#include <weft/core/config.hpp>
#include <weft/core/types.hpp>
#include <weft/detail/ptx/b128.hpp>
#include <cuda/std/type_traits>
#include <nv/target>

#if !defined(__CUDACC__)
#  error "weft/detail/ptx/multimem.cuh needs nvcc"
#endif

namespace weft::detail::ptx {

//! `multimem.ld_reduce.relaxed.sys.global.add.v4.f32`: read 4 floats from every
//! device of the multicast group and return their sums.
WEFT_DEVICE b128 multimem_ld_reduce_add_v4_f32(void const* p) {
  b128 v{};
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90,
    (asm volatile("multimem.ld_reduce.relaxed.sys.global.add.v4.f32 {%0,%1,%2,%3}, [%4];"
                  : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                  : "l"(p)
                  : "memory");),
    ((void)p; __trap();))
  return v;
}

//! `multimem.ld_reduce.relaxed.sys.global.add.acc::f32.v4.bf16x2`: 8 bf16 values
//! summed across the multicast group, accumulated in fp32 by the switch.
WEFT_DEVICE b128 multimem_ld_reduce_add_v4_bf16x2(void const* p) {
  b128 v{};
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90,
    (asm volatile("multimem.ld_reduce.relaxed.sys.global.add.acc::f32.v4.bf16x2 {%0,%1,%2,%3}, [%4];"
                  : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                  : "l"(p)
                  : "memory");),
    ((void)p; __trap();))
  return v;
}

//! `multimem.ld_reduce.relaxed.sys.global.add.acc::f32.v4.f16x2`: 8 fp16 values.
WEFT_DEVICE b128 multimem_ld_reduce_add_v4_f16x2(void const* p) {
  b128 v{};
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90,
    (asm volatile("multimem.ld_reduce.relaxed.sys.global.add.acc::f32.v4.f16x2 {%0,%1,%2,%3}, [%4];"
                  : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                  : "l"(p)
                  : "memory");),
    ((void)p; __trap();))
  return v;
}

//! The 16-byte `multimem.ld_reduce ... add` of element type T (float, bfloat16_t
//! or half_t: the types the switch sums).
template <class T>
WEFT_DEVICE b128 multimem_ld_reduce_add_v4(void const* p) {
  if constexpr (cuda::std::is_same_v<T, float>) return multimem_ld_reduce_add_v4_f32(p);
  else if constexpr (cuda::std::is_same_v<T, bfloat16_t>) return multimem_ld_reduce_add_v4_bf16x2(p);
  else {
    static_assert(cuda::std::is_same_v<T, half_t>, "the switch sums float, bfloat16_t and half_t");
    return multimem_ld_reduce_add_v4_f16x2(p);
  }
}

//! `multimem.st.relaxed.sys.global.v4.f32`: store 16 bytes to every device of the group.
WEFT_DEVICE void multimem_st_v4_f32(void* p, b128 v) {
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90,
    (asm volatile("multimem.st.relaxed.sys.global.v4.f32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y),
                  "r"(v.z), "r"(v.w)
                  : "memory");),
    ((void)p; (void)v; __trap();))
}

//! `multimem.red.release.sys.global.add.u64`: add `v` to the 64-bit counter at
//! `p` on every device of the group. Release: this thread's earlier memory
//! operations (and, through a preceding CTA barrier, its CTA's) are visible to
//! any thread that observes the addition with an acquire.
WEFT_DEVICE void multimem_red_release_add_u64(void* p, unsigned long long v) {
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90,
    (asm volatile("multimem.red.release.sys.global.add.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");),
    ((void)p; (void)v; __trap();))
}

//! `fence.proxy.alias`: orders this thread's accesses to the same memory through
//! different virtual addresses -- here the multicast address and the unicast
//! address of one rank's copy, which alias the same physical bytes.
WEFT_DEVICE void fence_proxy_alias() {
  NV_IF_ELSE_TARGET(NV_PROVIDES_SM_70, (asm volatile("fence.proxy.alias;" ::: "memory");), ())
}

} // namespace weft::detail::ptx
