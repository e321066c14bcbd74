// weft-bench's CUDA backend: N virtual ranks as partitions of device 0 through
// weft::vrank_comm (see bench_cuda_backend.hpp). One of weft-bench's two CUDA
// translation units (the other, bench_comm_backend.cu, runs -g); its device
// instantiations are kept few (compile time): float, half and bfloat16 sum for
// the reductions, one unsigned type per element size for the copies.
#include "bench_cuda_backend.hpp"
#include "bench_cuda_util.hpp"
#include "dev_buffers.cuh" // Thrust device buffers

#include <weft/runtime/vrank_comm.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace weft_bench {
namespace {

using cuda_detail::reduction_compiled;

class cuda_backend final : public backend {
public:
  cuda_backend(int n, weft::vrank_config cfg, std::size_t max_bytes, cudaDeviceProp const& prop)
      : n_(n), cfg_(cfg), max_bytes_(max_bytes), gpu_(prop.name), sms_(prop.multiProcessorCount) {}

  std::string init() {
    try {
      for (int r = 0; r < n_; ++r) {
        send_.emplace_back(max_bytes_);
        recv_.emplace_back(max_bytes_);
      }
    } catch (std::exception const& e) {
      return "cannot allocate 2 x " + std::to_string(max_bytes_) + " bytes of device memory for each of " +
             std::to_string(n_) + " ranks (" + e.what() + "; reduce -e or --ranks)";
    }
    if (weft::status s = comm_.init(n_, cfg_); s != weft::status::success)
      return std::string("weft::vrank_comm init for ") + std::to_string(n_) + " ranks failed: " + weft::to_string(s);
    if (cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreate(&start_) != cudaSuccess || cudaEventCreate(&stop_) != cudaSuccess)
      return "cannot create a CUDA stream and events";
    return {};
  }
  ~cuda_backend() override {
    if (start_) cudaEventDestroy(start_);
    if (stop_) cudaEventDestroy(stop_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  char const* name() const override { return "cuda"; }
  std::string description() const override {
    return std::to_string(n_) + " virtual ranks as partitions of one GPU (device 0, " + gpu_ +
           "; weft::vrank_comm, one cooperative launch for all ranks), device memory";
  }
  int nranks() const override { return n_; }
  std::vector<std::string> rank_lines() const override {
    std::vector<std::string> v;
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    char buf[512];
    for (int r = 0; r < n_; ++r) {
      std::snprintf(buf, sizeof buf, "#  Rank %2d Group %2d Pid %6d on %10s device  0 [cuda] %s, virtual rank %d of %d",
                    r, 0, int(getpid()), host, gpu_.c_str(), r, n_);
      v.push_back(buf);
    }
    return v;
  }
  std::size_t scratch_bytes() const override { return comm_.scratch_bytes(); }
  std::string ranks_about() const override {
    return std::to_string(n_) + " virtual ranks on one GPU (" + gpu_ + "), weft::vrank_comm";
  }

  bool supports(coll_spec const& s, std::string& why) const override {
    if (s.kind == coll::all_to_all) {
      why = "all-to-all is not in weft::vrank_comm (the cuda backend's virtual ranks)";
      return false;
    }
    if (reduces(s.kind) && !reduction_compiled(s.type, s.op.op)) {
      why = cuda_detail::not_compiled_why(s);
      return false;
    }
    if (is_bench_algo(s.algo)) {
      why = algo_name(s.algo) + " is weft::comm's, not weft::vrank_comm's: --backend cuda with -g";
      return false;
    }
    if (s.kind == coll::all_reduce && s.algo != weft::algorithm::ring && s.algo != weft::algorithm::recursive_doubling &&
        s.algo != weft::algorithm::rabenseifner && s.algo != weft::algorithm::tree &&
        s.algo != weft::algorithm::rank_order && s.algo != weft::algorithm::hierarchical) {
      why = algo_name(s.algo) + " allreduce is not in weft::vrank_comm (the cuda backend)";
      return false;
    }
    if (s.kind != coll::all_reduce && s.algo != weft::algorithm::ring) {
      why = algo_name(s.algo) + " " + to_string(s.kind) +
            " is not in the cuda backend (weft::vrank_comm runs it as a ring or chain)";
      return false;
    }
    if (s.nchannels > cfg_.max_channels) {
      why = "more channels than the communicator was built for";
      return false;
    }
    return true;
  }

  bool runs_graphs() const override { return true; }
  bool reference_copy(std::size_t bytes, copy_reference& out) override {
    return cuda_detail::device_copy_reference(0, bytes, out);
  }

  std::string time_note(char const*) const override {
    return "CUDA events around the timed iterations on one stream; the ranks are partitions of one GPU in one "
           "cooperative launch, so every rank has the same time";
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    return cuda_detail::measure(*this, s, how, [&](auto tag) { return run_typed<typename decltype(tag)::type>(s, how); });
  }

private:
  template <class T>
  weft::status call(coll_spec const& s, std::vector<T const*> const& in, std::vector<T*> const& out) {
    weft::vrank_options o;
    o.proto = s.proto;
    o.nchannels = s.nchannels;
    o.algo = s.algo;
    if constexpr (cuda_detail::reduced_type_v<T>) {
      if (reduces(s.kind)) {
        weft::op::sum<T> const op{};
        switch (s.kind) {
          case coll::reduce_scatter: return comm_.reduce_scatter(in, out, s.count, op, o, stream_);
          case coll::reduce: return comm_.reduce(in, out, s.count, s.root, op, o, stream_);
          default: break;
        }
        switch (s.algo) {
          case weft::algorithm::tree:
            return comm_.template all_reduce_with<weft::algorithm::tree>(in, out, s.count, op, o, stream_);
          case weft::algorithm::rank_order:
            return comm_.template all_reduce_with<weft::algorithm::rank_order>(in, out, s.count, op, o, stream_);
          case weft::algorithm::hierarchical:
            return comm_.template all_reduce_with<weft::algorithm::hierarchical>(in, out, s.count, op, o, stream_);
          default: return comm_.all_reduce(in, out, s.count, op, o, stream_);
        }
      }
    }
    if constexpr (cuda_detail::copied_type_v<T>) {
      if (s.kind == coll::all_gather) return comm_.all_gather(in, out, s.count, o, stream_);
      if (s.kind == coll::broadcast) return comm_.broadcast(in, out, s.count, s.root, o, stream_);
    }
    return weft::status::unsupported;
  }

  template <class T>
  measurement run_typed(coll_spec const& s, run_settings const& how) {
    measurement m;
    m.rank_seconds.assign(std::size_t(n_), 0.0);
    std::vector<void*> sends, recvs;
    for (int r = 0; r < n_; ++r) {
      sends.push_back(weft_test::raw(send_[std::size_t(r)]));
      recvs.push_back(weft_test::raw(recv_[std::size_t(r)]));
    }
    cuda_detail::rank_views<T> v;
    if (!cuda_detail::make_views(s, n_, sends, recvs, max_bytes_, v, m.error)) return m;
    std::vector<T const*> const& in = v.in;
    std::vector<T*> const& out = v.out;
    auto fail = [&](weft::status st) {
      cudaStreamSynchronize(stream_);
      std::string detail;
      weft::status const dev = comm_.last_status(&detail);
      if (st == weft::status::success) st = dev;
      m.error = failure_message(s, -1, st, {});
      if (st == weft::status::unsupported)
        m.error += ": unsupported here (" + std::to_string(n_) + " ranks x " + std::to_string(s.nchannels) +
                   " channels may not fit one cooperative launch on " + std::to_string(sms_) + " SMs)";
      else
        m.error += std::string(": ") + weft::to_string(st) + (detail.empty() ? "" : " (" + detail + ")");
      if (comm_.last_status() != weft::status::success || st == weft::status::aborted) rebuild();
      return m;
    };
    // Warm-up and timed iterations: CUDA events on one stream around all of them.
    for (int i = 0; i < how.warmup; ++i)
      if (weft::status st = call<T>(s, in, out); st != weft::status::success) return fail(st);
    if (cudaStreamSynchronize(stream_) != cudaSuccess) return fail(weft::status::cuda_error);
    if (comm_.last_status() != weft::status::success) return fail(weft::status::success);
    // -G: the timed iterations captured once (after the warm-up made whatever the
    // calls need), the graph launched graph_iters times.
    bool const graphs = how.graph_iters > 0;
    std::unique_ptr<CUgraphExec_st, cudaError_t (*)(cudaGraphExec_t)> graph(nullptr, &cudaGraphExecDestroy);
    if (graphs) {
      if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) != cudaSuccess)
        return fail(weft::status::cuda_error);
      weft::status cs = weft::status::success;
      for (int i = 0; i < how.iters && cs == weft::status::success; ++i) cs = call<T>(s, in, out);
      cudaGraph_t g = nullptr;
      cudaError_t const e = cudaStreamEndCapture(stream_, &g);
      cudaGraphExec_t exec = nullptr;
      bool const made = cs == weft::status::success && e == cudaSuccess && cudaGraphInstantiate(&exec, g, 0) == cudaSuccess;
      if (g) cudaGraphDestroy(g);
      if (!made) return fail(cs != weft::status::success ? cs : weft::status::cuda_error);
      graph.reset(exec);
    }
    int const launches = graphs ? how.graph_iters : how.iters;
    cudaEventRecord(start_, stream_);
    for (int i = 0; i < launches; ++i) {
      if (graphs) {
        if (cudaGraphLaunch(graph.get(), stream_) != cudaSuccess) return fail(weft::status::cuda_error);
      } else if (weft::status st = call<T>(s, in, out); st != weft::status::success) {
        return fail(st);
      }
      if (how.blocking && cudaStreamSynchronize(stream_) != cudaSuccess) return fail(weft::status::cuda_error);
    }
    cudaEventRecord(stop_, stream_);
    if (cudaEventSynchronize(stop_) != cudaSuccess) return fail(weft::status::cuda_error);
    if (comm_.last_status() != weft::status::success) return fail(weft::status::success);
    float ms = 0;
    cudaEventElapsedTime(&ms, start_, stop_);
    double const calls = double(how.iters) * (graphs ? double(how.graph_iters) : 1.0);
    double const sec = calls > 0 ? double(ms) * 1e-3 / calls : 0.0;
    m.rank_seconds.assign(std::size_t(n_), sec); // one launch for all ranks: the same time

    // Checked runs: the CPU backend's inputs, outputs prefilled with poison,
    // copied back and compared with the host reference.
    long long wrong = 0;
    weft::status const cst = cuda_detail::check_runs<T>(s, how, n_, v, [&] {
      if (weft::status st = call<T>(s, in, out); st != weft::status::success) return st;
      if (cudaStreamSynchronize(stream_) != cudaSuccess) return weft::status::cuda_error;
      return comm_.last_status() != weft::status::success ? comm_.last_status() : weft::status::success;
    }, wrong);
    if (cst != weft::status::success) return fail(cst);
    m.ok = true;
    m.checked = how.check_runs > 0;
    m.wrong = wrong;
    return m;
  }

