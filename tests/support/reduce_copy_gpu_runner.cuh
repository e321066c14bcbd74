#pragma once
// The GPU runner for the shared reduce_copy test body (reduce_copy_cases.hpp):
// mirrors the host buffers on the device (Thrust device vectors), runs a
// multi-block kernel, copies back.
#include "dev_buffers.cuh"
#include "device_reduce_copy.cuh"
#include "gpu_check.hpp"
#include "reduce_copy_cases.hpp"

namespace rc_test {

// Device code is costly to compile (each op x type is a kernel for every
// architecture), so the GPU suite runs every op for fp32 and bf16 and `sum` for
// the other types; ops x types are covered on the host, and the device's
// conversions and operators by test_types_gpu.
template <class T>
inline constexpr bool gpu_all_ops = std::is_same_v<T, float> || std::is_same_v<T, weft::bfloat16_t>;

template <class T>
inline std::vector<opk> gpu_ops() {
  if constexpr (gpu_all_ops<T>) return {std::begin(all_ops), std::end(all_ops)};
  else return {opk::sum};
}

inline int device_sms() {
  int dev = 0, sms = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}

// Mirrors the host buffers on the device, runs the kernel, copies every buffer back.
struct gpu_runner {
  template <class T>
  void operator()(rc_problem<T> const& p) const {
    std::vector<weft_test::dvec<T>> dsv, ddv;
    dsv.reserve(p.sb.size());
    ddv.reserve(p.db.size());
    for (auto const& b : p.sb) dsv.emplace_back(b.begin(), b.end());
    for (auto const& b : p.db) ddv.emplace_back(b.begin(), b.end());
    std::vector<T*> const ds = weft_test::raw_ptrs(dsv), dd = weft_test::raw_ptrs(ddv);
    weft::ptr_list<T const, 8> sl{};
    weft::ptr_list<T, 8> dl{};
    sl.n = int(ds.size());
    dl.n = int(dd.size());
    for (std::size_t i = 0; i < ds.size(); ++i) sl.ptr[i] = ds[i] + p.src_off[i];
    for (std::size_t i = 0; i < dd.size(); ++i) dl.ptr[i] = dd[i] + p.dst_off[i];
    if (p.in_place) dl.ptr[0] = ds[0] + p.src_off[0];
    auto launch = [&](auto const& op) {
      WEFT_TEST_CUDA(weft_test::launch_reduce_copy(op, sl, dl, p.count, p.flags, device_sms()));
    };
    if constexpr (gpu_all_ops<T>) {
      with_op<T>(p.o, p.nranks, launch);
    } else {
      REQUIRE(p.o == opk::sum);
      launch(weft::op::sum<T>{});
    }
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
    for (std::size_t i = 0; i < dsv.size(); ++i) thrust::copy(dsv[i].begin(), dsv[i].end(), p.sb[i].begin());
    for (std::size_t i = 0; i < ddv.size(); ++i) thrust::copy(ddv[i].begin(), ddv[i].end(), p.db[i].begin());
  }
};

} // namespace rc_test
