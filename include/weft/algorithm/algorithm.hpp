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
};

inline constexpr int algorithm_count = 3;

WEFT_HOST_DEVICE constexpr char const* to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::ring: return "ring";
    case algorithm::recursive_doubling: return "recursive_doubling";
    case algorithm::rabenseifner: return "rabenseifner";
  }
  return "unknown";
}

//! Parse an algorithm name ("ring", "recursive_doubling" or "rd", "rabenseifner" or "rhd").
inline bool parse_algorithm(char const* s, algorithm& out) noexcept {
  if (!s) return false;
  if (!std::strcmp(s, "ring")) return out = algorithm::ring, true;
  if (!std::strcmp(s, "recursive_doubling") || !std::strcmp(s, "rd")) return out = algorithm::recursive_doubling, true;
  if (!std::strcmp(s, "rabenseifner") || !std::strcmp(s, "rhd")) return out = algorithm::rabenseifner, true;
  return false;
}

} // namespace weft
