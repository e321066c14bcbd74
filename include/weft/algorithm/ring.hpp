#pragma once
//! \file
//! The ring family, written once over prims: all-reduce (reduce-scatter then
//! all-gather), all-gather (staged and direct), reduce-scatter, and the
//! pipelined chains for broadcast and reduce.
//!
//! Rank r receives from r-1 and sends to r+1 (mod n) on every channel. Each
//! function handles one channel's share of the data: the caller passes the
//! channel's element range (see `partition`). A loop iteration moves one step
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

//! Position and size of this rank in its ring.
struct ring_position {
  int rank = 0;
  int nranks = 1;
};

#define WEFT_TRY(expr)                                                                                                 \
  do {                                                                                                                 \
    ::weft::status weft_try_status_ = (expr);                                                                          \
    if (weft_try_status_ != ::weft::status::success) return weft_try_status_;                                          \
  } while (0)

//! Ring all-reduce of [r.lo, r.hi): every rank ends with the reduction of all inputs.
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_all_reduce(Prims& p, ring_position pos, T const* in, T* out, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
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
    // Reduce-scatter: chunk (me - k) travels one hop per step; chunk `me` completes here.
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
  int const n = pos.nranks, me = pos.rank;
  T* const mine = out + cuda::std::size_t(me) * count;
  if (n == 1) return p.reduce_local(in + r.lo, mine + r.lo, r.size(), false);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.copy_send(in + base, mine + base, len));
    for (int k = 1; k < n - 1; ++k)
      WEFT_TRY(p.recv_copy_send(out + cuda::std::size_t(mod(me - k, n)) * count + base, len));
    WEFT_TRY(p.recv(out + cuda::std::size_t(mod(me + 1, n)) * count + base, len));
  }
  return status::success;
}

//! Ring all-gather that writes straight into the next rank's output buffer
//! (direct prims; the send connection's `direct_buf` is that rank's `out`).
template <class Prims, class T>
WEFT_HOST_DEVICE status ring_all_gather_direct(Prims& p, ring_position pos, T const* in, T* out,
                                               cuda::std::size_t count, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  T* const mine = out + cuda::std::size_t(me) * count;
  if (n == 1) return p.reduce_local(in + r.lo, mine + r.lo, r.size(), false);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.direct_copy_send(in + base, mine + base, cuda::std::size_t(me) * count + base, len));
    for (int k = 1; k < n - 1; ++k) {
      cuda::std::size_t const o = cuda::std::size_t(mod(me - k, n)) * count + base;
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
  int const n = pos.nranks, me = pos.rank;
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), true);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  auto block = [&](int c) { return in + cuda::std::size_t(c) * count; };
  for (cuda::std::size_t base = r.lo; base < r.hi; base += step) {
    cuda::std::size_t const len = r.hi - base < step ? r.hi - base : step;
    WEFT_TRY(p.send(block(mod(me - 1, n)) + base, len));
    for (int k = 2; k < n; ++k) WEFT_TRY(p.recv_reduce_send(block(mod(me - k, n)) + base, len));
    WEFT_TRY(p.recv_reduce_copy(block(me) + base, out + base, len, true));
  }
  return status::success;
}

//! Pipelined chain broadcast from `root` along the ring (root, root+1, ..., root-1).
template <class Prims, class T>
WEFT_HOST_DEVICE status chain_broadcast(Prims& p, ring_position pos, int root, T const* in, T* out, elem_range r) {
  int const n = pos.nranks;
  int const at = mod(pos.rank - root, n); // 0 = root, n-1 = end of the chain
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

//! Pipelined chain reduce to `root` along the ring (root+1, root+2, ..., root).
template <class Prims, class T>
WEFT_HOST_DEVICE status chain_reduce(Prims& p, ring_position pos, int root, T const* in, T* out, elem_range r) {
  int const n = pos.nranks;
  int const at = mod(pos.rank - root - 1, n); // 0 = first link, n-1 = root
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
