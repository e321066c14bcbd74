#pragma once
//! \file
//! The network leg over NCCL, for GPUs: the same *net* contract as `mpi_net`
//! (see `weft/transport/mpi_net.hpp`), on device buffers, for the outer team of a
//! hierarchical GPU job (node leaders or rails over InfiniBand / Ethernet).
//!
//! ```
//! std::unique_ptr<weft::nccl_net> net;
//! weft::status s = weft::nccl_net::create(rail_bootstrap, device, {}, net);  // ncclUniqueId over the bootstrap
//! s = net->all_reduce(d_send, d_recv, count, weft::op::sum<float>{});          // device pointers, bounded
//! ```
//! Every call enqueues one NCCL operation on the net's stream and then waits for
//! it, polling the stream and NCCL's asynchronous error until done, until the
//! timeout, or until an abort word is raised; then a communicator the net made is
//! aborted (`ncclCommAbort`), the call returns `timeout` / `aborted` / `peer_failure`, and
//! the net refuses later calls. The communicator is made non-blocking
//! (`config.blocking = 0`) so that even its creation is bounded.
//!
//! Types: float, double, int8/uint8, int32/uint32, int64/uint64, half_t,
//! bfloat16_t (and the fp8 types on NCCL 2.24+); operators: sum, prod, min, max,
//! avg. Others return `status::unsupported`.
//!
//! Only where `<nccl.h>` and `<cuda_runtime_api.h>` are on the include path
//! (link NCCL and the CUDA runtime); elsewhere `WEFT_HAS_NCCL` is 0 and this
//! header defines nothing.

#if defined(__has_include)
#  if __has_include(<nccl.h>) && __has_include(<cuda_runtime_api.h>)
#    define WEFT_HAS_NCCL 1
#  endif
#endif
#ifndef WEFT_HAS_NCCL
#  define WEFT_HAS_NCCL 0
#endif

#if WEFT_HAS_NCCL
#  include <weft/bootstrap/bootstrap.hpp>
#  include <weft/core/clock.hpp>
#  include <weft/core/ops.hpp>
#  include <weft/core/status.hpp>
#  include <weft/core/types.hpp>
#  include <cuda/atomic>
#  include <cuda_runtime_api.h>
#  include <nccl.h>
#  include <chrono>
#  include <cstdint>
#  include <cstring>
#  include <limits>
#  include <memory>
#  include <string>
#  include <thread>
#  include <type_traits>

namespace weft {

namespace detail {

inline constexpr int nccl_no_type = -1;

template <class T>
constexpr int nccl_type() noexcept {
  if constexpr (std::is_same_v<T, float>) return int(ncclFloat32);
  else if constexpr (std::is_same_v<T, double>) return int(ncclFloat64);
  else if constexpr (std::is_same_v<T, std::int8_t>) return int(ncclInt8);
  else if constexpr (std::is_same_v<T, std::uint8_t>) return int(ncclUint8);
  else if constexpr (std::is_same_v<T, std::int32_t>) return int(ncclInt32);
  else if constexpr (std::is_same_v<T, std::uint32_t>) return int(ncclUint32);
  else if constexpr (std::is_same_v<T, std::int64_t>) return int(ncclInt64);
  else if constexpr (std::is_same_v<T, std::uint64_t>) return int(ncclUint64);
  else if constexpr (std::is_same_v<T, half_t>) return int(ncclFloat16);
  else if constexpr (std::is_same_v<T, bfloat16_t>) return int(ncclBfloat16);
#  if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= 22400
  else if constexpr (std::is_same_v<T, float8_e4m3_t>) return int(ncclFloat8e4m3);
  else if constexpr (std::is_same_v<T, float8_e5m2_t>) return int(ncclFloat8e5m2);
#  endif
  else return nccl_no_type;
}

template <class Op>
constexpr int nccl_op() noexcept {
  using T = typename Op::value_type;
  if constexpr (std::is_same_v<Op, op::sum<T>>) return int(ncclSum);
  else if constexpr (std::is_same_v<Op, op::prod<T>>) return int(ncclProd);
  else if constexpr (std::is_same_v<Op, op::min<T>>) return int(ncclMin);
  else if constexpr (std::is_same_v<Op, op::max<T>>) return int(ncclMax);
  else if constexpr (std::is_same_v<Op, op::avg<T>>) return int(ncclAvg);
  else return -1;
}

} // namespace detail

//! Options of `nccl_net::create`.
struct nccl_net_options {
  cuda::std::uint64_t timeout_ns = 60'000'000'000ull; //!< creation, and each call
  cuda::std::uint32_t const* abort = nullptr;         //!< nonzero ends every wait (e.g. an shm_comm's abort word)
};

//! The outer team of a hierarchical GPU job as an NCCL communicator.
class nccl_net {
public:
  nccl_net(nccl_net const&) = delete;
  nccl_net& operator=(nccl_net const&) = delete;

