// All-reduce algorithms side by side with virtual ranks on one GPU (every
// rank's buffers on device 0), fp32 sum, out of place: direct one-shot,
// two-shot and LL, NVLS (on one GPU its peer-read fallback `peer_multicast`:
// a multicast object needs several devices), and the double binary tree and
// the ring of `vrank_comm`. nccl-tests-like rows (time, algbw, busbw with the
// factor 2(n-1)/n, #wrong of one checked call) and ratios against baselines
// measured in the same run: an empty kernel launch and cudaMemcpy D2D.
//
// Direct and NVLS: one kernel per rank on the rank's own non-blocking stream
// (as tests/gpu/test_direct_gpu.cu), every rank's symmetric window in device
// memory. A batch is timed by events around the whole call: a start event on a
// control stream, every rank stream waits for it, the calls are launched call
// by call and rank by rank, every rank stream records a join event that the
// control stream waits for, then the end event. `time` queues every launch of
// the batch behind a gate kernel before the start event runs, so it is the
// GPU's time and not one host thread's rate of launching n kernels per call;
// `launched` is the same batch without the gate. A failed wait (every wait is
// bounded) raises the views' abort flag so the rest of the batch drains at
// once; the window is then rebuilt.
//
// Tree and ring: `vrank_comm`, one cooperative launch per call on the control
// stream (plus the communicator's per-call pointer upload), timed like
// ring_bench_gpu: back-to-back calls between two events.
#include "dev_buffers.cuh" // Thrust device buffers, fills and comparisons
#include "gpu_bench_util.cuh"

#include <weft/runtime/nvls_multimem.cuh>
#include <weft/runtime/vrank_window.cuh>
#include <weft/runtime/vrank_comm.cuh>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Op = weft::op::sum<float>;

constexpr std::size_t kSizes[] = {8, 4096, std::size_t(64) << 10, std::size_t(1) << 20, std::size_t(16) << 20};
constexpr std::size_t kMaxBytes = std::size_t(16) << 20;
constexpr std::size_t kMaxCount = kMaxBytes / sizeof(float);
constexpr std::size_t kLLMaxBytes = std::size_t(64) << 10; // direct LL runs up to this size
constexpr std::size_t kGuard = 16;                          // poisoned floats past every output
constexpr std::uint32_t kPoison = 0x7f7f7f7fu;
constexpr int kMaxRanks = 8;
// Direct/NVLS window of every rank: kMaxBlocks x 4 areas of kAreaBytes, LL slots of kLLBytes.
// 16 MiB over 16 blocks is one area per block: one round; the kernels loop over rounds otherwise.
constexpr int kMaxBlocks = 16;
constexpr std::size_t kAreaBytes = std::size_t(1) << 20;
constexpr std::size_t kLLBytes = std::size_t(64) << 10;
constexpr int kMaxChannels = 16;                         // ring and tree (vrank_comm)
constexpr std::uint64_t kTimeoutNs = 5'000'000'000ull;   // every device-side wait
constexpr std::uint64_t kGateNs = 2'000'000'000ull;      // the gate kernel's wait
constexpr int kWarmup = 3, kReps = 5;
constexpr double kDeadlineS = 45;    // no configuration starts after this many seconds
constexpr double kHostWaitS = 30;    // a batch not done after this: give up (exit)
constexpr int kMaxFailures = 4;      // failed configurations before the rest is skipped

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CTAs per rank (direct, NVLS) and channels (tree) for a message size.
int blocks_for(std::size_t bytes) {
  return int(std::clamp<std::size_t>(bytes / (std::size_t(16) << 10), 1, std::size_t(kMaxBlocks)));
}
// Calls per timed batch.
int calls_for(std::size_t bytes) {
  return bytes <= (std::size_t(64) << 10) ? 50 : bytes <= (std::size_t(1) << 20) ? 20 : 5;
}

// Input element j of rank r: an integer in [-8, 8], so every fp32 partial sum is exact.
float input(int r, std::size_t j) {
  std::uint32_t h = std::uint32_t(j) * 2654435761u ^ (std::uint32_t(r) + 1u) * 0x9E3779B9u;
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  return float(int(h % 17u) - 8);
}

