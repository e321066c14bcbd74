#pragma once
//! \file
//! CUDA execution groups: one thread, a warp, an aligned power-of-two tile of a
//! warp, a span of consecutive warps (named barrier), and the whole CTA. These
//! are the only place outside `detail/` that reads `threadIdx` or calls
//! `__syncthreads`/`__syncwarp`; algorithms see the four-method contract only.

#include <weft/core/config.hpp>
#include <weft/detail/ptx/barrier.cuh>
#include <weft/group/group.hpp>

#if !defined(__CUDACC__)
#  error "weft/group/cuda_groups.cuh needs nvcc"
#endif

namespace weft {

namespace detail {
WEFT_DEVICE int flat_thread_index() { return int(threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)); }
WEFT_DEVICE int lane_index() { return flat_thread_index() & 31; }
} // namespace detail

//! An aligned set of `N` threads within one warp (N a power of two, 1..32).
template <int N>
struct cuda_tile {
  static_assert(N >= 1 && N <= 32 && (N & (N - 1)) == 0, "cuda_tile<N>: N must be a power of two in 1..32");
  WEFT_DEVICE int thread_rank() const { return detail::lane_index() & (N - 1); }
  WEFT_DEVICE constexpr int size() const { return N; }
  WEFT_DEVICE constexpr int num_threads() const { return N; }
  WEFT_DEVICE unsigned lane_mask() const {
    if constexpr (N == 32) return 0xffffffffu;
    else return ((1u << N) - 1u) << (detail::lane_index() & ~(N - 1));
  }
  WEFT_DEVICE void sync() {
    if constexpr (N > 1) __syncwarp(lane_mask());
    else __threadfence_block();
  }
};

//! Synchronise the tile and return whether `pred` held in any of its threads.
template <int N>
WEFT_DEVICE bool sync_any(cuda_tile<N>& g, bool pred) {
  g.sync();
  if constexpr (N > 1) return __any_sync(g.lane_mask(), pred) != 0;
  else return pred;
}

//! A single CUDA thread.
using cuda_thread = cuda_tile<1>;
//! A full warp.
using cuda_warp = cuda_tile<32>;

//! `nwarps` consecutive warps starting at warp `warp0` of the CTA, synchronised by
//! named barrier `barrier_id` (1..15; 0 is `__syncthreads`'). Two spans that are
//! active at the same time must use different ids.
struct cuda_warp_span {
  int warp0, nwarps, barrier_id;
  WEFT_DEVICE int thread_rank() const { return detail::flat_thread_index() - 32 * warp0; }
  WEFT_DEVICE int size() const { return 32 * nwarps; }
  WEFT_DEVICE int num_threads() const { return 32 * nwarps; }
  WEFT_DEVICE void sync() {
    if (nwarps == 1) __syncwarp();
    else detail::ptx::bar_sync(unsigned(barrier_id), unsigned(32 * nwarps));
  }
};

//! Synchronise the span and return whether `pred` held in any of its threads.
WEFT_DEVICE bool sync_any(cuda_warp_span& g, bool pred) {
  if (g.nwarps == 1) return __any_sync(0xffffffffu, pred) != 0;
  return detail::ptx::bar_red_or(unsigned(g.barrier_id), unsigned(32 * g.nwarps), pred);
}

//! The whole thread block.
struct cuda_cta {
  WEFT_DEVICE int thread_rank() const { return detail::flat_thread_index(); }
  WEFT_DEVICE int size() const { return int(blockDim.x * blockDim.y * blockDim.z); }
  WEFT_DEVICE int num_threads() const { return size(); }
  WEFT_DEVICE void sync() { __syncthreads(); }
};

//! Synchronise the CTA and return whether `pred` held in any of its threads.
WEFT_DEVICE bool sync_any(cuda_cta&, bool pred) { return __syncthreads_or(pred) != 0; }

} // namespace weft
