#pragma once
//! \file
//! A nanosecond clock and a polite pause for spin loops, in host and device code.
//! Device: `%globaltimer` and `nanosleep`; host: `std::chrono::steady_clock` and
//! `std::this_thread::yield` (a CPU team often has more ranks than cores).

#include <weft/core/config.hpp>
#include <cuda/std/cstdint>
#include <nv/target>

#if defined(__CUDACC__)
#  include <weft/detail/ptx/timer.cuh>
#endif
#include <chrono>
#include <thread>

namespace weft {

//! Nanoseconds since an arbitrary epoch; monotonic on the host, shared by all SMs on a device.
WEFT_HOST_DEVICE cuda::std::uint64_t now_ns() {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE,
    (return detail::ptx::globaltimer();),
    (return static_cast<cuda::std::uint64_t>(
         std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
             .count());))
}

//! Back-off for the `iter`-th unsuccessful poll of a spin loop.
WEFT_HOST_DEVICE void spin_pause(cuda::std::uint32_t iter) {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE,
    (if (iter > 64) detail::ptx::nanosleep(iter > 1024 ? 256u : 32u);),
    (if (iter > 16) std::this_thread::yield();))
}

} // namespace weft