// Waits on a flag in host-mapped memory (set by the host once a batch is queued).
__global__ void gate_kernel(std::uint32_t* open, weft::status* result) {
  weft::status const s = weft::wait_geq(open, 1u, weft::wait_bound{kGateNs, nullptr});
  if (s != weft::status::success && threadIdx.x == 0) *result = s;
}

enum class dkind { one_shot, two_shot, ll, nvls };
char const* name(dkind k) {
  switch (k) {
    case dkind::one_shot: return "direct_1shot";
    case dkind::two_shot: return "direct_2shot";
    case dkind::ll: return "direct_ll";
    case dkind::nvls: return "nvls(peer)";
  }
  return "?";
}

// Host-mapped words shared by every configuration.
struct mapped {
  weft::status* results = nullptr; // [kMaxRanks] per-rank status of the direct/NVLS kernels (written on failure only)
  weft::status* gate_result = nullptr;
  std::uint32_t* gate_open = nullptr;
  std::uint32_t* one = nullptr;    // source of the abort store
};

// One result row, kept for the summary.
struct row {
  int n;
  std::string algo;
  std::size_t bytes;
  double us;       // time(us)
  double launched; // launched(us) for direct/NVLS, time(us) for tree/ring
  bool good;
};

struct bench {
  cudaStream_t ctl = nullptr;   // control stream: events, vrank_comm calls
  cudaStream_t abort_s = nullptr;
  std::uint32_t* abort_flag = nullptr; // device memory, the views' wait_bound abort flag
  mapped m;
  int threads = 256;            // per direct/NVLS CTA
  double t_empty = 0, mc_gbs = 0, t0 = 0;
  int failures = 0;
  std::vector<row> rows;
  std::vector<float> ref;       // reference sums
  weft_test::dvec<float> dref;  // the same on the device, for the comparisons

  bool out_of_time() const { return now_s() - t0 > kDeadlineS || failures >= kMaxFailures; }
};

// n virtual ranks' symmetric windows on device 0 (weft::vrank_window), zeroed; one
// stream and join event per rank.
struct world {
  int n = 0;
  weft::vrank_window win;
  std::vector<cudaStream_t> streams;
  std::vector<cudaEvent_t> join;
  cudaEvent_t fork = nullptr;

  world() = default;
  world(world const&) = delete;
  world& operator=(world const&) = delete;
  ~world() { destroy(); }

  void destroy() {
    if (n == 0) return;
    cudaDeviceSynchronize();
    win.release();
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
      if (streams[i]) cudaStreamDestroy(streams[i]);
      if (join[i]) cudaEventDestroy(join[i]);
    }
    if (fork) cudaEventDestroy(fork);
    fork = nullptr;
    n = 0;
  }

  int init(int nranks, std::uint32_t const* abort) {
    destroy();
    n = nranks;
    std::size_t const N = std::size_t(n);
    streams.assign(N, nullptr);
    join.assign(N, nullptr);
    weft::vrank_window::config c;
    c.nblocks = kMaxBlocks;
    c.area_bytes = kAreaBytes;
    c.ll_bytes = kLLBytes;
    c.timeout_ns = kTimeoutNs;
    c.abort_flag = abort;
    std::string why;
    if (win.init(n, c, &why) != weft::status::success) {
      std::printf("# vrank_window: %s\n", why.c_str());
      return 1;
    }
    CK(cudaEventCreateWithFlags(&fork, cudaEventDisableTiming));
    for (std::size_t r = 0; r < N; ++r) {
      CK(cudaStreamCreateWithFlags(&streams[r], cudaStreamNonBlocking));
      CK(cudaEventCreateWithFlags(&join[r], cudaEventDisableTiming));
    }
    return 0;
  }

  weft::sym_view view(int r) const { return win.view(r); }
  // The failed wait rank r recorded, as text ("" when none).
  std::string failure_of(int r) const { return win.failure_of(r); }
};

