#pragma once
//! \file
//! Run an algorithm of your own on a host communicator (the CPU team, or any
//! communicator type the host collectives accept), from the same source that
//! the tracer turns into a schedule.
//!
//! The algorithm is written over a Net (see weft/algorithm/recursive.hpp and
//! docs/schedules.md): `net.with_peers(recv_peer, send_peer, f)` runs
//! `f(prims&)` connected to those peers, `net.with_peer(q, f)` to q both ways,
//! `net.local(f)` with no peer. `body(net, range)` runs one channel's share
//! `range` of the `count` elements, exactly like a body given to
//! `sim::trace_net_algorithm` does with `call.range`.
//!
//! ```
//! team.run([&](weft::team_rank& r) {
//!   return weft::run_net_algorithm(comm, r, weft::coll_kind::all_reduce, weft::op::sum<float>{}, count, {},
//!       [&](auto& net, weft::elem_range range) { return my_all_reduce(net, {r.rank(), r.size()}, in, out, range); });
//! });
//! ```
//! Every rank must call it with the same collective, count and options. The
//! call goes through the communicator's checks (a broken communicator, a team
//! of the wrong size, a bad channel count are refused); a failure inside the
//! algorithm (a timeout, an abort) leaves the communicator broken, as the
//! built-in collectives do.

#include <weft/team/cpu_comm.hpp>

namespace weft {

template <class Comm, class Rank, class Op, class Body>
std::enable_if_t<is_host_comm_v<Comm>, status> run_net_algorithm(Comm& c, Rank& tr, coll_kind coll, Op const& op,
                                                                 std::size_t count, coll_options o, Body&& body) {
  o.algo = algorithm::ring; // the communicator's checks of a built-in algorithm choice do not apply
  o.direct = false;
  if (status s = c.admit(tr, coll, o); s != status::success) return s;
  return detail::cpu_net_run(c, tr, coll, op, o, count, static_cast<Body&&>(body));
}

} // namespace weft
