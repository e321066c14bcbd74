#pragma once
//! \file
//! Stream-ordered collectives on a `weft::comm`: one kernel launch per call on
//! this rank's stream, one CTA per channel, running the same algorithm source
//! as the CPU team and the virtual-rank harness (`algorithm/ring.hpp`,
//! `algorithm/recursive.hpp` over `weft::prims` with `cuda_cta` groups).
//!
//! Two forms of each collective:
//! ```
//! weft::all_reduce(comm, send, recv, count, weft::dtype::bf16, weft::redop_desc{weft::redop::sum}, stream);
//! weft::all_reduce(comm, send_f, recv_f, count, weft::op::sum<float>{}, stream);   // typed
//! ```
//! Both take `call_options` last (algorithm -- `algorithm::nvls` over the
//! communicator's multicast window for all-reduce, all-gather and reduce-scatter
//! --, protocol, channels, direct, and for all-reduce a direct flavour over the
//! communicator's symmetric window):
//! what it leaves unset the communicator's selector chooses (runtime/call.hpp).
//!
//! The untyped form instantiates kernels for the reduction dtypes in
//! `WEFT_RUNTIME_DTYPES` and the operators in `WEFT_RUNTIME_REDOPS` (bit masks
//! over `dtype` and `redop`; default f32, f16, bf16 with sum, avg, min, max) --
//! every other pair returns `unsupported` before any CUDA call. All-gather and
//! broadcast move bytes (one set of kernels for every dtype, in both forms).
//! The typed form instantiates exactly the reductions it is called with.
//!
//! A call checks its arguments before any CUDA call (`run_call`): on bad input
//! it returns the status and launches nothing. It never allocates, copies or
//! exchanges handles: a launch is all it adds to the stream, so collectives
//! can be captured in a CUDA graph and replayed.

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/direct.hpp>
#include <weft/algorithm/hierarchical.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/algorithm/tree.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>
#include <weft/group/cuda_groups.cuh>
#include <weft/prims/prims.hpp>
#include <weft/runtime/call.hpp>
#include <weft/runtime/comm.cuh>
#include <weft/runtime/nvls_multimem.cuh>

#include <cuda_runtime_api.h>
#include <cuda/std/type_traits>
#include <type_traits>

#ifndef WEFT_RUNTIME_DTYPES
#  define WEFT_RUNTIME_DTYPES                                                                                  \
    ((1u << unsigned(::weft::dtype::f32)) | (1u << unsigned(::weft::dtype::f16)) | (1u << unsigned(::weft::dtype::bf16)))
#endif
//! 0: compile no point-to-point kernels (recursive doubling, Rabenseifner, tree
//! and hierarchical all-reduce: four of the five kernels of each all-reduce and
//! protocol; the hierarchical all-gather and reduce-scatter); calls then run the
//! ring, and asking for one of them returns `unsupported`.
#ifndef WEFT_RUNTIME_RECURSIVE
#  define WEFT_RUNTIME_RECURSIVE 1
#endif
//! 0: compile no direct all-reduce kernels (one per reduction, the flavour a
//! run-time argument); the communicator's window then serves nothing, the
//! policy never picks a direct flavour and asking for one returns `unsupported`.
#ifndef WEFT_RUNTIME_DIRECT
#  define WEFT_RUNTIME_DIRECT 1
#endif
//! 0: compile no NVLS kernels (all-reduce, all-gather, reduce-scatter over the
//! communicator's multicast window); `algorithm::nvls` then returns `unsupported`.
#ifndef WEFT_RUNTIME_NVLS
#  define WEFT_RUNTIME_NVLS 1
#endif
#ifndef WEFT_RUNTIME_REDOPS
#  define WEFT_RUNTIME_REDOPS                                                                                  \
    ((1u << unsigned(::weft::redop::sum)) | (1u << unsigned(::weft::redop::avg)) | (1u << unsigned(::weft::redop::min)) | \
     (1u << unsigned(::weft::redop::max)))
#endif

