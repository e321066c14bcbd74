// Direct (one-shot, two-shot, LL) all-reduce and NVLS all-reduce, all-gather and
// reduce-scatter on one GPU with virtual ranks. Every rank has its own region,
// flag array, cursors and LL staging in device memory of device 0 and its own
// `sym_view`; each rank's kernel runs on its own non-blocking stream, every rank
// launched before anything waits, so the ranks run concurrently and meet at the
// flags. NVLS runs over `peer_multicast` (the peer-pointer fallback: a multicast
// object needs several devices). Outputs are poisoned (0x7f bytes) before each
// call and compared with a host reference: fp32 sums of small integers (exact in
// any order), bf16 sums with the rounding of `reduce_sources` (one rounding per
// pass of up to direct_max_srcs sources); the padding around every buffer must
// stay poisoned and an out-of-place input intact. Back-to-back calls (no host
// synchronisation between them) mix collectives, counts and block counts on the
// same views: cursors and flags persist from call to call.
#include "dev_buffers.cuh" // Thrust device buffers, fills and on-device comparisons
#include "gpu_check.hpp"

#include <weft/runtime/nvls_multimem.cuh>
#include <weft/runtime/vrank_window.cuh>

#include <cuda.h> // CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED (the enum value only)
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using weft::bfloat16_t;

enum class coll { one_shot, two_shot, ll, nvls_all_reduce, nvls_all_gather, nvls_reduce_scatter };
constexpr coll all_colls[] = {coll::one_shot,        coll::two_shot,        coll::ll,
                              coll::nvls_all_reduce, coll::nvls_all_gather, coll::nvls_reduce_scatter};

char const* name(coll c) {
  switch (c) {
    case coll::one_shot: return "direct one_shot all_reduce";
    case coll::two_shot: return "direct two_shot all_reduce";
    case coll::ll: return "direct ll all_reduce";
    case coll::nvls_all_reduce: return "nvls all_reduce";
    case coll::nvls_all_gather: return "nvls all_gather";
    case coll::nvls_reduce_scatter: return "nvls reduce_scatter";
  }
  return "?";
}

// Window layout shared by every rank. Small areas, so moderate counts already take
// several rounds (both parities) per block: 2048 floats per area, 256 floats per LL
// round, 2048 / n (rounded down to 16) floats per all-gather / reduce-scatter piece.
constexpr int max_blocks = 4; // the view's nblocks; a launch uses 1, 2 or 4 of them
constexpr std::size_t area_bytes = 8192;
constexpr std::size_t ll_bytes = 1024;
constexpr int threads = 256;           // per CTA
constexpr std::size_t guard = 16;      // poisoned elements before and after every buffer
constexpr std::uint64_t timeout_ns = 3'000'000'000ull; // a wait completes in microseconds; a broken call fails in 3 s, not 10
constexpr unsigned char poison = 0x7f;

static_assert(int(weft::status::success) == 0, "result words are zeroed to mean success");

// Every kernel instantiation the test launches. Loading them all up front matters:
// with lazy loading a kernel's first launch may wait for the device to go idle,
// while another rank's kernel spins waiting for it.
void load_kernels() {
  cudaFuncAttributes fa{};
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, weft::direct_all_reduce_kernel<weft::op::sum<float>>));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, weft::direct_all_reduce_kernel<weft::op::sum<bfloat16_t>>));
  WEFT_TEST_CUDA(
      cudaFuncGetAttributes(&fa, weft::nvls_all_reduce_kernel<weft::peer_multicast, weft::op::sum<float>>));
  WEFT_TEST_CUDA(
      cudaFuncGetAttributes(&fa, weft::nvls_all_reduce_kernel<weft::peer_multicast, weft::op::sum<bfloat16_t>>));
  WEFT_TEST_CUDA(cudaFuncGetAttributes(&fa, weft::nvls_all_gather_kernel<weft::peer_multicast, float>));
  WEFT_TEST_CUDA(
      cudaFuncGetAttributes(&fa, weft::nvls_reduce_scatter_kernel<weft::peer_multicast, weft::op::sum<float>>));
}

// n virtual ranks' symmetric memory on device 0 (weft::vrank_window), zeroed; one stream per rank.
struct world {
  int n = 0;
  weft::vrank_window win;
  std::vector<cudaStream_t> streams;

