#pragma once
//! \file
//! The network leg over MPI: collectives of a shard between the outer ranks of a
//! hierarchical job (node leaders, or the ranks of one rail: the same local rank
//! on every node).
//!
//! A *net* is what the hierarchical collectives (`weft/team/two_level_comm.hpp`) take
//! for their outer team. Its contract is duck-typed:
//! ```
//!   int rank() const; int size() const;
//!   template <class T, class Op> static bool supports();   // can this type and operator run?
//!   template <class T, class Op> status all_reduce(T const* send, T* recv, size_t count, Op const&);
//!   template <class T> status all_gather(T const* send, T* recv, size_t sendcount);
//!   template <class T, class Op> status reduce_scatter(T const* send, T* recv, size_t recvcount, Op const&);
//!   status send(void const* buf, size_t bytes, int peer);  status recv(void* buf, size_t bytes, int peer);
//!   std::string last_error() const;
//! ```
//! `mpi_net` implements it with MPI's non-blocking collectives, polled until
//! done, until its timeout, or until an abort word (e.g. a shared-memory
//! communicator's, so a lost local process also stops the network leg) is raised.
//! Element types: the standard integer and floating-point types; operators:
//! sum, prod, min, max. Other pairs (fp16, bf16, fp8, avg, premul_sum) return
//! `status::unsupported`: MPI has no standard type or operator for them.
//!
//! Compiled only where `mpi.h` is on the include path (see `bootstrap/mpi.hpp`).

#include <weft/bootstrap/mpi.hpp>

#if WEFT_HAS_MPI
#  include <weft/core/ops.hpp>
#  include <weft/core/status.hpp>
#  include <cstdint>
#  include <limits>
#  include <string>
#  include <type_traits>

namespace weft {

namespace detail {

template <class T>
MPI_Datatype mpi_type() noexcept {
  if constexpr (std::is_same_v<T, float>) return MPI_FLOAT;
  else if constexpr (std::is_same_v<T, double>) return MPI_DOUBLE;
  else if constexpr (std::is_same_v<T, std::int8_t>) return MPI_INT8_T;
  else if constexpr (std::is_same_v<T, std::int16_t>) return MPI_INT16_T;
  else if constexpr (std::is_same_v<T, std::int32_t>) return MPI_INT32_T;
  else if constexpr (std::is_same_v<T, std::int64_t>) return MPI_INT64_T;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return MPI_UINT8_T;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return MPI_UINT16_T;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return MPI_UINT32_T;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return MPI_UINT64_T;
  else return MPI_DATATYPE_NULL;
}

template <class Op>
MPI_Op mpi_op() noexcept {
  using T = typename Op::value_type;
  if constexpr (std::is_same_v<Op, op::sum<T>>) return MPI_SUM;
  else if constexpr (std::is_same_v<Op, op::prod<T>>) return MPI_PROD;
  else if constexpr (std::is_same_v<Op, op::min<T>>) return MPI_MIN;
  else if constexpr (std::is_same_v<Op, op::max<T>>) return MPI_MAX;
  else return MPI_OP_NULL;
}

} // namespace detail

//! The outer team of a hierarchical job as an MPI communicator.
class mpi_net {
public:
  //! `comm` must stay valid while this object is used. `abort`, when given, ends every wait early.
  explicit mpi_net(MPI_Comm comm, cuda::std::uint64_t timeout_ns = 60'000'000'000ull,
                   cuda::std::uint32_t const* abort = nullptr) noexcept
      : comm_(comm), timeout_ns_(timeout_ns), abort_(abort) {
    int init = 0;
    MPI_Initialized(&init);
    if (!init || MPI_Comm_rank(comm_, &rank_) != MPI_SUCCESS || MPI_Comm_size(comm_, &size_) != MPI_SUCCESS) {
      rank_ = -1;
      size_ = 0;
      broken_ = true;
      err_ = "mpi_net: MPI is not initialised or the communicator is invalid";
    }
  }
  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  //! Whether collectives of `T` under `Op` can run here (checked before anything moves).
  template <class T, class Op>
  static bool supports() noexcept {
    return detail::mpi_type<T>() != MPI_DATATYPE_NULL && detail::mpi_op<Op>() != MPI_OP_NULL;
  }
  bool healthy() const noexcept { return !broken_; }
  std::string last_error() const { return err_.empty() ? "no error" : err_; }
  //! Where the waits look for an abort (may be changed between calls).
  void set_abort_flag(cuda::std::uint32_t const* abort) noexcept { abort_ = abort; }