namespace weft {

namespace detail {

//! Kernel arguments of one rank's call (by value).
template <class T>
struct comm_args {
  T const* send;
  T* recv;
  cuda::std::size_t count;
  int rank, nranks, root, nchannels;
  int ring_local;          //!< ring_order::local of the ring kernels (comm_config::ring_local)
  connection const* ring;  //!< [channel][recv, send] of the call's protocol (each channel's own neighbours)
  connection const* pairs; //!< [channel][peer][recv, send] of the call's protocol, or null
  wait_error* errors;      //!< [channel]
  wait_bound bound;
  void* direct_buf;        //!< the next rank's output (direct all-gather), or null
  hier_shape hier{};       //!< hierarchical all-reduce: the levels
  algorithm hier_outer = algorithm::ring, hier_within = algorithm::ring;
  T* scratch = nullptr;    //!< hierarchical reduce-scatter: the caller's workspace (nranks x count)
};

template <coll_kind Coll, protocol P, class Op>
__global__ void __launch_bounds__(512) comm_ring_kernel(Op op, comm_args<typename Op::value_type> a) {
  using T = typename Op::value_type;
  int const ch = int(blockIdx.x);
  cuda_cta g;
  connection recv_c = a.ring[2 * ch];
  connection send_c = a.ring[2 * ch + 1];
  if (a.direct_buf) send_c.direct_buf = a.direct_buf;
  prims_context ctx{a.rank, ch, Coll, a.bound, &a.errors[ch]};
  prims<Op, P, cuda_cta> p(g, op, &recv_c, &send_c, ctx);
  ring_position const pos{a.rank, a.nranks, ring_order{a.ring_local, ch}};
  elem_range const r = partition(a.count, a.nchannels, ch);
  status s = status::success;
  if constexpr (Coll == coll_kind::all_reduce) {
    s = ring_all_reduce(p, pos, a.send, a.recv, r);
  } else if constexpr (Coll == coll_kind::all_gather) {
    if constexpr (P == protocol::simple) {
      if (a.direct_buf) s = ring_all_gather_direct(p, pos, a.send, a.recv, a.count, r);
      else s = ring_all_gather(p, pos, a.send, a.recv, a.count, r);
    } else {
      s = ring_all_gather(p, pos, a.send, a.recv, a.count, r);
    }
  } else if constexpr (Coll == coll_kind::reduce_scatter) {
    s = ring_reduce_scatter(p, pos, a.send, a.recv, a.count, r);
  } else if constexpr (Coll == coll_kind::broadcast) {
    s = chain_broadcast(p, pos, a.root, a.send, a.recv, r);
  } else {
    s = chain_reduce(p, pos, a.root, a.send, a.recv, r);
  }
  (void)s; // a failure is in a.errors
  p.finish();
}

// Point-to-point prims for the recursive all-reduce: one CTA = one channel of this rank.
template <class Op, protocol P>
struct comm_net {
  comm_args<typename Op::value_type> const& a;
  Op const& op;
  int ch;
  cuda_cta& g;
  coll_kind coll = coll_kind::all_reduce; //!< named in a failed wait's record
  //! Receive from `recv_peer` and send to `send_peer` in one prims (either may be -1).
  template <class F>
  WEFT_DEVICE status with_peers(int recv_peer, int send_peer, F&& f) {
    connection const* base = a.pairs + std::size_t(ch) * std::size_t(a.nranks) * 2;
    connection rc{}, sc{};
    if (recv_peer >= 0) rc = base[std::size_t(recv_peer) * 2];
    if (send_peer >= 0) sc = base[std::size_t(send_peer) * 2 + 1];
    prims_context ctx{a.rank, ch, coll, a.bound, &a.errors[ch]};
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
    prims_context ctx{a.rank, ch, coll, a.bound, &a.errors[ch]};
    prims<Op, P, cuda_cta> p(g, op, nullptr, nullptr, ctx);
    return f(p);
  }
};

//! All-to-all as bytes over the point-to-point connections: the pairwise
//! exchange (algorithm/direct.hpp), `a.count` bytes per peer, split over channels.
template <protocol P>
__global__ void __launch_bounds__(512) comm_all_to_all_kernel(op::sum<cuda::std::uint8_t> op,
                                                              comm_args<cuda::std::uint8_t> a) {
  int const ch = int(blockIdx.x);
  cuda_cta g;
  comm_net<op::sum<cuda::std::uint8_t>, P> net{a, op, ch, g, coll_kind::all_to_all};
  ring_position const pos{a.rank, a.nranks};
  (void)pairwise_all_to_all(net, pos, a.send, a.recv, a.count, partition(a.count, a.nchannels, ch));
}

//! Hierarchical all-gather as bytes over the point-to-point connections:
//! outermost level first, then inward (algorithm/hierarchical.hpp), `a.count`
//! bytes per rank, split over channels.
template <protocol P>
__global__ void __launch_bounds__(512) comm_hier_all_gather_kernel(op::sum<cuda::std::uint8_t> op,
                                                                   comm_args<cuda::std::uint8_t> a) {
  int const ch = int(blockIdx.x);
  cuda_cta g;
  comm_net<op::sum<cuda::std::uint8_t>, P> net{a, op, ch, g, coll_kind::all_gather};
  (void)hier_all_gather(net, a.hier, a.rank, a.send, a.recv, a.count, partition(a.count, a.nchannels, ch));
}

//! Hierarchical reduce-scatter over the point-to-point connections: each level's
//! ring reduce-scatter, partial sums in the caller's workspace between levels
//! (algorithm/hierarchical.hpp), split over channels.
template <protocol P, class Op>
__global__ void __launch_bounds__(512) comm_hier_reduce_scatter_kernel(Op op, comm_args<typename Op::value_type> a) {
  int const ch = int(blockIdx.x);
  cuda_cta g;
  comm_net<Op, P> net{a, op, ch, g, coll_kind::reduce_scatter};
  (void)hier_reduce_scatter(net, a.hier, a.rank, a.send, a.recv, a.scratch, a.count, partition(a.count, a.nchannels, ch));
}

template <algorithm Algo, protocol P, class Op>
__global__ void __launch_bounds__(512) comm_recursive_kernel(Op op, comm_args<typename Op::value_type> a) {
  int const ch = int(blockIdx.x);
  cuda_cta g;
  comm_net<Op, P> net{a, op, ch, g};
  ring_position const pos{a.rank, a.nranks};
  elem_range const r = partition(a.count, a.nchannels, ch);
  if constexpr (Algo == algorithm::recursive_doubling)
    (void)recursive_doubling_all_reduce(net, pos, a.send, a.recv, r);
  else if constexpr (Algo == algorithm::tree)
    (void)tree_all_reduce(net, pos, a.send, a.recv, r);
  else if constexpr (Algo == algorithm::hierarchical)
    (void)hier_all_reduce(net, a.hier, a.hier_outer, a.rank, a.send, a.recv, r, a.hier_within);
  else
    (void)rabenseifner_all_reduce(net, pos, a.send, a.recv, r);
}

//! Direct all-reduce over the communicator's window (algorithm/direct.hpp): CTA b
//! runs window block b on `partition(count, gridDim.x, b)`. A failed wait is in
//! the window's failure record; a grid wider than the window records
//! invalid_argument in `*result` and does nothing.
template <class Op>
__global__ void __launch_bounds__(512) comm_direct_kernel(Op op, sym_view v, direct_flavour f,
                                                          typename Op::value_type const* in, typename Op::value_type* out,
                                                          cuda::std::size_t count, status* result) {
  if (int(gridDim.x) > v.nblocks) {
    if (threadIdx.x == 0) *result = status::invalid_argument;
    return;
  }
  cuda_cta g;
  int const b = int(blockIdx.x);
  status const s = direct_all_reduce_flavour(f, g, v, b, op, in, out, partition(count, int(gridDim.x), b));
  if (s == status::invalid_argument && threadIdx.x == 0) *result = s; // the window holds no element (waits record their own)
}

//! NVLS all-reduce, all-gather (as bytes) or reduce-scatter over the communicator's
//! multicast window (algorithm/nvls.hpp, runtime/nvls_multimem.cuh): CTA b runs
//! window block b on `partition(count, gridDim.x, b)`. Sums of fp32, bf16 and fp16
//! are reduced by the switch (multimem.ld_reduce), other reductions read every
//! rank's copy; stores go through multimem.st. A failed wait is in the window's
//! failure record; a grid wider than the window, or a window too small for one
//! piece per rank, records its status in `*result` and does nothing.
template <coll_kind Coll, class Op>
__global__ void __launch_bounds__(512) comm_nvls_kernel(Op op, multimem_multicast mc, typename Op::value_type const* in,
                                                        typename Op::value_type* out, cuda::std::size_t count,
                                                        status* result) {
  if (int(gridDim.x) > mc.v.nblocks) {
    if (threadIdx.x == 0) *result = status::invalid_argument;
    return;
  }
  cuda_cta g;
  int const b = int(blockIdx.x);
  elem_range const r = partition(count, int(gridDim.x), b);
  status s = status::success;
  if constexpr (Coll == coll_kind::all_reduce) s = nvls_all_reduce(g, mc, b, op, in, out, r);
  else if constexpr (Coll == coll_kind::all_gather) s = nvls_all_gather(g, mc, b, in, out, count, r);
  else s = nvls_reduce_scatter(g, mc, b, op, in, out, count, r);
  // The waits record their own failures; what is left is a window too small for the call.
  if ((s == status::invalid_argument || s == status::unsupported) && threadIdx.x == 0) *result = s;
}

//! Zero-copy NVLS over multicast symmetric memory (algorithm/nvls.hpp,
//! `nvls_zero_copy_*`): the data never enters the window; `mc` is this rank's
//! multicast address of the call's multicast buffer (recv for all-reduce and
//! all-gather, send for reduce-scatter), `mc_send` that of an out-of-place
//! all-reduce's send where it is multicast memory too (else null: send is
//! copied into recv first), and the window `w` lends its per-block counter
//! barriers. CTA b runs block b on `partition(count, gridDim.x, b)`.
//! The host checked `nvls_zero_copy_fits`. A failed wait is in the window's
//! failure record; a grid wider than the window records invalid_argument.
template <coll_kind Coll, class Op>
__global__ void __launch_bounds__(512)
    comm_nvls_zero_copy_kernel(Op op, multimem_multicast w, typename Op::value_type const* send,
                               typename Op::value_type* recv, unsigned char* mc, unsigned char* mc_send,
                               cuda::std::size_t count, status* result) {
  if (int(gridDim.x) > w.v.nblocks) {
    if (threadIdx.x == 0) *result = status::invalid_argument;
    return;
  }
  NV_IF_TARGET(NV_PROVIDES_SM_90, (
    cuda_cta g;
    int const b = int(blockIdx.x);
    elem_range const r = partition(count, int(gridDim.x), b);
    multimem_buffer const mb{mc};
    if constexpr (Coll == coll_kind::all_reduce) {
      // With send in multicast memory too (mc_send), the sums are read from the sends: no copy.
      multimem_buffer const from{mc_send ? mc_send : mc};
      (void)nvls_zero_copy_all_reduce(g, w, from, mb, mc_send == nullptr, b, op, send, recv, r);
    }
    else if constexpr (Coll == coll_kind::all_gather) (void)nvls_zero_copy_all_gather(g, w, mb, b, send, recv, count, r);
    else (void)nvls_zero_copy_reduce_scatter(g, w, mb, b, op, recv, count, r);
    // a failed wait is in the window's failure record
  ), (
    (void)send; (void)recv; (void)mc; (void)mc_send; (void)count; (void)op;
    if (threadIdx.x == 0) *result = status::unsupported;
  ))
}

//! This rank's multicast address for a zero-copy NVLS call of Coll, or null
//! where the call must be staged through the window (see comm_nvls_zero_copy_kernel).
template <coll_kind Coll, class Op>
unsigned char* nvls_zero_copy_address(comm const& c, void const* send, void* recv, std::size_t count) {
  using T = typename Op::value_type;
  std::size_t const bytes = count * sizeof(T), n = std::size_t(c.size());
  void const* const buffer = Coll == coll_kind::reduce_scatter ? send : recv;
  if (!c.nvls_ready() || !nvls_zero_copy_fits<Coll, Op>(bytes, buffer)) return nullptr;
  if constexpr (Coll == coll_kind::reduce_scatter) return static_cast<unsigned char*>(c.multicast_address(send, bytes * n));
  else if constexpr (Coll == coll_kind::all_gather) return static_cast<unsigned char*>(c.multicast_address(recv, bytes * n));
  else return static_cast<unsigned char*>(c.multicast_address(recv, bytes));
}

//! Launch the kernel of (Coll, plan) for Op. Only after every check passed.
template <coll_kind Coll, class Op>
status launch(comm const& c, launch_plan const& plan, Op const& op, void const* send, void* recv, std::size_t count,
              int root, cudaStream_t stream, void* scratch = nullptr) {
  using T = typename Op::value_type;
  if constexpr (Coll == coll_kind::all_reduce && WEFT_RUNTIME_DIRECT) {
    if (plan.flavour) {
      Op op_copy = op;
      sym_view v = c.direct_view();
      direct_flavour fl = *plan.flavour;
      T const* in = static_cast<T const*>(send);
      T* out = static_cast<T*>(recv);
      cuda::std::size_t n = count;
      status* res = c.direct_status();
      void* args[] = {&op_copy, &v, &fl, &in, &out, &n, &res};
      cudaError_t const e = cudaLaunchKernel(reinterpret_cast<void const*>(&comm_direct_kernel<Op>), dim3(unsigned(plan.nchannels)),
                                             dim3(unsigned(c.config().threads)), args, 0, stream);
      return e == cudaSuccess ? status::success : status::cuda_error;
    }
  }
  if constexpr ((Coll == coll_kind::all_reduce || Coll == coll_kind::all_gather || Coll == coll_kind::reduce_scatter) &&
                WEFT_RUNTIME_NVLS) {
    if (plan.algo == algorithm::nvls) {
      Op op_copy = op;
      multimem_multicast mc = c.nvls_object();
      T const* in = static_cast<T const*>(send);
      T* out = static_cast<T*>(recv);
      cuda::std::size_t n = count;
      status* res = c.nvls_launch_status();
      if (unsigned char* zc = nvls_zero_copy_address<Coll, Op>(c, send, recv, count)) {
        // An out-of-place all-reduce whose send is aligned multicast memory too copies nothing.
        unsigned char* zc_send = nullptr;
        if (Coll == coll_kind::all_reduce && send != recv && nvls_vector_aligned(send))
          zc_send = static_cast<unsigned char*>(c.multicast_address(send, count * sizeof(T)));
        c.note_nvls_path(true, Coll == coll_kind::all_reduce && send != recv && zc_send == nullptr);
        void* zargs[] = {&op_copy, &mc, &in, &out, &zc, &zc_send, &n, &res};
        cudaError_t const e =
            cudaLaunchKernel(reinterpret_cast<void const*>(&comm_nvls_zero_copy_kernel<Coll, Op>), dim3(unsigned(plan.nchannels)),
                             dim3(unsigned(c.config().threads)), zargs, 0, stream);
        return e == cudaSuccess ? status::success : status::cuda_error;
      }
      c.note_nvls_path(false);
      void* args[] = {&op_copy, &mc, &in, &out, &n, &res};
      cudaError_t const e = cudaLaunchKernel(reinterpret_cast<void const*>(&comm_nvls_kernel<Coll, Op>),
                                             dim3(unsigned(plan.nchannels)), dim3(unsigned(c.config().threads)), args, 0, stream);
      return e == cudaSuccess ? status::success : status::cuda_error;
    }
  }
  comm_args<T> a{static_cast<T const*>(send), static_cast<T*>(recv), count, c.rank(), c.size(), root, plan.nchannels,
                 c.config().ring_local, c.ring_connections(plan.proto), c.pair_connections(plan.proto), c.error_records(), c.bound(), nullptr};
  if (plan.direct) a.direct_buf = c.peer_address(recv, count * sizeof(T) * std::size_t(c.size()), (c.rank() + 1) % c.size());
  if (plan.algo == algorithm::hierarchical) {
    if (!hier_shape::of(plan.hier, c.size(), a.hier)) return status::internal_error; // plan_call checked it
    a.hier_outer = plan.hier.outer;
    a.hier_within = plan.hier.within;
    a.scratch = static_cast<T*>(scratch);
  }
  void const* fn = nullptr;
  auto pick = [&](auto proto_tag) {
    constexpr protocol P = decltype(proto_tag)::value;
    if constexpr (Coll == coll_kind::all_to_all) {
      fn = reinterpret_cast<void const*>(&comm_all_to_all_kernel<P>);
      return;
    } else {
      fn = reinterpret_cast<void const*>(&comm_ring_kernel<Coll, P, Op>);
    }
    if constexpr (Coll == coll_kind::all_gather && WEFT_RUNTIME_RECURSIVE) {
      if (plan.algo == algorithm::hierarchical) fn = reinterpret_cast<void const*>(&comm_hier_all_gather_kernel<P>);
    }
    if constexpr (Coll == coll_kind::reduce_scatter && WEFT_RUNTIME_RECURSIVE) {
      if (plan.algo == algorithm::hierarchical) fn = reinterpret_cast<void const*>(&comm_hier_reduce_scatter_kernel<P, Op>);
    }
    if constexpr (Coll == coll_kind::all_reduce && WEFT_RUNTIME_RECURSIVE) {
      if (plan.algo == algorithm::recursive_doubling)
        fn = reinterpret_cast<void const*>(&comm_recursive_kernel<algorithm::recursive_doubling, P, Op>);
      else if (plan.algo == algorithm::rabenseifner)
        fn = reinterpret_cast<void const*>(&comm_recursive_kernel<algorithm::rabenseifner, P, Op>);
      else if (plan.algo == algorithm::tree)
        fn = reinterpret_cast<void const*>(&comm_recursive_kernel<algorithm::tree, P, Op>);
      else if (plan.algo == algorithm::hierarchical)
        fn = reinterpret_cast<void const*>(&comm_recursive_kernel<algorithm::hierarchical, P, Op>);
    }
  };
  switch (plan.proto) {
    case protocol::ll: pick(cuda::std::integral_constant<protocol, protocol::ll>{}); break;
    case protocol::ll128: pick(cuda::std::integral_constant<protocol, protocol::ll128>{}); break;
    default: pick(cuda::std::integral_constant<protocol, protocol::simple>{}); break;
  }
  Op op_copy = op;
  void* args[] = {&op_copy, &a};
  cudaError_t const e = cudaLaunchKernel(fn, dim3(unsigned(plan.nchannels)), dim3(unsigned(c.config().threads)), args, 0, stream);
  return e == cudaSuccess ? status::success : status::cuda_error;
}

//! The stream's device and capture state (the first CUDA calls of a collective).
//! The capture state comes first: while a stream is capturing, queries such as
//! cudaStreamGetDevice are among the calls the driver may refuse, and a refused
//! call invalidates the whole capture. So a capturing stream's device is left
//! unknown (-1: the device check is skipped; a stream of another device then
//! fails at the launch, with `cuda_error`, instead of being refused up front).
inline status query_stream(cudaStream_t stream, stream_facts& f) {
  cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &cs) != cudaSuccess) return stream ? status::invalid_argument : status::cuda_error;
  f.capturing = cs != cudaStreamCaptureStatusNone;
  f.device = -1;
  if (f.capturing) return status::success;
  if (stream) {
    if (cudaStreamGetDevice(stream, &f.device) != cudaSuccess) return status::invalid_argument; // not a live stream
  } else if (cudaGetDevice(&f.device) != cudaSuccess) {
    return status::cuda_error;
  }
  return status::success;
}

