#pragma once
//! \file
//! Device clock and back-off, one function per instruction. Device code only.

#include <weft/core/config.hpp>
#include <nv/target>

#if !defined(__CUDACC__)
#  error "weft/detail/ptx/timer.cuh needs nvcc"
#endif

namespace weft::detail::ptx {

//! `mov.u64 %0, %globaltimer;`: nanoseconds on a clock shared by all SMs.
WEFT_DEVICE unsigned long long globaltimer() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

//! `nanosleep.u32`: suspend this thread for about `ns` nanoseconds (sm_70+).
WEFT_DEVICE void nanosleep(unsigned ns) {
  NV_IF_TARGET(NV_PROVIDES_SM_70, (asm volatile("nanosleep.u32 %0;" ::"r"(ns));), ((void)ns;))
}

} // namespace weft::detail::ptx
