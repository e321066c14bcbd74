#pragma once
//! \file
//! 16-byte vector packs: the unit every bulk data path loads and stores.
//!
//! On a GPU a pack is one `ld.global.v4.u32` / `st.global.v4.u32` (the widest
//! per-thread access); on the host it is a 16-byte `memcpy` that the compiler
//! turns into one SSE/AVX move. A pack of `T` holds `pack_elems<T>` elements.

#include <weft/core/config.hpp>
#include <weft/detail/ptx/b128.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>
#include <nv/target>
#include <string.h>

#if defined(__CUDACC__)
#  include <weft/detail/ptx/ld_st.cuh>
#endif

namespace weft {

//! Bytes in one pack.
inline constexpr int pack_bytes = 16;

//! Elements of `T` in one pack.
template <class T>
inline constexpr int pack_elems = pack_bytes / int(sizeof(T));

//! A pack viewed as elements of `T`.
template <class T>
struct alignas(16) pack {
  static_assert(sizeof(T) <= 16 && 16 % sizeof(T) == 0, "pack<T>: sizeof(T) must divide 16");
  T e[pack_elems<T>];
};

//! True when `p` is 16-byte aligned.
WEFT_HOST_DEVICE bool is_pack_aligned(void const* p) {
  return (reinterpret_cast<cuda::std::uintptr_t>(p) & 15u) == 0;
}

//! Load 16 bytes from global memory (`p` 16-byte aligned on a device; any alignment on the host).
WEFT_HOST_DEVICE detail::b128 load_b128(void const* p) {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE,
    (return detail::ptx::ld_global_v4(p);),
    (detail::b128 v; memcpy(&v, p, 16); return v;))
}

//! Store 16 bytes to global memory (`p` 16-byte aligned on a device; any alignment on the host).
WEFT_HOST_DEVICE void store_b128(void* p, detail::b128 v) {
  NV_IF_ELSE_TARGET(NV_IS_DEVICE,
    (detail::ptx::st_global_v4(p, v);),
    (memcpy(p, &v, 16);))
}

//! Reinterpret 16 bytes as a pack of `T`.
template <class T>
WEFT_HOST_DEVICE pack<T> as_pack(detail::b128 v) {
  pack<T> r;
  memcpy(&r, &v, 16);
  return r;
}

//! Reinterpret a pack of `T` as 16 bytes.
template <class T>
WEFT_HOST_DEVICE detail::b128 as_b128(pack<T> const& v) {
  detail::b128 r;
  memcpy(&r, &v, 16);
  return r;
}

} // namespace weft
