#pragma once
//! \file
//! The trace interpretation of the prims: the same member functions as
//! `weft::prims`, but instead of moving data each call appends the steps it
//! would take to a schedule. Running an algorithm (ring_all_reduce, ...) over
//! `trace_prims` for every rank and channel yields its schedule; nothing about
//! the algorithm is written twice.
//!
//! Buffers. Algorithms only do pointer arithmetic on their buffers, so the
//! tracer hands them fake base addresses and decodes each pointer it receives:
//! buffer `b` (input = 1, output = 2, scratch = 3) starts at address
//! `b << 40`; a pointer `p` means buffer `p >> 40`, element
//! `(p & (2^40 - 1)) / sizeof(T)`. The pointers are never dereferenced. A
//! pointer that is not derived from a trace buffer is an error (recorded, and
//! the call returns `status::invalid_argument`, which the algorithm propagates).
//!
//! Steps. Every prim cuts its `n` elements into steps of at most `step_elems()`
//! exactly like `prims::run` (a call with n == 0 makes no step);
//! `reduce_local` is one local step, as in the prims.

#include <weft/core/config.hpp>
#include <weft/core/status.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <nv/target>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

//! `stmt` on the host; `return status::unsupported;` in device code (tracing is host-only).
#define WEFT_TRACE_ON_HOST(stmt) NV_IF_ELSE_TARGET(NV_IS_HOST, (stmt), (return ::weft::status::unsupported;))

namespace weft::sim {

//! Bit position of the buffer tag in a traced pointer.
inline constexpr int trace_buffer_shift = 40;

//! The fake buffers a traced algorithm is given, and the decoding of pointers into them.
template <class T>
struct trace_buffers {
  //! Base address of buffer `b` (never dereferenced).
  static T* base(buf b) noexcept {
    return reinterpret_cast<T*>(std::uintptr_t(std::uintptr_t(b)) << trace_buffer_shift);
  }
  static T* input() noexcept { return base(buf::input); }
  static T* output() noexcept { return base(buf::output); }
  static T* scratch() noexcept { return base(buf::scratch); }
  //! Buffer and element offset of a pointer derived from a base; false when it is not one.
  static bool decode(T const* p, buf& b, std::size_t& offset) noexcept {
    std::uintptr_t const a = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t const tag = a >> trace_buffer_shift;
    std::uintptr_t const bytes = a & ((std::uintptr_t(1) << trace_buffer_shift) - 1);
    if (tag < std::uintptr_t(buf::input) || tag > std::uintptr_t(buf::scratch) || bytes % sizeof(T) != 0) return false;
    b = buf(tag);
    offset = std::size_t(bytes / sizeof(T));
    return true;
  }
};

//! Elements one step carries under protocol `p` with slots of `slot_bytes` (what `prims::step_elems()` returns).
inline std::size_t prims_step_elems(protocol p, std::size_t slot_bytes, std::size_t elem_bytes) noexcept {
  if (elem_bytes == 0) return 0;
  std::size_t e = slot_payload_bytes(p, slot_bytes) / elem_bytes;
  if (p == protocol::simple) e = e / 16 * 16;
  return e;
}

//! Smallest slot whose payload carries `elems` elements of `elem_bytes` under protocol `p`.
inline std::size_t slot_bytes_for(protocol p, std::size_t elems, std::size_t elem_bytes) noexcept {
  std::size_t const bytes = elems * elem_bytes;
  switch (p) {
    case protocol::simple: return bytes;
    case protocol::ll: return (bytes + ll_data_bytes - 1) / ll_data_bytes * ll_line_bytes;
    case protocol::ll128: return (bytes + ll128_data_bytes - 1) / ll128_data_bytes * ll128_line_bytes;
  }
  return bytes;
}

//! Where a `trace_prims` records: one rank's end of at most one incoming and one outgoing connection on one channel.
struct trace_site {
  int rank = 0;
  int channel = 0;
  int recv_peer = -1;         //!< -1: no incoming connection
  int send_peer = -1;         //!< -1: no outgoing connection
  std::size_t step_elems = 0; //!< elements per step (at least 1)
};

//! Prims that record steps. `T` only sets the element size of the pointer arithmetic.
template <class T>
class trace_prims {
public:
  using value_type = T;
  //! Simple, so that algorithms with direct forms (`if constexpr (proto == simple)`) can be traced;
  //! the protocol a schedule is cut for only changes `step_elems`.
  static constexpr protocol proto = protocol::simple;

  //! Steps are appended to `out`; the first error (if any) is stored in `*error`.
  trace_prims(std::vector<step>& out, trace_site site, std::string* error) : out_(out), site_(site), error_(error) {}

