// dtype names, sizes and traits; dispatch_dtype; to_acc / from_acc.
#include <weft/core/types.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

namespace {

using weft::dtype;

constexpr dtype all_dtypes[] = {dtype::f64, dtype::f32, dtype::f16, dtype::bf16, dtype::f8e4m3, dtype::f8e5m2,
                                dtype::i8,  dtype::u8,  dtype::i32, dtype::u32,  dtype::i64,    dtype::u64};
static_assert(sizeof(all_dtypes) / sizeof(all_dtypes[0]) == weft::dtype_count, "");

// Compile-time checks of the traits (a wrong trait fails the build).
static_assert(std::is_same<weft::type_of_t<dtype::f16>, weft::half_t>::value, "");
static_assert(std::is_same<weft::type_of_t<dtype::u32>, std::uint32_t>::value, "");
static_assert(weft::dtype_of_v<weft::float8_e4m3_t> == dtype::f8e4m3, "");
static_assert(weft::dtype_of_v<long long> == dtype::i64, "integers map by size and signedness");
static_assert(weft::dtype_of_v<unsigned char const> == dtype::u8, "cv-qualifiers are ignored");
static_assert(!weft::has_dtype_v<std::int16_t>, "no 16-bit integer dtype");
static_assert(!weft::has_dtype_v<bool>, "");
static_assert(!weft::has_dtype_v<long double>, "");
static_assert(weft::has_dtype_v<weft::bfloat16_t>, "");
static_assert(std::is_same<weft::acc_t<weft::half_t>, float>::value, "");
static_assert(std::is_same<weft::acc_t<weft::float8_e5m2_t>, float>::value, "");
static_assert(std::is_same<weft::acc_t<float>, float>::value, "");
static_assert(std::is_same<weft::acc_t<double>, double>::value, "");
static_assert(std::is_same<weft::acc_t<std::int8_t>, std::int8_t>::value, "");
static_assert(std::is_same<weft::acc_t<std::uint64_t>, std::uint64_t>::value, "");
static_assert(weft::is_floating_v<weft::half_t> && weft::is_floating_v<double> && !weft::is_floating_v<int>, "");
static_assert(weft::is_narrow_float_v<weft::float8_e5m2_t> && !weft::is_narrow_float_v<float>, "");
static_assert(weft::dtype_size(dtype::bf16) == 2 && weft::dtype_size(dtype::u64) == 8, "");

constexpr bool parses_to(char const* name, dtype want) {
  dtype d = dtype::u64;
  return weft::parse_dtype(name, d) && d == want;
}
static_assert(parses_to("bfloat16", dtype::bf16) && parses_to("fp8_e4m3", dtype::f8e4m3), "constexpr parse");

// Callable only as an rvalue: dispatch_dtype must forward it.
struct rvalue_only {
  int operator()(weft::type_tag<float>) && { return 32; }
  template <class T>
  int operator()(weft::type_tag<T>) && {
    return static_cast<int>(sizeof(T) * 8);
  }
};

struct dtype_info {
  dtype d;
  std::size_t size;
  bool floating;
  bool is_signed;
};

} // namespace

TEST_CASE("dtype names are the nccl-tests names and round-trip", "[types][dtype]") {
  char const* const expected[] = {"double", "float", "half",  "bfloat16", "fp8_e4m3", "fp8_e5m2",
                                  "int8",   "uint8", "int32", "uint32",   "int64",    "uint64"};
  for (int i = 0; i < weft::dtype_count; ++i) {
    dtype const d = all_dtypes[i];
    INFO("dtype #" << i);
    CHECK(weft::is_valid(d));
    CHECK(std::string(weft::to_string(d)) == expected[i]);
    dtype parsed = d == dtype::f64 ? dtype::u64 : dtype::f64; // anything else
    REQUIRE(weft::parse_dtype(weft::to_string(d), parsed));
    CHECK(parsed == d);
  }
  CHECK_FALSE(weft::is_valid(static_cast<dtype>(weft::dtype_count)));
  CHECK(std::string(weft::to_string(static_cast<dtype>(200))) == "unknown dtype");
}

