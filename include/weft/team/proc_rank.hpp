#pragma once
//! \file
//! A rank that is a whole process: the `Rank` the host collectives take when the
//! ranks of a communicator are separate processes (`shm_comm`).
//!
//! It forwards `barrier` and `all_gather` to the job's bootstrap and carries the
//! communicator's wait bound (its timeout and its shared abort word). Raw
//! pointers mean nothing in another process, so `all_gather_ptr` returns
//! `status::unsupported` (and process communicators refuse the direct all-gather,
//! its only user).

#include <weft/bootstrap/bootstrap.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>
#include <cuda/std/cstddef>

namespace weft {

class proc_rank {
public:
  //! `b` must outlive this object; `bound` is what every wait of a collective uses.
  proc_rank(bootstrap& b, wait_bound bound) noexcept : b_(&b), bound_(bound) {}

  int rank() const noexcept { return b_->rank(); }
  int size() const noexcept { return b_->size(); }
  //! One host thread runs a process rank's algorithm code.
  host_group group() const noexcept { return {}; }
  wait_bound bound() const noexcept { return bound_; }
  [[nodiscard]] status barrier() noexcept { return b_->barrier(); }
  [[nodiscard]] status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept {
    return b_->all_gather(mine, bytes, out);
  }
  //! Pointers do not cross processes: always `status::unsupported`.
  template <class T>
  [[nodiscard]] status all_gather_ptr(T*, T**) noexcept {
    return status::unsupported;
  }
  bootstrap& boot() const noexcept { return *b_; }

private:
  bootstrap* b_;
  wait_bound bound_;
};

} // namespace weft
