// The device-side API's algorithm (symmetric/block.hpp) run by host threads:
// each rank a thread with a host_group, its symmetric part and flags in host
// memory. The same source a CUDA kernel runs; here it is checked for results,
// for the barrier's ordering (many rounds on the same slot) and for the bound.
#include <catch2/catch.hpp>

#include <weft/core/types.hpp>
#include <weft/symmetric/block.hpp>

#include <thread>
#include <vector>

#include "runtime_test_values.hpp"

using weft::status;

namespace {

struct host_symmetric {
  std::vector<std::vector<unsigned char>> data, flags;
  std::vector<weft::sym::device_handle> h;
  host_symmetric(int n, std::size_t bytes, int blocks) {
    data.assign(std::size_t(n), std::vector<unsigned char>(bytes));
    flags.assign(std::size_t(n), std::vector<unsigned char>(weft::sym::flag_bytes(n, blocks)));
    h.resize(std::size_t(n));
    for (int r = 0; r < n; ++r) {
      weft::sym::device_handle& x = h[std::size_t(r)];
      x.rank = r;
      x.nranks = n;
      x.bytes = bytes;
      x.max_blocks = blocks;
      x.timeout_ns = 10'000'000'000ull;
      for (int p = 0; p < n; ++p) {
        x.data[p] = data[std::size_t(p)].data();
        x.flags[p] = reinterpret_cast<cuda::std::uint64_t*>(flags[std::size_t(p)].data());
      }
    }
  }
};

float input(int rank, int round, std::size_t i) { return float(int((i * 3 + std::size_t(rank) * 5 + std::size_t(round)) % 11) - 5); }

using runtime_test::make;
using runtime_test::val;

template <class T>
void run_ranks(int n, std::size_t count, int rounds) {
  INFO("n=" << n << " count=" << count << " rounds=" << rounds);
  host_symmetric s(n, ((count * sizeof(T) + 63) / 64 * 64) * 2, 2);
  std::vector<std::size_t> wrong(std::size_t(n), 0);
  std::vector<status> st(std::size_t(n), status::success);
  std::vector<std::thread> th;
  for (int r = 0; r < n; ++r)
    th.emplace_back([&, r] {
      weft::host_group g;
      std::vector<T> in(count), out(count), gathered(count * std::size_t(n));
      for (int k = 0; k < rounds; ++k) {
        for (std::size_t i = 0; i < count; ++i) in[i] = make<T>(input(r, k, i));
        status x = weft::sym::block_all_reduce(g, s.h[std::size_t(r)], 1, in.data(), out.data(), count, weft::op::sum<T>{});
        if (x == status::success)
          x = weft::sym::block_all_gather(g, s.h[std::size_t(r)], 1, in.data(), gathered.data(), count);
        if (x != status::success) {
          st[std::size_t(r)] = x;
          return;
        }
        for (std::size_t i = 0; i < count; ++i) {
          float want = 0;
          for (int q = 0; q < n; ++q) want += input(q, k, i);
          wrong[std::size_t(r)] += val(out[i]) != want;
          for (int q = 0; q < n; ++q) wrong[std::size_t(r)] += val(gathered[std::size_t(q) * count + i]) != input(q, k, i);
        }
      }
    });
  for (auto& t : th) t.join();
  for (int r = 0; r < n; ++r) {
    CHECK(st[std::size_t(r)] == status::success);
    CHECK(wrong[std::size_t(r)] == 0);
  }
}

} // namespace

TEST_CASE("runtime block api: all-reduce and all-gather on host threads", "[runtime]") {
  for (int n : {1, 2, 3, 8}) {
    run_ranks<float>(n, 1000, 50);
    run_ranks<weft::bfloat16_t>(n, 333, 20);
  }
}

TEST_CASE("runtime block api: bad arguments and a missing rank", "[runtime]") {
  host_symmetric s(2, 1024, 2);
  weft::host_group g;
  float in[300] = {}, out[300] = {};
  // 1024 bytes over 2 slots: 128 floats per slot.
  CHECK(weft::sym::stage_elems<float>(s.h[0]) == 128);
  CHECK(weft::sym::block_all_reduce(g, s.h[0], 0, in, out, 129, weft::op::sum<float>{}) == status::invalid_argument);
  CHECK(weft::sym::block_all_reduce(g, s.h[0], 2, in, out, 1, weft::op::sum<float>{}) == status::invalid_argument);
  CHECK(weft::sym::block_all_gather(g, s.h[0], -1, in, out, 1) == status::invalid_argument);
  // Rank 1 never comes: rank 0's barrier returns timeout within its bound.
  s.h[0].timeout_ns = 20'000'000; // 20 ms
  auto const t0 = std::chrono::steady_clock::now();
  CHECK(weft::sym::block_all_reduce(g, s.h[0], 0, in, out, 16, weft::op::sum<float>{}) == status::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
}