  // The members the algorithms call are host-device (the algorithms are), but
  // tracing happens on the host only: under nvcc the device side returns
  // `unsupported` without touching the recorder.
  WEFT_HOST_DEVICE std::size_t step_elems() const noexcept { return site_.step_elems; }
  WEFT_HOST_DEVICE void finish() noexcept {}
  //! Where this recorder writes (for `trace_net`, which makes recorders for other peers).
  std::vector<step>& steps_out() const noexcept { return out_; }
  trace_site const& site() const noexcept { return site_; }
  std::string* error_sink() const noexcept { return error_; }

  WEFT_HOST_DEVICE status send(T const* src, std::size_t n, bool pre = true) {
    WEFT_TRACE_ON_HOST(return emit(step_op::send, src, nullptr, n, false, false, 0, 0, pre);)
  }
  WEFT_HOST_DEVICE status recv(T* dst, std::size_t n) { WEFT_TRACE_ON_HOST(return emit(step_op::recv, nullptr, dst, n, false);) }
  WEFT_HOST_DEVICE status recv_reduce_send(T const* src, std::size_t n, bool pre = true) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv_reduce_send, src, nullptr, n, false, false, 0, 0, pre);)
  }
  WEFT_HOST_DEVICE status recv_reduce_copy(T const* src, T* dst, std::size_t n, bool post, bool pre = true) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv_reduce_copy, src, dst, n, post, false, 0, 0, pre);)
  }
  WEFT_HOST_DEVICE status recv_copy_send(T* dst, std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv_copy_send, nullptr, dst, n, false);)
  }
  WEFT_HOST_DEVICE status recv_reduce_copy_send(T const* src, T* dst, std::size_t n, bool post, bool pre = true) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv_reduce_copy_send, src, dst, n, post, false, 0, 0, pre);)
  }
  WEFT_HOST_DEVICE status copy_send(T const* src, T* dst, std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::copy_send, src, dst, n, false);)
  }
  WEFT_HOST_DEVICE status reduce_local(T const* src, T* dst, std::size_t n, bool post, bool pre = true) {
    WEFT_TRACE_ON_HOST(return n == 0 ? status::success : emit(step_op::local, src, dst, n, post, false, 0, n, pre);)
  }

  WEFT_HOST_DEVICE status direct_send(T const* src, std::size_t peer_offset, std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::send, src, nullptr, n, false, true, peer_offset);)
  }
  WEFT_HOST_DEVICE status direct_recv(std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv, nullptr, nullptr, n, false, true);)
  }
  WEFT_HOST_DEVICE status direct_recv_copy_send(T const* landed, std::size_t peer_offset, std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::recv_copy_send, landed, nullptr, n, false, true, peer_offset);)
  }
  WEFT_HOST_DEVICE status direct_copy_send(T const* src, T* dst, std::size_t peer_offset, std::size_t n) {
    WEFT_TRACE_ON_HOST(return emit(step_op::copy_send, src, dst, n, false, true, peer_offset);)
  }

private:
  std::vector<step>& out_;
  trace_site site_;
  std::string* error_;

  status fail(std::string const& why) {
    if (error_ && error_->empty())
      *error_ = "rank " + std::to_string(site_.rank) + " channel " + std::to_string(site_.channel) + ": " + why;
    return status::invalid_argument;
  }

  status emit(step_op op, T const* src, T* dst, std::size_t n, bool post, bool direct = false,
              std::size_t peer_offset = 0, std::size_t cap = 0, bool pre = true) {
    if (n == 0) return status::success;
    if (cap == 0) cap = site_.step_elems;
    if (cap == 0) return fail(std::string(to_string(op)) + " with a step size of 0 elements");
    buf sb = buf::none, db = buf::none;
    std::size_t so = 0, d_o = 0;
    if (src && !trace_buffers<T>::decode(src, sb, so))
      return fail(std::string(to_string(op)) + ": source pointer is not in a trace buffer");
    if (dst && !trace_buffers<T>::decode(dst, db, d_o))
      return fail(std::string(to_string(op)) + ": destination pointer is not in a trace buffer");
    if (op_receives(op) && site_.recv_peer < 0) return fail(std::string(to_string(op)) + " without an incoming connection");
    if (op_sends(op) && site_.send_peer < 0) return fail(std::string(to_string(op)) + " without an outgoing connection");
    for (std::size_t off = 0; off < n; off += cap) {
      step t;
      t.rank = site_.rank;
      t.channel = site_.channel;
      t.op = op;
      t.recv_peer = op_receives(op) ? site_.recv_peer : -1;
      t.send_peer = op_sends(op) ? site_.send_peer : -1;
      t.src = sb;
      t.src_offset = src ? so + off : 0;
      t.dst = db;
      t.dst_offset = dst ? d_o + off : 0;
      t.count = n - off < cap ? n - off : cap;
      t.post = post;
      t.pre = pre;
      t.direct = direct;
      t.peer_offset = direct && op_sends(op) ? peer_offset + off : 0;
      out_.push_back(t);
    }
    return status::success;
  }
};

} // namespace weft::sim
