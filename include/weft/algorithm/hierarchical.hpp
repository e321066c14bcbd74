#pragma once
//! \file
//! Hierarchical all-reduce, all-gather and reduce-scatter: the ranks split into
//! levels (an inner team of consecutive ranks -- an NVLink domain --, a middle
//! team, an outer team of the same local index across domains), and each level
//! runs an algorithm of its own over the same Net (see recursive.hpp).
//!
//! Rank r has one digit per level: with level sizes g0 (inner), g1, g2 and
//! strides s0 = 1, s1 = g0, s2 = g0 g1, digit l is (r / s_l) mod g_l, and the
//! level-l team of r is the ranks that differ from r only in digit l. A team
//! is a sub-Net (`sub_net`) whose positions 0..g_l-1 map to global ranks, so
//! every Net algorithm (ring, tree, recursive doubling, Rabenseifner) runs on
//! it unchanged.
//!
//! - All-reduce: ring reduce-scatter in each inner level (the shard shrinks by
//!   g_l each time), the outermost level's all-reduce (any algorithm) on the
//!   last shard, then ring all-gathers back out. Only 1 / (g0 g1) of the data
//!   crosses the outer links.
//! - All-gather: outermost level first (each rank's own piece), then inward;
//!   at level l a rank forwards every piece it holds whose inner digits match
//!   its own, so each piece crosses a slow link once.
//! - Reduce-scatter: the mirror image, inner level first; partial sums live in
//!   a scratch buffer laid out like the input (nranks x count elements).

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/algorithm/tree.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <weft/proto/protocol.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/type_traits>

namespace weft {

// hier_layout (team sizes and algorithms of each level) is in algorithm/algorithm.hpp.

//! The levels of a layout on `nranks` ranks.
struct hier_shape {
  static constexpr int max_levels = 3;
  int levels = 1;
  int size[max_levels] = {1, 1, 1};
  int stride[max_levels] = {1, 1, 1};

