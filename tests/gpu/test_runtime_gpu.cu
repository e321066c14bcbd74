// The GPU communicator end to end on one device: several ranks of one process
// on the same GPU (each rank its own stream), every collective x protocol x
// channels against a host reference; recursive and tree all-reduce; direct
// all-reduce over the communicator's window; CUDA-graph capture
// replayed 100 times; and ranks as separate processes that exchange memory
// handles (CUDA IPC and VMM file descriptors) and write into each other's
// buffers. Reductions are compiled for fp32 sum only (WEFT_RUNTIME_DTYPES/REDOPS).
#define WEFT_RUNTIME_DTYPES (1u << unsigned(::weft::dtype::f32))
#define WEFT_RUNTIME_REDOPS (1u << unsigned(::weft::redop::sum))
#include "gpu_check.hpp"

#include <weft/runtime/collectives.cuh>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

using weft::status;

namespace {

enum class coll { all_reduce, all_gather, reduce_scatter, broadcast, reduce };

float input(int rank, std::size_t i) { return float(int((i * 7 + std::size_t(rank) * 13) % 17) - 8); }

struct group {
  std::vector<std::unique_ptr<weft::comm>> comms;
  std::vector<cudaStream_t> streams;
  std::vector<int> devs; //!< rank r's GPU
  explicit group(int n, weft::comm_config cfg = {}) : group(std::vector<int>(std::size_t(n), 0), cfg) {}
  explicit group(std::vector<int> const& devices, weft::comm_config cfg = {}) : devs(devices) {
    REQUIRE(weft::comm_init_all(devs, comms, cfg) == status::success);
    streams.resize(devs.size());
    for (std::size_t r = 0; r < devs.size(); ++r) {
      WEFT_TEST_CUDA(cudaSetDevice(devs[r]));
      WEFT_TEST_CUDA(cudaStreamCreateWithFlags(&streams[r], cudaStreamNonBlocking));
    }
    WEFT_TEST_CUDA(cudaSetDevice(devs[0]));
  }
  ~group() {
    for (auto s : streams) cudaStreamDestroy(s);
  }
  int size() const { return int(comms.size()); }
  void sync_and_check() {
    for (auto s : streams) WEFT_TEST_CUDA(cudaStreamSynchronize(s));
    for (auto& c : comms) {
      std::string why;
      status const st = c->check_errors(&why);
      INFO(why);
      REQUIRE(st == status::success);
    }
  }
};

// One collective on every rank of `g` (fp32; sum), checked exactly (inputs are small integers).
// `workspace`: each rank gets its own call_options::scratch of nranks x count
// elements (the hierarchical reduce-scatter), allocated here and freed after.
void check(group& g, coll c, std::size_t count, weft::call_options o, bool in_place, int root, bool typed,
           bool workspace = false) {
  int const n = g.size();
  INFO("coll " << int(c) << " n=" << n << " count=" << count << " proto=" << (o.proto ? weft::to_string(*o.proto) : "auto")
               << " nch=" << o.nchannels << " in_place=" << in_place << " root=" << root << " typed=" << typed);
  bool const gathers = c == coll::all_gather, scatters = c == coll::reduce_scatter;
  std::size_t const in_count = scatters ? count * std::size_t(n) : count;
  std::size_t const out_count = gathers ? count * std::size_t(n) : count;
  std::vector<float*> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(in_count);
    for (std::size_t i = 0; i < in_count; ++i) h[i] = input(r, i);
    WEFT_TEST_CUDA(cudaSetDevice(g.devs[std::size_t(r)])); // each rank's buffers on its own GPU
    WEFT_TEST_CUDA(cudaMalloc(&out[std::size_t(r)], (out_count + 1) * sizeof(float)));
    WEFT_TEST_CUDA(cudaMemset(out[std::size_t(r)], 0x7f, (out_count + 1) * sizeof(float)));
    if (in_place && !scatters) in[std::size_t(r)] = out[std::size_t(r)] + (gathers ? std::size_t(r) * count : 0);
    else WEFT_TEST_CUDA(cudaMalloc(&in[std::size_t(r)], in_count * sizeof(float)));
    WEFT_TEST_CUDA(cudaMemcpy(in[std::size_t(r)], h.data(), in_count * sizeof(float), cudaMemcpyHostToDevice));
    WEFT_TEST_CUDA(cudaDeviceSynchronize()); // pageable copies may land after cudaMemcpy returns; the ranks' streams do not wait
  }
  std::vector<float*> work(static_cast<std::size_t>(n), nullptr);
  if (workspace)
    for (int r = 0; r < n; ++r) {
      WEFT_TEST_CUDA(cudaSetDevice(g.devs[std::size_t(r)]));
      WEFT_TEST_CUDA(cudaMalloc(&work[std::size_t(r)], count * std::size_t(n) * sizeof(float)));
    }
  WEFT_TEST_CUDA(cudaSetDevice(g.devs[0]));
  for (int r = 0; r < n; ++r) {
    if (workspace) {
      o.scratch = work[std::size_t(r)];
      o.scratch_bytes = count * std::size_t(n) * sizeof(float);
    }
    weft::comm& cm = *g.comms[std::size_t(r)];
    cudaStream_t s = g.streams[std::size_t(r)];
    float const* src = in[std::size_t(r)];
    float* dst = out[std::size_t(r)];
    status st = status::internal_error;
    weft::op::sum<float> const sum{};
    weft::redop_desc const rs{weft::redop::sum, 1.0, n};
    switch (c) {
      case coll::all_reduce:
        st = typed ? weft::all_reduce(cm, src, dst, count, sum, s, o) : weft::all_reduce(cm, src, dst, count, weft::dtype::f32, rs, s, o);
        break;
      case coll::all_gather:
        st = typed ? weft::all_gather(cm, src, dst, count, s, o) : weft::all_gather(cm, src, dst, count, weft::dtype::f32, s, o);
        break;
      case coll::reduce_scatter:
        st = typed ? weft::reduce_scatter(cm, src, dst, count, sum, s, o)
                   : weft::reduce_scatter(cm, src, dst, count, weft::dtype::f32, rs, s, o);
        break;
      case coll::broadcast:
        st = typed ? weft::broadcast(cm, src, dst, count, root, s, o) : weft::broadcast(cm, src, dst, count, weft::dtype::f32, root, s, o);
        break;
      case coll::reduce:
        st = typed ? weft::reduce(cm, src, dst, count, sum, root, s, o) : weft::reduce(cm, src, dst, count, weft::dtype::f32, rs, root, s, o);
        break;
    }
    REQUIRE(st == status::success);
  }
  g.sync_and_check();
  std::size_t wrong = 0;
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(out_count + 1);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), out[std::size_t(r)], h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    std::uint32_t guard;
    std::memcpy(&guard, &h[out_count], 4);
    CHECK(guard == 0x7f7f7f7fu);
    if (c == coll::reduce && r != root) continue;
    for (std::size_t i = 0; i < out_count; ++i) {
      float want = 0;
      if (gathers) want = input(int(i / count), i % count);
      else if (c == coll::broadcast) want = input(root, i);
      else
        for (int q = 0; q < n; ++q) want += input(q, scatters ? std::size_t(r) * count + i : i);
      if (h[i] != want && wrong++ < 3) UNSCOPED_INFO("rank " << r << " elem " << i << ": " << h[i] << " != " << want);
    }
  }
  CHECK(wrong == 0);
  for (int r = 0; r < n; ++r) {
    if (!(in_place && !scatters)) cudaFree(in[std::size_t(r)]);
    cudaFree(out[std::size_t(r)]);
    if (work[std::size_t(r)]) cudaFree(work[std::size_t(r)]);
  }
}

