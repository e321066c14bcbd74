#pragma once
//! \file
//! Virtual ranks on one GPU: `nranks` ranks as partitions of a single device,
//! each rank-channel pair one CTA of a single cooperative launch, running the
//! same algorithm source as the CPU team (`weft/algorithm/ring.hpp` over
//! `weft::prims` with `cuda_cta` groups). Used by the GPU test suite and the
//! GPU benchmarks; the multi-GPU communicator builds on the same kernels.
//!
//! Every rank's buffers are device pointers on the current device. Ring
//! connections for every protocol and channel live in device memory allocated
//! at creation (`scratch_bytes()` reports it). A failed wait is recorded per
//! rank and channel; `last_status()` reads it back after the stream is synchronised,
//! and once it has reported a failure the communicator refuses further calls
//! (`status::aborted`): make a new one.
//!
//! CUDA graphs: a call adds two kernel launches and a memset to the stream (the
//! ranks' buffer pointers travel as a kernel argument into a small device table,
//! then the collective), so calls can be captured and replayed. The first call
//! of a recursive, tree or hierarchical all-reduce makes the point-to-point
//! connections (device allocations): make it once before capturing.

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/deterministic.hpp>
#include <weft/algorithm/hierarchical.hpp>
#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/algorithm/tree.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/group/cuda_groups.cuh>
#include <weft/prims/describe.hpp>
#include <weft/prims/prims.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/runtime/vrank_pointers.cuh>
#include <cuda_runtime.h>
#include <string>
#include <vector>

