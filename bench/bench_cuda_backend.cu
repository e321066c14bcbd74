// weft-bench's CUDA backend: N virtual ranks as partitions of device 0 through
// weft::vrank_comm (see bench_cuda_backend.hpp). The only CUDA translation unit
// of weft-bench; its device instantiations are kept few (compile time): float,
// half and bfloat16 sum for the reductions, one unsigned type per element size
// for the copies.
#include "bench_cuda_backend.hpp"
#include "bench_check.hpp"
#include "bench_rank.hpp"
#include "dev_buffers.cuh" // Thrust device buffers

#include <weft/runtime/vrank_comm.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace weft_bench {
namespace {

//! "allreduce float count 2 out-of-place algo ring proto simple failed" (bench_colls.hpp's wording).
std::string call_text(coll_spec const& s) {
  return std::string(to_string(s.kind)) + " " + weft::to_string(s.type) + " count " + std::to_string(s.count) +
         (s.in_place ? " in-place" : " out-of-place") + " algo " + weft::to_string(s.algo) + " proto " +
         weft::to_string(s.proto) + " failed";
}

bool reduction_compiled(weft::dtype d, weft::redop r) {
  return r == weft::redop::sum && (d == weft::dtype::f32 || d == weft::dtype::f16 || d == weft::dtype::bf16);
}

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
      why = std::string(weft::to_string(s.type)) + " " + weft::to_string(s.op.op) +
            " is not compiled into the cuda backend (float, half and bfloat16 sum are)";
      return false;
    }
    if (s.kind == coll::all_reduce && s.algo != weft::algorithm::ring && s.algo != weft::algorithm::recursive_doubling &&
        s.algo != weft::algorithm::rabenseifner && s.algo != weft::algorithm::tree &&
        s.algo != weft::algorithm::rank_order && s.algo != weft::algorithm::hierarchical) {
      why = std::string(weft::to_string(s.algo)) + " allreduce is not in weft::vrank_comm (the cuda backend)";
      return false;
    }
    if (s.kind != coll::all_reduce && s.algo != weft::algorithm::ring) {
      why = std::string(weft::to_string(s.algo)) + " " + to_string(s.kind) +
            " is not in the cuda backend (weft::vrank_comm runs it as a ring or chain)";
      return false;
    }
    if (s.nchannels > cfg_.max_channels) {
      why = "more channels than the communicator was built for";
      return false;
    }
    return true;
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    measurement m;
    m.rank_seconds.assign(std::size_t(n_), 0.0);
    std::string why;
    if (!supports(s, why)) {
      m.error = why;
      return m;
    }
    if (how.inject_failure) {
      m.error = call_text(s) + " on rank " + std::to_string(n_ - 1) + ": " +
                weft::to_string(weft::status::internal_error) + " (failure injected by --inject-failure)";
      return m;
    }
    if (!reduces(s.kind)) {
      switch (weft::dtype_size(s.type)) {
        case 1: return run_typed<detail::copy_type<1>::type>(s, how);
        case 2: return run_typed<detail::copy_type<2>::type>(s, how);
        case 4: return run_typed<detail::copy_type<4>::type>(s, how);
        default: return run_typed<detail::copy_type<8>::type>(s, how);
      }
    }
    switch (s.type) {
      case weft::dtype::f16: return run_typed<weft::half_t>(s, how);
      case weft::dtype::bf16: return run_typed<weft::bfloat16_t>(s, how);
      default: return run_typed<float>(s, how);
    }
  }