// Every rank's device input (`count` elements of input(r, i)) and output
// (`out_count` elements, uninitialised), freed at the end of the scope; on
// device devs[r] where given (one rank per GPU), else on the current device.
struct rank_io {
  std::vector<float*> in, out;
  rank_io(int n, std::size_t count, std::size_t out_count, std::vector<int> const& devs = {})
      : in(std::size_t(n)), out(std::size_t(n)) {
    int prev = 0;
    WEFT_TEST_CUDA(cudaGetDevice(&prev));
    for (std::size_t r = 0; r < in.size(); ++r) {
      if (r < devs.size()) WEFT_TEST_CUDA(cudaSetDevice(devs[r]));
      std::vector<float> h(count);
      for (std::size_t i = 0; i < count; ++i) h[i] = input(int(r), i);
      WEFT_TEST_CUDA(cudaMalloc(&in[r], count * sizeof(float)));
      WEFT_TEST_CUDA(cudaMalloc(&out[r], out_count * sizeof(float)));
      WEFT_TEST_CUDA(cudaMemcpy(in[r], h.data(), count * sizeof(float), cudaMemcpyHostToDevice));
      WEFT_TEST_CUDA(cudaDeviceSynchronize()); // see check()
    }
    WEFT_TEST_CUDA(cudaSetDevice(prev));
  }
  rank_io(rank_io const&) = delete;
  rank_io& operator=(rank_io const&) = delete;
  ~rank_io() {
    for (std::size_t r = 0; r < in.size(); ++r) {
      cudaFree(in[r]);
      cudaFree(out[r]);
    }
  }
};

} // namespace

TEST_CASE("runtime gpu: every collective x protocol x channels, ranks sharing one GPU", "[gpu][runtime]") {
  for (int n : {1, 2, 4}) {
    group g(n);
    CHECK(g.comms[0]->scratch_bytes() <= g.comms[0]->config().max_scratch_bytes);
    CHECK(std::string(g.comms[0]->transport()) == "process_local");
    int k = 0;
    for (coll c : {coll::all_reduce, coll::all_gather, coll::reduce_scatter, coll::broadcast, coll::reduce})
      for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128})
        for (int nch : {1, 3})
          for (std::size_t count : {std::size_t(1), std::size_t(4099), std::size_t(300001)}) {
            weft::call_options o;
            o.proto = p;
            o.nchannels = nch;
            ++k;
            check(g, c, count, o, k % 3 == 0, k % n, k % 2 == 0);
          }
    // The selector's own choice, from 8 bytes to 8 MiB.
    for (std::size_t count : {std::size_t(2), std::size_t(65536), std::size_t(2) << 20})
      check(g, coll::all_reduce, count, {}, false, 0, false);
  }
}