  world() = default;
  world(world const&) = delete;
  world& operator=(world const&) = delete;
  ~world() {
    cudaDeviceSynchronize();
    for (cudaStream_t st : streams)
      if (st) cudaStreamDestroy(st);
  }

  void init(int nranks) {
    n = nranks;
    weft::vrank_window::config c;
    c.nblocks = max_blocks;
    c.area_bytes = area_bytes;
    c.ll_bytes = ll_bytes;
    c.timeout_ns = timeout_ns;
    std::string why;
    weft::status const st = win.init(n, c, &why);
    INFO(why);
    REQUIRE(st == weft::status::success);
    streams.assign(std::size_t(n), nullptr);
    for (auto& st : streams) WEFT_TEST_CUDA(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
  }

  weft::sym_view view(int r) const { return win.view(r); }
  // The failed wait rank r recorded, as text ("" when none).
  std::string failure_of(int r) const { return win.failure_of(r); }
};

// One call of every rank: which collective, elements per rank (the all-gather's
// send count, the reduce-scatter's receive count), and CTAs per rank.
struct call_spec {
  coll c = coll::one_shot;
  std::size_t count = 0;
  int nblocks = 1;
};

std::size_t in_elems(call_spec const& s, int n) {
  return s.c == coll::nvls_reduce_scatter ? s.count * std::size_t(n) : s.count;
}
std::size_t out_elems(call_spec const& s, int n) {
  return s.c == coll::nvls_all_gather ? s.count * std::size_t(n) : s.count;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b * 0xC2B2AE3D27D4EB4Full + c * 0x165667B19E3779F9ull + 0x27d4eb2f;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Input element j of rank r in call `call`. fp32: a nonzero integer in [-8, 8], so
// every partial sum is exact. bf16: a multiple of 1/16 in [-4, 4] (exact in bf16);
// sums of a few of them need 9+ significant bits, so rounding to bf16 is exercised.
template <class T>
T input(unsigned seed, int r, std::size_t call, std::size_t j) {
  std::uint64_t const h = mix(std::uint64_t(r) + 1, std::uint64_t(seed) * 1000003ull + call, j);
  if constexpr (std::is_same_v<T, float>) {
    float const mag = float(1 + h % 8);
    return (h & 256u) ? -mag : mag;
  } else {
    return T(float(int(h % 129) - 64) / 16.0f);
  }
}

// The reduction `reduce_sources` computes: passes of up to direct_max_srcs
// sources in rank order, each accumulated in fp32 and rounded once to T; a
// later pass starts from the previous pass's (rounded) result.
template <class T, class X>
T ref_sum(int n, X const& x) {
  T partial{};
  int q = 0;
  bool first = true;
  while (q < n) {
    float a = first ? weft::to_acc(x(q++)) : weft::to_acc(partial);
    for (int k = 1; k < weft::direct_max_srcs && q < n; ++k) a += weft::to_acc(x(q++));
    partial = weft::from_acc<T>(a);
    first = false;
  }
  return partial;
}

template <class T>
bool same_bits(T const& a, T const& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
double as_double(T x) {
  return double(weft::to_acc(x));
}

// Launch rank r's kernel of one call on the rank's stream.
template <class T>
void launch(world const& w, int r, call_spec const& s, T const* in, T* out, weft::status* result) {
  using Op = weft::op::sum<T>;
  weft::sym_view const v = w.view(r);
  weft::peer_multicast const mc{v};
  cudaStream_t const st = w.streams[std::size_t(r)];
  unsigned const nb = unsigned(s.nblocks);
  switch (s.c) {
    case coll::one_shot:
      weft::direct_all_reduce_kernel<Op>
          <<<nb, threads, 0, st>>>(v, weft::direct_flavour::one_shot, Op{}, in, out, s.count, result);
      break;
    case coll::two_shot:
      weft::direct_all_reduce_kernel<Op>
          <<<nb, threads, 0, st>>>(v, weft::direct_flavour::two_shot, Op{}, in, out, s.count, result);
      break;
    case coll::ll:
      weft::direct_all_reduce_kernel<Op>
          <<<nb, threads, 0, st>>>(v, weft::direct_flavour::ll, Op{}, in, out, s.count, result);
      break;
    case coll::nvls_all_reduce:
      weft::nvls_all_reduce_kernel<weft::peer_multicast, Op><<<nb, threads, 0, st>>>(mc, Op{}, in, out, s.count, result);
      break;
    case coll::nvls_all_gather:
      if constexpr (std::is_same_v<T, float>)
        weft::nvls_all_gather_kernel<weft::peer_multicast, T><<<nb, threads, 0, st>>>(mc, in, out, s.count, result);
      break;
    case coll::nvls_reduce_scatter:
      if constexpr (std::is_same_v<T, float>)
        weft::nvls_reduce_scatter_kernel<weft::peer_multicast, Op>
            <<<nb, threads, 0, st>>>(mc, Op{}, in, out, s.count, result);
      break;
  }
}

std::string describe(call_spec const& s, int n, bool in_place, std::size_t i) {
  return std::string("call ") + std::to_string(i) + ": " + name(s.c) + " n=" + std::to_string(n) +
         " count=" + std::to_string(s.count) + " blocks=" + std::to_string(s.nblocks) +
         (in_place ? " in-place" : " out-of-place");
}

// The checks of run_calls' results: every rank's status, output, padding and
// (out of place) input. "" or the first error.
template <class T, class SendOff, class RecvOff>
std::string check_results(world const& w, std::vector<call_spec> const& calls, bool in_place, unsigned seed,
                          std::vector<weft_test::dvec<T>> const& mem, weft_test::dvec<weft::status> const& dresults,
                          std::vector<std::size_t> const& base, std::vector<std::size_t> const& body,
                          SendOff const& send_off, RecvOff const& recv_off) {
  int const n = w.n;
  std::size_t const N = std::size_t(n), ncalls = calls.size();
  cudaError_t const e = cudaDeviceSynchronize();
  if (e != cudaSuccess) return std::string("cudaDeviceSynchronize: ") + cudaGetErrorString(e);

  std::vector<weft::status> const results = weft_test::to_host(dresults);
  for (std::size_t i = 0; i < ncalls; ++i)
    for (int r = 0; r < n; ++r)
      if (results[i * N + std::size_t(r)] != weft::status::success)
        return describe(calls[i], n, in_place, i) + ": rank " + std::to_string(r) + " returned " +
               weft::to_string(results[i * N + std::size_t(r)]) + w.failure_of(r);

  T poisoned;
  std::memset(static_cast<void*>(&poisoned), poison, sizeof(T));
  for (int r = 0; r < n; ++r) {
    std::vector<T> const h = weft_test::to_host(mem[std::size_t(r)]);
    for (std::size_t i = 0; i < ncalls; ++i) {
      call_spec const& s = calls[i];
      std::string const where = describe(s, n, in_place, i) + ", rank " + std::to_string(r);
      // Padding before and after the call's buffers.
      for (std::size_t k = base[i]; k < base[i] + guard; ++k)
        if (!same_bits(h[k], poisoned)) return where + ": guard before the buffer overwritten at " + std::to_string(k - base[i]);
      for (std::size_t k = base[i] + guard + body[i]; k < base[i + 1]; ++k)
        if (!same_bits(h[k], poisoned))
          return where + ": guard past the end overwritten at end+" + std::to_string(k - (base[i] + guard + body[i]));
      // Output.
      T const* out = h.data() + recv_off(i, r);
      for (std::size_t j = 0, no = out_elems(s, n); j < no; ++j) {
        T want;
        if (s.c == coll::nvls_all_gather) want = input<T>(seed, int(j / s.count), i, j % s.count);
        else if (s.c == coll::nvls_reduce_scatter)
          want = ref_sum<T>(n, [&](int q) { return input<T>(seed, q, i, std::size_t(r) * s.count + j); });
        else want = ref_sum<T>(n, [&](int q) { return input<T>(seed, q, i, j); });
        if (!same_bits(out[j], want))
          return where + ": element " + std::to_string(j) + " is " + std::to_string(as_double(out[j])) +
                 ", expected " + std::to_string(as_double(want));
      }
      // An out-of-place input stays intact.
      if (!in_place)
        for (std::size_t j = 0, ni = in_elems(s, n); j < ni; ++j)
          if (!same_bits(h[send_off(i, r) + j], input<T>(seed, r, i, j)))
            return where + ": input changed at " + std::to_string(j);
    }
  }
  return {};
}

// Graph capture and replay of run_calls' launches: one graph restores every
// rank's image (inputs, poisoned outputs and guards) from a pristine copy and
// then runs every call of every rank, captured from the ranks' streams (forked
// from and joined into rank 0's). It is replayed `replays` times back to back
// on one stream, checked after every `check_every` replays and after the last.
// Status words are not reset by the graph: a failure in any replay stays.
template <class T, class Launch, class Check>
std::string replay_all(world& w, std::vector<weft_test::dvec<T>>& mem, std::size_t total, int replays, int check_every,
                       Launch const& launch_all, Check const& check_all) {
  int const n = w.n;
  std::vector<weft_test::dvec<T>> const pristine(mem.begin(), mem.end());
  struct graph_parts {
    std::vector<cudaEvent_t> ev;
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    ~graph_parts() {
      cudaDeviceSynchronize();
      if (exec) cudaGraphExecDestroy(exec);
      if (graph) cudaGraphDestroy(graph);
      for (cudaEvent_t e : ev)
        if (e) cudaEventDestroy(e);
    }
  } g;
  g.ev.assign(std::size_t(n) + 1, nullptr);
  for (auto& e : g.ev) WEFT_TEST_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  cudaStream_t const s0 = w.streams[0];
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  WEFT_TEST_CUDA(cudaStreamBeginCapture(s0, cudaStreamCaptureModeThreadLocal));
  std::string err;
  auto capture = [&]() -> std::string {
    if (cudaEventRecord(g.ev[0], s0) != cudaSuccess) return "fork: cudaEventRecord failed";
    for (int r = 1; r < n; ++r)
      if (cudaStreamWaitEvent(w.streams[std::size_t(r)], g.ev[0], 0) != cudaSuccess) return "fork: cudaStreamWaitEvent failed";
    for (int r = 0; r < n; ++r)
      if (cudaMemcpyAsync(weft_test::raw(mem[std::size_t(r)]), weft_test::raw(pristine[std::size_t(r)]), total * sizeof(T),
                          cudaMemcpyDeviceToDevice, w.streams[std::size_t(r)]) != cudaSuccess)
        return "restoring an image: cudaMemcpyAsync failed";
    if (std::string e = launch_all(); !e.empty()) return e;
    for (int r = 1; r < n; ++r)
      if (cudaEventRecord(g.ev[std::size_t(r)], w.streams[std::size_t(r)]) != cudaSuccess ||
          cudaStreamWaitEvent(s0, g.ev[std::size_t(r)], 0) != cudaSuccess)
        return "join: event record or wait failed";
    return {};
  };
  err = capture();
  cudaError_t const ec = cudaStreamEndCapture(s0, &g.graph); // ends the capture whatever happened
  if (!err.empty()) return "while capturing: " + err;
  if (ec != cudaSuccess) return std::string("cudaStreamEndCapture: ") + cudaGetErrorString(ec);
  WEFT_TEST_CUDA(cudaGraphInstantiate(&g.exec, g.graph, 0));
  for (int k = 1; k <= replays; ++k) {
    cudaError_t const e = cudaGraphLaunch(g.exec, s0);
    if (e != cudaSuccess) return "replay " + std::to_string(k) + ": cudaGraphLaunch: " + cudaGetErrorString(e);
    if (k == 1 || k % check_every == 0 || k == replays) // the first replay too: a broken graph fails fast
      if (std::string c = check_all(); !c.empty()) return "after replay " + std::to_string(k) + ": " + c;
  }
  return {};
}

// Run `calls` back to back on every rank of `w` (all launched, call by call and
// rank by rank, before one device synchronisation), then check every rank's
// status, output, padding and (out of place) input. Returns "" or the first error.
// With `replays` > 0 the launches are captured in a CUDA graph and replayed
// (replay_all) instead of launched once.
template <class T>
std::string run_calls(world& w, std::vector<call_spec> const& calls, bool in_place, unsigned seed, int replays = 0,
                      int check_every = 1) {
  int const n = w.n;
  std::size_t const N = std::size_t(n), ncalls = calls.size();
  for (call_spec const& s : calls) {
    if (s.nblocks < 1 || s.nblocks > max_blocks) return "bad test: nblocks outside 1..max_blocks";
    if (!std::is_same_v<T, float> && (s.c == coll::nvls_all_gather || s.c == coll::nvls_reduce_scatter))
      return "bad test: all-gather and reduce-scatter are instantiated for float only";
  }
  // Per call: [guard][buffer(s)][guard, padding to 64 elements], the same for every rank.
  std::vector<std::size_t> base(ncalls + 1, 0), body(ncalls, 0);
  for (std::size_t i = 0; i < ncalls; ++i) {
    std::size_t const ni = in_elems(calls[i], n), no = out_elems(calls[i], n);
    body[i] = in_place ? (ni > no ? ni : no) : ni + no;
    base[i + 1] = base[i] + (body[i] + 2 * guard + 63) / 64 * 64;
  }
  std::size_t const total = base[ncalls];
  auto send_off = [&](std::size_t i, int r) {
    std::size_t const inner = base[i] + guard;
    if (in_place && calls[i].c == coll::nvls_all_gather) return inner + std::size_t(r) * calls[i].count;
    return inner;
  };
  auto recv_off = [&](std::size_t i, int r) {
    std::size_t const inner = base[i] + guard;
    if (!in_place) return inner + in_elems(calls[i], n);
    if (calls[i].c == coll::nvls_reduce_scatter) return inner + std::size_t(r) * calls[i].count;
    return inner;
  };

  // Host images: poison everywhere, inputs in the send buffers.
  std::vector<std::vector<T>> image(N, std::vector<T>(total));
  for (int r = 0; r < n; ++r) {
    std::vector<T>& im = image[std::size_t(r)];
    std::memset(static_cast<void*>(im.data()), poison, total * sizeof(T));
    for (std::size_t i = 0; i < ncalls; ++i)
      for (std::size_t j = 0, ni = in_elems(calls[i], n); j < ni; ++j) im[send_off(i, r) + j] = input<T>(seed, r, i, j);
  }
  // Device images (Thrust; 64 elements more, so every pointer is valid when
  // total == 0) and one status word per call and rank.
  std::vector<weft_test::dvec<T>> mem;
  for (auto const& im : image) {
    mem.emplace_back(total + 64);
    thrust::copy(im.begin(), im.end(), mem.back().begin());
  }
  weft_test::dvec<weft::status> dresults(ncalls * N, weft::status::success);
  // Declared after the buffers, so destroyed first: no kernel may still run when they are freed.
  struct sync_on_exit {
    ~sync_on_exit() { cudaDeviceSynchronize(); }
  } sync_first;
  WEFT_TEST_CUDA(cudaDeviceSynchronize());

  // Launch everything; nothing waits until every call of every rank is queued.
  // Call-major order: a kernel never sits in a hardware queue ahead of a kernel
  // of an earlier call it depends on, even if several streams share a queue.
  auto launch_all = [&]() -> std::string {
    for (std::size_t i = 0; i < ncalls; ++i)
      for (int r = 0; r < n; ++r) {
        T* const m = weft_test::raw(mem[std::size_t(r)]);
        launch<T>(w, r, calls[i], m + send_off(i, r), m + recv_off(i, r), weft_test::raw(dresults) + i * N + std::size_t(r));
        cudaError_t const e = cudaGetLastError();
        if (e != cudaSuccess) return describe(calls[i], n, in_place, i) + ": launch failed: " + cudaGetErrorString(e);
      }
    return {};
  };
  auto check_all = [&] {
    return check_results<T>(w, calls, in_place, seed, mem, dresults, base, body, send_off, recv_off);
  };
  if (replays <= 0) {
    if (std::string e = launch_all(); !e.empty()) return e;
    return check_all();
  }
  return replay_all(w, mem, total, replays, check_every, launch_all, check_all);
}

constexpr std::size_t sweep_counts[] = {0, 1, 7, 4099, 20000}; // 20000: many rounds of one area

// Every rank count x count x in place / out of place of one collective, one call at a time.
void sweep(coll c, std::vector<int> const& ranks) {
  load_kernels();
  unsigned seed = 100 * unsigned(c);
  for (int n : ranks) {
    world w;
    w.init(n);
    int k = 0;
    for (std::size_t count : sweep_counts)
      for (bool ip : {false, true}) {
        int const nb = 1 << ((n + k++) % 3); // 1, 2, 4
        call_spec const s{c, count, nb};
        std::string const e = run_calls<float>(w, {s}, ip, ++seed);
        INFO(describe(s, n, ip, 0));
        REQUIRE(e == "");
      }
  }
}

} // namespace

TEST_CASE("gpu direct one-shot all-reduce, virtual ranks on one device", "[gpu][direct]") {
  sweep(coll::one_shot, {2, 3, 4, 8});
}
TEST_CASE("gpu direct two-shot all-reduce, virtual ranks on one device", "[gpu][direct]") {
  sweep(coll::two_shot, {2, 3, 4, 8});
}
TEST_CASE("gpu direct LL all-reduce, virtual ranks on one device", "[gpu][direct]") { sweep(coll::ll, {2, 3, 4, 8}); }
TEST_CASE("gpu nvls all-reduce (peer fallback), virtual ranks on one device", "[gpu][nvls]") {
  sweep(coll::nvls_all_reduce, {2, 3, 4, 8});
}
TEST_CASE("gpu nvls all-gather (peer fallback), virtual ranks on one device", "[gpu][nvls]") {
  sweep(coll::nvls_all_gather, {2, 3, 4, 8});
}
TEST_CASE("gpu nvls reduce-scatter (peer fallback), virtual ranks on one device", "[gpu][nvls]") {
  sweep(coll::nvls_reduce_scatter, {2, 3, 4, 8});
}

TEST_CASE("gpu direct/nvls: 50 back-to-back calls of each collective on the same views", "[gpu][direct][nvls]") {
  load_kernels();
  unsigned seed = 5000;
  for (int n : {3, 4}) {
    world w;
    w.init(n);
    for (coll c : all_colls)
      for (bool ip : {false, true}) {
        std::vector<call_spec> calls;
        for (int i = 0; i < 50; ++i)
          calls.push_back(call_spec{c, std::size_t(1 + i * 613 % 5000), 1 << (i % 3)});
        std::string const e = run_calls<float>(w, calls, ip, ++seed);
        INFO(name(c) << " n=" << n << (ip ? " in-place" : " out-of-place"));
        REQUIRE(e == "");
      }
  }
}

TEST_CASE("gpu direct/nvls: 50 back-to-back calls mixing every collective, count and block count",
          "[gpu][direct][nvls]") {
  load_kernels();
  unsigned seed = 7000;
  for (int n : {2, 3, 4, 8}) {
    world w;
    w.init(n);
    for (bool ip : {false, true}) {
      std::vector<call_spec> calls;
      for (int i = 0; i < 50; ++i)
        calls.push_back(call_spec{all_colls[i % 6], std::size_t(i * 389 % 6000), 1 << (i * 7 % 3)});
      std::string const e = run_calls<float>(w, calls, ip, ++seed);
      INFO("n=" << n << (ip ? " in-place" : " out-of-place"));
      REQUIRE(e == "");
    }
  }
}

// The per-block flags live in the window and advance on every call: a graph that
// replays the same calls must find them where the previous replay left them.
TEST_CASE("gpu direct/nvls: calls captured in a CUDA graph and replayed 100 times", "[gpu][direct][nvls][graph]") {
  load_kernels();
  unsigned seed = 8000;
  for (int n : {2, 4}) {
    world w;
    w.init(n);
    for (bool ip : {false, true}) {
      std::vector<call_spec> calls;
      for (int i = 0; i < 12; ++i)
        calls.push_back(call_spec{all_colls[i % 6], std::size_t(1 + i * 977 % 6000), 1 << (i % 3)});
      std::string const e = run_calls<float>(w, calls, ip, ++seed, 100, 10);
      INFO("n=" << n << (ip ? " in-place" : " out-of-place"));
      REQUIRE(e == "");
    }
    // Plain launches on the same views after the replays still agree with every rank.
    std::string const e = run_calls<float>(w, {call_spec{coll::one_shot, 4099, 2}, call_spec{coll::ll, 77, 1}}, false, ++seed);
    REQUIRE(e == "");
  }
}

TEST_CASE("gpu direct/nvls all-reduce, bf16 sum rounded once per reduction pass", "[gpu][direct][nvls]") {
  load_kernels();
  unsigned seed = 9000;
  for (int n : {2, 4, 8}) {
    world w;
    w.init(n);
    int k = 0;
    for (coll c : {coll::one_shot, coll::two_shot, coll::ll, coll::nvls_all_reduce})
      for (std::size_t count : {std::size_t(7), std::size_t(4099), std::size_t(20000)})
        for (bool ip : {false, true}) {
          call_spec const s{c, count, 1 << ((n + k++) % 3)};
          std::string const e = run_calls<bfloat16_t>(w, {s}, ip, ++seed);
          INFO(describe(s, n, ip, 0) << " bf16");
          REQUIRE(e == "");
        }
  }
}

// 10 ranks: more sources than one pass of reduce_sources folds (direct_max_srcs),
// so the partial result is folded into the next pass (and rounded in between for bf16).
TEST_CASE("gpu direct/nvls with 10 ranks: reductions take two passes", "[gpu][direct][nvls]") {
  load_kernels();
  int const n = 10;
  world w;
  w.init(n);
  unsigned seed = 11000;
  for (coll c : all_colls)
    for (std::size_t count : {std::size_t(7), std::size_t(4099)}) {
      call_spec const s{c, count, 2};
      std::string const e = run_calls<float>(w, {s}, false, ++seed);
      INFO(describe(s, n, false, 0) << " fp32");
      REQUIRE(e == "");
    }
  for (coll c : {coll::one_shot, coll::two_shot, coll::ll, coll::nvls_all_reduce}) {
    call_spec const s{c, 4099, 2};
    std::string const e = run_calls<bfloat16_t>(w, {s}, true, ++seed);
    INFO(describe(s, n, true, 0) << " bf16");
    REQUIRE(e == "");
  }
}

TEST_CASE("gpu direct/nvls: a grid wider than the window is refused and writes nothing", "[gpu][direct][nvls]") {
  load_kernels();
  int const n = 2;
  world w;
  w.init(n);
  std::size_t const count = 256;
  float poison;
  std::uint32_t const poison_bits = 0x7f7f7f7fu;
  std::memcpy(&poison, &poison_bits, sizeof poison);
  std::vector<weft_test::dvec<float>> in = weft_test::filled_buffers(std::size_t(n), count, 1.0f),
                                      out = weft_test::filled_buffers(std::size_t(n), count, poison);
  weft_test::dvec<weft::status> results(static_cast<std::size_t>(n), weft::status::success);
  for (coll c : {coll::one_shot, coll::nvls_all_reduce}) {
    INFO("coll " << int(c));
    thrust::fill(results.begin(), results.end(), weft::status::success);
    for (auto& v : out) thrust::fill(v.begin(), v.end(), poison);
    for (int r = 0; r < n; ++r)
      launch<float>(w, r, call_spec{c, count, max_blocks + 1}, weft_test::raw(in[std::size_t(r)]),
                    weft_test::raw(out[std::size_t(r)]), weft_test::raw(results) + r);
    WEFT_TEST_CUDA(cudaGetLastError());
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
    for (weft::status x : weft_test::to_host(results)) CHECK(x == weft::status::invalid_argument);
    for (auto const& v : out) CHECK(weft_test::count_not(v.begin(), count, poison) == 0); // nothing written
  }
}

TEST_CASE("gpu: report whether device 0 supports multicast (NVLS)", "[gpu][nvls]") {
  // The runtime names attribute 132 only as reserved; it is the driver's
  // CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED. Only reported, never a failure.
  int v = -1;
  cudaError_t const e =
      cudaDeviceGetAttribute(&v, static_cast<cudaDeviceAttr>(CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED), 0);
  if (e == cudaSuccess)
    std::printf("device 0: CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED = %d (%s)\n", v,
                v ? "NVLS multicast objects can be created" : "no multicast: NVLS runs the peer fallback only");
  else {
    std::printf("device 0: multicast support could not be queried (%s)\n", cudaGetErrorString(e));
    cudaGetLastError(); // clear the error so that later checks do not see it
  }
  SUCCEED();
}
