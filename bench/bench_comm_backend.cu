// weft-bench --backend cuda -g N: nccl-tests' single-process multi-GPU mode on
// weft's stream-ordered GPU communicator (see make_comm_backend in
// bench_cuda_backend.hpp). weft::comm_init_all makes every rank in this
// process; rank r runs on device r / (ranks / N) with its own non-blocking
// stream; each call is one kernel launch on the rank's stream.
//
// Device instantiations are kept few (compile time): the typed collectives with
// float, half and bfloat16 sum for the reductions, and one unsigned type per
// element size for the copies (which weft::comm moves as bytes: one set of
// kernels for all of them). The recursive all-reduce kernels (recursive
// doubling, Rabenseifner, tree) are compiled unless WEFT_RUNTIME_RECURSIVE is 0
// (CMake: WEFT_BENCH_CUDA_RECURSIVE=OFF), which also drops all-to-all.
#include "bench_cuda_backend.hpp"
#include "bench_cuda_util.hpp"
#include "bench_report.hpp"

#include <weft/runtime/collectives.cuh>
#include <weft/runtime/comm.cuh>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>
#include <unistd.h>

namespace weft_bench {
namespace {

using cuda_detail::reduction_compiled;

//! Whether weft::comm runs algorithm `a` for collective `c` (weft::runtime_serves, by bench's names).
bool comm_serves(coll c, weft::algorithm a) {
  weft::direct_flavour f{};
  if (a == algo_auto) return true;
  if (direct_flavour_of(a, f)) return c == coll::all_reduce;
  return a == weft::algorithm::ring ||
         (a == weft::algorithm::nvls && (c == coll::all_reduce || c == coll::all_gather || c == coll::reduce_scatter)) ||
         (c == coll::all_reduce && (a == weft::algorithm::recursive_doubling || a == weft::algorithm::rabenseifner ||
                                    a == weft::algorithm::tree));
}

//! Whether the calls the command line asks for need the point-to-point connections.
bool needs_pairs(options const& o) {
  bool all_reduce = false, all_to_all = false, other_algo = false;
  for (coll c : o.colls) {
    all_reduce |= c == coll::all_reduce;
    all_to_all |= c == coll::all_to_all;
  }
  // (auto keeps the library's default communicator: no point-to-point connections)
  for (weft::algorithm a : o.algos)
    other_algo |= !is_bench_algo(a) && weft::needs_pairs(a) && comm_serves(coll::all_reduce, a);
  return all_to_all || (all_reduce && other_algo);
}

//! One rank's CUDA objects and buffers, on its device.
struct rank_slot {
  int dev = 0;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  void* send = nullptr;
  void* recv = nullptr;
  bool owned = true;               // cudaMalloc'd here (false: -R 2, the communicator's symmetric memory)
  cudaGraphExec_t graph = nullptr; // -G: this measurement's captured iterations

  void drop_graph() {
    if (graph) cudaGraphExecDestroy(graph);
    graph = nullptr;
  }
  void release() {
    cudaSetDevice(dev);
    drop_graph();
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    if (stream) cudaStreamDestroy(stream);
    if (send && owned) cudaFree(send);
    if (recv && owned) cudaFree(recv);
    start = stop = nullptr;
    stream = nullptr;
    send = recv = nullptr;
  }
};

struct gpu_info {
  std::string name;
  int pci_bus = 0;
};

//! One rank of a process-mode run, as every process learns it at setup (rank lines).
struct process_info {
  std::int32_t pid = 0, device = 0, pci_bus = 0, pad = 0;
  char host[64] = {};
  char gpu[128] = {};
};

//! What every process tells the others after a measurement (process mode).
struct process_report {
  double seconds = 0;
  std::int64_t wrong = 0;
  std::int32_t st = 0;
  std::int32_t pad = 0;
  char text[240] = {};
};

void copy_text(char* dst, std::size_t cap, std::string const& s) {
  std::size_t const k = std::min(s.size(), cap - 1);
  std::memcpy(dst, s.data(), k);
  dst[k] = '\0';
}

//! weft::comm ranks: all of them in this process (-g N: comm_init_all), or one
//! per process under mpirun (process mode: comm::init over the launcher's
//! bootstrap, one GPU each). The local ranks are global ranks first_ ..
//! first_ + local_ - 1 of n_.
class comm_backend final : public backend {
public:
  //! -g N: every rank in this process, rank r on devices[r].
  comm_backend(int ngpus, std::vector<int> devices, weft::comm_config cfg, std::size_t max_bytes,
               std::vector<gpu_info> gpus, int registration)
      : n_(int(devices.size())), local_(n_), ngpus_(ngpus), devices_(std::move(devices)), cfg_(cfg),
        max_bytes_(max_bytes), gpus_(std::move(gpus)), host_(host_name()), registration_(registration) {}
  //! Process mode: this process is rank boot->rank() of boot->size(), on `device`.
  comm_backend(std::unique_ptr<weft::comm_bootstrap> boot, int device, weft::comm_config cfg, std::size_t max_bytes,
               gpu_info gpu, int registration)
      : n_(boot->size()), first_(boot->rank()), local_(1), ngpus_(1), devices_{device}, cfg_(cfg),
        max_bytes_(max_bytes), gpus_{std::move(gpu)}, host_(host_name()), registration_(registration),
        boot_(std::move(boot)) {}

