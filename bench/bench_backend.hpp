#pragma once
// The interface between weft-bench's driver (sizes, tables, JSON) and a
// backend that runs collectives: the CPU team (ranks as threads) and MPI
// (one rank per process under mpirun) and CUDA
// (virtual ranks as partitions of one GPU, bench_cuda_backend.cu). A backend owns the
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
};

} // namespace weft_bench
