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
};

inline constexpr int algorithm_count = 6;

WEFT_HOST_DEVICE constexpr char const* to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::ring: return "ring";
    case algorithm::recursive_doubling: return "recursive_doubling";
    case algorithm::rabenseifner: return "rabenseifner";
    case algorithm::tree: return "tree";
    case algorithm::hierarchical: return "hierarchical";
    case algorithm::rank_order: return "rank_order";
  }
  return "unknown";
}

//! Parse an algorithm name ("ring", "recursive_doubling" or "rd", "rabenseifner" or "rhd", "tree",
//! "hierarchical" or "hier", "rank_order").
inline bool parse_algorithm(char const* s, algorithm& out) noexcept {
  if (!s) return false;
  if (!std::strcmp(s, "ring")) return out = algorithm::ring, true;
  if (!std::strcmp(s, "recursive_doubling") || !std::strcmp(s, "rd")) return out = algorithm::recursive_doubling, true;
  if (!std::strcmp(s, "rabenseifner") || !std::strcmp(s, "rhd")) return out = algorithm::rabenseifner, true;
  if (!std::strcmp(s, "tree")) return out = algorithm::tree, true;
  if (!std::strcmp(s, "hierarchical") || !std::strcmp(s, "hier")) return out = algorithm::hierarchical, true;
  if (!std::strcmp(s, "rank_order")) return out = algorithm::rank_order, true;
  return false;
}

} // namespace weft
