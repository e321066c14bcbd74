// Reduction operators: every op x every element type against a reference
// computed in higher precision (long double) or, for integers, exactly in
// uint64 with an explicit mask; min/max NaN, infinity and signed-zero rules;
// redop names; validate; dispatch_redop.
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

using weft::redop;

using all_types = std::tuple<double, float, weft::half_t, weft::bfloat16_t, weft::float8_e4m3_t, weft::float8_e5m2_t,
                             std::int8_t, std::uint8_t, std::int32_t, std::uint32_t, std::int64_t, std::uint64_t>;

constexpr redop all_redops[] = {redop::sum, redop::prod, redop::min, redop::max, redop::avg, redop::premul_sum};

template <class T>
constexpr bool is_int = std::is_integral<T>::value;

// Precision facts for the tolerance, typed in (not taken from the header).
template <class T>
struct precision {
  static constexpr long double unit_roundoff = 0; // relative rounding error of one rounding to T
  static constexpr long double min_subnormal = 0;
};
template <>
struct precision<double> {
  static constexpr long double unit_roundoff = 0x1p-53L, min_subnormal = 0x1p-1074L;
};
template <>
struct precision<float> {
  static constexpr long double unit_roundoff = 0x1p-24L, min_subnormal = 0x1p-149L;
};
template <>
struct precision<weft::half_t> {
  static constexpr long double unit_roundoff = 0x1p-11L, min_subnormal = 0x1p-24L;
};
template <>
struct precision<weft::bfloat16_t> {
  static constexpr long double unit_roundoff = 0x1p-8L, min_subnormal = 0x1p-133L;
};
template <>
struct precision<weft::float8_e4m3_t> {
  static constexpr long double unit_roundoff = 0x1p-4L, min_subnormal = 0x1p-9L;
};
template <>
struct precision<weft::float8_e5m2_t> {
  static constexpr long double unit_roundoff = 0x1p-3L, min_subnormal = 0x1p-16L;
};

template <class T>
long double value_of(T x) {
  if constexpr (weft::is_narrow_float_v<T>)
    return static_cast<long double>(x.to_float());
  else
    return static_cast<long double>(x);
}

template <class T>
std::uint64_t raw_bits(T x) {
  std::uint64_t u = 0;
  std::memcpy(&u, &x, sizeof x);
  return u;
}

// A random element of T, never zero. Floating values are drawn as a double in
// +-[lo, hi] and rounded to T, so they are representable.
template <class T>
T random_element(std::mt19937_64& rng, double lo, double hi) {
  if constexpr (is_int<T>) {
    for (;;) {
      T const x = static_cast<T>(rng());
      if (x != T(0))
        return x;
    }
  } else {
    std::uniform_real_distribution<double> mag(lo, hi);
    for (;;) {
      double const v = (rng() & 1u) != 0u ? -mag(rng) : mag(rng);
      T x;
      if constexpr (weft::is_narrow_float_v<T>)
        x = T(static_cast<float>(v));
      else
        x = static_cast<T>(v);
      if (value_of(x) != 0)
        return x;
    }
  }
}

// Largest value the reduction may reach without overflow, per type.
template <class T>
double safe_range() {
  if constexpr (std::is_same<T, weft::float8_e4m3_t>::value)
    return 16; // 8 ranks * 16 * 2 < 448
  else if constexpr (std::is_same<T, weft::float8_e5m2_t>::value)
    return 512;
  else
    return 1000;
}

// ---- integer reference: uint64 arithmetic and an explicit mask ----
template <class T>
constexpr std::uint64_t mask_of() {
  return sizeof(T) == 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * sizeof(T))) - 1u;
}
template <class T>
std::uint64_t wrap_bits(T x) {
  return static_cast<std::uint64_t>(x) & mask_of<T>(); // for signed: sign-extended, then masked
}
template <class T>
std::int64_t sign_extended(std::uint64_t m) { // m holds sizeof(T)*8 bits
  if (std::is_signed<T>::value && ((m >> (8 * sizeof(T) - 1)) & 1u) != 0u) {
    return static_cast<std::int64_t>(m | ~mask_of<T>());
  }
  return static_cast<std::int64_t>(m);
}
template <class T>
T from_masked(std::uint64_t m) {
  if constexpr (std::is_signed<T>::value)
    return static_cast<T>(sign_extended<T>(m));
  else
    return static_cast<T>(m);
}

