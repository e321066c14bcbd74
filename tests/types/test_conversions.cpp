// Conversions between float and the narrow storage types, checked against an
// independent reference: values decoded with std::ldexp, and float -> narrow
// rounding by searching the sorted table of all representable values (ties to
// the even bit pattern), all in double.
#include <weft/core/types.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

namespace {

using narrow_types = std::tuple<weft::half_t, weft::bfloat16_t, weft::float8_e4m3_t, weft::float8_e5m2_t>;

// The formats, typed in from their specifications (not from the header).
template <class T>
struct spec;
template <>
struct spec<weft::half_t> {
  static constexpr int ebits = 5, mbits = 10, bias = 15;
  static constexpr bool ieee = true; // inf + NaNs in the top exponent
  static constexpr double max = 65504.0;
  static constexpr std::uint32_t nan = 0x7FFF;
};
template <>
struct spec<weft::bfloat16_t> {
  static constexpr int ebits = 8, mbits = 7, bias = 127;
  static constexpr bool ieee = true;
  static constexpr double max = 3.3895313892515355e38; // 0x1.FEp127
  static constexpr std::uint32_t nan = 0x7FFF;
};
template <>
struct spec<weft::float8_e4m3_t> {
  static constexpr int ebits = 4, mbits = 3, bias = 7;
  static constexpr bool ieee = false; // no inf, NaN = S.1111.111, saturating
  static constexpr double max = 448.0;
  static constexpr std::uint32_t nan = 0x7F;
};
template <>
struct spec<weft::float8_e5m2_t> {
  static constexpr int ebits = 5, mbits = 2, bias = 15;
  static constexpr bool ieee = true;
  static constexpr double max = 57344.0;
  static constexpr std::uint32_t nan = 0x7F;
};

template <class T>
constexpr std::uint32_t nbits = 1u + spec<T>::ebits + spec<T>::mbits;
template <class T>
constexpr std::uint32_t npatterns = 1u << nbits<T>;
template <class T>
constexpr std::uint32_t sign_bit = 1u << (nbits<T> - 1);

std::uint32_t bits_of(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// double -> float without the undefined behaviour of an out-of-range cast.
float clamp_to_float(double v) {
  double const m = static_cast<double>(std::numeric_limits<float>::max());
  return static_cast<float>(std::max(-m, std::min(m, v)));
}

// Value of a bit pattern, in double. NaN for NaN patterns, +-inf for inf.
template <class T>
double decode(std::uint32_t b) {
  using S = spec<T>;
  std::uint32_t const emax = (1u << S::ebits) - 1u;
  std::uint32_t const mmask = (1u << S::mbits) - 1u;
  bool const neg = (b >> (S::ebits + S::mbits)) & 1u;
  std::uint32_t const e = (b >> S::mbits) & emax;
  std::uint32_t const m = b & mmask;
  double v;
  if (S::ieee && e == emax) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (!S::ieee && e == emax && m == mmask) {
    v = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(static_cast<double>(m), 1 - S::bias - S::mbits);
  } else {
    v = std::ldexp(static_cast<double>(m + (1u << S::mbits)), static_cast<int>(e) - S::bias - S::mbits);
  }
  return neg ? -v : v;
}

// All non-negative finite values, ascending, with their bit patterns.
template <class T>
struct value_table {
  std::vector<double> value;
  std::vector<std::uint32_t> bits;
  value_table() {
    std::vector<std::pair<double, std::uint32_t>> all;
    for (std::uint32_t b = 0; b < sign_bit<T>; ++b) {
      double const v = decode<T>(b);
      if (std::isfinite(v))
        all.emplace_back(v, b);
    }
    std::sort(all.begin(), all.end());
    for (auto const& p : all) {
      value.push_back(p.first);
      bits.push_back(p.second);
    }
  }
  static value_table const& get() {
    static value_table const t;
    return t;
  }
};

// Reference float -> narrow: nearest representable value, ties to the even bit
// pattern; IEEE-like formats overflow to inf (treated as the next value above
// max, with an even pattern), E4M3 saturates at 448.
template <class T>
std::uint32_t reference_round(float x) {
  using S = spec<T>;
  if (std::isnan(x))
    return S::nan;
  std::uint32_t const sign = std::signbit(x) ? sign_bit<T> : 0u;
  std::uint32_t const inf_bits = ((1u << S::ebits) - 1u) << S::mbits;
  auto const& t = value_table<T>::get();
  std::size_t const n = t.value.size();
  double const a = std::fabs(static_cast<double>(x));
  if (std::isinf(a))
    return sign | (S::ieee ? inf_bits : t.bits[n - 1]);
  if (a >= t.value[n - 1]) {
    if (!S::ieee)
      return sign | t.bits[n - 1];
    double const next = t.value[n - 1] + (t.value[n - 1] - t.value[n - 2]); // where inf sits
    double const mid = (t.value[n - 1] + next) / 2;
    if (a < mid)
      return sign | t.bits[n - 1];
    if (a > mid)
      return sign | inf_bits;
    return sign | ((t.bits[n - 1] & 1u) == 0u ? t.bits[n - 1] : inf_bits);
  }
  std::size_t const hi =
      static_cast<std::size_t>(std::upper_bound(t.value.begin(), t.value.end(), a) - t.value.begin());
  std::size_t const lo = hi - 1;                      // value[lo] <= a < value[hi]
  double const mid = (t.value[lo] + t.value[hi]) / 2; // exact: few significant bits
  if (a < mid)
    return sign | t.bits[lo];
  if (a > mid)
    return sign | t.bits[hi];
  return sign | ((t.bits[lo] & 1u) == 0u ? t.bits[lo] : t.bits[hi]);
}

template <class T>
std::uint32_t narrow_bits(float x) {
  return static_cast<std::uint32_t>(T(x).bits);
}

template <class T>
T make(std::uint32_t b) {
  using B = decltype(T{}.bits);
  return T::from_bits(static_cast<B>(b));
}

} // namespace

TEMPLATE_LIST_TEST_CASE("every bit pattern widens exactly and round-trips", "[types][conversion]", narrow_types) {
  using T = TestType;
  std::uint32_t bad_value = 0, bad_round_trip = 0, nans = 0;
  std::uint32_t first_bad = 0xFFFFFFFFu;
  for (std::uint32_t b = 0; b < npatterns<T>; ++b) {
    float const f = make<T>(b).to_float();
    double const ref = decode<T>(b);
    if (std::isnan(ref)) {
      ++nans;
      // NaN -> the canonical float NaN -> the canonical narrow NaN.
      if (bits_of(f) != 0x7FFFFFFFu)
        ++bad_value, first_bad = std::min(first_bad, b);
      if (narrow_bits<T>(f) != spec<T>::nan)
        ++bad_round_trip, first_bad = std::min(first_bad, b);
      continue;
    }
    if (static_cast<double>(f) != ref || std::signbit(f) != std::signbit(ref)) {
      ++bad_value;
      first_bad = std::min(first_bad, b);
    }
    if (narrow_bits<T>(f) != b) {
      ++bad_round_trip;
      first_bad = std::min(first_bad, b);
    }
  }
  INFO("first failing pattern 0x" << std::hex << first_bad);
  CHECK(bad_value == 0);
  CHECK(bad_round_trip == 0);
  // NaN pattern counts: IEEE formats 2 * (2^m - 1), E4M3 exactly two (0x7F, 0xFF).
  CHECK(nans == (spec<T>::ieee ? 2u * ((1u << spec<T>::mbits) - 1u) : 2u));
}

TEMPLATE_LIST_TEST_CASE("every midpoint between neighbours rounds to even", "[types][conversion]", narrow_types) {
  using T = TestType;
  auto const& t = value_table<T>::get();
  std::size_t bad = 0;
  float first_bad = 0;
  for (std::size_t i = 0; i + 1 < t.value.size(); ++i) {
    double const mid = (t.value[i] + t.value[i + 1]) / 2;
    float const m = static_cast<float>(mid);
    REQUIRE(static_cast<double>(m) == mid); // every midpoint is a float
    std::uint32_t const even = (t.bits[i] & 1u) == 0u ? t.bits[i] : t.bits[i + 1];
    for (std::uint32_t sign : {0u, sign_bit<T>}) {
      float const s = sign != 0u ? -1.0f : 1.0f;
      std::uint32_t const below = sign | t.bits[i], above = sign | t.bits[i + 1];
      bool ok = narrow_bits<T>(s * m) == (sign | even);
      ok = ok && narrow_bits<T>(s * std::nextafter(m, 0.0f)) == below;
      ok = ok && narrow_bits<T>(s * std::nextafter(m, std::numeric_limits<float>::infinity())) == above;
      ok = ok && narrow_bits<T>(s * static_cast<float>(t.value[i])) == below;
      if (!ok && bad++ == 0)
        first_bad = s * m;
    }
  }
  INFO("first failing midpoint " << first_bad);
  CHECK(bad == 0);
}

TEMPLATE_LIST_TEST_CASE("random floats round like the reference", "[types][conversion]", narrow_types) {
  using T = TestType;
  using S = spec<T>;
  std::uint64_t const seed = 0x5EED0000u + nbits<T> * 131u + S::mbits;
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  auto const& t = value_table<T>::get();
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto neg = [&](float x) { return (rng() & 1u) != 0u ? -x : x; };
  std::size_t const n_values = t.value.size();
  double const min_sub = t.value[1];

  constexpr int count = 200000;
  int categories[9] = {};
  std::size_t bad = 0;
  float first_bad = 0;
  std::uint32_t first_got = 0, first_want = 0;
  for (int k = 0; k < count; ++k) {
    int const cat = static_cast<int>(rng() % 9);
    ++categories[cat];
    float x = 0;
    switch (cat) {
    case 0: // any float bit pattern: NaNs, infs, huge, tiny, subnormal
      x = float_of(static_cast<std::uint32_t>(rng()));
      break;
    case 1: { // exact halfway between two neighbours (ties)
      std::size_t const i = pick(n_values - 1);
      x = neg(static_cast<float>((t.value[i] + t.value[i + 1]) / 2));
      break;
    }
    case 2: { // one float ulp either side of a halfway point
      std::size_t const i = pick(n_values - 1);
      float const m = static_cast<float>((t.value[i] + t.value[i + 1]) / 2);
      x = neg(std::nextafter(m, (rng() & 1u) != 0u ? 0.0f : std::numeric_limits<float>::infinity()));
      break;
    }
    case 3: { // anywhere between two neighbours
      std::size_t const i = pick(n_values - 1);
      x = neg(static_cast<float>(t.value[i] + (t.value[i + 1] - t.value[i]) * unit(rng)));
      break;
    }
    case 4: { // around the overflow threshold, up to 1.5 * max
      x = neg(clamp_to_float(S::max * (1.0 + 0.5 * unit(rng))));
      if ((rng() & 3u) == 0u)
        x = neg(static_cast<float>(S::max));
      break;
    }
    case 5: { // the subnormal range of T and just below it
      x = neg(static_cast<float>(std::ldexp(unit(rng), static_cast<int>(pick(8))) * min_sub * 0.25));
      break;
    }
    case 6: { // float subnormals
      x = neg(float_of(static_cast<std::uint32_t>(rng() % 0x800000u)));
      break;
    }
    case 7: { // NaNs with random payloads and signs, infinities, zeros
      std::uint32_t const r = static_cast<std::uint32_t>(rng());
      if ((r & 3u) == 0u)
        x = neg(std::numeric_limits<float>::infinity());
      else if ((r & 3u) == 1u)
        x = neg(0.0f);
      else
        x = float_of((r & 0x80000000u) | 0x7F800000u | (1u + (r >> 1) % 0x7FFFFFu));
      break;
    }
    default: { // uniform over T's whole range (log-uniform magnitude)
      double const lo = std::log2(min_sub), hi = std::log2(S::max);
      x = neg(clamp_to_float(std::exp2(lo + unit(rng) * (hi - lo))));
      break;
    }
    }
    std::uint32_t const got = narrow_bits<T>(x);
    std::uint32_t const want = reference_round<T>(x);
    if (got != want && bad++ == 0) {
      first_bad = x;
      first_got = got;
      first_want = want;
    }
  }
  INFO("first mismatch: x = " << first_bad << " (0x" << std::hex << bits_of(first_bad) << ") got 0x" << first_got
                              << " want 0x" << first_want);
  CHECK(bad == 0);
  for (int c : categories)
    CHECK(c > count / 20); // every category was exercised
}

TEST_CASE("hand-picked conversions", "[types][conversion]") {
  float const inf = std::numeric_limits<float>::infinity();
  float const nan = std::numeric_limits<float>::quiet_NaN();
  float const snan_neg = float_of(0xFF800001u); // negative signalling NaN

  // half: 1, max, overflow threshold (tie goes to inf), smallest subnormal.
  CHECK(weft::half_t(1.0f).bits == 0x3C00);
  CHECK(weft::half_t(-2.0f).bits == 0xC000);
  CHECK(weft::half_t(65504.0f).bits == 0x7BFF);
  CHECK(weft::half_t(65519.996f).bits == 0x7BFF);
  CHECK(weft::half_t(65520.0f).bits == 0x7C00);
  CHECK(weft::half_t(-1e9f).bits == 0xFC00);
  CHECK(weft::half_t(inf).bits == 0x7C00);
  CHECK(weft::half_t(std::ldexp(1.0f, -24)).bits == 0x0001);
  CHECK(weft::half_t(std::ldexp(1.0f, -25)).bits == 0x0000); // tie to even (zero)
  CHECK(weft::half_t(std::ldexp(1.5f, -25)).bits == 0x0001);
  CHECK(weft::half_t(std::ldexp(3.0f, -25)).bits == 0x0002); // 1.5 subnormal ulps: tie to even (2)
  CHECK(weft::half_t(-0.0f).bits == 0x8000);
  CHECK(weft::half_t(nan).bits == 0x7FFF);
  CHECK(weft::half_t(snan_neg).bits == 0x7FFF);
  CHECK(weft::half_t::from_bits(0x0001).to_float() == std::ldexp(1.0f, -24));
  CHECK(weft::half_t::from_bits(0xFC00).to_float() == -inf);

  // bfloat16: float's exponent range; FLT_MAX rounds up to inf.
  CHECK(weft::bfloat16_t(1.0f).bits == 0x3F80);
  CHECK(weft::bfloat16_t(float_of(0x3F808000u)).bits == 0x3F80); // tie, even stays
  CHECK(weft::bfloat16_t(float_of(0x3F818000u)).bits == 0x3F82); // tie, odd rounds up
  CHECK(weft::bfloat16_t(std::numeric_limits<float>::max()).bits == 0x7F80);
  CHECK(weft::bfloat16_t(float_of(0x00010000u)).bits == 0x0001); // float subnormal -> bf16 subnormal
  CHECK(weft::bfloat16_t(float_of(0x00000001u)).bits == 0x0000);
  CHECK(weft::bfloat16_t(-inf).bits == 0xFF80);
  CHECK(weft::bfloat16_t(snan_neg).bits == 0x7FFF);
  CHECK(bits_of(weft::bfloat16_t::from_bits(0x0001).to_float()) == 0x00010000u);

  // E4M3: max 448, saturation (also for inf), the single NaN, subnormals.
  CHECK(weft::float8_e4m3_t(448.0f).bits == 0x7E);
  CHECK(weft::float8_e4m3_t(464.0f).bits == 0x7E);
  CHECK(weft::float8_e4m3_t(1e30f).bits == 0x7E);
  CHECK(weft::float8_e4m3_t(inf).bits == 0x7E);
  CHECK(weft::float8_e4m3_t(-inf).bits == 0xFE);
  CHECK(weft::float8_e4m3_t(-500.0f).bits == 0xFE);
  CHECK(weft::float8_e4m3_t(nan).bits == 0x7F);
  CHECK(weft::float8_e4m3_t(snan_neg).bits == 0x7F);
  CHECK(weft::float8_e4m3_t(1.0f).bits == 0x38);
  CHECK(weft::float8_e4m3_t(std::ldexp(1.0f, -9)).bits == 0x01);
  CHECK(weft::float8_e4m3_t(std::ldexp(1.0f, -10)).bits == 0x00);
  CHECK(weft::float8_e4m3_t::from_bits(0x7E).to_float() == 448.0f);
  CHECK(weft::float8_e4m3_t::from_bits(0xFE).to_float() == -448.0f);
  CHECK(weft::float8_e4m3_t::from_bits(0x78).to_float() == 256.0f); // top exponent is finite
  CHECK(std::isnan(weft::float8_e4m3_t::from_bits(0xFF).to_float()));

  // E5M2: IEEE-like; overflow threshold 61440 ties to inf.
  CHECK(weft::float8_e5m2_t(57344.0f).bits == 0x7B);
  CHECK(weft::float8_e5m2_t(61439.996f).bits == 0x7B);
  CHECK(weft::float8_e5m2_t(61440.0f).bits == 0x7C);
  CHECK(weft::float8_e5m2_t(-inf).bits == 0xFC);
  CHECK(weft::float8_e5m2_t(snan_neg).bits == 0x7F);
  CHECK(weft::float8_e5m2_t(1.0f).bits == 0x3C);
  CHECK(weft::float8_e5m2_t(std::ldexp(1.0f, -16)).bits == 0x01);
  CHECK(weft::float8_e5m2_t::from_bits(0x7C).to_float() == inf);
}

TEST_CASE("bit-level conversions are constexpr", "[types][conversion]") {
  using namespace weft::detail;
  static_assert(narrow_from_f32_bits<f16_format>(0x3F800000u) == 0x3C00u, "1.0f -> half");
  static_assert(narrow_from_f32_bits<e4m3_format>(0x7F800000u) == 0x7Eu, "inf -> 448");
  static_assert(narrow_to_f32_bits<e5m2_format>(0x3Cu) == 0x3F800000u, "e5m2 1.0");
  static_assert(weft::half_t::from_bits(0x1234).bits == 0x1234, "from_bits");
  CHECK(narrow_to_f32_bits<f16_format>(0x0001u) == 0x33800000u); // 2^-24
  CHECK(narrow_from_f32_bits<bf16_format>(0x7F7FFFFFu) == 0x7F80u);
}