TEST_CASE("runtime gpu: recursive, tree and hierarchical all-reduce and direct all-gather", "[gpu][runtime]") {
  weft::comm_config cfg;
  cfg.recursive_connections = true;
  cfg.max_channels = 2;
  for (int n : {2, 3, 4, 5}) {
    group g(n, cfg);
    for (weft::algorithm a : {weft::algorithm::recursive_doubling, weft::algorithm::rabenseifner, weft::algorithm::tree,
                              weft::algorithm::hierarchical}) // hierarchical: the automatic layout
      for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll})
        for (std::size_t count : {std::size_t(7), std::size_t(70001)}) {
          weft::call_options o;
          o.algo = a;
          o.proto = p;
          o.nchannels = 2;
          check(g, coll::all_reduce, count, o, false, 0, true);
        }
  }
  // Hierarchical layouts through weft::comm: 2 levels on 4 and 6 ranks, 3 levels on 8,
  // every outer algorithm, inner ring (reduce-scatter in, all-gather out) or a whole-range
  // inner algorithm, in and out of place, typed and untyped; the hierarchical all-gather
  // on the same layouts.
  struct shape {
    int n, inner, middle;
  };
  int k = 0;
  for (shape sh : {shape{4, 2, 1}, shape{6, 3, 1}, shape{8, 2, 2}}) {
    group g(sh.n, cfg);
    for (weft::algorithm outer : {weft::algorithm::ring, weft::algorithm::tree, weft::algorithm::recursive_doubling,
                                  weft::algorithm::rabenseifner})
      for (weft::algorithm within : {weft::algorithm::ring, weft::algorithm::tree}) {
        weft::call_options o;
        o.algo = weft::algorithm::hierarchical;
        o.hier = weft::hier_layout{sh.inner, sh.middle, outer, within};
        o.proto = ++k % 2 ? weft::protocol::simple : weft::protocol::ll;
        o.nchannels = 1 + (k / 2) % 2; // both channel counts with both protocols
        INFO("hier " << sh.n << " = " << sh.inner << " x " << sh.middle << " outer " << weft::to_string(outer)
                     << " within " << weft::to_string(within));
        check(g, coll::all_reduce, 30011, o, k % 3 == 0, 0, k % 2 == 0);
        if (within == weft::algorithm::ring && outer == weft::algorithm::ring) { // all-gather, reduce-scatter: the levels only
          check(g, coll::all_gather, 4099, o, k % 3 == 0, 0, k % 2 == 0);
          check(g, coll::reduce_scatter, 4099, o, false, 0, k % 2 == 0, true);
          check(g, coll::reduce_scatter, 1001, o, false, 0, k % 2 != 0, true);
        }
      }
    // The hierarchical reduce-scatter without its workspace: refused before any launch, named.
    {
      weft::call_options o;
      o.algo = weft::algorithm::hierarchical;
      o.hier = weft::hier_layout{sh.inner, sh.middle, weft::algorithm::ring, weft::algorithm::ring};
      float* d = nullptr;
      WEFT_TEST_CUDA(cudaMalloc(&d, std::size_t(sh.n) * 65 * sizeof(float)));
      CHECK(weft::reduce_scatter(*g.comms[0], d, d + std::size_t(sh.n) * 64, 1, weft::op::sum<float>{}, g.streams[0], o) ==
            status::invalid_argument);
      CHECK(std::string(g.comms[0]->last_call_error()).find("call_options::scratch") != std::string::npos);
      cudaFree(d);
    }
    // A layout that does not fit: refused before any launch.
    weft::call_options bad;
    bad.algo = weft::algorithm::hierarchical;
    bad.hier = weft::hier_layout{5, 1, weft::algorithm::ring, weft::algorithm::ring};
    float* d = nullptr;
    WEFT_TEST_CUDA(cudaMalloc(&d, 64 * sizeof(float)));
    CHECK(weft::all_reduce(*g.comms[0], d, d, 64, weft::op::sum<float>{}, g.streams[0], bad) == status::unsupported);
    CHECK(std::string(g.comms[0]->last_call_error()).find("hierarchical layout") != std::string::npos);
    cudaFree(d);
  }
  // Direct all-gather writes into the next rank's registered output.
  group g(3);
  std::size_t const count = 4099;
  rank_io io(3, count, 3 * count);
  std::vector<float*> const& in = io.in;
  std::vector<float*> const& out = io.out;
  std::vector<void*> outs(out.begin(), out.end());
  std::vector<weft::registered_buffer> regs;
  REQUIRE(weft::register_buffers_all(weft::pointers(g.comms), outs, 3 * count * sizeof(float), regs) == status::success);
  weft::call_options o;
  o.direct = true;
  o.proto = weft::protocol::simple;
  for (int r = 0; r < 3; ++r)
    REQUIRE(weft::all_gather(*g.comms[std::size_t(r)], in[std::size_t(r)], out[std::size_t(r)], count, g.streams[std::size_t(r)], o) ==
            status::success);
  g.sync_and_check();
  for (int r = 0; r < 3; ++r) {
    std::vector<float> h(3 * count);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), out[std::size_t(r)], h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < h.size(); ++i) wrong += h[i] != input(int(i / count), i % count);
    CHECK(wrong == 0);
  }
  // Deregistered: the direct call is refused, nothing launched.
  for (int r = 0; r < 3; ++r) REQUIRE(g.comms[std::size_t(r)]->deregister_buffer(regs[std::size_t(r)]) == status::success);
  CHECK(weft::all_gather(*g.comms[0], in[0], out[0], count, g.streams[0], o) == status::invalid_argument);
}

