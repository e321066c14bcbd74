#pragma once
// A grid-wide reduce_copy for tests and benchmarks: block b takes a contiguous
// slice whose length is a multiple of 16 elements, so every pointer keeps its
// offset modulo 16 bytes and the vector path applies inside each slice.
#include <weft/core/reduce_copy.hpp>
#include <weft/group/cuda_groups.cuh>

#include <cuda_runtime.h>

namespace weft_test {

template <int Unroll, class Op, int MS, int MD>
__global__ void __launch_bounds__(512) reduce_copy_kernel(Op op, weft::ptr_list<typename Op::value_type const, MS> s,
                                                          weft::ptr_list<typename Op::value_type, MD> d,
                                                          std::size_t count, weft::reduce_copy_flags f) {
  weft::cuda_cta g;
  std::size_t per = (count + gridDim.x - 1) / gridDim.x;
  per = (per + 15) / 16 * 16;
  std::size_t const lo = std::size_t(blockIdx.x) * per;
  if (lo >= count) return;
  std::size_t const n = count - lo < per ? count - lo : per;
  for (int i = 0; i < MS; ++i) s.ptr[i] = i < s.n ? s.ptr[i] + lo : s.ptr[i];
  for (int i = 0; i < MD; ++i) d.ptr[i] = i < d.n ? d.ptr[i] + lo : d.ptr[i];
  weft::reduce_copy<Unroll>(g, op, s, d, n, f);
}

// The same work interleaved: block b takes chunks b, b + grid, b + 2 grid, ...
// of `chunk` elements (a multiple of 16), so at any moment the blocks work on
// neighbouring addresses rather than one contiguous slice each.
template <int Unroll, class Op, int MS, int MD>
__global__ void __launch_bounds__(512)
    reduce_copy_interleaved_kernel(Op op, weft::ptr_list<typename Op::value_type const, MS> s,
                                   weft::ptr_list<typename Op::value_type, MD> d, std::size_t count,
                                   weft::reduce_copy_flags f, std::size_t chunk) {
  weft::cuda_cta g;
  for (std::size_t lo = std::size_t(blockIdx.x) * chunk; lo < count; lo += std::size_t(gridDim.x) * chunk) {
    std::size_t const n = count - lo < chunk ? count - lo : chunk;
    auto sc = s;
    auto dc = d;
    for (int i = 0; i < MS; ++i) sc.ptr[i] = i < s.n ? s.ptr[i] + lo : s.ptr[i];
    for (int i = 0; i < MD; ++i) dc.ptr[i] = i < d.n ? d.ptr[i] + lo : d.ptr[i];
    weft::reduce_copy<Unroll>(g, op, sc, dc, n, f);
  }
}

// Blocks for `count` elements: enough to fill the device, not more than the work.
inline int reduce_copy_grid(std::size_t count, int threads, int sms, int blocks_per_sm = 4) {
  std::size_t const want = (count + std::size_t(threads) * 16 - 1) / (std::size_t(threads) * 16);
  std::size_t const cap = std::size_t(sms) * std::size_t(blocks_per_sm);
  std::size_t g = want < cap ? want : cap;
  return g == 0 ? 1 : int(g);
}

template <int Unroll = 4, class Op, int MS, int MD>
cudaError_t launch_reduce_copy(Op const& op, weft::ptr_list<typename Op::value_type const, MS> s,
                               weft::ptr_list<typename Op::value_type, MD> d, std::size_t count,
                               weft::reduce_copy_flags f, int sms, cudaStream_t stream = 0, int threads = 512,
                               int blocks_per_sm = 4) {
  if (count == 0) return cudaSuccess;
  reduce_copy_kernel<Unroll><<<reduce_copy_grid(count, threads, sms, blocks_per_sm), threads, 0, stream>>>(op, s, d,
                                                                                                          count, f);
  return cudaGetLastError();
}

// Interleaved launch: chunks of threads x Unroll 16-byte packs (see above).
template <int Unroll = 4, class Op, int MS, int MD>
cudaError_t launch_reduce_copy_interleaved(Op const& op, weft::ptr_list<typename Op::value_type const, MS> s,
                                           weft::ptr_list<typename Op::value_type, MD> d, std::size_t count,
                                           weft::reduce_copy_flags f, int sms, cudaStream_t stream = 0,
                                           int threads = 512, int blocks_per_sm = 4) {
  if (count == 0) return cudaSuccess;
  std::size_t const chunk = std::size_t(threads) * Unroll * (16 / sizeof(typename Op::value_type));
  reduce_copy_interleaved_kernel<Unroll><<<reduce_copy_grid(count, threads, sms, blocks_per_sm), threads, 0, stream>>>(
      op, s, d, count, f, chunk < 16 ? 16 : chunk);
  return cudaGetLastError();
}

} // namespace weft_test
