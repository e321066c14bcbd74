// The device-side API on one GPU: block-level all-reduce and all-gather called
// inside a user kernel, over symmetric memory of a communicator whose ranks
// share the GPU (one cooperative launch; block b is rank b / blocks-per-rank,
// slot b % blocks-per-rank). Checked exactly against a host reference, for
// fp32 and bf16; a rank that never arrives makes the others time out, bounded.
#include "gpu_check.hpp"

#include <weft/group/cuda_groups.cuh>
#include <weft/runtime/comm.cuh>
#include <weft/symmetric/block.hpp>

#include <vector>

#include "../runtime/runtime_test_values.hpp"

using weft::status;

namespace {

using runtime_test::make;
using runtime_test::val;
float input(int rank, int slot, std::size_t i) { return float(int((i * 5 + std::size_t(rank) * 3 + std::size_t(slot)) % 13) - 6); }

template <class T>
__global__ void block_collectives(weft::sym::device_handle const* hs, int bpr, T const* in, T* reduced, T* gathered,
                                  std::size_t count, int rounds, int absent_rank, int* st) {
  int const rank = int(blockIdx.x) / bpr, slot = int(blockIdx.x) % bpr;
  if (rank == absent_rank) return;
  weft::sym::device_handle const h = hs[rank];
  weft::cuda_cta g;
  std::size_t const row = std::size_t(rank) * std::size_t(bpr) + std::size_t(slot);
  status worst = status::success;
  for (int k = 0; k < rounds && worst == status::success; ++k) {
    worst = weft::sym::block_all_reduce(g, h, slot, in + row * count, reduced + row * count, count, weft::op::sum<T>{});
    if (worst == status::success)
      worst = weft::sym::block_all_gather(g, h, slot, in + row * count, gathered + row * count * std::size_t(h.nranks), count);
  }
  if (g.thread_rank() == 0) st[blockIdx.x] = int(worst);
}

template <class T>
void run(int n, int bpr, std::size_t count, int absent_rank, std::uint64_t timeout_ns) {
  INFO("n=" << n << " blocks/rank=" << bpr << " count=" << count << " absent=" << absent_rank << " T=" << sizeof(T));
  std::vector<std::unique_ptr<weft::comm>> cs;
  weft::comm_config cfg;
  cfg.max_channels = 1;
  REQUIRE(weft::comm_init_all(std::vector<int>(std::size_t(n), 0), cs, cfg) == status::success);
  std::vector<weft::symmetric_buffer> sb;
  std::size_t const per_slot = (count * sizeof(T) + 255) / 256 * 256;
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), per_slot * std::size_t(bpr), bpr, sb) == status::success);
  std::vector<weft::sym::device_handle> hs(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    bool ok = false;
    hs[std::size_t(r)] = cs[std::size_t(r)]->device_view(sb[std::size_t(r)], &ok);
    REQUIRE(ok);
    REQUIRE(weft::sym::stage_elems<T>(hs[std::size_t(r)]) >= count);
    hs[std::size_t(r)].timeout_ns = timeout_ns;
  }
  std::size_t const rows = std::size_t(n) * std::size_t(bpr);
  std::vector<T> hin(rows * count);
  for (int r = 0; r < n; ++r)
    for (int s = 0; s < bpr; ++s)
      for (std::size_t i = 0; i < count; ++i) hin[(std::size_t(r) * std::size_t(bpr) + std::size_t(s)) * count + i] = make<T>(input(r, s, i));
  weft::sym::device_handle* dh = nullptr;
  T *din = nullptr, *dred = nullptr, *dgat = nullptr;
  int* dst = nullptr;
  WEFT_TEST_CUDA(cudaMalloc(&dh, hs.size() * sizeof hs[0]));
  WEFT_TEST_CUDA(cudaMalloc(&din, hin.size() * sizeof(T)));
  WEFT_TEST_CUDA(cudaMalloc(&dred, hin.size() * sizeof(T)));
  WEFT_TEST_CUDA(cudaMalloc(&dgat, hin.size() * std::size_t(n) * sizeof(T)));
  WEFT_TEST_CUDA(cudaMalloc(&dst, rows * sizeof(int)));
  WEFT_TEST_CUDA(cudaMemset(dst, 0xff, rows * sizeof(int)));
  WEFT_TEST_CUDA(cudaMemcpy(dh, hs.data(), hs.size() * sizeof hs[0], cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemcpy(din, hin.data(), hin.size() * sizeof(T), cudaMemcpyHostToDevice));
  int rounds = 3;
  void* args[] = {&dh, &bpr, &din, &dred, &dgat, &count, &rounds, &absent_rank, &dst};
  WEFT_TEST_CUDA(cudaLaunchCooperativeKernel(reinterpret_cast<void const*>(&block_collectives<T>), dim3(unsigned(rows)), dim3(256),
                                             args, 0, nullptr));
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::vector<int> st(rows);
  WEFT_TEST_CUDA(cudaMemcpy(st.data(), dst, rows * sizeof(int), cudaMemcpyDeviceToHost));
  if (absent_rank >= 0) {
    for (std::size_t b = 0; b < rows; ++b)
      if (int(b) / bpr != absent_rank) CHECK(st[b] == int(status::timeout));
  } else {
    for (int x : st) CHECK(x == int(status::success));
    std::vector<T> red(hin.size()), gat(hin.size() * std::size_t(n));
    WEFT_TEST_CUDA(cudaMemcpy(red.data(), dred, red.size() * sizeof(T), cudaMemcpyDeviceToHost));
    WEFT_TEST_CUDA(cudaMemcpy(gat.data(), dgat, gat.size() * sizeof(T), cudaMemcpyDeviceToHost));
    std::size_t wrong = 0;
    for (int r = 0; r < n; ++r)
      for (int s = 0; s < bpr; ++s) {
        std::size_t const row = std::size_t(r) * std::size_t(bpr) + std::size_t(s);
        for (std::size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int q = 0; q < n; ++q) want += input(q, s, i);
          wrong += val(red[row * count + i]) != want;
          for (int q = 0; q < n; ++q)
            wrong += val(gat[(row * std::size_t(n) + std::size_t(q)) * count + i]) != input(q, s, i);
        }
      }
    CHECK(wrong == 0);
  }
  for (int r = 0; r < n; ++r) REQUIRE(cs[std::size_t(r)]->free_symmetric(sb[std::size_t(r)]) == status::success);
  bool ok = true;
  (void)cs[0]->device_view(sb[0], &ok);
  CHECK_FALSE(ok); // freed: no handle any more
  cudaFree(dh);
  cudaFree(din);
  cudaFree(dred);
  cudaFree(dgat);
  cudaFree(dst);
}

} // namespace

