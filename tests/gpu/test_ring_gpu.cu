// The ring family on one GPU with virtual ranks (one cooperative launch, one CTA per
// rank and channel): the same algorithm source as the CPU-team tests, checked
// against a host reference.
#include "ring_gpu_check.cuh"

using namespace ring_gpu_test;

TEST_CASE("gpu ring: every collective x protocol x channels x ranks x counts (fp32 sum)", "[gpu][ring]") {
  unsigned seed = 1;
  for (int n : {1, 2, 3, 4, 8}) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(n) == weft::status::success);
    for (coll c : colls)
      for (weft::protocol p : protos)
        for (int nch : {1, 2})
          for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(4099), std::size_t(300001)})
            for (bool ip : {false, true}) {
              weft::vrank_options o;
              o.proto = p;
              o.nchannels = nch;
              check<float>(comm, c, n, count, o, ip, n > 1 ? (int(count) + nch) % n : 0, ++seed);
            }
  }
}


TEST_CASE("gpu ring: direct all-gather", "[gpu][ring]") {
  for (int n : {2, 3, 5}) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(n) == weft::status::success);
    weft::vrank_options o;
    o.direct = true;
    for (std::size_t count : {std::size_t(1), std::size_t(4099), std::size_t(1) << 20}) check<float>(comm, coll::all_gather, n, count, o, false, 0, 5);
  }
}


TEST_CASE("gpu ring: 1000 back-to-back all-reduces per protocol on the same connections", "[gpu][ring]") {
  int const n = 4;
  weft::vrank_comm comm;
  weft::vrank_config cfg;
  cfg.nslots = 2; // small FIFO: many wrap-arounds
  REQUIRE(comm.init(n, cfg) == weft::status::success);
  std::size_t const count = 3001;
  std::vector<float*> buf(n);
  std::vector<float const*> cbuf(n);
  for (int r = 0; r < n; ++r) {
    WEFT_TEST_CUDA(cudaMalloc(&buf[std::size_t(r)], count * sizeof(float)));
    cbuf[std::size_t(r)] = buf[std::size_t(r)];
  }
  for (weft::protocol p : protos) {
    weft::vrank_options o;
    o.proto = p;
    o.nchannels = 2;
    // In place, all ones: after k all-reduces every element is n^k; reset before it overflows.
    std::vector<float> ones(count, 1.0f);
    for (int it = 0; it < 1000; ++it) {
      if (it % 8 == 0)
        for (int r = 0; r < n; ++r)
          WEFT_TEST_CUDA(cudaMemcpy(buf[std::size_t(r)], ones.data(), count * sizeof(float), cudaMemcpyHostToDevice));
      REQUIRE(comm.all_reduce(cbuf, buf, count, weft::op::sum<float>{}, o) == weft::status::success);
      if (it % 8 == 7) {
        WEFT_TEST_CUDA(cudaDeviceSynchronize());
        std::vector<float> h(count);
        for (int r = 0; r < n; ++r) {
          WEFT_TEST_CUDA(cudaMemcpy(h.data(), buf[std::size_t(r)], count * sizeof(float), cudaMemcpyDeviceToHost));
          float const want = 65536.0f; // 4^8
          std::size_t bad = 0;
          for (float x : h) bad += x != want;
          INFO("proto " << weft::to_string(p) << " iteration " << it << " rank " << r);
          REQUIRE(bad == 0);
        }
      }
    }
  }
  std::string why;
  CHECK(comm.last_status(&why) == weft::status::success);
  for (auto* b : buf) cudaFree(b);
}


TEST_CASE("gpu ring: vrank_comm calls captured in a CUDA graph replay correctly", "[gpu][ring]") {
  // Two all-reduces per graph (Simple, then LL): in -> mid -> out, with rank r's
  // input all r + 1, so every output element is n * (1 + ... + n). The pointers
  // travel as a kernel argument, so each replay must find them without a host copy.
  int const n = 4;
  weft::vrank_comm comm;
  REQUIRE(comm.init(n) == weft::status::success);
  std::size_t const count = 10007;
  std::vector<weft_test::dvec<float>> in, mid, out;
  for (int r = 0; r < n; ++r) {
    in.emplace_back(count, float(r + 1));
    mid.emplace_back(count, 0.0f);
    out.emplace_back(count, 0.0f);
  }
  auto const in_p = weft_test::const_ptrs(weft_test::raw_ptrs(in));
  auto const mid_w = weft_test::raw_ptrs(mid);
  auto const mid_p = weft_test::const_ptrs(mid_w);
  auto const out_w = weft_test::raw_ptrs(out);
  weft::vrank_options simple, ll;
  simple.nchannels = 2;
  ll.proto = weft::protocol::ll;
  cudaStream_t s;
  WEFT_TEST_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // Once outside capture (loads the kernels), then captured.
  REQUIRE(comm.all_reduce(in_p, mid_w, count, weft::op::sum<float>{}, simple, s) == weft::status::success);
  REQUIRE(comm.all_reduce(mid_p, out_w, count, weft::op::sum<float>{}, ll, s) == weft::status::success);
  WEFT_TEST_CUDA(cudaStreamSynchronize(s));
  WEFT_TEST_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  weft::status const a = comm.all_reduce(in_p, mid_w, count, weft::op::sum<float>{}, simple, s);
  weft::status const b = comm.all_reduce(mid_p, out_w, count, weft::op::sum<float>{}, ll, s);
  cudaGraph_t graph = nullptr;
  WEFT_TEST_CUDA(cudaStreamEndCapture(s, &graph));
  REQUIRE(a == weft::status::success);
  REQUIRE(b == weft::status::success);
  cudaGraphExec_t exec = nullptr;
  WEFT_TEST_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaGraphDestroy(graph);
  float const want = float(n * (n * (n + 1) / 2));
  for (int rep = 1; rep <= 50; ++rep) {
    if (rep % 10 == 0) // clear the outputs: the next replay must write them again
      for (int r = 0; r < n; ++r) WEFT_TEST_CUDA(cudaMemsetAsync(out_w[std::size_t(r)], 0, count * sizeof(float), s));
    WEFT_TEST_CUDA(cudaGraphLaunch(exec, s));
    if (rep % 10 != 0) continue;
    WEFT_TEST_CUDA(cudaStreamSynchronize(s));
    for (int r = 0; r < n; ++r) {
      INFO("replay " << rep << " rank " << r);
      CHECK(weft_test::count_not(out[std::size_t(r)].begin(), count, want) == 0);
    }
  }
  std::string why;
  CHECK(comm.last_status(&why) == weft::status::success);
  cudaGraphExecDestroy(exec);
  cudaStreamDestroy(s);
}


TEST_CASE("gpu ring: bad input is refused before launch", "[gpu][ring]") {
  weft::vrank_comm comm;
  REQUIRE(comm.init(2) == weft::status::success);
  std::vector<float const*> in(2, nullptr);
  std::vector<float*> out(2, nullptr);
  CHECK(comm.all_reduce(in, out, 10, weft::op::sum<float>{}) == weft::status::invalid_argument);
  weft::vrank_options o;
  o.nchannels = 99;
  CHECK(comm.all_reduce(in, out, 0, weft::op::sum<float>{}, o) == weft::status::invalid_argument);
  o.nchannels = 1;
  o.direct = true;
  o.proto = weft::protocol::ll;
  CHECK(comm.all_gather(in, out, 0, o) == weft::status::unsupported);
  CHECK(comm.broadcast(in, out, 0, 5) == weft::status::invalid_argument);
  weft::vrank_comm bad;
  CHECK(bad.init(0) == weft::status::invalid_argument);
}

