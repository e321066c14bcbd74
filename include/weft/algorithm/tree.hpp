#pragma once
//! \file
//! Double binary tree all-reduce, written over a Net (see recursive.hpp).
//!
//! Two binary trees span the ranks; each carries half of the data. In tree A
//! rank r sits at label r + 1 of an in-order binary tree over labels 1..n
//! (a label's children are label -+ lsb/2, so every odd label is a leaf); in
//! tree B the labels are mirrored (n - r) when n is even and shifted
//! (r, with rank 0 at label n) when n is odd. Either way the ranks that are
//! interior in A are leaves in B, so each rank is interior in at most one
//! tree and the two trees together load every rank's links evenly.
//!
//! Each half is cut into chunks of one step. Up: leaves send their chunk to
//! the parent, interior ranks add their children's chunks to their own and
//! pass the sum up, the root finishes the reduction (post applies there).
//! Down: the root sends the result to its children, interior ranks copy it
//! and pass it on. All up chunks of both trees go first, then all down
//! chunks: up-flow only waits on children and down-flow only on parents, so
//! no cycle of waits can form, and consecutive chunks pipeline through the
//! connections' slots. Latency is 2 log2(n) hops instead of the ring's
//! 2 (n - 1); every rank sends about the whole vector once up and once down.

#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/std/cstddef>

