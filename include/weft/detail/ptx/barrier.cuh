#pragma once
//! \file
//! Named CTA barriers, one function per instruction. Device code only.

#include <weft/core/config.hpp>

#if !defined(__CUDACC__)
#  error "weft/detail/ptx/barrier.cuh needs nvcc"
#endif

namespace weft::detail::ptx {

//! `bar.sync id, count;`: named barrier for `count` threads (a multiple of 32).
WEFT_DEVICE void bar_sync(unsigned id, unsigned count) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(count) : "memory");
}

//! `barrier.red.or.pred`: named barrier for `count` threads that also returns
//! whether `pred` was true in any of them.
WEFT_DEVICE bool bar_red_or(unsigned id, unsigned count, bool pred) {
  unsigned r;
  asm volatile("{\n\t.reg .pred p, q;\n\t"
               "setp.ne.u32 p, %1, 0;\n\t"
               "barrier.red.or.pred q, %2, %3, p;\n\t"
               "selp.u32 %0, 1, 0, q;\n\t}"
               : "=r"(r)
               : "r"(unsigned(pred)), "r"(id), "r"(count)
               : "memory");
  return r != 0;
}

} // namespace weft::detail::ptx
