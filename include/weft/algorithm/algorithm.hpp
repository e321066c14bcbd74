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
