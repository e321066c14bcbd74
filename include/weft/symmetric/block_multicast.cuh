#pragma once
//! \file
//! The device-side API over multicast memory (NVLS): `block_all_reduce` and
//! `block_all_gather` (symmetric/block.hpp) for a `symmetric_buffer` allocated
//! with `symmetric_options::multicast`, where the NVSwitch reduces and fans out.
//!
//! ```
//! __global__ void k(weft::sym::device_handle h, ...) {
//!   weft::cuda_cta g;
//!   weft::status s = weft::sym::block_all_reduce_multicast(g, h, blockIdx.x, in, out, n, weft::op::sum<bfloat16_t>{});
//! }
//! ```
//!
//! All-reduce (sums of fp32, bf16 and fp16): copy the input into this rank's
//! staging; barrier; rank r reads its 1/n of the slot's 16-byte vectors
//! through the multicast address with `multimem.ld_reduce` (the switch sums
//! every rank's copy, bf16/fp16 in fp32) and writes the sums back to every
//! copy with `multimem.st`; barrier; every rank copies the sums out of its own
//! staging. Elements past the last whole vector are reduced through peer
//! pointers in rank order. A last barrier frees the slot for the next call.
//! Each rank moves 2/n of the vector through the switch instead of reading n-1
//! peers' copies. The switch sums in its own order: unlike `block_all_reduce`,
//! results are not bit-reproducible from run to run (every rank still gets the
//! same sums, since each element is summed once and multicast).
//!
//! All-gather: each rank writes its `count` elements into slot piece `rank` of
//! every copy with `multimem.st` (an input that is not 16-byte aligned is first
//! copied into its own piece and multicast from there); barrier; every rank
//! copies the n pieces out of its own staging; barrier. It needs n x count
//! elements of staging and 16-byte-aligned pieces.
//!
//! Every rank must take the same path, so the choice depends only on what the
//! ranks share: the handle, the slot, the count and the type.
//!
//! Where a call cannot use the switch -- no multicast address (`h.mc_data`
//! null: plain symmetric memory), another operator or type, a pre-sm_90 target,
//! host code, an all-gather whose pieces are not whole 16-byte vectors or too
//! large for the slot's n pieces -- it is exactly the plain `block_all_reduce` / `block_all_gather`,
//! with the same rules and results.
//!
//! Ordering. A rank's staging is reached through two virtual addresses (its
//! unicast one and the multicast one); accesses through the two are ordered
//! only across `fence.proxy.alias`, which every thread issues on both sides of
//! each barrier.

#include <weft/algorithm/partition.hpp>
#include <weft/detail/ptx/b128.hpp>
#include <weft/detail/ptx/multimem.cuh>
#include <weft/runtime/nvls_multimem.cuh>
#include <weft/symmetric/block.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>
#include <nv/target>

