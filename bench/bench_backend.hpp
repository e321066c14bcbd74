#pragma once
// The interface between weft-bench's driver (sizes, tables, JSON) and a
// backend that runs collectives: the CPU team now; CUDA devices and MPI
// processes later. A backend owns the ranks, their buffers and the
// communicator; the driver asks it for one measurement at a time.
#include "bench_args.hpp"

#include <weft/algorithm/algorithm.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>
#include <weft/proto/protocol.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace weft_bench {

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
  //! Warm up, time, and (when asked) check one collective.
  virtual measurement run(coll_spec const& s, run_settings const& how) = 0;
};

} // namespace weft_bench
