// Double binary tree, hierarchical and rank-order (deterministic mode) all-reduce on one GPU
// with virtual ranks (one cooperative launch, one CTA per rank and channel):
// the same algorithm source as the CPU-team tests, checked against a host
// reference; rank order gives the same bits on every rank and for every
// protocol and channel count.
#include "ring_gpu_check.cuh" // WEFT_TEST_CUDA, protos, make<T>, weft_test::dvec

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
  // In place: the input is the output buffer; else a buffer of its own.
  std::vector<weft_test::dvec<float>> out, in;
  out.reserve(hin.size());
  in.reserve(hin.size());
  for (auto const& h : hin) {
    out.emplace_back(count + 1, 0.0f);
    if (in_place) thrust::copy(h.begin(), h.end(), out.back().begin());
    else in.emplace_back(h.begin(), h.end());
  }
  std::vector<float*> dout = weft_test::raw_ptrs(out);
  std::vector<float const*> din = weft_test::const_ptrs(in_place ? dout : weft_test::raw_ptrs(in));
  REQUIRE(comm.all_reduce_with<A>(din, dout, count, weft::op::sum<float>{}, o) == weft::status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::string why;
  REQUIRE(comm.last_status(&why) == weft::status::success);
  std::size_t wrong = 0;
  for (std::size_t r = 0; r < hin.size(); ++r) {
    std::vector<float> const h = weft_test::to_host(out[r]);
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

// Hierarchical all-reduce with virtual ranks: two and three levels, every outer
// algorithm, inner levels by ring (reduce-scatter in, all-gather out) or by a
// whole-range all-reduce (within = tree).
TEST_CASE("gpu hierarchical all-reduce", "[gpu][hier]") {
  struct shape {
    int n, inner, middle;
    weft::algorithm outer, within;
  };
  using A = weft::algorithm;
  shape const shapes[] = {{4, 2, 1, A::ring, A::ring},         {6, 3, 1, A::tree, A::ring},
                          {6, 2, 1, A::rabenseifner, A::ring}, {8, 2, 2, A::ring, A::ring},
                          {8, 4, 1, A::recursive_doubling, A::tree}, {12, 2, 3, A::tree, A::ring}};
  unsigned seed = 1300;
  for (shape const& sh : shapes) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(sh.n) == weft::status::success);
    for (weft::protocol p : protos)
      for (std::size_t count : {std::size_t(1), std::size_t(4099), std::size_t(100003)})
        for (bool ip : {false, true}) {
          weft::vrank_options o;
          o.proto = p;
          o.nchannels = 2;
          o.hier.inner = sh.inner;
          o.hier.middle = sh.middle;
          o.hier.outer = sh.outer;
          o.hier.within = sh.within;
          INFO("inner " << sh.inner << " middle " << sh.middle << " outer " << weft::to_string(sh.outer) << " within "
                        << weft::to_string(sh.within));
          check_all_reduce<weft::algorithm::hierarchical>(comm, sh.n, count, o, ip, ++seed);
        }
  }
}

TEST_CASE("gpu hierarchical all-reduce: a layout that does not fit is refused", "[gpu][hier]") {
  weft::vrank_comm comm;
  REQUIRE(comm.init(8) == weft::status::success);
  auto out = weft_test::filled_buffers(8, 64, 3.0f);
  std::vector<float*> dout = weft_test::raw_ptrs(out);
  std::vector<float const*> const din = weft_test::const_ptrs(dout);
  weft::vrank_options o;
  o.hier.inner = 3; // 8 ranks are not a multiple of 3
  CHECK(comm.all_reduce_with<weft::algorithm::hierarchical>(din, dout, 64, weft::op::sum<float>{}, o) ==
        weft::status::unsupported);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  for (auto const& v : out) CHECK(weft_test::count_not(v.begin(), 64, 3.0f) == 0); // nothing ran
  // The communicator still works.
  o.hier.inner = 4;
  CHECK(comm.all_reduce_with<weft::algorithm::hierarchical>(din, dout, 64, weft::op::sum<float>{}, o) ==
        weft::status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  CHECK(comm.last_status() == weft::status::success);
  for (auto const& v : out) CHECK(weft_test::count_not(v.begin(), 64, 24.0f) == 0);
}

TEST_CASE("gpu rank-order all-reduce: the same bits on every rank, protocol and channel count", "[gpu][tree]") {
  int const n = 6;
  std::size_t const count = 100003;
  weft::vrank_comm comm;
  REQUIRE(comm.init(n) == weft::status::success);
  std::mt19937 rng(77);
  std::vector<weft_test::dvec<float>> in, out = weft_test::filled_buffers(std::size_t(n), count, 0.0f);
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(count);
    for (auto& x : h) x = float(int(rng() % 20001) - 10000) * 1.37e-3f; // order matters for these sums
    in.emplace_back(h.begin(), h.end());
  }
  std::vector<float*> dout = weft_test::raw_ptrs(out);
  std::vector<float const*> const cin = weft_test::const_ptrs(weft_test::raw_ptrs(in));
  // Rank 0's first result; every later result (any rank, protocol, channel count)
  // must equal it bit for bit (compared on the device).
  weft_test::dvec<float> first;
  for (weft::protocol p : protos)
    for (int nch : {1, 3}) {
      weft::vrank_options o;
      o.proto = p;
      o.nchannels = nch;
      REQUIRE(comm.all_reduce_with<weft::algorithm::rank_order>(cin, dout, count, weft::op::sum<float>{}, o) ==
              weft::status::success);
      WEFT_TEST_CUDA(cudaDeviceSynchronize());
      REQUIRE(comm.last_status() == weft::status::success);
      if (first.empty()) first = out[0];
      for (int r = 0; r < n; ++r) {
        INFO("proto " << weft::to_string(p) << " channels " << nch << " rank " << r);
        REQUIRE(weft_test::count_bit_mismatches(out[std::size_t(r)].begin(), first.begin(), count) == 0);
      }
    }
  // The comparison can fail: one changed element is counted.
  thrust::fill_n(out[1].begin() + std::ptrdiff_t(count / 2), 1, float(first[count / 2]) + 1.0f);
  CHECK(weft_test::count_bit_mismatches(out[1].begin(), first.begin(), count) == 1);
}
