#pragma once
//! \file
//! Reduction operators (`weft::op::sum<T>`, ...), the runtime tag `redop`, the
//! runtime descriptor `redop_desc` and `dispatch_redop`.
//!
//! An operator works on the accumulation type `acc_t<T>` (float for the narrow
//! types and float, double for double, T for integers). A reduction of the
//! inputs x_0 .. x_{n-1} of n ranks computes
//!
//!     from_acc<T>(op.post(op(op(op.pre(to_acc(x_0)), op.pre(to_acc(x_1))), ...)))
//!
//! `pre` is applied exactly once to each rank's own input element, `post`
//! exactly once to the final result. Integer arithmetic wraps modulo 2^bits
//! (computed in the unsigned type: no signed-overflow UB). min/max propagate
//! NaN (unlike fminf/fmaxf), treat +-inf as ordinary values, and order signed
//! zeros (-0 < +0), so their result is bit-identical for either operand order.
//! See docs/types-and-ops.md.

#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>

#include <cstdint>
#include <type_traits>

namespace weft {

//! Reduction operator, known at run time.
enum class redop : std::uint8_t { sum, prod, min, max, avg, premul_sum };

//! Number of `redop` enumerators; they are 0 .. redop_count - 1.
inline constexpr int redop_count = 6;

//! True for a named enumerator of `redop`.
WEFT_HOST_DEVICE constexpr bool is_valid(redop r) noexcept {
  return static_cast<int>(r) < redop_count;
}

//! nccl-tests name of `r`: "sum", "prod", "min", "max", "avg", "mulsum" (the
//! `redop` column of nccl-tests prints premul_sum as "mulsum"); never null.
WEFT_HOST_DEVICE constexpr char const* to_string(redop r) noexcept {
  switch (r) {
  case redop::sum:
    return "sum";
  case redop::prod:
    return "prod";
  case redop::min:
    return "min";
  case redop::max:
    return "max";
  case redop::avg:
    return "avg";
  case redop::premul_sum:
    return "mulsum";
  }
  return "unknown redop";
}

//! Parse a redop name: "sum", "prod", "min", "max", "avg", and "mulsum",
//! "premulsum" or "premul_sum" for premul_sum (case-sensitive). On success
//! writes `out` and returns true; otherwise returns false and leaves `out` unchanged.
WEFT_HOST_DEVICE constexpr bool parse_redop(char const* name, redop& out) noexcept {
  if (name == nullptr)
    return false;
  struct entry {
    char const* name;
    redop r;
  };
  constexpr entry table[] = {
      {"sum", redop::sum},
      {"prod", redop::prod},
      {"min", redop::min},
      {"max", redop::max},
      {"avg", redop::avg},
      {"mulsum", redop::premul_sum},
      {"premulsum", redop::premul_sum},
      {"premul_sum", redop::premul_sum},
  };
  for (entry const& e : table) {
    if (detail::str_equal(name, e.name)) {
      out = e.r;
      return true;
    }
  }
  return false;
}

namespace detail {

//! Unsigned type the wrap-around arithmetic of integer T is done in: T's own
//! unsigned type, but at least `unsigned` so that promotion never yields `int`
//! (uint16 * uint16 in `int` could overflow).
template <class T>
using wrap_unsigned_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

template <class A>
WEFT_HOST_DEVICE constexpr A acc_add(A a, A b) noexcept {
  if constexpr (std::is_integral<A>::value) {
    using W = wrap_unsigned_t<A>;
    return static_cast<A>(static_cast<W>(static_cast<W>(a) + static_cast<W>(b)));
  } else {
    return a + b;
  }
}

template <class A>
WEFT_HOST_DEVICE constexpr A acc_mul(A a, A b) noexcept {
  if constexpr (std::is_integral<A>::value) {
    using W = wrap_unsigned_t<A>;
    return static_cast<A>(static_cast<W>(static_cast<W>(a) * static_cast<W>(b)));
  } else {
    return a * b;
  }
}

// NaN-propagating, signed-zero-ordered max/min. The NaN tests read the bits, so
// they survive -ffast-math; a NaN result is the canonical NaN, whichever
// operand (and payload) came in.
WEFT_HOST_DEVICE float acc_max(float a, float b) noexcept {
  std::uint32_t const ua = f32_to_bits(a);
  std::uint32_t const ub = f32_to_bits(b);
  if (f32_bits_is_nan(ua) || f32_bits_is_nan(ub))
    return f32_from_bits(f32_canonical_nan_bits);
  if (a > b)
    return a;
  if (b > a)
    return b;
  return (ua >> 31) != 0u ? b : a; // equal: only +0 / -0 differ in bits; max is +0 if either is
}
WEFT_HOST_DEVICE float acc_min(float a, float b) noexcept {
  std::uint32_t const ua = f32_to_bits(a);
  std::uint32_t const ub = f32_to_bits(b);
  if (f32_bits_is_nan(ua) || f32_bits_is_nan(ub))
    return f32_from_bits(f32_canonical_nan_bits);
  if (a < b)
    return a;
  if (b < a)
    return b;
  return (ua >> 31) != 0u ? a : b; // min is -0 if either is
}
WEFT_HOST_DEVICE double acc_max(double a, double b) noexcept {
  std::uint64_t const ua = f64_to_bits(a);
  std::uint64_t const ub = f64_to_bits(b);
  if (f64_bits_is_nan(ua) || f64_bits_is_nan(ub))
    return f64_from_bits(f64_canonical_nan_bits);
  if (a > b)
    return a;
  if (b > a)
    return b;
  return (ua >> 63) != 0u ? b : a;
}
WEFT_HOST_DEVICE double acc_min(double a, double b) noexcept {
  std::uint64_t const ua = f64_to_bits(a);
  std::uint64_t const ub = f64_to_bits(b);
  if (f64_bits_is_nan(ua) || f64_bits_is_nan(ub))
    return f64_from_bits(f64_canonical_nan_bits);
  if (a < b)
    return a;
  if (b < a)
    return b;
  return (ua >> 63) != 0u ? a : b;
}
template <class A, std::enable_if_t<std::is_integral<A>::value, int> = 0>
WEFT_HOST_DEVICE constexpr A acc_max(A a, A b) noexcept {
  return a < b ? b : a;
}
template <class A, std::enable_if_t<std::is_integral<A>::value, int> = 0>
WEFT_HOST_DEVICE constexpr A acc_min(A a, A b) noexcept {
  return b < a ? b : a;
}

//! x / n: C++ truncating division for integers (n > 0), one IEEE division otherwise.
template <class A>
WEFT_HOST_DEVICE constexpr A acc_div(A x, int n) noexcept {
  WEFT_ASSERT(n > 0);
  if constexpr (std::is_integral<A>::value && std::is_signed<A>::value) {
    return static_cast<A>(static_cast<std::int64_t>(x) / static_cast<std::int64_t>(n));
  } else if constexpr (std::is_integral<A>::value) {
    return static_cast<A>(static_cast<std::uint64_t>(x) / static_cast<std::uint64_t>(n));
  } else {
    return x / static_cast<A>(n);
  }
}

//! premul_sum's double scalar as an accumulator value of element type T.
//! Floating: rounded to nearest (to +-inf beyond float's range when the
//! accumulator is float). Integer: truncated toward zero, then reduced modulo
//! 2^bits (so -1 scales a uint8 by 255); NaN or |s| >= 2^64 give 0 (`validate`
//! rejects those).
template <class T>
WEFT_HOST_DEVICE acc_t<T> scalar_to_acc(double s) noexcept {
  using A = acc_t<T>;
  if constexpr (std::is_integral<A>::value) {
    double const m = s < 0 ? -s : s;
    if (!(m < 18446744073709551616.0))
      return A(0); // NaN or out of range
    std::uint64_t u = static_cast<std::uint64_t>(m);
    if (s < 0)
      u = 0u - u;
    return static_cast<A>(static_cast<std::make_unsigned_t<A>>(u));
  } else if constexpr (std::is_same<A, float>::value) {
    // Beyond FLT_MAX + half an ulp the conversion rounds to inf; say so
    // explicitly (a double -> float cast out of range is undefined behaviour).
    if (s >= 0x1.ffffffp127)
      return f32_from_bits(0x7F800000u);
    if (s <= -0x1.ffffffp127)
      return f32_from_bits(0xFF800000u);
    return static_cast<float>(s);
  } else {
    return s;
  }
}

} // namespace detail

namespace op {

//! a + b (integers wrap modulo 2^bits).
template <class T>
struct sum {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::sum;
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return x; }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_add(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return x; }
};

//! a * b (integers wrap modulo 2^bits).
template <class T>
struct prod {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::prod;
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return x; }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_mul(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return x; }
};

