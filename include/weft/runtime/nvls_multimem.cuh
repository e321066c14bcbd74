#pragma once
//! \file
//! NVLS on the GPU: a multicast object over multimem (sm_90+) for the
//! algorithms of weft/algorithm/nvls.hpp, and kernels that run the direct and
//! NVLS collectives with one CTA per block.
//!
//! `multimem_multicast` pairs the unicast view of a symmetric region
//! (`sym_view`: this rank's region, the peers' regions through NVLink peer
//! pointers, the flag arrays) with the multicast address `mc` of the same
//! region (a CUDA multicast object bound to every rank's region at the same
//! offset). Sums of fp32, bf16 and fp16 go through the switch
//! (`multimem.ld_reduce ... add`, bf16/fp16 accumulated in fp32 by the switch);
//! every store goes through `multimem.st` (16 bytes at a time, whatever the
//! type). Other operators and types, the unaligned head/tail of a range, and
//! host code fall back to `peer_multicast`: peer reads in rank order. The handle
//! is trivially copyable: a kernel argument.
//!
//! Barriers. The copy of a rank's region is reached through two virtual
//! addresses: the unicast one (staging copies, the copy out) and the multicast
//! one (multimem.ld_reduce / st). Accesses through different addresses of the
//! same bytes are ordered only by `fence.proxy.alias`, so every thread issues
//! one on both sides of each barrier. Where the region holds barrier counters
//! (`counters`, one 64-bit counter per block at that offset in every copy), the
//! barrier is a switch barrier: thread 0 adds 1 to block b's counter in every
//! copy with `multimem.red.release.sys` (one operation, whatever the rank count;
//! the release covers the CTA's earlier stores, multicast ones included, made
//! visible to it by the CTA barrier before it), then waits with an acquire load
//! of its own copy until the counter reaches nranks x k, k counting the block's
//! counter barriers (`sym_cursor::arrivals`). Counters only grow,
//! like the flags, so back-to-back calls and graph replays need no reset. With
//! `counters == 0` the barrier is the view's flag barrier between the fences.

#include <weft/algorithm/direct.hpp>
#include <weft/algorithm/nvls.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>
#include <weft/detail/ptx/b128.hpp>
#include <weft/detail/ptx/multimem.cuh>
#include <weft/group/cuda_groups.cuh>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>
#include <cuda/std/type_traits>
#include <nv/target>

namespace weft {

//! Multicast object over NVLS (see the file comment).
struct multimem_multicast {
  sym_view v;                  //!< unicast view (regions, flags, cursors)
  unsigned char* mc = nullptr; //!< multicast address of the region, same layout as v.bufs[v.rank]
  //! Offset in the region of the per-block barrier counters ([nblocks] 64-bit,
  //! zero at creation, 8-byte aligned); 0: none, the view's flag barrier is used.
  cuda::std::size_t counters = 0;

  WEFT_HOST_DEVICE sym_view const& sym() const noexcept { return v; }
  template <class Op>
  WEFT_HOST_DEVICE status supports(Op const&) const noexcept {
    return status::success; // every operator: the switch path or the peer fallback
  }

  //! Whether the switch can reduce `Op` (a plain sum of fp32, bf16 or fp16).
  template <class Op>
  static constexpr bool switch_reduces = nvls_switch_reduces<Op>;

  template <class T>
  WEFT_HOST_DEVICE unsigned char* mc_of(T const* unicast) const noexcept {
    return mc + (reinterpret_cast<unsigned char const*>(unicast) - v.bufs[v.rank]);
  }

  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce(Group& g, Op const& op, int b, int par, int which, cuda::std::size_t off,
                                  cuda::std::size_t count, typename Op::value_type* dst, bool post) const {
    using T = typename Op::value_type;
    cuda::std::size_t done = 0;
    if constexpr (switch_reduces<Op>) {
      NV_IF_TARGET(NV_PROVIDES_SM_90, (done = switch_ld_reduce(g, b, par, which, off, count, dst);))
    }
    if (done < count)
      peer_multicast{v}.ld_reduce(g, op, b, par, which, off + done, count - done, dst + done, post);
    (void)sizeof(T);
  }

  template <class Group, class T>
  WEFT_HOST_DEVICE void st(Group& g, T const* src, int b, int par, int which, cuda::std::size_t off,
                           cuda::std::size_t count) const {
    cuda::std::size_t done = 0;
    NV_IF_TARGET(NV_PROVIDES_SM_90, (done = switch_st(g, src, b, par, which, off, count);))
    if (done < count) peer_multicast{v}.st(g, src + done, b, par, which, off + done, count - done);
  }

  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce_st(Group& g, Op const& op, int b, int par, int from, int to, cuda::std::size_t off,
                                     cuda::std::size_t count) const {
    detail::ld_reduce_then_st(*this, g, op, b, par, from, to, off, count);
  }

