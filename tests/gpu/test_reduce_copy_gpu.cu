// reduce_copy on the GPU: the same test body as tests/core/test_reduce_copy.cpp,
// run through a CUDA kernel (cuda_cta groups, several blocks).
#include "device_reduce_copy.cuh"
#include "gpu_check.hpp"
#include "reduce_copy_cases.hpp"

using namespace rc_test;

namespace {

int device_sms() {
  int dev = 0, sms = 0;
  cudaGetDevice(&dev);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
  return sms;
}

// Mirrors the host buffers on the device, runs the kernel, copies every buffer back.
struct gpu_runner {
  template <class T>
  void operator()(rc_problem<T> const& p) const {
    std::vector<T*> ds(p.sb.size()), dd(p.db.size());
    for (std::size_t i = 0; i < p.sb.size(); ++i) {
      WEFT_TEST_CUDA(cudaMalloc(&ds[i], p.sb[i].size() * sizeof(T)));
      WEFT_TEST_CUDA(cudaMemcpy(ds[i], p.sb[i].data(), p.sb[i].size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    for (std::size_t i = 0; i < p.db.size(); ++i) {
      WEFT_TEST_CUDA(cudaMalloc(&dd[i], p.db[i].size() * sizeof(T)));
      WEFT_TEST_CUDA(cudaMemcpy(dd[i], p.db[i].data(), p.db[i].size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    weft::ptr_list<T const, 8> sl{};
    weft::ptr_list<T, 8> dl{};
    sl.n = int(ds.size());
    dl.n = int(dd.size());
    for (std::size_t i = 0; i < ds.size(); ++i) sl.ptr[i] = ds[i] + p.src_off[i];
    for (std::size_t i = 0; i < dd.size(); ++i) dl.ptr[i] = dd[i] + p.dst_off[i];
    if (p.in_place) dl.ptr[0] = ds[0] + p.src_off[0];
    with_op<T>(p.o, p.nranks, [&](auto const& op) {
      WEFT_TEST_CUDA(weft_test::launch_reduce_copy(op, sl, dl, p.count, p.flags, device_sms()));
    });
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      WEFT_TEST_CUDA(cudaMemcpy(p.sb[i].data(), ds[i], p.sb[i].size() * sizeof(T), cudaMemcpyDeviceToHost));
      WEFT_TEST_CUDA(cudaFree(ds[i]));
    }
    for (std::size_t i = 0; i < dd.size(); ++i) {
      WEFT_TEST_CUDA(cudaMemcpy(p.db[i].data(), dd[i], p.db[i].size() * sizeof(T), cudaMemcpyDeviceToHost));
      WEFT_TEST_CUDA(cudaFree(dd[i]));
    }
  }
};

} // namespace

TEMPLATE_LIST_TEST_CASE("gpu reduce_copy: every op over sizes, offsets, in place", "[gpu][reduce_copy]", all_types) {
  using T = TestType;
  std::uint64_t seed = 100;
  for (opk o : all_ops)
    for (int nsrc : {1, 2, 8})
      for (int ndst : {1, 2})
        for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(4096 + 3), std::size_t(1) << 18})
          for (int ok : {0, 1, 2})
            require_ok<T>(o, nsrc, ndst, count, offsets(nsrc, ok), offsets(ndst, ok), (nsrc + ok) % 2 == 0, {}, ++seed,
                          gpu_runner{});
}

TEMPLATE_LIST_TEST_CASE("gpu reduce_copy: N and M from 1 to 8", "[gpu][reduce_copy]", all_types) {
  using T = TestType;
  std::uint64_t seed = 7;
  opk const o = std::is_same_v<T, float> ? opk::sum : std::is_same_v<T, weft::bfloat16_t> ? opk::premul : opk::max;
  for (int nsrc = 1; nsrc <= 8; ++nsrc)
    for (int ndst = 1; ndst <= 8; ++ndst)
      require_ok<T>(o, nsrc, ndst, 100000 + std::size_t(nsrc) * 3 + std::size_t(ndst), offsets(nsrc, 1),
                    offsets(ndst, 1), (nsrc + ndst) % 3 == 0, {}, ++seed, gpu_runner{});
}

TEST_CASE("gpu reduce_copy: a few MiB", "[gpu][reduce_copy][large]") {
  std::size_t const bytes = 6u << 20;
  require_ok<float>(opk::sum, 2, 1, bytes / 4 + 3, offsets(2, 0), offsets(1, 0), false, {}, 1, gpu_runner{});
  require_ok<weft::bfloat16_t>(opk::sum, 4, 1, bytes / 2, offsets(4, 1), offsets(1, 1), false, {}, 2, gpu_runner{});
  require_ok<weft::float8_e5m2_t>(opk::avg, 3, 2, bytes, offsets(3, 2), offsets(2, 2), true, {}, 3, gpu_runner{});
}
