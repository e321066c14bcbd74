#pragma once
// weft-bench's CPU backend: every rank is a thread of this process (weft's CPU
// team), the collectives are weft::cpu_comm's, buffers are host memory.
//
// Compile time: each (type, op) pair instantiates three collectives for three
// protocols. By default sum is compiled for every type and every op for float
// (nccl-tests' default type); -DWEFT_BENCH_ALL_OPS=1 (CMake option
// WEFT_BENCH_ALL_OPS) compiles all 72 pairs, which takes minutes.
#include "bench_backend.hpp"
#include "bench_check.hpp"
#include "bench_report.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_team.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>
#include <unistd.h>

#ifndef WEFT_BENCH_ALL_OPS
#  define WEFT_BENCH_ALL_OPS 0
#endif

namespace weft_bench {

//! Whether this build has the (type, op) pair compiled in.
inline bool op_compiled(weft::dtype d, weft::redop r) {
  return WEFT_BENCH_ALL_OPS || r == weft::redop::sum || d == weft::dtype::f32;
}

namespace detail {

template <class T>
inline constexpr bool all_ops_compiled_v = WEFT_BENCH_ALL_OPS != 0 || std::is_same<T, float>::value;

//! `f(op)` with the operator object `d` names, for the pairs that are compiled in.
template <class T, class F>
weft::status dispatch_compiled_op(weft::redop_desc const& d, F&& f) {
  if constexpr (all_ops_compiled_v<T>) {
    return weft::dispatch_redop<T>(d, f);
  } else {
    if (d.op == weft::redop::sum) return f(weft::op::sum<T>{});
    return weft::status::unsupported;
  }
}

template <std::size_t Size>
struct copy_type;
template <>
struct copy_type<1> {
  using type = std::uint8_t;
};
template <>
struct copy_type<2> {
  using type = weft::half_t; // weft has no 16-bit integer element type
};
template <>
struct copy_type<4> {
  using type = std::uint32_t;
};
template <>
struct copy_type<8> {
  using type = std::uint64_t;
};

struct free_deleter {
  void operator()(unsigned char* p) const noexcept { std::free(p); }
};
using host_buffer = std::unique_ptr<unsigned char, free_deleter>;

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
    default:
      l.in_elems = l.out_elems = l.span_elems = c;
      break;
  }
  return l;
}

} // namespace detail

class cpu_backend final : public backend {
public:
  //! Guard bytes before and after every buffer region a check run uses.
  static constexpr std::size_t guard = 64;

  cpu_backend(int nranks, int max_channels, long timeout_ms, std::size_t max_bytes)
      : n_(nranks), team_(nranks, team_options_for(timeout_ms)), cfg_(config_for(max_channels)), max_bytes_(max_bytes),
        comm_(std::make_unique<weft::cpu_comm>(nranks, cfg_)), model_(cpu_model()), host_(host_name()) {
    std::size_t const cap = (max_bytes + 2 * guard + 4095) / 4096 * 4096;
    for (int r = 0; r < n_; ++r) {
      for (auto* v : {&send_, &recv_}) {
        void* p = std::aligned_alloc(4096, cap);
        if (!p) throw std::bad_alloc();
        v->emplace_back(static_cast<unsigned char*>(p));
      }
    }
    cap_ = cap;
    touched_.assign(std::size_t(n_), 0);
  }

  char const* name() const override { return "cpu"; }
  std::string description() const override {
    return std::to_string(n_) + " ranks as threads in one process (weft::cpu_team), host memory";
  }
  int nranks() const override { return n_; }
  std::vector<std::string> rank_lines() const override {
    std::vector<std::string> v;
    char buf[512];
    for (int r = 0; r < n_; ++r) {
      std::snprintf(buf, sizeof buf, "#  Rank %2d Group %2d Pid %6d on %10s device %2d [cpu] host thread, %s", r, 0,
                    int(getpid()), host_.c_str(), r, model_.c_str());
      v.push_back(buf);
    }
    return v;
  }
  std::size_t scratch_bytes() const override { return comm_->scratch_bytes(); }

  bool supports(coll_spec const& s, std::string& why) const override {
    if (reduces(s.kind) && !op_compiled(s.type, s.op.op)) {
      why = std::string(weft::to_string(s.type)) + " " + weft::to_string(s.op.op) +
            " is not compiled into this weft-bench (sum for every type and every op for float are; "
            "configure with -DWEFT_BENCH_ALL_OPS=ON for all pairs)";
      return false;
    }
    if (!has_algorithm(s.kind, s.algo)) {
      why = std::string(weft::to_string(s.algo)) + " is not an algorithm of " + to_string(s.kind);
      return false;
    }
    if (s.nchannels > cfg_.max_channels) {
      why = "more channels than the communicator was built for";
      return false;
    }
    return true;
  }