// Every kernel this program launches, loaded before any launch: with lazy loading
// a kernel's first launch may wait for the device to go idle while another rank's
// kernel spins waiting for it.
int load_kernels(int* max_threads) {
  cudaFuncAttributes fa{};
  CK(cudaFuncGetAttributes(&fa, empty_kernel));
  CK(cudaFuncGetAttributes(&fa, gate_kernel));
  CK(cudaFuncGetAttributes(&fa, weft::direct_all_reduce_kernel<Op>));
  int mt = fa.maxThreadsPerBlock;
  CK(cudaFuncGetAttributes(&fa, weft::nvls_all_reduce_kernel<weft::peer_multicast, Op>));
  mt = std::min(mt, fa.maxThreadsPerBlock);
  CK(cudaFuncGetAttributes(&fa, weft::detail::vrank_ring_kernel<weft::coll_kind::all_reduce, weft::protocol::simple, Op>));
  CK(cudaFuncGetAttributes(&fa, weft::detail::vrank_recursive_kernel<weft::algorithm::tree, weft::protocol::simple, Op>));
  CK(cudaFuncGetAttributes(&fa, weft::detail::vrank_recursive_kernel<weft::algorithm::tree, weft::protocol::ll, Op>));
  *max_threads = mt;
  return 0;
}

// Buffers of the n ranks (Thrust device vectors): inputs (kMaxCount) and
// outputs (kMaxCount + guard), and their raw pointers.
struct rank_buffers {
  std::vector<weft_test::dvec<float>> din, dout;
  std::vector<float*> in, out;
  std::vector<float const*> cin;
  ~rank_buffers() { cudaDeviceSynchronize(); } // no kernel may still use them when they go
};

float poison_value() {
  float f;
  std::memcpy(&f, &kPoison, sizeof f);
  return f;
}

// Poison every output (count + guard floats).
int poison_outputs(rank_buffers const& b, std::size_t count) {
  try {
    for (float* p : b.out)
      thrust::fill_n(thrust::device_pointer_cast(p), std::ptrdiff_t(count + kGuard), poison_value());
  } catch (std::exception const& e) {
    std::printf("poisoning the outputs failed: %s\n", e.what());
    return 1;
  }
  CK(cudaDeviceSynchronize());
  return 0;
}

// Elements of every rank's output that differ from the reference, plus overwritten
// guards, counted on the device; -1 on a CUDA error.
long count_wrong(bench& B, rank_buffers const& b, std::size_t count) {
  long wrong = 0;
  try {
    for (auto const& v : b.dout)
      wrong += long(weft_test::count_mismatches(v.begin(), B.dref.begin(), count) +
                    weft_test::count_not(v.begin() + std::ptrdiff_t(count), kGuard, poison_value()));
  } catch (std::exception const& e) {
    std::printf("comparing on the device failed: %s\n", e.what());
    return -1;
  }
  return wrong;
}

void print_row(bench& B, int n, char const* algo, char const* proto, int ch, std::size_t bytes, double us, long wrong,
               double launched_us, bool good) {
  double const algbw = double(bytes) / (us * 1e-6) / 1e9;
  double const busbw = algbw * 2.0 * (n - 1) / n;
  char launched[32];
  if (launched_us > 0) std::snprintf(launched, sizeof launched, "%12.2f", launched_us);
  else std::snprintf(launched, sizeof launched, "%12s", "-");
  std::printf("  %5d %13s %6s %3d %10zu %10.2f %10.2f %10.2f %7ld %8.2f %s\n", n, algo, proto, ch, bytes, us, algbw,
              busbw, wrong, us / B.t_empty, launched);
  std::fflush(stdout);
  B.rows.push_back(row{n, std::string(algo) + (!std::strcmp(proto, "simple") || std::strstr(algo, proto) ? "" : std::string("/") + proto), bytes,
                       us, launched_us > 0 ? launched_us : us, good && wrong == 0});
}