TEST_CASE("runtime gpu device api: block all-reduce and all-gather in a user kernel", "[gpu][runtime]") {
  for (int n : {1, 2, 4, 8})
    for (std::size_t count : {std::size_t(1), std::size_t(4096), std::size_t(8195)}) {
      run<float>(n, 4, count, -1, 10'000'000'000ull);
      run<weft::bfloat16_t>(n, 2, count, -1, 10'000'000'000ull);
    }
}

TEST_CASE("runtime gpu device api: a rank that never arrives gives a bounded timeout", "[gpu][runtime]") {
  run<float>(4, 2, 1024, 3, 20'000'000ull); // 20 ms bound
}

TEST_CASE("runtime gpu device api: symmetric memory lifetime", "[gpu][runtime]") {
  std::vector<std::unique_ptr<weft::comm>> cs;
  REQUIRE(weft::comm_init_all({0, 0}, cs) == status::success);
  std::vector<weft::symmetric_buffer> sb;
  CHECK(weft::alloc_symmetric_all(weft::pointers(cs), 0, 1, sb) == status::invalid_argument);
  CHECK(weft::alloc_symmetric_all(weft::pointers(cs), 4096, weft::sym::max_blocks + 1, sb) == status::invalid_argument);
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, 8, sb) == status::success);
  CHECK(cs[0]->symmetric_bytes() >= std::size_t(1) << 20);
  weft::symmetric_buffer copy = sb[0];
  REQUIRE(cs[0]->free_symmetric(sb[0]) == status::success);
  CHECK(cs[0]->free_symmetric(copy) == status::invalid_argument); // already freed
  // Destroying the communicator frees what is left.
  cs[1]->destroy();
  CHECK(cs[1]->symmetric_bytes() == 0);
  CHECK(cs[1]->scratch_bytes() == 0);
  bool ok = true;
  (void)cs[1]->device_view(sb[1], &ok);
  CHECK_FALSE(ok);
}