//! The redop a typed operator stands for (premul_sum and avg carry their own factor).
template <class Op>
struct redop_of;
template <class T>
struct redop_of<op::sum<T>> : cuda::std::integral_constant<redop, redop::sum> {};
template <class T>
struct redop_of<op::prod<T>> : cuda::std::integral_constant<redop, redop::prod> {};
template <class T>
struct redop_of<op::min<T>> : cuda::std::integral_constant<redop, redop::min> {};
template <class T>
struct redop_of<op::max<T>> : cuda::std::integral_constant<redop, redop::max> {};
template <class T>
struct redop_of<op::avg<T>> : cuda::std::integral_constant<redop, redop::avg> {};
template <class T>
struct redop_of<op::premul_sum<T>> : cuda::std::integral_constant<redop, redop::premul_sum> {};

//! Runs a checked call; `go(plan)` launches.
template <class Go>
status run(comm& c, coll_call const& k, cudaStream_t stream, std::uint32_t dtype_mask, std::uint32_t redop_mask, Go&& go) {
  comm_facts f = c.facts();
  f.recursive_ready = f.recursive_ready && WEFT_RUNTIME_RECURSIVE;
  if (!WEFT_RUNTIME_DIRECT) f.direct = {};
  if (!WEFT_RUNTIME_NVLS) f.nvls = {};
  f.dtype_mask = dtype_mask;
  f.redop_mask = redop_mask;
  call_result const r = run_call(
      f, k, [&](stream_facts& s) { return query_stream(stream, s); }, &c.config().selector,
      [&](launch_plan const& p) {
        // Launch on the communicator's device, and leave the caller's current device as it was.
        int prev = -1;
        if (cudaGetDevice(&prev) != cudaSuccess || (prev != c.device() && cudaSetDevice(c.device()) != cudaSuccess))
          return status::cuda_error;
        status const st = go(p);
        if (prev != c.device()) cudaSetDevice(prev);
        return st;
      });
  c.record_call(r.why);
  return r.st;
}

