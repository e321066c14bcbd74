#pragma once
//! \file
//! Element types of weft's collectives: the narrow floating-point storage types
//! (`half_t`, `bfloat16_t`, `float8_e4m3_t`, `float8_e5m2_t`), the runtime type tag
//! `dtype`, traits between the two, accumulation types and `dispatch_dtype`.
//!
//! Everything here is valid plain C++17 (g++/clang++) and valid CUDA (host and
//! device code). See docs/types-and-ops.md for the full rules.
//!
//! Conversion rules (float -> narrow), identical on host and device:
//!  - round to nearest, ties to even; subnormals of both formats are exact;
//!  - overflow: half_t, bfloat16_t and float8_e5m2_t go to +-inf (as IEEE 754
//!    round-to-nearest does; inf stays inf); float8_e4m3_t has no infinity and
//!    SATURATES to +-448 (also for +-inf input);
//!  - NaN in gives the canonical quiet NaN out: sign clear, exponent and mantissa
//!    all ones (0x7FFF for half_t and bfloat16_t, 0x7F for both fp8 types).
//! Narrow -> float is exact; a NaN gives the canonical float NaN 0x7FFFFFFF
//! (the NaN NVIDIA GPUs produce), so host and device agree bit for bit.
//!
//! Host code converts by integer bit manipulation. Device code uses the
//! hardware conversions of cuda_fp16.h / cuda_bf16.h / cuda_fp8.h where the
//! architecture has them and they give the same bits (NaN and e5m2 overflow are
//! handled around them), the same software path otherwise.

#include <weft/core/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#if defined(__CUDACC__)
#  include <cuda_bf16.h>
#  include <cuda_fp16.h>
#  include <cuda_fp8.h>
#endif

//! Lets a `WEFT_HOST_DEVICE` template call a host-only callable (a host lambda)
//! when it is only ever instantiated from host code (nvcc's exec-space check).
#if defined(__NVCC__)
#  define WEFT_DETAIL_EXEC_CHECK_DISABLE _Pragma("nv_exec_check_disable")
#else
#  define WEFT_DETAIL_EXEC_CHECK_DISABLE
#endif

