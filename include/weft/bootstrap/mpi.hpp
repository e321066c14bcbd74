#pragma once
//! \file
//! The MPI bootstrap: the ranks of an MPI communicator.
//!
//! Compiled only where `mpi.h` is on the include path (link the test or program
//! with `MPI::MPI_CXX`); elsewhere this header defines nothing and
//! `WEFT_HAS_MPI` is 0, so including weft never requires MPI.
//!
//! ```
//! MPI_Init(&argc, &argv);
//! weft::mpi_bootstrap boot(MPI_COMM_WORLD);        // borrows the communicator
//! weft::shm_comm comm;
//! weft::status s = weft::shm_comm::create(boot, {}, comm);
//! ```
//! Calls are the non-blocking MPI collectives, polled until done or until the
//! bound passes; on a timeout the request is left behind (MPI cannot cancel a
//! collective) and the bootstrap refuses further calls.

#if defined(__has_include)
#  if __has_include(<mpi.h>)
#    define WEFT_HAS_MPI 1
#  endif
#endif
#ifndef WEFT_HAS_MPI
#  define WEFT_HAS_MPI 0
#endif

#if WEFT_HAS_MPI
#  include <weft/bootstrap/bootstrap.hpp>
#  include <weft/core/clock.hpp>
// The C API is all weft uses: leave out the MPI C++ bindings (and their warnings).
#  ifndef OMPI_SKIP_MPICXX
#    define OMPI_SKIP_MPICXX 1
#  endif
#  ifndef MPICH_SKIP_MPICXX
#    define MPICH_SKIP_MPICXX 1
#  endif
#  include <mpi.h>
#  include <cuda/atomic>
#  include <chrono>
#  include <limits>
#  include <string>
#  include <thread>

namespace weft {
namespace detail {

//! Poll `req` until it completes, `timeout_ns` passes (`timeout`) or `*abort` turns nonzero (`aborted`).
//! MPI cannot cancel a collective: after a timeout or an abort the request is left behind.
inline status mpi_wait(MPI_Request& req, cuda::std::uint64_t timeout_ns,
                       cuda::std::uint32_t const* abort = nullptr) noexcept {
  cuda::std::uint64_t const start = now_ns();
  for (cuda::std::uint32_t i = 0;; ++i) {
    int done = 0;
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return status::system_error;
    if (done) return status::success;
    if ((i & 63u) == 0) {
      if (abort && cuda::atomic_ref<cuda::std::uint32_t const, cuda::thread_scope_system>(*abort).load(
                       cuda::memory_order_relaxed) != 0)
        return status::aborted;
      if (now_ns() - start >= timeout_ns) return status::timeout;
    }
    if (i > 64) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

} // namespace detail

class mpi_bootstrap final : public bootstrap {
public:
  //! `comm` must stay valid while this bootstrap is used (MPI_Init must have run).
  explicit mpi_bootstrap(MPI_Comm comm, cuda::std::uint64_t timeout_ns = 60'000'000'000ull) noexcept
      : comm_(comm), timeout_ns_(timeout_ns) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init || MPI_Comm_rank(comm_, &rank_) != MPI_SUCCESS || MPI_Comm_size(comm_, &size_) != MPI_SUCCESS) {
      rank_ = -1;
      size_ = 0;
      failed_ = true;
      err_ = "mpi bootstrap: MPI is not initialised or the communicator is invalid";
    }
  }
  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }

  status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept override {
    if (failed_) return fail(status::aborted, "the bootstrap failed earlier");
    if (bytes > 0 && (mine == nullptr || out == nullptr)) return fail(status::invalid_argument, "null buffer");
    if (bytes > cuda::std::size_t(std::numeric_limits<int>::max()))
      return fail(status::invalid_argument, "message too large for one MPI call");
    MPI_Request req;
    // MPI wants a non-const send buffer in older headers; it is only read.
    if (MPI_Iallgather(const_cast<void*>(mine), int(bytes), MPI_BYTE, out, int(bytes), MPI_BYTE, comm_, &req) !=
        MPI_SUCCESS)
      return fail(status::system_error, "MPI_Iallgather failed");
    return finish(req, "MPI_Iallgather");
  }
  status barrier() noexcept override {
    if (failed_) return fail(status::aborted, "the bootstrap failed earlier");
    MPI_Request req;
    if (MPI_Ibarrier(comm_, &req) != MPI_SUCCESS) return fail(status::system_error, "MPI_Ibarrier failed");
    return finish(req, "MPI_Ibarrier");
  }
  std::string last_error() const override { return err_.empty() ? "no error" : err_; }
  MPI_Comm comm() const noexcept { return comm_; }

private:
  status finish(MPI_Request& req, char const* what) noexcept {
    status const s = detail::mpi_wait(req, timeout_ns_);
    if (s != status::success) {
      failed_ = true;
      return fail(s, what);
    }
    return s;
  }
  status fail(status s, char const* why) noexcept {
    try {
      err_ = std::string("mpi bootstrap (rank ") + std::to_string(rank_) + "): " + why + " (" + to_string(s) + ")";
    } catch (...) {
    }
    return s;
  }
  MPI_Comm comm_;
  cuda::std::uint64_t timeout_ns_;
  int rank_ = -1, size_ = 0;
  bool failed_ = false;
  std::string err_;
};

} // namespace weft
#endif
