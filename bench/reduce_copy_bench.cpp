// reduce_copy on one CPU thread against memcpy, measured in the same run.
// Figure of merit: bytes moved per second (bytes read + bytes written).
// memcpy moves 2*S per call; a 2-source reduce into one destination moves 3*S.
// Target: reduce_copy >= 0.8x memcpy's bytes/s for 2-source fp32 sum.
// Two memcpy baselines: one of the same S bytes (footprint 2*S), and one of
// 1.5*S bytes, which moves the same 3*S bytes per call and touches the same
// footprint as the reduction -- the comparison that is not skewed by a cache
// boundary falling between the two footprints. Both ratios are printed; the
// verdict uses the equal-bytes one.
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
  std::printf("# bytes moved = bytes read + bytes written; median of 7 alternating batches\n");
  std::printf("# memcpy S: copy of S bytes; memcpy 1.5S: same bytes moved (3S) and footprint as the reduction\n");
  std::printf("# %12s %12s %14s %14s %10s %11s\n", "size(B)", "memcpy S", "memcpy 1.5S", "reduce(GB/s)", "ratio(S)", "ratio(1.5S)");
  double worst = 1e9;
  for (std::size_t bytes = min_bytes; bytes <= max_bytes; bytes *= 4) {
    std::size_t const n = bytes / sizeof(float);
    std::size_t const n15 = n + n / 2;
    std::vector<float> a(n15), b(n), c(n), m(n15);
    for (std::size_t i = 0; i < n; ++i) { a[i] = float(i % 1000) * 0.25f + 1.0f; b[i] = float(i % 77) + 0.5f; }
    weft::host_group g;
    auto src = weft::srcs(static_cast<float const*>(a.data()), static_cast<float const*>(b.data()));
    auto dst = weft::dsts(c.data());
    auto run_rc = [&] { weft::reduce_copy(g, weft::op::sum<float>{}, src, dst, n); };
    auto run_mc = [&] { std::memcpy(m.data(), a.data(), bytes); };
    auto run_m15 = [&] { std::memcpy(m.data(), a.data(), n15 * sizeof(float)); };
    int const it_rc = weft_bench::iterations_for(run_rc, 0.05);
    int const it_mc = weft_bench::iterations_for(run_mc, 0.05);
    int const it_m15 = weft_bench::iterations_for(run_m15, 0.05);
    // Alternate the three so that drift (other load, frequency) hits all alike.
    constexpr int rounds = 7;
    std::vector<double> v_mc, v_m15, v_rc;
    for (int r = 0; r < rounds; ++r) {
      v_mc.push_back(weft_bench::median_seconds(run_mc, it_mc, 1));
      v_m15.push_back(weft_bench::median_seconds(run_m15, it_m15, 1));
      v_rc.push_back(weft_bench::median_seconds(run_rc, it_rc, 1));
    }
    for (auto* v : {&v_mc, &v_m15, &v_rc})
      std::sort(v->begin(), v->end());
    double const t_mc = v_mc[rounds / 2], t_m15 = v_m15[rounds / 2], t_rc = v_rc[rounds / 2];
    double const bw_mc = 2.0 * double(bytes) / t_mc / 1e9;
    double const bw_m15 = 2.0 * double(n15 * sizeof(float)) / t_m15 / 1e9;
    double const bw_rc = 3.0 * double(bytes) / t_rc / 1e9;
    for (std::size_t i : {std::size_t(0), n / 2, n - 1})
      if (n && c[i] != a[i] + b[i]) { std::printf("reduce_copy result wrong at %zu\n", i); return 1; }
    double const ratio = bw_rc / bw_mc, ratio15 = bw_rc / bw_m15;
    if (bytes >= (1u << 20) && ratio15 < worst) worst = ratio15;
    std::printf("  %12zu %12.2f %14.2f %14.2f %10.2f %11.2f\n", bytes, bw_mc, bw_m15, bw_rc, ratio, ratio15);
  }
  if (worst < 1e9)
    std::printf("# worst equal-bytes ratio from 1 MiB up: %.2f (target >= 0.80): %s\n", worst, worst >= 0.8 ? "met" : "NOT met");
  return 0;
}
