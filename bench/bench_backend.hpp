#pragma once
// The interface between weft-bench's driver (sizes, tables, JSON) and a
// backend that runs collectives: the CPU team (ranks as threads), MPI
// (one rank per process under mpirun) and CUDA (virtual ranks as partitions of
// one GPU, bench_cuda_backend.cu; with -g, weft::comm ranks on one or more GPUs
// of this process, bench_comm_backend.cu). A backend owns the
// ranks, their buffers and the communicator; the driver asks it for one
// measurement at a time. Where the ranks are processes, every process runs the
// driver with the same flags and makes the same calls in the same order; every
// process gets the whole measurement, and only rank 0's prints.
#include "bench_args.hpp"

#include <weft/algorithm/algorithm.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/proto/protocol.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace weft_bench {

namespace detail {
//! The element type copies (all-gather, broadcast, all-to-all) run on for an
//! element of `Size` bytes: every backend compiles them once per size, not per type.
template <std::size_t Size>
struct copy_type;
template <>
struct copy_type<1> {
  using type = std::uint8_t;
};
template <>
struct copy_type<2> {
  using type = weft::half_t; // weft has no 16-bit integer element type
};
template <>
struct copy_type<4> {
  using type = std::uint32_t;
};
template <>
struct copy_type<8> {
  using type = std::uint64_t;
};
} // namespace detail

//! One collective call, as every rank makes it.
struct coll_spec {
  coll kind = coll::all_reduce;
  weft::dtype type = weft::dtype::f32;
  weft::redop_desc op{}; // ignored by all-gather and broadcast
  int root = 0;          // broadcast and reduce
  std::size_t count = 0; // nccl-tests' "count": elements per rank (all-gather: sent; reduce-scatter: received)
  bool in_place = false;
  weft::algorithm algo = weft::algorithm::ring;
  weft::protocol proto = weft::protocol::simple;
  int nchannels = 1;
};

//! How to measure it.
struct run_settings {
  int warmup = 5;
  int iters = 20;
  bool blocking = false;     // barrier of all ranks after every call
  int check_runs = 1;        // 0: no check
  bool inject_error = false; // perturb one output element before each check
  bool inject_failure = false; // the last rank fails its first call (tests that failures are reported)
  std::uint64_t seed = 1;    // input pattern of the first checked run
  int graph_iters = 0;       // -G: launches of a CUDA graph of the timed iterations (backends with runs_graphs())
};

//! What a measurement found.
struct measurement {
  bool ok = false;
  std::string error;               // when !ok: which rank failed and why
  std::vector<double> rank_seconds; // each rank's mean seconds per timed iteration
  long long wrong = 0;             // mismatching elements over all ranks (checked runs)
  bool checked = false;
  bool measured = true; // false (with ok): this placement does not exist here (printed N/A)
};

//! The copy every table is compared with at its largest size ("busbw/memcpy").
struct copy_reference {
  std::size_t bytes = 0;
  double time_us = 0;
  double gbps = 0;  //!< bytes copied per second / 1e9
  std::string what; //!< "one thread", "cudaMemcpy device to device on device 0"
};

//! A way to run collectives on `nranks()` ranks.
class backend {
public:
  virtual ~backend() = default;
  //! "cpu", "cuda", ...
  virtual char const* name() const = 0;
  //! One line: what a rank is ("threads in one process", ...).
  virtual std::string description() const = 0;
  virtual int nranks() const = 0;
  //! nccl-tests' "#  Rank  0 Group  0 Pid ... on host device  0 [...] name" lines, without the newline.
  virtual std::vector<std::string> rank_lines() const = 0;
  //! Scratch (connection) memory of the communicator, bytes.
  virtual std::size_t scratch_bytes() const = 0;
  //! False when this build cannot run `s` (a type/op pair not compiled in, ...); `why` says so.
  virtual bool supports(coll_spec const& s, std::string& why) const = 0;
  //! "4 threads, weft::cpu_team": who the ranks are, for the side-by-side tables.
  virtual std::string ranks_about() const = 0;
  //! Warm up, time, and (when asked) check one collective. Every rank's time and
  //! wrong count are in the result, on every process.
  virtual measurement run(coll_spec const& s, run_settings const& how) = 0;
  //! Whether this process prints the results: false on every rank but 0 of a
  //! backend whose ranks are processes.
  virtual bool prints() const { return true; }
  //! Every rank meets (a bounded wait); the driver calls it after work that only
  //! the printing process does, so that the others do not run meanwhile.
  virtual weft::status sync() { return weft::status::success; }
  //! How a rank's time is taken, for the header's "# time:" line; `average` names
  //! what -a reports ("the maximum over ranks of each rank's"). Empty: the mean
  //! wall-clock time per iteration after a barrier (the host backends).
  virtual std::string time_note(char const* average) const {
    (void)average;
    return {};
  }
  //! Whether -G (run_settings::graph_iters) is honoured: the timed iterations run as CUDA graph launches.
  virtual bool runs_graphs() const { return false; }
  //! The copy of `bytes` to compare with where the ranks' data lives; false
  //! (the default, host backends): one host thread's memcpy, which the driver
  //! measures. The CUDA backends time cudaMemcpy device to device on their GPU.
  virtual bool reference_copy(std::size_t bytes, copy_reference& out) {
    (void)bytes;
    (void)out;
    return false;
  }
};

//! The start of every backend's run(): `m` gets a zero time for each of `b`'s
//! ranks. False when there is nothing to measure: `b` does not support `s`
//! (`m.error` says why), or `s` is an in-place all-to-all (weft's all-to-all is
//! out of place only: `m.ok`, not measured, printed N/A).
inline bool start_measurement(backend const& b, coll_spec const& s, measurement& m) {
  m.rank_seconds.assign(std::size_t(b.nranks()), 0.0);
  if (!b.supports(s, m.error)) return false;
  if (s.kind == coll::all_to_all && s.in_place) {
    m.ok = true;
    m.measured = false;
    return false;
  }
  return true;
}

//! "allreduce float count 2 out-of-place algo ring proto simple failed on rank 1: timeout (the failed wait)".
//! `who` < 0: no rank is named; `detail` (the communicator's last error) is left out when empty;
//! `injected` (--inject-failure) says so where the communicator saw no error.
inline std::string failure_message(coll_spec const& s, int who, weft::status st, std::string detail,
                                   bool injected = false) {
  if (injected && (detail.empty() || detail == "no error")) detail = "failure injected by --inject-failure";
  std::string msg = std::string(to_string(s.kind)) + " " + weft::to_string(s.type) + " count " +
                    std::to_string(s.count) + (s.in_place ? " in-place" : " out-of-place") + " algo " +
                    algo_name(s.algo) + " proto " + weft::to_string(s.proto) + " failed";
  if (who >= 0) {
    msg += " on rank " + std::to_string(who) + ": " + weft::to_string(st);
    if (!detail.empty() && detail != "no error") msg += " (" + detail + ")";
  }
  return msg;
}

} // namespace weft_bench
