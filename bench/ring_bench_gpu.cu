// Ring all-reduce with virtual ranks on one GPU (all ranks are partitions of
// one device, one cooperative launch): per protocol, small-message latency
// against an empty kernel launch, and large-message bandwidth against the
// device's copy bandwidth (cudaMemcpy D2D), all measured in the same run.
//
// "sched GB/s" counts the device-memory bytes the ring schedule itself moves
// (user buffers and staging slots, read + written, all ranks); its ratio to
// memcpy's bytes/s is how close the kernel runs to the HBM roofline for the
// work it has to do. busbw uses nccl-tests' factor 2(n-1)/n. Before each size is
// timed, one checked call: rank r holds r + 1 everywhere, and "#wrong" counts the
// elements (all ranks) that are not n(n + 1)/2 afterwards, on the device.
#include "dev_buffers.cuh" // Thrust device buffers, fills and comparisons
#include "gpu_bench_util.cuh"

#include <weft/runtime/vrank_comm.cuh>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main() {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    std::printf("SKIPPED: ring_bench_gpu needs a CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::size_t const max_bytes = 256u << 20;
  // memcpy D2D reference (bytes read + written).
  void *x, *y;
  CK(cudaMalloc(&x, max_bytes));
  CK(cudaMalloc(&y, max_bytes));
  double const t_mc = median_us([&] { cudaMemcpyAsync(y, x, max_bytes, cudaMemcpyDeviceToDevice); }, 10, 5);
  double const mc_gbs = 2.0 * double(max_bytes) / (t_mc * 1e-6) / 1e9;
  double const t_empty = median_us([&] { empty_kernel<<<1, 32>>>(); }, 200, 5);
  CK(cudaFree(x));
  CK(cudaFree(y));
  std::printf("# ring all-reduce, fp32 sum, virtual ranks on one %s (%d SMs); median of 5 batches (CUDA events)\n",
              prop.name, prop.multiProcessorCount);
  std::printf("# memcpy D2D (256 MiB): %.1f GB/s moved;  empty kernel launch: %.2f us\n", mc_gbs, t_empty);
  std::printf("# %5s %7s %4s %12s %10s %9s %9s %10s %8s %9s %7s\n", "ranks", "proto", "ch", "size(B)", "time(us)",
              "algbw", "busbw", "sched GB/s", "/memcpy", "/launch", "#wrong");
  long total_wrong = 0;
  for (int n : {2, 4, 8}) {
    weft::vrank_comm comm;
    weft::vrank_config cfg;
    cfg.max_channels = 64; // one CTA per rank and channel: more channels fill more SMs
    if (comm.init(n, cfg) != weft::status::success) {
      std::printf("vrank_comm init failed for %d ranks\n", n);
      return 1;
    }
    // In place: every rank's buffer is its input and output.
    auto bufs = weft_test::filled_buffers(std::size_t(n), max_bytes / 4, 0.0f);
    std::vector<float*> buf = weft_test::raw_ptrs(bufs);
    std::vector<float const*> const cbuf = weft_test::const_ptrs(buf);
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128}) {
      for (int nch : {1, 4, 16, 32, 64}) {
        if (n * nch > 4 * prop.multiProcessorCount) continue;
        // 32 and 64 channels: Simple from 64 MiB, at most one CTA per SM -- whether more
        // CTAs close the gap to the roofline at 2 and 4 ranks (16 channels: 0.55x at 2 ranks).
        bool const wide = nch > 16;
        if (wide && (p != weft::protocol::simple || n * nch > prop.multiProcessorCount)) continue;
        weft::vrank_options o;
        o.proto = p;
        o.nchannels = nch;
        for (std::size_t bytes : {std::size_t(8), std::size_t(4096), std::size_t(1) << 20, std::size_t(64) << 20,
                                  std::size_t(256) << 20}) {
          if (p != weft::protocol::simple && bytes > (std::size_t(64) << 20)) continue;
          if (wide && bytes < (std::size_t(64) << 20)) continue;
          std::size_t const count = bytes / 4;
          // The checked call (inputs r + 1, small integers: the sum is exact).
          for (int r = 0; r < n; ++r)
            thrust::fill_n(bufs[std::size_t(r)].begin(), std::ptrdiff_t(count), float(r + 1));
          weft::status cst = comm.all_reduce(cbuf, buf, count, weft::op::sum<float>{}, o);
          CK(cudaDeviceSynchronize());
          if (wide && cst == weft::status::unsupported) { // the CTAs do not fit one cooperative launch
            std::printf("  %5d %7s %4d %12zu  skipped: %d CTAs do not fit one cooperative launch\n", n,
                        weft::to_string(p), nch, bytes, n * nch);
            continue;
          }
          std::string cwhy;
          if (cst != weft::status::success || comm.last_status(&cwhy) != weft::status::success) {
            std::printf("checked all_reduce failed: %s %s\n", weft::to_string(cst), cwhy.c_str());
            return 1;
          }
          long wrong = 0;
          for (auto const& v : bufs) wrong += long(weft_test::count_not(v.begin(), count, float(n * (n + 1) / 2)));
          total_wrong += wrong;
          int const iters = bytes >= (std::size_t(64) << 20) ? 3 : 20;
          weft::status st = weft::status::success;
          double const us = median_us(
              [&] { st = comm.all_reduce(cbuf, buf, count, weft::op::sum<float>{}, o); }, iters, 5);
          CK(cudaDeviceSynchronize());
          std::string why;
          if (st != weft::status::success || comm.last_status(&why) != weft::status::success) {
            std::printf("all_reduce failed: %s %s\n", weft::to_string(st), why.c_str());
            return 1;
          }
          double const algbw = double(bytes) / (us * 1e-6) / 1e9;
          double const busbw = algbw * 2.0 * (n - 1) / n;
          // Schedule traffic per rank ~ (6n - 4)/n * S bytes (own input, slots, output); all ranks share the HBM.
          double const sched = double(n) * (6.0 * n - 4.0) / n * double(bytes) / (us * 1e-6) / 1e9;
          std::printf("  %5d %7s %4d %12zu %10.2f %9.2f %9.2f %10.1f %8.3f %9.2f %7ld\n", n, weft::to_string(p), nch,
                      bytes, us, algbw, busbw, sched, sched / mc_gbs, us / t_empty, wrong);
        }
      }
    }
  }
  std::printf("# #wrong over every checked call: %ld\n", total_wrong);
  return total_wrong == 0 ? 0 : 1;
}
