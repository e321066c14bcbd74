// All-reduce algorithms side by side on the CPU team (ranks are threads of this
// process), fp32 sum, out of place: the ring, double binary tree, recursive
// doubling and Rabenseifner of `weft::cpu_comm` (coll_options::algo, Simple
// protocol, one channel), and the direct one-shot, two-shot and LL and NVLS
// (multicast emulated with peer reads and writes, `peer_multicast`) over a
// `weft::cpu_window`, NVLS also zero-copy on send and recv registered as
// symmetric buffers. The CPU counterpart of algos_bench_gpu.cu.
//
// Rows as nccl-tests prints them (time, algbw, busbw = algbw * 2(n-1)/n, #wrong
// of one checked call of every rank against a host reference, guards past each
// output included) and `/memcpy`: time over one thread's std::memcpy of the
// same bytes, measured in this run. Inputs are integers in [-8, 8], so every
// fp32 partial sum is exact whatever the reduction order.
//
// Timing: one cpu_team run per (ranks, algorithm, size): a checked call, two
// warm-up calls, one probe call that sets the calls per batch (~20 ms a
// batch), then 5 batches, each timed on rank 0 between two team barriers;
// time(us) is the median batch / calls per batch. `--quick` (CI smoke): 8 B and
// 64 KiB only, the checked call and one timed call per configuration.
//
// Exit status 1 when any #wrong is nonzero or a collective returns a status
// other than success (printed, with the communicator's or window's reason).
#include "bench_check.hpp"
#include "bench_util.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_nvls.hpp>
#include <weft/team/cpu_team.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using Op = weft::op::sum<float>;
using weft_bench::now_s;

constexpr std::size_t kSizes[] = {8, 4096, std::size_t(64) << 10, std::size_t(1) << 20, std::size_t(16) << 20};
constexpr std::size_t kQuickSizes[] = {8, std::size_t(64) << 10};
constexpr std::size_t kGuard = 16; // poisoned floats past every output
constexpr std::uint32_t kPoison = 0x7f7f7f7fu;
constexpr int kWarmup = 2, kBatches = 5, kMaxCalls = 1000;
constexpr double kBatchS = 0.02; // target seconds of one timed batch

enum class algo { ring, tree, recursive_doubling, rabenseifner, one_shot, two_shot, ll, nvls, nvls_zc };
struct algo_info {
  algo a;
  char const* name;
  char const* proto;
};
constexpr algo_info kAlgos[] = {
    {algo::ring, "ring", "simple"},
    {algo::tree, "tree", "simple"},
    {algo::recursive_doubling, "rec_doubling", "simple"},
    {algo::rabenseifner, "rabenseifner", "simple"},
    {algo::one_shot, "direct_1shot", "simple"},
    {algo::two_shot, "direct_2shot", "simple"},
    {algo::ll, "direct_ll", "ll"},
    {algo::nvls, "nvls(emul)", "simple"},
    {algo::nvls_zc, "nvls_zc(emul)", "simple"},
};

// Window of every rank: one block (blocks run one after another in a rank's
// thread, so more buys nothing on the CPU), 1 MiB areas, 64 KiB LL slots.
weft::window_config window_cfg() {
  weft::window_config c;
  c.nblocks = 1;
  c.area_bytes = std::size_t(1) << 20;
  c.ll_bytes = std::size_t(64) << 10;
  return c;
}

// Input element j of rank r: an integer in [-8, 8] (weft-bench's element hash), so every fp32 partial sum is exact.
float input(int r, std::size_t j) { return float(int(weft_bench::detail::element_hash(1, r, j) % 17u) - 8); }

// n ranks' buffers, the reference, and the communicator and window they share.
struct world {
  int n = 0;
  std::size_t max_count = 0;
  std::vector<std::vector<float>> in, out; // out: max_count + kGuard
  std::vector<float> ref;
  std::unique_ptr<weft::cpu_comm> comm;
  std::unique_ptr<weft::cpu_window> win;
  // nvls_zc: a window whose ranks registered their `in` and `out` as symmetric
  // buffers (register_symmetric), so its NVLS calls run zero-copy. Made by the
  // first nvls_zc run (registration is collective: inside a team run).
  std::unique_ptr<weft::cpu_window> win_zc;
  bool zc_registered = false;