  //! Block b's next barrier (see the file comment).
  template <class Group>
  WEFT_HOST_DEVICE status barrier(Group& g, int b, sym_cursor& c) const {
    status st = status::success;
    NV_IF_ELSE_TARGET(NV_PROVIDES_SM_90, (st = switch_barrier(g, b, c);), (st = peer_multicast{v, counters}.barrier(g, b, c);))
    return st;
  }

private:
  template <class Group>
  WEFT_DEVICE status switch_barrier(Group& g, int b, sym_cursor& c) const {
    detail::ptx::fence_proxy_alias(); // this thread's unicast and multicast accesses so far come first
    if (!counters) {
      status const st = v.barrier(g, b, ++c.epoch);
      detail::ptx::fence_proxy_alias();
      return st;
    }
    status const st = detail::counter_barrier(g, v, peer_multicast{v, counters}.counter(v.rank, b), b, c, [&] {
      detail::ptx::multimem_red_release_add_u64(mc + counters + sizeof(cuda::std::uint64_t) * cuda::std::size_t(b), 1);
      detail::ptx::fence_proxy_alias(); // the addition went through the multicast address, the wait reads the unicast one
    });
    detail::ptx::fence_proxy_alias(); // later accesses, through either address, come after the barrier
    return st;
  }

  // 16-byte vectors through the switch; returns how many leading elements were handled.
  template <class Group, class T>
  WEFT_DEVICE cuda::std::size_t switch_ld_reduce(Group& g, int b, int par, int which, cuda::std::size_t off,
                                                 cuda::std::size_t count, T* dst) const {
    constexpr cuda::std::size_t per = 16 / sizeof(T);
    T const* src = v.template area<T>(v.rank, b, par, which) + off;
    if (reinterpret_cast<cuda::std::uintptr_t>(src) % 16 || reinterpret_cast<cuda::std::uintptr_t>(dst) % 16) return 0;
    cuda::std::size_t const vecs = count / per;
    unsigned char const* m = mc_of(src);
    for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size())) {
      reinterpret_cast<detail::b128*>(dst)[i] = detail::ptx::multimem_ld_reduce_add_v4<T>(m + 16 * i);
    }
    g.sync();
    return vecs * per;
  }
  template <class Group, class T>
  WEFT_DEVICE cuda::std::size_t switch_st(Group& g, T const* src, int b, int par, int which, cuda::std::size_t off,
                                          cuda::std::size_t count) const {
    constexpr cuda::std::size_t per = 16 / sizeof(T);
    T const* dst = v.template area<T>(v.rank, b, par, which) + off;
    if (reinterpret_cast<cuda::std::uintptr_t>(src) % 16 || reinterpret_cast<cuda::std::uintptr_t>(dst) % 16) return 0;
    cuda::std::size_t const vecs = count / per;
    unsigned char* m = mc_of(dst);
    for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size()))
      detail::ptx::multimem_st_v4_f32(m + 16 * i, reinterpret_cast<detail::b128 const*>(src)[i]);
    g.sync();
    return vecs * per;
  }
};

