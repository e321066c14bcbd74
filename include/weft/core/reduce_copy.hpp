#pragma once
//! \file
//! `reduce_copy`: reduce N source arrays element-wise and write the result to M
//! destination arrays -- the one data-moving loop under every prim.
//!
//! - N in 1..MaxSrcs, M in 1..MaxDsts (compile-time maxima, run-time counts).
//! - Any length, any element alignment: when every pointer has the same offset
//!   modulo 16 bytes, a scalar head brings them to a 16-byte boundary, the body
//!   moves 16-byte packs (`Unroll` packs per thread in flight), a scalar tail
//!   finishes. Pointers with different offsets take the scalar path throughout.
//! - In place is allowed: a destination may equal a source (same element index).
//! - Narrow types (fp16, bf16, fp8) are converted to fp32 once per source and
//!   accumulated there; the result is rounded once.
//! - The op's `pre` is applied to sources whose bit is set in `pre_mask` (a
//!   rank's own input, as opposed to partial results received from peers);
//!   `post` is applied to the result when `apply_post` is set.
//! - Work is split over the group's threads; the function does not call `g.sync()`.
//! - Host code (a CPU-team rank) takes a blocked loop the compiler vectorises,
//!   with no alignment requirement; device code takes the pack path above.

#include <weft/core/config.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/pack.hpp>
#include <weft/core/types.hpp>
#if !defined(__CUDA_ARCH__)
#  include <weft/detail/host_stream.hpp>
#endif
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>
#include <cuda/std/type_traits>