  measurement run(coll_spec const& s, run_settings const& how) override {
    measurement m;
    m.rank_seconds.assign(std::size_t(n_), 0.0);
    std::string why;
    if (!supports(s, why)) {
      m.error = why;
      return m;
    }
    if (!comm_->healthy()) comm_ = std::make_unique<weft::cpu_comm>(n_, cfg_); // a failed call broke it
    std::atomic<long long> wrong{0};
    std::vector<weft::status> per_rank;
    weft::status const st = team_.run(
        [&](weft::team_rank& tr) -> weft::status {
          return weft::dispatch_dtype(s.type, [&](auto tag) -> weft::status {
            using T = typename decltype(tag)::type;
            return run_typed<T>(tr, s, how, m.rank_seconds, wrong);
          });
        },
        &per_rank);
    if (st != weft::status::success) {
      m.error = failure_message(s, per_rank);
      return m;
    }
    m.ok = true;
    m.checked = how.check_runs > 0;
    m.wrong = wrong.load();
    return m;
  }

private:
  static weft::team_options team_options_for(long timeout_ms) {
    weft::team_options o;
    o.timeout_ns = std::uint64_t(timeout_ms) * 1000000ull;
    return o;
  }
  static weft::cpu_comm_config config_for(int max_channels) {
    weft::cpu_comm_config c;
    if (max_channels > c.max_channels) c.max_channels = max_channels;
    return c;
  }

  std::string failure_message(coll_spec const& s, std::vector<weft::status> const& per_rank) const {
    // The first rank that failed on its own account (others report aborted).
    int who = -1;
    for (int pass = 0; pass < 2 && who < 0; ++pass)
      for (int r = 0; r < int(per_rank.size()); ++r)
        if (per_rank[std::size_t(r)] != weft::status::success &&
            (pass == 1 || per_rank[std::size_t(r)] != weft::status::aborted)) {
          who = r;
          break;
        }
    std::string msg = std::string(to_string(s.kind)) + " " + weft::to_string(s.type) + " count " +
                      std::to_string(s.count) + (s.in_place ? " in-place" : " out-of-place") + " algo " +
                      weft::to_string(s.algo) + " proto " +
                      weft::to_string(s.proto) + " failed";
    if (who >= 0) {
      msg += " on rank " + std::to_string(who) + ": " + weft::to_string(per_rank[std::size_t(who)]);
      std::string const e = comm_->last_error(who);
      if (!e.empty() && e != "no error") msg += " (" + e + ")";
    }
    return msg;
  }