//! The multicast buffer of zero-copy NVLS (algorithm/nvls.hpp): `mc` is this
//! rank's multicast address of the call's symmetric buffer (element offsets
//! count from it). Every access is a 16-byte multimem vector; the caller made
//! sure (`nvls_zero_copy_fits`) that ranges are whole vectors, the buffer is
//! aligned and the switch reduces the operator. `st` reads an aligned source;
//! `ld_reduce` writes a destination of any alignment. sm_90+ only: elsewhere the
//! operations do nothing (the launch refuses such a device first).
struct multimem_buffer {
  unsigned char* mc = nullptr;

  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce_st(Group& g, Op const&, cuda::std::size_t off, cuda::std::size_t count,
                                     multimem_buffer const& to) const {
    using T = typename Op::value_type;
    static_assert(nvls_switch_reduces<Op>, "zero-copy reductions run in the switch");
    NV_IF_TARGET(NV_PROVIDES_SM_90, (
      unsigned char const* const m = mc + off * sizeof(T);
      unsigned char* const d = to.mc + off * sizeof(T);
      cuda::std::size_t const vecs = count * sizeof(T) / 16;
      for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size()))
        detail::ptx::multimem_st_v4_f32(d + 16 * i, detail::ptx::multimem_ld_reduce_add_v4<T>(m + 16 * i));
    ))
    (void)g; (void)off; (void)count; (void)to;
  }
  template <class Group, class T>
  WEFT_HOST_DEVICE void st(Group& g, T const* src, cuda::std::size_t off, cuda::std::size_t count) const {
    NV_IF_TARGET(NV_PROVIDES_SM_90, (
      unsigned char* const m = mc + off * sizeof(T);
      auto const* s = reinterpret_cast<detail::b128 const*>(src);
      cuda::std::size_t const vecs = count * sizeof(T) / 16;
      for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size()))
        detail::ptx::multimem_st_v4_f32(m + 16 * i, s[i]);
    ))
    (void)g; (void)src; (void)off; (void)count;
  }
  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce(Group& g, Op const&, cuda::std::size_t off, cuda::std::size_t count,
                                  typename Op::value_type* dst) const {
    using T = typename Op::value_type;
    static_assert(nvls_switch_reduces<Op>, "zero-copy reductions run in the switch");
    NV_IF_TARGET(NV_PROVIDES_SM_90, (
      unsigned char const* const m = mc + off * sizeof(T);
      cuda::std::size_t const vecs = count * sizeof(T) / 16;
      bool const aligned = reinterpret_cast<cuda::std::uintptr_t>(dst) % 16 == 0;
      for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < vecs; i += cuda::std::size_t(g.size())) {
        detail::b128 const v = detail::ptx::multimem_ld_reduce_add_v4<T>(m + 16 * i);
        if (aligned) {
          reinterpret_cast<detail::b128*>(dst)[i] = v;
        } else { // the rank's own recv, of any alignment: element by element
          T e[16 / sizeof(T)];
          memcpy(e, &v, 16);
          for (cuda::std::size_t k = 0; k < 16 / sizeof(T); ++k) dst[i * (16 / sizeof(T)) + k] = e[k];
        }
      }
    ))
    (void)g; (void)off; (void)count; (void)dst;
  }
};

//! Kernels: block b of the grid runs block b of the window on `partition(count, gridDim.x, b)`.
//! `*result` gets the first failure (a timed-out flag wait) or stays success.
namespace detail {
WEFT_DEVICE void record_status(status* result, status s) {
  if (s != status::success && threadIdx.x == 0) *result = s;
}
//! A grid wider than the window's blocks would run past its cursors, flags and
//! areas: such a launch records invalid_argument and does nothing.
WEFT_DEVICE bool grid_fits(sym_view const& v, status* result) {
  if (int(gridDim.x) <= v.nblocks) return true;
  record_status(result, status::invalid_argument);
  return false;
}
} // namespace detail

template <class Op>
__global__ void direct_all_reduce_kernel(sym_view v, direct_flavour f, Op op, typename Op::value_type const* in,
                                         typename Op::value_type* out, cuda::std::size_t count, status* result) {
  if (!detail::grid_fits(v, result)) return;
  cuda_cta g;
  int const b = int(blockIdx.x);
  detail::record_status(result, direct_all_reduce_flavour(f, g, v, b, op, in, out, partition(count, int(gridDim.x), b)));
}

template <class Mc, class Op>
__global__ void nvls_all_reduce_kernel(Mc mc, Op op, typename Op::value_type const* in, typename Op::value_type* out,
                                       cuda::std::size_t count, status* result) {
  if (!detail::grid_fits(mc.sym(), result)) return;
  cuda_cta g;
  int const b = int(blockIdx.x);
  detail::record_status(result, nvls_all_reduce(g, mc, b, op, in, out, partition(count, int(gridDim.x), b)));
}

template <class Mc, class T>
__global__ void nvls_all_gather_kernel(Mc mc, T const* in, T* out, cuda::std::size_t count, status* result) {
  if (!detail::grid_fits(mc.sym(), result)) return;
  cuda_cta g;
  int const b = int(blockIdx.x);
  detail::record_status(result, nvls_all_gather(g, mc, b, in, out, count, partition(count, int(gridDim.x), b)));
}

template <class Mc, class Op>
__global__ void nvls_reduce_scatter_kernel(Mc mc, Op op, typename Op::value_type const* in,
                                           typename Op::value_type* out, cuda::std::size_t count, status* result) {
  if (!detail::grid_fits(mc.sym(), result)) return;
  cuda_cta g;
  int const b = int(blockIdx.x);
  detail::record_status(result,
                        nvls_reduce_scatter(g, mc, b, op, in, out, count, partition(count, int(gridDim.x), b)));
}

} // namespace weft
