#pragma once
//! \file
//! The all-reduce of the deterministic mode: every element is reduced in rank
//! order, ((x0 (+) x1) (+) x2) ... (+) x(n-1), whatever the message size,
//! channel count, protocol or step size, so every rank gets the same bits and
//! every run gives them again.
//!
//! It is a pipelined chain along the ring's connections: chunk j starts at
//! rank 0, each rank adds its input and passes the partial on, rank n - 1
//! finishes the reduction (post applies there) and sends the result to rank 0,
//! from where it travels 0 -> 1 -> ... -> n - 2 as a copy. Rank i works on the
//! reduction of chunk j and then on the broadcast of chunk j - n, which is
//! exactly when that chunk reaches it: the schedule is systolic, each link
//! carries at most two chunks per step time, and it needs no scratch.
//!
//! Cost (S bytes, link bandwidth B, hop latency a, K chunks): about
//! (K + 2n) step times, 2 S / B per rank against the ring's 2 (n-1)/n S / B;
//! latency 2 n a against the ring's 2 (n-1) a. The order of the reduction, not
//! the data movement, is what the mode pays for: the order is a chain, so no
//! tree or recursive-halving latency saving is possible.

#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/std/cstddef>

namespace weft {

//! Rank-order all-reduce of [r.lo, r.hi) over the ring's prims (recv from rank - 1, send to rank + 1).
template <class Prims, class T>
WEFT_HOST_DEVICE status rank_order_all_reduce(Prims& p, ring_position pos, T const* in, T* out, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  if (n == 1) return p.reduce_local(in + r.lo, out + r.lo, r.size(), true);
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  cuda::std::size_t const chunks = div_up(r.size(), step);
  auto off = [&](cuda::std::size_t j) { return r.lo + j * step; };
  auto len = [&](cuda::std::size_t j) { return r.hi - off(j) < step ? r.hi - off(j) : step; };
  cuda::std::size_t const lag = cuda::std::size_t(n);
  for (cuda::std::size_t j = 0; j < chunks + lag; ++j) {
    if (j < chunks) { // reduction of chunk j: rank order 0, 1, ..., n-1
      cuda::std::size_t const o = off(j), l = len(j);
      if (me == 0) WEFT_TRY(p.send(in + o, l));
      else if (me < n - 1) WEFT_TRY(p.recv_reduce_send(in + o, l));
      else WEFT_TRY(p.recv_reduce_copy_send(in + o, out + o, l, true));
    }
    if (j >= lag && me < n - 1) { // broadcast of chunk j - n: n-1 -> 0 -> 1 -> ... -> n-2
      cuda::std::size_t const o = off(j - lag), l = len(j - lag);
      if (me == n - 2) WEFT_TRY(p.recv(out + o, l));
      else WEFT_TRY(p.recv_copy_send(out + o, l));
    }
  }
  return status::success;
}

} // namespace weft
