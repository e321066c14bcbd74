#pragma once
//! \file
//! One schedule step as one prims call: the part of a schedule interpreter
//! that is the same on the CPU team and on a GPU. Host-device; the caller
//! builds the prims for the step's connections, resolves the buffers and
//! handles dependencies and progress.

#include <weft/core/config.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/core/status.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <cuda/std/cstddef>

namespace weft::sim {

//! What a step asks of its prims (a schedule `step` without its bookkeeping).
struct step_call {
  step_op op = step_op::nop;
  bool pre = true;
  bool post = false;
  bool direct = false;
  cuda::std::size_t count = 0;
  cuda::std::size_t peer_offset = 0;
};

//! Run `c` over prims `pr` (protocol `Prims::proto`) with own data `src` and
//! destination `dst`; `g` and `op` serve the local `reduce` op, which has no prim.
template <class Prims, class Group, class Op, class T>
WEFT_HOST_DEVICE status run_step(Prims& pr, Group& g, Op const& op, step_call const& c, T* src, T* dst) {
  cuda::std::size_t const n = c.count;
  constexpr bool simple = Prims::proto == protocol::simple;
  switch (c.op) {
    case step_op::send:
      if constexpr (simple)
        if (c.direct) return pr.direct_send(src, c.peer_offset, n);
      return pr.send(src, n, c.pre);
    case step_op::recv:
      if constexpr (simple)
        if (c.direct) return pr.direct_recv(n);
      return pr.recv(dst, n);
    case step_op::recv_reduce_send: return pr.recv_reduce_send(src, n, c.pre);
    case step_op::recv_reduce_copy: return pr.recv_reduce_copy(src, dst, n, c.post, c.pre);
    case step_op::recv_copy_send:
      if constexpr (simple)
        if (c.direct) return pr.direct_recv_copy_send(src, c.peer_offset, n);
      return pr.recv_copy_send(dst, n);
    case step_op::recv_reduce_copy_send: return pr.recv_reduce_copy_send(src, dst, n, c.post, c.pre);
    case step_op::copy_send:
      if constexpr (simple)
        if (c.direct) return pr.direct_copy_send(src, dst, c.peer_offset, n);
      return pr.copy_send(src, dst, n);
    case step_op::local: return pr.reduce_local(src, dst, n, c.post, c.pre);
    case step_op::reduce:
      reduce_copy(g, op, ptr_list<T const, 2>{{dst, src}, 2}, ptr_list<T, 1>{{dst}, 1}, n,
                  reduce_copy_flags{c.pre ? 2u : 0u, c.post});
      return status::success;
    case step_op::nop: return status::success;
    default: break; // one-sided and multicast steps: the interpreter runs them itself
  }
  return status::unsupported;
}

} // namespace weft::sim