  //! Collective over `b`'s ranks: rank 0 makes an ncclUniqueId, the bootstrap
  //! carries it, every rank joins on `device`. Bounded by `o.timeout_ns`.
  [[nodiscard]] static status create(bootstrap& b, int device, nccl_net_options const& o,
                                     std::unique_ptr<nccl_net>& out, std::string* why = nullptr) {
    auto say = [&](status s, std::string const& text) {
      if (why) *why = "nccl_net: " + text;
      return s;
    };
    if (b.size() < 1 || b.rank() < 0 || b.rank() >= b.size()) return say(status::invalid_argument, "bad bootstrap");
    struct id_msg {
      std::int32_t st;
      ncclUniqueId id;
    };
    id_msg m{};
    if (b.rank() == 0) {
      ncclResult_t const r = ncclGetUniqueId(&m.id);
      m.st = r == ncclSuccess ? 0 : 1;
    }
    if (status s = bootstrap_broadcast(b, 0, &m, sizeof m); s != status::success)
      return say(s, "bootstrap broadcast failed: " + b.last_error());
    if (m.st != 0) return say(status::system_error, "ncclGetUniqueId failed on rank 0");
    if (cudaSetDevice(device) != cudaSuccess) return say(status::cuda_error, "cudaSetDevice failed");
    std::unique_ptr<nccl_net> n(new nccl_net(o));
    if (cudaStreamCreateWithFlags(&n->stream_, cudaStreamNonBlocking) != cudaSuccess)
      return say(status::cuda_error, "cudaStreamCreate failed");
    n->owns_stream_ = true;
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&n->comm_, b.size(), m.id, b.rank(), &cfg);
    if (r != ncclSuccess && r != ncclInProgress) return say(status::system_error, ncclGetErrorString(r));
    n->owns_comm_ = true;
    if (status s = n->settle("ncclCommInitRankConfig"); s != status::success) return say(s, n->err_);
    n->rank_ = b.rank();
    n->size_ = b.size();
    out = std::move(n);
    return status::success;
  }

  //! Adopt a communicator and stream the caller made (neither is destroyed here; after a
  //! failed call the caller should `ncclCommAbort` the communicator).
  nccl_net(ncclComm_t comm, cudaStream_t stream, nccl_net_options const& o = {}) noexcept
      : o_(o), comm_(comm), stream_(stream) {
    if (!comm_ || ncclCommUserRank(comm_, &rank_) != ncclSuccess || ncclCommCount(comm_, &size_) != ncclSuccess) {
      rank_ = -1;
      size_ = 0;
      broken_ = true;
      err_ = "nccl_net: invalid communicator";
    }
  }

  ~nccl_net() {
    if (owns_comm_ && comm_) {
      (void)ncclCommFinalize(comm_);
      (void)settle("ncclCommFinalize"); // bounded; on failure it aborts the communicator
      if (comm_) (void)ncclCommDestroy(comm_);
    }
    if (owns_stream_ && stream_) (void)cudaStreamDestroy(stream_);
  }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  bool healthy() const noexcept { return !broken_; }
  std::string last_error() const { return err_.empty() ? "no error" : err_; }
  cudaStream_t stream() const noexcept { return stream_; }
  //! Whether collectives of `T` under `Op` can run here (checked before anything moves).
  template <class T, class Op>
  static bool supports() noexcept {
    return detail::nccl_type<T>() != detail::nccl_no_type && detail::nccl_op<Op>() >= 0;
  }

  //! Device buffers; in place when `send == recv`.
  template <class T, class Op>
  [[nodiscard]] status all_reduce(T const* send, T* recv, std::size_t count, Op const&) noexcept {
    if (status s = check<T, Op>("all_reduce", send, recv, count); s != status::success) return s;
    return enqueue("all_reduce", ncclAllReduce(send, recv, count, ncclDataType_t(detail::nccl_type<T>()),
                                               ncclRedOp_t(detail::nccl_op<Op>()), comm_, stream_));
  }
  template <class T>
  [[nodiscard]] status all_gather(T const* send, T* recv, std::size_t sendcount) noexcept {
    if (status s = check<T, op::sum<T>>("all_gather", send, recv, sendcount); s != status::success) return s;
    return enqueue("all_gather",
                   ncclAllGather(send, recv, sendcount, ncclDataType_t(detail::nccl_type<T>()), comm_, stream_));
  }
  template <class T, class Op>
  [[nodiscard]] status reduce_scatter(T const* send, T* recv, std::size_t recvcount, Op const&) noexcept {
    if (status s = check<T, Op>("reduce_scatter", send, recv, recvcount); s != status::success) return s;
    return enqueue("reduce_scatter", ncclReduceScatter(send, recv, recvcount, ncclDataType_t(detail::nccl_type<T>()),
                                                       ncclRedOp_t(detail::nccl_op<Op>()), comm_, stream_));
  }
  [[nodiscard]] status send(void const* buf, std::size_t bytes, int peer) noexcept {
    if (status s = check_p2p("send", buf, bytes, peer); s != status::success) return s;
    return enqueue("send", ncclSend(buf, bytes, ncclUint8, peer, comm_, stream_));
  }
  [[nodiscard]] status recv(void* buf, std::size_t bytes, int peer) noexcept {
    if (status s = check_p2p("recv", buf, bytes, peer); s != status::success) return s;
    return enqueue("recv", ncclRecv(buf, bytes, ncclUint8, peer, comm_, stream_));
  }

private:
  explicit nccl_net(nccl_net_options const& o) noexcept : o_(o) {}