template <class T>
T integer_reference(redop r, std::vector<T> const& x, std::int64_t scale) {
  std::uint64_t const mask = mask_of<T>();
  std::uint64_t acc = 0;
  switch (r) {
  case redop::sum:
  case redop::avg:
    for (T v : x)
      acc = (acc + wrap_bits(v)) & mask;
    break;
  case redop::prod:
    acc = 1;
    for (T v : x)
      acc = (acc * wrap_bits(v)) & mask;
    break;
  case redop::premul_sum: {
    std::uint64_t const s = static_cast<std::uint64_t>(scale) & mask;
    for (T v : x)
      acc = (acc + ((wrap_bits(v) * s) & mask)) & mask;
    break;
  }
  case redop::min:
  case redop::max: {
    T best = x[0];
    for (T v : x) {
      bool const less = std::is_signed<T>::value ? static_cast<std::int64_t>(v) < static_cast<std::int64_t>(best)
                                                 : static_cast<std::uint64_t>(v) < static_cast<std::uint64_t>(best);
      bool const greater = std::is_signed<T>::value ? static_cast<std::int64_t>(v) > static_cast<std::int64_t>(best)
                                                    : static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(best);
      if ((r == redop::min && less) || (r == redop::max && greater))
        best = v;
    }
    return best;
  }
  }
  if (r == redop::avg) {
    auto const n = static_cast<std::int64_t>(x.size());
    if (std::is_signed<T>::value)
      return static_cast<T>(sign_extended<T>(acc) / n); // truncates toward zero
    return static_cast<T>(acc / static_cast<std::uint64_t>(n));
  }
  return from_masked<T>(acc);
}

// ---- the operator under test, applied as a collective would ----
template <class T, class Op>
T reduce_with(Op const& op, std::vector<T> const& x) {
  using A = typename Op::acc_type;
  static_assert(std::is_same<A, weft::acc_t<T>>::value && std::is_same<typename Op::value_type, T>::value, "");
  A acc = op.pre(weft::to_acc(x[0]));
  for (std::size_t r = 1; r < x.size(); ++r)
    acc = op(acc, op.pre(weft::to_acc(x[r])));
  return weft::from_acc<T>(op.post(acc));
}

template <class T>
T reduce_runtime(weft::redop_desc const& d, std::vector<T> const& x) {
  return weft::dispatch_redop<T>(d, [&](auto const& op) { return reduce_with<T>(op, x); });
}

// For float accumulators: the same steps with each operation done in double and
// rounded to float. One double operation on floats rounded to float is the
// correctly rounded float operation (53 >= 2 * 24 + 2), so this must match bit for bit.
template <class T>
T float_stepwise_reference(redop r, std::vector<T> const& x, float scale) {
  auto step = [](double v) { return static_cast<float>(v); };
  auto pre = [&](float v) { return r == redop::premul_sum ? step(static_cast<double>(v) * scale) : v; };
  float acc = pre(weft::to_acc(x[0]));
  for (std::size_t i = 1; i < x.size(); ++i) {
    float const v = pre(weft::to_acc(x[i]));
    if (r == redop::prod)
      acc = step(static_cast<double>(acc) * v);
    else if (r == redop::min)
      acc = v < acc ? v : acc;
    else if (r == redop::max)
      acc = v > acc ? v : acc;
    else
      acc = step(static_cast<double>(acc) + v);
  }
  if (r == redop::avg)
    acc = step(static_cast<double>(acc) / static_cast<double>(x.size()));
  return weft::from_acc<T>(acc);
}

} // namespace

