// reduce_copy on one CPU thread against memcpy, measured in the same run.
// Figure of merit: bytes moved per second (bytes read + bytes written).
// memcpy moves 2*S per call; a 2-source reduce into one destination moves 3*S.
// Target: reduce_copy >= 0.8x memcpy's bytes/s for 2-source fp32 sum.
#include "bench_util.hpp"

#include <weft/core/reduce_copy.hpp>
#include <weft/group/group.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  std::size_t min_bytes = 64 << 10, max_bytes = 256u << 20;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "-b")) min_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    if (!std::strcmp(argv[i], "-e")) max_bytes = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::printf("# reduce_copy (fp32 sum, 2 sources -> 1 destination, one host thread) vs memcpy, same run\n");
  std::printf("# bytes moved = bytes read + bytes written; median of 5 batches\n");
  std::printf("# %12s %14s %14s %8s\n", "size(B)", "memcpy(GB/s)", "reduce(GB/s)", "ratio");
  double worst = 1e9;
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    std::size_t const n = bytes / sizeof(float);
    std::vector<float> a(n), b(n), c(n), m(n);
    for (std::size_t i = 0; i < n; ++i) { a[i] = float(i % 1000) * 0.25f + 1.0f; b[i] = float(i % 77) + 0.5f; }
    weft::host_group g;
    auto src = weft::srcs(static_cast<float const*>(a.data()), static_cast<float const*>(b.data()));
    auto dst = weft::dsts(c.data());
    auto run_rc = [&] { weft::reduce_copy(g, weft::op::sum<float>{}, src, dst, n); };
    auto run_mc = [&] { std::memcpy(m.data(), a.data(), bytes); };
    int const it_rc = weft_bench::iterations_for(run_rc, 0.05);
    int const it_mc = weft_bench::iterations_for(run_mc, 0.05);
    // Alternate the two so that drift (other load, frequency) hits both alike.
    std::vector<double> v_mc, v_rc;
    for (int r = 0; r < 5; ++r) {
      v_mc.push_back(weft_bench::median_seconds(run_mc, it_mc, 1));
      v_rc.push_back(weft_bench::median_seconds(run_rc, it_rc, 1));
    }
    std::sort(v_mc.begin(), v_mc.end());
    std::sort(v_rc.begin(), v_rc.end());
    double const t_mc = v_mc[2], t_rc = v_rc[2];
    double const bw_mc = 2.0 * double(bytes) / t_mc / 1e9;
    double const bw_rc = 3.0 * double(bytes) / t_rc / 1e9;
    if (c[n / 2] != a[n / 2] + b[n / 2]) { std::printf("reduce_copy result wrong\n"); return 1; }
    double const ratio = bw_rc / bw_mc;
    if (bytes >= (1u << 20) && ratio < worst) worst = ratio;
    std::printf("  %12zu %14.2f %14.2f %8.2f\n", bytes, bw_mc, bw_rc, ratio);
  }
  if (worst < 1e9)
    std::printf("# worst ratio from 1 MiB up: %.2f (target >= 0.80): %s\n", worst, worst >= 0.8 ? "met" : "NOT met");
  return 0;
}
