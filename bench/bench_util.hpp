#pragma once
// Small timing helpers shared by weft's host benchmarks.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace weft_bench {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Median seconds per call of f over `reps` timed batches of `iters` calls (after one warm-up batch).
template <class F>
double median_seconds(F&& f, int iters, int reps) {
  for (int i = 0; i < iters; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    double const t0 = now_s();
    for (int i = 0; i < iters; ++i) f();
    t.push_back((now_s() - t0) / iters);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Iterations so that one batch takes roughly `target_s` given a probe of one call.
template <class F>
int iterations_for(F&& f, double target_s) {
  double const t0 = now_s();
  f();
  double const dt = std::max(now_s() - t0, 1e-7);
  int n = int(target_s / dt);
  return std::clamp(n, 1, 100000);
}

} // namespace weft_bench
