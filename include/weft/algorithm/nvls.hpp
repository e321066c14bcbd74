#pragma once
//! \file
//! NVLS collectives (NVLink SHARP): all-reduce, all-gather and reduce-scatter
//! written once over a multicast object `Mc`. See docs/algorithms/nvls.md.
//!
//! A multicast object gives each rank a unicast view of its own copy of a
//! symmetric region (`mc.sym()`, a `sym_view`: areas, cursors, flag barriers)
//! plus two operations on a multicast address, i.e. on every rank's copy at once:
//!   mc.ld_reduce(g, op, b, par, which, off, count, dst, post)
//!       dst[i] = op-reduction over ranks q of area(q, b, par, which)[off + i]
//!   mc.st(g, src, b, par, which, off, count)
//!       area(q, b, par, which)[off + i] = src[i] for every rank q
//!   mc.ld_reduce_st(g, op, b, par, from, to, off, count)
//!       both at once: the reduction of area `from` stored into area `to` everywhere
//!   mc.supports(op)  status::success, or status::unsupported for an operator or
//!       type the switch cannot reduce
//!   mc.barrier(g, b, cursor)  block b's next barrier across every rank (it
//!       advances the block's cursor); it also orders this rank's accesses
//!       through the multicast address with those through its unicast view
//!       (they alias the same bytes)
//! On sm_90+ these are multimem.ld_reduce / multimem.st (the switch reduces);
//! `peer_multicast` below emulates them with peer pointers -- it reads every
//! rank's copy and reduces in rank order, or writes every copy -- which is
//! what the CPU team runs and what a GPU falls back to for odd tails.
//!
//! Areas alternate parity per round exactly as in the direct collectives
//! (weft/algorithm/direct.hpp), so a barrier per phase suffices and flags are
//! never reset.
//!
//! Zero-copy NVLS (`nvls_zero_copy_*` at the end) runs on the call's own buffer
//! when that buffer is symmetric memory with a multicast address: the data never
//! enters the window, whose multicast object only lends its barrier. The buffer
//! is a second object `Mb` with element offsets from its start (every rank's
//! copy has the same layout):
//!   mb.ld_reduce_st(g, op, off, count, to)  every copy of buffer `to` gets, at
//!       [off, off + count), the op-reduction over ranks of that range of `mb`
//!       (`to` may be `mb`: in place)
//!   mb.st(g, src, off, count)           every copy's [off, off + count) = src (16-byte aligned)
//!   mb.ld_reduce(g, op, off, count, dst)  dst (any alignment) = the reduction of that range
//! `multimem_buffer` (runtime/nvls_multimem.cuh) runs them through the switch;
//! `peer_multicast_buffer` (team/cpu_nvls.hpp) emulates them with peer pointers.
//! Which calls qualify is `nvls_zero_copy_fits`, the same rule on both.

#include <weft/algorithm/direct.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/core/config.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/prims/wait_error.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>
#include <cuda/std/type_traits>

namespace weft {

namespace detail {

//! `ld_reduce_st` as an ld_reduce into this rank's copy of area `to`, then an st of it to every copy.
template <class Mc, class Group, class Op>
WEFT_HOST_DEVICE void ld_reduce_then_st(Mc const& mc, Group& g, Op const& op, int b, int par, int from, int to,
                                        cuda::std::size_t off, cuda::std::size_t count) {
  using T = typename Op::value_type;
  T* mine = mc.sym().template area<T>(mc.sym().rank, b, par, to) + off;
  mc.ld_reduce(g, op, b, par, from, off, count, mine, true);
  mc.st(g, static_cast<T const*>(mine), b, par, to, off, count);
}

//! The counter barrier of a multicast object (the switch barrier of
//! runtime/nvls_multimem.cuh, emulated by `peer_multicast` with counters): thread
//! 0 adds 1 to block b's counter in every rank's copy (`add_all()`, a release),
//! then waits, bounded, until its own copy `mine` reaches nranks x k, k being
//! this counter barrier's number on the block (`++c.arrivals`; the epoch also
//! advances, so flag barriers on the same block stay in step). Counters only
//! grow, so calls and graph replays need no reset. A failed wait is recorded
//! with peer -1 (every rank) and the target.
template <class Group, class AddAll>
WEFT_HOST_DEVICE status counter_barrier(Group& g, sym_view const& v, cuda::std::uint64_t* mine, int b, sym_cursor& c,
                                        AddAll&& add_all) {
  ++c.epoch;
  cuda::std::uint64_t const k = ++c.arrivals;
  g.sync(); // the group's writes come before thread 0's release
  status st = status::success;
  if (g.thread_rank() == 0) {
    add_all();
    cuda::std::uint64_t const target = k * cuda::std::uint64_t(v.nranks);
    cuda::std::uint64_t seen = 0;
    st = wait_geq(mine, target, v.bound, cuda::memory_order_acquire, &seen);
    if (st != status::success) v.fail(st, -1, b, target, seen, false);
  }
  if (sync_any(g, st != status::success)) return st != status::success ? st : status::aborted;
  return status::success;
}

//! `sym_rounds` whose barrier is the multicast object's (`mc.barrier`).
template <class Group, class Mc, class Body>
WEFT_HOST_DEVICE status mc_rounds(Group& g, Mc const& mc, int b, elem_range r, cuda::std::size_t m, Body&& body) {
  return sym_rounds_with(g, mc.sym(), b, r, m, [&](sym_cursor& c) { return mc.barrier(g, b, c); }, body);
}

} // namespace detail

//! Multicast semantics emulated over a `sym_view`: ld_reduce reads every rank's
//! copy (rank order), st writes every copy. With `counters` (an offset in every
//! region of one 64-bit counter per block, zero at first) the barrier is the
//! counter barrier a switch runs, each addition an atomic add to every copy;
//! without, the view's flag barrier.
struct peer_multicast {
  sym_view v;
  cuda::std::size_t counters = 0;

