#pragma once
//! \file
//! NVLS collectives on the CPU team: the algorithms of weft/algorithm/nvls.hpp
//! over `peer_multicast`, which emulates a multicast object on a `cpu_window`
//! (ld_reduce reads every rank's copy and reduces in rank order; st writes
//! every copy; barriers are the switch's counter barrier, each addition an
//! atomic add to every rank's counter). This is how the NVLS logic is tested
//! without NVSwitch.
//!
//! ```
//! weft::cpu_window win(n);
//! team.run([&](weft::team_rank& r) {
//!   return weft::nvls_all_reduce(win, r, send[r.rank()], recv[r.rank()], count, weft::op::sum<float>{});
//! });
//! ```
//! Options, in-place conventions and failure handling are those of the direct
//! collectives (weft/team/cpu_direct.hpp).
//!
//! Zero-copy. Where the call's buffer (recv for all-reduce and all-gather, send
//! for reduce-scatter) lies in a buffer registered with
//! `cpu_window::register_symmetric`, at the same offset on every rank, and
//! `nvls_zero_copy_fits` holds (whole 16-byte vectors, that buffer aligned, a
//! sum the switch runs), the call runs the zero-copy algorithms of
//! weft/algorithm/nvls.hpp over `peer_multicast_buffer` -- what `weft::comm`
//! does on a GPU over multicast symmetric memory -- and
//! `cpu_window::last_nvls_zero_copy(rank)` says so. An out-of-place all-reduce
//! whose send is registered (and aligned) too copies nothing; otherwise send
//! is first copied into recv (`last_nvls_copied_in`). Any other call is
//! staged. Every rank decides alone, from what the ranks share (count, type,
//! operator, the symmetric buffer's place), so the buffers must be placed alike
//! on every rank (registered at the same offsets, or not at all), as symmetric
//! memory requires anyway; ranks that decide differently time out or compute
//! wrong sums.

#include <weft/algorithm/nvls.hpp>
#include <weft/team/cpu_direct.hpp>
#include <cstddef>
#include <type_traits>

namespace weft {

//! The multicast buffer of zero-copy NVLS (algorithm/nvls.hpp) emulated over
//! every rank's copy of a symmetric buffer: `bases[q] + offset` is the start of
//! rank q's copy. Reductions read every copy and reduce in rank order (through a
//! stack tile, so a destination may alias this rank's copy); stores write every
//! copy. Host only.
struct peer_multicast_buffer {
  unsigned char* const* bases = nullptr;
  std::size_t offset = 0;
  int nranks = 1, rank = 0;

  template <class T>
  T* at(int q, std::size_t off) const noexcept {
    return reinterpret_cast<T*>(bases[q] + offset) + off;
  }
  template <class T>
  struct copies { // rank q's copy from element `off` (a host-device callable for reduce_sources)
    peer_multicast_buffer const* mb;
    std::size_t off;
    WEFT_HOST_DEVICE T const* operator()(int q) const noexcept { return mb->template at<T>(q, off); }
  };
  static constexpr std::size_t tile_bytes = 4096;

