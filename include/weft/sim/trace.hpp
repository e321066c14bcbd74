#pragma once
//! \file
//! The algorithms weft can trace, and their registry. The machinery
//! (`trace_algorithm`, `trace_net_algorithm`, `trace_options`, ...) is in
//! trace_core.hpp.
//!
//! ```
//! weft::sim::trace_options o;
//! o.step_elems = 64;
//! weft::sim::schedule s = weft::sim::trace_ring_all_reduce(8, 2, 1000, o);
//! ```
//! Adding an algorithm family: a header `sim/trace_<family>.hpp` that includes
//! trace_core.hpp, defines the family's trace functions and a macro
//! `WEFT_TRACED_<FAMILY>` listing its `traced_algorithm` entries (each followed
//! by a comma); include it here and add the macro to `traced_algorithm_list`.

#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/sim/trace_core.hpp>
#include <weft/sim/trace_direct.hpp>
#include <weft/sim/trace_nvls.hpp>
#include <weft/sim/trace_tree.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace weft::sim {

// ---- the ring family (include/weft/algorithm/ring.hpp) ----
// Each function traces the plain ring, or with `rail` the rail-rotated ring of
// `o.ring_local` ranks per node (`ring_order`: channel ch's ring is rotated by ch).

namespace detail {
//! Where (rank, channel) of a traced call sits, and the peers of every (rank, channel).
template <class T>
ring_position ring_pos(trace_call<T> const& c, int local) noexcept {
  return ring_position{c.rank, c.nranks, ring_order{local, c.channel}};
}
inline int rail_local(trace_options const& o, bool rail) noexcept { return rail ? o.ring_local : 1; }
} // namespace detail

//! Ring all-reduce (reduce-scatter then all-gather around the ring).
inline schedule trace_ring_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr, bool rail = false) {
  int const local = detail::rail_local(o, rail);
  return trace_algorithm(rail ? "ring_rail" : "ring", collective::all_reduce, nranks, nchannels, count, o,
                         [local](auto& p, auto const& c) {
                           return ring_all_reduce(p, detail::ring_pos(c, local), c.in, c.out, c.range);
                         }, error, ring_peers{local});
}

//! Ring all-gather through the slots; `count` is each rank's send count.
inline schedule trace_ring_all_gather(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr, bool rail = false) {
  int const local = detail::rail_local(o, rail);
  return trace_algorithm(rail ? "ring_rail" : "ring", collective::all_gather, nranks, nchannels, count, o,
                         [local](auto& p, auto const& c) {
                           return ring_all_gather(p, detail::ring_pos(c, local), c.in, c.out, c.count, c.range);
                         }, error, ring_peers{local});
}

//! Ring all-gather writing straight into the next rank's output (direct prims, Simple).
inline schedule trace_ring_all_gather_direct(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                             std::string* error = nullptr) {
  if (o.proto != protocol::simple) {
    if (error) *error = "all_gather ring_direct: direct transfers need the Simple protocol";
    return schedule{};
  }
  return trace_algorithm("ring_direct", collective::all_gather, nranks, nchannels, count, o, [](auto& p, auto const& c) {
    return ring_all_gather_direct(p, ring_position{c.rank, c.nranks}, c.in, c.out, c.count, c.range);
  }, error);
}

//! Ring reduce-scatter; `count` is each rank's receive count.
inline schedule trace_ring_reduce_scatter(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                          std::string* error = nullptr, bool rail = false) {
  int const local = detail::rail_local(o, rail);
  return trace_algorithm(rail ? "ring_rail" : "ring", collective::reduce_scatter, nranks, nchannels, count, o,
                         [local](auto& p, auto const& c) {
                           return ring_reduce_scatter(p, detail::ring_pos(c, local), c.in, c.out, c.count, c.range);
                         }, error, ring_peers{local});
}

//! Pipelined chain broadcast from `o.root` along the ring.
inline schedule trace_chain_broadcast(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr, bool rail = false) {
  int const local = detail::rail_local(o, rail);
  return trace_algorithm(rail ? "chain_rail" : "chain", collective::broadcast, nranks, nchannels, count, o,
                         [local](auto& p, auto const& c) {
                           return chain_broadcast(p, detail::ring_pos(c, local), c.root, c.in, c.out, c.range);
                         }, error, ring_peers{local});
}

//! Pipelined chain reduce to `o.root` along the ring.
inline schedule trace_chain_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                   std::string* error = nullptr, bool rail = false) {
  int const local = detail::rail_local(o, rail);
  return trace_algorithm(rail ? "chain_rail" : "chain", collective::reduce, nranks, nchannels, count, o,
                         [local](auto& p, auto const& c) {
                           return chain_reduce(p, detail::ring_pos(c, local), c.root, c.in, c.out, c.range);
                         }, error, ring_peers{local});
}

//! The rail-rotated variants as registry entries (`trace_fn`s).
inline constexpr unsigned all_protocols = (1u << protocol_count) - 1;

