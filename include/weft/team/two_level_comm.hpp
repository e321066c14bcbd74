#pragma once
//! \file
//! Two-level (hierarchical) collectives: an inner team in shared memory (`shm_comm`, the
//! ranks of one node) and an outer team over a network leg (a *net*, e.g.
//! `mpi_net` in `weft/transport/mpi_net.hpp`: the same local rank on every
//! node, one rail).
//!
//! The job has N nodes of L ranks; rank (node n, local j) is global rank
//! n * L + j, and user buffers are laid out in that order. Each collective runs
//! the inner algorithms over shared memory and sends only a 1/L shard per rank
//! over the network:
//!
//! | collective | inner (shared memory) | outer (net, per rail) | inner |
//! |---|---|---|---|
//! | all_reduce | reduce_scatter into L shards | all_reduce of this rank's shard | all_gather of the shards |
//! | all_gather | -- | all_gather of own block across nodes | all_gather of the rail's blocks, then reorder |
//! | reduce_scatter | reorder, reduce_scatter into L parts | reduce_scatter of this rank's part across nodes | -- |
//!
//! Bad input (null buffers, counts that overflow, a type or operator the net
//! cannot reduce) is refused before anything moves. A failure in either team
//! raises the inner communicator's abort word, so the node's other ranks stop
//! too, and `last_error()` says which leg failed and why.

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/shm_comm.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

namespace weft {

template <class Net>
class two_level_comm {
public:
  //! `inner`: this node's ranks (local rank = inner.rank()); `outer`: this rank's rail (node = outer.rank()).
  two_level_comm(shm_comm& inner, Net& outer) noexcept : inner_(&inner), outer_(&outer), me_(inner.rank_handle()) {}

  int nodes() const noexcept { return outer_->size(); }
  int local_size() const noexcept { return inner_->size(); }
  int node() const noexcept { return outer_->rank(); }
  int local_rank() const noexcept { return inner_->rank(); }
  int size() const noexcept { return nodes() * local_size(); }
  int rank() const noexcept { return node() * local_size() + local_rank(); }
  shm_comm& inner() noexcept { return *inner_; }
  Net& outer() noexcept { return *outer_; }
  //! Bytes of staging this object holds (grown to the largest call so far).
  std::size_t scratch_bytes() const noexcept { return scratch_.size(); }
  std::string last_error() const { return err_.empty() ? "no error" : err_; }