  template <class T, class Op>
  status check(char const* what, void const* send, void const* recv, std::size_t count) noexcept {
    if (broken_) return fail(status::aborted, what, ": the network leg failed earlier");
    if (!supports<T, Op>()) return fail(status::unsupported, what, ": element type or operator has no NCCL equivalent");
    if (count > 0 && (send == nullptr || recv == nullptr)) return fail(status::invalid_argument, what, ": null buffer");
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T) / std::size_t(size_ < 1 ? 1 : size_))
      return fail(status::invalid_argument, what, ": element count too large");
    return status::success;
  }
  status check_p2p(char const* what, void const* buf, std::size_t bytes, int peer) noexcept {
    if (broken_) return fail(status::aborted, what, ": the network leg failed earlier");
    if (peer < 0 || peer >= size_ || peer == rank_) return fail(status::invalid_argument, what, ": bad peer");
    if (bytes > 0 && buf == nullptr) return fail(status::invalid_argument, what, ": null buffer");
    return status::success;
  }

  bool aborted() const noexcept {
    return o_.abort && cuda::atomic_ref<cuda::std::uint32_t const, cuda::thread_scope_system>(*o_.abort).load(
                           cuda::memory_order_relaxed) != 0;
  }

  //! Wait until the communicator has no operation in progress (non-blocking mode).
  status settle(char const* what) noexcept {
    cuda::std::uint64_t const start = now_ns();
    for (;;) {
      ncclResult_t e = ncclSuccess;
      if (ncclCommGetAsyncError(comm_, &e) != ncclSuccess) return lose(status::system_error, what, ": no NCCL state");
      if (e == ncclSuccess) return status::success;
      if (e != ncclInProgress) return lose(status::peer_failure, what, ncclGetErrorString(e));
      if (aborted()) return lose(status::aborted, what, ": stopped");
      if (now_ns() - start >= o_.timeout_ns) return lose(status::timeout, what, ": timed out");
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }

  //! After an NCCL enqueue: settle the call, then wait for the stream.
  status enqueue(char const* what, ncclResult_t r) noexcept {
    if (r != ncclSuccess && r != ncclInProgress) return lose(status::system_error, what, ncclGetErrorString(r));
    if (status s = settle(what); s != status::success) return s;
    cuda::std::uint64_t const start = now_ns();
    for (cuda::std::uint32_t i = 0;; ++i) {
      cudaError_t const q = cudaStreamQuery(stream_);
      if (q == cudaSuccess) return status::success;
      if (q != cudaErrorNotReady) return lose(status::cuda_error, what, cudaGetErrorString(q));
      if ((i & 63u) == 0) {
        ncclResult_t e = ncclSuccess;
        (void)ncclCommGetAsyncError(comm_, &e);
        if (e != ncclSuccess && e != ncclInProgress) return lose(status::peer_failure, what, ncclGetErrorString(e));
        if (aborted()) return lose(status::aborted, what, ": stopped");
        if (now_ns() - start >= o_.timeout_ns) return lose(status::timeout, what, ": timed out");
      }
      if (i > 64) std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }

  //! A call failed: refuse later calls. An owned communicator is aborted at once, so
  //! nothing stays pending; an adopted one is left to its owner (call ncclCommAbort).
  status lose(status s, char const* what, char const* why) noexcept {
    if (owns_comm_ && comm_) {
      (void)ncclCommAbort(comm_);
      comm_ = nullptr;
    }
    broken_ = true;
    return fail(s, what, why);
  }
  status fail(status s, char const* what, char const* why) noexcept {
    try {
      err_ = std::string("nccl_net (rank ") + std::to_string(rank_) + "): " + what + (why[0] == ':' ? "" : ": ") + why;
    } catch (...) {
    }
    return s;
  }

  nccl_net_options o_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int rank_ = -1, size_ = 0;
  bool owns_comm_ = false, owns_stream_ = false, broken_ = false;
  std::string err_;
};

} // namespace weft
#endif
