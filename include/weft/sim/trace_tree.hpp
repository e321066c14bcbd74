#pragma once
//! \file
//! Trace functions of the double binary tree, the hierarchical compositions and
//! the rank-order (deterministic) all-reduce, and their registry entries
//! (`WEFT_TRACED_TREE`, spliced into `traced_algorithm_list` in trace.hpp).
//!
//! A hierarchical entry has a fixed rule for its layout so that it traces at
//! any rank count: `traced_hier_layout(name, nranks)` gives it (a test running
//! the entry on a communicator sets `coll_options::hier` from it).

#include <weft/algorithm/deterministic.hpp>
#include <weft/algorithm/hierarchical.hpp>
#include <weft/algorithm/tree.hpp>
#include <weft/sim/trace_core.hpp>
#include <numeric>
#include <string>
#include <string_view>

namespace weft::sim {

//! Double binary tree all-reduce (each tree carries half of the data).
inline schedule trace_tree_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr) {
  return trace_net_algorithm("tree", collective::all_reduce, nranks, nchannels, count, o, [](auto& net, auto const& c) {
    return tree_all_reduce(net, ring_position{c.rank, c.nranks}, c.in, c.out, c.range);
  }, error);
}

//! Rank-order all-reduce (the deterministic mode's): chain 0 -> n-1 along the ring, then back as copies.
inline schedule trace_rank_order_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                            std::string* error = nullptr) {
  return trace_algorithm("rank_order", collective::all_reduce, nranks, nchannels, count, o, [](auto& p, auto const& c) {
    return rank_order_all_reduce(p, ring_position{c.rank, c.nranks}, c.in, c.out, c.range);
  }, error);
}

//! The layout of hierarchical registry entry `name` on `nranks` ranks:
//! "hier_tree": inner teams of gcd(4, n) ranks, tree across them;
//! "hier_3level": gcd(2, n) x gcd(2, n / inner) x the rest, rings;
//! "hier_rd_tree": gcd(4, n) ranks inside doing recursive doubling of the whole range, tree across;
//! otherwise ("hierarchical"): `hier_layout::automatic`, rings.
inline hier_layout traced_hier_layout(std::string_view name, int nranks) {
  int const n = nranks < 1 ? 1 : nranks;
  hier_layout l;
  if (name == "hier_tree") {
    l.inner = std::gcd(4, n);
    l.outer = algorithm::tree;
  } else if (name == "hier_3level") {
    l.inner = std::gcd(2, n);
    l.middle = std::gcd(2, n / l.inner);
  } else if (name == "hier_rd_tree") {
    l.inner = std::gcd(4, n);
    l.outer = algorithm::tree;
    l.within = algorithm::recursive_doubling;
  } else {
    l = hier_layout::automatic(n);
  }
  return l;
}

namespace detail {

inline bool traced_hier_shape(char const* name, collective coll, int nranks, hier_shape& shape, std::string* error) {
  char const* why = "";
  if (hier_shape::of(traced_hier_layout(name, nranks), nranks, shape, &why)) return true;
  if (error) *error = std::string(to_string(coll)) + " " + name + ": " + why;
  return false;
}

inline schedule trace_hier_all_reduce_named(char const* name, int nranks, int nchannels, std::size_t count,
                                            trace_options const& o, std::string* error) {
  hier_shape shape;
  if (!traced_hier_shape(name, collective::all_reduce, nranks, shape, error)) return schedule{};
  hier_layout const layout = traced_hier_layout(name, nranks);
  return trace_net_algorithm(name, collective::all_reduce, nranks, nchannels, count, o, [&](auto& net, auto const& c) {
    return hier_all_reduce(net, shape, layout.outer, c.rank, c.in, c.out, c.range, layout.within);
  }, error);
}

} // namespace detail

//! Hierarchical all-reduce, automatic two-level layout, rings at both levels.
inline schedule trace_hier_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr) {
  return detail::trace_hier_all_reduce_named("hierarchical", nranks, nchannels, count, o, error);
}

//! Hierarchical all-reduce: inner rings of gcd(4, n) ranks, double binary tree across them.
inline schedule trace_hier_tree_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                           std::string* error = nullptr) {
  return detail::trace_hier_all_reduce_named("hier_tree", nranks, nchannels, count, o, error);
}

