#pragma once
//! \file
//! The bootstrap: how the ranks of a job first find each other.
//!
//! A bootstrap knows its rank and the job's size and offers two bounded
//! operations, an all-gather of bytes and a barrier. Communicators use it once,
//! at setup, to exchange names and addresses (a shared-memory segment's name,
//! a host's identity); it is never on a collective's data path.
//!
//! | implementation | header | ranks are |
//! |---|---|---|
//! | `team_bootstrap` | this one | threads of one process (`cpu_team`) |
//! | `callback_bootstrap` | this one | whatever the user's callbacks reach (a framework's process group) |
//! | `tcp_bootstrap` | `bootstrap/tcp.hpp` | processes that share a unique id (address, port, secret) or torchrun's variables |
//! | `mpi_bootstrap` | `bootstrap/mpi.hpp` | the processes of an MPI communicator (needs `mpi.h`) |
//!
//! Every call returns a `status` and never waits without bound; `last_error()`
//! says why the last call failed.

#include <weft/core/status.hpp>
#include <weft/team/cpu_team.hpp>
#include <cuda/std/cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace weft {

//! How ranks exchange bytes before they have a communicator.
class bootstrap {
public:
  virtual ~bootstrap() = default;
  virtual int rank() const noexcept = 0;
  virtual int size() const noexcept = 0;
  //! Gather `bytes` bytes from every rank into `out` (rank r's at `out + r * bytes`).
  //! Every rank passes the same `bytes`.
  [[nodiscard]] virtual status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept = 0;
  //! Wait for every rank.
  [[nodiscard]] virtual status barrier() noexcept = 0;
  //! Why the last failed call failed, or "no error".
  virtual std::string last_error() const { return "no error"; }
};

//! Rank `root`'s `bytes` into every rank's `buf` (an all-gather underneath: setup-sized data only).
[[nodiscard]] inline status bootstrap_broadcast(bootstrap& b, int root, void* buf, cuda::std::size_t bytes) noexcept {
  if (root < 0 || root >= b.size() || (bytes > 0 && buf == nullptr)) return status::invalid_argument;
  try {
    std::vector<unsigned char> all(bytes * cuda::std::size_t(b.size()));
    if (status s = b.all_gather(buf, bytes, all.data()); s != status::success) return s;
    if (bytes > 0) std::memcpy(buf, all.data() + cuda::std::size_t(root) * bytes, bytes);
    return status::success;
  } catch (...) {
    return status::out_of_memory;
  }
}

//! In-process bootstrap: the ranks are a `cpu_team`'s threads.
class team_bootstrap final : public bootstrap {
public:
  explicit team_bootstrap(team_rank& r) noexcept : r_(&r) {}
  int rank() const noexcept override { return r_->rank(); }
  int size() const noexcept override { return r_->size(); }
  status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept override {
    if (bytes > 0 && (mine == nullptr || out == nullptr)) return status::invalid_argument;
    return r_->all_gather(mine, bytes, out);
  }
  status barrier() noexcept override { return r_->barrier(); }

private:
  team_rank* r_;
};

//! The user's own exchange as a bootstrap (e.g. a framework's process group).
//!
//! `gather(mine, bytes, out)` must gather like `bootstrap::all_gather` and return a
//! status; `barrier()` is optional (an all-gather of one byte stands in). The
//! callbacks carry their own bound: weft cannot interrupt them.
class callback_bootstrap final : public bootstrap {
public:
  using gather_fn = std::function<status(void const*, cuda::std::size_t, void*)>;
  using barrier_fn = std::function<status()>;

  callback_bootstrap(int rank, int size, gather_fn gather, barrier_fn barrier = {})
      : rank_(rank), size_(size), gather_(std::move(gather)), barrier_(std::move(barrier)) {}

  int rank() const noexcept override { return rank_; }
  int size() const noexcept override { return size_; }
  status all_gather(void const* mine, cuda::std::size_t bytes, void* out) noexcept override {
    if (!valid()) return fail(status::invalid_argument, "rank, size or gather callback invalid");
    if (bytes > 0 && (mine == nullptr || out == nullptr)) return fail(status::invalid_argument, "null buffer");
    try {
      status const s = gather_(mine, bytes, out);
      return s == status::success ? s : fail(s, "gather callback failed");
    } catch (...) {
      return fail(status::internal_error, "gather callback threw");
    }
  }
  status barrier() noexcept override {
    if (!valid()) return fail(status::invalid_argument, "rank, size or gather callback invalid");
    if (!barrier_) {
      unsigned char one = 1;
      try {
        std::vector<unsigned char> all(static_cast<cuda::std::size_t>(size_));
        return all_gather(&one, 1, all.data());
      } catch (...) {
        return fail(status::out_of_memory, "barrier buffer");
      }
    }
    try {
      status const s = barrier_();
      return s == status::success ? s : fail(s, "barrier callback failed");
    } catch (...) {
      return fail(status::internal_error, "barrier callback threw");
    }
  }
  std::string last_error() const override { return err_.empty() ? "no error" : err_; }

private:
  bool valid() const noexcept { return size_ >= 1 && rank_ >= 0 && rank_ < size_ && bool(gather_); }
  status fail(status s, char const* why) noexcept {
    try {
      err_ = std::string("callback bootstrap: ") + why + " (" + to_string(s) + ")";
    } catch (...) {
    }
    return s;
  }
  int rank_, size_;
  gather_fn gather_;
  barrier_fn barrier_;
  std::string err_;
};

} // namespace weft
