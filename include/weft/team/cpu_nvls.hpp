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

#include <weft/algorithm/nvls.hpp>
#include <weft/team/cpu_direct.hpp>
#include <cstddef>
#include <type_traits>

namespace weft {

//! NVLS all-reduce (emulated multicast).
template <class T, class Op, class Rank>
status nvls_all_reduce(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t count, Op const& op,
                       direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  return detail::cpu_window_run<T>(w, tr, "nvls_all_reduce", send, recv, count, 1, o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return nvls_all_reduce(g, peer_multicast{v, w.counter_offset()}, b, op, send, recv, r);
                                   });
}

//! NVLS all-gather (emulated multicast): `recv` (nranks * sendcount) gets every rank's `send`.
template <class T, class Rank>
status nvls_all_gather(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t sendcount, direct_options o = {}) {
  return detail::cpu_window_run<T>(w, tr, "nvls_all_gather", send, recv, sendcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return nvls_all_gather(g, peer_multicast{v, w.counter_offset()}, b, send, recv, sendcount, r);
                                   });
}

//! NVLS reduce-scatter (emulated multicast): rank r's `recv` gets the reduction of block r of every `send`.
template <class T, class Op, class Rank>
status nvls_reduce_scatter(cpu_window& w, Rank& tr, T const* send, T* recv, std::size_t recvcount, Op const& op,
                           direct_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  return detail::cpu_window_run<T>(w, tr, "nvls_reduce_scatter", send, recv, recvcount, std::size_t(w.size()), o,
                                   [&](auto& g, sym_view const& v, int b, elem_range r) {
                                     return nvls_reduce_scatter(g, peer_multicast{v, w.counter_offset()}, b, op, send, recv, recvcount, r);
                                   });
}

} // namespace weft