//! Hierarchical all-reduce over three levels (2 x 2 x the rest where the rank count allows).
inline schedule trace_hier_3level_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                             std::string* error = nullptr) {
  return detail::trace_hier_all_reduce_named("hier_3level", nranks, nchannels, count, o, error);
}

//! Hierarchical all-reduce for small messages: recursive doubling of the whole
//! range inside teams of gcd(4, n) ranks, then a double binary tree across them.
inline schedule trace_hier_rd_tree_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                              std::string* error = nullptr) {
  return detail::trace_hier_all_reduce_named("hier_rd_tree", nranks, nchannels, count, o, error);
}

//! Hierarchical all-gather (automatic layout): outer level first, then the inner teams.
inline schedule trace_hier_all_gather(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr) {
  hier_shape shape;
  if (!detail::traced_hier_shape("hierarchical", collective::all_gather, nranks, shape, error)) return schedule{};
  return trace_net_algorithm("hierarchical", collective::all_gather, nranks, nchannels, count, o,
                             [&](auto& net, auto const& c) {
                               return hier_all_gather(net, shape, c.rank, c.in, c.out, c.count, c.range);
                             }, error);
}

//! Hierarchical reduce-scatter (automatic layout): inner teams first, partial sums in scratch.
inline schedule trace_hier_reduce_scatter(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                          std::string* error = nullptr) {
  hier_shape shape;
  if (!detail::traced_hier_shape("hierarchical", collective::reduce_scatter, nranks, shape, error)) return schedule{};
  schedule s = trace_net_algorithm("hierarchical", collective::reduce_scatter, nranks, nchannels, count, o,
                                   [&](auto& net, auto const& c) {
                                     return hier_reduce_scatter(net, shape, c.rank, c.in, c.out, c.scratch, c.count,
                                                                c.range);
                                   }, error);
  if (!s.steps.empty() && nranks > 1) s.scratch_count = std::size_t(nranks) * count;
  return s;
}

} // namespace weft::sim

//! Registry entries of this family, each followed by a comma.
#define WEFT_TRACED_TREE                                                                                              \
  {::weft::sim::collective::all_reduce, "tree", &::weft::sim::trace_tree_all_reduce,                                  \
   "double binary tree, each tree carrying half of the data", ::weft::algorithm::tree, true},                         \
      {::weft::sim::collective::all_reduce, "rank_order", &::weft::sim::trace_rank_order_all_reduce,                  \
       "each element reduced in rank order along a chain, then copied back (deterministic mode)",                     \
       ::weft::algorithm::rank_order, false},                                                                         \
      {::weft::sim::collective::all_reduce, "hierarchical", &::weft::sim::trace_hier_all_reduce,                      \
       "inner ring reduce-scatter, outer ring all-reduce of the shard, inner ring all-gather",                        \
       ::weft::algorithm::hierarchical, true},                                                                        \
      {::weft::sim::collective::all_reduce, "hier_tree", &::weft::sim::trace_hier_tree_all_reduce,                    \
       "inner rings of 4 ranks around a double binary tree across the teams", ::weft::algorithm::hierarchical, true}, \
      {::weft::sim::collective::all_reduce, "hier_3level", &::weft::sim::trace_hier_3level_all_reduce,                \
       "three levels of rings (2 x 2 x the rest)", ::weft::algorithm::hierarchical, true},                            \
      {::weft::sim::collective::all_reduce, "hier_rd_tree", &::weft::sim::trace_hier_rd_tree_all_reduce,              \
       "recursive doubling inside teams of 4 ranks, then a double binary tree across them",                           \
       ::weft::algorithm::hierarchical, true},                                                                        \
      {::weft::sim::collective::all_gather, "hierarchical", &::weft::sim::trace_hier_all_gather,                      \
       "outer ring of each rank's piece, then inner rings of the gathered pieces", ::weft::algorithm::hierarchical,   \
       true},                                                                                                         \
      {::weft::sim::collective::reduce_scatter, "hierarchical", &::weft::sim::trace_hier_reduce_scatter,              \
       "inner rings reduce the pieces each team keeps, then the outer ring", ::weft::algorithm::hierarchical, true},