  WEFT_HOST_DEVICE sym_view const& sym() const noexcept { return v; }
  template <class Op>
  WEFT_HOST_DEVICE status supports(Op const&) const noexcept {
    return status::success;
  }
  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce(Group& g, Op const& op, int b, int par, int which, cuda::std::size_t off,
                                  cuda::std::size_t count, typename Op::value_type* dst, bool post) const {
    using T = typename Op::value_type;
    v.reduce(g, op, v.nranks, [&](int q) { return v.template area<T>(q, b, par, which) + off; }, dst, count, post);
  }
  template <class Group, class T>
  WEFT_HOST_DEVICE void st(Group& g, T const* src, int b, int par, int which, cuda::std::size_t off,
                           cuda::std::size_t count) const {
    for (int k = 0; k < v.nranks; ++k) {
      T* dst = v.template area<T>(mod(v.rank + k, v.nranks), b, par, which) + off;
      if (dst != src) v.copy(g, src, dst, count);
    }
    g.sync();
  }
  template <class Group, class Op>
  WEFT_HOST_DEVICE void ld_reduce_st(Group& g, Op const& op, int b, int par, int from, int to, cuda::std::size_t off,
                                     cuda::std::size_t count) const {
    detail::ld_reduce_then_st(*this, g, op, b, par, from, to, off, count);
  }
  //! Rank q's copy of block b's barrier counter (with counters).
  WEFT_HOST_DEVICE cuda::std::uint64_t* counter(int q, int b) const noexcept {
    return reinterpret_cast<cuda::std::uint64_t*>(v.bufs[q] + counters) + b;
  }
  template <class Group>
  WEFT_HOST_DEVICE status barrier(Group& g, int b, sym_cursor& c) const {
    if (!counters) return v.barrier(g, b, ++c.epoch);
    return detail::counter_barrier(g, v, counter(v.rank, b), b, c, [&] {
      for (int k = 0; k < v.nranks; ++k)
        signal_add(counter(mod(v.rank + k, v.nranks), b), cuda::std::uint64_t(1));
    });
  }
};

//! NVLS all-reduce of [r.lo, r.hi) on block `b`: stage, barrier, each rank
//! ld_reduce + st's its slice (the switch reduces and fans out), barrier, copy out.
template <class Group, class Mc, class Op>
WEFT_HOST_DEVICE status nvls_all_reduce(Group& g, Mc const& mc, int b, Op const& op, typename Op::value_type const* in,
                                        typename Op::value_type* out, elem_range r) {
  using T = typename Op::value_type;
  WEFT_TRY(mc.supports(op));
  auto const& s = mc.sym();
  cuda::std::size_t const m = s.template area_elems<T>();
  if (m == 0) return status::invalid_argument;
  return detail::mc_rounds(g, mc, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    s.copy(g, in + rd.base, s.template area<T>(s.rank, b, rd.par, 0), rd.len);
    WEFT_TRY(barrier());
    elem_range const mine = partition(rd.len, s.nranks, s.rank);
    mc.ld_reduce_st(g, op, b, rd.par, 0, 1, mine.lo, mine.size());
    WEFT_TRY(barrier());
    s.copy(g, static_cast<T const*>(s.template area<T>(s.rank, b, rd.par, 1)), out + rd.base, rd.len);
    g.sync();
    return status::success;
  });
}