//! Smaller operand; NaN if either is NaN; min(-0, +0) = -0 in either order.
template <class T>
struct min {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::min;
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return x; }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_min(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return x; }
};

//! Larger operand; NaN if either is NaN; max(-0, +0) = +0 in either order.
template <class T>
struct max {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::max;
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return x; }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_max(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return x; }
};

//! Sum, then one division of the result by `nranks` (> 0): an IEEE division in
//! the accumulation type for floating types; for integers C++ truncating
//! division (toward zero) of the wrapped sum.
template <class T>
struct avg {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::avg;
  int nranks = 1;
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return x; }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_add(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return detail::acc_div(x, nranks); }
};

//! Sum of scale * x_r: each rank's input is multiplied by `scale` (in the
//! accumulation type, wrapping for integers) before it is summed.
template <class T>
struct premul_sum {
  using value_type = T;
  using acc_type = acc_t<T>;
  static constexpr redop kind = redop::premul_sum;
  acc_type scale = acc_type(1);
  WEFT_HOST_DEVICE constexpr acc_type pre(acc_type x) const noexcept { return detail::acc_mul(x, scale); }
  WEFT_HOST_DEVICE constexpr acc_type operator()(acc_type a, acc_type b) const noexcept {
    return detail::acc_add(a, b);
  }
  WEFT_HOST_DEVICE constexpr acc_type post(acc_type x) const noexcept { return x; }
};

} // namespace op

