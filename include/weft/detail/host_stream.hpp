#pragma once
//! \file
//! Non-temporal (streaming) stores for large host copies: they write around the
//! cache, so a destination that will not be read soon costs no read-for-ownership
//! and evicts nothing. Falls back to plain stores where SSE2 is unavailable.

#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__) && !defined(__CUDA_ARCH__)
#  include <emmintrin.h>
#  include <xmmintrin.h>
#  define WEFT_HOST_STREAM 1
#else
#  define WEFT_HOST_STREAM 0
#endif

namespace weft::detail {

//! Copy `bytes` from `src` to `dst` with streaming stores for the 16-byte aligned body.
//! Call `stream_fence()` before publishing the data to another thread.
inline void stream_copy(void* dst, void const* src, std::size_t bytes) noexcept {
#if WEFT_HOST_STREAM
  auto* d = static_cast<unsigned char*>(dst);
  auto const* s = static_cast<unsigned char const*>(src);
  std::size_t const head = (16u - (reinterpret_cast<std::uintptr_t>(d) & 15u)) & 15u;
  if (head >= bytes) {
    std::memcpy(d, s, bytes);
    return;
  }
  std::memcpy(d, s, head);
  std::size_t i = head;
  for (; i + 16 <= bytes; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), _mm_loadu_si128(reinterpret_cast<__m128i const*>(s + i)));
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

//! Order earlier streaming stores before later stores (and flag releases).
//! Hint that the cache line holding `p` will be read soon. Never faults, so
//! it may point past the end of a buffer. A no-op where SSE is unavailable.
inline void prefetch_line(void const* p) noexcept {
#if WEFT_HOST_STREAM
  _mm_prefetch(static_cast<char const*>(p), _MM_HINT_NTA);
#else
  (void)p;
#endif
}

//! Write one 64-byte line `src` to the 64-byte aligned `dst` around the cache.
inline void stream_line(void* dst, void const* src) noexcept {
#if WEFT_HOST_STREAM
  auto* d = static_cast<__m128i*>(dst);
  auto const* s = static_cast<__m128i const*>(src);
  _mm_stream_si128(d + 0, _mm_load_si128(s + 0));
  _mm_stream_si128(d + 1, _mm_load_si128(s + 1));
  _mm_stream_si128(d + 2, _mm_load_si128(s + 2));
  _mm_stream_si128(d + 3, _mm_load_si128(s + 3));
#else
  std::memcpy(dst, src, 64);
#endif
}

inline void stream_fence() noexcept {
#if WEFT_HOST_STREAM
  _mm_sfence();
#endif
}

} // namespace weft::detail