void print_skip(int n, char const* algo, char const* proto, std::size_t bytes, std::string const& why) {
  std::printf("  %5d %13s %6s %3s %10zu  SKIPPED: %s\n", n, algo, proto, "-", bytes, why.c_str());
  std::fflush(stdout);
}

bool any_failed(bench const& B, int n) {
  for (int r = 0; r < n; ++r)
    if (static_cast<weft::status const volatile&>(B.m.results[r]) != weft::status::success) return true;
  return false;
}

// Direct/NVLS: enqueue one batch of `calls` calls of every rank (gated: behind the
// gate kernel), wait for it (raising the abort flag as soon as a rank reports a
// failure) and return its time in us per call, or a negative value with `err` set.
double run_batch(bench& B, world& w, dkind k, rank_buffers const& b, std::size_t count, int nb, int calls, bool gated,
                 std::string& err) {
  int const n = w.n;
  cudaEvent_t a = nullptr, e = nullptr;
  auto fail = [&](std::string const& what, cudaError_t ce) {
    err = what + ": " + cudaGetErrorString(ce);
    *static_cast<std::uint32_t volatile*>(B.m.gate_open) = 1; // a queued gate never waits out its bound
    if (a) cudaEventDestroy(a);
    if (e) cudaEventDestroy(e);
    return -1.0;
  };
  cudaError_t ce;
  if ((ce = cudaEventCreate(&a)) != cudaSuccess || (ce = cudaEventCreate(&e)) != cudaSuccess)
    return fail("cudaEventCreate", ce);
  if (gated) {
    *static_cast<std::uint32_t volatile*>(B.m.gate_open) = 0;
    static_cast<weft::status volatile&>(*B.m.gate_result) = weft::status::success;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    gate_kernel<<<1, 32, 0, B.ctl>>>(B.m.gate_open, B.m.gate_result);
    if ((ce = cudaGetLastError()) != cudaSuccess) return fail("gate launch", ce);
  }
  if ((ce = cudaEventRecord(a, B.ctl)) != cudaSuccess) return fail("cudaEventRecord", ce);
  if ((ce = cudaEventRecord(w.fork, B.ctl)) != cudaSuccess) return fail("cudaEventRecord", ce);
  for (int r = 0; r < n; ++r)
    if ((ce = cudaStreamWaitEvent(w.streams[std::size_t(r)], w.fork, 0)) != cudaSuccess) return fail("cudaStreamWaitEvent", ce);
  // Call-major: a kernel never sits in a queue ahead of a kernel of an earlier call it depends on.
  for (int i = 0; i < calls; ++i)
    for (int r = 0; r < n; ++r) {
      weft::sym_view const v = w.view(r);
      cudaStream_t const st = w.streams[std::size_t(r)];
      float const* in = b.in[std::size_t(r)];
      float* out = b.out[std::size_t(r)];
      weft::status* res = B.m.results + r;
      unsigned const g = unsigned(nb), t = unsigned(B.threads);
      switch (k) {
        case dkind::one_shot:
          weft::direct_all_reduce_kernel<Op><<<g, t, 0, st>>>(v, weft::direct_flavour::one_shot, Op{}, in, out, count, res);
          break;
        case dkind::two_shot:
          weft::direct_all_reduce_kernel<Op><<<g, t, 0, st>>>(v, weft::direct_flavour::two_shot, Op{}, in, out, count, res);
          break;
        case dkind::ll:
          weft::direct_all_reduce_kernel<Op><<<g, t, 0, st>>>(v, weft::direct_flavour::ll, Op{}, in, out, count, res);
          break;
        case dkind::nvls:
          weft::nvls_all_reduce_kernel<weft::peer_multicast, Op>
              <<<g, t, 0, st>>>(weft::peer_multicast{v}, Op{}, in, out, count, res);
          break;
      }
      if ((ce = cudaGetLastError()) != cudaSuccess) { // what was queued fails fast
        cudaMemcpyAsync(B.abort_flag, B.m.one, sizeof(std::uint32_t), cudaMemcpyHostToDevice, B.abort_s);
        return fail("kernel launch", ce);
      }
    }
  for (int r = 0; r < n; ++r) {
    std::size_t const i = std::size_t(r);
    if ((ce = cudaEventRecord(w.join[i], w.streams[i])) != cudaSuccess) return fail("cudaEventRecord", ce);
    if ((ce = cudaStreamWaitEvent(B.ctl, w.join[i], 0)) != cudaSuccess) return fail("cudaStreamWaitEvent", ce);
  }
  if ((ce = cudaEventRecord(e, B.ctl)) != cudaSuccess) return fail("cudaEventRecord", ce);
  if (gated) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    *static_cast<std::uint32_t volatile*>(B.m.gate_open) = 1;
  }
  bool aborted = false;
  double const t_start = now_s();
  for (;;) {
    ce = cudaEventQuery(e);
    if (ce == cudaSuccess) break;
    if (ce != cudaErrorNotReady) return fail("waiting for the batch", ce);
    if (!aborted && any_failed(B, n)) {
      aborted = true;
      cudaMemcpyAsync(B.abort_flag, B.m.one, sizeof(std::uint32_t), cudaMemcpyHostToDevice, B.abort_s);
    }
    if (now_s() - t_start > kHostWaitS) {
      std::printf("# a batch did not finish in %.0f s although every device wait is bounded: giving up\n", kHostWaitS);
      std::fflush(stdout);
      std::_Exit(3);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  float ms = 0;
  ce = cudaEventElapsedTime(&ms, a, e);
  cudaEventDestroy(a);
  cudaEventDestroy(e);
  a = e = nullptr;
  if (ce != cudaSuccess) return fail("cudaEventElapsedTime", ce);
  for (int r = 0; r < n; ++r)
    if (B.m.results[r] != weft::status::success) {
      err = std::string("rank ") + std::to_string(r) + " returned " + weft::to_string(B.m.results[r]) + w.failure_of(r);
      return -1.0;
    }
  if (gated && *B.m.gate_result != weft::status::success) {
    err = "the gate kernel timed out";
    return -1.0;
  }
  return 1000.0 * double(ms) / calls;
}

// After a failed direct/NVLS configuration: drain, clear the abort flag and statuses, rebuild the windows.
int recover(bench& B, world& w) {
  ++B.failures;
  cudaError_t const e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    std::printf("CUDA error %s after a failed configuration: stopping\n", cudaGetErrorString(e));
    return 1;
  }
  CK(cudaMemset(B.abort_flag, 0, sizeof(std::uint32_t)));
  for (int r = 0; r < kMaxRanks; ++r) B.m.results[r] = weft::status::success;
  return w.init(w.n, B.abort_flag);
}