  std::string init() {
    std::size_t const bytes = buffer_bytes();
    std::string local_why;
    for (int i = 0; i < local_ && local_why.empty(); ++i) {
      rank_slot& k = slots_.emplace_back();
      k.dev = devices_[std::size_t(i)];
      k.owned = registration_ != 2;
      if (cudaSetDevice(k.dev) != cudaSuccess) {
        local_why = "cannot open CUDA device " + std::to_string(k.dev);
      } else if (k.owned && (cudaMalloc(&k.send, bytes) != cudaSuccess || cudaMalloc(&k.recv, bytes) != cudaSuccess)) {
        (void)cudaGetLastError();
        local_why = "cannot allocate 2 x " + std::to_string(bytes) + " bytes on device " + std::to_string(k.dev) +
                    " for rank " + std::to_string(first_ + i) + " of " + std::to_string(n_) + " (reduce -e or --ranks)";
      } else if (cudaStreamCreateWithFlags(&k.stream, cudaStreamNonBlocking) != cudaSuccess ||
                 cudaEventCreate(&k.start) != cudaSuccess || cudaEventCreate(&k.stop) != cudaSuccess) {
        local_why = "cannot create a CUDA stream and events on device " + std::to_string(k.dev);
      }
    }
    if (!process()) {
      if (!local_why.empty()) return local_why;
      if (weft::status const s = weft::comm_init_all(devices_, comms_, cfg_); s != weft::status::success)
        return "weft::comm_init_all for " + std::to_string(n_) + " ranks on " + std::to_string(ngpus_) +
               " GPU(s) failed: " + weft::to_string(s);
      return attach_buffers();
    }
    // Process mode: every process learns every rank's setup (and its rank line), then makes its communicator.
    if (std::string const w = agree(local_why, "setup"); !w.empty()) return w;
    process_info mine;
    mine.pid = std::int32_t(getpid());
    mine.device = devices_[0];
    mine.pci_bus = gpus_[0].pci_bus;
    copy_text(mine.host, sizeof mine.host, host_);
    copy_text(mine.gpu, sizeof mine.gpu, gpus_[0].name);
    infos_.assign(static_cast<std::size_t>(n_), process_info{});
    if (boot_->all_gather(&mine, sizeof mine, infos_.data()) != weft::status::success)
      return "the processes could not exchange their devices";
    std::string why;
    if (std::string const w = agree(make_process_comm(why) ? std::string() : why, "weft::comm::init"); !w.empty())
      return w;
    return agree(attach_buffers(), "attaching the buffers");
  }

  ~comm_backend() override {
    comms_.clear(); // frees -R 2's symmetric memory with them, before the bootstrap goes
    for (rank_slot& k : slots_) k.release();
  }

