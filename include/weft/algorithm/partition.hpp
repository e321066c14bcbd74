#pragma once
//! \file
//! Index arithmetic shared by the algorithms: splitting a range over channels
//! and a loop's data over ring positions.

#include <weft/core/config.hpp>
#include <cuda/std/cstddef>

namespace weft {

//! A half-open element range.
struct elem_range {
  cuda::std::size_t lo = 0, hi = 0;
  WEFT_HOST_DEVICE constexpr cuda::std::size_t size() const noexcept { return hi > lo ? hi - lo : 0; }
};

WEFT_HOST_DEVICE constexpr cuda::std::size_t div_up(cuda::std::size_t a, cuda::std::size_t b) noexcept {
  return (a + b - 1) / b;
}
WEFT_HOST_DEVICE constexpr cuda::std::size_t align_up(cuda::std::size_t a, cuda::std::size_t b) noexcept {
  return div_up(a, b) * b;
}

//! Elements per alignment unit: channel and chunk boundaries fall on multiples
//! of 16 elements, which keeps every boundary 16-byte aligned for any type.
inline constexpr cuda::std::size_t partition_align = 16;

//! Part `part` of `nparts` of [0, count), boundaries aligned; trailing parts may be empty.
WEFT_HOST_DEVICE constexpr elem_range partition(cuda::std::size_t count, int nparts, int part) noexcept {
  cuda::std::size_t const per = align_up(div_up(count, cuda::std::size_t(nparts)), partition_align);
  cuda::std::size_t lo = per * cuda::std::size_t(part);
  cuda::std::size_t hi = lo + per;
  if (lo > count) lo = count;
  if (hi > count) hi = count;
  return {lo, hi};
}

//! `(a mod n)` for possibly negative `a`.
WEFT_HOST_DEVICE constexpr int mod(int a, int n) noexcept { return ((a % n) + n) % n; }

} // namespace weft
