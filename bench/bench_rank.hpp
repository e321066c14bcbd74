#pragma once
// One rank's side of a measurement: buffers, the timed loop and the check.
// Shared by weft-bench's CPU backend and the peer programs (peer_mpi.cpp,
// peer_gloo.cpp), so weft and its peers are timed and checked the same way:
// the same inputs, the same buffer rotation, the same barrier before the clock.
#include "bench_backend.hpp"
#include "bench_check.hpp"

#include <weft/core/status.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>

namespace weft_bench {

//! Where a rank's input and output live, in elements.
struct layout {
  std::size_t in_elems = 0;   // this rank's input
  std::size_t out_elems = 0;  // this rank's output
  std::size_t span_elems = 0; // the receive buffer a call uses (in place: input and output together)
  std::size_t send_off = 0;   // in place: input at recv buffer + send_off
  std::size_t recv_off = 0;   // in place: output at recv buffer + recv_off
};

inline layout make_layout(coll_spec const& s, int rank, int n) {
  std::size_t const c = s.count, nc = s.count * std::size_t(n);
  layout l;
  switch (s.kind) {
    case coll::all_gather:
      l.in_elems = c;
      l.out_elems = nc;
      l.span_elems = nc;
      l.send_off = std::size_t(rank) * c; // NCCL: in place when send == recv + rank * sendcount
      break;
    case coll::reduce_scatter:
      l.in_elems = nc;
      l.out_elems = c;
      l.span_elems = nc;
      l.recv_off = std::size_t(rank) * c; // NCCL: in place when recv == send + rank * recvcount
      break;
    case coll::all_to_all:
      l.in_elems = l.out_elems = l.span_elems = nc; // count elements to and from every rank
      break;
    default:
      l.in_elems = l.out_elems = l.span_elems = c;
      break;
  }
  return l;
}

//! Guard bytes before and after every buffer region a check run uses.
inline constexpr std::size_t guard_bytes = 64;

//! A rank's send and receive buffers: page aligned, `max_bytes` each with a guard
//! before and after. Zeroed by the first `touch()` (call it from the rank's own
//! thread, so that the pages are local to it).
class rank_buffers {
public:
  explicit rank_buffers(std::size_t max_bytes) : cap_((max_bytes + 2 * guard_bytes + 4095) / 4096 * 4096) {
    for (auto* p : {&send_, &recv_}) {
      p->reset(static_cast<unsigned char*>(std::aligned_alloc(4096, cap_)));
      if (!*p) throw std::bad_alloc();
    }
  }
  void touch() {
    if (touched_) return;
    std::memset(send_.get(), 0, cap_);
    std::memset(recv_.get(), 0, cap_);
    touched_ = true;
  }
  unsigned char* send() const { return send_.get() + guard_bytes; }
  unsigned char* recv() const { return recv_.get() + guard_bytes; }

private:
  struct free_deleter {
    void operator()(unsigned char* p) const noexcept { std::free(p); }
  };
  std::size_t cap_;
  std::unique_ptr<unsigned char, free_deleter> send_, recv_;
  bool touched_ = false;
};

namespace detail {

inline unsigned char guard_byte(std::size_t i) { return static_cast<unsigned char>(0xA5u ^ (i * 29u)); }

inline void set_guards(unsigned char* region, std::size_t bytes) {
  for (std::size_t i = 0; i < guard_bytes; ++i) {
    region[-std::ptrdiff_t(guard_bytes) + std::ptrdiff_t(i)] = guard_byte(i);
    region[bytes + i] = guard_byte(i + guard_bytes);
  }
}

//! Elements (of `ts` bytes) of the guards around `region` that were written.
inline long long count_bad_guards(unsigned char const* region, std::size_t bytes, std::size_t ts) {
  long long bad = 0;
  for (std::size_t e = 0; e < guard_bytes / ts; ++e) {
    bool before = false, after = false;
    for (std::size_t b = 0; b < ts; ++b) {
      std::size_t const i = e * ts + b;
      before |= region[-std::ptrdiff_t(guard_bytes) + std::ptrdiff_t(i)] != guard_byte(i);
      after |= region[bytes + i] != guard_byte(i + guard_bytes);
    }
    bad += int(before) + int(after);
  }
  return bad;
}

template <class T>
void fill_input(coll_spec const& s, layout const& l, int r, int n, T* in, std::uint64_t seed) {
  for (std::size_t i = 0; i < l.in_elems; ++i) in[i] = input_value<T>(seed, r, i, s.op.op, n);
}

//! Elements of rank `r`'s output that differ from the host reference.
template <class T>
long long count_wrong_output(coll_spec const& s, layout const& l, int r, int n, T const* out, std::uint64_t seed) {
  long long w = 0;
  switch (s.kind) {
    case coll::all_gather:
      for (std::size_t i = 0; i < l.out_elems; ++i) {
        int const src = int(i / s.count);
        if (!same_bits(out[i], input_value<T>(seed, src, i % s.count, s.op.op, n))) ++w;
      }
      break;
    case coll::all_to_all: // block `src` of my output is block `r` of rank src's input
      for (std::size_t i = 0; i < l.out_elems; ++i) {
        int const src = int(i / s.count);
        if (!same_bits(out[i], input_value<T>(seed, src, std::size_t(r) * s.count + i % s.count, s.op.op, n))) ++w;
      }
      break;
    case coll::broadcast:
      for (std::size_t i = 0; i < l.out_elems; ++i)
        if (!same_bits(out[i], input_value<T>(seed, s.root, i, s.op.op, n))) ++w;
      break;
    default: {
      std::size_t const base = s.kind == coll::reduce_scatter ? std::size_t(r) * s.count : 0;
      for (std::size_t i = 0; i < l.out_elems; ++i) {
        expected_value const e = reduce_reference<T>(seed, base + i, n, s.op.op, s.op.scalar);
        if (!matches(out[i], e)) ++w;
      }
      break;
    }
  }
  return w;
}

} // namespace detail

//! What one rank measured.
struct rank_result {
  double seconds = 0;  // mean seconds per timed iteration
  long long wrong = 0; // mismatching elements of this rank (checked runs)
};

//! Rank `r` of `n`: warm up, time `how.iters` calls, then check `how.check_runs`
//! calls of collective `s`.
//!   call(T const* in, T* out) -> weft::status   runs the collective once (every rank at once)
//!   barrier() -> weft::status                   all ranks meet
//! Like nccl-tests, iteration i uses the i-th consecutive slice of the
//! `max_bytes` buffers (so a small size is not always hot in cache), cycling
//! over at most `max_slices` slices (a peer that binds buffers to a prebuilt
//! algorithm object asks for fewer).
template <class T, class Call, class Barrier>
weft::status measure_rank(coll_spec const& s, run_settings const& how, int r, int n, rank_buffers& buf,
                          std::size_t max_bytes, Call&& call, Barrier&& barrier, rank_result& out,
                          std::size_t max_slices = std::numeric_limits<std::size_t>::max()) {
  std::size_t const ts = sizeof(T);
  layout const l = make_layout(s, r, n);
  buf.touch();
  unsigned char* const sbuf = buf.send();
  unsigned char* const rbuf = buf.recv();
  std::size_t const total = l.span_elems * ts;
  std::size_t steps = total ? (max_bytes / total > 0 ? max_bytes / total : 1) : 1;
  if (steps > max_slices) steps = max_slices;
  auto send_ptr = [&](std::size_t shift) -> T* {
    return s.in_place ? reinterpret_cast<T*>(rbuf + shift) + l.send_off : reinterpret_cast<T*>(sbuf + shift);
  };
  auto recv_ptr = [&](std::size_t shift) -> T* {
    return reinterpret_cast<T*>(rbuf + shift) + (s.in_place ? l.recv_off : 0);
  };
  auto one = [&](int iter) -> weft::status {
    std::size_t const shift = total * (std::size_t(iter) % steps);
    weft::status st = call(send_ptr(shift), recv_ptr(shift));
    if (st == weft::status::success && how.blocking) st = barrier();
    return st;
  };

  if (how.inject_failure && r == n - 1) return weft::status::internal_error; // before any call or barrier

  // Inputs for the timed runs: the pattern, so that arithmetic runs on ordinary numbers.
  detail::fill_input<T>(s, l, r, n, send_ptr(0), how.seed ^ 0x7157ull);
  for (int i = 0; i < how.warmup; ++i)
    if (weft::status st = one(i); st != weft::status::success) return st;
  if (weft::status st = barrier(); st != weft::status::success) return st;
  auto const t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < how.iters; ++i)
    if (weft::status st = one(i); st != weft::status::success) return st;
  auto const t1 = std::chrono::steady_clock::now();
  out.seconds = std::chrono::duration<double>(t1 - t0).count() / double(how.iters);
  out.wrong = 0;