  char const* name() const override { return "cuda"; }
  std::string description() const override {
    std::string d;
    if (process()) {
      d = std::to_string(n_) + " ranks as processes under mpirun, one GPU each (weft::comm::init over MPI), "
          "weft::comm stream-ordered API";
    } else {
      d = std::to_string(n_) + " ranks on " + std::to_string(ngpus_) + " GPU(s) in one process, weft::comm stream-ordered API";
      if (n_ > ngpus_)
        d += " (ranks share a GPU: partitions of one device; " + std::to_string(n_ / ngpus_) + " per GPU)";
      else
        d += " (one rank per GPU)";
    }
    if (registration_ == 1) return d + ", device memory registered with the communicators (-R 1)";
    if (registration_ == 2)
      return d + ", symmetric memory (-R 2), " +
             (multicast_ ? std::string("multicast: --algo nvls runs zero-copy")
                         : "no multicast (" + multicast_why_ + ")");
    return d + ", device memory";
  }
  int nranks() const override { return n_; }
  std::vector<std::string> rank_lines() const override {
    std::vector<std::string> v;
    if (process()) {
      // Processes sharing a GPU: a device appears more than once on a host.
      for (int r = 0; r < n_; ++r) {
        process_info const& p = infos_[std::size_t(r)];
        int sharing = 0;
        for (process_info const& q : infos_)
          sharing += std::strcmp(q.host, p.host) == 0 && q.device == p.device;
        std::string about = "weft::comm rank " + std::to_string(r) + " of " + std::to_string(n_) + ", process";
        if (sharing > 1) about += ", " + std::to_string(sharing) + " processes share this GPU";
        v.push_back(rank_line(r, p.pid, p.host, p.device, p.pci_bus, p.gpu, about));
      }
      return v;
    }
    int const per = n_ / ngpus_;
    for (int r = 0; r < n_; ++r) {
      int const d = devices_[std::size_t(r)];
      gpu_info const& g = gpus_[std::size_t(d)];
      std::string about = "weft::comm rank " + std::to_string(r) + " of " + std::to_string(n_);
      if (per > 1) about += ", " + std::to_string(per) + " ranks share this GPU";
      v.push_back(rank_line(r, int(getpid()), host_.c_str(), d, g.pci_bus, g.name.c_str(), about));
    }
    return v;
  }
  std::size_t scratch_bytes() const override {
    std::size_t b = 0;
    for (auto const& c : comms_) b += c->scratch_bytes();
    return b;
  }
  std::string ranks_about() const override {
    if (process()) return std::to_string(n_) + " processes under mpirun, one GPU each, weft::comm";
    return std::to_string(n_) + " ranks on " + std::to_string(ngpus_) + " GPU(s), weft::comm";
  }
  std::string time_note(char const* average) const override {
    return std::string(average) +
           " mean time per iteration: CUDA events on the rank's own stream around its timed iterations, "
           "after every rank's stream was synchronised" +
           (process() ? " and the processes met at a barrier" : "") +
           " (-G n: the iterations captured in one CUDA graph per rank, launched n times)";
  }
  bool runs_graphs() const override { return true; }
  //! On the printing process's first GPU.
  bool reference_copy(std::size_t bytes, copy_reference& out) override {
    return cuda_detail::device_copy_reference(devices_.front(), bytes, out);
  }
  bool prints() const override { return first_ == 0; }
  weft::status sync() override {
    if (!process()) return weft::status::success;
    return boot_->barrier();
  }

