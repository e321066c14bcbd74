#pragma once
//! \file
//! The prims: the vocabulary every weft algorithm is written in.
//!
//! A `prims` object is one rank's end of at most one incoming and one outgoing
//! connection on one channel (a ring position, a chain link). Each prim moves
//! `n` elements, cut into steps of at most one slot's payload; both ends of a
//! connection cut the same way, so they agree on every step without metadata.
//!
//! | prim | sources | destinations |
//! |---|---|---|
//! | send(src) | own | peer |
//! | recv(dst) | peer | dst |
//! | recv_reduce_send(src) | peer, own | peer |
//! | recv_reduce_copy(src, dst) | peer, own | dst |
//! | recv_copy_send(dst) | peer | dst, peer |
//! | recv_reduce_copy_send(src, dst) | peer, own | dst, peer |
//! | copy_send(src, dst) | own | dst, peer |
//!
//! "own" data is this rank's input: the op's `pre` applies to it (premul_sum)
//! unless the caller passes `pre = false` (own data that is already a partial result);
//! `post` (avg) applies where the caller says the result is final. Direct forms
//! (Simple only) write into the receiver's user buffer instead of a slot.
//!
//! The same source runs on a GPU (the group is a CTA or warps) and on a CPU-team
//! thread (the group is one host thread): it uses only the group contract,
//! `sync_any`, `reduce_copy` and `cuda::atomic_ref`. Every wait is bounded and a
//! failure is recorded in a `wait_error` and returned by every thread.

#include <weft/core/flag.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/core/types.hpp>
#include <weft/group/group.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <cuda/atomic>
#include <cuda/std/cstdint>
#include <string.h>

namespace weft {

//! Where a prims object runs: identity for error reports, and its wait bound.
struct prims_context {
  int rank = 0;
  int channel = 0;
  coll_kind coll = coll_kind::all_reduce;
  wait_bound bound{};
  wait_error* err = nullptr; //!< where a failed wait is recorded (must not be null)
};

//! LL flag of a step: in 1 .. 2^32-1 (period 2^32-1), so 0 marks a cleared line.
WEFT_HOST_DEVICE constexpr cuda::std::uint32_t ll_flag(cuda::std::uint64_t step) noexcept {
  return cuda::std::uint32_t(step % 0xffffffffull) + 1u;
}
//! Whether consuming `step` is the moment to clear its slot's flags: the last
//! `nslots` steps of a flag period, so each slot is cleared once per period and
//! no line older than the period can carry a flag a later step expects.
WEFT_HOST_DEVICE constexpr bool ll_clear_after(cuda::std::uint64_t step, int nslots) noexcept {
  return step % 0xffffffffull >= 0xffffffffull - cuda::std::uint64_t(nslots);
}

namespace detail {
using u64_ref = cuda::atomic_ref<cuda::std::uint64_t, cuda::thread_scope_system>;

WEFT_HOST_DEVICE cuda::std::uint64_t load_relaxed(cuda::std::uint64_t* p) {
  return u64_ref(*p).load(cuda::memory_order_relaxed);
}
WEFT_HOST_DEVICE void store_relaxed(cuda::std::uint64_t* p, cuda::std::uint64_t v) {
  u64_ref(*p).store(v, cuda::memory_order_relaxed);
}
} // namespace detail

template <class Op, protocol P, class Group>
class prims {
public:
  using op_type = Op;
  using value_type = typename Op::value_type;
  using T = value_type;
  using A = acc_t<T>;
  static constexpr protocol proto = P;

  //! `recv`/`send` may be null where this rank has no such peer.
  WEFT_HOST_DEVICE prims(Group& g, Op const& op, connection const* recv, connection const* send, prims_context ctx)
      : g_(g), op_(op), ctx_(ctx) {
    if (recv) {
      recv_ = *recv;
      has_recv_ = true;
      rstep_ = *recv_.recv_step;
    }
    if (send) {
      send_ = *send;
      has_send_ = true;
      sstep_ = *send_.send_step;
    }
    cuda::std::size_t const pay = has_recv_ ? recv_.payload_bytes() : has_send_ ? send_.payload_bytes() : 0;
    cuda::std::size_t const pay2 = has_send_ ? send_.payload_bytes() : pay;
    cap_ = (pay < pay2 ? pay : pay2) / sizeof(T);
    if constexpr (P == protocol::simple) cap_ = cap_ / 16 * 16; // keep steps pack-aligned
  }

