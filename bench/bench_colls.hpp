#pragma once
// What every weft-bench backend on host communicators shares: which type/op
// pairs are compiled in, the communicator configuration the flags ask for, and
// one rank's measurement of the collective a `coll_spec` names, on any host
// communicator (`weft::cpu_comm` with CPU-team ranks, `weft::shm_comm` with
// process ranks) -- instantiated once, in bench_colls.cpp.
//
// Compile time: each (type, op) pair instantiates three collectives for three
// protocols. By default sum is compiled for every type and every op for float
// (nccl-tests' default type); -DWEFT_BENCH_ALL_OPS=1 (CMake option
// WEFT_BENCH_ALL_OPS) compiles all 72 pairs, which takes minutes. All-gather,
// broadcast and all-to-all only copy: they run on the unsigned type of the
// element's size (4 instantiations instead of 12).
#include "bench_args.hpp"
#include "bench_backend.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/team/cpu_comm.hpp>
#if __has_include(<weft/team/cpu_direct.hpp>)
#  include <weft/team/cpu_direct.hpp> // weft::all_to_all, where the library has it
#endif

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

//! Whether this build of weft has the all-to-all collective on `Comm` with `Rank`s.
template <class Comm, class Rank>
inline constexpr bool all_to_all_available_v = detail::has_all_to_all<Comm, Rank, std::uint32_t>::value;

