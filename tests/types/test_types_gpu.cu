// Device conversions and min/max against the host path, bit for bit: every
// fp16/bf16/fp8 bit pattern widened to float, one million random floats (plus
// the special and halfway cases) narrowed, and min/max/sum/prod of special
// float pairs. The device path uses the hardware conversions; the host path is
// the software reference that tests/types/test_conversions.cpp checks.
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>

#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

namespace {

#define WEFT_TEST_CUDA(call)                                                                                           \
  do {                                                                                                                 \
    cudaError_t const weft_test_err_ = (call);                                                                         \
    INFO(#call << " -> " << cudaGetErrorString(weft_test_err_));                                                       \
    REQUIRE(weft_test_err_ == cudaSuccess);                                                                            \
  } while (0)

// A device allocation. free() reports its status; the destructor only cleans
// up after a failed REQUIRE.
template <class T>
struct device_array {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit device_array(std::size_t count) : n(count) {
    WEFT_TEST_CUDA(cudaMalloc(reinterpret_cast<void**>(&ptr), count * sizeof(T)));
  }
  device_array(device_array const&) = delete;
  device_array& operator=(device_array const&) = delete;
  ~device_array() {
    if (ptr != nullptr)
      (void)cudaFree(ptr);
  }
  void upload(std::vector<T> const& h) {
    REQUIRE(h.size() == n);
    WEFT_TEST_CUDA(cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> h(n);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
  void free() {
    T* p = ptr;
    ptr = nullptr;
    WEFT_TEST_CUDA(cudaFree(p));
  }
};

void sync_after_launch() {
  WEFT_TEST_CUDA(cudaGetLastError());
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
}

unsigned blocks_for(std::size_t n) {
  std::size_t const b = (n + 255) / 256;
  return static_cast<unsigned>(b < 4096 ? b : 4096);
}

template <class T>
__global__ void widen_kernel(T const* in, float* out, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = in[i].to_float();
  }
}

template <class T>
__global__ void narrow_kernel(float const* in, T* out, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[i] = T(in[i]);
  }
}

// out[4*i + k] = {max, min, sum, prod}(a[i], b[i]) through weft::op on float.
__global__ void ops_kernel(float const* a, float const* b, float* out, std::size_t n) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    out[4 * i + 0] = weft::op::max<weft::half_t>{}(a[i], b[i]);
    out[4 * i + 1] = weft::op::min<float>{}(a[i], b[i]);
    out[4 * i + 2] = weft::op::sum<weft::bfloat16_t>{}(a[i], b[i]);
    out[4 * i + 3] = weft::op::prod<float>{}(a[i], b[i]);
  }
}

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

using narrow_types = std::tuple<weft::half_t, weft::bfloat16_t, weft::float8_e4m3_t, weft::float8_e5m2_t>;

template <class T>
using bits_t = decltype(T{}.bits);

template <class T>
constexpr std::uint32_t pattern_count = 1u << (8 * sizeof(T));

// Inputs for narrowing: special values, every narrow value, every midpoint
// between neighbouring narrow values and one float ulp either side, then random
// floats (random bit patterns and values inside T's range) up to `count`.
template <class T>
std::vector<float> narrowing_inputs(std::size_t count, std::uint64_t seed) {
  std::vector<float> in;
  float const inf = std::numeric_limits<float>::infinity();
  for (float f : {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), float_of(0xFF800001u),
                  float_of(0x7FFFFFFFu), std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                  std::numeric_limits<float>::denorm_min(), 448.0f, 464.0f, 57344.0f, 61440.0f, 65504.0f, 65520.0f}) {
    in.push_back(f);
  }
  std::vector<float> values;
  for (std::uint32_t b = 0; b < pattern_count<T>; ++b) {
    float const f = T::from_bits(static_cast<bits_t<T>>(b)).to_float(); // host path
    if (std::isfinite(f) && !std::signbit(f))
      values.push_back(f);
  }
  std::sort(values.begin(), values.end());
  for (std::size_t i = 0; i + 1 < values.size(); ++i) {
    float const mid = static_cast<float>((static_cast<double>(values[i]) + values[i + 1]) / 2);
    for (float f : {values[i], mid, std::nextafter(mid, 0.0f), std::nextafter(mid, inf)}) {
      in.push_back(f);
      in.push_back(-f);
    }
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  double const lo = std::log2(static_cast<double>(values[1])), hi = std::log2(static_cast<double>(values.back())) + 1;
  while (in.size() < count) {
    if ((rng() & 1u) != 0u) {
      in.push_back(float_of(static_cast<std::uint32_t>(rng())));
    } else {
      double const v = std::exp2(lo + unit(rng) * (hi - lo));
      float const f = static_cast<float>(std::fmin(v, static_cast<double>(std::numeric_limits<float>::max())));
      in.push_back((rng() & 1u) != 0u ? -f : f);
    }
  }
  return in;
}

} // namespace

