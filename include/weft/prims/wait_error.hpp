#pragma once
//! \file
//! What a collective reports when one of its bounded waits fails: which
//! collective, which rank, which peer it was waiting for, on which channel and
//! at which step.

#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <cuda/atomic>
#include <cuda/std/cstdint>

namespace weft {

//! Collective kinds (for error reports and traces).
enum class coll_kind : cuda::std::uint8_t { all_reduce, all_gather, reduce_scatter, broadcast, reduce, all_to_all };

WEFT_HOST_DEVICE constexpr char const* to_string(coll_kind c) noexcept {
  switch (c) {
    case coll_kind::all_reduce: return "all_reduce";
    case coll_kind::all_gather: return "all_gather";
    case coll_kind::reduce_scatter: return "reduce_scatter";
    case coll_kind::broadcast: return "broadcast";
    case coll_kind::reduce: return "reduce";
    case coll_kind::all_to_all: return "all_to_all";
  }
  return "unknown";
}

//! Which wait failed.
enum class wait_kind : cuda::std::uint8_t {
  none,
  data,   //!< waiting for a peer's data (a receive)
  credit, //!< waiting for a peer to free a slot (a send)
};

//! The first failed wait of one rank on one channel. Trivially copyable; lives
//! in memory the host can read (host memory on the CPU, device memory on a GPU).
struct wait_error {
  status st = status::success;
  coll_kind coll = coll_kind::all_reduce;
  wait_kind what = wait_kind::none;
  int rank = -1;
  int peer = -1;
  int channel = -1;
  cuda::std::uint64_t step = 0;      //!< the step (slot use) on that connection, counted since it was made
  cuda::std::uint64_t call_step = 0; //!< the step within this call
  int claimed = 0;                   //!< set by the first thread that records a failure

  //! Record a failure unless one was recorded already (first writer wins).
  WEFT_HOST_DEVICE void record(status s, coll_kind c, wait_kind w, int r, int p, int ch, cuda::std::uint64_t st_,
                               cuda::std::uint64_t cs) noexcept {
    if (cuda::atomic_ref<int, cuda::thread_scope_device>(claimed).exchange(1, cuda::memory_order_relaxed) != 0) return;
    st = s;
    coll = c;
    what = w;
    rank = r;
    peer = p;
    channel = ch;
    step = st_;
    call_step = cs;
  }
};

} // namespace weft