  world(int nranks, std::size_t count) : n(nranks), max_count(count), ref(count, 0.0f) {
    for (int r = 0; r < n; ++r) {
      in.emplace_back(count);
      out.emplace_back(count + kGuard);
      for (std::size_t j = 0; j < count; ++j) {
        in.back()[j] = input(r, j);
        ref[j] += in.back()[j];
      }
    }
    renew();
  }
  // A communicator or window that a failed call broke is replaced.
  void renew() {
    if (!comm || !comm->healthy()) comm = std::make_unique<weft::cpu_comm>(n);
    if (!win || !win->healthy()) win = std::make_unique<weft::cpu_window>(n, window_cfg());
    if (!win_zc || !win_zc->healthy()) {
      win_zc = std::make_unique<weft::cpu_window>(n, window_cfg());
      zc_registered = false;
    }
  }
  std::string why(algo a, int rank) const {
    return a == algo::nvls_zc ? win_zc->last_error(rank) : a >= algo::one_shot ? win->last_error(rank) : comm->last_error(rank);
  }
  // Collective (every rank of a team run): register this rank's buffers with win_zc.
  weft::status register_zc(weft::team_rank& tr) {
    std::size_t const r = std::size_t(tr.rank());
    WEFT_TRY(win_zc->register_symmetric(tr, in[r].data(), in[r].size() * sizeof(float)));
    return win_zc->register_symmetric(tr, out[r].data(), out[r].size() * sizeof(float));
  }
};

weft::status call(world& w, algo a, weft::team_rank& tr, std::size_t count) {
  std::size_t const r = std::size_t(tr.rank());
  float const* send = w.in[r].data();
  float* recv = w.out[r].data();
  if (a == algo::nvls) return weft::nvls_all_reduce(*w.win, tr, send, recv, count, Op{});
  if (a == algo::nvls_zc) return weft::nvls_all_reduce(*w.win_zc, tr, send, recv, count, Op{});
  if (a >= algo::one_shot) {
    weft::direct_options o;
    o.flavour = a == algo::two_shot ? weft::direct_flavour::two_shot
                : a == algo::ll     ? weft::direct_flavour::ll
                                    : weft::direct_flavour::one_shot;
    return weft::direct_all_reduce(*w.win, tr, send, recv, count, Op{}, o);
  }
  weft::coll_options o;
  o.algo = a == algo::tree                 ? weft::algorithm::tree
           : a == algo::recursive_doubling ? weft::algorithm::recursive_doubling
           : a == algo::rabenseifner       ? weft::algorithm::rabenseifner
                                           : weft::algorithm::ring;
  return weft::all_reduce(*w.comm, tr, send, recv, count, Op{}, o);
}

// Elements of `out` that differ from the reference, plus overwritten guards.
long count_wrong(world const& w, std::vector<float> const& out, std::size_t count) {
  long wrong = 0;
  for (std::size_t j = 0; j < count; ++j) wrong += out[j] != w.ref[j];
  for (std::size_t j = count; j < count + kGuard; ++j) {
    std::uint32_t bits;
    std::memcpy(&bits, &out[j], sizeof bits);
    wrong += bits != kPoison;
  }
  return wrong;
}

struct row {
  int n;
  char const* algo;
  std::size_t bytes;
  double us;
  bool good;
};

struct result {
  bool ok = false; // every rank's calls returned success
  long wrong = 0;
  double us = 0;
  int calls = 0; // per timed batch
  bool staged = false; // nvls_zc: the call did not qualify for zero-copy and was staged
};

