// weft-bench's MPI backend (see bench_mpi_backend.hpp): one rank per process
// under mpirun, the collectives over weft::shm_comm, setup and results over
// weft::mpi_bootstrap. Its own translation unit, so that it compiles in
// parallel with the driver (weft_bench.cpp); it calls the collectives through
// bench_colls.hpp's interface, instantiated once (bench_colls.cpp) for both
// backends, so it compiles no collective of its own.
#include "bench_mpi_backend.hpp"

#if WEFT_BENCH_HAVE_CUDA
#  include "bench_cuda_backend.hpp"
#endif

#include "bench_colls.hpp"
#include "bench_rank.hpp"
#include "bench_report.hpp"

#include <weft/bootstrap/mpi.hpp>
#include <weft/core/status.hpp>
#include <weft/team/proc_rank.hpp>
#include <weft/team/shm_comm.hpp>

#if !WEFT_HAS_MPI
#  error "bench_mpi_backend.cpp needs mpi.h: link it with MPI::MPI_CXX"
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <unistd.h>

namespace weft_bench {
namespace {

//! What every rank tells every other after a step: its status, and when it
//! failed, why (its communicator's last error).
struct rank_report {
  double seconds = 0;     // mean seconds per timed iteration
  std::int64_t wrong = 0; // mismatching elements of this rank
  std::int32_t st = std::int32_t(weft::status::success);
  std::int32_t pid = 0;
  char text[232] = {};
};
static_assert(sizeof(rank_report) == 256, "a fixed-size record per rank");

void set_text(rank_report& r, std::string const& s) {
  std::size_t const k = std::min(s.size(), sizeof r.text - 1);
  std::memcpy(r.text, s.data(), k);
  r.text[k] = '\0';
}

std::string text_of(rank_report const& r) { return std::string(r.text, strnlen(r.text, sizeof r.text)); }

class mpi_backend final : public backend {
public:
  mpi_backend(bool own_mpi, std::unique_ptr<weft::mpi_bootstrap> boot, std::unique_ptr<weft::shm_comm> comm,
              std::unique_ptr<rank_buffers> buf, std::size_t max_bytes, std::vector<int> pids)
      : own_mpi_(own_mpi), boot_(std::move(boot)), comm_(std::move(comm)), buf_(std::move(buf)),
        max_bytes_(max_bytes), pids_(std::move(pids)), me_(boot_->rank()), n_(boot_->size()), model_(cpu_model()),
        host_(host_name()), max_channels_(comm_->max_channels()) {}