  //! Tile by tile: tmp = the reduction over ranks of [off, off + count); then `then(tmp, offset, n)`.
  template <class Group, class Op, class Then>
  void reduce_tiles(Group& g, Op const& op, std::size_t off, std::size_t count, Then&& then) const {
    using T = typename Op::value_type;
    constexpr std::size_t tile = tile_bytes / sizeof(T);
    alignas(16) T tmp[tile];
    for (std::size_t i = 0; i < count; i += tile) {
      std::size_t const n = count - i < tile ? count - i : tile;
      detail::reduce_sources(g, op, nranks, copies<T>{this, off + i}, tmp, n, true);
      then(static_cast<T const*>(tmp), i, n);
    }
  }
  template <class Group, class Op>
  void ld_reduce_st(Group& g, Op const& op, std::size_t off, std::size_t count, peer_multicast_buffer const& to) const {
    reduce_tiles(g, op, off, count, [&](auto const* tmp, std::size_t i, std::size_t n) { to.st(g, tmp, off + i, n); });
  }
  template <class Group, class T>
  void st(Group& g, T const* src, std::size_t off, std::size_t count) const {
    for (int k = 0; k < nranks; ++k) {
      T* dst = at<T>(mod(rank + k, nranks), off);
      if (dst != src) detail::copy_to(g, src, dst, count);
    }
    g.sync();
  }
  template <class Group, class Op>
  void ld_reduce(Group& g, Op const& op, std::size_t off, std::size_t count, typename Op::value_type* dst) const {
    reduce_tiles(g, op, off, count, [&](auto const* tmp, std::size_t i, std::size_t n) { detail::copy_to(g, tmp, dst + i, n); });
    g.sync();
  }
};

namespace detail {

//! Whether rank `tr`'s NVLS call of Coll runs zero-copy: `nvls_zero_copy_fits`
//! for a per-rank piece of `piece_bytes` on `buffer` (span `span_bytes`), and
//! `buffer` in a registered symmetric buffer. Sets `mb`.
template <coll_kind Coll, class Op, class Rank>
bool cpu_nvls_zero_copy(cpu_window& w, Rank& tr, void const* buffer, std::size_t piece_bytes, std::size_t span_bytes,
                        peer_multicast_buffer& mb) {
  mb.nranks = w.size();
  mb.rank = tr.rank();
  return nvls_zero_copy_fits<Coll, Op>(piece_bytes, buffer) &&
         w.find_symmetric(tr.rank(), buffer, span_bytes, mb.bases, mb.offset);
}

} // namespace detail

//! NVLS all-reduce (emulated multicast).
template <class T, class Op, class Rank>
status nvls_all_reduce(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t count, Op const& op,
                       direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  std::size_t const bytes = count * sizeof(T);
  peer_multicast_buffer to;
  bool const zc = detail::cpu_nvls_zero_copy<coll_kind::all_reduce, Op>(w, tr, recv, bytes, bytes, to);
  // Out of place with `send` aligned symmetric memory too: the sums are read from
  // the sends, nothing is copied.
  peer_multicast_buffer from = to;
  bool const copy_in = zc && send != recv &&
                       !(nvls_vector_aligned(send) && w.find_symmetric(tr.rank(), send, bytes, from.bases, from.offset));
  return detail::cpu_window_run<T>(w, tr, "nvls_all_reduce", send, recv, count, 1, o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     if (b == 0) w.note_nvls_path(tr.rank(), zc, copy_in);
                                     peer_multicast const mc{v, w.counter_offset()};
                                     return zc ? nvls_zero_copy_all_reduce(g, mc, from, to, copy_in, b, op, send, recv, r)
                                               : nvls_all_reduce(g, mc, b, op, send, recv, r);
                                   });
}

//! NVLS all-gather (emulated multicast): `recv` (nranks * sendcount) gets every rank's `send`.
template <class T, class Rank>
status nvls_all_gather(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t sendcount, direct_options o = {}) {
  std::size_t const piece = sendcount * sizeof(T);
  peer_multicast_buffer mb;
  bool const zc = detail::cpu_nvls_zero_copy<coll_kind::all_gather, op::sum<T>>(w, tr, recv, piece,
                                                                                piece * std::size_t(w.size()), mb);
  return detail::cpu_window_run<T>(w, tr, "nvls_all_gather", send, recv, sendcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     if (b == 0) w.note_nvls_path(tr.rank(), zc);
                                     peer_multicast const mc{v, w.counter_offset()};
                                     return zc ? nvls_zero_copy_all_gather(g, mc, mb, b, send, recv, sendcount, r)
                                               : nvls_all_gather(g, mc, b, send, recv, sendcount, r);
                                   });
}

//! NVLS reduce-scatter (emulated multicast): rank r's `recv` gets the reduction of block r of every `send`.
template <class T, class Op, class Rank>
status nvls_reduce_scatter(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t recvcount, Op const& op,
                           direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  std::size_t const piece = recvcount * sizeof(T);
  peer_multicast_buffer mb;
  bool const zc = detail::cpu_nvls_zero_copy<coll_kind::reduce_scatter, Op>(w, tr, send, piece,
                                                                           piece * std::size_t(w.size()), mb);
  return detail::cpu_window_run<T>(w, tr, "nvls_reduce_scatter", send, recv, recvcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     if (b == 0) w.note_nvls_path(tr.rank(), zc);
                                     peer_multicast const mc{v, w.counter_offset()};
                                     return zc ? nvls_zero_copy_reduce_scatter(g, mc, mb, b, op, recv, recvcount, r)
                                               : nvls_reduce_scatter(g, mc, b, op, send, recv, recvcount, r);
                                   });
}

} // namespace weft
