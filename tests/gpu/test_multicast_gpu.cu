// Multicast objects (NVLS) through `sym::multicast_region`, single process.
//
// - Refusals that need no multicast hardware: the same device twice (a multicast
//   object holds each device once: ranks sharing a GPU), no devices, 0 bytes, a
//   device that does not exist.
// - Device 0's multicast support is printed. Without it, creating a region must
//   return `unsupported` with a reason that mentions multicast, and the test says
//   clearly that the multimem path was not exercised.
// - With it: a one-device region (2 MiB). `multimem.st` through the multicast
//   address must land in the unicast memory; `multimem.ld_reduce` (add, fp32 and
//   bf16) through the multicast address of one device must return each value
//   itself, exactly; `nvls_all_reduce_kernel` over a real `multimem_multicast`
//   (one rank, its region in the multicast-bound memory) must return its input
//   exactly (fp32 and bf16 sums, several counts and block counts), and a negative
//   control (the multicast address shifted by two areas) shows that the kernel
//   really reads through the multicast address (the switch path), not the
//   unicast peer fallback.
// - With 2+ devices that support multicast: a two-device region where each
//   device stores its rank id through its multicast address, and a sum of both
//   devices' values read through device 0's multicast address. Skipped, with a
//   message, on fewer devices.
//
// Every kernel is loaded (cudaFuncGetAttributes) before the first launch, and
// every wait for a kernel is bounded (a stream polled until a deadline; a hang
// prints a message and ends the process, since its memory cannot be freed).
#include "gpu_check.hpp"

#include <weft/detail/ptx/multimem.cuh>
#include <weft/runtime/nvls_multimem.cuh>
#include <weft/symmetric/multicast.cuh>

#include <cuda.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using weft::bfloat16_t;
using weft::detail::b128;

constexpr std::size_t region_request = std::size_t(2) << 20; // 2 MiB (rounded up to the granularity)
constexpr int threads = 256;
constexpr double wait_seconds = 30.0;

// ---- values: exact under a one-source sum (no -0, no NaN, no subnormals) ----
__host__ __device__ inline std::uint32_t hash32(std::uint32_t k, std::uint32_t salt) {
  std::uint32_t h = k * 2654435761u ^ (salt * 0x9E3779B9u + 0x7f4a7c15u);
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return h;
}
// fp32: x.5 for x in [-10000, 10000]: never zero, exact.
__host__ __device__ inline float value_f32(std::uint32_t k, std::uint32_t salt) {
  return float(int(hash32(k, salt) % 20001u) - 10000) + 0.5f;
}
// bf16: an integer in [-127, 127] times 2^[-2, 2]: 7 significant bits, exact in bf16.
inline bfloat16_t value_bf16(std::uint32_t k, std::uint32_t salt) {
  std::uint32_t const h = hash32(k, salt);
  float const m = float(int(h % 255u) - 127);
  float const scale[5] = {0.25f, 0.5f, 1.0f, 2.0f, 4.0f};
  return bfloat16_t(m * scale[(h >> 8) % 5u]);
}

// ---- kernels ----
__global__ void mc_store_kernel(unsigned char* mc, std::size_t vecs, std::uint32_t salt) {
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += std::size_t(gridDim.x) * blockDim.x) {
    auto const k = std::uint32_t(4 * i);
    b128 const v{__float_as_uint(value_f32(k, salt)), __float_as_uint(value_f32(k + 1, salt)),
                 __float_as_uint(value_f32(k + 2, salt)), __float_as_uint(value_f32(k + 3, salt))};
    weft::detail::ptx::multimem_st_v4_f32(mc + 16 * i, v);
  }
}
__global__ void mc_fill_kernel(unsigned char* mc, std::size_t vecs, float x) {
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += std::size_t(gridDim.x) * blockDim.x) {
    std::uint32_t const w = __float_as_uint(x);
    weft::detail::ptx::multimem_st_v4_f32(mc + 16 * i, b128{w, w, w, w});
  }
}
__global__ void mc_ld_reduce_f32_kernel(unsigned char const* mc, b128* out, std::size_t vecs) {
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = weft::detail::ptx::multimem_ld_reduce_add_v4_f32(mc + 16 * i);
}
__global__ void mc_ld_reduce_bf16_kernel(unsigned char const* mc, b128* out, std::size_t vecs) {
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs; i += std::size_t(gridDim.x) * blockDim.x)
    out[i] = weft::detail::ptx::multimem_ld_reduce_add_v4_bf16x2(mc + 16 * i);
}