namespace weft::sym {

namespace detail {

//! This rank's multicast address of `p`, a pointer into its own part.
template <class T>
WEFT_HOST_DEVICE unsigned char* mc_of(device_handle const& h, T const* p) noexcept {
  return static_cast<unsigned char*>(h.mc_data) +
         (reinterpret_cast<unsigned char const*>(p) - static_cast<unsigned char const*>(h.data[h.rank]));
}

//! `barrier` with alias fences on both sides (see the file comment).
template <class Group>
WEFT_DEVICE status mc_barrier(Group& g, device_handle const& h, int slot) {
  weft::detail::ptx::fence_proxy_alias();
  status const s = barrier(g, h, slot);
  weft::detail::ptx::fence_proxy_alias();
  return s;
}

template <class T>
WEFT_HOST_DEVICE bool aligned16(T const* p) noexcept {
  return reinterpret_cast<cuda::std::uintptr_t>(p) % 16 == 0;
}

template <class Group, class Op>
WEFT_DEVICE status switch_all_reduce(Group& g, device_handle const& h, int slot, typename Op::value_type const* in,
                                     typename Op::value_type* out, cuda::std::size_t count, Op const& op) {
  using T = typename Op::value_type;
  constexpr cuda::std::size_t per = 16 / sizeof(T);
  T* mine = stage<T>(h, h.rank, slot);
  copy(g, in, dsts(mine), count);
  WEFT_TRY(mc_barrier(g, h, slot));
  cuda::std::size_t const vecs = count / per;
  elem_range const part = partition(vecs, h.nranks, h.rank);
  unsigned char* const m = mc_of(h, mine);
  for (cuda::std::size_t i = part.lo + cuda::std::size_t(g.thread_rank()); i < part.hi; i += cuda::std::size_t(g.size())) {
    weft::detail::ptx::multimem_st_v4_f32(m + 16 * i, weft::detail::ptx::multimem_ld_reduce_add_v4<T>(m + 16 * i));
  }
  WEFT_TRY(mc_barrier(g, h, slot));
  cuda::std::size_t const body = vecs * per;
  copy(g, static_cast<T const*>(mine), dsts(out), body);
  if (body < count) {
    ptr_list<T const, max_ranks> src{};
    src.n = h.nranks;
    for (int r = 0; r < h.nranks; ++r) src.ptr[r] = stage<T>(h, r, slot) + body;
    reduce_copy(g, op, src, dsts(out + body), count - body, reduce_copy_flags{0xffffffffu, true});
  }
  return mc_barrier(g, h, slot);
}

template <class Group, class T>
WEFT_DEVICE status switch_all_gather(Group& g, device_handle const& h, int slot, T const* in, T* out,
                                     cuda::std::size_t count) {
  T* base = stage<T>(h, h.rank, slot);
  T* const piece = base + cuda::std::size_t(h.rank) * count;
  unsigned char* const m = mc_of(h, piece);
  cuda::std::size_t const vecs = count * sizeof(T) / 16;
  // An unaligned input is first copied into this rank's own piece (through the
  // unicast address) and multicast from there: the path depends only on what
  // every rank shares, so all ranks take the same one.
  if (!aligned16(in)) {
    copy(g, in, dsts(piece), count);
    g.sync();
    weft::detail::ptx::fence_proxy_alias();
  }
  auto const* src = reinterpret_cast<weft::detail::b128 const*>(aligned16(in) ? in : piece);
  for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size()))
    weft::detail::ptx::multimem_st_v4_f32(m + 16 * i, src[i]);
  WEFT_TRY(mc_barrier(g, h, slot));
  copy(g, static_cast<T const*>(base), dsts(out), count * cuda::std::size_t(h.nranks));
  return mc_barrier(g, h, slot);
}

} // namespace detail

//! `block_all_reduce` through the switch where it can (see the file comment);
//! otherwise exactly `block_all_reduce`.
template <class Group, class Op>
WEFT_HOST_DEVICE status block_all_reduce_multicast(Group& g, device_handle const& h, int slot,
                                                   typename Op::value_type const* in, typename Op::value_type* out,
                                                   cuda::std::size_t count, Op const& op) {
  using T = typename Op::value_type;
  if constexpr (multimem_multicast::switch_reduces<Op>) {
    if (h.mc_data && slot >= 0 && slot < h.max_blocks && count <= stage_elems<T>(h) && h.nranks <= max_ranks &&
        detail::aligned16(stage<T>(h, h.rank, slot))) {
      NV_IF_TARGET(NV_PROVIDES_SM_90, (return detail::switch_all_reduce(g, h, slot, in, out, count, op);))
    }
  }
  return block_all_reduce(g, h, slot, in, out, count, op);
}

//! `block_all_gather` through the switch where it can (see the file comment);
//! otherwise exactly `block_all_gather`.
template <class Group, class T>
WEFT_HOST_DEVICE status block_all_gather_multicast(Group& g, device_handle const& h, int slot, T const* in, T* out,
                                                   cuda::std::size_t count) {
  if (h.mc_data && slot >= 0 && slot < h.max_blocks && h.nranks <= max_ranks &&
      count * cuda::std::size_t(h.nranks) <= stage_elems<T>(h) && count * sizeof(T) % 16 == 0 &&
      detail::aligned16(stage<T>(h, h.rank, slot))) {
    NV_IF_TARGET(NV_PROVIDES_SM_90, (return detail::switch_all_gather(g, h, slot, in, out, count);))
  }
  return block_all_gather(g, h, slot, in, out, count);
}

} // namespace weft::sym
