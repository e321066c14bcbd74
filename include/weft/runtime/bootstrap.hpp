#pragma once
//! \file
//! What a GPU communicator needs from the processes it spans: its rank, the
//! number of ranks, an all-gather of bytes and a barrier. Nothing else.
//!
//! `comm_bootstrap` is that interface. Any object with the same four members
//! plugs in through `bootstrap_ref`: the bootstraps of `weft/bootstrap/`
//! (`tcp_bootstrap`, `mpi_bootstrap`, `callback_bootstrap` over a framework's
//! process group) and anything a user writes. `local_bootstrap` runs ranks as
//! threads of one process (tests, and one thread per GPU in a single process).
//! Every wait here is bounded.

#include <weft/core/status.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace weft {

//! The bootstrap interface a communicator is created with.
class comm_bootstrap {
public:
  virtual ~comm_bootstrap() = default;
  //! This process's rank, 0 .. size()-1.
  virtual int rank() const = 0;
  //! Number of ranks.
  virtual int size() const = 0;
  //! Every rank contributes `bytes` bytes from `mine` (the same `bytes` on every
  //! rank); `all` receives size() * bytes, rank r's contribution at r * bytes.
  virtual status all_gather(void const* mine, std::size_t bytes, void* all) = 0;
  //! Returns once every rank has entered it (or a bound passes).
  virtual status barrier() = 0;
};

//! Adapts any object `B` with `rank()`, `size()`, `all_gather(mine, bytes, all)`
//! and `barrier()` (returning `weft::status` or something convertible to bool
//! success) to `comm_bootstrap`, without taking ownership.
template <class B>
class bootstrap_ref final : public comm_bootstrap {
public:
  explicit bootstrap_ref(B& b) noexcept : b_(b) {}
  int rank() const override { return int(b_.rank()); }
  int size() const override { return int(b_.size()); }
  status all_gather(void const* mine, std::size_t bytes, void* all) override {
    return to_status(b_.all_gather(mine, bytes, all));
  }
  status barrier() override { return to_status(b_.barrier()); }

private:
  B& b_;
  static status to_status(status s) noexcept { return s; }
  template <class R>
  static status to_status(R const& r) noexcept {
    return bool(r) ? status::success : status::peer_failure;
  }
};

//! Shared state of `local_bootstrap`s: `size` ranks that are threads of one process.
class local_bootstrap_group {
public:
  explicit local_bootstrap_group(int size, std::chrono::nanoseconds timeout = std::chrono::seconds(30))
      : size_(size), timeout_(timeout) {}
  int size() const noexcept { return size_; }

  //! The all-gather every local_bootstrap of this group calls. Bounded by the
  //! group's timeout; after a timeout or a size mismatch the group is broken
  //! and every later call returns the same failure.
  status all_gather(int rank, void const* mine, std::size_t bytes, void* all) {
    std::unique_lock<std::mutex> lk(m_);
    if (broken_ != status::success) return broken_;
    if (rank < 0 || rank >= size_ || (bytes > 0 && (!mine || !all))) return status::invalid_argument;
    std::uint64_t const gen = gen_;
    if (arrived_ == 0) {
      bytes_ = bytes;
      data_.assign(bytes * std::size_t(size_), 0);
    } else if (bytes != bytes_) {
      return fail(status::invalid_argument); // ranks disagree on the size
    }
    if (bytes) std::memcpy(data_.data() + std::size_t(rank) * bytes, mine, bytes);
    if (++arrived_ == size_) {
      result_ = data_;
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
    } else if (!cv_.wait_for(lk, timeout_, [&] { return gen_ != gen || broken_ != status::success; })) {
      return fail(status::timeout);
    }
    if (broken_ != status::success) return broken_;
    if (bytes) std::memcpy(all, result_.data(), bytes * std::size_t(size_));
    return status::success;
  }

private:
  status fail(status s) {
    broken_ = s;
    cv_.notify_all();
    return s;
  }
  int size_;
  std::chrono::nanoseconds timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  int arrived_ = 0;
  std::uint64_t gen_ = 0;
  std::size_t bytes_ = 0;
  std::vector<unsigned char> data_, result_;
  status broken_ = status::success;
};

//! One rank of a `local_bootstrap_group` (each used by its own thread).
class local_bootstrap final : public comm_bootstrap {
public:
  local_bootstrap(std::shared_ptr<local_bootstrap_group> g, int rank) : g_(std::move(g)), rank_(rank) {}
  int rank() const override { return rank_; }
  int size() const override { return g_ ? g_->size() : 0; }
  status all_gather(void const* mine, std::size_t bytes, void* all) override {
    return g_ ? g_->all_gather(rank_, mine, bytes, all) : status::invalid_argument;
  }
  status barrier() override {
    unsigned char none = 0;
    std::vector<unsigned char> all(static_cast<std::size_t>(size()));
    return all_gather(&none, 1, all.data());
  }

private:
  std::shared_ptr<local_bootstrap_group> g_;
  int rank_;
};

//! Checks a bootstrap before use: a size of at least one and a rank in range.
inline status check_bootstrap(comm_bootstrap const& b) noexcept {
  if (b.size() < 1 || b.rank() < 0 || b.rank() >= b.size()) return status::invalid_argument;
  return status::success;
}

} // namespace weft
