// Double binary tree and rank-order (deterministic mode) all-reduce on one GPU
// with virtual ranks (one cooperative launch, one CTA per rank and channel):
// the same algorithm source as the CPU-team tests, checked against a host
// reference; rank order gives the same bits on every rank and for every
// protocol and channel count.
#include "ring_gpu_check.cuh" // WEFT_TEST_CUDA, protos, make<T>

using namespace ring_gpu_test;

namespace {

// One all-reduce (fp32 sum) with algorithm `A` on `n` virtual ranks, each rank's
// output compared with a host reference. Only all-reduce is instantiated here:
// each (algorithm, protocol) is a kernel of its own.
template <weft::algorithm A>
void check_all_reduce(weft::vrank_comm& comm, int n, std::size_t count, weft::vrank_options o, bool in_place,
                      unsigned seed) {
  INFO(weft::to_string(A) << " n=" << n << " count=" << count << " proto=" << weft::to_string(o.proto)
                          << " in_place=" << in_place);
  std::mt19937 rng(seed);
  std::vector<std::vector<float>> hin(static_cast<std::size_t>(n), std::vector<float>(count));
  for (auto& v : hin)
    for (auto& x : v) x = make<float>(rng);
  std::vector<float*> dout(static_cast<std::size_t>(n)), dalloc(static_cast<std::size_t>(n), nullptr);
  std::vector<float const*> din(static_cast<std::size_t>(n));
  for (std::size_t r = 0; r < hin.size(); ++r) {
    WEFT_TEST_CUDA(cudaMalloc(&dout[r], (count + 1) * 4));
    float* in = dout[r];
    if (!in_place) {
      WEFT_TEST_CUDA(cudaMalloc(&dalloc[r], (count + 1) * 4));
      in = dalloc[r];
    }
    WEFT_TEST_CUDA(cudaMemcpy(in, hin[r].data(), count * 4, cudaMemcpyHostToDevice));
    din[r] = in;
  }
  REQUIRE(comm.all_reduce_with<A>(din, dout, count, weft::op::sum<float>{}, o) == weft::status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::string why;
  REQUIRE(comm.last_status(&why) == weft::status::success);
  std::size_t wrong = 0;
  std::vector<float> h(count);
  for (std::size_t r = 0; r < hin.size(); ++r) {
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), dout[r], count * 4, cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < count; ++i) {
      double want = 0, mag = 0;
      for (auto const& v : hin) {
        want += double(v[i]);
        mag += std::fabs(double(v[i]));
      }
      wrong += !(std::fabs(double(h[i]) - want) <= 1e-6 * mag * n);
    }
  }
  CHECK(wrong == 0);
  for (std::size_t r = 0; r < hin.size(); ++r) {
    cudaFree(dout[r]);
    if (dalloc[r]) cudaFree(dalloc[r]);
  }
}

} // namespace

TEST_CASE("gpu tree and rank-order all-reduce", "[gpu][tree]") {
  unsigned seed = 900;
  for (int n : {1, 2, 3, 5, 8}) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(n) == weft::status::success);
    for (weft::protocol p : protos)
      for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(4099), std::size_t(200003)})
        for (bool ip : {false, true}) {
          weft::vrank_options o;
          o.proto = p;
          o.nchannels = 2;
          check_all_reduce<weft::algorithm::tree>(comm, n, count, o, ip, ++seed);
          check_all_reduce<weft::algorithm::rank_order>(comm, n, count, o, ip, ++seed);
        }
  }
}

TEST_CASE("gpu rank-order all-reduce: the same bits on every rank, protocol and channel count", "[gpu][tree]") {
  int const n = 6;
  std::size_t const count = 100003;
  weft::vrank_comm comm;
  REQUIRE(comm.init(n) == weft::status::success);
  std::mt19937 rng(77);
  std::vector<float*> din(n), dout(n);
  std::vector<float const*> cin(n);
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(count);
    for (auto& x : h) x = float(int(rng() % 20001) - 10000) * 1.37e-3f; // order matters for these sums
    WEFT_TEST_CUDA(cudaMalloc(&din[std::size_t(r)], count * 4));
    WEFT_TEST_CUDA(cudaMalloc(&dout[std::size_t(r)], count * 4));
    WEFT_TEST_CUDA(cudaMemcpy(din[std::size_t(r)], h.data(), count * 4, cudaMemcpyHostToDevice));
    cin[std::size_t(r)] = din[std::size_t(r)];
  }
  std::vector<float> first;
  for (weft::protocol p : protos)
    for (int nch : {1, 3}) {
      weft::vrank_options o;
      o.proto = p;
      o.nchannels = nch;
      REQUIRE(comm.all_reduce_with<weft::algorithm::rank_order>(cin, dout, count, weft::op::sum<float>{}, o) ==
              weft::status::success);
      WEFT_TEST_CUDA(cudaDeviceSynchronize());
      REQUIRE(comm.last_status() == weft::status::success);
      for (int r = 0; r < n; ++r) {
        std::vector<float> h(count);
        WEFT_TEST_CUDA(cudaMemcpy(h.data(), dout[std::size_t(r)], count * 4, cudaMemcpyDeviceToHost));
        if (first.empty()) first = h;
        INFO("proto " << weft::to_string(p) << " channels " << nch << " rank " << r);
        REQUIRE(std::memcmp(h.data(), first.data(), count * 4) == 0);
      }
    }
  for (int r = 0; r < n; ++r) {
    cudaFree(din[std::size_t(r)]);
    cudaFree(dout[std::size_t(r)]);
  }
}