  // One rank's work for element type T: resolve the operator, then time and check.
  template <class T>
  weft::status run_typed(weft::team_rank& tr, coll_spec const& s, run_settings const& how,
                         std::vector<double>& seconds, std::atomic<long long>& wrong) {
    weft::cpu_comm& c = *comm_;
    weft::coll_options o;
    o.algo = s.algo;
    o.proto = s.proto;
    o.nchannels = s.nchannels;
    std::size_t const count = s.count;
    // All-gather and broadcast only copy: they run on the unsigned integer type of
    // T's size (the same bytes and code path), which saves 8 of 12 instantiations.
    using C = typename detail::copy_type<sizeof(T)>::type;
    switch (s.kind) {
      case coll::all_gather:
        return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
          return weft::all_gather(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, o);
        });
      case coll::broadcast:
        return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
          return weft::broadcast(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, s.root, o);
        });
      default:
        return detail::dispatch_compiled_op<T>(s.op, [&](auto op) -> weft::status {
          switch (s.kind) {
            case coll::reduce_scatter:
              return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
                return weft::reduce_scatter(c, tr, in, out, count, op, o);
              });
            case coll::reduce:
              return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
                return weft::reduce(c, tr, in, out, count, s.root, op, o);
              });
            default:
              return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
                return weft::all_reduce(c, tr, in, out, count, op, o);
              });
          }
        });
    }
  }

  template <class T, class Call>
  weft::status run_rank(weft::team_rank& tr, coll_spec const& s, run_settings const& how,
                        std::vector<double>& seconds, std::atomic<long long>& wrong, Call&& call) {
    int const r = tr.rank(), n = n_;
    std::size_t const ts = sizeof(T);
    detail::layout const l = detail::make_layout(s, r, n);
    unsigned char* const sbuf = send_[std::size_t(r)].get() + guard;
    unsigned char* const rbuf = recv_[std::size_t(r)].get() + guard;
    if (!touched_[std::size_t(r)]) { // first touch by the rank's own thread; zeros are harmless to time on
      std::memset(send_[std::size_t(r)].get(), 0, cap_);
      std::memset(recv_[std::size_t(r)].get(), 0, cap_);
      touched_[std::size_t(r)] = 1;
    }
    // Buffers of call `iter`: like nccl-tests, consecutive iterations use
    // consecutive slices of the max-size buffers, so a small size is not always hot in cache.
    std::size_t const total = l.span_elems * ts;
    std::size_t const steps = total ? (max_bytes_ / total > 0 ? max_bytes_ / total : 1) : 1;
    auto send_ptr = [&](std::size_t shift) -> T* {
      return s.in_place ? reinterpret_cast<T*>(rbuf + shift) + l.send_off : reinterpret_cast<T*>(sbuf + shift);
    };
    auto recv_ptr = [&](std::size_t shift) -> T* {
      return reinterpret_cast<T*>(rbuf + shift) + (s.in_place ? l.recv_off : 0);
    };
    auto one = [&](int iter) -> weft::status {
      std::size_t const shift = total * (std::size_t(iter) % steps);
      weft::status st = call(send_ptr(shift), recv_ptr(shift));
      if (st == weft::status::success && how.blocking) st = tr.barrier();
      return st;
    };

    // Inputs for the timed runs: the pattern, so that arithmetic runs on ordinary numbers.
    fill_input<T>(s, l, r, send_ptr(0), how.seed ^ 0x7157ull);
    for (int i = 0; i < how.warmup; ++i)
      if (weft::status st = one(i); st != weft::status::success) return st;
    if (weft::status st = tr.barrier(); st != weft::status::success) return st;
    auto const t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < how.iters; ++i)
      if (weft::status st = one(i); st != weft::status::success) return st;
    auto const t1 = std::chrono::steady_clock::now();
    seconds[std::size_t(r)] = std::chrono::duration<double>(t1 - t0).count() / double(how.iters);

    for (int c = 0; c < how.check_runs; ++c) {
      std::uint64_t const seed = how.seed + std::uint64_t(c);
      if (weft::status st = tr.barrier(); st != weft::status::success) return st; // peers are done with my buffers
      T* const in = send_ptr(0);
      T* const out = recv_ptr(0);
      T* const span = reinterpret_cast<T*>(rbuf); // the receive-side buffer the call uses
      if (!s.in_place)
        for (std::size_t i = 0; i < l.out_elems; ++i) out[i] = poison_value<T>(seed, i);
      else
        for (std::size_t i = 0; i < l.span_elems; ++i) span[i] = poison_value<T>(seed, i);
      fill_input<T>(s, l, r, in, seed);
      set_guards(rbuf, l.span_elems * ts);
      if (!s.in_place) set_guards(sbuf, l.in_elems * ts);
      if (weft::status st = tr.barrier(); st != weft::status::success) return st;
      if (weft::status st = call(in, out); st != weft::status::success) return st;
      if (weft::status st = tr.barrier(); st != weft::status::success) return st;

      bool const checked_here = s.kind != coll::reduce || r == s.root; // reduce: only root's output is defined
      int const inject_rank = s.kind == coll::reduce ? s.root : n - 1;
      if (how.inject_error && r == inject_rank && l.out_elems > 0)
        out[l.out_elems / 2] = corrupt(out[l.out_elems / 2]);
      long long w = 0;
      if (checked_here) w += count_wrong_output<T>(s, l, r, out, seed);
      if (!s.in_place) { // the input must be left as it was
        for (std::size_t i = 0; i < l.in_elems; ++i)
          if (!same_bits(in[i], input_value<T>(seed, r, i, s.op.op, n))) ++w;
        w += count_bad_guards(sbuf, l.in_elems * ts, ts);
      }
      w += count_bad_guards(rbuf, l.span_elems * ts, ts);
      wrong += w;
    }
    return weft::status::success;
  }

  template <class T>
  void fill_input(coll_spec const& s, detail::layout const& l, int r, T* in, std::uint64_t seed) const {
    for (std::size_t i = 0; i < l.in_elems; ++i) in[i] = input_value<T>(seed, r, i, s.op.op, n_);
  }

  template <class T>
  long long count_wrong_output(coll_spec const& s, detail::layout const& l, int r, T const* out,
                               std::uint64_t seed) const {
    long long w = 0;
    int const n = n_;
    switch (s.kind) {
      case coll::all_gather:
        for (std::size_t i = 0; i < l.out_elems; ++i) {
          int const src = int(i / s.count);
          if (!same_bits(out[i], input_value<T>(seed, src, i % s.count, s.op.op, n))) ++w;
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

  static unsigned char guard_byte(std::size_t i) { return static_cast<unsigned char>(0xA5u ^ (i * 29u)); }
  static void set_guards(unsigned char* region, std::size_t bytes) {
    for (std::size_t i = 0; i < guard; ++i) {
      region[-std::ptrdiff_t(guard) + std::ptrdiff_t(i)] = guard_byte(i);
      region[bytes + i] = guard_byte(i + guard);
    }
  }
  //! Elements (of `ts` bytes) of the guards around `region` that were written.
  static long long count_bad_guards(unsigned char const* region, std::size_t bytes, std::size_t ts) {
    long long bad = 0;
    for (std::size_t e = 0; e < guard / ts; ++e) {
      bool before = false, after = false;
      for (std::size_t b = 0; b < ts; ++b) {
        std::size_t const i = e * ts + b;
        before |= region[-std::ptrdiff_t(guard) + std::ptrdiff_t(i)] != guard_byte(i);
        after |= region[bytes + i] != guard_byte(i + guard);
      }
      bad += int(before) + int(after);
    }
    return bad;
  }

  int n_;
  weft::cpu_team team_;
  weft::cpu_comm_config cfg_;
  std::size_t max_bytes_;
  std::unique_ptr<weft::cpu_comm> comm_;
  std::string model_, host_;
  std::vector<detail::host_buffer> send_, recv_;
  std::size_t cap_ = 0;
  std::vector<char> touched_;
};

} // namespace weft_bench