  //! Elements one step carries.
  WEFT_HOST_DEVICE cuda::std::size_t step_elems() const noexcept { return cap_; }

  //! Store the step counters back so the next collective on these connections continues them.
  WEFT_HOST_DEVICE void finish() {
    g_.sync();
    if (g_.thread_rank() == 0) {
      if (has_recv_) *recv_.recv_step = rstep_;
      if (has_send_) *send_.send_step = sstep_;
    }
  }

  WEFT_HOST_DEVICE status send(T const* src, cuda::std::size_t n, bool pre = true) {
    return run<true, false, false, true>(src, nullptr, n, false, pre);
  }
  WEFT_HOST_DEVICE status recv(T* dst, cuda::std::size_t n) { return run<false, true, true, false>(nullptr, dst, n, false); }
  WEFT_HOST_DEVICE status recv_reduce_send(T const* src, cuda::std::size_t n, bool pre = true) {
    return run<true, true, false, true>(src, nullptr, n, false, pre);
  }
  WEFT_HOST_DEVICE status recv_reduce_copy(T const* src, T* dst, cuda::std::size_t n, bool post, bool pre = true) {
    return run<true, true, true, false>(src, dst, n, post, pre);
  }
  WEFT_HOST_DEVICE status recv_copy_send(T* dst, cuda::std::size_t n) {
    return run<false, true, true, true>(nullptr, dst, n, false);
  }
  WEFT_HOST_DEVICE status recv_reduce_copy_send(T const* src, T* dst, cuda::std::size_t n, bool post,
                                                bool pre = true) {
    return run<true, true, true, true>(src, dst, n, post, pre);
  }
  WEFT_HOST_DEVICE status copy_send(T const* src, T* dst, cuda::std::size_t n) {
    return run<true, false, true, true>(src, dst, n, false);
  }

  //! `dst = src` on this rank alone (pre applied unless `pre` is false; post when `post`).
  WEFT_HOST_DEVICE status reduce_local(T const* src, T* dst, cuda::std::size_t n, bool post, bool pre = true) {
    reduce_copy(g_, op_, ptr_list<T const, 1>{{src}, 1}, ptr_list<T, 1>{{dst}, 1}, n,
                reduce_copy_flags{pre ? 1u : 0u, post});
    g_.sync();
    return status::success;
  }

  // ---- direct forms (Simple): data goes to/arrives in user buffers, slots carry only the step ----

  //! Write `src[0..n)` into the receiver's user buffer at element `peer_offset`.
  WEFT_HOST_DEVICE status direct_send(T const* src, cuda::std::size_t peer_offset, cuda::std::size_t n) {
    return run_direct(src, nullptr, peer_offset, n, false, true);
  }
  //! Wait until a peer's direct_send of `n` elements has landed in this rank's user buffer.
  WEFT_HOST_DEVICE status direct_recv(cuda::std::size_t n) { return run_direct(nullptr, nullptr, 0, n, true, false); }
  //! Wait for data landed at `landed` (this rank's buffer) and forward it to the next peer's buffer at `peer_offset`.
  WEFT_HOST_DEVICE status direct_recv_copy_send(T const* landed, cuda::std::size_t peer_offset, cuda::std::size_t n) {
    return run_direct(landed, nullptr, peer_offset, n, true, true);
  }
  //! `dst = src` and write `src` into the receiver's buffer at `peer_offset`.
  WEFT_HOST_DEVICE status direct_copy_send(T const* src, T* dst, cuda::std::size_t peer_offset, cuda::std::size_t n) {
    return run_direct(src, dst, peer_offset, n, false, true);
  }

private:
  Group& g_;
  Op op_;
  prims_context ctx_;
  connection recv_{}, send_{};
  bool has_recv_ = false, has_send_ = false;
  cuda::std::uint64_t rstep_ = 0, sstep_ = 0, call_step_ = 0;
  cuda::std::size_t cap_ = 0;