// Median over kReps batches (after kWarmup), or negative with `err`.
double time_direct(bench& B, world& w, dkind k, rank_buffers const& b, std::size_t count, int nb, int calls, bool gated,
                   std::string& err) {
  std::vector<double> t;
  for (int i = 0; i < kWarmup + kReps; ++i) {
    double const us = run_batch(B, w, k, b, count, nb, calls, gated, err);
    if (us < 0) return us;
    if (i >= kWarmup) t.push_back(us);
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int run_direct(bench& B, world& w, dkind k, rank_buffers const& b, std::size_t bytes) {
  int const n = w.n;
  char const* proto = k == dkind::ll ? "ll" : "simple";
  if (B.out_of_time()) {
    print_skip(n, name(k), proto, bytes, B.failures >= kMaxFailures ? "too many failures" : "time budget spent");
    return 0;
  }
  std::size_t const count = bytes / sizeof(float);
  int const nb = blocks_for(bytes);
  for (int r = 0; r < kMaxRanks; ++r) B.m.results[r] = weft::status::success;
  if (poison_outputs(b, count)) return 1;
  std::string err;
  // One checked call.
  if (run_batch(B, w, k, b, count, nb, 1, false, err) < 0) {
    print_skip(n, name(k), proto, bytes, "checked call failed: " + err);
    return recover(B, w);
  }
  long const wrong = count_wrong(B, b, count);
  if (wrong < 0) {
    std::printf("CUDA error reading the outputs\n");
    return 1;
  }
  int const calls = calls_for(bytes);
  double const gated = time_direct(B, w, k, b, count, nb, calls, true, err);
  double const launched = gated < 0 ? -1.0 : time_direct(B, w, k, b, count, nb, calls, false, err);
  if (gated < 0 || launched < 0) {
    print_skip(n, name(k), proto, bytes, "timed calls failed: " + err);
    return recover(B, w);
  }
  print_row(B, n, name(k), proto, nb, bytes, gated, wrong, launched, true);
  return 0;
}

// Tree or ring over vrank_comm. `cap`: the most channels this communicator's cooperative launch accepted so far.
template <weft::algorithm A>
int run_vrank(bench& B, weft::vrank_comm& comm, bool& broken, int& cap, int n, weft::protocol p, int want_ch,
              rank_buffers& b, std::size_t bytes) {
  char const* algo = A == weft::algorithm::tree ? "tree" : "ring";
  if (broken || B.out_of_time()) {
    print_skip(n, algo, weft::to_string(p), bytes,
               broken ? "the communicator failed earlier" : B.failures >= kMaxFailures ? "too many failures" : "time budget spent");
    return 0;
  }
  std::size_t const count = bytes / sizeof(float);
  weft::vrank_options o;
  o.proto = p;
  o.nchannels = std::min(want_ch, cap);
  if (poison_outputs(b, count)) return 1;
  weft::status st;
  for (;;) { // a cooperative launch too large for the device: fewer channels
    st = comm.all_reduce_with<A>(b.cin, b.out, count, Op{}, o, B.ctl);
    if (st != weft::status::unsupported || o.nchannels == 1) break;
    (void)cudaGetLastError(); // the refused launch's error
    o.nchannels /= 2;
    cap = o.nchannels;
  }
  CK(cudaStreamSynchronize(B.ctl));
  std::string why;
  weft::status const last = st == weft::status::success ? comm.last_status(&why) : st;
  if (last != weft::status::success) {
    print_skip(n, algo, weft::to_string(p), bytes,
               std::string("checked call failed: ") + weft::to_string(last) + (st == weft::status::success ? " " + why : ""));
    broken = true;
    ++B.failures;
    (void)cudaGetLastError();
    return 0;
  }
  long const wrong = count_wrong(B, b, count);
  if (wrong < 0) {
    std::printf("CUDA error reading the outputs\n");
    return 1;
  }
  weft::status first = weft::status::success;
  double const us = median_us(
      [&] {
        weft::status const s = comm.all_reduce_with<A>(b.cin, b.out, count, Op{}, o, B.ctl);
        if (first == weft::status::success) first = s;
      },
      calls_for(bytes), kReps, B.ctl);
  CK(cudaStreamSynchronize(B.ctl));
  weft::status const after = first == weft::status::success ? comm.last_status(&why) : first;
  if (after != weft::status::success) {
    print_skip(n, algo, weft::to_string(p), bytes, std::string("timed calls failed: ") + weft::to_string(after));
    broken = true;
    ++B.failures;
    return 0;
  }
  print_row(B, n, algo, weft::to_string(p), o.nchannels, bytes, us, wrong, -1.0, true);
  return 0;
}

int run_ranks(bench& B, int n) {
  std::printf("# %d ranks\n", n);
  // Inputs and the reference (every algorithm reads a prefix of the same inputs).
  rank_buffers b;
  std::vector<float> h(kMaxCount);
  for (int r = 0; r < n; ++r) {
    for (std::size_t j = 0; j < kMaxCount; ++j) h[j] = input(r, j);
    b.din.emplace_back(h.begin(), h.end());
    b.dout.emplace_back(kMaxCount + kGuard);
  }
  b.in = weft_test::raw_ptrs(b.din);
  b.out = weft_test::raw_ptrs(b.dout);
  b.cin = weft_test::const_ptrs(b.in);
  for (std::size_t j = 0; j < kMaxCount; ++j) {
    float s = 0;
    for (int r = 0; r < n; ++r) s += input(r, j);
    B.ref[j] = s;
  }
  B.dref.assign(B.ref.begin(), B.ref.end());
  {
    world w;
    if (w.init(n, B.abort_flag)) return 1;
    for (dkind k : {dkind::one_shot, dkind::two_shot, dkind::ll, dkind::nvls})
      for (std::size_t bytes : kSizes) {
        if (k == dkind::ll && bytes > kLLMaxBytes) continue;
        if (run_direct(B, w, k, b, bytes)) return 1;
      }
  }
  weft::vrank_config cfg;
  cfg.max_channels = kMaxChannels;
  cfg.timeout_ns = kTimeoutNs;
  {
    weft::vrank_comm tree;
    weft::status const s = tree.init(n, cfg);
    bool broken = s != weft::status::success;
    if (broken) std::printf("# tree: vrank_comm init failed: %s\n", weft::to_string(s));
    int cap = kMaxChannels;
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll})
      for (std::size_t bytes : kSizes)
        if (run_vrank<weft::algorithm::tree>(B, tree, broken, cap, n, p, blocks_for(bytes), b, bytes)) return 1;
  }
  {
    weft::vrank_comm ring;
    weft::status const s = ring.init(n, cfg);
    bool broken = s != weft::status::success;
    if (broken) std::printf("# ring: vrank_comm init failed: %s\n", weft::to_string(s));
    int cap = kMaxChannels;
    for (std::size_t bytes : kSizes)
      if (run_vrank<weft::algorithm::ring>(B, ring, broken, cap, n, weft::protocol::simple, kMaxChannels, b, bytes))
        return 1;
  }
  return 0;
}