TEST_CASE("runtime gpu: direct all-reduce over the communicator's window", "[gpu][runtime]") {
  using weft::direct_flavour;
  for (int n : {1, 2, 3, 4, 5}) {
    group g(n);
    REQUIRE(g.comms[0]->direct_ready());
    int k = 0;
    for (direct_flavour fl : {direct_flavour::one_shot, direct_flavour::two_shot, direct_flavour::ll})
      for (int nch : {0, 1, 4})
        // 70001 floats: more than one 64 KiB area per block, so several rounds (both parities).
        for (std::size_t count : {std::size_t(1), std::size_t(7), std::size_t(4099), std::size_t(70001)}) {
          weft::call_options o;
          o.flavour = fl;
          o.nchannels = nch;
          ++k;
          INFO("flavour " << weft::to_string(fl));
          check(g, coll::all_reduce, count, o, k % 2 == 0, 0, k % 3 != 0);
        }
  }
  // 300 calls back to back, flavours mixed, no synchronisation in between: the
  // epochs keep every block's barriers and LL lines apart from call to call.
  int const n = 4;
  group g(n);
  std::size_t const count = 20000;
  rank_io io(n, count, count);
  std::vector<float*> const& in = io.in;
  std::vector<float*> const& out = io.out;
  for (int call = 0; call < 300; ++call) {
    weft::call_options o;
    o.flavour = direct_flavour(call % 3);
    o.nchannels = 1 + call % 4;
    for (int r = 0; r < n; ++r)
      REQUIRE(weft::all_reduce(*g.comms[std::size_t(r)], in[std::size_t(r)], out[std::size_t(r)], count,
                               weft::op::sum<float>{}, g.streams[std::size_t(r)], o) == status::success);
  }
  g.sync_and_check();
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(count);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), out[std::size_t(r)], count * sizeof(float), cudaMemcpyDeviceToHost));
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += input(q, i);
      wrong += h[i] != want;
    }
    CHECK(wrong == 0);
  }
  // A rank that never arrives: the others time out (bounded), say where, and the communicator refuses further calls.
  weft::comm_config quick;
  quick.timeout_ns = 50'000'000; // 50 ms
  group lone(2, quick);
  weft::call_options o;
  o.flavour = direct_flavour::one_shot;
  REQUIRE(weft::all_reduce(*lone.comms[0], in[0], out[0], count, weft::op::sum<float>{}, lone.streams[0], o) == status::success);
  WEFT_TEST_CUDA(cudaStreamSynchronize(lone.streams[0]));
  std::string why;
  CHECK(lone.comms[0]->check_errors(&why) == status::timeout);
  INFO(why);
  CHECK(why.find("direct all-reduce") != std::string::npos);
  CHECK(why.find("rank 1") != std::string::npos);
  CHECK(weft::all_reduce(*lone.comms[0], in[0], out[0], count, weft::op::sum<float>{}, lone.streams[0], o) == status::aborted);
}