  for (int c = 0; c < how.check_runs; ++c) {
    std::uint64_t const seed = how.seed + std::uint64_t(c);
    if (weft::status st = barrier(); st != weft::status::success) return st; // peers are done with my buffers
    T* const in = send_ptr(0);
    T* const o = recv_ptr(0);
    T* const span = reinterpret_cast<T*>(rbuf); // the receive-side buffer the call uses
    if (!s.in_place)
      for (std::size_t i = 0; i < l.out_elems; ++i) o[i] = poison_value<T>(seed, i);
    else
      for (std::size_t i = 0; i < l.span_elems; ++i) span[i] = poison_value<T>(seed, i);
    detail::fill_input<T>(s, l, r, n, in, seed);
    detail::set_guards(rbuf, l.span_elems * ts);
    if (!s.in_place) detail::set_guards(sbuf, l.in_elems * ts);
    if (weft::status st = barrier(); st != weft::status::success) return st;
    if (weft::status st = call(in, o); st != weft::status::success) return st;
    if (weft::status st = barrier(); st != weft::status::success) return st;

    bool const checked_here = s.kind != coll::reduce || r == s.root; // reduce: only root's output is defined
    int const inject_rank = s.kind == coll::reduce ? s.root : n - 1;
    if (how.inject_error && r == inject_rank && l.out_elems > 0) o[l.out_elems / 2] = corrupt(o[l.out_elems / 2]);
    long long w = 0;
    if (checked_here) w += detail::count_wrong_output<T>(s, l, r, n, o, seed);
    if (!s.in_place) { // the input must be left as it was
      for (std::size_t i = 0; i < l.in_elems; ++i)
        if (!same_bits(in[i], input_value<T>(seed, r, i, s.op.op, n))) ++w;
      w += detail::count_bad_guards(sbuf, l.in_elems * ts, ts);
    }
    w += detail::count_bad_guards(rbuf, l.span_elems * ts, ts);
    out.wrong += w;
  }
  return weft::status::success;
}

} // namespace weft_bench