//! NVLS all-gather of [r.lo, r.hi) of every rank's `count` elements: each rank
//! multicasts its piece into every copy, barrier, every rank copies its own copy out.
template <class Group, class Mc, class T>
WEFT_HOST_DEVICE status nvls_all_gather(Group& g, Mc const& mc, int b, T const* in, T* out, cuda::std::size_t count,
                                        elem_range r) {
  auto const& s = mc.sym();
  cuda::std::size_t const m = direct_piece_elems<T>(s);
  if (m == 0) return status::unsupported;
  return detail::mc_rounds(g, mc, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    mc.st(g, in + rd.base, b, rd.par, 0, cuda::std::size_t(s.rank) * m, rd.len);
    WEFT_TRY(barrier());
    for (int q = 0; q < s.nranks; ++q)
      s.copy(g, static_cast<T const*>(s.template area<T>(s.rank, b, rd.par, 0) + cuda::std::size_t(q) * m),
                      out + cuda::std::size_t(q) * count + rd.base, rd.len);
    g.sync();
    return status::success;
  });
}

//! NVLS reduce-scatter: stage all blocks, barrier, ld_reduce block `me` of every copy into `out`.
template <class Group, class Mc, class Op>
WEFT_HOST_DEVICE status nvls_reduce_scatter(Group& g, Mc const& mc, int b, Op const& op,
                                            typename Op::value_type const* in, typename Op::value_type* out,
                                            cuda::std::size_t count, elem_range r) {
  using T = typename Op::value_type;
  WEFT_TRY(mc.supports(op));
  auto const& s = mc.sym();
  cuda::std::size_t const m = direct_piece_elems<T>(s);
  if (m == 0) return status::unsupported;
  return detail::mc_rounds(g, mc, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    detail::stage_blocks(g, s, b, rd.par, in, count, rd.base, rd.len, m);
    WEFT_TRY(barrier());
    mc.ld_reduce(g, op, b, rd.par, 0, cuda::std::size_t(s.rank) * m, rd.len, out + rd.base, true);
    return status::success;
  });
}

// ---- zero-copy NVLS over the call's own multicast buffer (see the file comment) ----

//! Whether the switch reduces `Op` itself (multimem.ld_reduce .add): a plain sum
//! of fp32, bf16 or fp16. Other reductions need the staged path's peer fallback.
template <class Op>
inline constexpr bool nvls_switch_reduces =
    cuda::std::is_same_v<Op, op::sum<float>> || cuda::std::is_same_v<Op, op::sum<bfloat16_t>> ||
    cuda::std::is_same_v<Op, op::sum<half_t>>;

//! Bytes of one multicast access: a zero-copy call moves whole 16-byte vectors.
inline constexpr cuda::std::size_t nvls_vector_bytes = 16;

//! Whether `p` is 16-byte aligned (a multicast vector's alignment).
WEFT_HOST_DEVICE bool nvls_vector_aligned(void const* p) noexcept {
  return reinterpret_cast<cuda::std::uintptr_t>(p) % nvls_vector_bytes == 0;
}

//! Whether a call whose per-rank piece is `bytes` long can run zero-copy on
//! `buffer`, its multicast buffer (recv for all-reduce and all-gather, send for
//! reduce-scatter), once that is found in multicast symmetric memory: a nonzero
//! multiple of 16 bytes, `buffer` 16-byte aligned, and (all-reduce,
//! reduce-scatter) a reduction the switch runs. Only what every rank shares
//! decides: the count, the type, the operator and the place of the multicast
//! buffer (symmetric memory sits at the same offset, with the same alignment,
//! on every rank). The rank's own buffers (an all-reduce's plain send, an
//! all-gather's send, a reduce-scatter's recv) may have any alignment: the
//! algorithms below handle them.
template <coll_kind Coll, class Op>
WEFT_HOST_DEVICE constexpr bool nvls_zero_copy_fits(cuda::std::size_t bytes, void const* buffer) noexcept {
  if constexpr (Coll != coll_kind::all_gather)
    if (!nvls_switch_reduces<Op>) return false;
  return bytes != 0 && bytes % nvls_vector_bytes == 0 && nvls_vector_aligned(buffer);
}

