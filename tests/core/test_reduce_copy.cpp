// reduce_copy on the host: every operator x every data type against a
// higher-precision host reference; sizes 0, 1, 7, 4096+3 and a few MiB;
// misaligned and mixed offsets; in place; N sources and M destinations from 1
// to 8; bytes outside the range and the sources must stay untouched.
#include "reduce_copy_cases.hpp"

using namespace rc_test;

TEST_CASE("reduce_copy: a few MiB", "[reduce_copy][large]") {
  std::size_t const bytes = 3u << 20;
  require_ok<float>(opk::sum, 2, 1, bytes / 4 + 3, offsets(2, 0), offsets(1, 0), false);
  require_ok<float>(opk::avg, 3, 2, bytes / 4, offsets(3, 1), offsets(2, 1), true);
  require_ok<weft::bfloat16_t>(opk::sum, 4, 1, bytes / 2, offsets(4, 1), offsets(1, 1), false);
  require_ok<weft::float8_e4m3_t>(opk::max, 2, 2, bytes, offsets(2, 2), offsets(2, 2), false);
  require_ok<std::int32_t>(opk::prod, 8, 1, bytes / 4, offsets(8, 0), offsets(1, 0), true);
  require_ok<double>(opk::premul, 5, 3, bytes / 8 + 1, offsets(5, 1), offsets(3, 1), false);
  // Past host_stream_threshold the host path writes with streaming stores.
  std::size_t const big = weft::detail::host_stream_threshold + 1000;
  require_ok<float>(opk::sum, 2, 1, big / 4 + 3, offsets(2, 1), offsets(1, 1), false);
  require_ok<weft::bfloat16_t>(opk::avg, 3, 2, big / 2 + 1, offsets(3, 2), offsets(2, 2), true);
  // The two-source streaming path: 64-byte lines for 1-, 2- and 8-byte types,
  // a destination that starts off a line boundary, and a ragged tail.
  require_ok<std::int8_t>(opk::sum, 2, 1, big + 37, offsets(2, 3), offsets(1, 5), false);
  require_ok<weft::bfloat16_t>(opk::premul, 2, 1, big / 2 + 9, offsets(2, 1), offsets(1, 3), false);
  require_ok<double>(opk::max, 2, 1, big / 8 + 5, offsets(2, 0), offsets(1, 1), true);
}

TEST_CASE("reduce_copy: compile-time lists and copy()", "[reduce_copy]") {
  std::vector<float> a(1003), b(1003), c(1003, -1.f), e(1003, -1.f);
  for (std::size_t i = 0; i < a.size(); ++i) { a[i] = float(i) * 0.5f; b[i] = 1.0f + float(i); }
  weft::host_group g;
  weft::reduce_copy(g, weft::op::sum<float>{}, weft::srcs(a.data() + 1, b.data() + 1), weft::dsts(c.data() + 1), 1001);
  for (std::size_t i = 1; i < 1002; ++i) REQUIRE(c[i] == a[i] + b[i]);
  CHECK(c[0] == -1.f);
  CHECK(c[1002] == -1.f);
  weft::copy(g, b.data(), weft::dsts(e.data()), 1003);
  CHECK(std::memcmp(b.data(), e.data(), b.size() * 4) == 0);
}

TEST_CASE("reduce_copy: a single-source copy preserves NaN payload bits", "[reduce_copy]") {
  std::vector<std::uint32_t> bits = {0x7fc00001u, 0xffa00000u, 0x7f800001u, 0x00000001u, 0x80000000u};
  std::vector<float> src(bits.size()), dst(bits.size());
  std::memcpy(src.data(), bits.data(), bits.size() * 4);
  weft::host_group g;
  weft::copy(g, static_cast<float const*>(src.data()), weft::dsts(dst.data()), src.size());
  CHECK(std::memcmp(src.data(), dst.data(), src.size() * 4) == 0);
}