  bool supports(coll_spec const& s, std::string& why) const override {
    if (reduces(s.kind) && !reduction_compiled(s.type, s.op.op)) {
      why = cuda_detail::not_compiled_why(s);
      return false;
    }
    if (!comm_serves(s.kind, s.algo)) {
      why = algo_name(s.algo) + " " + to_string(s.kind) +
            " is not in weft::comm's stream-ordered collectives (the cuda backend with -g runs the ring for every "
            "collective, recursive_doubling, rabenseifner and tree for allreduce, and nvls for allreduce, "
            "allgather and reducescatter)";
      return false;
    }
    weft::direct_flavour fl{};
    if (direct_flavour_of(s.algo, fl)) {
      if (comms_.empty() || !comms_[0]->direct_ready()) {
        why = algo_name(s.algo) + ": no direct window (comm_config::direct_blocks, peer access)";
        return false;
      }
      if (s.nchannels > cfg_.direct_blocks) {
        why = algo_name(s.algo) + ": more channels than the direct window's blocks (comm_config::direct_blocks = " +
              std::to_string(cfg_.direct_blocks) + ")";
        return false;
      }
    }
    if (s.algo == weft::algorithm::nvls) {
      std::string reason;
      if (comms_.empty() || comms_[0]->nvls_status(&reason) != weft::status::success) {
        why = "nvls: no multicast window on these GPUs (" + (comms_.empty() ? std::string("no communicator") : reason) + ")";
        return false;
      }
      if (s.nchannels > cfg_.nvls_blocks) {
        why = "nvls: more channels than the multicast window's blocks (comm_config::nvls_blocks = " +
              std::to_string(cfg_.nvls_blocks) + ")";
        return false;
      }
    }
    bool const pairs = s.kind == coll::all_to_all || (!is_bench_algo(s.algo) && weft::needs_pairs(s.algo));
    if (pairs && !WEFT_RUNTIME_RECURSIVE) {
      why = (s.kind == coll::all_to_all ? std::string("alltoall") : algo_name(s.algo)) +
            " is not compiled into this weft-bench (configured with WEFT_BENCH_CUDA_RECURSIVE=OFF)";
      return false;
    }
    if (pairs && !cfg_.recursive_connections) {
      why = "the point-to-point connections (alltoall, non-ring allreduce) were not made for this command line";
      return false;
    }
    if (s.nchannels > cfg_.max_channels) {
      why = "more channels than the communicator was built for";
      return false;
    }
    return true;
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    return cuda_detail::measure(*this, s, how, [&](auto tag) { return run_typed<typename decltype(tag)::type>(s, how); });
  }

private:
  bool process() const noexcept { return boot_ != nullptr; }

  //! nccl-tests' "#  Rank  r Group  0 Pid ... on host device  d [0xbus] GPU, about" line.
  static std::string rank_line(int r, int pid, char const* host, int dev, int bus, char const* gpu,
                               std::string const& about) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [0x%02x] %s, %s", r, 0, pid, host,
                  dev, unsigned(bus), gpu, about.c_str());
    return buf;
  }

  //! Process mode: every process learns whether any failed `what`; the text of the first that did.
  std::string agree(std::string const& local_why, char const* what) {
    process_report mine, none;
    mine.st = local_why.empty() ? 0 : 1;
    copy_text(mine.text, sizeof mine.text, local_why);
    std::vector<process_report> all(static_cast<std::size_t>(n_), none);
    if (boot_->all_gather(&mine, sizeof mine, all.data()) != weft::status::success)
      return std::string(what) + ": the processes could not meet (the launcher's bootstrap failed)";
    for (int r = 0; r < n_; ++r)
      if (all[std::size_t(r)].st != 0)
        return "rank " + std::to_string(r) + ": " + std::string(all[std::size_t(r)].text);
    return {};
  }

  //! Process mode: this process's communicator (collective). False with `why`.
  bool make_process_comm(std::string& why) {
    auto c = std::make_unique<weft::comm>();
    if (weft::status const s = c->init(*boot_, devices_[0], cfg_); s != weft::status::success) {
      why = "weft::comm::init on device " + std::to_string(devices_[0]) + " failed: " + weft::to_string(s) + " (" +
            c->last_error() + ")";
      return false;
    }
    comms_.clear();
    comms_.push_back(std::move(c));
    return true;
  }