  WEFT_HOST_DEVICE unsigned char* slot(connection const& c, cuda::std::uint64_t step) const {
    return c.buf + cuda::std::size_t(step % cuda::std::uint64_t(c.nslots)) * cuda::std::size_t(c.slot_bytes);
  }

  WEFT_HOST_DEVICE void fail(status s, wait_kind w) {
    int const peer = w == wait_kind::data ? recv_.sender : send_.receiver;
    ctx_.err->record(s, ctx_.coll, w, ctx_.rank, peer, ctx_.channel, w == wait_kind::data ? rstep_ : sstep_, call_step_);
  }

  //! Thread 0 waits for the incoming step (Simple) and for a free outgoing slot;
  //! the group agrees on the outcome.
  template <bool Recv, bool Send, bool WaitTail>
  WEFT_HOST_DEVICE status wait_ready() {
    status st = status::success;
    if (g_.thread_rank() == 0) {
      if constexpr (Recv && WaitTail) {
        st = wait_geq(recv_.tail, rstep_ + 1, ctx_.bound);
        if (st != status::success) fail(st, wait_kind::data);
      }
      if constexpr (Send) {
        cuda::std::uint64_t const nslots = cuda::std::uint64_t(send_.nslots);
        if (st == status::success && sstep_ + 1 > nslots) {
          st = wait_geq(send_.head, sstep_ + 1 - nslots, ctx_.bound);
          if (st != status::success) fail(st, wait_kind::credit);
        }
      }
    }
    if (sync_any(g_, st != status::success)) return ctx_.err->st;
    return status::success;
  }

  template <bool Recv, bool Send, bool SignalTail>
  WEFT_HOST_DEVICE void signal_done() {
    g_.sync();
    if (g_.thread_rank() == 0) {
      if constexpr (Send && SignalTail) signal(send_.tail, sstep_ + 1);
      if constexpr (Recv) signal(recv_.head, rstep_ + 1);
    }
    if constexpr (Recv) ++rstep_;
    if constexpr (Send) ++sstep_;
    ++call_step_;
  }

  template <bool Own, bool Recv, bool Dst, bool Send>
  WEFT_HOST_DEVICE status run(T const* own, T* dst, cuda::std::size_t n, bool post, bool pre = true) {
    if (cap_ == 0 && n > 0) return status::invalid_argument; // a slot that cannot carry one step
    for (cuda::std::size_t off = 0; off < n; off += cap_) {
      cuda::std::size_t const len = n - off < cap_ ? n - off : cap_;
      status st;
      if constexpr (P == protocol::simple) st = step_simple<Own, Recv, Dst, Send>(own + off, dst + off, len, post, pre);
      else st = step_lines<Own, Recv, Dst, Send>(own + off, dst + off, len, post, pre);
      if (st != status::success) return st;
    }
    return status::success;
  }

  template <bool Own, bool Recv, bool Dst, bool Send>
  WEFT_HOST_DEVICE status step_simple(T const* own, T* dst, cuda::std::size_t len, bool post, bool pre) {
    if (status st = wait_ready<Recv, Send, true>(); st != status::success) return st;
    ptr_list<T const, 2> s{};
    ptr_list<T, 2> d{};
    if constexpr (Own) s.ptr[s.n++] = own;
    if constexpr (Recv) s.ptr[s.n++] = reinterpret_cast<T const*>(slot(recv_, rstep_));
    if constexpr (Dst) d.ptr[d.n++] = dst;
    if constexpr (Send) d.ptr[d.n++] = reinterpret_cast<T*>(slot(send_, sstep_));
    reduce_copy(g_, op_, s, d, len, reduce_copy_flags{Own && pre ? 1u : 0u, post});
    signal_done<Recv, Send, true>();
    return status::success;
  }