//! A reduction operator chosen at run time: `scalar` is premul_sum's factor,
//! `nranks` avg's divisor; each is ignored by the other operators.
struct redop_desc {
  redop op = redop::sum;
  double scalar = 1.0;
  int nranks = 1;
};

//! Whether `r` can reduce elements of type `d`: both enumerators valid; for avg
//! nranks >= 1; for premul_sum on an integer type an integral scalar with
//! |scalar| < 2^64. Returns `status::invalid_argument` otherwise.
WEFT_HOST_DEVICE constexpr status validate(redop_desc const& r, dtype d) noexcept {
  if (!is_valid(d) || !is_valid(r.op))
    return status::invalid_argument;
  if (r.op == redop::avg && r.nranks < 1)
    return status::invalid_argument;
  if (r.op == redop::premul_sum && !is_floating(d)) {
    double const s = r.scalar;
    double const m = s < 0 ? -s : s;
    if (!(m < 18446744073709551616.0))
      return status::invalid_argument; // NaN, inf, too large
    // Doubles of magnitude >= 2^52 are all integers.
    if (m < 4503599627370496.0 && static_cast<double>(static_cast<std::int64_t>(s)) != s) {
      return status::invalid_argument;
    }
  }
  return status::success;
}

//! Call `f(op)` with the operator object for element type T that `r` names
//! (`op::avg<T>{r.nranks}`, `op::premul_sum<T>{scalar_as_acc}`, ...) and return
//! its result; every instantiation of `f` must return the same type. `r.op` must
//! be valid; an invalid value asserts (WEFT_ENABLE_ASSERTIONS) and is otherwise
//! treated as premul_sum.
WEFT_DETAIL_EXEC_CHECK_DISABLE
template <class T, class F>
WEFT_HOST_DEVICE constexpr decltype(auto) dispatch_redop(redop_desc const& r, F&& f) {
  switch (r.op) {
  case redop::sum:
    return static_cast<F&&>(f)(op::sum<T>{});
  case redop::prod:
    return static_cast<F&&>(f)(op::prod<T>{});
  case redop::min:
    return static_cast<F&&>(f)(op::min<T>{});
  case redop::max:
    return static_cast<F&&>(f)(op::max<T>{});
  case redop::avg:
    return static_cast<F&&>(f)(op::avg<T>{r.nranks});
  case redop::premul_sum:
    break;
  }
  WEFT_ASSERT(r.op == redop::premul_sum && "dispatch_redop: invalid redop");
  return static_cast<F&&>(f)(op::premul_sum<T>{detail::scalar_to_acc<T>(r.scalar)});
}

} // namespace weft