TEST_CASE("runtime gpu: nvls collectives over the communicator's multicast window", "[gpu][runtime]") {
  // Ranks sharing a GPU never get a multicast window (a multicast object holds
  // each device once): creation succeeds, NVLS calls are refused with the reason.
  {
    group shared(2);
    std::string why;
    CHECK(shared.comms[0]->nvls_status(&why) == status::unsupported);
    INFO(why);
    CHECK(why.find("twice") != std::string::npos);
    CHECK_FALSE(shared.comms[1]->nvls_ready());
    rank_io io(2, 64, 64);
    weft::call_options o;
    o.algo = weft::algorithm::nvls;
    CHECK(weft::all_reduce(*shared.comms[0], io.in[0], io.out[0], 64, weft::op::sum<float>{}, shared.streams[0], o) ==
          status::unsupported);
    CHECK(std::string(shared.comms[0]->last_call_error()).find("nvls_blocks") != std::string::npos);
  }
  // One rank per visible GPU.
  int ndev = 0;
  WEFT_TEST_CUDA(cudaGetDeviceCount(&ndev));
  std::vector<int> devs;
  for (int d = 0; d < ndev; ++d) devs.push_back(d);
  group g(devs);
  std::string why;
  status const ns = g.comms[0]->nvls_status(&why);
  for (auto& c : g.comms) CHECK(c->nvls_ready() == (ns == status::success));
  if (ns != status::success) {
    CHECK(!why.empty());
    WARN("NVLS collectives not run on " << ndev << " GPU(s): " << why);
    return;
  }
  WARN("NVLS multicast window made on " << ndev << " GPU(s), " << g.comms[0]->scratch_bytes() << " scratch bytes per rank");
  int const n = g.size();
  int k = 0;
  for (coll c : {coll::all_reduce, coll::all_gather, coll::reduce_scatter})
    for (int nch : {0, 1, 4})
      // 300001 floats: several rounds of a 256 KiB area per block, both parities.
      for (std::size_t count : {std::size_t(1), std::size_t(7), std::size_t(4099), std::size_t(70001), std::size_t(300001)}) {
        weft::call_options o;
        o.algo = weft::algorithm::nvls;
        o.nchannels = nch;
        ++k;
        check(g, c, count, o, k % 2 == 0, 0, k % 3 != 0);
      }
  // 200 calls back to back, collectives and block counts mixed, no synchronisation in between.
  std::size_t const count = 50000;
  rank_io io(n, count * std::size_t(n), count * std::size_t(n), devs);
  for (int call = 0; call < 200; ++call) {
    weft::call_options o;
    o.algo = weft::algorithm::nvls;
    o.nchannels = 1 + call % 4;
    for (int r = 0; r < n; ++r) {
      weft::comm& cm = *g.comms[std::size_t(r)];
      float* in = io.in[std::size_t(r)];
      float* out = io.out[std::size_t(r)];
      cudaStream_t s = g.streams[std::size_t(r)];
      status st = status::internal_error;
      if (call % 3 == 0) st = weft::all_reduce(cm, in, out, count, weft::op::sum<float>{}, s, o);
      else if (call % 3 == 1) st = weft::all_gather(cm, in, out, count, s, o);
      else st = weft::reduce_scatter(cm, in, out, count, weft::op::sum<float>{}, s, o);
      REQUIRE(st == status::success);
    }
  }
  g.sync_and_check();
  // The last call (199: an all-gather) left every rank's inputs in rank order.
  for (int r = 0; r < n; ++r) {
    std::vector<float> h(count * std::size_t(n));
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), io.out[std::size_t(r)], h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < h.size(); ++i) wrong += h[i] != input(int(i / count), i % count);
    CHECK(wrong == 0);
  }
  // A peer that never calls: the others time out (bounded) and say where.
  if (n > 1) {
    weft::comm_config quick;
    quick.timeout_ns = 50'000'000; // 50 ms
    group lone(devs, quick);
    REQUIRE(lone.comms[0]->nvls_ready());
    weft::call_options o;
    o.algo = weft::algorithm::nvls;
    REQUIRE(weft::all_reduce(*lone.comms[0], io.in[0], io.out[0], count, weft::op::sum<float>{}, lone.streams[0], o) ==
            status::success);
    WEFT_TEST_CUDA(cudaStreamSynchronize(lone.streams[0]));
    std::string w;
    CHECK(lone.comms[0]->check_errors(&w) == status::timeout);
    INFO(w);
    CHECK(w.find("nvls") != std::string::npos);
  }
}

TEST_CASE("runtime gpu: all_to_all over point-to-point connections", "[gpu][runtime]") {
  weft::comm_config cfg;
  cfg.recursive_connections = true;
  cfg.max_channels = 2;
  for (int n : {1, 2, 3, 4}) {
    group g(n, cfg);
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128})
      for (std::size_t count : {std::size_t(1), std::size_t(1001), std::size_t(40000)})
        for (int nch : {1, 2}) {
          INFO("n " << n << " proto " << weft::to_string(p) << " count " << count << " nch " << nch);
          std::size_t const total = count * std::size_t(n);
          std::vector<float*> in(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
          for (int r = 0; r < n; ++r) {
            std::vector<float> h(total);
            for (std::size_t i = 0; i < total; ++i) h[i] = float(r * 1000003 + int(i)); // exact in fp32 below 2^24
            WEFT_TEST_CUDA(cudaMalloc(&in[std::size_t(r)], total * sizeof(float)));
            WEFT_TEST_CUDA(cudaMalloc(&out[std::size_t(r)], (total + 1) * sizeof(float)));
            WEFT_TEST_CUDA(cudaMemset(out[std::size_t(r)], 0x7f, (total + 1) * sizeof(float)));
            WEFT_TEST_CUDA(cudaMemcpy(in[std::size_t(r)], h.data(), total * sizeof(float), cudaMemcpyHostToDevice));
          }
          WEFT_TEST_CUDA(cudaDeviceSynchronize()); // see check()
          weft::call_options o;
          o.proto = p;
          o.nchannels = nch;
          for (int r = 0; r < n; ++r) {
            // Odd ranks through the untyped form, even ranks typed: both move bytes alike.
            status const st = r % 2
                ? weft::all_to_all(*g.comms[std::size_t(r)], static_cast<void const*>(in[std::size_t(r)]),
                                   static_cast<void*>(out[std::size_t(r)]), count, weft::dtype::f32, g.streams[std::size_t(r)], o)
                : weft::all_to_all(*g.comms[std::size_t(r)], in[std::size_t(r)], out[std::size_t(r)], count,
                                   g.streams[std::size_t(r)], o);
            REQUIRE(st == status::success);
          }
          g.sync_and_check();
          std::size_t wrong = 0;
          for (int r = 0; r < n; ++r) {
            std::vector<float> h(total + 1);
            WEFT_TEST_CUDA(cudaMemcpy(h.data(), out[std::size_t(r)], h.size() * sizeof(float), cudaMemcpyDeviceToHost));
            // Block q of rank r's output is block r of rank q's input.
            for (std::size_t i = 0; i < total; ++i) {
              int const q = int(i / count);
              wrong += h[i] != float(q * 1000003 + int(std::size_t(r) * count + i % count));
            }
            std::uint32_t guard;
            std::memcpy(&guard, &h[total], 4);
            CHECK(guard == 0x7f7f7f7fu);
          }
          CHECK(wrong == 0);
          for (int r = 0; r < n; ++r) {
            cudaFree(in[std::size_t(r)]);
            cudaFree(out[std::size_t(r)]);
          }
        }
  }
  // Without point-to-point connections, and in place: refused, nothing launched.
  group plain(2);
  float* buf = nullptr;
  WEFT_TEST_CUDA(cudaMalloc(&buf, 64 * sizeof(float)));
  CHECK(weft::all_to_all(*plain.comms[0], buf, buf + 32, 16, plain.streams[0]) == status::unsupported);
  group pairs(2, cfg);
  CHECK(weft::all_to_all(*pairs.comms[0], buf, buf + 8, 16, pairs.streams[0]) == status::unsupported);
  cudaFree(buf);
}