namespace weft {

//! How a virtual-rank communicator is built.
struct vrank_config {
  int max_channels = 4;
  int nslots = 8;
  std::size_t simple_slot_bytes = 128 << 10;
  std::size_t ll_slot_bytes = 16 << 10;
  std::size_t ll128_slot_bytes = 64 << 10;
  int threads = 512;                              //!< threads per CTA (one CTA per rank and channel)
  std::uint64_t timeout_ns = 10'000'000'000ull;   //!< bound of every device-side wait
  std::size_t slot_bytes(protocol p) const {
    return p == protocol::simple ? simple_slot_bytes : p == protocol::ll ? ll_slot_bytes : ll128_slot_bytes;
  }
};

//! Per-call choices (same meaning as on the CPU team).
struct vrank_options {
  algorithm algo = algorithm::ring; //!< all-reduce only: ring, recursive_doubling, rabenseifner
  protocol proto = protocol::simple;
  int nchannels = 1;
  bool direct = false;
  int ring_local = 0; //!< the ring family: ranks per node of the rail-rotated ring (`ring_order`); 0: plain
  //! all_reduce_with<algorithm::hierarchical>: team sizes and the outermost level's
  //! algorithm (inner 0: hier_layout::automatic); nranks must be a multiple of inner * middle.
  hier_layout hier{};
};

namespace detail {

template <class T>
struct vrank_args {
  T const* const* send; //!< device array: rank r's send buffer
  T* const* recv;       //!< device array: rank r's recv buffer
  std::size_t count;
  int nranks;
  int nchannels;
  int root;
  bool direct;
  int ring_local;       //!< ring_order::local of the ring kernels
  hier_shape hier;      //!< the levels of a hierarchical all-reduce
  algorithm hier_outer, hier_within;
  connection* conns;    //!< [nchannels_max][nranks]: sender r's ring connection (to its next rank), this protocol
  connection* pairs;    //!< [nchannels_max][nranks][nranks]: sender -> receiver, this protocol (or null)
  int max_channels;
  wait_error* errors;   //!< [nranks][max_channels]
  wait_bound bound;
};

// Prims to any peer for the recursive algorithms: one CTA = one rank and channel.
template <class Op, protocol P>
struct vrank_net {
  vrank_args<typename Op::value_type> const& a;
  Op const& op;
  int rank, ch;
  cuda_cta& g;
  //! f(prims&) receiving from `recv_peer` and sending to `send_peer` (either may be -1: none).
  template <class F>
  WEFT_DEVICE status with_peers(int recv_peer, int send_peer, F&& f) {
    int const n = a.nranks;
    connection rc{}, sc{};
    if (recv_peer >= 0) rc = a.pairs[(ch * n + recv_peer) * n + rank];
    if (send_peer >= 0) sc = a.pairs[(ch * n + rank) * n + send_peer];
    prims_context ctx{rank, ch, coll_kind::all_reduce, a.bound, &a.errors[rank * a.max_channels + ch]};
    prims<Op, P, cuda_cta> p(g, op, recv_peer >= 0 ? &rc : nullptr, send_peer >= 0 ? &sc : nullptr, ctx);
    status const s = f(p);
    p.finish();
    return s;
  }
  template <class F>
  WEFT_DEVICE status with_peer(int peer, F&& f) {
    return with_peers(peer, peer, static_cast<F&&>(f));
  }
  template <class F>
  WEFT_DEVICE status local(F&& f) {
    prims_context ctx{rank, ch, coll_kind::all_reduce, a.bound, &a.errors[rank * a.max_channels + ch]};
    prims<Op, P, cuda_cta> p(g, op, nullptr, nullptr, ctx);
    return f(p);
  }
};

template <algorithm Algo, protocol P, class Op>
__global__ void __launch_bounds__(512) vrank_recursive_kernel(Op op, vrank_args<typename Op::value_type> a) {
  int const rank = int(blockIdx.x) / a.nchannels;
  int const ch = int(blockIdx.x) % a.nchannels;
  cuda_cta g;
  vrank_net<Op, P> net{a, op, rank, ch, g};
  ring_position const pos{rank, a.nranks};
  elem_range const r = partition(a.count, a.nchannels, ch);
  if constexpr (Algo == algorithm::recursive_doubling)
    (void)recursive_doubling_all_reduce(net, pos, a.send[rank], a.recv[rank], r);
  else if constexpr (Algo == algorithm::rabenseifner)
    (void)rabenseifner_all_reduce(net, pos, a.send[rank], a.recv[rank], r);
  else if constexpr (Algo == algorithm::tree)
    (void)tree_all_reduce(net, pos, a.send[rank], a.recv[rank], r);
  else if constexpr (Algo == algorithm::hierarchical)
    (void)hier_all_reduce(net, a.hier, a.hier_outer, rank, a.send[rank], a.recv[rank], r, a.hier_within);
  else { // rank order (the deterministic mode) around the ring, over point-to-point connections
    static_assert(Algo == algorithm::rank_order, "no virtual-rank kernel for this algorithm");
    int const n = a.nranks;
    (void)net.with_peers(mod(rank - 1, n), mod(rank + 1, n), [&](auto& p) {
      return rank_order_all_reduce(p, pos, a.send[rank], a.recv[rank], r);
    });
  }
}

template <coll_kind Coll, protocol P, class Op>
__global__ void __launch_bounds__(512) vrank_ring_kernel(Op op, vrank_args<typename Op::value_type> a) {
  using T = typename Op::value_type;
  int const rank = int(blockIdx.x) / a.nchannels;
  int const ch = int(blockIdx.x) % a.nchannels;
  int const n = a.nranks;
  cuda_cta g;
  // Channel ch's ring order: sender s's connection goes to s's next rank on this channel.
  ring_position const pos{rank, n, ring_order{a.ring_local, ch}};
  connection recv_c = a.conns[ch * n + pos.order.prev(rank, n)];
  connection send_c = a.conns[ch * n + rank];
  recv_c.sender = pos.order.prev(rank, n); // for error reports
  send_c.receiver = pos.order.next(rank, n);
  if (a.direct) send_c.direct_buf = a.recv[pos.order.next(rank, n)];
  prims_context ctx{rank, ch, Coll, a.bound, &a.errors[rank * a.max_channels + ch]};
  prims<Op, P, cuda_cta> p(g, op, &recv_c, &send_c, ctx);
  T const* in = a.send[rank];
  T* out = a.recv[rank];
  status s = status::success;
  if constexpr (Coll == coll_kind::all_reduce) {
    s = ring_all_reduce(p, pos, in, out, partition(a.count, a.nchannels, ch));
  } else if constexpr (Coll == coll_kind::all_gather) {
    elem_range const r = partition(a.count, a.nchannels, ch);
    if constexpr (P == protocol::simple) {
      if (a.direct) s = ring_all_gather_direct(p, pos, in, out, a.count, r);
      else s = ring_all_gather(p, pos, in, out, a.count, r);
    } else {
      s = ring_all_gather(p, pos, in, out, a.count, r);
    }
  } else if constexpr (Coll == coll_kind::reduce_scatter) {
    s = ring_reduce_scatter(p, pos, in, out, a.count, partition(a.count, a.nchannels, ch));
  } else if constexpr (Coll == coll_kind::broadcast) {
    s = chain_broadcast(p, pos, a.root, in, out, partition(a.count, a.nchannels, ch));
  } else if constexpr (Coll == coll_kind::reduce) {
    s = chain_reduce(p, pos, a.root, in, out, partition(a.count, a.nchannels, ch));
  }
  (void)s; // a failure is in a.errors
  p.finish();
}

} // namespace detail

//! Ring connections for `nranks` virtual ranks on the current device.
class vrank_comm {
public:
  vrank_comm() = default;
  vrank_comm(vrank_comm const&) = delete;
  vrank_comm& operator=(vrank_comm const&) = delete;
  ~vrank_comm() { destroy(); }

