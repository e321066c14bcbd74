#pragma once
//! \file
//! The 16-byte register value moved by one vector load or store.

#include <cuda/std/cstdint>

namespace weft::detail {

//! Sixteen bytes as four 32-bit words: what `ld.v4.u32` / `st.v4.u32` move.
struct alignas(16) b128 {
  cuda::std::uint32_t x, y, z, w;
};

} // namespace weft::detail