private:
  template <class T>
  weft::status call(coll_spec const& s, std::vector<T const*> const& in, std::vector<T*> const& out) {
    weft::vrank_options o;
    o.proto = s.proto;
    o.nchannels = s.nchannels;
    o.algo = s.algo;
    if constexpr (std::is_same<T, float>::value || std::is_same<T, weft::half_t>::value ||
                  std::is_same<T, weft::bfloat16_t>::value) {
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
    if constexpr (std::is_unsigned<T>::value || std::is_same<T, weft::half_t>::value) {
      if (s.kind == coll::all_gather) return comm_.all_gather(in, out, s.count, o, stream_);
      if (s.kind == coll::broadcast) return comm_.broadcast(in, out, s.count, s.root, o, stream_);
    }
    return weft::status::unsupported;
  }

  template <class T>
  measurement run_typed(coll_spec const& s, run_settings const& how) {
    measurement m;
    m.rank_seconds.assign(std::size_t(n_), 0.0);
    std::vector<layout> ls;
    std::vector<T const*> in;
    std::vector<T*> out;
    for (int r = 0; r < n_; ++r) {
      layout const l = make_layout(s, r, n_);
      if (std::max(l.span_elems, l.in_elems) * sizeof(T) > max_bytes_) {
        m.error = "count " + std::to_string(s.count) + " does not fit the buffers (-e)";
        return m;
      }
      T* sb = reinterpret_cast<T*>(weft_test::raw(send_[std::size_t(r)]));
      T* rb = reinterpret_cast<T*>(weft_test::raw(recv_[std::size_t(r)]));
      in.push_back(s.in_place ? rb + l.send_off : sb);
      out.push_back(s.in_place ? rb + l.recv_off : rb);
      ls.push_back(l);
    }
    auto fail = [&](weft::status st) {
      cudaStreamSynchronize(stream_);
      std::string detail;
      weft::status const dev = comm_.last_status(&detail);
      if (st == weft::status::success) st = dev;
      m.error = call_text(s);
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
    cudaEventRecord(start_, stream_);
    for (int i = 0; i < how.iters; ++i) {
      if (weft::status st = call<T>(s, in, out); st != weft::status::success) return fail(st);
      if (how.blocking && cudaStreamSynchronize(stream_) != cudaSuccess) return fail(weft::status::cuda_error);
    }
    cudaEventRecord(stop_, stream_);
    if (cudaEventSynchronize(stop_) != cudaSuccess) return fail(weft::status::cuda_error);
    if (comm_.last_status() != weft::status::success) return fail(weft::status::success);
    float ms = 0;
    cudaEventElapsedTime(&ms, start_, stop_);
    double const sec = how.iters > 0 ? double(ms) * 1e-3 / how.iters : 0.0;
    m.rank_seconds.assign(std::size_t(n_), sec); // one launch for all ranks: the same time

    // Checked runs: the CPU backend's inputs, outputs prefilled with poison,
    // copied back and compared with the host reference.
    long long wrong = 0;
    for (int c = 0; c < how.check_runs; ++c) {
      std::uint64_t const seed = how.seed + std::uint64_t(c);
      std::vector<T> host;
      for (int r = 0; r < n_; ++r) {
        layout const& l = ls[std::size_t(r)];
        T* rb = reinterpret_cast<T*>(weft_test::raw(recv_[std::size_t(r)]));
        std::size_t const region = s.in_place ? l.span_elems : l.out_elems;
        host.resize(std::max(region, l.in_elems));
        for (std::size_t i = 0; i < region; ++i) host[i] = poison_value<T>(seed, i);
        if (cudaMemcpy(rb, host.data(), region * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess)
          return fail(weft::status::cuda_error);
        detail::fill_input(s, l, r, n_, host.data(), seed);
        if (cudaMemcpy(const_cast<T*>(in[std::size_t(r)]), host.data(), l.in_elems * sizeof(T),
                       cudaMemcpyHostToDevice) != cudaSuccess)
          return fail(weft::status::cuda_error);
      }
      if (weft::status st = call<T>(s, in, out); st != weft::status::success) return fail(st);
      if (cudaStreamSynchronize(stream_) != cudaSuccess) return fail(weft::status::cuda_error);
      if (comm_.last_status() != weft::status::success) return fail(weft::status::success);
      for (int r = 0; r < n_; ++r) {
        if (s.kind == coll::reduce && r != s.root) continue; // reduce: only root's output is defined
        layout const& l = ls[std::size_t(r)];
        host.resize(l.out_elems);
        if (cudaMemcpy(host.data(), out[std::size_t(r)], l.out_elems * sizeof(T), cudaMemcpyDeviceToHost) !=
            cudaSuccess)
          return fail(weft::status::cuda_error);
        int const inject_rank = s.kind == coll::reduce ? s.root : n_ - 1;
        if (how.inject_error && r == inject_rank && l.out_elems > 0)
          host[l.out_elems / 2] = corrupt(host[l.out_elems / 2]);
        wrong += detail::count_wrong_output(s, l, r, n_, host.data(), seed);
      }
    }
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
  int ndev = 0;
  cudaError_t const e = cudaGetDeviceCount(&ndev);
  if (e != cudaSuccess || ndev == 0) {
    why = std::string("no CUDA device (") + (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") +
          "): the cuda backend runs virtual ranks on device 0; use --backend cpu";
    return nullptr;
  }
  if (o.graph_iters > 0) {
    why = "-G: CUDA graphs are not supported by the cuda backend (weft::vrank_comm copies its pointer arrays from "
          "pageable host memory with cudaMemcpyAsync on every call, which a stream capture cannot hold)";
    return nullptr;
  }
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