  template <class T, class Op>
  [[nodiscard]] status all_reduce(T const* send, T* recv, std::size_t count, Op const&) noexcept {
    if (status s = check<T, Op>("all_reduce", send, recv, count, 1); s != status::success) return s;
    MPI_Request req;
    void const* sb = send == recv ? MPI_IN_PLACE : static_cast<void const*>(send);
    if (MPI_Iallreduce(sb, recv, int(count), detail::mpi_type<T>(), detail::mpi_op<Op>(), comm_, &req) != MPI_SUCCESS)
      return fail(status::system_error, "all_reduce: MPI_Iallreduce failed");
    return finish(req, "all_reduce");
  }

  template <class T>
  [[nodiscard]] status all_gather(T const* send, T* recv, std::size_t sendcount) noexcept {
    if (status s = check<T, op::sum<T>>("all_gather", send, recv, sendcount, size_); s != status::success) return s;
    MPI_Request req;
    if (MPI_Iallgather(send, int(sendcount), detail::mpi_type<T>(), recv, int(sendcount), detail::mpi_type<T>(), comm_,
                       &req) != MPI_SUCCESS)
      return fail(status::system_error, "all_gather: MPI_Iallgather failed");
    return finish(req, "all_gather");
  }

  template <class T, class Op>
  [[nodiscard]] status reduce_scatter(T const* send, T* recv, std::size_t recvcount, Op const&) noexcept {
    if (status s = check<T, Op>("reduce_scatter", send, recv, recvcount, size_); s != status::success) return s;
    MPI_Request req;
    if (MPI_Ireduce_scatter_block(send, recv, int(recvcount), detail::mpi_type<T>(), detail::mpi_op<Op>(), comm_,
                                  &req) != MPI_SUCCESS)
      return fail(status::system_error, "reduce_scatter: MPI_Ireduce_scatter_block failed");
    return finish(req, "reduce_scatter");
  }

  [[nodiscard]] status send(void const* buf, std::size_t bytes, int peer) noexcept {
    if (status s = check_p2p("send", buf, bytes, peer); s != status::success) return s;
    MPI_Request req;
    if (MPI_Isend(buf, int(bytes), MPI_BYTE, peer, tag, comm_, &req) != MPI_SUCCESS)
      return fail(status::system_error, "send: MPI_Isend failed");
    return finish(req, "send");
  }
  [[nodiscard]] status recv(void* buf, std::size_t bytes, int peer) noexcept {
    if (status s = check_p2p("recv", buf, bytes, peer); s != status::success) return s;
    MPI_Request req;
    if (MPI_Irecv(buf, int(bytes), MPI_BYTE, peer, tag, comm_, &req) != MPI_SUCCESS)
      return fail(status::system_error, "recv: MPI_Irecv failed");
    return finish(req, "recv");
  }

private:
  static constexpr int tag = 0x7765; // weft's point-to-point tag on this communicator