  //! -R 1: register every rank's buffers with its communicator; -R 2: the
  //! buffers are symmetric memory of the communicators (multicast where it can
  //! be made). After every (re)creation of the communicators (collective).
  std::string attach_buffers() {
    if (registration_ == 0) return {};
    std::size_t const bytes = buffer_bytes();
    std::vector<weft::comm*> const cs = weft::pointers(comms_);
    if (registration_ == 1) {
      std::vector<void*> sends, recvs;
      for (rank_slot const& k : slots_) {
        sends.push_back(k.send);
        recvs.push_back(k.recv);
      }
      bool ok = true;
      if (process()) {
        weft::registered_buffer rs, rr;
        ok = cs[0]->register_buffer(sends[0], bytes, &rs) == weft::status::success &&
             cs[0]->register_buffer(recvs[0], bytes, &rr) == weft::status::success;
      } else {
        std::vector<weft::registered_buffer> rs, rr;
        ok = weft::register_buffers_all(cs, sends, bytes, rs) == weft::status::success &&
             weft::register_buffers_all(cs, recvs, bytes, rr) == weft::status::success;
      }
      if (!ok) return "-R 1: registering the buffers with the communicators failed: " + comms_[0]->last_error();
      return {};
    }
    weft::symmetric_options so;
    so.max_blocks = 1;
    so.multicast = weft::multicast_use::prefer;
    std::vector<weft::symmetric_buffer> ss(static_cast<std::size_t>(local_)), sr(static_cast<std::size_t>(local_));
    bool ok = true;
    if (process())
      ok = cs[0]->alloc_symmetric(bytes, &ss[0], so) == weft::status::success &&
           cs[0]->alloc_symmetric(bytes, &sr[0], so) == weft::status::success;
    else
      ok = weft::alloc_symmetric_all(cs, bytes, so, ss) == weft::status::success &&
           weft::alloc_symmetric_all(cs, bytes, so, sr) == weft::status::success;
    if (!ok)
      return "-R 2: cannot allocate 2 x " + std::to_string(bytes) + " bytes of symmetric memory per rank: " +
             comms_[0]->last_error() + " (reduce -e or --ranks)";
    for (int i = 0; i < local_; ++i) {
      slots_[std::size_t(i)].send = ss[std::size_t(i)].local;
      slots_[std::size_t(i)].recv = sr[std::size_t(i)].local;
    }
    std::string why;
    multicast_ = comms_[0]->multicast_status(sr[0], &why) == weft::status::success;
    multicast_why_ = multicast_ ? std::string() : why;
    return {};
  }
  std::size_t buffer_bytes() const { return std::max<std::size_t>(max_bytes_, 256); }

  //! Local rank i's call of `s`, launched on its stream.
  template <class T>
  weft::status call(int i, coll_spec const& s, T const* in, T* out) {
    weft::comm& c = *comms_[std::size_t(i)];
    cudaStream_t const st = slots_[std::size_t(i)].stream;
    weft::call_options o; // auto: everything left to the communicator's policy
    weft::direct_flavour fl{};
    if (direct_flavour_of(s.algo, fl)) {
      o.flavour = fl;
      o.nchannels = s.nchannels;
    } else if (s.algo != algo_auto) {
      o.algo = s.algo;
      o.proto = s.proto;
      o.nchannels = s.nchannels;
    }
    if constexpr (cuda_detail::reduced_type_v<T>) {
      weft::op::sum<T> const op{};
      switch (s.kind) {
        case coll::all_reduce: return weft::all_reduce(c, in, out, s.count, op, st, o);
        case coll::reduce_scatter: return weft::reduce_scatter(c, in, out, s.count, op, st, o);
        case coll::reduce: return weft::reduce(c, in, out, s.count, op, s.root, st, o);
        default: break;
      }
    }
    if constexpr (cuda_detail::copied_type_v<T>) {
      switch (s.kind) {
        case coll::all_gather: return weft::all_gather(c, in, out, s.count, st, o);
        case coll::broadcast: return weft::broadcast(c, in, out, s.count, s.root, st, o);
        case coll::all_to_all: return weft::all_to_all(c, in, out, s.count, st, o);
        default: break;
      }
    }
    return weft::status::unsupported;
  }

  //! A failed step: which (global) rank, its status and why.
  struct failure {
    int rank = -1;
    weft::status st = weft::status::success;
    std::string detail;
    explicit operator bool() const { return st != weft::status::success; }
  };

  //! Every local rank's call, in rank order; the first refusal.
  template <class T>
  failure issue_all(coll_spec const& s, cuda_detail::rank_views<T> const& v) {
    for (int i = 0; i < local_; ++i)
      if (weft::status const st = call<T>(i, s, v.in[std::size_t(i)], v.out[std::size_t(i)]);
          st != weft::status::success)
        return {first_ + i, st, comms_[std::size_t(i)]->last_call_error()};
    return {};
  }

  //! Waits for every local rank's stream: the first whose stream failed.
  failure drain() {
    failure f;
    for (int i = 0; i < local_; ++i)
      if (cudaError_t const e = cudaStreamSynchronize(slots_[std::size_t(i)].stream); e != cudaSuccess && !f)
        f = {first_ + i, weft::status::cuda_error, cudaGetErrorString(e)};
    return f;
  }