namespace weft {

namespace detail {

//! Bits of a float / a float from bits (no aliasing UB, works in both passes).
WEFT_HOST_DEVICE std::uint32_t f32_to_bits(float f) noexcept {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

WEFT_HOST_DEVICE float f32_from_bits(std::uint32_t u) noexcept {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

WEFT_HOST_DEVICE std::uint64_t f64_to_bits(double d) noexcept {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(d));
#else
  std::uint64_t u;
  std::memcpy(&u, &d, sizeof u);
  return u;
#endif
}

WEFT_HOST_DEVICE double f64_from_bits(std::uint64_t u) noexcept {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double d;
  std::memcpy(&d, &u, sizeof d);
  return d;
#endif
}

//! weft's canonical NaNs: sign clear, exponent and mantissa all ones.
inline constexpr std::uint32_t f32_canonical_nan_bits = 0x7FFFFFFFu;
inline constexpr std::uint64_t f64_canonical_nan_bits = 0x7FFFFFFFFFFFFFFFull;

WEFT_HOST_DEVICE constexpr bool f32_bits_is_nan(std::uint32_t u) noexcept {
  return (u & 0x7FFFFFFFu) > 0x7F800000u;
}
WEFT_HOST_DEVICE constexpr bool f64_bits_is_nan(std::uint64_t u) noexcept {
  return (u & 0x7FFFFFFFFFFFFFFFull) > 0x7FF0000000000000ull;
}

//! A binary floating-point storage format narrower than float.
//! `Ieee`: all-ones exponent holds inf (mantissa 0) and NaNs (IEEE 754 style);
//! otherwise (E4M3 "fn") the all-ones exponent holds normal numbers except
//! mantissa all ones, which is the only NaN, there is no inf, overflow saturates.
template <int ExpBits, int ManBits, bool Ieee>
struct fp_format {
  static constexpr int exp_bits = ExpBits;
  static constexpr int man_bits = ManBits;
  static constexpr int bias = (1 << (ExpBits - 1)) - 1;
  static constexpr bool has_inf = Ieee;
  static constexpr std::uint32_t sign_mask = 1u << (ExpBits + ManBits);
  static constexpr std::uint32_t abs_mask = sign_mask - 1u;
  static constexpr std::uint32_t man_mask = (1u << ManBits) - 1u;
  static constexpr std::uint32_t inf_bits = Ieee ? ((1u << ExpBits) - 1u) << ManBits : 0u;
  static constexpr std::uint32_t max_finite_bits = Ieee ? inf_bits - 1u : abs_mask - 1u;
  static constexpr std::uint32_t nan_bits = abs_mask; //!< canonical quiet NaN

  WEFT_HOST_DEVICE static constexpr bool is_nan(std::uint32_t b) noexcept {
    return Ieee ? (b & abs_mask) > inf_bits : (b & abs_mask) == abs_mask;
  }
};

using f16_format = fp_format<5, 10, true>;
using bf16_format = fp_format<8, 7, true>;
using e4m3_format = fp_format<4, 3, false>;
using e5m2_format = fp_format<5, 2, true>;

//! float bits -> narrow bits: round to nearest even, exact subnormals,
//! overflow to inf (Ieee) or saturation (E4M3), canonical NaN.
template <class Fmt>
WEFT_HOST_DEVICE constexpr std::uint32_t narrow_from_f32_bits(std::uint32_t f) noexcept {
  constexpr int man = Fmt::man_bits;
  constexpr int emin = 1 - Fmt::bias; // unbiased exponent of the smallest normal
  std::uint32_t const sign = (f >> 31) << (Fmt::exp_bits + man);
  std::uint32_t const a = f & 0x7FFFFFFFu;
  if (a > 0x7F800000u)
    return Fmt::nan_bits;
  if (a == 0x7F800000u)
    return sign | (Fmt::has_inf ? Fmt::inf_bits : Fmt::max_finite_bits);
  int const fe = static_cast<int>(a >> 23);
  std::uint32_t const sig = fe != 0 ? ((a & 0x7FFFFFu) | 0x800000u) : a; // value = sig * 2^(e - 23)
  int const e = fe != 0 ? fe - 127 : -126;
  int const te = e < emin ? emin : e; // exponent of the result's grid
  int const shift = 23 - man + (te - e);
  if (shift > 24)
    return sign; // below half the smallest subnormal: rounds to zero
  std::uint32_t q = sig >> shift;
  std::uint32_t const rem = sig & ((1u << shift) - 1u);
  std::uint32_t const half = 1u << (shift - 1);
  if (rem > half || (rem == half && (q & 1u) != 0u))
    ++q;
  // q carries the implicit bit (or is a subnormal mantissa); a carry out of the
  // mantissa moves into the exponent field by itself.
  std::uint32_t r = (static_cast<std::uint32_t>(te + Fmt::bias - 1) << man) + q;
  if (r > Fmt::max_finite_bits)
    r = Fmt::has_inf ? Fmt::inf_bits : Fmt::max_finite_bits;
  return sign | r;
}

//! narrow bits -> float bits: exact; NaN -> canonical float NaN.
template <class Fmt>
WEFT_HOST_DEVICE constexpr std::uint32_t narrow_to_f32_bits(std::uint32_t h) noexcept {
  constexpr int man = Fmt::man_bits;
  std::uint32_t const sign = (h & Fmt::sign_mask) != 0u ? 0x80000000u : 0u;
  std::uint32_t const a = h & Fmt::abs_mask;
  if (Fmt::is_nan(h))
    return f32_canonical_nan_bits;
  if (Fmt::has_inf && a == Fmt::inf_bits)
    return sign | 0x7F800000u;
  std::uint32_t const e = a >> man;
  std::uint32_t m = a & Fmt::man_mask;
  if (e == 0u) {
    if (m == 0u)
      return sign;
    if (Fmt::bias == 127)
      return sign | (m << (23 - man)); // bf16: float subnormal
    int ex = 1 - Fmt::bias;
    while ((m & (1u << man)) == 0u) {
      m <<= 1;
      --ex;
    }
    return sign | (static_cast<std::uint32_t>(ex + 127) << 23) | ((m & Fmt::man_mask) << (23 - man));
  }
  return sign | (static_cast<std::uint32_t>(static_cast<int>(e) - Fmt::bias + 127) << 23) | (m << (23 - man));
}

// Device paths convert unconditionally and select the canonical NaN afterwards:
// a branch around the conversion's inline asm costs more than the conversion, and
// reductions of narrow types run these once per element.
WEFT_HOST_DEVICE std::uint16_t f32_to_f16_bits(float f) noexcept {
#if defined(__CUDA_ARCH__)
  std::uint16_t const r = __half_as_ushort(__float2half_rn(f));
  return f32_bits_is_nan(__float_as_uint(f)) ? static_cast<std::uint16_t>(f16_format::nan_bits) : r;
#else
  return static_cast<std::uint16_t>(narrow_from_f32_bits<f16_format>(f32_to_bits(f)));
#endif
}

WEFT_HOST_DEVICE float f16_bits_to_f32(std::uint16_t h) noexcept {
#if defined(__CUDA_ARCH__)
  float const r = __half2float(__ushort_as_half(h));
  return f16_format::is_nan(h) ? __uint_as_float(f32_canonical_nan_bits) : r;
#else
  return f32_from_bits(narrow_to_f32_bits<f16_format>(h));
#endif
}

WEFT_HOST_DEVICE std::uint16_t f32_to_bf16_bits(float f) noexcept {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  std::uint16_t const r = __bfloat16_as_ushort(__float2bfloat16_rn(f));
  return f32_bits_is_nan(__float_as_uint(f)) ? static_cast<std::uint16_t>(bf16_format::nan_bits) : r;
#else
  return static_cast<std::uint16_t>(narrow_from_f32_bits<bf16_format>(f32_to_bits(f)));
#endif
}

WEFT_HOST_DEVICE float bf16_bits_to_f32(std::uint16_t h) noexcept {
  // bfloat16 is the top half of a float (same exponent, subnormals included), so
  // narrow_to_f32_bits<bf16_format> is a shift except for NaNs: written so, with
  // a select rather than its branches.
  return f32_from_bits(bf16_format::is_nan(h) ? f32_canonical_nan_bits : static_cast<std::uint32_t>(h) << 16);
}

WEFT_HOST_DEVICE std::uint8_t f32_to_e4m3_bits(float f) noexcept {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // cvt.rn.satfinite.e4m3x2.f32: RNE, +-inf and overflow -> +-448.
  if (f32_bits_is_nan(__float_as_uint(f)))
    return static_cast<std::uint8_t>(e4m3_format::nan_bits);
  return static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3));
#else
  return static_cast<std::uint8_t>(narrow_from_f32_bits<e4m3_format>(f32_to_bits(f)));
#endif
}

WEFT_HOST_DEVICE std::uint8_t f32_to_e5m2_bits(float f) noexcept {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  // The hardware only converts with satfinite; |x| >= 61440 (max 57344 plus half
  // an ulp, the tie rounds to the even "next" value) overflows to inf instead.
  std::uint32_t const u = __float_as_uint(f);
  if (f32_bits_is_nan(u))
    return static_cast<std::uint8_t>(e5m2_format::nan_bits);
  if ((u & 0x7FFFFFFFu) >= 0x47700000u)
    return static_cast<std::uint8_t>(((u >> 24) & 0x80u) | e5m2_format::inf_bits);
  return static_cast<std::uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E5M2));
