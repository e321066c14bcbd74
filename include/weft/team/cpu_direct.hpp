#pragma once
//! \file
//! Direct collectives on the CPU team: over a symmetric-memory window
//! (`cpu_window`) for all-reduce (one-shot, two-shot, LL), all-gather,
//! reduce-scatter and all-to-all, and the pairwise all-to-all over a host
//! communicator's point-to-point connections (`weft::all_to_all`).
//!
//! ```
//! weft::cpu_window win(n);
//! team.run([&](weft::team_rank& r) {
//!   weft::direct_options o;
//!   o.flavour = weft::direct_flavour::two_shot;
//!   return weft::direct_all_reduce(win, r, send[r.rank()], recv[r.rank()], count, weft::op::sum<float>{}, o);
//! });
//! ```
//! Every rank calls the same collective with the same count and options.
//! In place is allowed with NCCL's conventions (all-reduce send == recv;
//! all-gather send == recv + rank * count; reduce-scatter recv == send + rank * count;
//! all-to-all over a window send == recv).

#include <weft/algorithm/direct.hpp>
#include <weft/core/ops.hpp>
#include <weft/group/group.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_window.hpp>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace weft {

//! Per-call choices of the direct collectives.
struct direct_options {
  direct_flavour flavour = direct_flavour::one_shot; //!< all-reduce only
  int nblocks = 1; //!< blocks (channels), 1..window's config().nblocks; each takes a slice of the data
};

namespace detail {

// Admit, check buffers, run `body(group, view, block, range)` for every block, finish.
template <class T, class Rank, class Body>
status cpu_window_run(cpu_window& w, Rank& tr, char const* what, void const* send, void const* recv,
                      std::size_t range_count, std::size_t buffer_blocks, direct_options const& o, Body&& body) {
  if (status s = w.admit(tr, what, o.nblocks); s != status::success) return s;
  if (bad_buffers(send, recv, range_count) || count_overflows<T>(range_count, int(buffer_blocks)))
    return w.refuse(tr, what, status::invalid_argument, "null buffer or element count too large");
  host_group g;
  sym_view const v = w.view(tr);
  status s = status::success;
  for (int b = 0; b < o.nblocks && s == status::success; ++b) s = body(g, v, b, partition(range_count, o.nblocks, b));
  if (s == status::unsupported) {
    // Refused before any flag moved (every rank computes the same answer): the window stays usable.
    return w.refuse(tr, what, s, "the window's areas cannot hold one aligned piece per rank (raise area_bytes)");
  }
  return w.finish(tr, what, s);
}

} // namespace detail

//! Direct all-reduce over symmetric memory (one_shot, two_shot or ll by `o.flavour`).
template <class T, class Op, class Rank>
status direct_all_reduce(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t count, Op const& op,
                         direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  char const* what = "direct_all_reduce";
  if (unsigned(o.flavour) > unsigned(direct_flavour::ll)) {
    if (status s = w.admit(tr, what, o.nblocks); s != status::success) return s;
    return w.refuse(tr, what, status::invalid_argument, "unknown direct flavour");
  }
  return detail::cpu_window_run<T>(w, tr, what, send, recv, count, 1, o, [&](auto& g, sym_view const& v, int b,
                                                                               elem_range r) {
    return direct_all_reduce_flavour(o.flavour, g, v, b, op, send, recv, r);
  });
}

//! Direct all-gather: `recv` (nranks * sendcount) gets every rank's `send` in rank order.
template <class T, class Rank>
status direct_all_gather(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t sendcount,
                         direct_options o = {}) {
  return detail::cpu_window_run<T>(w, tr, "direct_all_gather", send, recv, sendcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return direct_all_gather(g, v, b, send, recv, sendcount, r);
                                   });
}

//! Direct reduce-scatter: rank r's `recv` (recvcount) gets the reduction of block r of every `send`.
template <class T, class Op, class Rank>
status direct_reduce_scatter(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t recvcount, Op const& op,
                             direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  return detail::cpu_window_run<T>(w, tr, "direct_reduce_scatter", send, recv, recvcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return direct_reduce_scatter(g, v, b, op, send, recv, recvcount, r);
                                   });
}

//! Direct all-to-all over a window: block q of `send` (count_per_peer elements) goes
//! to rank q; block q of `recv` comes from rank q. In place allowed.
template <class T, class Rank>
status direct_all_to_all(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t count_per_peer,
                         direct_options o = {}) {
  return detail::cpu_window_run<T>(w, tr, "direct_all_to_all", send, recv, count_per_peer, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return direct_all_to_all(g, v, b, send, recv, count_per_peer, r);
                                   });
}

//! All-to-all over a host communicator's point-to-point connections (pairwise
//! exchange, `o.nchannels` channels, any protocol): block q of `send`
//! (count_per_peer elements) goes to rank q, block q of `recv` comes from rank q.
//! Out of place only: overlapping buffers are refused with status::unsupported.
template <class Comm, class Rank, class T>
std::enable_if_t<is_host_comm_v<Comm>, status> all_to_all(Comm& c, Rank& tr, T const* send, T* recv,
                                                          std::size_t count_per_peer, coll_options o = {}) {
  static_assert(std::is_trivially_copyable_v<T>, "all_to_all moves T as bytes");
  if (status s = c.admit(tr, coll_kind::all_to_all, o); s != status::success) return s;
  if (detail::bad_buffers(send, recv, count_per_peer) || detail::count_overflows<T>(count_per_peer, c.size()))
    return c.refuse(tr, coll_kind::all_to_all, status::invalid_argument, "null buffer or element count too large");
  std::size_t const total = count_per_peer * std::size_t(c.size());
  auto const sa = reinterpret_cast<std::uintptr_t>(send), ra = reinterpret_cast<std::uintptr_t>(recv);
  std::size_t const bytes = total * sizeof(T);
  if (total > 0 && sa < ra + bytes && ra < sa + bytes)
    return c.refuse(tr, coll_kind::all_to_all, status::unsupported,
                    "in-place (overlapping) all-to-all is not supported over point-to-point connections");
  // Moved as bytes: any trivially copyable T works, and blocks stay contiguous.
  ring_position const pos{tr.rank(), c.size()};
  std::size_t const block = count_per_peer * sizeof(T);
  auto const* in = reinterpret_cast<std::uint8_t const*>(send);
  auto* out = reinterpret_cast<std::uint8_t*>(recv);
  op::sum<std::uint8_t> copy_op;
  return detail::cpu_net_run(c, tr, coll_kind::all_to_all, copy_op, o, block, [&](auto& net, elem_range r) {
    return pairwise_all_to_all(net, pos, in, out, block, r);
  });
}

} // namespace weft