namespace weft {

//! Up to `Max` pointers, `n` of them in use. A trivially copyable value (kernel argument friendly).
template <class T, int Max>
struct ptr_list {
  static_assert(Max >= 1, "ptr_list needs room for at least one pointer");
  T* ptr[Max];
  int n;
  WEFT_HOST_DEVICE T* operator[](int i) const { return ptr[i]; }
};

//! `ptr_list` of exactly the pointers given: `srcs(a, b)`, `dsts(c)`.
template <class T, class... U>
WEFT_HOST_DEVICE ptr_list<T const, 1 + sizeof...(U)> srcs(T const* first, U... rest) {
  return {{first, static_cast<T const*>(rest)...}, int(1 + sizeof...(U))};
}
template <class T, class... U>
WEFT_HOST_DEVICE ptr_list<T, 1 + sizeof...(U)> dsts(T* first, U... rest) {
  return {{first, static_cast<T*>(rest)...}, int(1 + sizeof...(U))};
}

//! Which sources get the op's `pre` and whether the result gets its `post`.
struct reduce_copy_flags {
  cuda::std::uint32_t pre_mask = 0xffffffffu; //!< bit s set: source s is a rank's own input
  bool apply_post = true;                     //!< apply `op.post` to the result
};

namespace detail {

// Whether an op's pre/post are the identity (then a single-source reduce_copy is a bit copy).
template <class Op>
struct pre_is_identity : cuda::std::true_type {};
template <class T>
struct pre_is_identity<op::premul_sum<T>> : cuda::std::false_type {};
template <class Op>
struct post_is_identity : cuda::std::true_type {};
template <class T>
struct post_is_identity<op::avg<T>> : cuda::std::false_type {};

template <int Unroll, bool Raw, class Op, int MaxSrcs, int MaxDsts>
WEFT_HOST_DEVICE void reduce_copy_packs(Op const& op, ptr_list<typename Op::value_type const, MaxSrcs> const& src,
                                        ptr_list<typename Op::value_type, MaxDsts> const& dst,
                                        cuda::std::size_t first_elem, cuda::std::size_t pack_index,
                                        cuda::std::size_t pack_stride, reduce_copy_flags flags) {
  using T = typename Op::value_type;
  using A = acc_t<T>;
  constexpr int E = pack_elems<T>;
  b128 v[Unroll];
  WEFT_UNROLL
  for (int u = 0; u < Unroll; ++u)
    v[u] = load_b128(src.ptr[0] + first_elem + (pack_index + u * pack_stride) * E);
  if constexpr (Raw) {
    WEFT_UNROLL
    for (int d = 0; d < MaxDsts; ++d) {
      if (d < dst.n) {
        WEFT_UNROLL
        for (int u = 0; u < Unroll; ++u)
          store_b128(dst.ptr[d] + first_elem + (pack_index + u * pack_stride) * E, v[u]);
      }
    }
  } else {
    A acc[Unroll][E];
    bool const pre0 = (flags.pre_mask & 1u) != 0;
    WEFT_UNROLL
    for (int u = 0; u < Unroll; ++u) {
      pack<T> const p = as_pack<T>(v[u]);
      WEFT_UNROLL
      for (int e = 0; e < E; ++e) {
        A const x = to_acc(p.e[e]);
        acc[u][e] = pre0 ? op.pre(x) : x;
      }
    }
    WEFT_UNROLL
    for (int s = 1; s < MaxSrcs; ++s) {
      if (s < src.n) {
        bool const pre = ((flags.pre_mask >> s) & 1u) != 0;
        WEFT_UNROLL
        for (int u = 0; u < Unroll; ++u)
          v[u] = load_b128(src.ptr[s] + first_elem + (pack_index + u * pack_stride) * E);
        WEFT_UNROLL
        for (int u = 0; u < Unroll; ++u) {
          pack<T> const p = as_pack<T>(v[u]);
          WEFT_UNROLL
          for (int e = 0; e < E; ++e) {
            A const x = to_acc(p.e[e]);
            acc[u][e] = op(acc[u][e], pre ? op.pre(x) : x);
          }
        }
      }
    }
    WEFT_UNROLL
    for (int u = 0; u < Unroll; ++u) {
      pack<T> p;
      WEFT_UNROLL
      for (int e = 0; e < E; ++e)
        p.e[e] = from_acc<T>(flags.apply_post ? op.post(acc[u][e]) : acc[u][e]);
      v[u] = as_b128(p);
    }
    WEFT_UNROLL
    for (int d = 0; d < MaxDsts; ++d) {
      if (d < dst.n) {
        WEFT_UNROLL
        for (int u = 0; u < Unroll; ++u)
          store_b128(dst.ptr[d] + first_elem + (pack_index + u * pack_stride) * E, v[u]);
      }
    }
  }
}

template <bool Raw, class Op, int MaxSrcs, int MaxDsts>
WEFT_HOST_DEVICE void reduce_copy_scalar(Op const& op, ptr_list<typename Op::value_type const, MaxSrcs> const& src,
                                         ptr_list<typename Op::value_type, MaxDsts> const& dst, cuda::std::size_t i,
                                         reduce_copy_flags flags) {
  using T = typename Op::value_type;
  using A = acc_t<T>;
  T out = src.ptr[0][i];
  if constexpr (!Raw) {
    A acc = to_acc(out);
    if (flags.pre_mask & 1u)
      acc = op.pre(acc);
    WEFT_UNROLL
    for (int s = 1; s < MaxSrcs; ++s) {
      if (s < src.n) {
        A const x = to_acc(src.ptr[s][i]);
        acc = op(acc, ((flags.pre_mask >> s) & 1u) ? op.pre(x) : x);
      }
    }
    out = from_acc<T>(flags.apply_post ? op.post(acc) : acc);
  }
  WEFT_UNROLL
  for (int d = 0; d < MaxDsts; ++d)
    if (d < dst.n)
      dst.ptr[d][i] = out;
}

//! Host calls at least this large stream their result around the cache.
inline constexpr cuda::std::size_t host_stream_threshold = cuda::std::size_t(2) << 20;

// Host path: blocks of elements reduced through a small fp32/acc buffer, in
// loops simple enough for the compiler to vectorise; any alignment works.
template <bool Raw, class Group, class Op, int MaxSrcs, int MaxDsts>
inline void reduce_copy_host(Group& g, Op const& op, ptr_list<typename Op::value_type const, MaxSrcs> const& src,
                             ptr_list<typename Op::value_type, MaxDsts> const& dst, cuda::std::size_t count,
                             reduce_copy_flags flags) {
  using T = typename Op::value_type;
  using A = acc_t<T>;
  constexpr cuda::std::size_t B = 512;
  // Large calls (a user-level reduce, not a prims step whose slot the peer reads
  // next) write their result around the cache, as memcpy does for large copies.
  bool const stream = count * sizeof(T) >= host_stream_threshold;
  cuda::std::size_t const tid = cuda::std::size_t(g.thread_rank());
  cuda::std::size_t const nt = cuda::std::size_t(g.num_threads());
  cuda::std::size_t const nblocks = (count + B - 1) / B;
  for (cuda::std::size_t b = tid; b < nblocks; b += nt) {
    cuda::std::size_t const lo = b * B;
    cuda::std::size_t const n = count - lo < B ? count - lo : B;
    if constexpr (Raw) {
      for (int d = 0; d < dst.n; ++d)
        if (dst.ptr[d] != src.ptr[0])
          memmove(dst.ptr[d] + lo, src.ptr[0] + lo, n * sizeof(T));
    } else {
      bool const p0 = (flags.pre_mask & 1u) != 0, p1 = ((flags.pre_mask >> 1) & 1u) != 0;
      bool const post = flags.apply_post && !post_is_identity<Op>::value;
      T const* s0 = src.ptr[0] + lo;
      if constexpr (MaxSrcs >= 2) {
        if (src.n == 2 && dst.n == 1) { // the ring's hot path: own input + received -> one destination
          T const* s1 = src.ptr[1] + lo;
          T* d0 = dst.ptr[0] + lo;
          if (stream) {
            // One thread reading two streams is bound by the misses it has in
            // flight, not by DRAM: ask for the lines a few KiB ahead as it goes,
            // and write each finished 64-byte line around the cache.
            constexpr cuda::std::size_t L = 64 / sizeof(T) > 0 ? 64 / sizeof(T) : 1;
            constexpr cuda::std::size_t D = 2048 / sizeof(T);
            auto one = [&](cuda::std::size_t i) {
              A const x = to_acc(s0[i]), y = to_acc(s1[i]);
              A const a = op(p0 ? op.pre(x) : x, p1 ? op.pre(y) : y);
              return from_acc<T>(post ? op.post(a) : a);
            };
            cuda::std::size_t i = 0;
            while (i < n && (reinterpret_cast<cuda::std::uintptr_t>(d0 + i) & 63u) != 0) {
              d0[i] = one(i);
              ++i;
            }
            for (; i + L <= n; i += L) {
              prefetch_line(s0 + i + D);
              prefetch_line(s1 + i + D);
              alignas(64) T line[L];
              for (cuda::std::size_t k = 0; k < L; ++k)
                line[k] = one(i + k);
              stream_line(d0 + i, line);
            }
            for (; i < n; ++i)
              d0[i] = one(i);
            continue;
          }
          for (cuda::std::size_t i = 0; i < n; ++i) {
            A const x = to_acc(s0[i]), y = to_acc(s1[i]);
            A const a = op(p0 ? op.pre(x) : x, p1 ? op.pre(y) : y);
            d0[i] = from_acc<T>(post ? op.post(a) : a);
          }
          continue;
        }
      }
      A acc[B];
      if (src.n == 1) {
        for (cuda::std::size_t i = 0; i < n; ++i) {
          A const x = to_acc(s0[i]);
          acc[i] = p0 ? op.pre(x) : x;
        }
      } else if constexpr (MaxSrcs >= 2) {
        T const* s1 = src.ptr[1] + lo;
        for (cuda::std::size_t i = 0; i < n; ++i) {
          A const x = to_acc(s0[i]), y = to_acc(s1[i]);
          acc[i] = op(p0 ? op.pre(x) : x, p1 ? op.pre(y) : y);
        }
      }
      for (int k = 2; k < src.n; ++k) {
        T const* sk = src.ptr[k] + lo;
        bool const pk = ((flags.pre_mask >> k) & 1u) != 0;
        for (cuda::std::size_t i = 0; i < n; ++i) {
          A const x = to_acc(sk[i]);
          acc[i] = op(acc[i], pk ? op.pre(x) : x);
        }
      }
      if (post)
        for (cuda::std::size_t i = 0; i < n; ++i)
          acc[i] = op.post(acc[i]);
      if (stream) {
        T tmp[B];
        for (cuda::std::size_t i = 0; i < n; ++i)
          tmp[i] = from_acc<T>(acc[i]);
        for (int d = 0; d < dst.n; ++d)
          stream_copy(dst.ptr[d] + lo, tmp, n * sizeof(T));
      } else {
        for (int d = 0; d < dst.n; ++d) {
          T* dd = dst.ptr[d] + lo;
          for (cuda::std::size_t i = 0; i < n; ++i)
            dd[i] = from_acc<T>(acc[i]);
        }
      }
    }
  }
  if (stream)
    stream_fence();
}

template <int Unroll, bool Raw, class Group, class Op, int MaxSrcs, int MaxDsts>
WEFT_HOST_DEVICE void reduce_copy_run(Group& g, Op const& op,
                                      ptr_list<typename Op::value_type const, MaxSrcs> const& src,
                                      ptr_list<typename Op::value_type, MaxDsts> const& dst, cuda::std::size_t count,
                                      reduce_copy_flags flags) {
  using T = typename Op::value_type;
  constexpr int E = pack_elems<T>;
  cuda::std::size_t const tid = cuda::std::size_t(g.thread_rank());
  cuda::std::size_t const nt = cuda::std::size_t(g.num_threads());

  // Vector body only when every pointer sits at the same offset modulo 16 bytes.
  cuda::std::uintptr_t const mis = reinterpret_cast<cuda::std::uintptr_t>(src.ptr[0]) & 15u;
  bool same = (mis % sizeof(T)) == 0;
  WEFT_UNROLL
  for (int s = 1; s < MaxSrcs; ++s)
    if (s < src.n)
      same = same && ((reinterpret_cast<cuda::std::uintptr_t>(src.ptr[s]) & 15u) == mis);
  WEFT_UNROLL
  for (int d = 0; d < MaxDsts; ++d)
    if (d < dst.n)
      same = same && ((reinterpret_cast<cuda::std::uintptr_t>(dst.ptr[d]) & 15u) == mis);

  cuda::std::size_t head = count, npacks = 0;
  if (same) {
    head = ((16u - mis) & 15u) / sizeof(T);
    if (head > count)
      head = count;
    npacks = (count - head) / E;
  }
  cuda::std::size_t const tail = head + npacks * E;

  for (cuda::std::size_t i = tid; i < head; i += nt)
    reduce_copy_scalar<Raw>(op, src, dst, i, flags);

  constexpr int U = Unroll;
  cuda::std::size_t p = tid;
  if constexpr (U > 1) {
    for (; p + (U - 1) * nt < npacks; p += U * nt)
      reduce_copy_packs<U, Raw>(op, src, dst, head, p, nt, flags);
  }
  for (; p < npacks; p += nt)
    reduce_copy_packs<1, Raw>(op, src, dst, head, p, nt, flags);

  for (cuda::std::size_t i = tail + tid; i < count; i += nt)
    reduce_copy_scalar<Raw>(op, src, dst, i, flags);
}

} // namespace detail

//! Reduce `src.n` arrays of `count` elements with `op` into each of `dst.n` arrays.
//! Every thread of `g` must call it with the same arguments. `src.n >= 1`.
template <int Unroll = 4, class Group, class Op, int MaxSrcs, int MaxDsts>
WEFT_HOST_DEVICE void reduce_copy(Group& g, Op const& op, ptr_list<typename Op::value_type const, MaxSrcs> const& src,
                                  ptr_list<typename Op::value_type, MaxDsts> const& dst, cuda::std::size_t count,
                                  reduce_copy_flags flags = {}) {
  static_assert(Unroll >= 1, "Unroll must be positive");
  if (count == 0 || dst.n <= 0 || src.n <= 0)
    return;
  bool const raw = src.n == 1 && (detail::pre_is_identity<Op>::value || (flags.pre_mask & 1u) == 0) &&
                   (detail::post_is_identity<Op>::value || !flags.apply_post);
#if defined(__CUDA_ARCH__)
  if (raw)
    detail::reduce_copy_run<Unroll, true>(g, op, src, dst, count, flags);
  else
    detail::reduce_copy_run<Unroll, false>(g, op, src, dst, count, flags);
#else
  if (raw)
    detail::reduce_copy_host<true>(g, op, src, dst, count, flags);
  else
    detail::reduce_copy_host<false>(g, op, src, dst, count, flags);
#endif
}

//! Copy `count` elements from `src` to every destination in `dst` (bit-exact).
template <int Unroll = 4, class Group, class T, int MaxDsts>
WEFT_HOST_DEVICE void copy(Group& g, T const* src, ptr_list<T, MaxDsts> const& dst, cuda::std::size_t count) {
  reduce_copy<Unroll>(g, op::sum<T>{}, ptr_list<T const, 1>{{src}, 1}, dst, count, reduce_copy_flags{0u, false});
}

} // namespace weft