  //! False (and `why` set) when the layout does not fit `nranks`.
  WEFT_HOST_DEVICE static bool of(hier_layout const& l, int nranks, hier_shape& s, char const** why = nullptr) noexcept {
    auto no = [&](char const* m) {
      if (why) *why = m;
      return false;
    };
    if (nranks < 1) return no("no ranks");
    if (l.inner < 1 || l.middle < 1) return no("hierarchical layout needs inner >= 1 and middle >= 1");
    if (nranks % l.inner != 0) return no("rank count is not a multiple of the inner team size");
    if ((nranks / l.inner) % l.middle != 0) return no("rank count is not a multiple of inner * middle team sizes");
    if (l.outer != algorithm::ring && l.outer != algorithm::tree && l.outer != algorithm::recursive_doubling &&
        l.outer != algorithm::rabenseifner)
      return no("outer algorithm must be ring, tree, recursive_doubling or rabenseifner");
    s = hier_shape{};
    s.levels = l.middle > 1 ? 3 : 2;
    s.size[0] = l.inner;
    s.size[1] = l.middle > 1 ? l.middle : nranks / l.inner;
    s.size[2] = l.middle > 1 ? nranks / (l.inner * l.middle) : 1;
    s.stride[1] = s.size[0];
    s.stride[2] = s.size[0] * s.size[1];
    return true;
  }
  //! Digit `l` of `rank` (its position in its level-l team).
  WEFT_HOST_DEVICE int index(int rank, int l) const noexcept { return (rank / stride[l]) % size[l]; }
  //! Global rank of position `k` of `rank`'s level-l team.
  WEFT_HOST_DEVICE int member(int rank, int l, int k) const noexcept { return rank + (k - index(rank, l)) * stride[l]; }
  //! Ranks whose digits above level l vary: stride of level l + 1 (pieces per block at level l is nranks / that).
  WEFT_HOST_DEVICE int above(int l) const noexcept { return l + 1 < levels ? stride[l + 1] : stride[l] * size[l]; }
};

//! A Net over one level's team: positions 0..size-1 map to global ranks.
template <class Net>
struct sub_net {
  Net& net;
  hier_shape const& shape;
  int rank;  //!< global rank
  int level;
  WEFT_HOST_DEVICE int global(int k) const noexcept { return k < 0 ? -1 : shape.member(rank, level, k); }
  WEFT_HOST_DEVICE ring_position position() const noexcept { return {shape.index(rank, level), shape.size[level]}; }
  template <class F>
  WEFT_HOST_DEVICE status with_peers(int recv_peer, int send_peer, F&& f) {
    return net.with_peers(global(recv_peer), global(send_peer), static_cast<F&&>(f));
  }
  template <class F>
  WEFT_HOST_DEVICE status with_peer(int peer, F&& f) {
    return with_peers(peer, peer, static_cast<F&&>(f));
  }
  template <class F>
  WEFT_HOST_DEVICE status local(F&& f) {
    return net.local(static_cast<F&&>(f));
  }
};

//! Prims for one stage of a composed reduction: when `partial`, the data is
//! already a partial result and pre never applies again; when `last` is false,
//! a later stage finishes the reduction and post never applies here.
template <class Prims>
struct partial_prims {
  Prims& p;
  bool partial = true;
  bool last = true;
  using value_type = typename Prims::value_type;
  using T = value_type;
  static constexpr protocol proto = Prims::proto;
  WEFT_HOST_DEVICE cuda::std::size_t step_elems() const noexcept { return p.step_elems(); }
  WEFT_HOST_DEVICE status send(T const* s, cuda::std::size_t n, bool pre = true) { return p.send(s, n, pre && !partial); }
  WEFT_HOST_DEVICE status recv(T* d, cuda::std::size_t n) { return p.recv(d, n); }
  WEFT_HOST_DEVICE status recv_reduce_send(T const* s, cuda::std::size_t n, bool pre = true) {
    return p.recv_reduce_send(s, n, pre && !partial);
  }
  WEFT_HOST_DEVICE status recv_reduce_copy(T const* s, T* d, cuda::std::size_t n, bool post, bool pre = true) {
    return p.recv_reduce_copy(s, d, n, post && last, pre && !partial);
  }
  WEFT_HOST_DEVICE status recv_copy_send(T* d, cuda::std::size_t n) { return p.recv_copy_send(d, n); }
  WEFT_HOST_DEVICE status recv_reduce_copy_send(T const* s, T* d, cuda::std::size_t n, bool post, bool pre = true) {
    return p.recv_reduce_copy_send(s, d, n, post && last, pre && !partial);
  }
  WEFT_HOST_DEVICE status reduce_local(T const* s, T* d, cuda::std::size_t n, bool post, bool pre = true) {
    return p.reduce_local(s, d, n, post && last, pre && !partial);
  }
};

//! A Net whose prims are `partial_prims` when `partial` is set or `last` is not.
template <class Net>
struct partial_net {
  Net& net;
  bool partial;
  bool last = true;
  template <class F>
  WEFT_HOST_DEVICE status with_peers(int recv_peer, int send_peer, F&& f) {
    return net.with_peers(recv_peer, send_peer, [&](auto& p) {
      if (!partial && last) return f(p);
      partial_prims<cuda::std::remove_reference_t<decltype(p)>> q{p, partial, last};
      return f(q);
    });
  }
  template <class F>
  WEFT_HOST_DEVICE status with_peer(int peer, F&& f) {
    return with_peers(peer, peer, static_cast<F&&>(f));
  }
  template <class F>
  WEFT_HOST_DEVICE status local(F&& f) {
    return with_peers(-1, -1, static_cast<F&&>(f));
  }
};

namespace detail {

// Calls body(at, len) for every step of every piece j < npieces of a team's blocks:
// at(c) is where position c's part of the step starts, len(c) its length (0 where
// c's piece is shorter), so both ends of a connection cut the same way.
template <class Piece, class Body>
WEFT_HOST_DEVICE status for_each_piece_step(int n, int npieces, Piece const& piece, cuda::std::size_t step, Body&& body) {
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  for (int j = 0; j < npieces; ++j) {
    cuda::std::size_t longest = 0;
    for (int c = 0; c < n; ++c) longest = piece(c, j).size() > longest ? piece(c, j).size() : longest;
    for (cuda::std::size_t base = 0; base < longest; base += step) {
      auto at = [&](int c) { return piece(c, j).lo + base; };
      auto len = [&](int c) -> cuda::std::size_t {
        elem_range const b = piece(c, j);
        return b.size() > base ? (b.size() - base < step ? b.size() - base : step) : 0;
      };
      WEFT_TRY(body(at, len));
    }
  }
  return status::success;
}

// Ring reduce-scatter over a team: position c's block is the pieces
// piece(c, j), j < npieces (absolute element ranges). Own data is read at
// src + range (pre when `pre`); position me's reduced block lands at dst + range
// - dst_shift (post when `post`).
template <class Prims, class T, class Piece>
WEFT_HOST_DEVICE status ring_reduce_scatter_pieces(Prims& p, ring_position pos, T const* src, T* dst, int npieces,
                                                   Piece const& piece, bool pre, bool post,
                                                   cuda::std::size_t dst_shift = 0) {
  int const n = pos.nranks, me = pos.rank;
  return for_each_piece_step(n, npieces, piece, p.step_elems(), [&](auto const& at, auto const& len) {
    int c = mod(me - 1, n);
    WEFT_TRY(p.send(src + at(c), len(c), pre));
    for (int k = 2; k < n; ++k) {
      c = mod(me - k, n);
      WEFT_TRY(p.recv_reduce_send(src + at(c), len(c), pre));
    }
    return p.recv_reduce_copy(src + at(me), dst + (at(me) - dst_shift), len(me), post, pre);
  });
}

// Ring all-gather over a team, in place in `buf`: position me's pieces are there already.
template <class Prims, class T, class Piece>
WEFT_HOST_DEVICE status ring_all_gather_pieces(Prims& p, ring_position pos, T* buf, int npieces, Piece const& piece) {
  int const n = pos.nranks, me = pos.rank;
  return for_each_piece_step(n, npieces, piece, p.step_elems(), [&](auto const& at, auto const& len) {
    WEFT_TRY(p.send(buf + at(me), len(me), false));
    for (int k = 1; k < n - 1; ++k) {
      int const c = mod(me - k, n);
      WEFT_TRY(p.recv_copy_send(buf + at(c), len(c)));
    }
    int const c = mod(me + 1, n);
    return p.recv(buf + at(c), len(c));
  });
}

// The ring of a team: receive from position - 1, send to position + 1.
template <class Net, class F>
WEFT_HOST_DEVICE status on_team_ring(sub_net<Net>& team, F&& f) {
  ring_position const pos = team.position();
  return team.with_peers(mod(pos.rank - 1, pos.nranks), mod(pos.rank + 1, pos.nranks),
                         [&](auto& p) { return f(p, pos); });
}

// All-reduce of [r.lo, r.hi) of `in` into `out` on a team with algorithm `a`;
// `partial`: the data is a partial result already (pre applied); `last`: this
// stage finishes the reduction (post applies).
template <class Net, class T>
WEFT_HOST_DEVICE status team_all_reduce(sub_net<Net>& team, algorithm a, T const* in, T* out, elem_range r,
                                        bool partial, bool last = true) {
  partial_net<sub_net<Net>> pn{team, partial, last};
  ring_position const pos = team.position();
  switch (a) {
    case algorithm::tree: return tree_all_reduce(pn, pos, in, out, r);
    case algorithm::recursive_doubling: return recursive_doubling_all_reduce(pn, pos, in, out, r);
    case algorithm::rabenseifner: return rabenseifner_all_reduce(pn, pos, in, out, r);
    default: break;
  }
  if (pos.nranks == 1) return pn.local([&](auto& p) { return p.reduce_local(in + r.lo, out + r.lo, r.size(), true); });
  return pn.with_peers(mod(pos.rank - 1, pos.nranks), mod(pos.rank + 1, pos.nranks),
                       [&](auto& p) { return ring_all_reduce(p, pos, in, out, r); });
}

} // namespace detail

//! Hierarchical all-reduce of [r.lo, r.hi) (see the file comment); `shape` from `hier_shape::of`.
template <class Net, class T>
WEFT_HOST_DEVICE status hier_all_reduce(Net& net, hier_shape const& shape, algorithm outer, int rank, T const* in,
                                        T* out, elem_range r, algorithm within = algorithm::ring) {
  int const top = shape.levels - 1;
  if (within == algorithm::tree || within == algorithm::recursive_doubling || within == algorithm::rabenseifner) {
    // Each inner level all-reduces the whole range, the outermost level last (post there only).
    T const* src = in;
    bool partial = false;
    for (int l = 0; l < top; ++l) {
      sub_net<Net> team{net, shape, rank, l};
      if (team.position().nranks == 1) continue;
      WEFT_TRY(detail::team_all_reduce(team, within, src, out, r, partial, /*last=*/false));
      src = out;
      partial = true;
    }
    sub_net<Net> outer_team{net, shape, rank, top};
    return detail::team_all_reduce(outer_team, outer, src, out, r, partial);
  }
  elem_range shard[hier_shape::max_levels];
  elem_range cur = r;
  T const* src = in;
  bool partial = false;
  for (int l = 0; l < top; ++l) { // reduce-scatter inward-out: the shard shrinks by each level's size
    shard[l] = cur;
    sub_net<Net> team{net, shape, rank, l};
    ring_position const pos = team.position();
    if (pos.nranks == 1) continue;
    elem_range const whole = cur;
    auto block = [&](int c, int) {
      elem_range const b = partition(whole.size(), pos.nranks, c);
      return elem_range{whole.lo + b.lo, whole.lo + b.hi};
    };
    WEFT_TRY(detail::on_team_ring(team, [&](auto& p, ring_position q) {
      return detail::ring_reduce_scatter_pieces(p, q, src, out, 1, block, !partial, false);
    }));
    cur = block(pos.rank, 0);
    src = out;
    partial = true;
  }
  sub_net<Net> outer_team{net, shape, rank, top};
  WEFT_TRY(detail::team_all_reduce(outer_team, outer, src, out, cur, partial));
  for (int l = top - 1; l >= 0; --l) { // all-gather back out
    sub_net<Net> team{net, shape, rank, l};
    ring_position const pos = team.position();
    if (pos.nranks == 1) continue;
    elem_range const whole = shard[l];
    auto block = [&](int c, int) {
      elem_range const b = partition(whole.size(), pos.nranks, c);
      return elem_range{whole.lo + b.lo, whole.lo + b.hi};
    };
    WEFT_TRY(detail::on_team_ring(team, [&](auto& p, ring_position q) {
      return detail::ring_all_gather_pieces(p, q, out, 1, block);
    }));
  }
  return status::success;
}

namespace detail {

// Pieces position c of rank's level-l team owns at that level: the global ranks
// q whose digits below l are rank's, digit l is c, digits above l anything.
// Piece j of them is rank q = (rank mod s_l) + c s_l + j s_(l+1); its elements
// are [q count + r.lo, q count + r.hi).
struct hier_pieces {
  hier_shape const& shape;
  int rank, level;
  cuda::std::size_t count;
  elem_range r;
  WEFT_HOST_DEVICE int npieces() const noexcept { return total() / shape.above(level); }
  WEFT_HOST_DEVICE int total() const noexcept {
    return shape.stride[shape.levels - 1] * shape.size[shape.levels - 1];
  }
  WEFT_HOST_DEVICE elem_range operator()(int c, int j) const noexcept {
    int const s = shape.stride[level];
    int const q = rank % s + c * s + j * shape.above(level);
    cuda::std::size_t const base = cuda::std::size_t(q) * count;
    return {base + r.lo, base + r.hi};
  }
};

} // namespace detail

//! Hierarchical all-gather of [r.lo, r.hi) of every rank's `count` elements into `out`
//! (nranks x count): outermost level first, then inward.
template <class Net, class T>
WEFT_HOST_DEVICE status hier_all_gather(Net& net, hier_shape const& shape, int rank, T const* in, T* out,
                                        cuda::std::size_t count, elem_range r) {
  T* const mine = out + cuda::std::size_t(rank) * count;
  WEFT_TRY(net.local([&](auto& p) { return p.reduce_local(in + r.lo, mine + r.lo, r.size(), false, false); }));
  for (int l = shape.levels - 1; l >= 0; --l) {
    sub_net<Net> team{net, shape, rank, l};
    if (team.position().nranks == 1) continue;
    detail::hier_pieces const pieces{shape, rank, l, count, r};
    WEFT_TRY(detail::on_team_ring(team, [&](auto& p, ring_position q) {
      return detail::ring_all_gather_pieces(p, q, out, pieces.npieces(), pieces);
    }));
  }
  return status::success;
}

//! Hierarchical reduce-scatter: rank r gets the reduction of block r ([r.lo, r.hi) of
//! `count` elements) of every input; `scratch` holds nranks x count partial sums.
template <class Net, class T>
WEFT_HOST_DEVICE status hier_reduce_scatter(Net& net, hier_shape const& shape, int rank, T const* in, T* out,
                                            T* scratch, cuda::std::size_t count, elem_range r) {
  int const top = shape.levels - 1;
  T const* src = in;
  bool partial = false;
  for (int l = 0; l <= top; ++l) {
    sub_net<Net> team{net, shape, rank, l};
    if (team.position().nranks == 1) continue;
    detail::hier_pieces const pieces{shape, rank, l, count, r};
    // Partial sums stay in scratch at the input's layout; the last level writes them home.
    bool last = true;
    for (int m = l + 1; m <= top; ++m) last = last && shape.size[m] == 1;
    T* const dst = last ? out : scratch;
    cuda::std::size_t const shift = last ? cuda::std::size_t(rank) * count : 0;
    WEFT_TRY(detail::on_team_ring(team, [&](auto& p, ring_position q) {
      return detail::ring_reduce_scatter_pieces(p, q, src, dst, pieces.npieces(), pieces, !partial, last, shift);
    }));
    if (last) return status::success;
    src = scratch;
    partial = true;
  }
  // Every level has one rank: a copy.
  return net.local([&](auto& p) {
    return p.reduce_local(in + cuda::std::size_t(rank) * count + r.lo, out + r.lo, r.size(), true);
  });
}

} // namespace weft