TEMPLATE_LIST_TEST_CASE("every redop on every type matches a higher-precision reference", "[types][ops]", all_types) {
  using T = TestType;
  using A = weft::acc_t<T>;
  std::uint64_t const seed = 0xC0FFEEu + sizeof(T) * 7u + (weft::is_floating_v<T> ? 1u : 0u) +
                             static_cast<unsigned>(weft::dtype_of_v<T>) * 1000u;
  INFO("type " << weft::to_string(weft::dtype_of_v<T>) << ", seed " << seed);
  std::mt19937_64 rng(seed);
  constexpr int elements = 3000;

  for (redop r : all_redops) {
    for (int nranks : {1, 2, 3, 5, 8}) {
      INFO("redop " << weft::to_string(r) << ", nranks " << nranks);
      // premul_sum's scalar: small non-zero integers for integer types, k/8 for floating ones.
      std::int64_t const iscale = static_cast<std::int64_t>(rng() % 7u) + 1;
      double const scalar = is_int<T> ? static_cast<double>((rng() & 1u) != 0u ? -iscale : iscale)
                                      : static_cast<double>(static_cast<std::int64_t>(rng() % 15u) - 7) / 8.0 + 0.0625;
      weft::redop_desc const desc{r, scalar, nranks};
      REQUIRE(weft::validate(desc, weft::dtype_of_v<T>) == weft::status::success);

      long double const u_out = precision<T>::unit_roundoff;
      long double const u_acc = std::is_same<A, double>::value ? 0x1p-53L : is_int<T> ? 0.0L : 0x1p-24L;
      int bad = 0;
      std::string first;
      std::vector<T> x(static_cast<std::size_t>(nranks));
      for (int e = 0; e < elements; ++e) {
        for (T& v : x) {
          v = r == redop::prod ? random_element<T>(rng, 0.5, 2.0) : random_element<T>(rng, 1.0 / 64, safe_range<T>());
        }
        T const got = reduce_runtime<T>(desc, x);
        bool ok = true;
        long double want = 0;
        if constexpr (is_int<T>) {
          T const w = integer_reference<T>(r, x, static_cast<std::int64_t>(scalar));
          ok = got == w;
          want = static_cast<long double>(w);
        } else {
          // Exact-ish reference in long double; tolerance: n roundings in the
          // accumulator on the magnitudes involved, plus the final rounding to T.
          long double const s = static_cast<long double>(weft::detail::scalar_to_acc<T>(scalar));
          long double sum = 0, mag = 0, prod = 1, lo = value_of(x[0]), hi = value_of(x[0]);
          for (T v : x) {
            long double const f = value_of(v);
            sum += r == redop::premul_sum ? f * s : f;
            mag += std::fabs(r == redop::premul_sum ? f * s : f);
            prod *= f;
            lo = std::fmin(lo, f);
            hi = std::fmax(hi, f);
          }
          long double tol = 0;
          switch (r) {
          case redop::sum:
          case redop::premul_sum:
            want = sum;
            tol = 2 * nranks * u_acc * mag + u_out * std::fabs(want) + precision<T>::min_subnormal;
            break;
          case redop::avg:
            want = sum / nranks;
            tol = (2 * nranks * u_acc * mag) / nranks + u_acc * std::fabs(want) + u_out * std::fabs(want) +
                  precision<T>::min_subnormal;
            break;
          case redop::prod:
            want = prod;
            tol = (2 * nranks * u_acc + u_out) * std::fabs(want) + precision<T>::min_subnormal;
            break;
          case redop::min:
            want = lo;
            break; // tol 0: min/max select an input exactly
          case redop::max:
            want = hi;
            break;
          }
          ok = std::fabs(value_of(got) - want) <= tol;
          if constexpr (std::is_same<A, float>::value) {
            ok = ok && raw_bits(got) == raw_bits(float_stepwise_reference<T>(r, x, static_cast<float>(s)));
          }
        }
        if (!ok && bad++ == 0) {
          first = "element " + std::to_string(e) + ": got " + std::to_string(static_cast<double>(value_of(got))) +
                  " want " + std::to_string(static_cast<double>(want));
        }
      }
      INFO(first);
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("integer operators wrap modulo 2^bits", "[types][ops]") {
  CHECK(weft::op::sum<std::int8_t>{}(127, 1) == -128);
  CHECK(weft::op::sum<std::uint8_t>{}(200, 100) == 44);
  CHECK(weft::op::prod<std::uint8_t>{}(16, 16) == 0);
  CHECK(weft::op::prod<std::int8_t>{}(-128, -1) == -128);
  CHECK(weft::op::sum<std::int32_t>{}(INT32_MAX, INT32_MAX) == -2);
  CHECK(weft::op::prod<std::int32_t>{}(INT32_MIN, -1) == INT32_MIN);
  CHECK(weft::op::sum<std::int64_t>{}(INT64_MAX, 1) == INT64_MIN);
  CHECK(weft::op::prod<std::uint64_t>{}(~std::uint64_t{0}, ~std::uint64_t{0}) == 1u);
  CHECK(weft::op::premul_sum<std::uint8_t>{255}.pre(2) == 254);
  // avg: C++ truncating division (toward zero) of the wrapped sum.
  CHECK(weft::op::avg<std::int8_t>{2}.post(-3) == -1);
  CHECK(weft::op::avg<std::int32_t>{4}.post(7) == 1);
  CHECK(weft::op::avg<std::int8_t>{200}.post(-128) == 0); // nranks wider than the type
  CHECK(weft::op::avg<std::uint64_t>{3}.post(~std::uint64_t{0}) == 6148914691236517205u);
  static_assert(weft::op::sum<std::int8_t>{}(100, 100) == -56, "constexpr for integers");
}

TEST_CASE("premul_sum's double scalar converts to the accumulator", "[types][ops]") {
  using weft::detail::scalar_to_acc;
  CHECK(scalar_to_acc<std::uint8_t>(-1.0) == 255);
  CHECK(scalar_to_acc<std::int8_t>(300.0) == 44);
  CHECK(scalar_to_acc<std::int32_t>(-2.9) == -2); // toward zero
  CHECK(scalar_to_acc<std::uint64_t>(-1.0) == ~std::uint64_t{0});
  CHECK(scalar_to_acc<std::int64_t>(std::nan("")) == 0);
  CHECK(scalar_to_acc<float>(0.1) == 0.1f);
  CHECK(scalar_to_acc<weft::half_t>(1e300) == std::numeric_limits<float>::infinity());
  CHECK(scalar_to_acc<weft::half_t>(-1e300) == -std::numeric_limits<float>::infinity());
  CHECK(scalar_to_acc<float>(static_cast<double>(std::numeric_limits<float>::max())) ==
        std::numeric_limits<float>::max());
  CHECK(scalar_to_acc<double>(1e300) == 1e300);
}

namespace {
// Values whose min/max must be defined: NaNs (various payloads and signs),
// infinities, signed zeros, ordinary and extreme numbers.
template <class F>
std::vector<F> special_values() {
  using L = std::numeric_limits<F>;
  F qnan = L::quiet_NaN(), neg_nan = -L::quiet_NaN(), payload_nan = L::quiet_NaN();
  unsigned char* p = reinterpret_cast<unsigned char*>(&payload_nan);
  p[0] = static_cast<unsigned char>(p[0] ^ 0x5A); // a different payload
  return {qnan,     neg_nan,   payload_nan, L::infinity(),   -L::infinity(),   F(0),  -F(0), F(1), F(-1),
          L::max(), -L::max(), L::min(),    L::denorm_min(), -L::denorm_min(), F(2.5)};
}

template <class F, class Op>
void check_min_max_rules(Op const& op, bool is_max) {
  auto const vals = special_values<F>();
  int bad = 0;
  std::string first;
  for (F a : vals) {
    for (F b : vals) {
      F const ab = op(a, b), ba = op(b, a);
      bool ok = raw_bits(ab) == raw_bits(ba); // independent of operand order, bit for bit
      if (std::isnan(a) || std::isnan(b)) {
        ok = ok && std::isnan(ab); // NaN propagates
        if constexpr (std::is_same<F, float>::value)
          ok = ok && raw_bits(ab) == 0x7FFFFFFFu;
        else
          ok = ok && raw_bits(ab) == 0x7FFFFFFFFFFFFFFFu;
      } else if (a == b && a == F(0)) {
        bool const neg = is_max ? (std::signbit(a) && std::signbit(b)) : (std::signbit(a) || std::signbit(b));
        ok = ok && ab == F(0) && std::signbit(ab) == neg;
      } else {
        F const want = is_max ? (a > b ? a : b) : (a < b ? a : b); // infinities are ordinary values
        ok = ok && ab == want;
      }
      if (!ok && bad++ == 0)
        first = "a=" + std::to_string(a) + " b=" + std::to_string(b) + " -> " + std::to_string(ab);
    }
  }
  INFO(first);
  CHECK(bad == 0);
}
} // namespace

TEST_CASE("min and max: NaN propagates, infinities order, -0 < +0", "[types][ops]") {
  check_min_max_rules<float>(weft::op::max<float>{}, true);
  check_min_max_rules<float>(weft::op::min<float>{}, false);
  check_min_max_rules<double>(weft::op::max<double>{}, true);
  check_min_max_rules<double>(weft::op::min<double>{}, false);
  check_min_max_rules<float>(weft::op::max<weft::half_t>{}, true); // narrow types run on float accumulators
  check_min_max_rules<float>(weft::op::min<weft::float8_e4m3_t>{}, false);

  // Through whole narrow reductions: a NaN from any rank survives; -0 vs +0.
  using h = weft::half_t;
  std::vector<h> const with_nan{h(1.0f), h::from_bits(0xFE01), h(-3.0f)};
  CHECK(reduce_runtime<h>({redop::max}, with_nan).bits == 0x7FFF);
  CHECK(reduce_runtime<h>({redop::min}, with_nan).bits == 0x7FFF);
  std::vector<h> const zeros{h::from_bits(0x8000), h::from_bits(0x0000), h::from_bits(0x8000)};
  CHECK(reduce_runtime<h>({redop::max}, zeros).bits == 0x0000);
  CHECK(reduce_runtime<h>({redop::min}, zeros).bits == 0x8000);
  std::vector<h> const infs{h::from_bits(0xFC00), h(5.0f), h::from_bits(0x7C00)};
  CHECK(reduce_runtime<h>({redop::max}, infs).bits == 0x7C00);
  CHECK(reduce_runtime<h>({redop::min}, infs).bits == 0xFC00);
  using e4 = weft::float8_e4m3_t;
  std::vector<e4> const e4_nan{e4(2.0f), e4::from_bits(0xFF)};
  CHECK(reduce_runtime<e4>({redop::max}, e4_nan).bits == 0x7F);
}

TEST_CASE("redop names round-trip; aliases; unknown names rejected", "[types][ops]") {
  char const* const expected[] = {"sum", "prod", "min", "max", "avg", "mulsum"};
  for (int i = 0; i < weft::redop_count; ++i) {
    redop const r = all_redops[i];
    CHECK(weft::is_valid(r));
    CHECK(std::string(weft::to_string(r)) == expected[i]);
    redop parsed = r == redop::sum ? redop::max : redop::sum;
    REQUIRE(weft::parse_redop(weft::to_string(r), parsed));
    CHECK(parsed == r);
  }
  for (char const* alias : {"premulsum", "premul_sum", "mulsum"}) {
    redop r = redop::sum;
    CHECK(weft::parse_redop(alias, r));
    CHECK(r == redop::premul_sum);
  }
  for (char const* bad : {"", "Sum", "add", "mul", "average", "sum "}) {
    redop r = redop::prod;
    CHECK_FALSE(weft::parse_redop(bad, r));
    CHECK(r == redop::prod);
  }
  redop r = redop::prod;
  CHECK_FALSE(weft::parse_redop(nullptr, r));
  CHECK_FALSE(weft::is_valid(static_cast<redop>(weft::redop_count)));
}

TEST_CASE("validate rejects descriptors that cannot reduce a dtype", "[types][ops]") {
  using weft::dtype;
  using weft::status;
  CHECK(weft::validate({redop::sum}, dtype::bf16) == status::success);
  CHECK(weft::validate({redop::avg, 1.0, 0}, dtype::f32) == status::invalid_argument);
  CHECK(weft::validate({redop::avg, 1.0, -3}, dtype::i32) == status::invalid_argument);
  CHECK(weft::validate({redop::avg, 1.0, 0}, dtype::i32) == status::invalid_argument);
  CHECK(weft::validate({redop::premul_sum, 0.5, 1}, dtype::f16) == status::success);
  CHECK(weft::validate({redop::premul_sum, 0.5, 1}, dtype::i32) == status::invalid_argument);
  CHECK(weft::validate({redop::premul_sum, -3.0, 1}, dtype::u8) == status::success);
  CHECK(weft::validate({redop::premul_sum, 1e30, 1}, dtype::i64) == status::invalid_argument);
  CHECK(weft::validate({redop::premul_sum, std::nan(""), 1}, dtype::i8) == status::invalid_argument);
  CHECK(weft::validate({redop::premul_sum, 0x1p60, 1}, dtype::u64) == status::success);
  CHECK(weft::validate({static_cast<redop>(17)}, dtype::f32) == status::invalid_argument);
  CHECK(weft::validate({redop::sum}, static_cast<dtype>(99)) == status::invalid_argument);
  static_assert(weft::validate({redop::max}, dtype::u64) == status::success, "constexpr");
}

namespace {
struct picked {
  redop kind;
  bool right_value_type;
  double param; // nranks for avg, scale for premul_sum, 0 otherwise
};
template <class T>
picked pick(weft::redop_desc const& d) {
  return weft::dispatch_redop<T>(d, [](auto const& op) {
    using Op = std::decay_t<decltype(op)>;
    double param = 0;
    if constexpr (std::is_same<Op, weft::op::avg<T>>::value)
      param = op.nranks;
    if constexpr (std::is_same<Op, weft::op::premul_sum<T>>::value)
      param = static_cast<double>(op.scale);
    return picked{Op::kind, std::is_same<typename Op::value_type, T>::value, param};
  });
}
} // namespace

TEMPLATE_TEST_CASE("dispatch_redop constructs the named operator", "[types][ops]", float, weft::half_t, std::int32_t,
                   std::uint8_t, double) {
  using T = TestType;
  for (redop r : all_redops) {
    INFO(weft::to_string(r));
    picked const p = pick<T>({r, 3.0, 6});
    CHECK(p.kind == r);
    CHECK(p.right_value_type);
    CHECK(p.param == (r == redop::avg ? 6.0 : r == redop::premul_sum ? 3.0 : 0.0));
  }
  CHECK(std::is_same<weft::op::sum<T>, std::decay_t<decltype(weft::op::sum<T>{})>>::value);
}