#else
  return static_cast<std::uint8_t>(narrow_from_f32_bits<e5m2_format>(f32_to_bits(f)));
#endif
}

WEFT_HOST_DEVICE float e4m3_bits_to_f32(std::uint8_t h) noexcept {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  if (e4m3_format::is_nan(h))
    return __uint_as_float(f32_canonical_nan_bits);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(h, __NV_E4M3)));
#else
  return f32_from_bits(narrow_to_f32_bits<e4m3_format>(h));
#endif
}

WEFT_HOST_DEVICE float e5m2_bits_to_f32(std::uint8_t h) noexcept {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  if (e5m2_format::is_nan(h))
    return __uint_as_float(f32_canonical_nan_bits);
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(h, __NV_E5M2)));
#else
  return f32_from_bits(narrow_to_f32_bits<e5m2_format>(h));
#endif
}

struct from_bits_tag {};

template <class U>
using enable_if_double = std::enable_if_t<std::is_same<U, double>::value, int>;

} // namespace detail

// ---------------------------------------------------------------------------
// Narrow floating-point storage types
// ---------------------------------------------------------------------------
//
// Each is a trivially copyable struct holding the raw bits. The default
// constructor leaves the bits uninitialised (like `float`), so arrays of them
// can live in `__shared__` memory. Construction from `double` is deleted: it
// would round twice (double -> float -> narrow); convert to float first, on purpose.

//! IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Max 65504.
struct half_t {
  std::uint16_t bits;

  half_t() = default;
  //! Round to nearest even; overflow -> +-inf; NaN -> 0x7FFF.
  WEFT_HOST_DEVICE explicit half_t(float f) noexcept : bits(detail::f32_to_f16_bits(f)) {}
  template <class U, detail::enable_if_double<U> = 0>
  half_t(U) = delete;
  WEFT_HOST_DEVICE constexpr half_t(detail::from_bits_tag, std::uint16_t b) noexcept : bits(b) {}

  WEFT_HOST_DEVICE static constexpr half_t from_bits(std::uint16_t b) noexcept { return {detail::from_bits_tag{}, b}; }
  //! Exact; NaN -> canonical float NaN.
  WEFT_HOST_DEVICE float to_float() const noexcept { return detail::f16_bits_to_f32(bits); }
  WEFT_HOST_DEVICE explicit operator float() const noexcept { return to_float(); }
};

//! bfloat16: 1 sign, 8 exponent (bias 127), 7 mantissa bits; the top half of a float.
struct bfloat16_t {
  std::uint16_t bits;

  bfloat16_t() = default;
  //! Round to nearest even; overflow -> +-inf; NaN -> 0x7FFF.
  WEFT_HOST_DEVICE explicit bfloat16_t(float f) noexcept : bits(detail::f32_to_bf16_bits(f)) {}
  template <class U, detail::enable_if_double<U> = 0>
  bfloat16_t(U) = delete;
  WEFT_HOST_DEVICE constexpr bfloat16_t(detail::from_bits_tag, std::uint16_t b) noexcept : bits(b) {}

  WEFT_HOST_DEVICE static constexpr bfloat16_t from_bits(std::uint16_t b) noexcept {
    return {detail::from_bits_tag{}, b};
  }
  WEFT_HOST_DEVICE float to_float() const noexcept { return detail::bf16_bits_to_f32(bits); }
  WEFT_HOST_DEVICE explicit operator float() const noexcept { return to_float(); }
};

//! OCP / NVIDIA FP8 E4M3 ("e4m3fn"): 1 sign, 4 exponent (bias 7), 3 mantissa
//! bits. Max +-448, no infinity, NaN = S.1111.111 only.
struct float8_e4m3_t {
  std::uint8_t bits;

  float8_e4m3_t() = default;
  //! Round to nearest even; overflow and +-inf SATURATE to +-448; NaN -> 0x7F.
  WEFT_HOST_DEVICE explicit float8_e4m3_t(float f) noexcept : bits(detail::f32_to_e4m3_bits(f)) {}
  template <class U, detail::enable_if_double<U> = 0>
  float8_e4m3_t(U) = delete;
  WEFT_HOST_DEVICE constexpr float8_e4m3_t(detail::from_bits_tag, std::uint8_t b) noexcept : bits(b) {}

  WEFT_HOST_DEVICE static constexpr float8_e4m3_t from_bits(std::uint8_t b) noexcept {
    return {detail::from_bits_tag{}, b};
  }
  WEFT_HOST_DEVICE float to_float() const noexcept { return detail::e4m3_bits_to_f32(bits); }
  WEFT_HOST_DEVICE explicit operator float() const noexcept { return to_float(); }
};

//! OCP / NVIDIA FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits.
//! IEEE-like: max +-57344, +-inf = S.11111.00, NaN = S.11111.{01,10,11}.
struct float8_e5m2_t {
  std::uint8_t bits;

  float8_e5m2_t() = default;
  //! Round to nearest even; overflow -> +-inf; NaN -> 0x7F.
  WEFT_HOST_DEVICE explicit float8_e5m2_t(float f) noexcept : bits(detail::f32_to_e5m2_bits(f)) {}
  template <class U, detail::enable_if_double<U> = 0>
  float8_e5m2_t(U) = delete;
  WEFT_HOST_DEVICE constexpr float8_e5m2_t(detail::from_bits_tag, std::uint8_t b) noexcept : bits(b) {}

  WEFT_HOST_DEVICE static constexpr float8_e5m2_t from_bits(std::uint8_t b) noexcept {
    return {detail::from_bits_tag{}, b};
  }
  WEFT_HOST_DEVICE float to_float() const noexcept { return detail::e5m2_bits_to_f32(bits); }
  WEFT_HOST_DEVICE explicit operator float() const noexcept { return to_float(); }
};