  WEFT_HOST_DEVICE status run_direct(T const* src, T* dst, cuda::std::size_t peer_offset, cuda::std::size_t n, bool recv,
                                     bool send) {
    static_assert(P == protocol::simple, "direct prims need the Simple protocol");
    if (cap_ == 0 && n > 0) return status::invalid_argument;
    for (cuda::std::size_t off = 0; off < n; off += cap_) {
      cuda::std::size_t const len = n - off < cap_ ? n - off : cap_;
      status st = recv ? (send ? wait_ready<true, true, true>() : wait_ready<true, false, true>())
                       : wait_ready<false, true, true>();
      if (st != status::success) return st;
      if (send) {
        T* peer = static_cast<T*>(send_.direct_buf) + peer_offset + off;
        if (dst) reduce_copy(g_, op::sum<T>{}, ptr_list<T const, 1>{{src + off}, 1}, ptr_list<T, 2>{{dst + off, peer}, 2}, len,
                             reduce_copy_flags{0u, false});
        else reduce_copy(g_, op::sum<T>{}, ptr_list<T const, 1>{{src + off}, 1}, ptr_list<T, 1>{{peer}, 1}, len,
                         reduce_copy_flags{0u, false});
      }
      if (recv && send) signal_done<true, true, true>();
      else if (recv) signal_done<true, false, true>();
      else signal_done<false, true, true>();
    }
    return status::success;
  }

  // ---- LL and LL128: each thread owns whole lines; flags travel in-line ----

  static constexpr int line_bytes = P == protocol::ll ? ll_line_bytes : ll128_line_bytes;
  static constexpr int data_bytes = P == protocol::ll ? ll_data_bytes : ll128_data_bytes;
  static constexpr int K = data_bytes / int(sizeof(T)); // elements per line
  static_assert(P == protocol::simple || data_bytes % int(sizeof(T)) == 0, "element size must divide the line payload");

  //! Poll one incoming line until it carries `flag`, then return its payload in `out`.
  WEFT_HOST_DEVICE status read_line(unsigned char const* line, cuda::std::uint64_t flag, unsigned char* out) {
    auto* w = reinterpret_cast<cuda::std::uint64_t*>(const_cast<unsigned char*>(line));
    if constexpr (P == protocol::ll) {
      cuda::std::uint64_t a = 0, b = 0;
      cuda::std::uint32_t const f = cuda::std::uint32_t(flag); // ll_flag(step), see step_lines
      status st = spin_until(
          [&] {
            a = detail::load_relaxed(&w[0]);
            b = detail::load_relaxed(&w[1]);
            return cuda::std::uint32_t(a >> 32) == f && cuda::std::uint32_t(b >> 32) == f;
          },
          ctx_.bound);
      cuda::std::uint32_t const lo = cuda::std::uint32_t(a), hi = cuda::std::uint32_t(b);
      memcpy(out, &lo, 4);
      memcpy(out + 4, &hi, 4);
      return st;
    } else {
      status st = spin_until([&] { return load_flag(&w[15]) == flag; }, ctx_.bound);
      for (int i = 0; i < 15; ++i) {
        cuda::std::uint64_t v = detail::load_relaxed(&w[i]);
        memcpy(out + 8 * i, &v, 8);
      }
      return st;
    }
  }

  //! Write one outgoing line: payload first, flag last (release for LL128; in-line for LL).
  WEFT_HOST_DEVICE void write_line(unsigned char* line, cuda::std::uint64_t flag, unsigned char const* in) {
    auto* w = reinterpret_cast<cuda::std::uint64_t*>(line);
    if constexpr (P == protocol::ll) {
      cuda::std::uint32_t lo, hi;
      memcpy(&lo, in, 4);
      memcpy(&hi, in + 4, 4);
      cuda::std::uint64_t const f = (flag & 0xffffffffull) << 32;
      detail::store_relaxed(&w[0], f | lo);
      detail::store_relaxed(&w[1], f | hi);
    } else {
      for (int i = 0; i < 15; ++i) {
        cuda::std::uint64_t v;
        memcpy(&v, in + 8 * i, 8);
        detail::store_relaxed(&w[i], v);
      }
      signal(&w[15], flag);
    }
  }