namespace weft {

//! One rank's place in a binary tree: parent and up to two children (-1: none).
struct tree_links {
  int parent = -1;
  int child[2] = {-1, -1};
  WEFT_HOST_DEVICE int nchildren() const noexcept { return (child[0] >= 0) + (child[1] >= 0); }
};

namespace detail {

WEFT_HOST_DEVICE constexpr int lowest_bit(int v) noexcept { return v & -v; }

// Links of label v in the in-order binary tree over labels 1..n (labels, not ranks).
WEFT_HOST_DEVICE tree_links inorder_tree(int v, int n) noexcept {
  tree_links t;
  int const b = lowest_bit(v);
  // Parent: v is the left child of v + b when v / b = 1 mod 4 and v + b exists;
  // otherwise it hangs under v - b (as right child, or at the end of a right chain).
  if ((v / b) % 4 == 1 && v + b <= n) t.parent = v + b;
  else if (v - b >= 1) t.parent = v - b;
  if (b > 1) {
    t.child[0] = v - b / 2;
    for (int s = b / 2; s >= 1; s /= 2)
      if (v + s <= n) {
        t.child[1] = v + s;
        break;
      }
  }
  return t;
}

} // namespace detail

//! Rank `rank`'s links in tree `which` (0: A, 1: B) of the double binary tree over `n` ranks.
WEFT_HOST_DEVICE tree_links double_tree_links(int rank, int n, int which) noexcept {
  // rank -> label and back.
  auto label = [&](int r) {
    if (which == 0) return r + 1;
    return n % 2 == 0 ? n - r : (r == 0 ? n : r);
  };
  auto rank_of = [&](int l) {
    if (l < 0) return -1;
    if (which == 0) return l - 1;
    return n % 2 == 0 ? n - l : (l == n ? 0 : l);
  };
  tree_links const t = detail::inorder_tree(label(rank), n);
  tree_links r;
  r.parent = rank_of(t.parent);
  r.child[0] = rank_of(t.child[0]);
  r.child[1] = rank_of(t.child[1]);
  if (r.child[0] < 0) { // keep a single child in slot 0
    r.child[0] = r.child[1];
    r.child[1] = -1;
  }
  return r;
}

namespace detail {

// Up one chunk of [o, o+len) in tree `t`: children's partials are added to this
// rank's input and sent to the parent; the root writes the final result to out.
template <class Net, class T>
WEFT_HOST_DEVICE status tree_up(Net& net, tree_links const& t, T const* in, T* out, cuda::std::size_t o,
                                cuda::std::size_t len) {
  if (len == 0) return status::success;
  int const nc = t.nchildren();
  if (nc == 0) return net.with_peers(-1, t.parent, [&](auto& p) { return p.send(in + o, len); });
  bool const root = t.parent < 0;
  if (nc == 1)
    return net.with_peers(t.child[0], t.parent, [&](auto& p) {
      return root ? p.recv_reduce_copy(in + o, out + o, len, true) : p.recv_reduce_send(in + o, len);
    });
  // Two children: out = in (+) child 0, then out (+) child 1 goes up (or is final at the root).
  WEFT_TRY(net.with_peers(t.child[0], -1, [&](auto& p) { return p.recv_reduce_copy(in + o, out + o, len, false); }));
  return net.with_peers(t.child[1], t.parent, [&](auto& p) {
    return root ? p.recv_reduce_copy(out + o, out + o, len, true, false) : p.recv_reduce_send(out + o, len, false);
  });
}

// Down one chunk: the result comes from the parent (or is here, at the root) and goes to the children.
template <class Net, class T>
WEFT_HOST_DEVICE status tree_down(Net& net, tree_links const& t, T* out, cuda::std::size_t o, cuda::std::size_t len) {
  if (len == 0) return status::success;
  int const nc = t.nchildren();
  if (t.parent < 0) {
    for (int c = 0; c < nc; ++c)
      WEFT_TRY(net.with_peers(-1, t.child[c], [&](auto& p) { return p.send(out + o, len, false); }));
    return status::success;
  }
  if (nc == 0) return net.with_peers(t.parent, -1, [&](auto& p) { return p.recv(out + o, len); });
  WEFT_TRY(net.with_peers(t.parent, t.child[0], [&](auto& p) { return p.recv_copy_send(out + o, len); }));
  if (nc == 2) return net.with_peers(-1, t.child[1], [&](auto& p) { return p.send(out + o, len, false); });
  return status::success;
}

} // namespace detail

//! Double binary tree all-reduce of [r.lo, r.hi): the lower half goes through tree A,
//! the upper half through tree B (see the file comment).
template <class Net, class T>
WEFT_HOST_DEVICE status tree_all_reduce(Net& net, ring_position pos, T const* in, T* out, elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  if (n == 1) return net.local([&](auto& p) { return p.reduce_local(in + r.lo, out + r.lo, r.size(), true); });
  if (r.size() == 0) return status::success;
  tree_links const t[2] = {double_tree_links(me, n, 0), double_tree_links(me, n, 1)};
  // The step size is the connections' (a prims with no peer has none): ask a tree neighbour.
  int const q = t[0].parent >= 0 ? t[0].parent : t[0].child[0];
  cuda::std::size_t step = 0;
  WEFT_TRY(net.with_peers(q, q, [&](auto& p) {
    step = p.step_elems();
    return status::success;
  }));
  if (step == 0) return status::invalid_argument; // a slot that cannot carry one step
  cuda::std::size_t mid = r.lo + align_up(div_up(r.size(), 2), partition_align);
  if (mid > r.hi) mid = r.hi;
  elem_range const half[2] = {{r.lo, mid}, {mid, r.hi}};
  auto len = [&](int k, cuda::std::size_t base) -> cuda::std::size_t {
    cuda::std::size_t const o = half[k].lo + base;
    return o >= half[k].hi ? 0 : (half[k].hi - o < step ? half[k].hi - o : step);
  };
  cuda::std::size_t const longest = half[0].size();
  for (cuda::std::size_t base = 0; base < longest; base += step)
    for (int k = 0; k < 2; ++k) WEFT_TRY(detail::tree_up(net, t[k], in, out, half[k].lo + base, len(k, base)));
  for (cuda::std::size_t base = 0; base < longest; base += step)
    for (int k = 0; k < 2; ++k) WEFT_TRY(detail::tree_down(net, t[k], out, half[k].lo + base, len(k, base)));
  return status::success;
}

} // namespace weft