void summary(bench const& B) {
  std::printf("# summary: fastest by time(us) (direct/NVLS gated: GPU time); in brackets the fastest as launched "
              "from one host thread (direct/NVLS launched(us), tree/ring time(us))\n");
  for (int n : {2, 4, 8}) {
    std::size_t const at[2] = {kSizes[0], kMaxBytes};
    for (int i = 0; i < 2; ++i) {
      row const* best = nullptr;
      row const* best_l = nullptr;
      for (row const& x : B.rows)
        if (x.n == n && x.good && x.bytes == at[i]) {
          if (!best || x.us < best->us) best = &x;
          if (!best_l || x.launched < best_l->launched) best_l = &x;
        }
      std::printf("#   %d ranks, %9zu B: ", n, at[i]);
      if (!best) {
        std::printf("none measured\n");
        continue;
      }
      double const busbw = double(at[i]) / (best->us * 1e-6) / 1e9 * 2.0 * (n - 1) / n;
      std::printf("%s %.2f us (%.2fx the empty launch, busbw %.2f GB/s)  [%s %.2f us, %.2fx the empty launch]\n",
                  best->algo.c_str(), best->us, best->us / B.t_empty, busbw, best_l->algo.c_str(), best_l->launched,
                  best_l->launched / B.t_empty);
    }
  }
}

} // namespace
int main() {
  // More hardware queues than the default 8: up to 8 rank streams + the control and abort streams
  // (an explicit setting in the environment wins).
  setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", 0);
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    std::printf("SKIPPED: algos_bench_gpu needs a CUDA device\n");
    return 0;
  }
  bench B;
  B.t0 = now_s();
  CK(cudaSetDevice(0));
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  int max_threads = 0;
  if (load_kernels(&max_threads)) return 1;
  B.threads = std::min(512, max_threads / 32 * 32);
  if (B.threads < 32) {
    std::printf("direct/NVLS kernels accept only %d threads per CTA\n", max_threads);
    return 1;
  }
  CK(cudaStreamCreateWithFlags(&B.ctl, cudaStreamNonBlocking));
  CK(cudaStreamCreateWithFlags(&B.abort_s, cudaStreamNonBlocking));
  CK(cudaMalloc(&B.abort_flag, sizeof(std::uint32_t)));
  CK(cudaMemset(B.abort_flag, 0, sizeof(std::uint32_t)));
  CK(cudaHostAlloc(&B.m.results, kMaxRanks * sizeof(weft::status), cudaHostAllocMapped));
  CK(cudaHostAlloc(&B.m.gate_result, sizeof(weft::status), cudaHostAllocMapped));
  CK(cudaHostAlloc(&B.m.gate_open, sizeof(std::uint32_t), cudaHostAllocMapped));
  CK(cudaHostAlloc(&B.m.one, sizeof(std::uint32_t), cudaHostAllocMapped));
  for (int r = 0; r < kMaxRanks; ++r) B.m.results[r] = weft::status::success;
  *B.m.gate_result = weft::status::success;
  *B.m.gate_open = 0;
  *B.m.one = 1;
  B.ref.assign(kMaxCount, 0.0f);

  // Baselines, as ring_bench_gpu measures them: memcpy D2D (bytes read + written), empty kernel launch.
  std::size_t const mc_bytes = std::size_t(256) << 20;
  void *x, *y;
  CK(cudaMalloc(&x, mc_bytes));
  CK(cudaMalloc(&y, mc_bytes));
  double const t_mc = median_us([&] { cudaMemcpyAsync(y, x, mc_bytes, cudaMemcpyDeviceToDevice); }, 10, 5);
  B.mc_gbs = 2.0 * double(mc_bytes) / (t_mc * 1e-6) / 1e9;
  B.t_empty = median_us([&] { empty_kernel<<<1, 32>>>(); }, 200, 5);
  CK(cudaGetLastError());
  CK(cudaFree(x));
  CK(cudaFree(y));

  std::printf("# all-reduce algorithms, fp32 sum, out of place, virtual ranks on one %s (%d SMs), every rank's buffers "
              "on device 0\n",
              prop.name, prop.multiProcessorCount);
  std::printf("# NVLS on one GPU runs its peer-read fallback (peer_multicast), not multimem: no multicast object "
              "spans one device\n");
  std::printf("# memcpy D2D (256 MiB): %.1f GB/s moved (read + written);  empty kernel launch: %.2f us\n", B.mc_gbs,
              B.t_empty);
  std::printf("# direct/NVLS: one kernel per rank on its own stream, %d threads per CTA, ch = CTAs per rank; window "
              "per rank: %d blocks x 4 areas of %zu KiB + LL slots of %zu KiB (larger ranges run in rounds)\n",
              B.threads, kMaxBlocks, kAreaBytes >> 10, kLLBytes >> 10);
  std::printf("# tree/ring: vrank_comm, one cooperative launch of ranks x ch CTAs per call (ring: 16 channels or the "
              "most the device accepts)\n");
  std::printf("# time(us): median of %d batches (after %d warm-up batches) of back-to-back calls, CUDA events around "
              "the batch / calls per batch; direct/NVLS launches are all queued behind a gate before the start event "
              "(GPU time), launched(us) is the same without the gate (one host thread launching ranks kernels per "
              "call; compare it with tree/ring, which are timed ungated)\n",
              kReps, kWarmup);
  std::printf("# busbw = algbw * 2(n-1)/n;  #wrong: elements differing from the host reference in one checked call "
              "(all ranks) plus overwritten guard elements;  /launch = time / empty launch\n");
  std::printf("# %5s %13s %6s %3s %10s %10s %10s %10s %7s %8s %12s\n", "ranks", "algo", "proto", "ch", "size(B)",
              "time(us)", "algbw", "busbw", "#wrong", "/launch", "launched(us)");
  std::fflush(stdout);
  for (int n : {2, 4, 8})
    if (run_ranks(B, n)) return 1;
  summary(B);
  std::printf("# total %.1f s\n", now_s() - B.t0);
  long bad = 0;
  for (row const& rw : B.rows) bad += !rw.good;
  if (bad || B.failures) std::printf("# %ld rows with wrong elements, %d failed configurations\n", bad, B.failures);
  return bad || B.failures ? 1 : 0;
}