TEMPLATE_LIST_TEST_CASE("device widening of every bit pattern matches the host", "[types][gpu]", narrow_types) {
  using T = TestType;
  std::size_t const n = pattern_count<T>;
  std::vector<T> in(n);
  for (std::uint32_t b = 0; b < n; ++b)
    in[b] = T::from_bits(static_cast<bits_t<T>>(b));
  device_array<T> d_in(n);
  device_array<float> d_out(n);
  d_in.upload(in);
  widen_kernel<T><<<blocks_for(n), 256>>>(d_in.ptr, d_out.ptr, n);
  sync_after_launch();
  std::vector<float> const out = d_out.download();
  std::size_t bad = 0;
  std::uint32_t first = 0;
  for (std::uint32_t b = 0; b < n; ++b) {
    if (bits_of(out[b]) != bits_of(in[b].to_float()) && bad++ == 0)
      first = b;
  }
  INFO("first mismatch: pattern 0x" << std::hex << first << " device 0x" << bits_of(out[first]) << " host 0x"
                                    << bits_of(in[first].to_float()));
  CHECK(bad == 0);
  d_in.free();
  d_out.free();
}

TEMPLATE_LIST_TEST_CASE("device narrowing of a million floats matches the host", "[types][gpu]", narrow_types) {
  using T = TestType;
  std::uint64_t const seed = 0xD1CEu + 17u * sizeof(T) + static_cast<unsigned>(weft::dtype_of_v<T>);
  INFO("seed " << seed);
  std::vector<float> const in = narrowing_inputs<T>(1000000 + 4 * pattern_count<T> * 2, seed);
  device_array<float> d_in(in.size());
  device_array<T> d_out(in.size());
  d_in.upload(in);
  narrow_kernel<T><<<blocks_for(in.size()), 256>>>(d_in.ptr, d_out.ptr, in.size());
  sync_after_launch();
  std::vector<T> const out = d_out.download();
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (out[i].bits != T(in[i]).bits && bad++ == 0)
      first = i;
  }
  INFO("first mismatch: x = " << in[first] << " (0x" << std::hex << bits_of(in[first]) << ") device 0x"
                              << unsigned(out[first].bits) << " host 0x" << unsigned(T(in[first]).bits));
  CHECK(bad == 0);
  CHECK(in.size() >= 1000000);
  d_in.free();
  d_out.free();
}

TEST_CASE("device min/max/sum/prod match the host bit for bit", "[types][gpu]") {
  float const inf = std::numeric_limits<float>::infinity();
  std::vector<float> const specials{std::numeric_limits<float>::quiet_NaN(),
                                    float_of(0xFFC12345u),
                                    inf,
                                    -inf,
                                    0.0f,
                                    -0.0f,
                                    1.0f,
                                    -1.0f,
                                    2.5f,
                                    std::numeric_limits<float>::max(),
                                    std::numeric_limits<float>::denorm_min(),
                                    -std::numeric_limits<float>::min()};
  std::vector<float> a, b;
  for (float x : specials) {
    for (float y : specials) {
      a.push_back(x);
      b.push_back(y);
    }
  }
  std::size_t const n = a.size();
  device_array<float> d_a(n), d_b(n), d_out(4 * n);
  d_a.upload(a);
  d_b.upload(b);
  ops_kernel<<<blocks_for(n), 256>>>(d_a.ptr, d_b.ptr, d_out.ptr, n);
  sync_after_launch();
  std::vector<float> const out = d_out.download();
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float const host[4] = {weft::op::max<weft::half_t>{}(a[i], b[i]), weft::op::min<float>{}(a[i], b[i]),
                           weft::op::sum<weft::bfloat16_t>{}(a[i], b[i]), weft::op::prod<float>{}(a[i], b[i])};
    for (int k = 0; k < 4; ++k) {
      float const dev = out[4 * i + static_cast<std::size_t>(k)];
      // min/max are defined bit for bit, NaN included; sum/prod NaN payloads are not.
      bool const ok = k < 2 ? bits_of(dev) == bits_of(host[k])
                            : (std::isnan(host[k]) ? std::isnan(dev) : bits_of(dev) == bits_of(host[k]));
      if (!ok && bad++ == 0)
        first = 4 * i + static_cast<std::size_t>(k);
    }
  }
  INFO("first mismatch at output " << first << " (a = " << a[first / 4] << ", b = " << b[first / 4] << ")");
  CHECK(bad == 0);
  d_a.free();
  d_b.free();
  d_out.free();
}
