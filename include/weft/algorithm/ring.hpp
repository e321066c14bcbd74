#pragma once
//! \file
//! The ring family, written once over prims: all-reduce (reduce-scatter then
//! all-gather), all-gather (staged and direct), reduce-scatter, and the
//! pipelined chains for broadcast and reduce.
//!
//! Around the plain ring, rank r receives from r-1 and sends to r+1 (mod n)
//! on every channel. A `ring_order` can instead rotate each node's ranks per
//! channel (the rail-rotated ring, see `ring_order`): then a rank's ring
//! position differs from its rank, the functions work in positions and index
//! per-rank blocks (all-gather, reduce-scatter) and the root (broadcast,
//! reduce) by rank. Each function handles one channel's share of the data: the
//! caller passes the channel's element range (see `partition`) and the
//! channel's order, and connects the prims to `order.prev` / `order.next`. A loop iteration moves one step
//! (at most `p.step_elems()` elements) per chunk, so consecutive iterations
//! pipeline through the connection's slots.
//!
//! The functions are templates over the prims type `Prims`, so the same source
//! runs on a GPU, on a CPU-team thread, and (later) as a trace.

#include <weft/algorithm/partition.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/std/cstddef>

namespace weft {

//! The order of the ranks around one channel's ring.
//!
//! The plain ring (the default, `local <= 1`) visits ranks 0, 1, ..., n-1. The
//! rail-rotated ring groups the ranks in nodes of `local` consecutive ranks
//! (n = nodes x local) and rotates every node's ranks by the channel: channel c
//! visits node k's ranks k*local + (s, s+1, ..., s-1) (mod local, s = c mod local),
//! so it enters each node at local index s and leaves it from local index s-1.
//! Channels 0..local-1 thus leave every node from a different rank, and so
//! through a different NIC: together they cross each node boundary on every
//! NIC once in each direction, where the plain ring crosses on one NIC only.
//! With one node (local >= n), local <= 1, or n not a multiple of local, the
//! order is the plain ring.
struct ring_order {
  int local = 1;   //!< ranks per node (consecutive ranks); <= 1: the plain ring
  int channel = 0; //!< the channel whose ring this is

  //! Whether this order differs from the plain ring for `n` ranks.
  WEFT_HOST_DEVICE constexpr bool rotated(int n) const noexcept {
    return local > 1 && local < n && n % local == 0 && channel % local != 0;
  }
  //! The rank at ring position `p` (0 <= p < n).
  WEFT_HOST_DEVICE constexpr int rank_at(int p, int n) const noexcept {
    if (!rotated(n)) return p;
    return p - p % local + (p % local + channel) % local;
  }
  //! The ring position of `rank` (0 <= rank < n).
  WEFT_HOST_DEVICE constexpr int position_of(int rank, int n) const noexcept {
    if (!rotated(n)) return rank;
    return rank - rank % local + mod(rank % local - channel, local);
  }
  //! The rank `rank` receives from on this channel.
  WEFT_HOST_DEVICE constexpr int prev(int rank, int n) const noexcept {
    return rank_at(mod(position_of(rank, n) - 1, n), n);
  }
  //! The rank `rank` sends to on this channel.
  WEFT_HOST_DEVICE constexpr int next(int rank, int n) const noexcept {
    return rank_at(mod(position_of(rank, n) + 1, n), n);
  }
};

//! Why ranks per node `local` cannot lay out a rail-rotated ring of `n` ranks, or
//! null (0 and 1 are the plain ring; so is one node, local >= n).
WEFT_HOST_DEVICE constexpr char const* ring_local_problem(int local, int n) noexcept {
  return local < 0 ? "ring_local must not be negative"
         : local > 1 && local < n && n % local != 0 ? "the rank count is not a multiple of ring_local"
                                                     : nullptr;
}

//! This rank, the ring's size, and the order of the ring it sits in.
struct ring_position {
  int rank = 0;     //!< this rank (not its position: see `at`)
  int nranks = 1;
  ring_order order{};

