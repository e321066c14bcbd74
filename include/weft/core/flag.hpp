#pragma once
//! \file
//! Flags and bounded waits. Every wait takes a bound and returns
//! `status::timeout` (or `status::aborted`) instead of spinning forever.
//!
//! Flags are accessed through `cuda::atomic_ref` with an explicit memory order
//! and thread scope, so the same code is correct on a GPU (peers over NVLink:
//! system scope) and on CPU-team threads (where ThreadSanitizer checks it).

#include <weft/core/clock.hpp>
#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/atomic>
#include <cuda/std/cstdint>

namespace weft {

//! How long a wait may take, and an optional abort word that ends it early.
struct wait_bound {
  cuda::std::uint64_t timeout_ns = 10'000'000'000ull; //!< 10 s by default
  cuda::std::uint32_t const* abort_flag = nullptr;    //!< nonzero => return status::aborted
};

//! Poll `ready()` until it returns true, the bound passes, or the abort flag is raised.
//! The clock is read every 64 polls, so a satisfied wait costs no clock reads.
template <class Ready>
WEFT_HOST_DEVICE status spin_until(Ready&& ready, wait_bound bound) {
  cuda::std::uint64_t start = 0;
  for (cuda::std::uint32_t iter = 0;; ++iter) {
    if (ready()) return status::success;
    if ((iter & 63u) == 0) {
      if (bound.abort_flag != nullptr &&
          cuda::atomic_ref<cuda::std::uint32_t const, cuda::thread_scope_system>(*bound.abort_flag)
                  .load(cuda::memory_order_relaxed) != 0)
        return status::aborted;
      cuda::std::uint64_t const t = now_ns();
      if (iter == 0) start = t;
      else if (t - start >= bound.timeout_ns) return ready() ? status::success : status::timeout;
    }
    spin_pause(iter);
  }
}

//! Atomic view of a flag word at scope `Scope` (system by default: peers and host).
template <class T, cuda::thread_scope Scope = cuda::thread_scope_system>
using flag_ref = cuda::atomic_ref<T, Scope>;

//! Wait until `*flag >= target` (with wrap-free 64-bit counters). `seen` receives the last value read.
template <cuda::thread_scope Scope = cuda::thread_scope_system, class T>
WEFT_HOST_DEVICE status wait_geq(T* flag, T target, wait_bound bound,
                                 cuda::memory_order order = cuda::memory_order_acquire, T* seen = nullptr) {
  flag_ref<T, Scope> ref(*flag);
  T v{};
  status const s = spin_until([&] { return (v = ref.load(order)) >= target; }, bound);
  if (seen) *seen = v;
  return s;
}

//! Wait until `*flag == target`. `seen` receives the last value read.
template <cuda::thread_scope Scope = cuda::thread_scope_system, class T>
WEFT_HOST_DEVICE status wait_eq(T* flag, T target, wait_bound bound,
                                cuda::memory_order order = cuda::memory_order_acquire, T* seen = nullptr) {
  flag_ref<T, Scope> ref(*flag);
  T v{};
  status const s = spin_until([&] { return (v = ref.load(order)) == target; }, bound);
  if (seen) *seen = v;
  return s;
}

//! Store `value` into a flag (release by default), publishing the writes before it.
template <cuda::thread_scope Scope = cuda::thread_scope_system, class T>
WEFT_HOST_DEVICE void signal(T* flag, T value, cuda::memory_order order = cuda::memory_order_release) {
  flag_ref<T, Scope>(*flag).store(value, order);
}

//! Add `delta` to a flag (release by default); returns the previous value.
template <cuda::thread_scope Scope = cuda::thread_scope_system, class T>
WEFT_HOST_DEVICE T signal_add(T* flag, T delta, cuda::memory_order order = cuda::memory_order_release) {
  return flag_ref<T, Scope>(*flag).fetch_add(delta, order);
}

//! Load a flag with an explicit order (acquire by default).
template <cuda::thread_scope Scope = cuda::thread_scope_system, class T>
WEFT_HOST_DEVICE T load_flag(T* flag, cuda::memory_order order = cuda::memory_order_acquire) {
  return flag_ref<T, Scope>(*flag).load(order);
}

} // namespace weft
