// reduce_copy on the GPU against cudaMemcpy device-to-device, same run.
// Figure of merit: bytes moved per second (read + written), CUDA events, median.
// Target: reduce_copy >= 0.92x cudaMemcpy D2D for the 2-source fp32 sum.
#include "dev_buffers.cuh"    // Thrust device buffers and comparisons
#include "device_reduce_copy.cuh"
#include "gpu_bench_util.cuh" // CK, median_us

#include <thrust/tabulate.h>
#include <thrust/transform.h>

#include <weft/core/types.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>


// Input pattern: base + (i mod 1024) / 8 (exact in fp32, so sums are exact too).
struct pattern {
  float base;
  __host__ __device__ float operator()(std::size_t i) const { return base + float(i % 1024) * 0.125f; }
};

int main(int argc, char** argv) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    std::printf("SKIPPED: reduce_copy_bench_gpu needs a CUDA device\n");
    return 0;
  }
  std::size_t min_bytes = 1u << 20, max_bytes = std::size_t(1) << 30;
  if (argc > 2) { min_bytes = std::strtoull(argv[1], nullptr, 10); max_bytes = std::strtoull(argv[2], nullptr, 10); }
  cudaDeviceProp p{};
  CK(cudaGetDeviceProperties(&p, 0));
  int const sms = p.multiProcessorCount;
  std::printf("# reduce_copy vs cudaMemcpy D2D on %s (%d SMs); bytes moved = read + written; median of 7\n", p.name, sms);
  std::printf("# %12s %12s %12s %12s %12s %9s %9s %9s\n", "size(B)", "memcpy GB/s", "copy GB/s", "f32sum2 GB/s",
              "bf16sum2 GB/s", "copy/mc", "f32/mc", "bf16/mc");
  std::size_t const max_n = max_bytes / 4;
  weft_test::dvec<float> va(max_n), vb(max_n), vc(max_n), vm(max_n);
  thrust::tabulate(va.begin(), va.end(), pattern{1.0f});
  thrust::tabulate(vb.begin(), vb.end(), pattern{2.0f});
  float *a = weft_test::raw(va), *b = weft_test::raw(vb), *c = weft_test::raw(vc), *m = weft_test::raw(vm);
  CK(cudaDeviceSynchronize());
  double worst = 1e9;
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    std::size_t const n = bytes / 4;
    int const iters = bytes >= (64u << 20) ? 10 : 50;
    auto mc = [&] { cudaMemcpyAsync(m, a, bytes, cudaMemcpyDeviceToDevice); };
    auto cp = [&] {
      weft_test::launch_reduce_copy(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a)), weft::dsts(c), n,
                                    weft::reduce_copy_flags{0u, false}, sms);
    };
    auto f32 = [&] {
      weft_test::launch_reduce_copy(weft::op::sum<float>{},
                                    weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b)),
                                    weft::dsts(c), n, {}, sms);
    };
    using bf = weft::bfloat16_t;
    auto bf16 = [&] {
      weft_test::launch_reduce_copy(weft::op::sum<bf>{},
                                    weft::srcs(reinterpret_cast<bf const*>(a), reinterpret_cast<bf const*>(b)),
                                    weft::dsts(reinterpret_cast<bf*>(c)), bytes / 2, {}, sms);
    };
    auto median_ms = [&](auto&& f) { return float(median_us(f, iters, 7) / 1000.0); };
    float const t_mc = median_ms(mc), t_cp = median_ms(cp), t_f = median_ms(f32), t_b = median_ms(bf16);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    double const g_mc = 2.0 * double(bytes) / (t_mc * 1e-3) / 1e9, g_cp = 2.0 * double(bytes) / (t_cp * 1e-3) / 1e9;
    double const g_f = 3.0 * double(bytes) / (t_f * 1e-3) / 1e9, g_b = 3.0 * double(bytes) / (t_b * 1e-3) / 1e9;
    if (bytes >= (64u << 20)) worst = std::min(worst, g_f / g_mc);
    std::printf("  %12zu %12.1f %12.1f %12.1f %12.1f %9.3f %9.3f %9.3f\n", bytes, g_mc, g_cp, g_f, g_b, g_cp / g_mc,
                g_f / g_mc, g_b / g_mc);
  }
  // Check a whole fp32 sum on the device: c = a + b against Thrust's own a + b.
  weft_test::launch_reduce_copy(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b)),
                                weft::dsts(c), max_n, {}, sms);
  CK(cudaGetLastError());
  thrust::transform(va.begin(), va.end(), vb.begin(), vm.begin(), thrust::plus<float>());
  CK(cudaDeviceSynchronize());
  std::size_t const wrong = weft_test::count_mismatches(vc.begin(), vm.begin(), max_n);
  std::printf("# fp32 2-source sum of %zu elements checked on the device: %zu wrong\n", max_n, wrong);
  if (wrong != 0) return 1;
  std::printf("# worst f32 2-source ratio from 64 MiB up: %.3f (target >= 0.92): %s\n", worst,
              worst >= 0.92 ? "met" : "NOT met");
  return 0;
}