  //! Allocate and zero the connection memory. Returns a status; nothing is held on failure.
  status init(int nranks, vrank_config cfg = {}) {
    destroy();
    if (nranks < 1 || nranks > vrank_max_ranks || cfg.max_channels < 1 || cfg.nslots < 2 || cfg.threads < 32 ||
        cfg.threads > 512 || cfg.threads % 32 != 0)
      return status::invalid_argument;
    for (int pi = 0; pi < protocol_count; ++pi)
      if (!valid_slot_bytes(protocol(pi), cfg.slot_bytes(protocol(pi)))) return status::invalid_argument;
    n_ = nranks;
    cfg_ = cfg;
    std::vector<connection> host;
    for (int pi = 0; pi < protocol_count; ++pi) {
      protocol const p = protocol(pi);
      std::size_t const bytes = align_up(connection_bytes(cfg.nslots, cfg.slot_bytes(p)), 256);
      std::size_t const total = bytes * std::size_t(cfg.max_channels) * std::size_t(n_);
      void* mem = nullptr;
      if (cudaMalloc(&mem, total) != cudaSuccess) return fail_init(status::out_of_memory);
      mem_[pi] = mem;
      scratch_ += total;
      if (cudaMemset(mem, 0, total) != cudaSuccess) return fail_init(status::cuda_error);
      for (int ch = 0; ch < cfg.max_channels; ++ch)
        for (int s = 0; s < n_; ++s)
          host.push_back(make_connection(static_cast<unsigned char*>(mem) + (std::size_t(ch) * std::size_t(n_) + std::size_t(s)) * bytes,
                                         p, cfg.nslots, cfg.slot_bytes(p), s, (s + 1) % n_));
    }
    std::size_t const cbytes = host.size() * sizeof(connection);
    std::size_t const ebytes = std::size_t(n_) * std::size_t(cfg.max_channels) * sizeof(wait_error);
    if (cudaMalloc(&conns_, cbytes) != cudaSuccess || cudaMalloc(&errors_, ebytes) != cudaSuccess ||
        cudaMalloc(&ptrs_, 2 * std::size_t(n_) * sizeof(void*)) != cudaSuccess)
      return fail_init(status::out_of_memory);
    if (cudaMemcpy(conns_, host.data(), cbytes, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemset(errors_, 0, ebytes) != cudaSuccess)
      return fail_init(status::cuda_error);
    scratch_ += cbytes + ebytes;
    return status::success;
  }

  int size() const noexcept { return n_; }
  //! Device bytes held: connections (slots and counters), descriptors and error records.
  std::size_t scratch_bytes() const noexcept { return scratch_; }

  template <class T, class Op>
  status all_reduce(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t count, Op const& op,
                    vrank_options o = {}, cudaStream_t stream = 0) {
    if (o.algo != algorithm::ring) {
      if (o.algo != algorithm::recursive_doubling && o.algo != algorithm::rabenseifner)
        return unsigned(o.algo) >= unsigned(algorithm_count) ? status::invalid_argument : status::unsupported;
      if (status s = make_pairs(); s != status::success) return s;
    }
    return launch<coll_kind::all_reduce>(op, send, recv, count, 0, o, stream);
  }
  //! All-reduce with an algorithm fixed at compile time: `algorithm::tree`,
  //! `algorithm::rank_order` (the deterministic mode) or `algorithm::hierarchical`
  //! (levels from `o.hier`; a layout that does not fit returns `unsupported`),
  //! which `all_reduce` does not compile in (each is a kernel per protocol and
  //! type); the others as `all_reduce`.
  template <algorithm Algo, class T, class Op>
  status all_reduce_with(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t count,
                         Op const& op, vrank_options o = {}, cudaStream_t stream = 0) {
    static_assert(Algo == algorithm::ring || Algo == algorithm::recursive_doubling || Algo == algorithm::rabenseifner ||
                      Algo == algorithm::tree || Algo == algorithm::rank_order || Algo == algorithm::hierarchical,
                  "no virtual-rank kernel for this algorithm");
    o.algo = Algo;
    if constexpr (Algo == algorithm::tree || Algo == algorithm::rank_order || Algo == algorithm::hierarchical) {
      if (status s = make_pairs(); s != status::success) return s;
      return launch<coll_kind::all_reduce>(op, send, recv, count, 0, o, stream,
                                           reinterpret_cast<void const*>(&detail::vrank_recursive_kernel<Algo, protocol::simple, Op>),
                                           reinterpret_cast<void const*>(&detail::vrank_recursive_kernel<Algo, protocol::ll, Op>),
                                           reinterpret_cast<void const*>(&detail::vrank_recursive_kernel<Algo, protocol::ll128, Op>));
    } else {
      return all_reduce(send, recv, count, op, o, stream);
    }
  }
  template <class T>
  status all_gather(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t sendcount,
                    vrank_options o = {}, cudaStream_t stream = 0) {
    return launch<coll_kind::all_gather>(op::sum<T>{}, send, recv, sendcount, 0, o, stream);
  }
  template <class T, class Op>
  status reduce_scatter(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t recvcount,
                        Op const& op, vrank_options o = {}, cudaStream_t stream = 0) {
    return launch<coll_kind::reduce_scatter>(op, send, recv, recvcount, 0, o, stream);
  }
  template <class T>
  status broadcast(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t count, int root,
                   vrank_options o = {}, cudaStream_t stream = 0) {
    return launch<coll_kind::broadcast>(op::sum<T>{}, send, recv, count, root, o, stream);
  }
  template <class T, class Op>
  status reduce(std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t count, int root,
                Op const& op, vrank_options o = {}, cudaStream_t stream = 0) {
    return launch<coll_kind::reduce>(op, send, recv, count, root, o, stream);
  }

  //! After the stream is synchronised: the first recorded failure (status::success if none), and its text.
  status last_status(std::string* text = nullptr) {
    std::vector<wait_error> e(std::size_t(n_) * std::size_t(cfg_.max_channels));
    if (!errors_ || cudaMemcpy(e.data(), errors_, e.size() * sizeof(wait_error), cudaMemcpyDeviceToHost) != cudaSuccess) {
      if (text) *text = "could not read the error records";
      return status::cuda_error;
    }
    for (auto const& x : e)
      if (x.st != status::success) {
        if (text) *text = describe(x);
        broken_ = true; // step counters may now disagree between ranks
        return x.st;
      }
    if (text) *text = "no error";
    return status::success;
  }

private:
  int n_ = 0;
  vrank_config cfg_{};
  void* mem_[protocol_count] = {};
  void* pair_mem_[protocol_count] = {};
  connection* pairs_ = nullptr;
  connection* conns_ = nullptr;
  wait_error* errors_ = nullptr;
  void** ptrs_ = nullptr;
  std::size_t scratch_ = 0;
  bool broken_ = false;

  // Point-to-point connections between every ordered pair, made on the first
  // recursive all-reduce (n*(n-1) per channel and protocol; counted in scratch_bytes()).
  status make_pairs() {
    if (pairs_) return status::success;
    std::vector<connection> host(std::size_t(protocol_count) * std::size_t(cfg_.max_channels) * std::size_t(n_) *
                                 std::size_t(n_));
    for (int pi = 0; pi < protocol_count; ++pi) {
      protocol const p = protocol(pi);
      std::size_t const bytes = align_up(connection_bytes(cfg_.nslots, cfg_.slot_bytes(p)), 256);
      std::size_t const total = bytes * std::size_t(cfg_.max_channels) * std::size_t(n_) * std::size_t(n_);
      if (cudaMalloc(&pair_mem_[pi], total) != cudaSuccess) return status::out_of_memory;
      if (cudaMemset(pair_mem_[pi], 0, total) != cudaSuccess) return status::cuda_error;
      scratch_ += total;
      for (int ch = 0; ch < cfg_.max_channels; ++ch)
        for (int s = 0; s < n_; ++s)
          for (int r = 0; r < n_; ++r) {
            std::size_t const i = ((std::size_t(ch) * std::size_t(n_) + std::size_t(s)) * std::size_t(n_) + std::size_t(r));
            host[std::size_t(pi) * std::size_t(cfg_.max_channels) * std::size_t(n_) * std::size_t(n_) + i] =
                make_connection(static_cast<unsigned char*>(pair_mem_[pi]) + i * bytes, p, cfg_.nslots,
                                cfg_.slot_bytes(p), s, r);
          }
    }
    std::size_t const cbytes = host.size() * sizeof(connection);
    if (cudaMalloc(&pairs_, cbytes) != cudaSuccess) return status::out_of_memory;
    if (cudaMemcpy(pairs_, host.data(), cbytes, cudaMemcpyHostToDevice) != cudaSuccess) return status::cuda_error;
    scratch_ += cbytes;
    return status::success;
  }

  status fail_init(status s) {
    destroy();
    return s;
  }
  void destroy() {
    for (auto& m : mem_) {
      if (m) cudaFree(m);
      m = nullptr;
    }
    for (auto& m : pair_mem_) {
      if (m) cudaFree(m);
      m = nullptr;
    }
    if (pairs_) cudaFree(pairs_);
    pairs_ = nullptr;
    if (conns_) cudaFree(conns_);
    if (errors_) cudaFree(errors_);
    if (ptrs_) cudaFree(ptrs_);
    conns_ = nullptr;
    errors_ = nullptr;
    ptrs_ = nullptr;
    scratch_ = 0;
    n_ = 0;
    broken_ = false;
  }

  // `kernels`: the kernel per protocol (simple, ll, ll128) when the caller chose it; else by collective and algorithm.
  template <coll_kind Coll, class Op, class T = typename Op::value_type>
  status launch(Op const& op, std::vector<T const*> const& send, std::vector<T*> const& recv, std::size_t count,
                int root, vrank_options const& o, cudaStream_t stream, void const* k_simple = nullptr,
                void const* k_ll = nullptr, void const* k_ll128 = nullptr) {
    if (n_ < 1) return status::invalid_argument;
    if (broken_) return status::aborted; // an earlier collective failed: make a new communicator
    if (send.size() != std::size_t(n_) || recv.size() != std::size_t(n_)) return status::invalid_argument;
    if (o.nchannels < 1 || o.nchannels > cfg_.max_channels || root < 0 || root >= n_) return status::invalid_argument;
    if (o.direct && (o.proto != protocol::simple || Coll != coll_kind::all_gather)) return status::unsupported;
    if (ring_local_problem(o.ring_local, n_)) return status::invalid_argument;
    for (int r = 0; r < n_; ++r)
      if (count > 0 && ((!send[std::size_t(r)] && (Coll != coll_kind::broadcast || r == root)) ||
                        (!recv[std::size_t(r)] && (Coll != coll_kind::reduce || r == root))))
        return status::invalid_argument;
    if (detail::bind_vrank_pointers(ptrs_, send, recv, nullptr, nullptr, 0, stream) != cudaSuccess) return status::cuda_error;
    if (cudaMemsetAsync(errors_, 0, std::size_t(n_) * std::size_t(cfg_.max_channels) * sizeof(wait_error), stream) !=
        cudaSuccess)
      return status::cuda_error;
    detail::vrank_args<T> a{reinterpret_cast<T const* const*>(ptrs_), reinterpret_cast<T* const*>(ptrs_ + n_), count, n_,
                            o.nchannels, root, o.direct, o.algo == algorithm::ring ? o.ring_local : 0, hier_shape{},
                            o.hier.outer, o.hier.within, nullptr, nullptr, cfg_.max_channels, errors_,
                            wait_bound{cfg_.timeout_ns, nullptr}};
    if (o.algo == algorithm::hierarchical) {
      hier_layout const l = o.hier.resolved(n_);
      if (!hier_shape::of(l, n_, a.hier)) return status::unsupported; // the layout does not fit n ranks
      a.hier_outer = l.outer;
      a.hier_within = l.within;
    }
    dim3 const grid(unsigned(n_ * o.nchannels)), block(unsigned(cfg_.threads));
    cudaError_t e = cudaSuccess;
    auto go = [&](auto proto_tag) {
      constexpr protocol P = decltype(proto_tag)::value;
      a.conns = conns_ + std::size_t(int(P)) * std::size_t(cfg_.max_channels) * std::size_t(n_);
      a.pairs = pairs_ ? pairs_ + std::size_t(int(P)) * std::size_t(cfg_.max_channels) * std::size_t(n_) * std::size_t(n_)
                       : nullptr;
      Op op_copy = op;
      void* args[] = {&op_copy, &a};
      void const* fn = reinterpret_cast<void const*>(&detail::vrank_ring_kernel<Coll, P, Op>);
      if constexpr (Coll == coll_kind::all_reduce) {
        if (o.algo == algorithm::recursive_doubling)
          fn = reinterpret_cast<void const*>(&detail::vrank_recursive_kernel<algorithm::recursive_doubling, P, Op>);
        else if (o.algo == algorithm::rabenseifner)
          fn = reinterpret_cast<void const*>(&detail::vrank_recursive_kernel<algorithm::rabenseifner, P, Op>);
      }
      if (void const* chosen = P == protocol::simple ? k_simple : P == protocol::ll ? k_ll : k_ll128) fn = chosen;
      // Cooperative: every rank's CTA must be resident at once (they wait on each other).
      e = cudaLaunchCooperativeKernel(fn, grid, block, args, 0, stream);
    };
    switch (o.proto) {
      case protocol::ll: go(cuda::std::integral_constant<protocol, protocol::ll>{}); break;
      case protocol::ll128: go(cuda::std::integral_constant<protocol, protocol::ll128>{}); break;
      default: go(cuda::std::integral_constant<protocol, protocol::simple>{}); break;
    }
    if (e == cudaErrorCooperativeLaunchTooLarge) return status::unsupported;
    return e == cudaSuccess ? status::success : status::cuda_error;
  }
};

} // namespace weft