  void rebuild() { // a failed collective leaves the communicator broken: make a new one
    comm_.~vrank_comm();
    new (&comm_) weft::vrank_comm();
    (void)comm_.init(n_, cfg_);
  }

  int n_;
  weft::vrank_config cfg_;
  std::size_t max_bytes_;
  std::string gpu_;
  int sms_;
  weft::vrank_comm comm_;
  std::vector<weft_test::dvec<unsigned char>> send_, recv_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

} // namespace

std::unique_ptr<backend> make_cuda_backend(options const& o, std::string& why) {
  if (cuda_detail::device_count("the cuda backend runs virtual ranks on device 0", why) == 0) return nullptr;
  cudaDeviceProp prop{};
  if (cudaSetDevice(0) != cudaSuccess || cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    why = "cannot open CUDA device 0";
    return nullptr;
  }
  weft::vrank_config cfg;
  cfg.max_channels = std::max(cfg.max_channels, o.nchannels);
  if (o.nslots > 0) cfg.nslots = o.nslots;
  cfg.timeout_ns = std::uint64_t(o.timeout_ms) * 1000000ull;
  if (o.slot_bytes > 0)
    for (weft::protocol p : o.protos) {
      if (p == weft::protocol::simple) cfg.simple_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll) cfg.ll_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll128) cfg.ll128_slot_bytes = o.slot_bytes;
    }
  auto be = std::make_unique<cuda_backend>(o.nranks, cfg, o.max_bytes, prop);
  why = be->init();
  if (!why.empty()) return nullptr;
  return be;
}

} // namespace weft_bench