  //! drain(), then every local rank's error records read: the first rank whose
  //! stream or device-side wait failed.
  failure sync_all() {
    failure f = drain();
    for (int i = 0; i < local_; ++i) {
      std::string text;
      if (weft::status const st = comms_[std::size_t(i)]->check_errors(&text); st != weft::status::success && !f)
        f = {first_ + i, st, text};
    }
    return f;
  }

  //! -G: each local rank's `iters` calls captured into a graph on its stream
  //! (nothing is launched meanwhile; the collectives neither allocate nor copy).
  template <class T>
  failure capture(coll_spec const& s, cuda_detail::rank_views<T> const& v, int iters) {
    for (int i = 0; i < local_; ++i) {
      rank_slot& k = slots_[std::size_t(i)];
      if (cudaSetDevice(k.dev) != cudaSuccess ||
          cudaStreamBeginCapture(k.stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess)
        return {first_ + i, weft::status::cuda_error, "cannot begin a stream capture"};
      weft::status st = weft::status::success;
      for (int it = 0; it < iters && st == weft::status::success; ++it)
        st = call<T>(i, s, v.in[std::size_t(i)], v.out[std::size_t(i)]);
      cudaGraph_t g = nullptr;
      cudaError_t const e = cudaStreamEndCapture(k.stream, &g);
      if (st == weft::status::success && e == cudaSuccess && g &&
          cudaGraphInstantiate(&k.graph, g, 0) != cudaSuccess)
        st = weft::status::cuda_error;
      if (g) cudaGraphDestroy(g);
      if (st != weft::status::success || e != cudaSuccess) {
        (void)cudaGetLastError();
        return {first_ + i, st != weft::status::success ? st : weft::status::cuda_error,
                st != weft::status::success ? std::string(comms_[std::size_t(i)]->last_call_error())
                                            : std::string("stream capture failed: ") + cudaGetErrorString(e)};
      }
    }
    return {};
  }

  template <class T>
  measurement run_typed(coll_spec const& s, run_settings const& how) {
    measurement m;
    m.rank_seconds.assign(std::size_t(n_), 0.0);
    if (!broken_.empty()) { // the same on every process (learnt together)
      m.error = broken_;
      return m;
    }
    std::vector<void*> sends, recvs;
    for (rank_slot const& k : slots_) {
      sends.push_back(k.send);
      recvs.push_back(k.recv);
    }
    cuda_detail::rank_views<T> v;
    if (!cuda_detail::make_views(s, n_, sends, recvs, max_bytes_, v, m.error, first_)) return m; // same on every rank

    // Every step runs on every process, failed or not, so that the processes make
    // the same bootstrap calls (one barrier, one all-gather) in the same order.
    auto issue = [&](int iters, bool graphs) -> failure {
      for (int it = 0; it < iters; ++it) {
        if (graphs) {
          for (int i = 0; i < local_; ++i)
            if (cudaGraphLaunch(slots_[std::size_t(i)].graph, slots_[std::size_t(i)].stream) != cudaSuccess)
              return {first_ + i, weft::status::cuda_error, "cudaGraphLaunch failed"};
        } else if (failure f = issue_all<T>(s, v)) {
          return f;
        }
        if (how.blocking) // -z: every stream drained (the error records are read after the loop)
          if (failure f = drain()) return f;
      }
      return {};
    };

    // Warm-up (never in a graph), then every stream drained: the ranks start together.
    failure f = issue(how.warmup, false);
    if (!f) f = sync_all();
    if (process() && boot_->barrier() != weft::status::success && !f)
      f = {first_, weft::status::peer_failure, "the processes could not meet before timing"};
    bool const graphs = how.graph_iters > 0;
    if (!f && graphs) f = capture<T>(s, v, how.iters);
    if (!f) {
      for (rank_slot& k : slots_) cudaEventRecord(k.start, k.stream);
      f = issue(graphs ? how.graph_iters : how.iters, graphs);
      for (rank_slot& k : slots_) cudaEventRecord(k.stop, k.stream);
      if (failure d = sync_all(); !f) f = d;
    }
    for (rank_slot& k : slots_) k.drop_graph();
    double const calls = double(how.iters) * (graphs ? double(how.graph_iters) : 1.0);
    for (int i = 0; i < local_ && !f; ++i) {
      float ms = 0;
      if (cudaEventElapsedTime(&ms, slots_[std::size_t(i)].start, slots_[std::size_t(i)].stop) != cudaSuccess)
        f = {first_ + i, weft::status::cuda_error, "cannot read the CUDA events"};
      else
        m.rank_seconds[std::size_t(first_ + i)] = calls > 0 ? double(ms) * 1e-3 / calls : 0.0;
    }

    // Checked runs: every local rank's call, then its stream drained and its error records read.
    long long wrong = 0;
    if (!f) {
      failure cf;
      weft::status const cst = cuda_detail::check_runs<T>(s, how, n_, v, [&] {
        if (!(cf = issue_all<T>(s, v))) cf = sync_all();
        return cf.st;
      }, wrong, first_);
      if (cst != weft::status::success) f = cf ? cf : failure{first_, cst, "a copy between host and device failed"};
    }
    // A failure: every local stream drained (the device-side waits are bounded).
    bool const device_failed = f && bool(sync_all());

    if (process()) {
      // Every process learns every rank's time, #wrong and failure.
      process_report mine;
      mine.seconds = m.rank_seconds[std::size_t(first_)];
      mine.wrong = wrong;
      mine.st = std::int32_t(f.st);
      if (f) copy_text(mine.text, sizeof mine.text, f.detail);
      std::vector<process_report> all(static_cast<std::size_t>(n_));
      if (boot_->all_gather(&mine, sizeof mine, all.data()) != weft::status::success) {
        broken_ = "the processes could not gather the results (the launcher's bootstrap failed)";
        m.error = broken_;
        return m;
      }
      f = {};
      wrong = 0;
      for (int r = 0; r < n_; ++r) {
        process_report const& x = all[std::size_t(r)];
        m.rank_seconds[std::size_t(r)] = x.seconds;
        wrong += x.wrong;
        if (x.st != 0 && !f) f = {r, weft::status(x.st), std::string(x.text)};
      }
    }
    if (f) {
      m.error = failure_message(s, f.rank, f.st, f.detail);
      bool healthy = true;
      for (auto const& c : comms_) healthy = healthy && c->healthy();
      if (process()) healthy = false; // every process rebuilds, together
      if (!healthy || device_failed) rebuild();
      return m;
    }
    m.ok = true;
    m.checked = how.check_runs > 0;
    m.wrong = wrong;
    return m;
  }

  //! After a failure the communicators are unhealthy: make new ones (collective).
  void rebuild() {
    comms_.clear(); // frees -R 2's symmetric memory with them
    if (process()) {
      std::string why;
      bool const made = make_process_comm(why);
      if (std::string const w = agree(made ? std::string() : why, "rebuilding the communicator"); !w.empty()) {
        broken_ = "the communicators could not be rebuilt after a failed collective: " + w;
        return;
      }
    } else if (weft::status const s = weft::comm_init_all(devices_, comms_, cfg_); s != weft::status::success) {
      broken_ = "the communicators could not be rebuilt after a failed collective: weft::comm_init_all: " +
                std::string(weft::to_string(s));
      return;
    }
    std::string const why = attach_buffers();
    std::string const w = process() ? agree(why, "attaching the buffers") : why;
    if (!w.empty()) broken_ = "the buffers could not be attached to the rebuilt communicators: " + w;
  }

  int n_, first_ = 0, local_, ngpus_;
  std::vector<int> devices_; // of the local ranks
  weft::comm_config cfg_;
  std::size_t max_bytes_;
  std::vector<gpu_info> gpus_; // by device (process mode: this process's one)
  std::string host_;
  int registration_ = 0;
  bool multicast_ = false;
  std::string multicast_why_;
  std::unique_ptr<weft::comm_bootstrap> boot_; // process mode; outlives comms_
  std::vector<process_info> infos_;            // process mode: every rank's
  std::vector<rank_slot> slots_;
  std::vector<std::unique_ptr<weft::comm>> comms_;
  std::string broken_;
};

//! The communicator's configuration for this command line.
weft::comm_config comm_config_for(options const& o) {
  weft::comm_config cfg;
  cfg.max_channels = std::max(1, o.nchannels);
  if (o.nslots > 0) cfg.slots.nslots = o.nslots;
  cfg.timeout_ns = std::uint64_t(o.timeout_ms) * 1000000ull;
  if (o.slot_bytes > 0)
    for (weft::protocol p : o.protos) {
      if (p == weft::protocol::simple) cfg.slots.simple_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll) cfg.slots.ll_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll128) cfg.slots.ll128_slot_bytes = o.slot_bytes;
    }
  cfg.recursive_connections = WEFT_RUNTIME_RECURSIVE && needs_pairs(o);
  // The connections this command line needs, whatever the default budget (which guards library users).
  cfg.max_scratch_bytes = std::max(cfg.max_scratch_bytes, weft::comm::planned_scratch_bytes(o.nranks, cfg));
  return cfg;
}

} // namespace

