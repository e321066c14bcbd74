#pragma once
//! \file
//! Plain, volatile, relaxed and acquire loads and plain, volatile, relaxed and
//! release stores, one function per PTX instruction. Device code only.
//!
//! The `sys` scope is used for memory a peer GPU or the host may touch (NVLink
//! peer pointers, mapped host memory); `gpu` for memory touched only by this device.

#include <weft/core/config.hpp>
#include <weft/detail/ptx/b128.hpp>

#if !defined(__CUDACC__)
#  error "weft/detail/ptx/ld_st.cuh needs nvcc"
#endif

namespace weft::detail::ptx {

using u32 = unsigned int;
using u64 = unsigned long long;

// ---- 16-byte global loads ----

//! `ld.global.v4.u32`: ordinary (weak) 16-byte load from global memory.
WEFT_DEVICE b128 ld_global_v4(void const* p) {
  b128 v;
  asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

//! `ld.volatile.global.v4.u32`: 16-byte load that is never cached or merged
//! (the LL protocol's poll of a data+flag line).
WEFT_DEVICE b128 ld_volatile_global_v4(void const* p) {
  b128 v;
  asm volatile("ld.volatile.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

//! `ld.relaxed.sys.global.v4.u32`: 16-byte relaxed load at system scope.
WEFT_DEVICE b128 ld_relaxed_sys_global_v4(void const* p) {
  b128 v;
  asm volatile("ld.relaxed.sys.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

//! `ld.acquire.sys.global.v4.u32`: 16-byte acquire load at system scope.
WEFT_DEVICE b128 ld_acquire_sys_global_v4(void const* p) {
  b128 v;
  asm volatile("ld.acquire.sys.global.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p)
               : "memory");
  return v;
}

//! `ld.acquire.sys.global.u64`: acquire load of a 64-bit flag at system scope.
WEFT_DEVICE u64 ld_acquire_sys_global_u64(void const* p) {
  u64 v;
  asm volatile("ld.acquire.sys.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

//! `ld.volatile.global.u64`: volatile load of a 64-bit word.
WEFT_DEVICE u64 ld_volatile_global_u64(void const* p) {
  u64 v;
  asm volatile("ld.volatile.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

// ---- 16-byte global stores ----

//! `st.global.v4.u32`: ordinary 16-byte store to global memory.
WEFT_DEVICE void st_global_v4(void* p, b128 v) {
  asm volatile("st.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

//! `st.volatile.global.v4.u32`: 16-byte volatile store (LL lines).
WEFT_DEVICE void st_volatile_global_v4(void* p, b128 v) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w)
               : "memory");
}

//! `st.relaxed.sys.global.v4.u32`: 16-byte relaxed store at system scope.
WEFT_DEVICE void st_relaxed_sys_global_v4(void* p, b128 v) {
  asm volatile("st.relaxed.sys.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z),
               "r"(v.w)
               : "memory");
}

//! `st.release.sys.global.u64`: release store of a 64-bit flag at system scope.
WEFT_DEVICE void st_release_sys_global_u64(void* p, u64 v) {
  asm volatile("st.release.sys.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

//! `st.volatile.global.u64`: volatile store of a 64-bit word.
WEFT_DEVICE void st_volatile_global_u64(void* p, u64 v) {
  asm volatile("st.volatile.global.u64 [%0], %1;" ::"l"(p), "l"(v) : "memory");
}

} // namespace weft::detail::ptx