static_assert(sizeof(half_t) == 2 && alignof(half_t) == 2 && std::is_trivially_copyable<half_t>::value, "");
static_assert(sizeof(bfloat16_t) == 2 && alignof(bfloat16_t) == 2 && std::is_trivially_copyable<bfloat16_t>::value, "");
static_assert(sizeof(float8_e4m3_t) == 1 && std::is_trivially_copyable<float8_e4m3_t>::value, "");
static_assert(sizeof(float8_e5m2_t) == 1 && std::is_trivially_copyable<float8_e5m2_t>::value, "");
static_assert(std::is_trivially_default_constructible<half_t>::value, "usable in __shared__ arrays");

// ---------------------------------------------------------------------------
// Runtime data type tag
// ---------------------------------------------------------------------------

//! Element type of a collective's buffers, known at run time.
enum class dtype : std::uint8_t { f64, f32, f16, bf16, f8e4m3, f8e5m2, i8, u8, i32, u32, i64, u64 };

//! Number of `dtype` enumerators; they are 0 .. dtype_count - 1.
inline constexpr int dtype_count = 12;

//! True for a named enumerator of `dtype`.
WEFT_HOST_DEVICE constexpr bool is_valid(dtype d) noexcept {
  return static_cast<int>(d) < dtype_count;
}

//! nccl-tests name of `d` ("float", "bfloat16", "fp8_e4m3", ...); never null.
WEFT_HOST_DEVICE constexpr char const* to_string(dtype d) noexcept {
  switch (d) {
  case dtype::f64:
    return "double";
  case dtype::f32:
    return "float";
  case dtype::f16:
    return "half";
  case dtype::bf16:
    return "bfloat16";
  case dtype::f8e4m3:
    return "fp8_e4m3";
  case dtype::f8e5m2:
    return "fp8_e5m2";
  case dtype::i8:
    return "int8";
  case dtype::u8:
    return "uint8";
  case dtype::i32:
    return "int32";
  case dtype::u32:
    return "uint32";
  case dtype::i64:
    return "int64";
  case dtype::u64:
    return "uint64";
  }
  return "unknown dtype";
}

//! Size in bytes of one element of `d` (0 for an invalid value).
WEFT_HOST_DEVICE constexpr std::size_t dtype_size(dtype d) noexcept {
  switch (d) {
  case dtype::f64:
  case dtype::i64:
  case dtype::u64:
    return 8;
  case dtype::f32:
  case dtype::i32:
  case dtype::u32:
    return 4;
  case dtype::f16:
  case dtype::bf16:
    return 2;
  case dtype::f8e4m3:
  case dtype::f8e5m2:
  case dtype::i8:
  case dtype::u8:
    return 1;
  }
  return 0;
}

//! True for the floating-point dtypes (f64, f32, f16, bf16, f8e4m3, f8e5m2).
WEFT_HOST_DEVICE constexpr bool is_floating(dtype d) noexcept {
  return d == dtype::f64 || d == dtype::f32 || d == dtype::f16 || d == dtype::bf16 || d == dtype::f8e4m3 ||
         d == dtype::f8e5m2;
}

namespace detail {
WEFT_HOST_DEVICE constexpr bool str_equal(char const* a, char const* b) noexcept {
  while (*a != '\0' && *a == *b) {
    ++a;
    ++b;
  }
  return *a == *b;
}
} // namespace detail