std::unique_ptr<backend> make_comm_backend(options const& o, std::string& why) {
  int const ndev = cuda_detail::device_count("-g runs weft::comm ranks on CUDA devices", why);
  if (ndev == 0) return nullptr;
  if (o.ngpus > ndev) {
    why = "-g " + std::to_string(o.ngpus) + ": this machine has " + std::to_string(ndev) + " CUDA device" +
          (ndev == 1 ? "" : "s") + " (give -g " + std::to_string(ndev) + " or fewer; --ranks puts several ranks on a GPU)";
    return nullptr;
  }
  std::vector<gpu_info> gpus;
  for (int d = 0; d < o.ngpus; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) {
      why = "cannot open CUDA device " + std::to_string(d);
      return nullptr;
    }
    gpus.push_back({prop.name, prop.pciBusID});
  }
  int const per = o.nranks / o.ngpus; // parse_args: a whole number
  std::vector<int> devices;
  for (int r = 0; r < o.nranks; ++r) devices.push_back(r / per);

  auto be = std::make_unique<comm_backend>(o.ngpus, devices, comm_config_for(o), o.max_bytes, gpus, o.registration);
  why = be->init();
  if (!why.empty()) return nullptr;
  return be;
}

std::unique_ptr<backend> make_comm_process_backend(options const& o, std::unique_ptr<weft::comm_bootstrap> boot,
                                                  std::string& why) {
  int const n = boot->size(), me = boot->rank();
  // Every process: its device count and host; all of them learn whether any has no device.
  struct hello {
    std::int32_t ndev = 0, pad = 0;
    char host[64] = {};
    char why[184] = {};
  };
  hello mine;
  std::string local_why;
  mine.ndev = cuda_detail::device_count("--backend cuda under mpirun runs one weft::comm rank per process on a CUDA device",
                                        local_why);
  copy_text(mine.host, sizeof mine.host, host_name());
  copy_text(mine.why, sizeof mine.why, local_why);
  std::vector<hello> all(static_cast<std::size_t>(n));
  if (boot->all_gather(&mine, sizeof mine, all.data()) != weft::status::success) {
    why = "the processes could not meet (the launcher's bootstrap failed)";
    return nullptr;
  }
  for (int r = 0; r < n; ++r)
    if (all[std::size_t(r)].ndev == 0) {
      why = r == me ? local_why : "rank " + std::to_string(r) + ": " + std::string(all[std::size_t(r)].why);
      return nullptr;
    }
  // This process's GPU: its rank among the processes of its host, modulo the host's devices.
  int local = 0;
  for (int r = 0; r < me; ++r) local += std::strcmp(all[std::size_t(r)].host, mine.host) == 0;
  int const dev = local % mine.ndev;
  cudaDeviceProp prop{};
  gpu_info gpu;
  if (cudaGetDeviceProperties(&prop, dev) == cudaSuccess) gpu = {prop.name, prop.pciBusID};
  auto be = std::make_unique<comm_backend>(std::move(boot), dev, comm_config_for(o), o.max_bytes, gpu, o.registration);
  why = be->init();
  if (!why.empty()) return nullptr;
  return be;
}

} // namespace weft_bench