//! Typed entry: every check, then the launch of Coll for Op.
template <coll_kind Coll, class Op>
status typed_call(comm& c, typename Op::value_type const* send, typename Op::value_type* recv, std::size_t count, Op const& op,
                  int root, cudaStream_t stream, call_options const& o) {
  using T = typename Op::value_type;
  // A typed avg carries its own divisor: the descriptor only names the operator.
  coll_call const k{Coll, send, recv, count, dtype_of_v<T>, redop_desc{redop_of<Op>::value, 1.0, c.size()}, root, o};
  return run(c, k, stream, ~0u, ~0u, [&](launch_plan const& p) {
    if constexpr (!reduces(Coll)) // bytes: one set of kernels serves every element type
      return launch<Coll>(c, p, op::sum<std::uint8_t>{}, send, recv, count * sizeof(T), root, stream);
    else
      return launch<Coll>(c, p, op, send, recv, count, root, stream, o.scratch);
  });
}

//! Untyped entry: reductions dispatch over the compiled masks, copies move bytes.
template <coll_kind Coll>
status untyped_call(comm& c, void const* send, void* recv, std::size_t count, dtype type, redop_desc op, int root,
                    cudaStream_t stream, call_options const& o) {
  coll_call const k{Coll, send, recv, count, type, op, root, o};
  constexpr std::uint32_t dmask = WEFT_RUNTIME_DTYPES, omask = WEFT_RUNTIME_REDOPS;
  return run(c, k, stream, dmask, omask, [&](launch_plan const& p) -> status {
    if constexpr (!reduces(Coll)) {
      // Bytes: count * size of the dtype, as uint8.
      std::size_t const e = dtype_size(type);
      return launch<Coll>(c, p, op::sum<std::uint8_t>{}, send, recv, count * e, root, stream);
    } else {
      status st = status::unsupported;
      auto with_type = [&](auto tag) {
        using T = typename decltype(tag)::type;
        if constexpr ((dmask >> unsigned(dtype_of_v<T>)) & 1u) {
          dispatch_redop<T>(op, [&](auto const& o2) {
            if constexpr ((omask >> unsigned(redop_of<std::decay_t<decltype(o2)>>::value)) & 1u)
              st = launch<Coll>(c, p, o2, send, recv, count, root, stream, o.scratch);
          });
        }
      };
      dispatch_dtype(type, with_type);
      return st;
    }
  });
}

} // namespace detail