  ~mpi_backend() override {
    comm_.reset(); // stops the watchdog before the processes go
    bool const clean = !mpi_broken_;
    boot_.reset();
    if (!own_mpi_) return;
    if (clean) {
      MPI_Finalize();
      return;
    }
    // A bootstrap wait timed out: its MPI request is still pending, so MPI_Finalize
    // might never return. End the job instead, rank 0 last-but-promptly (its report
    // is printed by now), the others after a moment so that rank 0 gets to print.
    std::fflush(stdout);
    std::fflush(stderr);
    if (me_ != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }

  char const* name() const override { return "mpi"; }
  std::string description() const override {
    return std::to_string(n_) + " ranks as processes under mpirun, one each (weft::shm_comm over POSIX shared "
                                "memory), host memory";
  }
  int nranks() const override { return n_; }
  std::vector<std::string> rank_lines() const override {
    std::vector<std::string> v;
    char line[512];
    for (int r = 0; r < n_; ++r) {
      std::snprintf(line, sizeof line, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [cpu] host process, %s", r,
                    0, pids_[std::size_t(r)], host_.c_str(), r, model_.c_str());
      v.push_back(line);
    }
    return v;
  }
  std::size_t scratch_bytes() const override { return comm_->scratch_bytes(); }
  std::string ranks_about() const override { return std::to_string(n_) + " processes under mpirun, weft::shm_comm"; }

  bool supports(coll_spec const& s, std::string& why) const override {
    return host_supports(s, max_channels_, all_to_all_available, why);
  }

  bool prints() const override { return me_ == 0; }

  weft::status sync() override {
    if (mpi_broken_) return weft::status::aborted;
    weft::status const s = boot_->barrier();
    if (s != weft::status::success) mpi_broken_ = true;
    return s;
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    measurement m;
    if (!start_measurement(*this, s, m)) return m; // the same answer on every rank
    if (mpi_broken_) {
      m.error = "the ranks cannot meet any more: " + boot_->last_error();
      return m;
    }

    weft::proc_rank tr = comm_->rank_handle();
    bound_rank<weft::shm_comm, weft::proc_rank> b(*comm_, tr);
    rank_result res;
    weft::status st = weft::status::aborted; // a communicator broken earlier: nothing runs
    std::string why;
    if (comm_->healthy()) {
      // The loop's barriers are collectives too: they spin as the CPU team's barrier
      // does (so the ranks leave them close together), carry the communicator's bound,
      // and end at once on every rank when one rank fails.
      st = measure_collective(b, b, s, how, me_, n_, *buf_, max_bytes_, [&] { return collective_barrier(b, b); },
                              res);
    } else {
      why = "the communicator is broken by an earlier failure";
    }
    if (st != weft::status::success) {
      // Peers still waiting on this rank (in a collective or a barrier) stop at once: a
      // failed collective has raised the shared abort word already, a failure outside
      // one has not. So every rank reaches the all-gather below, its one MPI call here.
      comm_->abort();
      if (why.empty()) why = comm_->last_error();
    }

    rank_report mine;
    mine.seconds = res.seconds;
    mine.wrong = res.wrong;
    mine.st = std::int32_t(st);
    mine.pid = std::int32_t(::getpid());
    if (st != weft::status::success) set_text(mine, why);
    std::vector<rank_report> all(static_cast<std::size_t>(n_));
    if (weft::status const g = boot_->all_gather(&mine, sizeof mine, all.data()); g != weft::status::success) {
      mpi_broken_ = true;
      m.error = "rank " + std::to_string(me_) + " could not gather the ranks' results (" + boot_->last_error() + ")";
      if (st != weft::status::success) m.error += "; " + failure_message(s, me_, st, why, how.inject_failure);
      // Rank 0 cannot learn this rank's view: say it here.
      if (me_ != 0) std::fprintf(stderr, "weft-bench: %s\n", m.error.c_str());
      return m;
    }
    std::vector<weft::status> per_rank;
    for (int r = 0; r < n_; ++r) {
      rank_report const& rr = all[std::size_t(r)];
      m.rank_seconds[std::size_t(r)] = rr.seconds;
      m.wrong += rr.wrong;
      per_rank.push_back(weft::status(rr.st));
    }
    if (int const who = first_failed_rank(per_rank); who >= 0) {
      m.error = failure_message(s, who, per_rank[std::size_t(who)], text_of(all[std::size_t(who)]), how.inject_failure);
      return m;
    }
    m.ok = true;
    m.checked = how.check_runs > 0;
    return m;
  }

private:
  bool own_mpi_;
  std::unique_ptr<weft::mpi_bootstrap> boot_;
  std::unique_ptr<weft::shm_comm> comm_;
  std::unique_ptr<rank_buffers> buf_;
  std::size_t max_bytes_;
  std::vector<int> pids_;
  int me_, n_;
  std::string model_, host_;
  int max_channels_;
  bool mpi_broken_ = false; // a bootstrap wait failed: MPI calls may be pending
};

} // namespace

//! MPI_Init unless the program did (`own`: this code finalises it). False with `why`.
static bool start_mpi(bool& own, std::string& why) {
  int init = 0;
  MPI_Initialized(&init);
  own = init == 0;
  if (own && MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    why = "MPI_Init failed";
    return false;
  }
  return true;
}

std::unique_ptr<backend> make_mpi_backend(options const& o, std::string& why) {
  bool own = false;
  if (!start_mpi(own, why)) return nullptr;
  // MPI_Abort where a bootstrap wait timed out (its request is still pending).
  auto give_up = [&](std::string const& w, bool pending) -> std::unique_ptr<backend> {
    why = w;
    if (own && pending) {
      int me = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &me);
      if (me == 0) std::fprintf(stderr, "weft-bench: %s\n", w.c_str());
      std::fflush(stderr);
      if (me != 0) std::this_thread::sleep_for(std::chrono::seconds(2));
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (own) MPI_Finalize();
    return nullptr;
  };
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (n != o.nranks) // the launcher's variables and MPI disagree (another launcher's variables?)
    return give_up("MPI_COMM_WORLD has " + std::to_string(n) + " processes, the launcher said " +
                       std::to_string(o.nranks),
                   false);

  // Collectives (and the barriers of the timed loop, which are collectives) wait
  // --timeout-ms; the bootstrap (setup, the meeting after the memcpy reference, the
  // results) waits longer, so that a rank stuck in a collective fails there first.
  std::uint64_t const coll_ns = std::uint64_t(o.timeout_ms) * 1'000'000ull;
  std::uint64_t const boot_ns = std::max<std::uint64_t>(60'000'000'000ull, 2 * coll_ns);
  auto boot = std::make_unique<weft::mpi_bootstrap>(MPI_COMM_WORLD, boot_ns);
  if (boot->size() != n) return give_up(boot->last_error(), false);

  // Step 1: every rank's buffers (and pid, for the "Using devices" lines).
  std::unique_ptr<rank_buffers> buf;
  rank_report mine;
  mine.pid = std::int32_t(::getpid());
  try {
    buf = std::make_unique<rank_buffers>(o.max_bytes);
  } catch (std::bad_alloc const&) {
    mine.st = std::int32_t(weft::status::out_of_memory);
    set_text(mine, "cannot allocate 2 x " + std::to_string(o.max_bytes) + " bytes (reduce -e)");
  }
  std::vector<rank_report> all(static_cast<std::size_t>(n));
  if (boot->all_gather(&mine, sizeof mine, all.data()) != weft::status::success)
    return give_up("setup: " + boot->last_error(), true);
  std::vector<int> pids;
  for (int r = 0; r < n; ++r) {
    if (all[std::size_t(r)].st != std::int32_t(weft::status::success))
      return give_up("rank " + std::to_string(r) + ": " + text_of(all[std::size_t(r)]), false);
    pids.push_back(all[std::size_t(r)].pid);
  }

  // Step 2: the communicator. Its failures can differ by rank; every rank learns them all.
  weft::shm_comm_config cfg;
  cfg.conn = comm_config(o, cfg.conn); // from the shared-memory communicator's defaults
  cfg.timeout_ns = coll_ns;
  std::unique_ptr<weft::shm_comm> comm;
  std::string cwhy;
  weft::status const cs = weft::shm_comm::create(*boot, cfg, comm, &cwhy);
  mine.st = std::int32_t(cs);
  set_text(mine, cs == weft::status::success ? std::string() : cwhy);
  if (boot->all_gather(&mine, sizeof mine, all.data()) != weft::status::success)
    return give_up("setup: " + (cwhy.empty() ? boot->last_error() : cwhy), true);
  for (int r = 0; r < n; ++r)
    if (all[std::size_t(r)].st != std::int32_t(weft::status::success)) {
      comm.reset();
      return give_up("rank " + std::to_string(r) + ": " + weft::to_string(weft::status(all[std::size_t(r)].st)) +
                         ": " + text_of(all[std::size_t(r)]),
                     false);
    }
  return std::make_unique<mpi_backend>(own, std::move(boot), std::move(comm), std::move(buf), o.max_bytes,
                                       std::move(pids));
}

#if WEFT_BENCH_HAVE_CUDA
namespace {

//! The MPI bootstrap as a communicator's bootstrap, owning it and MPI: MPI is
//! finalised when it goes, or the job aborted where a wait failed (its request
//! may still be pending, so MPI_Finalize might never return).
class owned_mpi_bootstrap final : public weft::comm_bootstrap {
public:
  owned_mpi_bootstrap(bool own, std::unique_ptr<weft::mpi_bootstrap> b) : own_(own), b_(std::move(b)) {}
  ~owned_mpi_bootstrap() override {
    int const me = b_->rank();
    b_.reset();
    if (!own_) return;
    if (!broken_) {
      MPI_Finalize();
      return;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    if (me != 0) std::this_thread::sleep_for(std::chrono::seconds(2)); // rank 0 prints first
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  int rank() const override { return b_->rank(); }
  int size() const override { return b_->size(); }
  weft::status all_gather(void const* mine, std::size_t bytes, void* all) override {
    return note(b_->all_gather(mine, bytes, all));
  }
  weft::status barrier() override { return note(b_->barrier()); }

private:
  weft::status note(weft::status s) {
    if (s != weft::status::success) broken_ = true;
    return s;
  }
  bool own_;
  std::unique_ptr<weft::mpi_bootstrap> b_;
  bool broken_ = false;
};

} // namespace

std::unique_ptr<backend> make_mpi_cuda_backend(options const& o, std::string& why) {
  bool own = false;
  if (!start_mpi(own, why)) return nullptr;
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  if (n != o.nranks) {
    why = "MPI_COMM_WORLD has " + std::to_string(n) + " processes, the launcher said " + std::to_string(o.nranks);
    if (own) MPI_Finalize();
    return nullptr;
  }
  // The bootstrap's waits (setup, the barrier before timing, the results) are
  // longer than the collectives' bound, so that a rank stuck in a collective fails there first.
  std::uint64_t const coll_ns = std::uint64_t(o.timeout_ms) * 1'000'000ull;
  std::uint64_t const boot_ns = std::max<std::uint64_t>(60'000'000'000ull, 2 * coll_ns);
  auto mb = std::make_unique<weft::mpi_bootstrap>(MPI_COMM_WORLD, boot_ns);
  if (mb->size() != n) {
    why = mb->last_error();
    if (own) MPI_Finalize();
    return nullptr;
  }
  // On failure the bootstrap (and with it MPI) goes with the half-made backend.
  return make_comm_process_backend(o, std::make_unique<owned_mpi_bootstrap>(own, std::move(mb)), why);
}
#endif

} // namespace weft_bench