//! The communicator weft-bench builds: the library's defaults, with room for
//! --channels, and --nslots / --slot-bytes (for the protocols in --proto) applied.
inline weft::cpu_comm_config comm_config(options const& o, weft::cpu_comm_config c = {}) {
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

//! `backend::supports` of a host communicator with `max_channels` channels.
inline bool host_supports(coll_spec const& s, int max_channels, bool has_all_to_all, std::string& why) {
  if (reduces(s.kind) && !op_compiled(s.type, s.op.op)) {
    why = std::string(weft::to_string(s.type)) + " " + weft::to_string(s.op.op) +
          " is not compiled into this weft-bench (sum for every type and every op for float are; "
          "configure with -DWEFT_BENCH_ALL_OPS=ON for all pairs)";
    return false;
  }
  if (s.kind == coll::all_to_all && !has_all_to_all) {
    why = "all-to-all is not in this build of weft (weft::all_to_all is not declared by weft/team/cpu_comm.hpp)";
    return false;
  }
  if (is_bench_algo(s.algo)) {
    why = algo_name(s.algo) + " is weft::comm's (the built-in policy, or its direct window): the cuda backend with -g";
    return false;
  }
  if (!has_algorithm(s.kind, s.algo)) {
    why = algo_name(s.algo) + " is not an algorithm of " + to_string(s.kind);
    return false;
  }
  if (std::strcmp(weft::to_string(s.algo), "nvls") == 0) {
    why = "nvls needs a multicast window: on GPUs with multicast, the cuda backend with -g (one rank per GPU)";
    return false;
  }
  if (s.nchannels > max_channels) {
    why = "more channels than the communicator was built for";
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// One instantiation of the collectives for every backend
// ---------------------------------------------------------------------------
//
// The collectives are templates over the communicator and rank types, and the
// instantiations (every algorithm x protocol x type/op pair) are what makes
// weft-bench slow to compile. So the backends call them through `any_comm` and
// `any_rank`: a host communicator and one of its ranks behind virtual
// functions (the communicator contract of weft/team/cpu_comm.hpp), and
// bench_colls.cpp instantiates the collectives once, for these two types. The
// cost is a few virtual calls per collective call (admission, connection
// lookup), none inside the data path.

class any_rank;

//! A host communicator (the contract in weft/team/cpu_comm.hpp) behind virtual functions.
class any_comm {
public:
  virtual ~any_comm() = default;
  virtual int size() const = 0;
  virtual weft::status admit(any_rank& tr, weft::coll_kind coll, weft::coll_options const& o, int root = 0) = 0;
  virtual weft::status refuse(any_rank& tr, weft::coll_kind coll, weft::status s, char const* why) = 0;
  virtual weft::connection* ring_conn(weft::protocol p, int ch, int sender) = 0;
  virtual weft::connection pair_conn(weft::protocol p, int ch, int sender, int receiver) = 0;
  virtual weft::wait_error* error_slot(int rank, int ch) = 0;
  virtual void mark_broken() = 0;
};

//! A rank of a host communicator behind virtual functions.
class any_rank {
public:
  virtual ~any_rank() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual weft::wait_bound bound() const = 0;
  virtual weft::status barrier() = 0;
  virtual weft::status all_gather(void const* mine, std::size_t bytes, void* out) = 0;
  virtual weft::status all_gather_raw_ptr(void* mine, void** all) = 0;
  template <class T>
  weft::status all_gather_ptr(T* mine, T** all) {
    return all_gather_raw_ptr(const_cast<void*>(static_cast<void const*>(mine)), reinterpret_cast<void**>(all));
  }
};

//! Rank `r` of communicator `c` as both interfaces (pass the object as either).
template <class Comm, class Rank>
class bound_rank final : public any_comm, public any_rank {
public:
  bound_rank(Comm& c, Rank& r) noexcept : c_(&c), r_(&r) {}
  int size() const override { return c_->size(); }
  weft::status admit(any_rank&, weft::coll_kind coll, weft::coll_options const& o, int root = 0) override {
    return c_->admit(*r_, coll, o, root);
  }
  weft::status refuse(any_rank&, weft::coll_kind coll, weft::status s, char const* why) override {
    return c_->refuse(*r_, coll, s, why);
  }
  weft::connection* ring_conn(weft::protocol p, int ch, int sender) override { return c_->ring_conn(p, ch, sender); }
  weft::connection pair_conn(weft::protocol p, int ch, int sender, int receiver) override {
    return c_->pair_conn(p, ch, sender, receiver);
  }
  weft::wait_error* error_slot(int rank, int ch) override { return c_->error_slot(rank, ch); }
  void mark_broken() override { c_->mark_broken(); }
  int rank() const override { return r_->rank(); }
  weft::wait_bound bound() const override { return r_->bound(); }
  weft::status barrier() override { return r_->barrier(); }
  weft::status all_gather(void const* mine, std::size_t bytes, void* out) override {
    return r_->all_gather(mine, bytes, out);
  }
  weft::status all_gather_raw_ptr(void* mine, void** all) override { return r_->all_gather_ptr(mine, all); }

private:
  Comm* c_;
  Rank* r_;
};

} // namespace weft_bench

namespace weft {
template <>
struct is_host_comm<weft_bench::any_comm> : std::true_type {};
} // namespace weft

namespace weft_bench {

//! Whether this build of weft has the all-to-all collective.
inline constexpr bool all_to_all_available = all_to_all_available_v<any_comm, any_rank>;

struct rank_result;
class rank_buffers;

//! Rank `r` of `n` (`tr` of communicator `c`): warm up, time and check collective
//! `s` with `measure_rank` (bench_rank.hpp), meeting the other ranks with
//! `barrier`. Defined in bench_colls.cpp, the one place the collectives are
//! instantiated.
weft::status measure_collective(any_comm& c, any_rank& tr, coll_spec const& s, run_settings const& how, int r, int n,
                                rank_buffers& buf, std::size_t max_bytes, std::function<weft::status()> const& barrier,
                                rank_result& out);

//! A barrier made of a collective: an all-reduce of one element (LL, ring) over
//! `c`. Nobody finishes it before everyone has entered it; its waits carry the
//! communicator's bound, and a rank's failure (the abort word) ends it everywhere.
weft::status collective_barrier(any_comm& c, any_rank& tr);

//! The first rank that failed on its own account (the others report `aborted`),
//! else the first that failed at all, else -1.
inline int first_failed_rank(std::vector<weft::status> const& per_rank) {
  for (int pass = 0; pass < 2; ++pass)
    for (int r = 0; r < int(per_rank.size()); ++r)
      if (per_rank[std::size_t(r)] != weft::status::success &&
          (pass == 1 || per_rank[std::size_t(r)] != weft::status::aborted))
        return r;
  return -1;
}

} // namespace weft_bench
