#pragma once
//! \file
//! The device-side API: collectives a user calls inside their own kernel, with
//! their own group, over a communicator's symmetric memory. Written over the
//! group contract and `cuda::atomic_ref` only, so the same code runs in a CUDA
//! kernel (a CTA or warps per rank) and on host threads (the tests' ranks).
//!
//! ```
//! __global__ void k(weft::sym::device_handle h, ...) {
//!   weft::cuda_cta g;                       // the user's group: a CTA, a warp span, ...
//!   int const slot = blockIdx.x;            // the same slot on every rank pairs the blocks
//!   weft::status s = weft::sym::block_all_reduce(g, h, slot, in, out, n, weft::op::sum<float>{});
//! }
//! ```
//!
//! Each block slot of a `symmetric_buffer` owns `stage_elems<T>(h)` elements of
//! staging on every rank and a row of barrier flags. A call copies the input
//! into this rank's staging, meets its peers at a barrier (one release store to
//! every peer, then bounded acquire waits), reads every rank's staging through
//! peer pointers and reduces it in rank order (so every rank gets bit-identical
//! results, accumulating narrow types in fp32), and meets them again so the
//! staging may be reused. It is a one-shot algorithm: each rank reads n times
//! the data, which suits the small rows (a hidden vector per token) it is for.
//!
//! Rules: every rank calls the same sequence of collectives on a slot, with the
//! same count; two groups must not use one slot at the same time; every
//! rank's blocks that use a slot must be resident together (launch no more
//! blocks per rank than fit beside the other ranks' blocks on a shared GPU).
//! A barrier that does not complete in `h.timeout_ns` returns `status::timeout`
//! from every thread of the group.

#include <weft/core/config.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>

#include <cuda/atomic>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>

namespace weft::sym {

//! Ranks and block slots the device-side API serves.
inline constexpr int max_ranks = 8;
inline constexpr int max_blocks = 1024;

//! What a kernel needs to reach every rank's part of a symmetric buffer
//! (trivially copyable: pass it by value). Made by `comm::device_handle`.
struct device_handle {
  void* data[max_ranks];                  //!< rank r's part, as this rank addresses it
  cuda::std::uint64_t* flags[max_ranks];  //!< rank r's barrier flags, as this rank addresses them
  int rank;
  int nranks;
  cuda::std::size_t bytes;                //!< of each rank's part
  int max_blocks;                         //!< block slots
  cuda::std::uint64_t timeout_ns;         //!< bound of every barrier wait
  //! This rank's multicast address of its part (NVLS: a store there lands in
  //! every rank's part at the same offset), or null where the buffer is plain
  //! symmetric memory. Used by symmetric/block_multicast.cuh.
  void* mc_data;
};

//! Bytes of barrier flags for `max_blocks` slots: per slot one word per rank
//! (that rank's arrivals) and one for this rank's own count.
WEFT_HOST_DEVICE constexpr cuda::std::size_t flag_bytes(int /*nranks*/, int blocks) noexcept {
  return cuda::std::size_t(blocks) * (max_ranks + 1) * sizeof(cuda::std::uint64_t);
}

//! Elements of type T one block slot can stage.
template <class T>
WEFT_HOST_DEVICE constexpr cuda::std::size_t stage_elems(device_handle const& h) noexcept {
  return h.max_blocks > 0 ? h.bytes / cuda::std::size_t(h.max_blocks) / sizeof(T) / 16 * 16 : 0;
}

//! Rank r's staging of block slot `slot` (16-element aligned).
template <class T>
WEFT_HOST_DEVICE T* stage(device_handle const& h, int r, int slot) noexcept {
  return static_cast<T*>(h.data[r]) + cuda::std::size_t(slot) * stage_elems<T>(h);
}

//! Meet every rank's group on slot `slot`: the writes this group made before
//! are visible to every peer's group after it, and the other way round.
template <class Group>
WEFT_HOST_DEVICE status barrier(Group& g, device_handle const& h, int slot) {
  bool failed = false;
  g.sync();
  if (g.thread_rank() == 0) {
    cuda::std::uint64_t* row = h.flags[h.rank] + cuda::std::size_t(slot) * (max_ranks + 1);
    cuda::std::uint64_t const epoch = row[max_ranks] + 1; // only this group touches its own count
    row[max_ranks] = epoch;
    // Order every thread's writes (ordered before us by g.sync) before the flags.
    cuda::atomic_thread_fence(cuda::memory_order_seq_cst, cuda::thread_scope_system);
    for (int p = 0; p < h.nranks; ++p)
      signal(h.flags[p] + cuda::std::size_t(slot) * (max_ranks + 1) + h.rank, epoch);
    wait_bound const bound{h.timeout_ns, nullptr};
    for (int p = 0; p < h.nranks && !failed; ++p)
      failed = wait_geq(row + p, epoch, bound) != status::success;
  }
  return sync_any(g, failed) ? status::timeout : status::success;
}

//! All-reduce of `count` elements: every rank's `in` reduced with `op` (in rank
//! order) into every rank's `out`. `in` and `out` may be the same or any device
//! memory of this rank. `count` must fit the slot (`stage_elems<T>(h)`).
template <class Group, class Op>
WEFT_HOST_DEVICE status block_all_reduce(Group& g, device_handle const& h, int slot, typename Op::value_type const* in,
                                         typename Op::value_type* out, cuda::std::size_t count, Op const& op) {
  using T = typename Op::value_type;
  if (slot < 0 || slot >= h.max_blocks || count > stage_elems<T>(h) || h.nranks > max_ranks) return status::invalid_argument;
  T* mine = stage<T>(h, h.rank, slot);
  copy(g, in, dsts(mine), count);
  if (status s = barrier(g, h, slot); s != status::success) return s;
  ptr_list<T const, max_ranks> src{};
  src.n = h.nranks;
  for (int r = 0; r < h.nranks; ++r) src.ptr[r] = stage<T>(h, r, slot);
  reduce_copy(g, op, src, dsts(out), count, reduce_copy_flags{0xffffffffu, true});
  return barrier(g, h, slot);
}

//! All-gather: rank r's `count` elements of `in` land at `out + r * count` on every rank.
template <class Group, class T>
WEFT_HOST_DEVICE status block_all_gather(Group& g, device_handle const& h, int slot, T const* in, T* out,
                                         cuda::std::size_t count) {
  if (slot < 0 || slot >= h.max_blocks || count > stage_elems<T>(h) || h.nranks > max_ranks) return status::invalid_argument;
  copy(g, in, dsts(stage<T>(h, h.rank, slot)), count);
  if (status s = barrier(g, h, slot); s != status::success) return s;
  for (int r = 0; r < h.nranks; ++r) copy(g, static_cast<T const*>(stage<T>(h, r, slot)), dsts(out + cuda::std::size_t(r) * count), count);
  return barrier(g, h, slot);
}

} // namespace weft::sym
