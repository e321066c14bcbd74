#pragma once
//! \file
//! Names of weft's algorithms (what a caller or the tuner picks per call).

#include <weft/core/config.hpp>
#include <cuda/std/cstdint>
#include <cstring>

namespace weft {

//! Algorithm of a collective call.
enum class algorithm : cuda::std::uint8_t {
  ring,               //!< ring all-reduce / all-gather / reduce-scatter, chain broadcast / reduce
  recursive_doubling, //!< all-reduce: log2(p) full-vector exchanges (latency-optimal)
  rabenseifner,       //!< all-reduce: recursive halving reduce-scatter + recursive doubling all-gather
  tree,               //!< all-reduce: double binary tree, each tree carrying half the data (latency 2 log2(p))
  hierarchical,       //!< all-reduce, all-gather, reduce-scatter: per-level teams (see coll_options::hier)
  rank_order,         //!< all-reduce: each element reduced in rank order 0..n-1 (what the deterministic mode runs)
  nvls,               //!< all-reduce, all-gather, reduce-scatter through a multicast object (NVLink SHARP, algorithm/nvls.hpp)
};

inline constexpr int algorithm_count = 7;

WEFT_HOST_DEVICE constexpr char const* to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::ring: return "ring";
    case algorithm::recursive_doubling: return "recursive_doubling";
    case algorithm::rabenseifner: return "rabenseifner";
    case algorithm::tree: return "tree";
    case algorithm::hierarchical: return "hierarchical";
    case algorithm::rank_order: return "rank_order";
    case algorithm::nvls: return "nvls";
  }
  return "unknown";
}

//! Parse an algorithm name ("ring", "recursive_doubling" or "rd", "rabenseifner" or "rhd", "tree",
//! "hierarchical" or "hier", "rank_order", "nvls").
inline bool parse_algorithm(char const* s, algorithm& out) noexcept {
  if (!s) return false;
  if (!std::strcmp(s, "ring")) return out = algorithm::ring, true;
  if (!std::strcmp(s, "recursive_doubling") || !std::strcmp(s, "rd")) return out = algorithm::recursive_doubling, true;
  if (!std::strcmp(s, "rabenseifner") || !std::strcmp(s, "rhd")) return out = algorithm::rabenseifner, true;
  if (!std::strcmp(s, "tree")) return out = algorithm::tree, true;
  if (!std::strcmp(s, "hierarchical") || !std::strcmp(s, "hier")) return out = algorithm::hierarchical, true;
  if (!std::strcmp(s, "rank_order")) return out = algorithm::rank_order, true;
  if (!std::strcmp(s, "nvls")) return out = algorithm::nvls, true;
  return false;
}

//! How ranks are grouped: sizes of the inner levels (consecutive ranks first),
//! and the algorithm of the outermost level's all-reduce. The outermost level's
//! size is what is left: nranks / (inner * middle).
struct hier_layout {
  int inner = 0;                      //!< ranks per inner team (an NVLink domain); 0: not hierarchical
  int middle = 1;                     //!< inner teams per middle team (1: two levels)
  algorithm outer = algorithm::ring;  //!< all-reduce of the outermost level: ring, tree, recursive_doubling, rabenseifner
  //! All-reduce: what the inner levels run.
  //!  - ring: reduce-scatter going in, all-gather coming out; only 1 / (inner * middle)
  //!    of the data crosses the outer links (bandwidth-optimal);
  //!  - tree, recursive_doubling, rabenseifner: each inner level all-reduces the
  //!    whole range with that algorithm, then the outer level all-reduces it: fewer
  //!    steps (latency), but every byte crosses the outer links.
  algorithm within = algorithm::ring;

  //! Two levels whose inner team is the largest divisor d of `nranks` with d * d <= nranks
  //! (what a communicator that knows no NVLink domain uses when `inner` is 0).
  WEFT_HOST_DEVICE static hier_layout automatic(int nranks, algorithm outer = algorithm::ring,
                                                algorithm within = algorithm::ring) noexcept {
    hier_layout l;
    l.inner = 1;
    for (int d = 1; d * d <= nranks; ++d)
      if (nranks % d == 0) l.inner = d;
    l.outer = outer;
    l.within = within;
    return l;
  }
  //! This layout, or the automatic one when `inner` is 0.
  WEFT_HOST_DEVICE hier_layout resolved(int nranks) const noexcept {
    return inner == 0 ? automatic(nranks, outer, within) : *this;
  }
};

//! How a direct all-reduce over symmetric memory moves data (algorithm/direct.hpp):
//! one_shot (every rank reads every peer's whole input), two_shot (reduce-scatter
//! then all-gather through the peers' staging areas) or ll (data and flag in
//! 8-byte lines, no barrier: tiny messages).
enum class direct_flavour : cuda::std::uint8_t { one_shot, two_shot, ll };

inline constexpr int direct_flavour_count = 3;

WEFT_HOST_DEVICE constexpr char const* to_string(direct_flavour f) noexcept {
  switch (f) {
    case direct_flavour::one_shot: return "one_shot";
    case direct_flavour::two_shot: return "two_shot";
    case direct_flavour::ll: return "ll";
  }
  return "unknown";
}

//! Parse a direct flavour: "one_shot", "two_shot", "ll", or the tuner's names
//! "direct_one_shot", "direct_two_shot", "direct_ll".
inline bool parse_direct_flavour(char const* s, direct_flavour& out) noexcept {
  if (!s) return false;
  if (!std::strncmp(s, "direct_", 7)) s += 7;
  if (!std::strcmp(s, "one_shot")) return out = direct_flavour::one_shot, true;
  if (!std::strcmp(s, "two_shot")) return out = direct_flavour::two_shot, true;
  if (!std::strcmp(s, "ll")) return out = direct_flavour::ll, true;
  return false;
}

} // namespace weft
