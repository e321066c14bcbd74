#pragma once
// Helpers shared by the GPU benchmarks: a checked CUDA call for main-like
// functions returning int, an empty kernel (the launch-latency baseline) and a
// CUDA-event timer.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <vector>

// Check a CUDA call; on failure print it and return 1 from the enclosing function.
#define CK(call)                                                                                   \
  do {                                                                                             \
    cudaError_t e_ = (call);                                                                       \
    if (e_ != cudaSuccess) {                                                                       \
      std::printf("CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #call); \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

__global__ void empty_kernel() {}

// Median microseconds per call of f over `reps` batches of `iters` calls, timed by
// CUDA events recorded on `stream` (after 3 warm-up calls).
template <class F>
static double median_us(F&& f, int iters, int reps, cudaStream_t stream = 0) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    cudaEventRecord(a, stream);
    for (int i = 0; i < iters; ++i) f();
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    t.push_back(1000.0 * ms / iters);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