  //! This rank's position around the ring (== rank on the plain ring).
  WEFT_HOST_DEVICE constexpr int at() const noexcept { return order.position_of(rank, nranks); }
  //! The rank at ring position `p`, taken mod nranks.
  WEFT_HOST_DEVICE constexpr int rank_at(int p) const noexcept { return order.rank_at(mod(p, nranks), nranks); }
};

#define WEFT_TRY(expr)                                                                                                 \
  do {                                                                                                                 \
    ::weft::status weft_try_status_ = (expr);                                                                          \
    if (weft_try_status_ != ::weft::status::success) return weft_try_status_;                                          \
  } while (0)

//! Ring all-reduce of [r.lo, r.hi): every rank ends with the reduction of all inputs.
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_all_reduce(Prims& p, ring_position pos, T const* in, T* out, elem_range r) {
  // Chunks are numbered by ring position: every rank agrees on them, whatever the order.
  int const n = pos.nranks, me = pos.at();
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), true);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += cuda::std::size_t(n) * step) {
    cuda::std::size_t chunk = align_up(div_up(r.hi - base, cuda::std::size_t(n)), partition_align);
    if (chunk > step) chunk = step;
    auto off = [&](int c) { return base + cuda::std::size_t(c) * chunk; };
    auto len = [&](int c) -> cuda::std::size_t {
      cuda::std::size_t const o = off(c);
      return o >= r.hi ? 0 : (r.hi - o < chunk ? r.hi - o : chunk);
    };
    // Reduce-scatter: chunk (me - k) travels one hop per step; chunk `me` completes here (me: a position).
    int c = mod(me - 1, n);
    WEFT_TRY(p.send(in + off(c), len(c)));
    for (int k = 2; k < n; ++k) {
      c = mod(me - k, n);
      WEFT_TRY(p.recv_reduce_send(in + off(c), len(c)));
    }
    c = me;
    WEFT_TRY(p.recv_reduce_copy_send(in + off(c), out + off(c), len(c), true));
    // All-gather: the finished chunks travel around the ring.
    for (int k = 1; k < n - 1; ++k) {
      c = mod(me - k, n);
      WEFT_TRY(p.recv_copy_send(out + off(c), len(c)));
    }
    c = mod(me + 1, n);
    WEFT_TRY(p.recv(out + off(c), len(c)));
  }
  return status::success;
}

//! Ring all-gather of [r.lo, r.hi) of each rank's `count` elements into `out` (n * count).
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_all_gather(Prims& p, ring_position pos, T const* in, T* out, cuda::std::size_t count,
                                        elem_range r) {
  int const n = pos.nranks, me = pos.at();
  auto block = [&](int at) { return out + cuda::std::size_t(pos.rank_at(at)) * count; }; // owner's block
  T* const mine = out + cuda::std::size_t(pos.rank) * count;
  if (n == 1) return p.reduce_local(in + r.lo, mine + r.lo, r.size(), false);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.copy_send(in + base, mine + base, len));
    for (int k = 1; k < n - 1; ++k) WEFT_TRY(p.recv_copy_send(block(me - k) + base, len));
    WEFT_TRY(p.recv(block(me + 1) + base, len));
  }
  return status::success;
}

//! Ring all-gather that writes straight into the next rank's output buffer
//! (direct prims; the send connection's `direct_buf` is the output of this
//! channel's next rank, `pos.order.next`).
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_all_gather_direct(Prims& p, ring_position pos, T const* in, T* out,
                                               cuda::std::size_t count, elem_range r) {
  int const n = pos.nranks, me = pos.at();
  T* const mine = out + cuda::std::size_t(pos.rank) * count;
  if (n == 1) return p.reduce_local(in + r.lo, mine + r.lo, r.size(), false);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.direct_copy_send(in + base, mine + base, cuda::std::size_t(pos.rank) * count + base, len));
    for (int k = 1; k < n - 1; ++k) {
      cuda::std::size_t const o = cuda::std::size_t(pos.rank_at(me - k)) * count + base;
      WEFT_TRY(p.direct_recv_copy_send(out + o, o, len));
    }
    WEFT_TRY(p.direct_recv(len));
  }
  return status::success;
}

//! Ring reduce-scatter: rank me gets the reduction of block `me` (`count` elements) of every input.
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_reduce_scatter(Prims& p, ring_position pos, T const* in, T* out, cuda::std::size_t count,
                                            elem_range r) {
  int const n = pos.nranks, me = pos.at();
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), true);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  auto block = [&](int at) { return in + cuda::std::size_t(pos.rank_at(at)) * count; }; // owner's block
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.send(block(me - 1) + base, len));
    for (int k = 2; k < n; ++k) WEFT_TRY(p.recv_reduce_send(block(me - k) + base, len));
    WEFT_TRY(p.recv_reduce_copy(block(me) + base, out + base, len, true));
  }
  return status::success;
}

//! Pipelined chain broadcast from rank `root` along the ring (root's position, then the next ones).
template <class Prims, class T>
WEFT_HOST_DEVICE status chain_broadcast(Prims& p, ring_position pos, int root, T const* in, T* out, elem_range r) {
  int const n = pos.nranks;
  int const at = mod(pos.at() - pos.order.position_of(root, n), n); // 0 = root, n-1 = end of the chain
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), false);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    if (at == 0) WEFT_TRY(p.copy_send(in + base, out + base, len));
    else if (at == n - 1) WEFT_TRY(p.recv(out + base, len));
    else WEFT_TRY(p.recv_copy_send(out + base, len));
  }
  return status::success;
}

//! Pipelined chain reduce to rank `root` along the ring (from the position after root's, ending at root).
template <class Prims, class T>
WEFT_HOST_DEVICE status chain_reduce(Prims& p, ring_position pos, int root, T const* in, T* out, elem_range r) {
  int const n = pos.nranks;
  int const at = mod(pos.at() - pos.order.position_of(root, n) - 1, n); // 0 = first link, n-1 = root
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), true);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    if (at == 0) WEFT_TRY(p.send(in + base, len));
    else if (at == n - 1) WEFT_TRY(p.recv_reduce_copy(in + base, out + base, len, true));
    else WEFT_TRY(p.recv_reduce_send(in + base, len));
  }
  return status::success;
}

} // namespace weft