namespace {
__global__ void add_one(float* p, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) p[i] += 1.0f;
}
} // namespace

TEST_CASE("runtime gpu: collectives captured in CUDA graphs replay 100 times", "[gpu][runtime]") {
  int const n = 4;
  group g(n);
  std::size_t const count = 100003;
  rank_io io(n, count, count);
  std::vector<float*> const& in = io.in;
  std::vector<float*> const& out = io.out;
  // Ring on Simple and LL, then the three direct flavours (their block cursors live
  // in device memory, so a replayed launch moves on to the next epochs by itself).
  std::vector<weft::call_options> cases(5);
  cases[0].proto = weft::protocol::simple;
  cases[1].proto = weft::protocol::ll;
  cases[2].flavour = weft::direct_flavour::one_shot;
  cases[3].flavour = weft::direct_flavour::two_shot;
  cases[4].flavour = weft::direct_flavour::ll;
  for (std::size_t ci = 0; ci < cases.size(); ++ci) {
    weft::call_options o = cases[ci];
    o.nchannels = 2;
    INFO("case " << ci << ": " << (o.flavour ? weft::to_string(*o.flavour) : weft::to_string(*o.proto)));
    // One call outside capture first, as a framework warms up before capturing:
    // the collective's kernel is loaded then, not inside the capture.
    for (int r = 0; r < n; ++r)
      REQUIRE(weft::all_reduce(*g.comms[std::size_t(r)], in[std::size_t(r)], out[std::size_t(r)], count,
                               weft::op::sum<float>{}, g.streams[std::size_t(r)], o) == status::success);
    g.sync_and_check();
    // Each rank's stream is captured into its own graph: bump the input, then all-reduce it.
    std::vector<cudaGraphExec_t> exec(n);
    // Load add_one before capturing (as a framework's kernels are): this test is
    // about what the collective adds to a capture.
    cudaFuncAttributes fa{};
    WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, add_one));
    // Whether `s` is still capturing: a call that the driver refuses during
    // capture invalidates it, and this says which step did.
    auto still_capturing = [](cudaStream_t s) {
      cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
      return cudaStreamIsCapturing(s, &cs) == cudaSuccess && cs == cudaStreamCaptureStatusActive;
    };
    for (int r = 0; r < n; ++r) {
      cudaStream_t s = g.streams[std::size_t(r)];
      WEFT_TEST_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
      add_one<<<64, 256, 0, s>>>(in[std::size_t(r)], count);
      bool const after_user_kernel = still_capturing(s);
      status const st = weft::all_reduce(*g.comms[std::size_t(r)], in[std::size_t(r)], out[std::size_t(r)], count,
                                         weft::op::sum<float>{}, s, o);
      bool const after_collective = still_capturing(s);
      // Nothing that allocates or exchanges handles may run now.
      std::vector<weft::symmetric_buffer> sbs;
      status const alloc = r == 0 ? weft::alloc_symmetric_all(weft::pointers(g.comms), 4096, 1, sbs, s) : status::unsupported;
      bool const after_refusal = still_capturing(s);
      cudaGraph_t graph;
      INFO("rank " << r << ": capturing after the user kernel " << after_user_kernel << ", after the collective "
                   << after_collective << ", after the refused allocation " << after_refusal);
      WEFT_TEST_CUDA(cudaStreamEndCapture(s, &graph));
      CHECK(after_collective);
      REQUIRE(st == status::success);
      CHECK(alloc == status::unsupported);
      WEFT_TEST_CUDA(cudaGraphInstantiate(&exec[std::size_t(r)], graph, 0));
      cudaGraphDestroy(graph);
    }
    for (int rep = 1; rep <= 100; ++rep) {
      for (int r = 0; r < n; ++r) WEFT_TEST_CUDA(cudaGraphLaunch(exec[std::size_t(r)], g.streams[std::size_t(r)]));
      if (rep % 25 != 0 && rep != 1) continue;
      g.sync_and_check();
      std::vector<float> h(count);
      WEFT_TEST_CUDA(cudaMemcpy(h.data(), out[std::size_t(rep % n)], count * sizeof(float), cudaMemcpyDeviceToHost));
      int const bumps = rep + 100 * int(ci);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < count; ++i) {
        float want = 0;
        for (int q = 0; q < n; ++q) want += input(q, i) + float(bumps);
        wrong += h[i] != want;
      }
      INFO("replay " << rep);
      CHECK(wrong == 0);
    }
    g.sync_and_check();
    for (auto e : exec) cudaGraphExecDestroy(e);
  }
}