  template <bool Own, bool Recv, bool Dst, bool Send>
  WEFT_HOST_DEVICE status step_lines(T const* own, T* dst, cuda::std::size_t len, bool post, bool pre) {
    if (status st = wait_ready<false, Send, false>(); st != status::success) return st;
    cuda::std::size_t const nlines = (len + K - 1) / K;
    unsigned char const* rbuf = Recv ? slot(recv_, rstep_) : nullptr;
    unsigned char* sbuf = Send ? slot(send_, sstep_) : nullptr;
    // LL flags are 32-bit (ll_flag); LL128's flag word holds the whole step + 1.
    cuda::std::uint64_t const rflag = P == protocol::ll ? ll_flag(rstep_) : rstep_ + 1;
    cuda::std::uint64_t const sflag = P == protocol::ll ? ll_flag(sstep_) : sstep_ + 1;
    status st = status::success;
    bool const raw_own =
        (detail::pre_is_identity<Op>::value || !pre) && (detail::post_is_identity<Op>::value || !post);
    for (cuda::std::size_t l = cuda::std::size_t(g_.thread_rank()); l < nlines; l += cuda::std::size_t(g_.num_threads())) {
      int const cnt = len - l * K < cuda::std::size_t(K) ? int(len - l * K) : K;
      T in[K];
      T out[K];
      if constexpr (Recv) {
        status s = read_line(rbuf + l * line_bytes, rflag, reinterpret_cast<unsigned char*>(in));
        if (s != status::success) {
          st = s;
          break;
        }
      }
      WEFT_UNROLL
      for (int i = 0; i < K; ++i) {
        if (i < cnt) {
          if constexpr (Own && Recv) {
            A const x = to_acc(own[l * K + i]);
            A const a = op_(pre ? op_.pre(x) : x, to_acc(in[i]));
            out[i] = from_acc<T>(post ? op_.post(a) : a);
          } else if constexpr (Own) {
            if (raw_own) out[i] = own[l * K + i];
            else {
              A const x = to_acc(own[l * K + i]);
              A const a = pre ? op_.pre(x) : x;
              out[i] = from_acc<T>(post ? op_.post(a) : a);
            }
          } else {
            if (!post || detail::post_is_identity<Op>::value) out[i] = in[i];
            else out[i] = from_acc<T>(op_.post(to_acc(in[i])));
          }
        } else {
          memset(&out[i], 0, sizeof(T));
        }
      }
      if constexpr (Dst) {
        WEFT_UNROLL
        for (int i = 0; i < K; ++i)
          if (i < cnt) dst[l * K + i] = out[i];
      }
      if constexpr (Send) write_line(sbuf + l * line_bytes, sflag, reinterpret_cast<unsigned char const*>(out));
    }
    if (st != status::success) fail(st, wait_kind::data);
    if (sync_any(g_, st != status::success)) return ctx_.err->st;
    if constexpr (Recv && P == protocol::ll) {
      // Once per flag period each slot is wiped before it is handed back, so a
      // line left unwritten for 2^32-1 steps cannot pass for a new one.
      if (ll_clear_after(rstep_, recv_.nslots)) {
        auto* w = reinterpret_cast<cuda::std::uint64_t*>(const_cast<unsigned char*>(rbuf));
        cuda::std::size_t const words = cuda::std::size_t(recv_.slot_bytes) / 8;
        for (cuda::std::size_t i = cuda::std::size_t(g_.thread_rank()); i < words; i += cuda::std::size_t(g_.num_threads()))
          detail::store_relaxed(&w[i], 0);
      }
    }
    signal_done<Recv, Send, false>();
    return status::success;
  }
};

} // namespace weft
