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
#include "bench_rank.hpp"
#include "bench_report.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_team.hpp>
#if __has_include(<weft/team/cpu_direct.hpp>)
#  include <weft/team/cpu_direct.hpp> // weft::all_to_all, where the library has it
#endif

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
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

//! Whether weft has `all_to_all(comm, rank, send, recv, count_per_peer, options)` for
//! these types. The call is unqualified, so it is looked up (by argument-dependent
//! lookup in namespace weft) only when this is instantiated: it compiles whether or
//! not the library has the collective yet.
template <class Comm, class Rank, class T, class = void>
struct has_all_to_all : std::false_type {};
template <class Comm, class Rank, class T>
struct has_all_to_all<Comm, Rank, T,
                      std::void_t<decltype(all_to_all(std::declval<Comm&>(), std::declval<Rank&>(),
                                                      std::declval<T const*>(), std::declval<T*>(), std::size_t(),
                                                      std::declval<weft::coll_options>()))>> : std::true_type {};

} // namespace detail

//! The communicator weft-bench builds: the library's defaults, with room for
//! --channels, and --nslots / --slot-bytes (for the protocols in --proto) applied.
inline weft::cpu_comm_config comm_config(options const& o) {
  weft::cpu_comm_config c;
  if (o.nchannels > c.max_channels) c.max_channels = o.nchannels;
  if (o.nslots > 0) c.nslots = o.nslots;
  if (o.slot_bytes > 0)
    for (weft::protocol p : o.protos) {
      if (p == weft::protocol::simple) c.simple_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll) c.ll_slot_bytes = o.slot_bytes;
      if (p == weft::protocol::ll128) c.ll128_slot_bytes = o.slot_bytes;
    }
  return c;
}

class cpu_backend final : public backend {
public:
  cpu_backend(int nranks, weft::cpu_comm_config const& cfg, long timeout_ms, std::size_t max_bytes)
      : n_(nranks), team_(nranks, team_options_for(timeout_ms)), cfg_(cfg), max_bytes_(max_bytes),
        comm_(std::make_unique<weft::cpu_comm>(nranks, cfg_)), model_(cpu_model()), host_(host_name()) {
    for (int r = 0; r < n_; ++r) bufs_.push_back(std::make_unique<rank_buffers>(max_bytes));
  }

  //! Whether this build of weft has the all-to-all collective.
  static constexpr bool all_to_all_available = detail::has_all_to_all<weft::cpu_comm, weft::team_rank, std::uint32_t>::value;

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
    if (s.kind == coll::all_to_all && !all_to_all_available) {
      why = "all-to-all is not in this build of weft (weft::all_to_all is not declared by weft/team/cpu_comm.hpp)";
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
    if (s.kind == coll::all_to_all && s.in_place) { // weft's all-to-all is out of place only
      m.ok = true;
      m.measured = false;
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
      case coll::all_to_all:
        if constexpr (detail::has_all_to_all<weft::cpu_comm, weft::team_rank, C>::value) {
          return run_rank<T>(tr, s, how, seconds, wrong, [&](T const* in, T* out) {
            return all_to_all(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, o);
          });
        } else {
          return weft::status::unsupported; // supports() said so first
        }
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
    int const r = tr.rank();
    rank_result res;
    weft::status const st = measure_rank<T>(s, how, r, n_, *bufs_[std::size_t(r)], max_bytes_, call,
                                            [&] { return tr.barrier(); }, res);
    seconds[std::size_t(r)] = res.seconds;
    wrong += res.wrong;
    return st;
  }

  int n_;
  weft::cpu_team team_;
  weft::cpu_comm_config cfg_;
  std::size_t max_bytes_;
  std::unique_ptr<weft::cpu_comm> comm_;
  std::string model_, host_;
  std::vector<std::unique_ptr<rank_buffers>> bufs_;
};

} // namespace weft_bench
