#pragma once
// What weft-bench's two CUDA backends share (bench_cuda_backend.cu: virtual
// ranks of weft::vrank_comm on device 0; bench_comm_backend.cu: weft::comm
// ranks on one or more GPUs of this process): the type/op pairs compiled in,
// the element type a measurement runs on, and the checked runs (the CPU
// backend's inputs and host reference, on device buffers). Host code over the
// CUDA runtime API; included only by those .cu translation units.
#include "bench_backend.hpp"
#include "bench_check.hpp"
#include "bench_rank.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace weft_bench {
namespace cuda_detail {

//! The number of CUDA devices; 0 with `why` when there is none: "no CUDA device
//! (<reason>): <needs>; use --backend cpu" (the driver prints it on one line, exit 2).
inline int device_count(char const* needs, std::string& why) {
  int n = 0;
  cudaError_t const e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) return n;
  why = std::string("no CUDA device (") + (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") + "): " + needs +
        "; use --backend cpu";
  return 0;
}

//! The reductions the CUDA backends compile: float, half and bfloat16 sum.
inline bool reduction_compiled(weft::dtype d, weft::redop r) {
  return r == weft::redop::sum && (d == weft::dtype::f32 || d == weft::dtype::f16 || d == weft::dtype::bf16);
}

//! "double sum is not compiled into the cuda backend (float, half and bfloat16 sum are)".
inline std::string not_compiled_why(coll_spec const& s) {
  return std::string(weft::to_string(s.type)) + " " + weft::to_string(s.op.op) +
         " is not compiled into the cuda backend (float, half and bfloat16 sum are)";
}

//! The element types the CUDA backends reduce on and copy on (see with_element_type).
template <class T>
inline constexpr bool reduced_type_v =
    std::is_same<T, float>::value || std::is_same<T, weft::half_t>::value || std::is_same<T, weft::bfloat16_t>::value;
template <class T>
inline constexpr bool copied_type_v = std::is_unsigned<T>::value || std::is_same<T, weft::half_t>::value;

template <class T>
struct type_tag {
  using type = T;
};

//! `f(type_tag<T>{})` for the element type `s` runs on: the copies (all-gather,
//! broadcast, all-to-all) on one unsigned type per element size, the reductions
//! on float, half or bfloat16 (supports() has refused every other pair).
template <class F>
measurement with_element_type(coll_spec const& s, F&& f) {
  if (!reduces(s.kind)) {
    switch (weft::dtype_size(s.type)) {
      case 1: return f(type_tag<detail::copy_type<1>::type>{});
      case 2: return f(type_tag<detail::copy_type<2>::type>{});
      case 4: return f(type_tag<detail::copy_type<4>::type>{});
      default: return f(type_tag<detail::copy_type<8>::type>{});
    }
  }
  switch (s.type) {
    case weft::dtype::f16: return f(type_tag<weft::half_t>{});
    case weft::dtype::bf16: return f(type_tag<weft::bfloat16_t>{});
    default: return f(type_tag<float>{});
  }
}

//! A CUDA backend's run(): nothing when `b` does not support `s` (start_measurement);
//! --inject-failure: the last rank fails before any call; else
//! `typed(type_tag<T>{})` measures on the element type `s` runs on.
template <class F>
measurement measure(backend const& b, coll_spec const& s, run_settings const& how, F&& typed) {
  measurement m;
  if (!start_measurement(b, s, m)) return m;
  if (how.inject_failure) {
    m.error = failure_message(s, b.nranks() - 1, weft::status::internal_error, {}, true);
    return m;
  }
  return with_element_type(s, typed);
}

//! The buffers of every rank for one measurement, on the device.
template <class T>
struct rank_views {
  std::vector<layout> ls;
  std::vector<T const*> in;  // each rank's input
  std::vector<T*> out;       // each rank's output
  std::vector<T*> recv_base; // the start of each rank's receive buffer (the region a call may write)
};

//! The views of `s` on buffers of `max_bytes` each (send[i], recv[i] device
//! pointers of ranks first, first + 1, ... of `n`); false with `error` when a
//! rank's part does not fit.
template <class T>
bool make_views(coll_spec const& s, int n, std::vector<void*> const& send, std::vector<void*> const& recv,
                std::size_t max_bytes, rank_views<T>& v, std::string& error, int first = 0) {
  for (int r = 0; r < int(send.size()); ++r) {
    layout const l = make_layout(s, first + r, n);
    if (std::max(l.span_elems, l.in_elems) * sizeof(T) > max_bytes) {
      error = "count " + std::to_string(s.count) + " does not fit the buffers (-e)";
      return false;
    }
    T* const sb = static_cast<T*>(send[std::size_t(r)]);
    T* const rb = static_cast<T*>(recv[std::size_t(r)]);
    v.in.push_back(s.in_place ? rb + l.send_off : sb);
    v.out.push_back(s.in_place ? rb + l.recv_off : rb);
    v.recv_base.push_back(rb);
    v.ls.push_back(l);
  }
  return true;
}

//! A host-to-device copy that has landed when it returns: cudaMemcpy from pageable
//! memory may return before its DMA is done, and the collectives run on
//! non-blocking streams that do not wait for it; so the owning device is
//! synchronised too. False on any CUDA error.
inline bool copy_to_device(void* dst, void const* src, std::size_t bytes) {
  cudaPointerAttributes a{};
  return cudaPointerGetAttributes(&a, dst) == cudaSuccess && cudaSetDevice(a.device) == cudaSuccess &&
         cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice) == cudaSuccess && cudaDeviceSynchronize() == cudaSuccess;
}