//! Parse a dtype name: the nccl-tests names returned by `to_string`, plus the
//! aliases f64 fp64 f32 fp32 f16 fp16 bf16 e4m3 f8e4m3 e5m2 f8e5m2 i8 u8 i32 int
//! u32 uint i64 u64 (case-sensitive). On success writes `out` and returns true;
//! otherwise returns false and leaves `out` unchanged.
WEFT_HOST_DEVICE constexpr bool parse_dtype(char const* name, dtype& out) noexcept {
  if (name == nullptr)
    return false;
  struct entry {
    char const* name;
    dtype d;
  };
  constexpr entry table[] = {
      {"double", dtype::f64},    {"f64", dtype::f64},       {"fp64", dtype::f64},        {"float", dtype::f32},
      {"f32", dtype::f32},       {"fp32", dtype::f32},      {"half", dtype::f16},        {"f16", dtype::f16},
      {"fp16", dtype::f16},      {"bfloat16", dtype::bf16}, {"bf16", dtype::bf16},       {"fp8_e4m3", dtype::f8e4m3},
      {"e4m3", dtype::f8e4m3},   {"f8e4m3", dtype::f8e4m3}, {"fp8_e5m2", dtype::f8e5m2}, {"e5m2", dtype::f8e5m2},
      {"f8e5m2", dtype::f8e5m2}, {"int8", dtype::i8},       {"i8", dtype::i8},           {"uint8", dtype::u8},
      {"u8", dtype::u8},         {"int32", dtype::i32},     {"i32", dtype::i32},         {"int", dtype::i32},
      {"uint32", dtype::u32},    {"u32", dtype::u32},       {"uint", dtype::u32},        {"int64", dtype::i64},
      {"i64", dtype::i64},       {"uint64", dtype::u64},    {"u64", dtype::u64},
  };
  for (entry const& e : table) {
    if (detail::str_equal(name, e.name)) {
      out = e.d;
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Traits
// ---------------------------------------------------------------------------

//! Carries a type as a value: `dispatch_dtype` calls `f(type_tag<T>{})`.
template <class T>
struct type_tag {
  using type = T;
};

namespace detail {
template <std::size_t Size, bool Signed>
struct int_dtype {}; // no `value`: 16-bit and odd-sized integers have no dtype
template <>
struct int_dtype<1, true> {
  static constexpr dtype value = dtype::i8;
};
template <>
struct int_dtype<1, false> {
  static constexpr dtype value = dtype::u8;
};
template <>
struct int_dtype<4, true> {
  static constexpr dtype value = dtype::i32;
};
template <>
struct int_dtype<4, false> {
  static constexpr dtype value = dtype::u32;
};
template <>
struct int_dtype<8, true> {
  static constexpr dtype value = dtype::i64;
};
template <>
struct int_dtype<8, false> {
  static constexpr dtype value = dtype::u64;
};

template <class T, bool = std::is_integral<T>::value && !std::is_same<T, bool>::value>
struct dtype_of_impl {};
template <class T>
struct dtype_of_impl<T, true> : int_dtype<sizeof(T), std::is_signed<T>::value> {};
template <>
struct dtype_of_impl<double, false> {
  static constexpr dtype value = dtype::f64;
};
template <>
struct dtype_of_impl<float, false> {
  static constexpr dtype value = dtype::f32;
};
template <>
struct dtype_of_impl<half_t, false> {
  static constexpr dtype value = dtype::f16;
};
template <>
struct dtype_of_impl<bfloat16_t, false> {
  static constexpr dtype value = dtype::bf16;
};
template <>
struct dtype_of_impl<float8_e4m3_t, false> {
  static constexpr dtype value = dtype::f8e4m3;
};
template <>
struct dtype_of_impl<float8_e5m2_t, false> {
  static constexpr dtype value = dtype::f8e5m2;
};

template <class T, class = void>
struct has_dtype : std::false_type {};
template <class T>
struct has_dtype<T, std::void_t<decltype(dtype_of_impl<T>::value)>> : std::true_type {};
} // namespace detail

//! `dtype_of<T>::value`: the dtype of element type T. Defined for double, float,
//! the four narrow types and every 8/32/64-bit integer type (by size and
//! signedness, so `long long` maps to i64 too); SFINAE-friendly otherwise.
template <class T>
struct dtype_of : detail::dtype_of_impl<std::remove_cv_t<T>> {};
template <class T>
inline constexpr dtype dtype_of_v = dtype_of<T>::value;

//! True when T is an element type weft reduces (`dtype_of<T>` has a value).
template <class T>
inline constexpr bool has_dtype_v = detail::has_dtype<std::remove_cv_t<T>>::value;

//! `type_of<D>::type`: the C++ element type of dtype D.
template <dtype D>
struct type_of;
template <>
struct type_of<dtype::f64> {
  using type = double;
};
template <>
struct type_of<dtype::f32> {
  using type = float;
};
template <>
struct type_of<dtype::f16> {
  using type = half_t;
};
template <>
struct type_of<dtype::bf16> {
  using type = bfloat16_t;
};
template <>
struct type_of<dtype::f8e4m3> {
  using type = float8_e4m3_t;
};
template <>
struct type_of<dtype::f8e5m2> {
  using type = float8_e5m2_t;
};
template <>
struct type_of<dtype::i8> {
  using type = std::int8_t;
};
template <>
struct type_of<dtype::u8> {
  using type = std::uint8_t;
};
template <>
struct type_of<dtype::i32> {
  using type = std::int32_t;
};
template <>
struct type_of<dtype::u32> {
  using type = std::uint32_t;
};
template <>
struct type_of<dtype::i64> {
  using type = std::int64_t;
};
template <>
struct type_of<dtype::u64> {
  using type = std::uint64_t;
};
template <dtype D>
using type_of_t = typename type_of<D>::type;

//! True for the narrow storage types half_t, bfloat16_t, float8_e4m3_t, float8_e5m2_t.
template <class T>
inline constexpr bool is_narrow_float_v =
    std::is_same<std::remove_cv_t<T>, half_t>::value || std::is_same<std::remove_cv_t<T>, bfloat16_t>::value ||
    std::is_same<std::remove_cv_t<T>, float8_e4m3_t>::value || std::is_same<std::remove_cv_t<T>, float8_e5m2_t>::value;

//! True for the floating-point element types: the four narrow types, float, double.
template <class T>
inline constexpr bool is_floating_v = is_narrow_float_v<T> || std::is_same<std::remove_cv_t<T>, float>::value ||
                                      std::is_same<std::remove_cv_t<T>, double>::value;

namespace detail {
template <class T>
struct acc_type_impl {
  static_assert(has_dtype_v<T>, "weft::acc_t<T>: T is not a weft element type");
  using type = std::conditional_t<is_narrow_float_v<T>, float, std::remove_cv_t<T>>;
};
} // namespace detail

//! Accumulation type of element type T: float for the narrow types and float,
//! double for double, T itself for integers (which wrap modulo 2^bits).
template <class T>
using acc_t = typename detail::acc_type_impl<T>::type;

//! Widen an element to its accumulation type (exact).
template <class T>
WEFT_HOST_DEVICE constexpr acc_t<T> to_acc(T x) noexcept {
  if constexpr (is_narrow_float_v<T>) {
    return x.to_float();
  } else {
    return x;
  }
}

//! Narrow an accumulator back to the element type (round to nearest even with
//! the overflow rules above for narrow types; identity otherwise).
template <class T>
WEFT_HOST_DEVICE constexpr T from_acc(acc_t<T> x) noexcept {
  if constexpr (is_narrow_float_v<T>) {
    return T(x);
  } else {
    return x;
  }
}

//! Call `f(type_tag<T>{})` with T = `type_of_t<d>` and return its result. Every
//! instantiation of `f` must return the same type. `d` must be valid
//! (`is_valid(d)`); an invalid value asserts (WEFT_ENABLE_ASSERTIONS) and is
//! otherwise treated as u64.
WEFT_DETAIL_EXEC_CHECK_DISABLE
template <class F>
WEFT_HOST_DEVICE constexpr decltype(auto) dispatch_dtype(dtype d, F&& f) {
  switch (d) {
  case dtype::f64:
    return static_cast<F&&>(f)(type_tag<double>{});
  case dtype::f32:
    return static_cast<F&&>(f)(type_tag<float>{});
  case dtype::f16:
    return static_cast<F&&>(f)(type_tag<half_t>{});
  case dtype::bf16:
    return static_cast<F&&>(f)(type_tag<bfloat16_t>{});
  case dtype::f8e4m3:
    return static_cast<F&&>(f)(type_tag<float8_e4m3_t>{});
  case dtype::f8e5m2:
    return static_cast<F&&>(f)(type_tag<float8_e5m2_t>{});
  case dtype::i8:
    return static_cast<F&&>(f)(type_tag<std::int8_t>{});
  case dtype::u8:
    return static_cast<F&&>(f)(type_tag<std::uint8_t>{});
  case dtype::i32:
    return static_cast<F&&>(f)(type_tag<std::int32_t>{});
  case dtype::u32:
    return static_cast<F&&>(f)(type_tag<std::uint32_t>{});
  case dtype::i64:
    return static_cast<F&&>(f)(type_tag<std::int64_t>{});
  case dtype::u64:
    break;
  }
  WEFT_ASSERT(d == dtype::u64 && "dispatch_dtype: invalid dtype");
  return static_cast<F&&>(f)(type_tag<std::uint64_t>{});
}

} // namespace weft