// ---- ranks as processes: a bootstrap over a shared-memory page ----
namespace {

struct shm_area {
  std::atomic<std::uint64_t> arrived[8];
  unsigned char data[2][8][1024];
};

class shm_bootstrap final : public weft::comm_bootstrap {
public:
  shm_bootstrap(shm_area* a, int rank, int size) : a_(a), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  status all_gather(void const* mine, std::size_t bytes, void* all) override {
    if (bytes > sizeof a_->data[0][0]) return status::invalid_argument;
    std::uint64_t const round = ++round_;
    std::memcpy(a_->data[round % 2][rank_], mine, bytes);
    a_->arrived[rank_].store(round, std::memory_order_release);
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int p = 0; p < size_; ++p)
      while (a_->arrived[p].load(std::memory_order_acquire) < round) {
        if (std::chrono::steady_clock::now() > deadline) return status::timeout;
        std::this_thread::yield();
      }
    for (int p = 0; p < size_; ++p) std::memcpy(static_cast<char*>(all) + std::size_t(p) * bytes, a_->data[round % 2][p], bytes);
    return status::success;
  }
  status barrier() override {
    char x = 0, all[8];
    return all_gather(&x, 1, all);
  }

private:
  shm_area* a_;
  int rank_, size_;
  std::uint64_t round_ = 0;
};

__global__ void write_marks(int* peer_part, int rank, int n) {
  for (int i = int(threadIdx.x); i < n; i += int(blockDim.x)) peer_part[i] = rank * 1000 + i;
}

} // namespace

