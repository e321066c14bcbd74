// reduce_copy on the GPU against cudaMemcpy device-to-device, same run.
// Figure of merit: bytes moved per second (read + written), CUDA events, median.
// Target: reduce_copy >= 0.92x cudaMemcpy D2D for the 2-source fp32 sum.
#include "device_reduce_copy.cuh"
#include "gpu_bench_util.cuh" // CK, median_us

#include <weft/core/types.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>


__global__ void fill_kernel(float* p, std::size_t n, float base) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x)
    p[i] = base + float(i % 1024) * 0.125f;
}

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
  float *a, *b, *c, *m;
  CK(cudaMalloc(&a, max_bytes));
  CK(cudaMalloc(&b, max_bytes));
  CK(cudaMalloc(&c, max_bytes));
  CK(cudaMalloc(&m, max_bytes));
  fill_kernel<<<1024, 256>>>(a, max_bytes / 4, 1.0f);
  fill_kernel<<<1024, 256>>>(b, max_bytes / 4, 2.0f);
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
  // Spot-check the last fp32 sum result.
  std::vector<float> ha(4), hb(4), hc(4);
  CK(cudaMemcpy(ha.data(), a + 12345, 16, cudaMemcpyDeviceToHost));
  CK(cudaMemcpy(hb.data(), b + 12345, 16, cudaMemcpyDeviceToHost));
  weft_test::launch_reduce_copy(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b)),
                                weft::dsts(c), max_bytes / 4, {}, sms);
  CK(cudaDeviceSynchronize());
  CK(cudaMemcpy(hc.data(), c + 12345, 16, cudaMemcpyDeviceToHost));
  for (int i = 0; i < 4; ++i)
    if (hc[i] != ha[i] + hb[i]) { std::printf("WRONG result at %d\n", i); return 1; }
  std::printf("# worst f32 2-source ratio from 64 MiB up: %.3f (target >= 0.92): %s\n", worst,
              worst >= 0.92 ? "met" : "NOT met");
  cudaFree(a); cudaFree(b); cudaFree(c); cudaFree(m);
  return 0;
}