// ---- untyped collectives (dtype and redop at run time) ----
// (Templates only so that a translation unit that includes this header but
// never calls one does not instantiate their kernels.)

//! All-reduce `count` elements: recv = op over every rank's send.
template <class Untyped = void>
status all_reduce(comm& c, void const* send, void* recv, std::size_t count, dtype type, redop_desc op,
                         cudaStream_t stream, call_options const& o = {}) {
  return detail::untyped_call<coll_kind::all_reduce>(c, send, recv, count, type, op, 0, stream, o);
}
//! All-gather: rank r's `sendcount` elements land at recv + r * sendcount on every rank.
template <class Untyped = void>
status all_gather(comm& c, void const* send, void* recv, std::size_t sendcount, dtype type, cudaStream_t stream,
                         call_options const& o = {}) {
  return detail::untyped_call<coll_kind::all_gather>(c, send, recv, sendcount, type, {}, 0, stream, o);
}
//! Reduce-scatter: rank r receives block r (`recvcount` elements) of the reduction of every send.
template <class Untyped = void>
status reduce_scatter(comm& c, void const* send, void* recv, std::size_t recvcount, dtype type, redop_desc op,
                             cudaStream_t stream, call_options const& o = {}) {
  return detail::untyped_call<coll_kind::reduce_scatter>(c, send, recv, recvcount, type, op, 0, stream, o);
}
//! Broadcast `count` elements of root's send into every rank's recv.
template <class Untyped = void>
status broadcast(comm& c, void const* send, void* recv, std::size_t count, dtype type, int root,
                        cudaStream_t stream, call_options const& o = {}) {
  return detail::untyped_call<coll_kind::broadcast>(c, send, recv, count, type, {}, root, stream, o);
}
//! Reduce every rank's `count` elements into root's recv.
template <class Untyped = void>
status reduce(comm& c, void const* send, void* recv, std::size_t count, dtype type, redop_desc op, int root,
                     cudaStream_t stream, call_options const& o = {}) {
  return detail::untyped_call<coll_kind::reduce>(c, send, recv, count, type, op, root, stream, o);
}

