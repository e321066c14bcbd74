#pragma once
//! \file
//! Recursive doubling and recursive halving-doubling (Rabenseifner) all-reduce,
//! written over prims like the ring family.
//!
//! Non-power-of-two rank counts fold first (MPICH's scheme): with p the largest
//! power of two <= n and rem = n - p, each even rank below 2*rem hands its data
//! to the odd rank above it and sits out; the p remaining ranks run the
//! power-of-two algorithm; the odd ranks hand the result back.
//!
//! Partners change from step to step, so the algorithms take a `Net`: an object
//! that runs a function with prims connected to given peers:
//!   net.with_peer(q, f)         f(prims&) with recv from q and send to q
//!   net.local(f)                f(prims&) with no peers (local reduce_copy)
//! Every exchange sends a step then receives one, so both partners always have a
//! free slot and no exchange deadlocks.

#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/std/cstddef>

namespace weft {

//! Where a rank sits after folding a non-power-of-two rank count.
struct fold_layout {
  int p = 1;        //!< largest power of two <= n
  int rem = 0;      //!< n - p
  int newrank = 0;  //!< rank among the p, or -1 for a rank that sits out
  WEFT_HOST_DEVICE static fold_layout of(int rank, int n) noexcept {
    fold_layout l;
    while (l.p * 2 <= n) l.p *= 2;
    l.rem = n - l.p;
    if (rank < 2 * l.rem) l.newrank = (rank % 2 == 1) ? rank / 2 : -1;
    else l.newrank = rank - l.rem;
    return l;
  }
  //! Real rank of rank `nr` among the p.
  WEFT_HOST_DEVICE int real(int nr) const noexcept { return nr < rem ? 2 * nr + 1 : nr + rem; }
};

namespace detail {

// Send [sp, sp+sn) and receive-reduce into [rp, rp+rn), step by step, interleaved.
template <class Prims, class T>
WEFT_HOST_DEVICE status exchange_reduce(Prims& p, T const* sp, cuda::std::size_t sn, T* rp, cuda::std::size_t rn) {
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t o = 0; o < sn || o < rn; o += step) {
    if (o < sn) WEFT_TRY(p.send(sp + o, sn - o < step ? sn - o : step, false));
    if (o < rn) WEFT_TRY(p.recv_reduce_copy(rp + o, rp + o, rn - o < step ? rn - o : step, false, false));
  }
  return status::success;
}

// Send [sp, sp+sn) and receive into [rp, rp+rn), step by step, interleaved.
template <class Prims, class T>
WEFT_HOST_DEVICE status exchange_copy(Prims& p, T const* sp, cuda::std::size_t sn, T* rp, cuda::std::size_t rn) {
  cuda::std::size_t const step = p.step_elems();
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (cuda::std::size_t o = 0; o < sn || o < rn; o += step) {
    if (o < sn) WEFT_TRY(p.send(sp + o, sn - o < step ? sn - o : step, false));
    if (o < rn) WEFT_TRY(p.recv(rp + o, rn - o < step ? rn - o : step));
  }
  return status::success;
}

// Fold in: even ranks below 2*rem give their data to the odd rank above them.
template <class Net, class T>
WEFT_HOST_DEVICE status fold_in(Net& net, int me, fold_layout const& l, T* out, elem_range r) {
  if (me >= 2 * l.rem) return status::success;
  if (l.newrank < 0)
    return net.with_peer(me + 1, [&](auto& p) { return exchange_reduce(p, out + r.lo, r.size(), out, 0); });
  return net.with_peer(me - 1, [&](auto& p) { return exchange_reduce(p, out, 0, out + r.lo, r.size()); });
}

// Fold out: the odd ranks hand the result back.
template <class Net, class T>
WEFT_HOST_DEVICE status fold_out(Net& net, int me, fold_layout const& l, T* out, elem_range r) {
  if (me >= 2 * l.rem) return status::success;
  if (l.newrank < 0) return net.with_peer(me + 1, [&](auto& p) { return exchange_copy(p, out, 0, out + r.lo, r.size()); });
  return net.with_peer(me - 1, [&](auto& p) { return exchange_copy(p, out + r.lo, r.size(), out, 0); });
}

} // namespace detail

//! Recursive doubling all-reduce of [r.lo, r.hi): log2(p) exchanges of the whole range.
template <class Net, class T>
WEFT_HOST_DEVICE status recursive_doubling_all_reduce(Net& net, ring_position pos, T const* in, T* out, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  // out = pre(in): from here on every rank combines partial results (no pre).
  WEFT_TRY(net.local([&](auto& p) { return p.reduce_local(in + r.lo, out + r.lo, r.size(), n == 1, true); }));
  if (n == 1) return status::success;
  fold_layout const l = fold_layout::of(me, n);
  WEFT_TRY(detail::fold_in(net, me, l, out, r));
  if (l.newrank >= 0)
    for (int mask = 1; mask < l.p; mask <<= 1)
      WEFT_TRY(net.with_peer(l.real(l.newrank ^ mask), [&](auto& p) {
        return detail::exchange_reduce(p, out + r.lo, r.size(), out + r.lo, r.size());
      }));
  WEFT_TRY(detail::fold_out(net, me, l, out, r));
  return net.local([&](auto& p) { return p.reduce_local(out + r.lo, out + r.lo, r.size(), true, false); });
}

//! Rabenseifner all-reduce of [r.lo, r.hi): recursive halving reduce-scatter, then
//! recursive doubling all-gather (bandwidth-optimal like the ring, log2(p) steps).
template <class Net, class T>
WEFT_HOST_DEVICE status rabenseifner_all_reduce(Net& net, ring_position pos, T const* in, T* out, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  WEFT_TRY(net.local([&](auto& p) { return p.reduce_local(in + r.lo, out + r.lo, r.size(), n == 1, true); }));
  if (n == 1) return status::success;
  fold_layout const l = fold_layout::of(me, n);
  WEFT_TRY(detail::fold_in(net, me, l, out, r));
  if (l.newrank >= 0) {
    constexpr int max_levels = 32;
    elem_range keep_at[max_levels], give_at[max_levels];
    int partner_at[max_levels];
    int levels = 0;
    elem_range w = r;
    for (int mask = l.p / 2; mask >= 1; mask /= 2, ++levels) {
      cuda::std::size_t mid = w.lo + align_up(div_up(w.size(), 2), partition_align);
      if (mid > w.hi) mid = w.hi;
      elem_range const lower{w.lo, mid}, upper{mid, w.hi};
      bool const low = (l.newrank & mask) == 0;
      keep_at[levels] = low ? lower : upper;
      give_at[levels] = low ? upper : lower;
      partner_at[levels] = l.real(l.newrank ^ mask);
      elem_range const keep = keep_at[levels], give = give_at[levels];
      WEFT_TRY(net.with_peer(partner_at[levels], [&](auto& p) {
        return detail::exchange_reduce(p, out + give.lo, give.size(), out + keep.lo, keep.size());
      }));
      w = keep;
    }
    for (int k = levels - 1; k >= 0; --k) {
      elem_range const keep = keep_at[k], give = give_at[k];
      WEFT_TRY(net.with_peer(partner_at[k], [&](auto& p) {
        return detail::exchange_copy(p, out + keep.lo, keep.size(), out + give.lo, give.size());
      }));
    }
  }
  WEFT_TRY(detail::fold_out(net, me, l, out, r));
  return net.local([&](auto& p) { return p.reduce_local(out + r.lo, out + r.lo, r.size(), true, false); });
}

} // namespace weft
