#pragma once
//! \file
//! A bounded, abortable barrier for the threads of a CPU team.

#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>
#include <cuda/atomic>
#include <cuda/std/cstdint>

namespace weft {

//! Sense-reversing central barrier for `n` host threads. Every wait is bounded:
//! a rank that does not arrive makes the others return `status::timeout`.
//! After a timeout or abort the barrier is broken and must not be reused.
class team_barrier {
public:
  explicit team_barrier(int n) noexcept : n_(n) {}
  team_barrier(team_barrier const&) = delete;
  team_barrier& operator=(team_barrier const&) = delete;

  int size() const noexcept { return n_; }

  //! Arrive and wait for the other `n-1` threads. `generation` is the caller's
  //! private count of completed barriers (start at 0; the barrier advances it).
  status arrive_and_wait(cuda::std::uint64_t& generation, wait_bound bound) noexcept {
    using ref64 = cuda::atomic_ref<cuda::std::uint64_t, cuda::thread_scope_system>;
    using ref32 = cuda::atomic_ref<cuda::std::uint32_t, cuda::thread_scope_system>;
    cuda::std::uint64_t const next = generation + 1;
    cuda::std::uint32_t const arrived = ref32(count_).fetch_add(1u, cuda::memory_order_acq_rel) + 1u;
    if (arrived == cuda::std::uint32_t(n_)) {
      ref32(count_).store(0u, cuda::memory_order_relaxed);
      ref64(generation_).store(next, cuda::memory_order_release);
      generation = next;
      return status::success;
    }
    status const s = wait_geq(&generation_, next, bound, cuda::memory_order_acquire);
    if (s == status::success) generation = next;
    return s;
  }

private:
  int n_;
  alignas(64) cuda::std::uint32_t count_ = 0;
  alignas(64) cuda::std::uint64_t generation_ = 0;
};

} // namespace weft
