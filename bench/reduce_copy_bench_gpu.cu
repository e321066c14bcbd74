// reduce_copy on the GPU against cudaMemcpy device-to-device, same run.
// Figure of merit: bytes moved per second (read + written), CUDA events, median.
// Target: reduce_copy >= 0.92x cudaMemcpy D2D from 64 MiB up, for the copy and
// the 2-source fp32 and bf16 sums. The table's launch is the one the launch
// sweep below found best on an H200 (docs/gpu-validation.md, ninth session):
// interleaved chunks, 512 threads, one block per SM, 4 packs in flight per
// thread for 4-byte types and 8 for bf16.
#include "dev_buffers.cuh"    // Thrust device buffers and comparisons
#include "device_reduce_copy.cuh"
#include "gpu_bench_util.cuh" // CK, median_us

#include <thrust/count.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/inner_product.h>
#include <thrust/tabulate.h>
#include <thrust/transform.h>

#include <weft/core/types.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
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
  std::printf("# launch: interleaved chunks, 512 threads, 1 block per SM, unroll 4 (copy, fp32) and 8 (bf16)\n");
  std::printf("# %12s %12s %12s %12s %12s %9s %9s %9s\n", "size(B)", "memcpy GB/s", "copy GB/s", "f32sum2 GB/s",
              "bf16sum2 GB/s", "copy/mc", "f32/mc", "bf16/mc");
  std::size_t const max_n = max_bytes / 4;
  weft_test::dvec<float> va(max_n), vb(max_n), vc(max_n), vm(max_n);
  thrust::tabulate(va.begin(), va.end(), pattern{1.0f});
  thrust::tabulate(vb.begin(), vb.end(), pattern{2.0f});
  float *a = weft_test::raw(va), *b = weft_test::raw(vb), *c = weft_test::raw(vc), *m = weft_test::raw(vm);
  CK(cudaDeviceSynchronize());
  // The table's launches (timed below, checked at the end), over `cnt` elements.
  using bf = weft::bfloat16_t;
  auto copy_launch = [&](std::size_t cnt) {
    weft_test::launch_reduce_copy_interleaved<4>(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a)),
                                                 weft::dsts(c), cnt, weft::reduce_copy_flags{0u, false}, sms, 0, 512, 1);
  };
  auto f32_launch = [&](std::size_t cnt) {
    weft_test::launch_reduce_copy_interleaved<4>(weft::op::sum<float>{},
                                                 weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b)),
                                                 weft::dsts(c), cnt, {}, sms, 0, 512, 1);
  };
  auto bf16_launch = [&](std::size_t cnt) {
    weft_test::launch_reduce_copy_interleaved<8>(weft::op::sum<bf>{},
                                                 weft::srcs(reinterpret_cast<bf const*>(a), reinterpret_cast<bf const*>(b)),
                                                 weft::dsts(reinterpret_cast<bf*>(c)), cnt, {}, sms, 0, 512, 1);
  };
  double worst_cp = 1e9, worst_f = 1e9, worst_b = 1e9;
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    std::size_t const n = bytes / 4;
    int const iters = bytes >= (64u << 20) ? 10 : 50;
    auto mc = [&] { cudaMemcpyAsync(m, a, bytes, cudaMemcpyDeviceToDevice); };
    auto cp = [&] { copy_launch(n); };
    auto f32 = [&] { f32_launch(n); };
    auto bf16 = [&] { bf16_launch(bytes / 2); };
    auto median_ms = [&](auto&& f) { return float(median_us(f, iters, 7) / 1000.0); };
    float const t_mc = median_ms(mc), t_cp = median_ms(cp), t_f = median_ms(f32), t_b = median_ms(bf16);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    double const g_mc = 2.0 * double(bytes) / (t_mc * 1e-3) / 1e9, g_cp = 2.0 * double(bytes) / (t_cp * 1e-3) / 1e9;
    double const g_f = 3.0 * double(bytes) / (t_f * 1e-3) / 1e9, g_b = 3.0 * double(bytes) / (t_b * 1e-3) / 1e9;
    if (bytes >= (64u << 20)) {
      worst_cp = std::min(worst_cp, g_cp / g_mc);
      worst_f = std::min(worst_f, g_f / g_mc);
      worst_b = std::min(worst_b, g_b / g_mc);
    }
    std::printf("  %12zu %12.1f %12.1f %12.1f %12.1f %9.3f %9.3f %9.3f\n", bytes, g_mc, g_cp, g_f, g_b, g_cp / g_mc,
                g_f / g_mc, g_b / g_mc);
  }
  // Launch sweep at large sizes: which block layout, packs in flight, block size
  // and blocks per SM get closest to cudaMemcpy (the table above uses the best of
  // the H200 run; before it, slices with Unroll 4, 512 threads, 4 blocks per SM).
  std::printf("# launch sweep: layout (slice: one contiguous slice per block; interleaved: chunks of threads x unroll "
              "packs, strided by the grid), unroll (16-byte packs in flight per thread), threads, blocks per SM\n");
  std::printf("# %12s %6s %12s %6s %7s %5s %12s %9s\n", "size(B)", "op", "layout", "unroll", "threads", "b/SM", "GB/s",
              "/memcpy");
  for (std::size_t bytes : {std::size_t(64) << 20, std::size_t(256) << 20}) {
    if (bytes > max_bytes) break;
    std::size_t const n = bytes / 4;
    float const t_mc = float(median_us([&] { cudaMemcpyAsync(m, a, bytes, cudaMemcpyDeviceToDevice); }, 10, 7));
    double const g_mc = 2.0 * double(bytes) / (t_mc * 1e-6) / 1e9;
    for (int opi = 0; opi < 3; ++opi) {
      char const* opn = opi == 0 ? "copy" : opi == 1 ? "f32s2" : "bf16s2";
      double const moved = (opi == 0 ? 2.0 : 3.0) * double(bytes);
      double best = 0;
      char best_cfg[96] = "";
      auto one = [&](auto unroll_c, bool inter, int threads, int bps) -> int {
        constexpr int U = decltype(unroll_c)::value;
        auto launch = [&](auto const& op, auto sl, auto dl, std::size_t cnt) -> void {
          if (inter)
            weft_test::launch_reduce_copy_interleaved<U>(op, sl, dl, cnt, {}, sms, 0, threads, bps);
          else
            weft_test::launch_reduce_copy<U>(op, sl, dl, cnt, {}, sms, 0, threads, bps);
        };
        auto f = [&] {
          if (opi == 0)
            launch(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a)), weft::dsts(c), n);
          else if (opi == 1)
            launch(weft::op::sum<float>{}, weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b)),
                   weft::dsts(c), n);
          else
            launch(weft::op::sum<bf>{}, weft::srcs(reinterpret_cast<bf const*>(a), reinterpret_cast<bf const*>(b)),
                   weft::dsts(reinterpret_cast<bf*>(c)), bytes / 2);
        };
        double const g = moved / (median_us(f, 10, 7) * 1e-6) / 1e9;
        CK(cudaGetLastError());
        std::printf("  %12zu %6s %12s %6d %7d %5d %12.1f %9.3f\n", bytes, opn, inter ? "interleaved" : "slice", U,
                    threads, bps, g, g / g_mc);
        if (g > best) {
          best = g;
          std::snprintf(best_cfg, sizeof best_cfg, "%s unroll %d, %d threads, %d blocks/SM", inter ? "interleaved" : "slice",
                        U, threads, bps);
        }
        return 0;
      };
      for (bool inter : {false, true})
        for (int threads : {256, 512})
          for (int bps : {1, 2, 4}) {
            if (one(std::integral_constant<int, 4>{}, inter, threads, bps) != 0) return 1;
            if (one(std::integral_constant<int, 8>{}, inter, threads, bps) != 0) return 1;
          }
      std::printf("# best %s at %zu B: %s: %.1f GB/s, %.3fx memcpy (%.1f GB/s)\n", opn, bytes, best_cfg, best,
                  best / g_mc, g_mc);
    }
  }
  // Check on the device what was timed, over counts that leave a partial last
  // chunk: the copy against a, the fp32 sums (the slice launch too, the one
  // test_reduce_copy_gpu checks against the host) against Thrust's a + b.
  std::size_t wrong = 0;
  {
    std::size_t const cnt = max_n - 1000;
    thrust::fill(vc.begin(), vc.end(), -1.0f);
    copy_launch(cnt);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::size_t const w = weft_test::count_mismatches(vc.begin(), va.begin(), cnt);
    std::size_t const past = max_n - cnt - std::size_t(thrust::count(vc.begin() + cnt, vc.end(), -1.0f));
    std::printf("# copy of %zu floats (interleaved) checked on the device: %zu wrong, %zu written past the end\n", cnt,
                w, past);
    wrong += w + past;
  }
  thrust::transform(va.begin(), va.end(), vb.begin(), vm.begin(), thrust::plus<float>());
  // k = 0: slice; 1: the table's interleaved launch; 2: interleaved, unroll 8, 256 threads, 2 blocks per SM.
  char const* const fp32_launches[3] = {"slice", "interleaved", "interleaved, unroll 8"};
  for (int k = 0; k < 3; ++k) {
    std::size_t const cnt = k == 0 ? max_n : max_n - 1000;
    thrust::fill(vc.begin(), vc.end(), -1.0f);
    auto const sl = weft::srcs(static_cast<float const*>(a), static_cast<float const*>(b));
    if (k == 0)
      weft_test::launch_reduce_copy(weft::op::sum<float>{}, sl, weft::dsts(c), cnt, {}, sms);
    else if (k == 1)
      f32_launch(cnt);
    else
      weft_test::launch_reduce_copy_interleaved<8>(weft::op::sum<float>{}, sl, weft::dsts(c), cnt, {}, sms, 0, 256, 2);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::size_t const w = weft_test::count_mismatches(vc.begin(), vm.begin(), cnt);
    // Past the count nothing is written.
    std::size_t const past = max_n - cnt - std::size_t(thrust::count(vc.begin() + cnt, vc.end(), -1.0f));
    std::printf("# fp32 2-source sum of %zu elements (%s) checked on the device: %zu wrong, %zu written past the end\n",
                cnt, fp32_launches[k], w, past);
    wrong += w + past;
  }
  // bf16: the table's launch (interleaved, unroll 8) gives the slice launch's bits
  // (the launch test_reduce_copy_gpu checks against the host), partial last chunk included.
  {
    std::size_t const cnt = max_n * 2 - 1000;
    auto const sl = weft::srcs(reinterpret_cast<bf const*>(a), reinterpret_cast<bf const*>(b));
    weft_test::launch_reduce_copy(weft::op::sum<bf>{}, sl, weft::dsts(reinterpret_cast<bf*>(m)), cnt, {}, sms);
    bf16_launch(cnt);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    auto const* cu = reinterpret_cast<std::uint16_t const*>(c);
    auto const* mu = reinterpret_cast<std::uint16_t const*>(m);
    std::size_t const w = cnt - std::size_t(thrust::inner_product(thrust::device, cu, cu + cnt, mu, std::size_t(0),
                                                                   thrust::plus<std::size_t>(),
                                                                   thrust::equal_to<std::uint16_t>()));
    std::printf("# bf16 2-source sum of %zu elements (interleaved, unroll 8) checked on the device against the slice "
                "launch: %zu differing\n", cnt, w);
    wrong += w;
  }
  if (wrong != 0) return 1;
  auto verdict = [](double r) { return r >= 0.92 ? "met" : "NOT met"; };
  std::printf("# worst ratio to memcpy from 64 MiB up (target >= 0.92): copy %.3f %s, f32 2-source %.3f %s, bf16 "
              "2-source %.3f %s\n", worst_cp, verdict(worst_cp), worst_f, verdict(worst_f), worst_b, verdict(worst_b));
  return 0;
}