// One configuration: the checked call, warm-up, probe, timed batches.
result measure(world& w, algo a, std::size_t bytes, bool quick) {
  std::size_t const count = bytes / sizeof(float);
  std::vector<long> wrong(std::size_t(w.n), 0);
  std::vector<double> batch; // rank 0's
  int calls = 1;             // per batch: written by rank 0, published by a barrier
  std::vector<weft::status> st;
  std::vector<int> staged(std::size_t(w.n), 0); // nvls_zc: calls that did not run zero-copy
  bool const register_zc = a == algo::nvls_zc && !w.zc_registered;
  weft::cpu_team team(w.n);
  weft::status const s = team.run(
      [&](weft::team_rank& tr) -> weft::status {
        std::size_t const r = std::size_t(tr.rank());
        if (register_zc) WEFT_TRY(w.register_zc(tr));
        std::memset(w.out[r].data(), 0x7f, (count + kGuard) * sizeof(float));
        WEFT_TRY(tr.barrier());
        WEFT_TRY(call(w, a, tr, count));
        if (a == algo::nvls_zc) staged[r] = !w.win_zc->last_nvls_zero_copy(tr.rank());
        wrong[r] = count_wrong(w, w.out[r], count);
        // Calls of one batch timed on rank 0 between two barriers, in seconds per call.
        auto timed = [&](int k, double& t) -> weft::status {
          WEFT_TRY(tr.barrier());
          double const t0 = now_s();
          for (int i = 0; i < k; ++i) WEFT_TRY(call(w, a, tr, count));
          WEFT_TRY(tr.barrier());
          t = (now_s() - t0) / k;
          return weft::status::success;
        };
        double t = 0;
        if (!quick) {
          for (int i = 0; i < kWarmup; ++i) WEFT_TRY(call(w, a, tr, count));
          WEFT_TRY(timed(1, t));
          if (r == 0) calls = std::clamp(int(kBatchS / std::max(t, 1e-7)), 1, kMaxCalls);
          WEFT_TRY(tr.barrier());
        }
        int const k = calls;
        for (int b = 0; b < (quick ? 1 : kBatches); ++b) {
          WEFT_TRY(timed(k, t));
          if (r == 0) batch.push_back(t);
        }
        return weft::status::success;
      },
      &st);
  result res;
  res.ok = s == weft::status::success;
  if (register_zc && res.ok) w.zc_registered = true;
  res.staged = staged[0] != 0;
  if (!res.ok) {
    for (int r = 0; r < w.n; ++r)
      if (st[std::size_t(r)] != weft::status::success)
        std::printf("# FAILED: %d ranks %s %zu B: rank %d returned %s: %s\n", w.n, kAlgos[int(a)].name, bytes, r,
                    weft::to_string(st[std::size_t(r)]), w.why(a, r).c_str());
    w.renew();
    return res;
  }
  for (long x : wrong) res.wrong += x;
  std::sort(batch.begin(), batch.end());
  res.us = batch[batch.size() / 2] * 1e6;
  res.calls = calls;
  return res;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      std::size_t const c = line.find(':');
      if (c != std::string::npos) return line.substr(line.find_first_not_of(" \t", c + 1));
    }
  return "unknown CPU model";
}

} // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::vector<int> ranks = {2, 4};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--ranks") && i + 1 < argc) {
      ranks.clear();
      for (char* p = argv[++i]; *p;) {
        long const v = std::strtol(p, &p, 10);
        if (v < 1 || v > 64) break;
        ranks.push_back(int(v));
        if (*p == ',') ++p;
        else break;
      }
      if (ranks.empty()) {
        std::fprintf(stderr, "--ranks: a comma list of rank counts 1..64, e.g. 2,4,8\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--ranks 2,4,8]\n", argv[0]);
      return 2;
    }
  }
  double const t_start = now_s();
  std::vector<std::size_t> sizes = quick ? std::vector<std::size_t>(std::begin(kQuickSizes), std::end(kQuickSizes))
                                         : std::vector<std::size_t>(std::begin(kSizes), std::end(kSizes));
  std::size_t const max_bytes = sizes.back();

  // Baseline: one thread's std::memcpy of each size, median seconds per call. Both
  // buffers page-aligned: glibc's `rep movsb` copy runs up to 40x slower on some
  // AMD cores when destination - source is a few bytes past a multiple of 4 KiB
  // (what two small heap blocks next to each other give).
  std::vector<double> memcpy_s;
  {
    std::size_t const page_bytes = (max_bytes + 4095) / 4096 * 4096;
    using page_buffer = std::unique_ptr<unsigned char, decltype(&std::free)>;
    auto page_alloc = [&] {
      return page_buffer(static_cast<unsigned char*>(std::aligned_alloc(4096, page_bytes)), &std::free);
    };
    page_buffer const x = page_alloc(), y = page_alloc();
    if (!x || !y) {
      std::fprintf(stderr, "out of memory for the memcpy baseline\n");
      return 1;
    }
    std::memset(x.get(), 1, page_bytes);
    std::memset(y.get(), 0, page_bytes);
    for (std::size_t bytes : sizes) {
      auto mc = [&] { std::memcpy(y.get(), x.get(), bytes); };
      memcpy_s.push_back(weft_bench::median_seconds(mc, weft_bench::iterations_for(mc, 0.005), 5));
    }
  }

  std::printf("# all-reduce algorithms, fp32 sum, out of place, on the CPU team: ranks are threads of one process "
              "(spinning, then yielding, while they wait)\n");
  std::printf("# machine: %s, hardware_concurrency %u%s\n", cpu_model().c_str(), std::thread::hardware_concurrency(),
              quick ? "  (--quick: smoke run, one timed call per row; the times mean little)" : "");
  std::printf("# ring, tree, rec_doubling, rabenseifner: weft::all_reduce over weft::cpu_comm (coll_options::algo, "
              "1 channel); direct_*, nvls(emul): weft::cpu_window of 1 block, 1 MiB areas, 64 KiB LL slots "
              "(NVLS multicast emulated by peer reads and writes); nvls_zc(emul): the same NVLS zero-copy, on "
              "send and recv registered as symmetric buffers (cpu_window::register_symmetric: nothing staged "
              "or copied)\n");
  if (quick)
    std::printf("# time(us): one call after the checked call, timed on rank 0 between two team barriers\n");
  else
    std::printf("# time(us): median of %d batches (after a checked call and %d warm-up calls), each timed on rank 0 "
                "between two team barriers / calls per batch (calls: set by a probe call for ~%.0f ms a batch)\n",
                kBatches, kWarmup, kBatchS * 1e3);
  std::printf("# busbw = algbw * 2(n-1)/n;  #wrong: elements of every rank's output differing from the host "
              "reference in one checked call, plus overwritten guard elements\n");
  std::printf("# /memcpy = time / one thread's std::memcpy of the same bytes, this run:");
  for (std::size_t i = 0; i < sizes.size(); ++i) std::printf(" %zu B %.3f us;", sizes[i], memcpy_s[i] * 1e6);
  std::printf("\n");
  std::printf("# %5s %13s %6s %10s %11s %9s %9s %7s %9s %6s\n", "ranks", "algo", "proto", "size(B)", "time(us)",
              "algbw", "busbw", "#wrong", "/memcpy", "calls");
  std::fflush(stdout);

  std::vector<row> rows;
  int failed = 0;
  long wrong_rows = 0;
  for (int n : ranks) {
    world w(n, max_bytes / sizeof(float));
    for (algo_info const& ai : kAlgos)
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        std::size_t const bytes = sizes[i];
        result const res = measure(w, ai.a, bytes, quick);
        if (!res.ok) {
          ++failed;
          continue;
        }
        double const algbw = double(bytes) / (res.us * 1e-6) / 1e9;
        double const busbw = algbw * 2.0 * (n - 1) / n;
        std::printf("  %5d %13s %6s %10zu %11.2f %9.3f %9.3f %7ld %9.2f %6d%s\n", n, ai.name, ai.proto, bytes, res.us,
                    algbw, busbw, res.wrong, res.us / (memcpy_s[i] * 1e6), res.calls,
                    res.staged ? "  (staged: not whole 16-byte vectors)" : "");
        std::fflush(stdout);
        wrong_rows += res.wrong != 0;
        rows.push_back(row{n, ai.name, bytes, res.us, res.wrong == 0});
      }
  }

  std::printf("# summary: fastest algorithm per (ranks, size) by time(us), rows with #wrong 0\n");
  for (int n : ranks)
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      row const* best = nullptr;
      row const* second = nullptr;
      for (row const& x : rows)
        if (x.n == n && x.bytes == sizes[i] && x.good) {
          if (!best || x.us < best->us) {
            second = best;
            best = &x;
          } else if (!second || x.us < second->us) {
            second = &x;
          }
        }
      std::printf("#   %d ranks, %9zu B: ", n, sizes[i]);
      if (!best) {
        std::printf("none measured\n");
        continue;
      }
      double const busbw = double(sizes[i]) / (best->us * 1e-6) / 1e9 * 2.0 * (n - 1) / n;
      std::printf("%-13s %10.2f us (busbw %.3f GB/s, %.2fx memcpy)", best->algo, best->us, busbw,
                  best->us / (memcpy_s[i] * 1e6));
      if (second) std::printf("; next %s %.2fx its time", second->algo, second->us / best->us);
      std::printf("\n");
    }
  std::printf("# total %.1f s\n", now_s() - t_start);
  if (wrong_rows || failed) {
    std::printf("# FAILED: %ld rows with wrong elements, %d configurations whose collective failed\n", wrong_rows,
                failed);
    return 1;
  }
  return 0;
}