  template <class T, class Op>
  status check(char const* what, void const* send, void const* recv, std::size_t count, int blocks) noexcept {
    if (broken_) return fail(status::aborted, what, ": the network leg failed earlier");
    if (detail::mpi_type<T>() == MPI_DATATYPE_NULL || detail::mpi_op<Op>() == MPI_OP_NULL)
      return fail(status::unsupported, what, ": element type or operator has no MPI equivalent");
    if (count > 0 && (send == nullptr || recv == nullptr)) return fail(status::invalid_argument, what, ": null buffer");
    if (count > std::size_t(std::numeric_limits<int>::max()) / std::size_t(blocks < 1 ? 1 : blocks))
      return fail(status::invalid_argument, what, ": count too large for one MPI call");
    return status::success;
  }
  status check_p2p(char const* what, void const* buf, std::size_t bytes, int peer) noexcept {
    if (broken_) return fail(status::aborted, what, ": the network leg failed earlier");
    if (peer < 0 || peer >= size_ || peer == rank_) return fail(status::invalid_argument, what, ": bad peer");
    if (bytes > 0 && buf == nullptr) return fail(status::invalid_argument, what, ": null buffer");
    if (bytes > std::size_t(std::numeric_limits<int>::max()))
      return fail(status::invalid_argument, what, ": message too large for one MPI call");
    return status::success;
  }
  status finish(MPI_Request& req, char const* what) noexcept {
    status const s = detail::mpi_wait(req, timeout_ns_, abort_);
    if (s != status::success) {
      broken_ = true; // the request may still be pending: no further calls on this net
      return fail(s, what, s == status::timeout ? ": timed out" : ": stopped");
    }
    return s;
  }
  status fail(status s, char const* what, char const* why = "") noexcept {
    try {
      err_ = std::string("mpi_net (rank ") + std::to_string(rank_) + "): " + what + why;
    } catch (...) {
    }
    return s;
  }

  MPI_Comm comm_;
  cuda::std::uint64_t timeout_ns_;
  cuda::std::uint32_t const* abort_;
  int rank_ = -1, size_ = 0;
  bool broken_ = false;
  std::string err_;
};

//! Split `world` into the two teams of a hierarchical job: `node` (the ranks
//! sharing a host; `ranks_per_node` > 0 forces blocks of that many consecutive
//! world ranks, so one host can play several nodes) and `rail` (the same local
//! rank on every node, ordered by node). Every node must have the same number
//! of ranks and world rank = node * ranks_per_node + local rank; otherwise the
//! result is `unsupported` and nothing is returned.
[[nodiscard]] inline status mpi_node_rail_split(MPI_Comm world, int ranks_per_node, MPI_Comm* node, MPI_Comm* rail) noexcept {
  int wr = 0, ws = 0;
  if (!node || !rail || MPI_Comm_rank(world, &wr) != MPI_SUCCESS || MPI_Comm_size(world, &ws) != MPI_SUCCESS)
    return status::invalid_argument;
  MPI_Comm nc = MPI_COMM_NULL, rc = MPI_COMM_NULL;
  int rc_split = ranks_per_node > 0 ? MPI_Comm_split(world, wr / ranks_per_node, wr, &nc)
                                    : MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, wr, MPI_INFO_NULL, &nc);
  if (rc_split != MPI_SUCCESS) return status::system_error;
  int lr = 0, ls = 0;
  MPI_Comm_rank(nc, &lr);
  MPI_Comm_size(nc, &ls);
  if (MPI_Comm_split(world, lr, wr, &rc) != MPI_SUCCESS) {
    MPI_Comm_free(&nc);
    return status::system_error;
  }
  int nr = 0;
  MPI_Comm_rank(rc, &nr);
  // Every rank checks the layout; all must agree it is regular.
  int regular = (ws % ls == 0 && wr == nr * ls + lr) ? 1 : 0, all_regular = 0;
  MPI_Allreduce(&regular, &all_regular, 1, MPI_INT, MPI_MIN, world);
  int lmin = 0, lmax = 0;
  MPI_Allreduce(&ls, &lmin, 1, MPI_INT, MPI_MIN, world);
  MPI_Allreduce(&ls, &lmax, 1, MPI_INT, MPI_MAX, world);
  if (!all_regular || lmin != lmax) {
    MPI_Comm_free(&nc);
    MPI_Comm_free(&rc);
    return status::unsupported;
  }
  *node = nc;
  *rail = rc;
  return status::success;
}

} // namespace weft
#endif