//! All-to-all: block q (`count` elements) of this rank's send goes to rank q, and
//! block q of recv comes from rank q (send and recv: nranks x count elements,
//! not overlapping). Needs `comm_config::recursive_connections` (the
//! point-to-point connections); pairwise exchange, moved as bytes.
template <class Untyped = void>
status all_to_all(comm& c, void const* send, void* recv, std::size_t count, dtype type, cudaStream_t stream,
                  call_options const& o = {}) {
  return detail::untyped_call<coll_kind::all_to_all>(c, send, recv, count, type, {}, 0, stream, o);
}

// ---- typed collectives (element type and operator at compile time) ----

template <class T, class Op, class = std::enable_if_t<std::is_same<typename Op::value_type, T>::value>>
status all_reduce(comm& c, T const* send, T* recv, std::size_t count, Op const& op, cudaStream_t stream,
                  call_options const& o = {}) {
  return detail::typed_call<coll_kind::all_reduce>(c, send, recv, count, op, 0, stream, o);
}
template <class T, class = std::enable_if_t<has_dtype_v<T>>>
status all_gather(comm& c, T const* send, T* recv, std::size_t sendcount, cudaStream_t stream, call_options const& o = {}) {
  return detail::typed_call<coll_kind::all_gather>(c, send, recv, sendcount, op::sum<T>{}, 0, stream, o);
}
template <class T, class Op, class = std::enable_if_t<std::is_same<typename Op::value_type, T>::value>>
status reduce_scatter(comm& c, T const* send, T* recv, std::size_t recvcount, Op const& op, cudaStream_t stream,
                      call_options const& o = {}) {
  return detail::typed_call<coll_kind::reduce_scatter>(c, send, recv, recvcount, op, 0, stream, o);
}
template <class T, class = std::enable_if_t<has_dtype_v<T>>>
status broadcast(comm& c, T const* send, T* recv, std::size_t count, int root, cudaStream_t stream, call_options const& o = {}) {
  return detail::typed_call<coll_kind::broadcast>(c, send, recv, count, op::sum<T>{}, root, stream, o);
}
template <class T, class Op, class = std::enable_if_t<std::is_same<typename Op::value_type, T>::value>>
status reduce(comm& c, T const* send, T* recv, std::size_t count, Op const& op, int root, cudaStream_t stream,
              call_options const& o = {}) {
  return detail::typed_call<coll_kind::reduce>(c, send, recv, count, op, root, stream, o);
}
template <class T, class = std::enable_if_t<has_dtype_v<T>>>
status all_to_all(comm& c, T const* send, T* recv, std::size_t count, cudaStream_t stream, call_options const& o = {}) {
  return detail::typed_call<coll_kind::all_to_all>(c, send, recv, count, op::sum<T>{}, 0, stream, o);
}

} // namespace weft
