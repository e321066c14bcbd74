#pragma once
// Input patterns and the host reference of weft-bench's check.
//
// Every input element is a function of (seed, rank, index), so any rank (or a
// GPU backend's host side, later) can regenerate any other rank's input
// without storing it. Values are never zero. The reference is computed in
// double for floating types and in the type's own wrap-around arithmetic for
// integers (so integer results are compared exactly).
//
// Floating inputs are small multiples of powers of two, so sums, products and
// min/max are exact in float and double; the narrow types round where partial
// results leave their precision, which the tolerance covers:
//   sum, avg, mulsum: |got - ref| <= (n + 1) * u(T) * sum |x_r|  (divided by n for avg)
//   prod:             |got - ref| <= (n + 1) * u(T) * |ref|
//   min, max:         exact
// where u(T) = eps(T) / 2 is T's unit roundoff (eps = 2^-mantissa bits) and n the
// rank count. Any order of combining n inputs (a ring, a chain, recursive
// doubling) rounds at most n - 1 partial results to T, plus the final result,
// each by at most u(T) times a magnitude <= sum |x_r|.
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace weft_bench {

//! premul_sum's scalar in the check: 0.5 for floating types (exact), 3 for integers.
inline double mulsum_scalar(weft::dtype d) { return weft::is_floating(d) ? 0.5 : 3.0; }

namespace detail {

inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline std::uint64_t element_hash(std::uint64_t seed, int rank, std::size_t index) {
  return mix64(seed ^ mix64(std::uint64_t(rank) * 0xD1B54A32D192ED03ull + std::uint64_t(index)));
}

template <class T>
struct float_info;
template <>
struct float_info<double> {
  static constexpr double eps = 0x1p-52, max = 1.7e308;
  static constexpr int pow2_limit = 1000; // 2^k and 2^-k exact for |k| <= this
};
template <>
struct float_info<float> {
  static constexpr double eps = 0x1p-23, max = 3.4e38;
  static constexpr int pow2_limit = 126;
};
template <>
struct float_info<weft::half_t> {
  static constexpr double eps = 0x1p-10, max = 65504.0;
  static constexpr int pow2_limit = 15;
};
template <>
struct float_info<weft::bfloat16_t> {
  static constexpr double eps = 0x1p-7, max = 3.38e38;
  static constexpr int pow2_limit = 126;
};
template <>
struct float_info<weft::float8_e4m3_t> {
  static constexpr double eps = 0x1p-3, max = 448.0;
  static constexpr int pow2_limit = 8;
};
template <>
struct float_info<weft::float8_e5m2_t> {
  static constexpr double eps = 0x1p-2, max = 57344.0;
  static constexpr int pow2_limit = 15;
};

template <class T>
double to_double(T x) {
  return double(weft::to_acc(x));
}

template <class T>
T from_double(double v) { // only for values exact in T
  if constexpr (weft::is_narrow_float_v<T>)
    return T(float(v));
  else
    return T(v);
}

} // namespace detail

//! Input element `index` of rank `rank`: nonzero, exact in T, chosen so that
//! `op` over `nranks` ranks stays in T's range.
template <class T>
T input_value(std::uint64_t seed, int rank, std::size_t index, weft::redop op, int nranks) {
  std::uint64_t const h = detail::element_hash(seed, rank, index);
  if constexpr (std::is_integral<T>::value) {
    T v = T(h); // all bits random: exercises wrap-around
    return v == T(0) ? T(1) : v;
  } else {
    using info = detail::float_info<T>;
    double const sign = (h >> 63) ? -1.0 : 1.0;
    double mag;
    if (op == weft::redop::prod) {
      // {1, 1, 2, 1/2}: products are powers of two, exact while |exponent| <= n stays in range.
      static constexpr double choices[4] = {1.0, 1.0, 2.0, 0.5};
      mag = nranks <= info::pow2_limit ? choices[(h >> 8) & 3u] : 1.0;
    } else if constexpr (weft::is_narrow_float_v<T>) {
      // 1..m, with m small enough that n * m stays well inside T's range.
      double const cap = std::floor(info::max / (4.0 * double(nranks)));
      std::uint64_t const m = cap >= 8.0 ? 8u : (cap >= 1.0 ? std::uint64_t(cap) : 1u);
      mag = double(1u + (h >> 8) % m);
    } else {
      mag = double(1u + (h >> 8) % 255u) / 8.0;
    }
    return detail::from_double<T>(sign * mag);
  }
}

//! A value that no correct output of these inputs has in the same place: used to
//! prefill outputs, so that an element the collective never writes is counted.
template <class T>
T poison_value(std::uint64_t seed, std::size_t index) {
  std::uint64_t const h = detail::element_hash(seed ^ 0x5EED5EED5EED5EEDull, -1, index);
  if constexpr (std::is_integral<T>::value) {
    return T(h);
  } else {
    // Odd multiples of 1/64 (floats) never equal the reference's values; for the
    // narrow types any value serves, since an untouched element is still wrong with
    // high probability. Never NaN, so a comparison is meaningful.
    return detail::from_double<T>(double(int((h >> 8) % 200u) - 100) + 0.015625);
  }
}

//! The expected value and tolerance of one element of a reduction.
struct expected_value {
  double value = 0;    // floating types
  double tol = 0;      // floating types
  std::uint64_t bits = 0; // integer types: the exact result, in T's width
};

//! Reference of element `index` of the reduction of every rank's input.
template <class T>
expected_value reduce_reference(std::uint64_t seed, std::size_t index, int nranks, weft::redop op, double scalar) {
  expected_value e;
  if constexpr (std::is_integral<T>::value) {
    using U = std::make_unsigned_t<T>;
    std::uint64_t acc = 0;
    T best = T(0);
    std::uint64_t const s = std::uint64_t(std::int64_t(scalar));
    for (int r = 0; r < nranks; ++r) {
      T const x = input_value<T>(seed, r, index, op, nranks);
      std::uint64_t const ux = std::uint64_t(x); // sign-extends: equal mod 2^bits
      switch (op) {
        case weft::redop::sum:
        case weft::redop::avg: acc += ux; break;
        case weft::redop::prod: acc = r == 0 ? ux : acc * ux; break;
        case weft::redop::premul_sum: acc += ux * s; break;
        case weft::redop::min: best = (r == 0 || x < best) ? x : best; break;
        case weft::redop::max: best = (r == 0 || x > best) ? x : best; break;
      }
    }
    T result;
    if (op == weft::redop::min || op == weft::redop::max) {
      result = best;
    } else {
      result = T(U(acc)); // wrap to T's width
      if (op == weft::redop::avg) {
        if constexpr (std::is_signed<T>::value)
          result = T(std::int64_t(result) / std::int64_t(nranks));
        else
          result = T(std::uint64_t(result) / std::uint64_t(nranks));
      }
    }
    e.bits = std::uint64_t(U(result));
  } else {
    using info = detail::float_info<T>;
    double acc = 0, mag = 0;
    for (int r = 0; r < nranks; ++r) {
      double const x = detail::to_double(input_value<T>(seed, r, index, op, nranks));
      switch (op) {
        case weft::redop::sum:
        case weft::redop::avg:
          acc += x;
          mag += std::fabs(x);
          break;
        case weft::redop::premul_sum:
          acc += x * scalar;
          mag += std::fabs(x * scalar);
          break;
        case weft::redop::prod: acc = r == 0 ? x : acc * x; break;
        case weft::redop::min: acc = (r == 0 || x < acc) ? x : acc; break;
        case weft::redop::max: acc = (r == 0 || x > acc) ? x : acc; break;
      }
    }
    if (op == weft::redop::avg) {
      acc /= double(nranks);
      mag /= double(nranks);
    }
    double const k = double(nranks + 1) * (info::eps / 2);
    e.value = acc;
    e.tol = (op == weft::redop::min || op == weft::redop::max) ? 0.0
            : op == weft::redop::prod                          ? k * std::fabs(acc)
                                                               : k * mag;
  }
  return e;
}

//! True when `got` matches the reference `e`.
template <class T>
bool matches(T got, expected_value const& e) {
  if constexpr (std::is_integral<T>::value) {
    return std::uint64_t(std::make_unsigned_t<T>(got)) == e.bits;
  } else {
    double const g = detail::to_double(got);
    return std::fabs(g - e.value) <= e.tol; // false for NaN
  }
}

//! True when `got` is bit for bit `want` (copies: all-gather, broadcast, untouched inputs).
template <class T>
bool same_bits(T got, T want) {
  return std::memcmp(&got, &want, sizeof(T)) == 0;
}

//! An element changed so that it can never pass the check (--inject-error).
template <class T>
T corrupt(T x) {
  if constexpr (std::is_integral<T>::value) {
    return T(x ^ T(0x5A));
  } else if constexpr (std::is_same<T, float>::value || std::is_same<T, double>::value) {
    return std::numeric_limits<T>::quiet_NaN();
  } else if constexpr (sizeof(T) == 2) {
    return T::from_bits(0x7FFF);
  } else {
    return T::from_bits(0x7F);
  }
}

} // namespace weft_bench
