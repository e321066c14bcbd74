#pragma once
//! \file
//! The CPU team: N ranks as `std::thread`s in one process.
//!
//! `cpu_team::run(f)` starts one thread per rank and calls `f(team_rank&)` on
//! each; ranks see each other's memory (it is one process), exchange pointers
//! and bytes with `all_gather`, and meet at a bounded `barrier()`. This is the
//! runner that executes weft's algorithms on the CPU (the "CPU interpretation"
//! of DESIGN.md) and the in-process bootstrap.
//!
//! Failure handling: a rank whose function returns a failure other than timeout,
//! or throws, raises the team's abort flag, so every other rank's bounded waits
//! (barriers, and prims that pass `abort_flag()` in their `wait_bound`) return
//! `status::aborted` promptly instead of timing out later.

#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>
#include <weft/team/barrier.hpp>
#include <cuda/atomic>
#include <cuda/std/cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

namespace weft {

//! Options of a CPU team.
struct team_options {
  cuda::std::uint64_t timeout_ns = 10'000'000'000ull; //!< bound of every team wait (10 s)
};

class cpu_team;

//! One rank's view of a running team: passed to the function `cpu_team::run` calls.
class team_rank {
public:
  int rank() const noexcept { return rank_; }
  int size() const noexcept;
  //! The execution group a rank runs algorithm code with (one host thread).
  host_group group() const noexcept { return {}; }
  //! Bound for waits: the team's timeout plus its abort flag.
  wait_bound bound() const noexcept;
  //! The team's abort word (nonzero once any rank failed or `abort()` was called).
  cuda::std::uint32_t const* abort_flag() const noexcept;
  //! Raise the abort flag: every rank's bounded waits return `status::aborted`.
  void abort() noexcept;

  //! Wait for every rank. Returns timeout/aborted instead of hanging.
  status barrier() noexcept;

  //! Gather `bytes` bytes from every rank into `out` (rank r's bytes at out + r*bytes).
  status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept;

  //! Gather one pointer from every rank: `all[r]` is rank r's `mine`.
  template <class T>
  status all_gather_ptr(T* mine, T** all) noexcept {
    return all_gather(&mine, sizeof(T*), all);
  }

private:
  friend class cpu_team;
  team_rank(cpu_team& t, int r) noexcept : team_(&t), rank_(r) {}
  cpu_team* team_;
  int rank_;
  cuda::std::uint64_t barrier_generation_ = 0;
};

//! N host threads that run the same function as ranks 0..N-1.
class cpu_team {
public:
  explicit cpu_team(int nranks, team_options opts = {}) : n_(nranks), opts_(opts) {}
  cpu_team(cpu_team const&) = delete;
  cpu_team& operator=(cpu_team const&) = delete;

  int size() const noexcept { return n_; }
  team_options const& options() const noexcept { return opts_; }

  //! Run `f(team_rank&)` on every rank, each in its own thread, and wait for all.
  //! `f` returns `weft::status` (or void). The result is the first failure by rank
  //! order that is not a consequence of another rank's abort, else success.
  //! `per_rank`, when given, receives each rank's own status.
  template <class F>
  status run(F&& f, std::vector<status>* per_rank = nullptr) {
    if (n_ < 1) return status::invalid_argument;
    barrier_ = std::make_unique<team_barrier>(n_);
    slots_.assign(std::size_t(n_), nullptr);
    abort_ = 0;
    std::vector<status> result(std::size_t(n_), status::success);
    auto body = [&](int r) {
      team_rank tr(*this, r);
      status s = status::success;
      try {
        if constexpr (std::is_void_v<decltype(f(tr))>) f(tr);
        else s = f(tr);
      } catch (...) {
        s = status::internal_error;
      }
      // A failure raises the abort flag so the others stop waiting for this rank. A
      // timeout does not: every rank reaches its own bound and reports its own wait.
      if (s != status::success && s != status::timeout) tr.abort();
      result[std::size_t(r)] = s;
    };
    std::vector<std::thread> threads;
    threads.reserve(std::size_t(n_ - 1));
    try {
      for (int r = 1; r < n_; ++r) threads.emplace_back(body, r);
    } catch (...) {
      cuda::atomic_ref<cuda::std::uint32_t, cuda::thread_scope_system>(abort_).store(1u, cuda::memory_order_release);
      for (auto& t : threads) t.join();
      return status::system_error;
    }
    body(0);
    for (auto& t : threads) t.join();
    if (per_rank) *per_rank = result;
    for (status s : result)
      if (s != status::success && s != status::aborted) return s;
    for (status s : result)
      if (s != status::success) return s;
    return status::success;
  }

private:
  friend class team_rank;
  int n_;
  team_options opts_;
  std::unique_ptr<team_barrier> barrier_;
  std::vector<void const*> slots_;
  alignas(64) cuda::std::uint32_t abort_ = 0;
};

inline int team_rank::size() const noexcept { return team_->n_; }

inline wait_bound team_rank::bound() const noexcept { return {team_->opts_.timeout_ns, &team_->abort_}; }

inline cuda::std::uint32_t const* team_rank::abort_flag() const noexcept { return &team_->abort_; }

inline void team_rank::abort() noexcept {
  cuda::atomic_ref<cuda::std::uint32_t, cuda::thread_scope_system>(team_->abort_).store(1u, cuda::memory_order_release);
}

inline status team_rank::barrier() noexcept { return team_->barrier_->arrive_and_wait(barrier_generation_, bound()); }

inline status team_rank::all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept {
  team_->slots_[std::size_t(rank_)] = mine; // published by the barrier's release
  if (status s = barrier(); s != status::success) return s;
  for (int r = 0; r < team_->n_; ++r)
    std::memcpy(static_cast<unsigned char*>(out) + std::size_t(r) * bytes, team_->slots_[std::size_t(r)], bytes);
  return barrier(); // keep every `mine` alive until all ranks copied it
}

} // namespace weft