template <schedule (*Fn)(int, int, std::size_t, trace_options const&, std::string*, bool)>
schedule trace_rail(int nranks, int nchannels, std::size_t count, trace_options const& o, std::string* error) {
  return Fn(nranks, nchannels, count, o, error, true);
}
template <schedule (*Fn)(int, int, std::size_t, trace_options const&, std::string*, bool)>
schedule trace_plain(int nranks, int nchannels, std::size_t count, trace_options const& o, std::string* error) {
  return Fn(nranks, nchannels, count, o, error, false);
}

// ---- recursive all-reduce (include/weft/algorithm/recursive.hpp) ----

//! Recursive doubling all-reduce (log2(p) whole-vector exchanges; non-powers of two fold).
inline schedule trace_recursive_doubling_all_reduce(int nranks, int nchannels, std::size_t count,
                                                    trace_options const& o = {}, std::string* error = nullptr) {
  return trace_net_algorithm("recursive_doubling", collective::all_reduce, nranks, nchannels, count, o,
                             [](auto& net, auto const& c) {
                               return recursive_doubling_all_reduce(net, ring_position{c.rank, c.nranks}, c.in, c.out,
                                                                    c.range);
                             }, error);
}

//! Rabenseifner all-reduce (recursive halving reduce-scatter, recursive doubling all-gather).
inline schedule trace_rabenseifner_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                              std::string* error = nullptr) {
  return trace_net_algorithm("rabenseifner", collective::all_reduce, nranks, nchannels, count, o,
                             [](auto& net, auto const& c) {
                               return rabenseifner_all_reduce(net, ring_position{c.rank, c.nranks}, c.in, c.out,
                                                              c.range);
                             }, error);
}

// ---- registry ----

//! Every algorithm the library can trace: one line each.
inline constexpr traced_algorithm traced_algorithm_list[] = {
    {collective::all_reduce, "ring", &trace_plain<trace_ring_all_reduce>, "reduce-scatter then all-gather around a ring"},
    {collective::all_gather, "ring", &trace_plain<trace_ring_all_gather>, "ring through the connection slots"},
    {collective::all_gather, "ring_direct", &trace_ring_all_gather_direct, "ring writing into the next rank's output"},
    {collective::reduce_scatter, "ring", &trace_plain<trace_ring_reduce_scatter>,
     "ring, each block reduced on its way to its owner"},
    {collective::broadcast, "chain", &trace_plain<trace_chain_broadcast>, "pipelined chain from the root along the ring"},
    {collective::reduce, "chain", &trace_plain<trace_chain_reduce>, "pipelined chain along the ring ending at the root"},
    {collective::all_reduce, "ring_rail", &trace_rail<trace_ring_all_reduce>,
     "ring whose channels cross nodes on different NICs (rail-rotated)", algorithm::ring, false, all_protocols, false, false, true},
    {collective::all_gather, "ring_rail", &trace_rail<trace_ring_all_gather>,
     "ring whose channels cross nodes on different NICs (rail-rotated)", algorithm::ring, false, all_protocols, false, false, true},
    {collective::reduce_scatter, "ring_rail", &trace_rail<trace_ring_reduce_scatter>,
     "ring whose channels cross nodes on different NICs (rail-rotated)", algorithm::ring, false, all_protocols, false, false, true},
    {collective::broadcast, "chain_rail", &trace_rail<trace_chain_broadcast>,
     "chain whose channels cross nodes on different NICs (rail-rotated)", algorithm::ring, false, all_protocols, false, false, true},
    {collective::reduce, "chain_rail", &trace_rail<trace_chain_reduce>,
     "chain whose channels cross nodes on different NICs (rail-rotated)", algorithm::ring, false, all_protocols, false, false, true},
    {collective::all_reduce, "recursive_doubling", &trace_recursive_doubling_all_reduce,
     "log2(p) whole-vector exchanges with partners at distance 1, 2, 4, ...", algorithm::recursive_doubling, true},
    {collective::all_reduce, "rabenseifner", &trace_rabenseifner_all_reduce,
     "recursive halving reduce-scatter then recursive doubling all-gather", algorithm::rabenseifner, true},
    // families in their own headers
    WEFT_TRACED_TREE WEFT_TRACED_DIRECT WEFT_TRACED_NVLS
};

//! The algorithms that trace collective `c`.
inline std::vector<traced_algorithm> traced_algorithms(collective c) {
  std::vector<traced_algorithm> v;
  for (auto const& a : traced_algorithm_list)
    if (a.coll == c) v.push_back(a);
  return v;
}

//! Trace algorithm `algo` of collective `c` by name (see `traced_algorithm_list`).
inline schedule trace(collective c, std::string_view algo, int nranks, int nchannels, std::size_t count,
                      trace_options const& o = {}, std::string* error = nullptr) {
  std::string known;
  for (auto const& a : traced_algorithm_list) {
    if (a.coll != c) continue;
    if (algo == a.name) return a.fn(nranks, nchannels, count, o, error);
    known += known.empty() ? a.name : std::string(", ") + a.name;
  }
  if (error)
    *error = std::string("no traced ") + to_string(c) + " algorithm named '" + std::string(algo) + "' (known: " +
             (known.empty() ? std::string("none") : known) + ")";
  return schedule{};
}

} // namespace weft::sim