using nvls_f32 = weft::op::sum<float>;
using nvls_bf16 = weft::op::sum<bfloat16_t>;

// With lazy loading a kernel's first launch may wait for the device to go idle.
void load_kernels() {
  cudaFuncAttributes fa{};
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, mc_store_kernel));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, mc_fill_kernel));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, mc_ld_reduce_f32_kernel));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, mc_ld_reduce_bf16_kernel));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, weft::nvls_all_reduce_kernel<weft::multimem_multicast, nvls_f32>));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, weft::nvls_all_reduce_kernel<weft::multimem_multicast, nvls_bf16>));
}

// Wait for `st` at most wait_seconds. A kernel still running then cannot be
// stopped and its memory cannot be freed safely: report and end the process.
void wait_bounded(cudaStream_t st, char const* what) {
  auto const t0 = std::chrono::steady_clock::now();
  for (;;) {
    cudaError_t const e = cudaStreamQuery(st);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) {
      INFO(what << ": " << cudaGetErrorString(e));
      REQUIRE(e == cudaSuccess);
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > wait_seconds) {
      std::printf("FAILED: %s did not finish within %.0f s; ending the process\n", what, wait_seconds);
      std::fflush(stdout);
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void launch_check(char const* what) {
  cudaError_t const e = cudaGetLastError();
  INFO(what << ": launch failed: " << cudaGetErrorString(e));
  REQUIRE(e == cudaSuccess);
}

struct stream_guard {
  cudaStream_t s = nullptr;
  stream_guard() { WEFT_TEST_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~stream_guard() {
    if (s) cudaStreamDestroy(s);
  }
  stream_guard(stream_guard const&) = delete;
  stream_guard& operator=(stream_guard const&) = delete;
};

struct dev_mem {
  void* p = nullptr;
  explicit dev_mem(std::size_t bytes) { WEFT_TEST_CUDA(cudaMalloc(&p, bytes)); }
  ~dev_mem() { cudaFree(p); }
  dev_mem(dev_mem const&) = delete;
  dev_mem& operator=(dev_mem const&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

bool contains(std::string const& s, char const* part) { return s.find(part) != std::string::npos; }

unsigned grid_for(std::size_t vecs) {
  std::size_t const g = (vecs + threads - 1) / threads;
  return unsigned(g < 1 ? 1 : (g > 1024 ? 1024 : g));
}

// Device 0's multicast support as the test prints and uses it.
bool report_device0(std::string& why) {
  int attr = -1;
  bool const queried = weft::sym::device_attribute(0, CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED, attr);
  weft::sym::driver_api const& d = weft::sym::driver();
  bool const ok = weft::sym::multicast_region::supported(0, &why);
  std::printf("device 0: CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED = %d%s; multicast entry points %s; %s\n", attr,
              queried ? "" : " (query failed)", d.has_multicast() ? "loaded" : "MISSING",
              ok ? "multicast objects can be created" : ("not supported: " + why).c_str());
  return ok;
}

// Make a one-device region on device 0. A refusal of handle type "none" is
// reported as a failure, then the POSIX-fd type is tried so that the multimem
// checks still run.
void make_region(weft::sym::multicast_region& r, std::vector<int> const& devs) {
  weft::status s = r.create(devs, region_request);
  if (s == weft::status::cuda_error) {
    std::printf("multicast_region with handle type none failed: %s; retrying with POSIX fd\n", r.last_error().c_str());
    CHECK(s == weft::status::success);
    weft::sym::multicast_options o;
    o.handle_type = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    s = r.create(devs, region_request, o);
  }
  INFO("multicast_region::create: " << weft::to_string(s) << ": " << r.last_error());
  REQUIRE(s == weft::status::success);
  std::printf("multicast region: %d device(s), %zu bytes each (asked %zu, granularity %zu)\n", r.ndevices(), r.size(),
              r.requested(), r.granularity());
}

// A one-device region on device 0 with every kernel loaded; false (after a
// SKIPPED line naming what did not run) where device 0 has no multicast.
bool one_device_region(weft::sym::multicast_region& r, char const* not_run) {
  std::string why;
  if (!weft::sym::multicast_region::supported(0, &why)) {
    std::printf("SKIPPED (%s): %s\n", not_run, why.c_str());
    return false;
  }
  WEFT_TEST_CUDA(cudaSetDevice(0));
  load_kernels();
  make_region(r, {0});
  return true;
}

// ---- one-rank NVLS all-reduce over a real multicast object ----
constexpr int view_blocks = 2;
constexpr std::size_t area_bytes = 65536;
constexpr std::size_t ll_bytes = 1024;

struct one_rank_world {
  dev_mem flags{view_blocks * sizeof(std::uint64_t)};
  dev_mem cursors{view_blocks * sizeof(weft::sym_cursor)};
  dev_mem staging{view_blocks * ll_bytes};
  dev_mem failure{sizeof(weft::sym_failure)};
  dev_mem bufs_table{sizeof(unsigned char*)};
  dev_mem flags_table{sizeof(std::uint64_t*)};
  unsigned char* region = nullptr;
  unsigned char* mc = nullptr;

  one_rank_world(unsigned char* uc, unsigned char* mcast) : region(uc), mc(mcast) {
    WEFT_TEST_CUDA(cudaMemset(flags.p, 0, view_blocks * sizeof(std::uint64_t)));
    WEFT_TEST_CUDA(cudaMemset(cursors.p, 0, view_blocks * sizeof(weft::sym_cursor)));
    WEFT_TEST_CUDA(cudaMemset(staging.p, 0, view_blocks * ll_bytes));
    weft::sym_failure const none{};
    WEFT_TEST_CUDA(cudaMemcpy(failure.p, &none, sizeof none, cudaMemcpyHostToDevice));
    WEFT_TEST_CUDA(cudaMemcpy(bufs_table.p, &region, sizeof region, cudaMemcpyHostToDevice));
    std::uint64_t* const f = flags.as<std::uint64_t>();
    WEFT_TEST_CUDA(cudaMemcpy(flags_table.p, &f, sizeof f, cudaMemcpyHostToDevice));
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
  }
  weft::sym_view view() const {
    weft::sym_view v;
    v.bufs = bufs_table.as<unsigned char*>();
    v.flags = flags_table.as<std::uint64_t*>();
    v.cursors = cursors.as<weft::sym_cursor>();
    v.staging = staging.as<unsigned char>();
    v.failure = failure.as<weft::sym_failure>();
    v.rank = 0;
    v.nranks = 1;
    v.nblocks = view_blocks;
    v.area_bytes = area_bytes;
    v.ll_bytes = ll_bytes;
    v.bound = weft::wait_bound{10'000'000'000ull, nullptr};
    return v;
  }
};

template <class T>
T nvls_input(std::size_t j, std::uint32_t salt) {
  if constexpr (std::is_same_v<T, float>) return value_f32(std::uint32_t(j), salt);
  else return value_bf16(std::uint32_t(j), salt);
}

// One out-of-place NVLS all-reduce of `count` elements on `nb` CTAs through `mc`;
// the output must equal `want(j)` bit for bit and the 64 elements past it stay poisoned.
// With `counters` (an offset in the region) the barriers are switch barriers
// (multimem.red on one counter per block); afterwards each block's counter must
// equal its cursor's count of counter barriers (one rank: one addition per barrier).
template <class T, class Want>
void nvls_call(one_rank_world const& w, unsigned char* mc, cudaStream_t st, std::size_t count, int nb,
               std::uint32_t salt, Want want, char const* label, std::size_t counters = 0) {
  using Op = weft::op::sum<T>;
  constexpr std::size_t pad = 64;
  std::vector<T> in(count + pad), out(count + pad);
  for (std::size_t j = 0; j < count + pad; ++j) in[j] = nvls_input<T>(j, salt);
  dev_mem din((count + pad) * sizeof(T)), dout((count + pad) * sizeof(T)), res(sizeof(weft::status));
  WEFT_TEST_CUDA(cudaMemcpy(din.p, in.data(), (count + pad) * sizeof(T), cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemset(dout.p, 0x7f, (count + pad) * sizeof(T)));
  WEFT_TEST_CUDA(cudaMemset(res.p, 0, sizeof(weft::status)));
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  weft::multimem_multicast const m{w.view(), mc, counters};
  std::vector<std::uint64_t> before(view_blocks, 0);
  if (counters) WEFT_TEST_CUDA(cudaMemcpy(before.data(), w.region + counters, view_blocks * sizeof(std::uint64_t), cudaMemcpyDeviceToHost));
  weft::nvls_all_reduce_kernel<weft::multimem_multicast, Op>
      <<<unsigned(nb), threads, 0, st>>>(m, Op{}, din.as<T>(), dout.as<T>(), count, res.as<weft::status>());
  launch_check(label);
  wait_bounded(st, label);
  weft::status s{};
  WEFT_TEST_CUDA(cudaMemcpy(&s, res.p, sizeof s, cudaMemcpyDeviceToHost));
  WEFT_TEST_CUDA(cudaMemcpy(out.data(), dout.p, (count + pad) * sizeof(T), cudaMemcpyDeviceToHost));
  INFO(label << " count=" << count << " blocks=" << nb);
  REQUIRE(s == weft::status::success);
  std::size_t bad = 0, first = count;
  for (std::size_t j = 0; j < count; ++j) {
    T const e = want(in, j);
    if (std::memcmp(&out[j], &e, sizeof(T)) != 0) {
      if (!bad) first = j;
      ++bad;
    }
  }
  INFO(bad << " wrong elements, first at " << first);
  CHECK(bad == 0);
  T poisoned;
  std::memset(static_cast<void*>(&poisoned), 0x7f, sizeof(T));
  for (std::size_t j = count; j < count + pad; ++j) REQUIRE(std::memcmp(&out[j], &poisoned, sizeof(T)) == 0);
  if (counters) {
    std::vector<std::uint64_t> after(view_blocks, 0);
    std::vector<weft::sym_cursor> cur(view_blocks);
    WEFT_TEST_CUDA(cudaMemcpy(after.data(), w.region + counters, view_blocks * sizeof(std::uint64_t), cudaMemcpyDeviceToHost));
    WEFT_TEST_CUDA(cudaMemcpy(cur.data(), w.cursors.p, view_blocks * sizeof(weft::sym_cursor), cudaMemcpyDeviceToHost));
    for (int b = 0; b < view_blocks; ++b) {
      INFO("block " << b << ": counter " << before[std::size_t(b)] << " -> " << after[std::size_t(b)]
                    << ", cursor arrivals " << cur[std::size_t(b)].arrivals << ", epoch " << cur[std::size_t(b)].epoch);
      CHECK(after[std::size_t(b)] == cur[std::size_t(b)].arrivals);
      // Blocks with data crossed their barriers through the switch (partition leaves
      // trailing blocks empty for small counts: those cross none).
      if (b < nb && weft::partition(count, nb, b).size() > 0) CHECK(after[std::size_t(b)] > before[std::size_t(b)]);
    }
  }
}

// Fill the unicast memory with values, read them back through the multicast
// address with multimem.ld_reduce (one device: the sum is the value), compare exactly.
template <class T>
void ld_reduce_one_device(unsigned char* uc, unsigned char const* mc, std::size_t bytes, cudaStream_t st,
                          std::uint32_t salt, char const* label) {
  std::size_t const n = bytes / sizeof(T), vecs = bytes / 16;
  std::vector<T> in(n), h(n);
  for (std::size_t k = 0; k < n; ++k) in[k] = nvls_input<T>(k, salt);
  dev_mem out(bytes);
  WEFT_TEST_CUDA(cudaMemcpy(uc, in.data(), bytes, cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemset(out.p, 0xff, bytes));
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  if constexpr (std::is_same_v<T, float>)
    mc_ld_reduce_f32_kernel<<<grid_for(vecs), threads, 0, st>>>(mc, out.as<b128>(), vecs);
  else
    mc_ld_reduce_bf16_kernel<<<grid_for(vecs), threads, 0, st>>>(mc, out.as<b128>(), vecs);
  launch_check(label);
  wait_bounded(st, label);
  WEFT_TEST_CUDA(cudaMemcpy(h.data(), out.p, bytes, cudaMemcpyDeviceToHost));
  std::size_t bad = 0, first = n;
  for (std::size_t k = 0; k < n; ++k)
    if (std::memcmp(&h[k], &in[k], sizeof(T)) != 0 && !bad++) first = k;
  INFO(label << ": " << bad << " wrong, first at " << first
             << (bad ? " got " + std::to_string(float(h[first])) + " want " + std::to_string(float(in[first])) : ""));
  CHECK(bad == 0);
  std::printf("%s (one device): %zu values checked, %zu wrong\n", label, n, bad);
}

} // namespace

TEST_CASE("multicast_region refuses the same device twice and bad arguments", "[gpu][multicast]") {
  weft::sym::multicast_region r;
  weft::status s = r.create({0, 0}, region_request);
  std::printf("same device twice: %s: %s\n", weft::to_string(s), r.last_error().c_str());
  CHECK(s == weft::status::unsupported);
  CHECK(contains(r.last_error(), "twice"));
  CHECK(r.empty());
  CHECK(r.create({}, region_request) == weft::status::invalid_argument);
  CHECK(r.create({0}, 0) == weft::status::invalid_argument);
  CHECK(r.create({1 << 20}, region_request) == weft::status::invalid_argument);
  CHECK(r.empty());
}

TEST_CASE("multicast support of device 0: refused cleanly where missing", "[gpu][multicast]") {
  std::string why;
  bool const ok = report_device0(why);
  int attr = 0;
  if (weft::sym::device_attribute(0, CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED, attr) && attr) {
    INFO("the device reports multicast, so the driver's multicast entry points must load");
    REQUIRE(weft::sym::driver().has_multicast());
  }
  if (ok) {
    SUCCEED();
    return;
  }
  weft::sym::multicast_region r;
  weft::status const s = r.create({0}, region_request);
  std::printf("create on device 0: %s: %s\n", weft::to_string(s), r.last_error().c_str());
  CHECK(s == weft::status::unsupported);
  CHECK(contains(r.last_error(), "multicast"));
  CHECK(r.empty());
  std::printf("NOTE: device 0 has no multicast: the multimem (NVLS switch) path was NOT exercised by this run\n");
}

TEST_CASE("one-device multicast region: multimem.st and multimem.ld_reduce (fp32, bf16)", "[gpu][multicast]") {
  weft::sym::multicast_region r;
  if (!one_device_region(r, "multimem NOT exercised")) return;
  auto* const mc = static_cast<unsigned char*>(r.multicast_address(0));
  auto* const uc = static_cast<unsigned char*>(r.unicast_address(0));
  std::size_t const bytes = r.size(), vecs = bytes / 16, nf = bytes / 4;
  REQUIRE(bytes >= region_request);
  stream_guard st;

  // Freshly created: zero-filled.
  {
    std::vector<std::uint32_t> h(nf, 1u);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), uc, bytes, cudaMemcpyDeviceToHost));
    std::size_t nonzero = 0;
    for (std::uint32_t x : h) nonzero += x != 0;
    INFO(nonzero << " nonzero words in a new region");
    CHECK(nonzero == 0);
  }

  // multimem.st through the multicast address lands in the unicast memory.
  {
    std::uint32_t const salt = 11;
    mc_store_kernel<<<grid_for(vecs), threads, 0, st.s>>>(mc, vecs, salt);
    launch_check("multimem.st kernel");
    wait_bounded(st.s, "multimem.st kernel");
    std::vector<float> h(nf);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), uc, bytes, cudaMemcpyDeviceToHost));
    std::size_t bad = 0, first = nf;
    for (std::size_t k = 0; k < nf; ++k) {
      float const e = value_f32(std::uint32_t(k), salt);
      if (std::memcmp(&h[k], &e, 4) != 0 && !bad++) first = k;
    }
    INFO("multimem.st: " << bad << " wrong words, first at " << first);
    CHECK(bad == 0);
    std::printf("multimem.st through the multicast address: %zu words checked, %zu wrong\n", nf, bad);
  }

  // multimem.ld_reduce.add of one device: each value itself, fp32 and bf16 (acc::f32).
  ld_reduce_one_device<float>(uc, mc, bytes, st.s, 23, "multimem.ld_reduce.add f32");
  ld_reduce_one_device<bfloat16_t>(uc, mc, bytes, st.s, 37, "multimem.ld_reduce.add.acc::f32 bf16x2");
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
}

TEST_CASE("one-rank NVLS all-reduce through a real multicast object (fp32, bf16 sum)", "[gpu][multicast][nvls]") {
  weft::sym::multicast_region r;
  if (!one_device_region(r, "NVLS switch path NOT exercised")) return;
  auto* const mc = static_cast<unsigned char*>(r.multicast_address(0));
  auto* const uc = static_cast<unsigned char*>(r.unicast_address(0));
  std::size_t const need = weft::sym_view::region_bytes(1, view_blocks, area_bytes, ll_bytes);
  REQUIRE(need + 2 * area_bytes <= r.size()); // + 2 areas: the shifted negative control stays inside
  stream_guard st;
  {
    one_rank_world const w(uc, mc);
    auto same = [](auto const& in, std::size_t j) { return in[j]; };
    std::uint32_t salt = 100;
    int k = 0;
    // One area holds 16384 fp32 / 32768 bf16: the larger counts take several rounds (both parities).
    // First with the view's flag barriers, then with switch barriers (counters
    // after the window, as weft::comm lays them out); the cursors carry on: the
    // epochs from the flag barriers, the arrivals from 0.
    std::size_t const counters = (need + 63) / 64 * 64;
    REQUIRE(counters + view_blocks * sizeof(std::uint64_t) <= r.size());
    for (std::size_t ctr : {std::size_t(0), counters}) {
      for (std::size_t count : {std::size_t(1), std::size_t(7), std::size_t(4096), std::size_t(16387),
                                std::size_t(40000), std::size_t(100003)}) {
        int const nb = 1 + (k++ % 2);
        nvls_call<float>(w, mc, st.s, count, nb, ++salt, same, "nvls all_reduce fp32 (multimem)", ctr);
        nvls_call<bfloat16_t>(w, mc, st.s, count, 3 - nb, ++salt, same, "nvls all_reduce bf16 (multimem)", ctr);
      }
    }
    std::printf("one-rank NVLS all-reduce through the multicast address: fp32 and bf16, 6 counts each, flag barriers "
                "and switch barriers (multimem.red counters = cursor arrivals), exact\n");

    // Negative control: the multicast address shifted by two areas reads another
    // (zeroed) area, so a kernel that really reads through `mc` returns zeros
    // (4096 fp32: whole 16-byte vectors, no unicast tail). A kernel that fell
    // back to unicast peer reads would return its input.
    WEFT_TEST_CUDA(cudaMemset(uc, 0, r.size()));
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
    auto zero = [](auto const&, std::size_t) { return 0.0f; };
    nvls_call<float>(w, mc + 2 * area_bytes, st.s, 4096, 1, ++salt, zero,
                     "nvls all_reduce fp32, multicast address shifted by two areas (negative control)");
    std::printf("negative control: the all-reduce read through the multicast address (shifted address gave zeros)\n");
  }
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
}

TEST_CASE("two-device multicast region: each device stores its rank, ld_reduce sums both", "[gpu][multicast]") {
  int n = 0;
  WEFT_TEST_CUDA(cudaGetDeviceCount(&n));
  std::string why0, why1;
  if (n < 2) {
    std::printf("SKIPPED: two-device multicast needs 2 GPUs (%d present)\n", n);
    return;
  }
  if (!weft::sym::multicast_region::supported(0, &why0) || !weft::sym::multicast_region::supported(1, &why1)) {
    std::printf("SKIPPED: two-device multicast: %s%s\n", why0.c_str(), why1.c_str());
    return;
  }
  for (int d = 0; d < 2; ++d) {
    WEFT_TEST_CUDA(cudaSetDevice(d));
    load_kernels();
  }
  weft::sym::multicast_region r;
  make_region(r, {0, 1});
  std::size_t const slot = 65536, vecs = slot / 16, nf = slot / 4;
  // Device d stores d + 1 into slot d of every device's memory.
  for (int d = 0; d < 2; ++d) {
    WEFT_TEST_CUDA(cudaSetDevice(d));
    stream_guard st;
    auto* const mc = static_cast<unsigned char*>(r.multicast_address(d));
    mc_fill_kernel<<<grid_for(vecs), threads, 0, st.s>>>(mc + std::size_t(d) * slot, vecs, float(d + 1));
    launch_check("two-device multimem.st");
    wait_bounded(st.s, "two-device multimem.st");
  }
  std::vector<float> h(nf);
  for (int d = 0; d < 2; ++d)
    for (int s = 0; s < 2; ++s) {
      WEFT_TEST_CUDA(cudaMemcpy(h.data(), static_cast<unsigned char*>(r.unicast_address(d)) + std::size_t(s) * slot, slot,
                                cudaMemcpyDeviceToHost));
      std::size_t bad = 0;
      for (float x : h) bad += x != float(s + 1);
      INFO("device " << d << ", slot " << s << ": " << bad << " words are not " << s + 1);
      CHECK(bad == 0);
    }
  // Each device's slot 2 holds d + 1; device 0 reads their sum through its multicast address.
  for (int d = 0; d < 2; ++d) {
    std::vector<float> v(nf, float(d + 1));
    WEFT_TEST_CUDA(cudaMemcpy(static_cast<unsigned char*>(r.unicast_address(d)) + 2 * slot, v.data(), slot,
                              cudaMemcpyHostToDevice));
  }
  WEFT_TEST_CUDA(cudaSetDevice(0));
  dev_mem out(slot);
  {
    stream_guard st;
    mc_ld_reduce_f32_kernel<<<grid_for(vecs), threads, 0, st.s>>>(
        static_cast<unsigned char const*>(r.multicast_address(0)) + 2 * slot, out.as<b128>(), vecs);
    launch_check("two-device multimem.ld_reduce");
    wait_bounded(st.s, "two-device multimem.ld_reduce");
  }
  WEFT_TEST_CUDA(cudaMemcpy(h.data(), out.p, slot, cudaMemcpyDeviceToHost));
  std::size_t bad = 0;
  for (float x : h) bad += x != 3.0f;
  INFO(bad << " sums are not 3");
  CHECK(bad == 0);
  std::printf("two-device multicast: stores and a two-source ld_reduce checked\n");
  for (int d = 0; d < 2; ++d) {
    WEFT_TEST_CUDA(cudaSetDevice(d));
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
  }
  WEFT_TEST_CUDA(cudaSetDevice(0));
}