// Run by the parent test below in a separate process (hidden from the default run).
TEST_CASE("runtime gpu: child process rank", "[.child]") {
  char const* shm = std::getenv("WEFT_RT_SHM");
  char const* rk = std::getenv("WEFT_RT_RANK");
  char const* hk = std::getenv("WEFT_RT_HANDLES");
  REQUIRE((shm && rk && hk));
  int fd = ::shm_open(shm, O_RDWR, 0600);
  REQUIRE(fd >= 0);
  auto* area = static_cast<shm_area*>(::mmap(nullptr, sizeof(shm_area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  REQUIRE(area != MAP_FAILED);
  int const rank = std::atoi(rk), n = 2;
  shm_bootstrap b(area, rank, n);
  weft::comm_config cfg;
  cfg.max_channels = 1;
  cfg.handles = std::string(hk) == "fd" ? weft::sym::handle_request::posix_fd : weft::sym::handle_request::cuda_ipc;
  weft::comm c;
  status const init = c.init(b, 0, cfg);
  INFO(c.last_error());
  if (init == status::unsupported && std::string(hk) == "fd") {
    WARN("VMM file-descriptor handles unsupported on this device: " << c.last_error());
    return;
  }
  REQUIRE(init == status::success);
  CHECK(std::string(c.transport()) == (std::string(hk) == "fd" ? "posix_fd" : "cuda_ipc"));
  // Both processes on one GPU: no multicast window across them (a multicast object
  // holds each device once), named; creation succeeded all the same.
  {
    std::string nv;
    CHECK(c.nvls_status(&nv) == status::unsupported);
    INFO(nv);
    CHECK(nv.find("share GPU") != std::string::npos);
  }
  // Multicast symmetric memory across the two processes: refused the same way
  // (require), plain memory with the reason (prefer); both processes agree.
  {
    weft::symmetric_options mo;
    mo.max_blocks = 1;
    mo.multicast = weft::multicast_use::require;
    weft::symmetric_buffer mb;
    CHECK(c.alloc_symmetric(1 << 16, &mb, mo) == status::unsupported);
    CHECK(c.last_error().find("share GPU") != std::string::npos);
    mo.multicast = weft::multicast_use::prefer;
    REQUIRE(c.alloc_symmetric(1 << 16, &mb, mo) == status::success);
    CHECK(mb.multicast == nullptr);
    std::string mwhy;
    CHECK(c.multicast_status(mb, &mwhy) == status::unsupported);
    CHECK(mwhy.find("share GPU") != std::string::npos);
    REQUIRE(c.free_symmetric(mb) == status::success);
  }
  // Symmetric memory: write into the peer's part, read what the peer wrote into ours.
  weft::symmetric_buffer sb;
  REQUIRE(c.alloc_symmetric(1 << 16, &sb, 1) == status::success);
  bool ok = false;
  weft::sym::device_handle h = c.device_view(sb, &ok);
  REQUIRE(ok);
  int const peer = 1 - rank;
  write_marks<<<1, 256>>>(static_cast<int*>(h.data[peer]), rank, 4096);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  REQUIRE(b.barrier() == status::success);
  std::vector<int> mine(4096);
  WEFT_TEST_CUDA(cudaMemcpy(mine.data(), sb.local, mine.size() * sizeof(int), cudaMemcpyDeviceToHost));
  std::size_t wrong = 0;
  for (int i = 0; i < 4096; ++i) wrong += mine[std::size_t(i)] != peer * 1000 + i;
  CHECK(wrong == 0);
  // A registered cudaMalloc buffer (CUDA IPC underneath whatever the communicator's kind).
  int* user = nullptr;
  WEFT_TEST_CUDA(cudaMalloc(&user, 4096 * sizeof(int)));
  weft::registered_buffer rb;
  REQUIRE(c.register_buffer(user, 4096 * sizeof(int), &rb) == status::success);
  write_marks<<<1, 256>>>(static_cast<int*>(c.peer_address(user, 4096 * sizeof(int), peer)), rank + 10, 4096);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  REQUIRE(b.barrier() == status::success);
  WEFT_TEST_CUDA(cudaMemcpy(mine.data(), user, mine.size() * sizeof(int), cudaMemcpyDeviceToHost));
  wrong = 0;
  for (int i = 0; i < 4096; ++i) wrong += mine[std::size_t(i)] != (peer + 10) * 1000 + i;
  CHECK(wrong == 0);
  REQUIRE(b.barrier() == status::success); // the peer is done writing before we unmap
  CHECK(c.deregister_buffer(rb) == status::success);
  // A collective between the processes (time-sliced on one GPU: small and simple).
  float* d = nullptr;
  std::size_t const count = 1000;
  WEFT_TEST_CUDA(cudaMalloc(&d, count * sizeof(float)));
  std::vector<float> hin(count);
  for (std::size_t i = 0; i < count; ++i) hin[i] = input(rank, i);
  WEFT_TEST_CUDA(cudaMemcpy(d, hin.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  weft::call_options o;
  o.proto = weft::protocol::simple;
  REQUIRE(weft::all_reduce(c, d, d, count, weft::op::sum<float>{}, nullptr, o) == status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::string why;
  CHECK(c.check_errors(&why) == status::success);
  WEFT_TEST_CUDA(cudaMemcpy(hin.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost));
  wrong = 0;
  for (std::size_t i = 0; i < count; ++i) wrong += hin[i] != input(0, i) + input(1, i);
  CHECK(wrong == 0);
  // The direct all-reduce over the window both processes mapped at creation.
  REQUIRE(c.direct_ready());
  for (std::size_t i = 0; i < count; ++i) hin[i] = input(rank, i);
  WEFT_TEST_CUDA(cudaMemcpy(d, hin.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  weft::call_options od;
  od.flavour = weft::direct_flavour::one_shot;
  REQUIRE(weft::all_reduce(c, d, d, count, weft::op::sum<float>{}, nullptr, od) == status::success);
  od.flavour = weft::direct_flavour::ll; // then an LL call, in place again: twice the sum
  REQUIRE(weft::all_reduce(c, d, d, count, weft::op::sum<float>{}, nullptr, od) == status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  CHECK(c.check_errors(&why) == status::success);
  WEFT_TEST_CUDA(cudaMemcpy(hin.data(), d, count * sizeof(float), cudaMemcpyDeviceToHost));
  wrong = 0;
  for (std::size_t i = 0; i < count; ++i) wrong += hin[i] != 2 * (input(0, i) + input(1, i));
  CHECK(wrong == 0);
  REQUIRE(b.barrier() == status::success);
  cudaFree(d);
  cudaFree(user);
  c.destroy();
  CHECK(c.scratch_bytes() == 0);
  CHECK(c.symmetric_bytes() == 0);
}

TEST_CASE("runtime gpu: processes on one GPU exchange handles and write into each other's buffers", "[gpu][runtime]") {
  for (char const* handles : {"ipc", "fd"}) {
    INFO("handles " << handles);
    std::string const name = "/weft-rt-" + std::to_string(::getpid()) + "-" + handles;
    int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, sizeof(shm_area)) == 0);
    ::close(fd);
    pid_t pids[2];
    for (int r = 0; r < 2; ++r) {
      std::string e1 = "WEFT_RT_SHM=" + name, e2 = "WEFT_RT_RANK=" + std::to_string(r), e3 = std::string("WEFT_RT_HANDLES=") + handles;
      std::vector<char*> env;
      for (char** e = environ; *e; ++e) env.push_back(*e);
      env.push_back(e1.data());
      env.push_back(e2.data());
      env.push_back(e3.data());
      env.push_back(nullptr);
      std::string self = "/proc/self/exe", test = "runtime gpu: child process rank";
      char* argv[] = {self.data(), test.data(), nullptr};
      REQUIRE(::posix_spawn(&pids[r], "/proc/self/exe", nullptr, nullptr, argv, env.data()) == 0);
    }
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (pid_t p : pids) {
      int st = 0;
      while (::waitpid(p, &st, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
          ::kill(p, SIGKILL);
          ::waitpid(p, &st, 0);
          FAIL("child process " << p << " did not finish in 120 s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      CHECK(WIFEXITED(st));
      CHECK(WEXITSTATUS(st) == 0);
    }
    ::shm_unlink(name.c_str());
  }
}