//! The checked runs of one measurement: for each, every rank's receive region is
//! prefilled with poison and its input with the CPU backend's pattern (copied
//! from the host), `call_all()` runs the collective on every rank and waits for
//! it (returns its status), then every defined output (reduce: root's only) is
//! copied back and compared with the host reference, and an out-of-place input
//! must be unchanged. Mismatching elements are added to `wrong`; a failed copy
//! returns `cuda_error`, a failed call its status. `v` holds ranks first,
//! first + 1, ... of `n` (all of them in one process; one under mpirun).
template <class T, class CallAll>
weft::status check_runs(coll_spec const& s, run_settings const& how, int n, rank_views<T> const& v,
                        CallAll&& call_all, long long& wrong, int first = 0) {
  std::vector<T> host;
  int const local = int(v.ls.size());
  for (int c = 0; c < how.check_runs; ++c) {
    std::uint64_t const seed = how.seed + std::uint64_t(c);
    for (int k = 0; k < local; ++k) {
      int const r = first + k;
      layout const& l = v.ls[std::size_t(k)];
      std::size_t const region = s.in_place ? l.span_elems : l.out_elems;
      host.resize(std::max(region, l.in_elems));
      for (std::size_t i = 0; i < region; ++i) host[i] = poison_value<T>(seed, i);
      if (!copy_to_device(v.recv_base[std::size_t(k)], host.data(), region * sizeof(T)))
        return weft::status::cuda_error;
      detail::fill_input(s, l, r, n, host.data(), seed);
      if (!copy_to_device(const_cast<T*>(v.in[std::size_t(k)]), host.data(), l.in_elems * sizeof(T)))
        return weft::status::cuda_error;
    }
    if (weft::status const st = call_all(); st != weft::status::success) return st;
    for (int k = 0; k < local; ++k) {
      int const r = first + k;
      layout const& l = v.ls[std::size_t(k)];
      if (s.kind != coll::reduce || r == s.root) { // reduce: only root's output is defined
        host.resize(l.out_elems);
        if (cudaMemcpy(host.data(), v.out[std::size_t(k)], l.out_elems * sizeof(T), cudaMemcpyDeviceToHost) !=
            cudaSuccess)
          return weft::status::cuda_error;
        int const inject_rank = s.kind == coll::reduce ? s.root : n - 1;
        if (how.inject_error && r == inject_rank && l.out_elems > 0)
          host[l.out_elems / 2] = corrupt(host[l.out_elems / 2]);
        wrong += detail::count_wrong_output(s, l, r, n, host.data(), seed);
      }
      if (s.in_place) continue;
      host.resize(l.in_elems); // the input must be left as it was
      if (cudaMemcpy(host.data(), v.in[std::size_t(k)], l.in_elems * sizeof(T), cudaMemcpyDeviceToHost) !=
          cudaSuccess)
        return weft::status::cuda_error;
      for (std::size_t i = 0; i < l.in_elems; ++i)
        if (!same_bits(host[i], input_value<T>(seed, r, i, s.op.op, n))) ++wrong;
    }
  }
  return weft::status::success;
}

//! cudaMemcpy device to device of `bytes` on device `dev`, timed with CUDA
//! events: the median of 5 batches of about 5 ms each (the busbw/memcpy
//! reference of the CUDA backends). False when the buffers cannot be had.
inline bool device_copy_reference(int dev, std::size_t bytes, copy_reference& out) {
  out.bytes = bytes;
  out.what = "cudaMemcpy device to device on device " + std::to_string(dev);
  if (bytes == 0) return true;
  int prev = 0;
  if (cudaGetDevice(&prev) != cudaSuccess || cudaSetDevice(dev) != cudaSuccess) return false;
  void *a = nullptr, *b = nullptr;
  cudaEvent_t e0 = nullptr, e1 = nullptr;
  bool ok = cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess &&
            cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess &&
            cudaMemset(a, 1, bytes) == cudaSuccess && cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess;
  auto batch = [&](int reps) { // seconds per copy
    float ms = 0;
    ok = ok && cudaEventRecord(e0) == cudaSuccess;
    for (int i = 0; ok && i < reps; ++i) ok = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice) == cudaSuccess;
    ok = ok && cudaEventRecord(e1) == cudaSuccess && cudaEventSynchronize(e1) == cudaSuccess &&
         cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess;
    return ok ? std::max(double(ms) * 1e-3 / reps, 1e-9) : 0.0;
  };
  if (ok) {
    int const reps = std::clamp(int(0.005 / batch(1)), 1, 100000);
    std::vector<double> t;
    for (int k = 0; ok && k < 5; ++k) t.push_back(batch(reps));
    if (ok) {
      std::sort(t.begin(), t.end());
      out.time_us = t[2] * 1e6;
      out.gbps = double(bytes) / t[2] / 1e9;
    }
  }
  if (e0) cudaEventDestroy(e0);
  if (e1) cudaEventDestroy(e1);
  cudaFree(a);
  cudaFree(b);
  cudaSetDevice(prev);
  return ok;
}

} // namespace cuda_detail
} // namespace weft_bench