  // ---- used by the collectives below ----
  proc_rank& inner_rank() noexcept { return me_; }
  //! Staging of at least `bytes`, 64-byte aligned; null when it cannot be had.
  unsigned char* scratch(std::size_t bytes) noexcept {
    try {
      if (scratch_.size() < bytes + 64) scratch_.resize(bytes + 64);
    } catch (...) {
      return nullptr;
    }
    auto const p = reinterpret_cast<std::uintptr_t>(scratch_.data());
    return scratch_.data() + ((64 - p % 64) % 64);
  }
  status refuse(char const* coll, status s, char const* why) {
    err_ = std::string(coll) + ": " + why;
    return s;
  }
  //! A leg failed: say which, and stop the node's other ranks.
  status failed(char const* coll, char const* leg, status s, bool outer_leg) {
    err_ = std::string(coll) + ": " + leg + " failed (" + to_string(s) + "): " +
           (outer_leg ? outer_->last_error() : inner_->last_error());
    inner_->mark_broken();
    return s;
  }
  void clear_error() { err_.clear(); }

private:
  shm_comm* inner_;
  Net* outer_;
  proc_rank me_;
  std::vector<unsigned char> scratch_;
  std::string err_;
};

namespace detail {

template <class T, class Op, class Net>
status two_level_check(two_level_comm<Net>& h, char const* coll, void const* send, void const* recv, std::size_t count,
                  std::size_t blocks) {
  if constexpr (!std::is_same_v<Op, void>)
    if (!Net::template supports<T, Op>())
      return h.refuse(coll, status::unsupported, "the network leg cannot reduce this type with this operator");
  if (count > 0 && (send == nullptr || recv == nullptr))
    return h.refuse(coll, status::invalid_argument, "null buffer");
  if (count > std::numeric_limits<std::size_t>::max() / sizeof(T) / (blocks + 1))
    return h.refuse(coll, status::invalid_argument, "element count too large");
  if (!h.inner().healthy()) return h.refuse(coll, status::aborted, "the inner communicator is broken");
  h.clear_error();
  return status::success;
}

} // namespace detail

//! All-reduce over every rank of the job (`count` elements; in place when `send == recv`).
template <class T, class Op, class Net>
status two_level_all_reduce(two_level_comm<Net>& h, T const* send, T* recv, std::size_t count, Op const& op,
                       coll_options o = {}) {
  char const* coll = "two_level_all_reduce";
  if (status s = detail::two_level_check<T, Op>(h, coll, send, recv, count, 2); s != status::success) return s;
  if (count == 0) return status::success;
  std::size_t const L = std::size_t(h.local_size());
  std::size_t const shard = (count + L - 1) / L, padded = shard * L;
  T* a = reinterpret_cast<T*>(h.scratch((padded + shard) * sizeof(T)));
  if (!a) return h.refuse(coll, status::out_of_memory, "no staging memory");
  T* b = a + padded;
  std::memcpy(a, send, count * sizeof(T));
  for (std::size_t i = count; i < padded; ++i) a[i] = send[0]; // any valid value: padded results are dropped
  if (status s = reduce_scatter(h.inner(), h.inner_rank(), a, b, shard, op, o); s != status::success)
    return h.failed(coll, "inner reduce_scatter", s, false);
  if (status s = h.outer().all_reduce(b, b, shard, op); s != status::success)
    return h.failed(coll, "outer all_reduce", s, true);
  if (status s = all_gather(h.inner(), h.inner_rank(), b, a, shard, o); s != status::success)
    return h.failed(coll, "inner all_gather", s, false);
  std::memcpy(recv, a, count * sizeof(T));
  return status::success;
}

//! All-gather: `recv` (size() * sendcount) gets every rank's `send` in global-rank order.
template <class T, class Net>
status two_level_all_gather(two_level_comm<Net>& h, T const* send, T* recv, std::size_t sendcount, coll_options o = {}) {
  char const* coll = "two_level_all_gather";
  if (status s = detail::two_level_check<T, void>(h, coll, send, recv, sendcount, std::size_t(h.size()) * 2);
      s != status::success)
    return s;
  if (sendcount == 0) return status::success;
  std::size_t const L = std::size_t(h.local_size()), N = std::size_t(h.nodes());
  T* c = reinterpret_cast<T*>(h.scratch((N + L * N) * sendcount * sizeof(T)));
  if (!c) return h.refuse(coll, status::out_of_memory, "no staging memory");
  T* d = c + N * sendcount;
  if (status s = h.outer().all_gather(send, c, sendcount); s != status::success) // c[n]: (n, me)
    return h.failed(coll, "outer all_gather", s, true);
  if (status s = all_gather(h.inner(), h.inner_rank(), c, d, N * sendcount, o); s != status::success) // d[j][n]: (n, j)
    return h.failed(coll, "inner all_gather", s, false);
  for (std::size_t j = 0; j < L; ++j)
    for (std::size_t n = 0; n < N; ++n)
      std::memcpy(recv + (n * L + j) * sendcount, d + (j * N + n) * sendcount, sendcount * sizeof(T));
  return status::success;
}

//! Reduce-scatter: rank g's `recv` (recvcount) gets block g of the reduction of every rank's `send` (size() * recvcount).
template <class T, class Op, class Net>
status two_level_reduce_scatter(two_level_comm<Net>& h, T const* send, T* recv, std::size_t recvcount, Op const& op,
                           coll_options o = {}) {
  char const* coll = "two_level_reduce_scatter";
  if (status s = detail::two_level_check<T, Op>(h, coll, send, recv, recvcount, std::size_t(h.size()) * 2);
      s != status::success)
    return s;
  if (recvcount == 0) return status::success;
  std::size_t const L = std::size_t(h.local_size()), N = std::size_t(h.nodes());
  T* e = reinterpret_cast<T*>(h.scratch((L * N + N) * recvcount * sizeof(T)));
  if (!e) return h.refuse(coll, status::out_of_memory, "no staging memory");
  T* f = e + L * N * recvcount;
  for (std::size_t j = 0; j < L; ++j) // e[j][n] = block (n, j): local rank j's part holds its rail's blocks
    for (std::size_t n = 0; n < N; ++n)
      std::memcpy(e + (j * N + n) * recvcount, send + (n * L + j) * recvcount, recvcount * sizeof(T));
  if (status s = reduce_scatter(h.inner(), h.inner_rank(), e, f, N * recvcount, op, o); s != status::success)
    return h.failed(coll, "inner reduce_scatter", s, false);
  if (status s = h.outer().reduce_scatter(f, recv, recvcount, op); s != status::success)
    return h.failed(coll, "outer reduce_scatter", s, true);
  return status::success;
}

} // namespace weft