TEST_CASE("dtype aliases parse; unknown names are rejected", "[types][dtype]") {
  std::pair<char const*, dtype> const aliases[] = {
      {"f64", dtype::f64},       {"fp64", dtype::f64},    {"f32", dtype::f32},       {"fp32", dtype::f32},
      {"f16", dtype::f16},       {"fp16", dtype::f16},    {"bf16", dtype::bf16},     {"e4m3", dtype::f8e4m3},
      {"f8e4m3", dtype::f8e4m3}, {"e5m2", dtype::f8e5m2}, {"f8e5m2", dtype::f8e5m2}, {"i8", dtype::i8},
      {"u8", dtype::u8},         {"i32", dtype::i32},     {"int", dtype::i32},       {"u32", dtype::u32},
      {"uint", dtype::u32},      {"i64", dtype::i64},     {"u64", dtype::u64},
  };
  for (auto const& a : aliases) {
    INFO(a.first);
    dtype d = a.second == dtype::f64 ? dtype::u64 : dtype::f64;
    CHECK(weft::parse_dtype(a.first, d));
    CHECK(d == a.second);
  }
  for (char const* bad : {"", "Float", "float ", "int16", "fp8", "halff", "bfloat", "u"}) {
    INFO("'" << bad << "'");
    dtype d = dtype::i8;
    CHECK_FALSE(weft::parse_dtype(bad, d));
    CHECK(d == dtype::i8); // unchanged
  }
  dtype d = dtype::i8;
  CHECK_FALSE(weft::parse_dtype(nullptr, d));
}

TEST_CASE("dispatch_dtype picks the type that dtype names", "[types][dtype]") {
  for (dtype d : all_dtypes) {
    INFO(weft::to_string(d));
    dtype_info const info = weft::dispatch_dtype(d, [](auto tag) {
      using T = typename decltype(tag)::type;
      return dtype_info{weft::dtype_of_v<T>, sizeof(T), weft::is_floating_v<T>, std::is_signed<T>::value};
    });
    CHECK(info.d == d);
    CHECK(info.size == weft::dtype_size(d));
    CHECK(info.floating == weft::is_floating(d));
    bool const want_signed = d == dtype::i8 || d == dtype::i32 || d == dtype::i64 || d == dtype::f64 || d == dtype::f32;
    CHECK(info.is_signed == want_signed);
  }
  // The callable is forwarded (an rvalue-only callable works) and results flow back.
  CHECK(weft::dispatch_dtype(dtype::f32, rvalue_only{}) == 32);
  CHECK(weft::dispatch_dtype(dtype::i64, rvalue_only{}) == 64);
  CHECK(weft::dispatch_dtype(dtype::f8e5m2, rvalue_only{}) == 8);
}

TEST_CASE("to_acc widens exactly and from_acc rounds", "[types][dtype]") {
  CHECK(weft::to_acc(weft::half_t::from_bits(0x3C00)) == 1.0f);
  CHECK(weft::to_acc(weft::bfloat16_t::from_bits(0xC000)) == -2.0f);
  CHECK(weft::to_acc(weft::float8_e4m3_t::from_bits(0x7E)) == 448.0f);
  CHECK(weft::from_acc<weft::half_t>(65520.0f).bits == 0x7C00);
  CHECK(weft::from_acc<weft::float8_e4m3_t>(1e6f).bits == 0x7E);
  CHECK(weft::from_acc<weft::float8_e5m2_t>(-1.0f).bits == 0xBC);
  CHECK(weft::to_acc(std::int8_t{-5}) == -5);
  CHECK(weft::from_acc<std::uint64_t>(~std::uint64_t{0}) == ~std::uint64_t{0});
  CHECK(weft::from_acc<double>(0.1) == 0.1);
  static_assert(weft::to_acc(std::int32_t{7}) == 7, "constexpr for arithmetic types");
  // A float's bits pass through an f32 accumulator untouched.
  float const x = 1.17549435e-38f / 3.0f; // subnormal
  float const y = weft::from_acc<float>(weft::to_acc(x));
  CHECK(std::memcmp(&x, &y, sizeof x) == 0);
}