namespace detail {

//! Run `body(barrier)` once on block b, `barrier()` being the multicast object's
//! next barrier; the block's cursor is loaded first and stored back after.
template <class Group, class Mc, class Body>
WEFT_HOST_DEVICE status mc_once(Group& g, Mc const& mc, int b, Body&& body) {
  sym_cursor c = load_cursor(mc.sym(), b);
  auto barrier = [&] { return mc.barrier(g, b, c); };
  WEFT_TRY(body(barrier));
  store_cursor(g, mc.sym(), b, c);
  return status::success;
}

} // namespace detail

//! Zero-copy NVLS all-reduce of [r.lo, r.hi) on block b. `to` is the multicast
//! buffer over every rank's `recv`; `from` the one the sums are read from:
//! `to` itself in place, or when `send` is not 16-byte aligned multicast memory
//! (then `send`, of any alignment, is first copied into `recv`, `copy_in`),
//! else the multicast buffer over every rank's `send` (no copy at all).
//! Barrier (every copy holds its input); each rank reduces its slice
//! (`partition` of the range over the ranks) across every copy of `from` and
//! stores the result into every copy of `to`; barrier (every result is in
//! place). An empty range crosses no barrier (every rank
//! computes the same ranges). Slices start on multiples of 16 elements, so when
//! the range is whole 16-byte vectors so is every slice; the algorithm itself
//! is exact for any count.
template <class Group, class Mc, class Mb, class Op>
WEFT_HOST_DEVICE status nvls_zero_copy_all_reduce(Group& g, Mc const& mc, Mb const& from, Mb const& to, bool copy_in,
                                                  int b, Op const& op, typename Op::value_type const* send,
                                                  typename Op::value_type* recv, elem_range r) {
  if (r.size() == 0) return status::success;
  auto const& s = mc.sym();
  return detail::mc_once(g, mc, b, [&](auto& barrier) {
    if (copy_in && send != recv) s.copy(g, send + r.lo, recv + r.lo, r.size());
    WEFT_TRY(barrier());
    elem_range const mine = partition(r.size(), s.nranks, s.rank);
    from.ld_reduce_st(g, op, r.lo + mine.lo, mine.size(), to);
    return barrier();
  });
}

//! Zero-copy NVLS all-gather of [r.lo, r.hi) of every rank's `count` elements;
//! `mb` is the multicast buffer over every rank's `recv` (nranks x count).
//! Barrier (no rank still uses its recv); this rank stores its range of `send`
//! into piece `rank` of every copy; barrier. A `send` that is not 16-byte
//! aligned (the piece in `recv` is) is first copied into this rank's own piece
//! and multicast from there: the same bytes land in its own copy twice.
template <class Group, class Mc, class Mb, class T>
WEFT_HOST_DEVICE status nvls_zero_copy_all_gather(Group& g, Mc const& mc, Mb const& mb, int b, T const* send, T* recv,
                                                  cuda::std::size_t count, elem_range r) {
  if (r.size() == 0) return status::success;
  auto const& s = mc.sym();
  cuda::std::size_t const piece = cuda::std::size_t(s.rank) * count + r.lo;
  return detail::mc_once(g, mc, b, [&](auto& barrier) {
    WEFT_TRY(barrier());
    T const* src = send + r.lo;
    if (!nvls_vector_aligned(src) && src != recv + piece) {
      s.copy(g, src, recv + piece, r.size());
      g.sync();
      src = recv + piece;
    }
    mb.st(g, src, piece, r.size());
    return barrier();
  });
}

//! Zero-copy NVLS reduce-scatter of [r.lo, r.hi) of each rank's block; `mb` is
//! the multicast buffer over every rank's `send` (nranks x count). Barrier
//! (every send is ready); this rank reduces its block of every copy into
//! `recv` (of any alignment); barrier (no send is reused before every rank has
//! read it).
template <class Group, class Mc, class Mb, class Op>
WEFT_HOST_DEVICE status nvls_zero_copy_reduce_scatter(Group& g, Mc const& mc, Mb const& mb, int b, Op const& op,
                                                      typename Op::value_type* recv, cuda::std::size_t count,
                                                      elem_range r) {
  if (r.size() == 0) return status::success;
  auto const& s = mc.sym();
  return detail::mc_once(g, mc, b, [&](auto& barrier) {
    WEFT_TRY(barrier());
    mb.ld_reduce(g, op, cuda::std::size_t(s.rank) * count + r.lo, r.size(), recv + r.lo);
    return barrier();
  });
}

} // namespace weft
