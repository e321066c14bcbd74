#pragma once
//! \file
//! The CPU communicator: ring connections in host memory for every protocol and
//! channel, and the collectives as CPU-team ranks call them.
//!
//! ```
//! weft::cpu_team team(4);
//! weft::cpu_comm comm(4);
//! team.run([&](weft::team_rank& r) {
//!   return weft::all_reduce(comm, r, send[r.rank()], recv[r.rank()], count, weft::op::sum<float>{});
//! });
//! ```
//! Every rank's thread calls the same collective with the same count, options
//! and root; channels run one after another in each thread (each channel is
//! an independent ring with its own connections). A collective that fails
//! (timeout, abort) leaves the communicator broken: later calls return
//! `status::aborted` and `last_error` says why; make a new communicator.
//!
//! The collectives are templates over the communicator and rank types, so a
//! communicator whose connections live elsewhere (shared memory between
//! processes, say) runs the same code. A communicator type `Comm` opts in with
//! `template <> struct weft::is_host_comm<Comm> : std::true_type {};` and
//! provides:
//!   int size() const;
//!   status admit(Rank&, coll_kind, coll_options const&, int root = 0);
//!   status refuse(Rank&, coll_kind, status, char const* why);
//!   connection* ring_conn(protocol, int ch, int sender);      // sender -> sender + 1
//!   connection pair_conn(protocol, int ch, int sender, int receiver);
//!     (the rail-rotated ring, `coll_options::ring_local`, takes its edges that
//!     are not sender -> sender + 1 from pair_conn)
//!   wait_error* error_slot(int rank, int ch);
//!   void mark_broken();
//! A rank type `Rank` (`team_rank` for threads) provides rank(), size(),
//! bound(), barrier(), all_gather(mine, bytes, out) and all_gather_ptr(mine, all)
//! (the last only for the direct all-gather, which exchanges raw pointers).

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/deterministic.hpp>
#include <weft/algorithm/hierarchical.hpp>
#include <weft/algorithm/plan.hpp>
#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/algorithm/tree.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>
#include <weft/prims/describe.hpp>
#include <weft/prims/prims.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/team/cpu_team.hpp>
#include <cuda/atomic>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <string>
#include <type_traits>
#include <vector>

namespace weft {

//! True for communicator types the host collectives accept (see the file comment).
template <class Comm>
struct is_host_comm : std::false_type {};
template <class Comm>
inline constexpr bool is_host_comm_v = is_host_comm<std::remove_cv_t<Comm>>::value;

//! The algorithm rules of the host communicators (cpu_comm, shm_comm): success,
//! or the status and reason (`why`, a static string) of a refusal.
inline status host_algorithm_check(algorithm a, coll_kind coll, char const*& why) noexcept {
  bool const ag_rs = coll == coll_kind::all_gather || coll == coll_kind::reduce_scatter;
  if (unsigned(a) >= unsigned(algorithm_count)) {
    why = "unknown algorithm";
    return status::invalid_argument;
  }
  if (a == algorithm::nvls) {
    why = "nvls runs over a multicast window: weft::cpu_window with cpu_nvls.hpp on the CPU team, algorithm::nvls of "
          "weft::comm on GPUs";
    return status::unsupported;
  }
  if (a != algorithm::ring && coll != coll_kind::all_reduce && !(a == algorithm::hierarchical && ag_rs)) {
    why = ag_rs ? "this algorithm is for all-reduce only (all-gather, reduce-scatter: ring or hierarchical)"
                : "broadcast and reduce have the ring (chain) algorithm only";
    return status::unsupported;
  }
  return status::success;
}

//! Per-call choices; the defaults suit small CPU teams.
struct coll_options {
  //! all-reduce: ring, recursive_doubling, rabenseifner, tree, hierarchical or rank_order;
  //! all-gather and reduce-scatter: ring or hierarchical; broadcast and reduce: ring
  algorithm algo = algorithm::ring;
  protocol proto = protocol::simple;
  int nchannels = 1;
  bool direct = false; //!< all-gather: write into the next rank's output buffer (Simple only)
  //! The ring family (algo == ring): ranks per node of the rail-rotated ring
  //! (`ring_order`): channel c enters every node of `ring_local` consecutive ranks
  //! at local rank c mod ring_local, so the channels cross node boundaries from
  //! different ranks (and NICs). 0 or 1: the plain ring. The rank count must be a
  //! multiple of it. Ignored by the deterministic mode (which keeps the plain order).
  int ring_local = 0;
  //! Same bits on every rank and every run, whatever the size, channels, protocol or `algo`:
  //! all-reduce runs rank_order (each element reduced in rank order), reduce-scatter the ring
  //! (block r reduced in the order r+1, ..., r); the others do not depend on it.
  bool deterministic = false;
  //! algo == hierarchical: team sizes and the outermost level's all-reduce algorithm
  //! (inner 0: hier_layout::automatic). The rank count must be a multiple of inner * middle.
  hier_layout hier{};
  //! Let the communicator's selector (`cpu_comm_config::selector`, e.g.
  //! `weft::tuner_selector(topology)` from runtime/tuned.hpp) choose algo, proto,
  //! nchannels and direct; the fields above are its fallback when it declines or
  //! when there is none. A choice the CPU team cannot run for this collective
  //! becomes the ring; channels are clamped to 1..max_channels. Every rank must
  //! get the same answer (the tuner is deterministic).
  bool automatic = false;
};

//! How a CPU communicator is built.
struct cpu_comm_config {
  int max_channels = 4;
  int nslots = 8;
  //! 128 KiB, as the GPU's (`protocol_defaults`): on the 2-CPU machine of
  //! docs/benchmarks.md ("Simple slots of 128 KiB") it beat 32 KiB from 64 KiB to
  //! 16 MiB at 2 and 4 ranks (fewer hand-offs, each of which may cost a trip
  //! through the scheduler). Connection memory: nranks x max_channels x nslots x
  //! this, 4 MiB per rank with the defaults.
  std::size_t simple_slot_bytes = 128 << 10;
  std::size_t ll_slot_bytes = 4 << 10;
  std::size_t ll128_slot_bytes = 16 << 10;
  std::size_t slot_bytes(protocol p) const {
    return p == protocol::simple ? simple_slot_bytes : p == protocol::ll ? ll_slot_bytes : ll128_slot_bytes;
  }
  //! Chooses the plan of calls made with `coll_options::automatic` (none: the options stand).
  plan_selector selector;
};

class cpu_comm {
public:
  explicit cpu_comm(int nranks, cpu_comm_config cfg = {}) : n_(nranks), cfg_(cfg) {
    // Two slots at least: with one, a ring step that receives and sends holds its
    // incoming slot while it waits for the next rank's, and the ring deadlocks.
    if (n_ < 1 || cfg_.max_channels < 1 || cfg_.nslots < 2) return; // invalid: every call reports it
    for (int pi = 0; pi < protocol_count; ++pi)
      if (!valid_slot_bytes(protocol(pi), cfg_.slot_bytes(protocol(pi)))) return;
    errors_.resize(std::size_t(n_) * std::size_t(cfg_.max_channels));
    call_errors_.resize(std::size_t(n_)); // sized once: ranks then touch only their own entry
    for (int pi = 0; pi < protocol_count; ++pi) {
      protocol const p = protocol(pi);
      std::size_t const sb = cfg_.slot_bytes(p);
      std::size_t const bytes = connection_bytes(cfg_.nslots, sb);
      for (int ch = 0; ch < cfg_.max_channels; ++ch)
        for (int s = 0; s < n_; ++s) {
          void* mem = std::aligned_alloc(64, align_up(bytes, 64));
          if (!mem) { // leave the communicator invalid: every call then reports it
            blocks_.clear();
            conns_.clear();
            scratch_ = 0;
            out_of_memory_ = true;
            return;
          }
          std::memset(mem, 0, bytes);
          blocks_.emplace_back(static_cast<unsigned char*>(mem));
          conns_.push_back(make_connection(mem, p, cfg_.nslots, sb, s, (s + 1) % n_));
          scratch_ += bytes;
        }
    }
    valid_ = true;
  }

  int size() const noexcept { return n_; }
  cpu_comm_config const& config() const noexcept { return cfg_; }
  //! For `coll_options::automatic` (see detail::choose_plan).
  plan_selector const& selector() const noexcept { return cfg_.selector; }
  int max_channels() const noexcept { return cfg_.max_channels; }
  //! Bytes of connection memory (staging slots and counters) this communicator holds.
  //! Point-to-point connections (recursive algorithms) are made on first use and counted from then on.
  std::size_t scratch_bytes() const noexcept {
    std::lock_guard<std::mutex> lock(pair_mutex_);
    return scratch_;
  }
  //! False when the last collective failed; the communicator must then be replaced.
  bool healthy() const noexcept { return valid_ && broken_ == 0; }

  //! Message of the first failure recorded on `rank`'s channels, or "no error".
  std::string last_error(int rank) const {
    if (!valid_) return "invalid communicator configuration";
    if (rank < 0 || rank >= n_) return "no such rank";
    for (int ch = 0; ch < cfg_.max_channels; ++ch) {
      wait_error const& e = errors_[std::size_t(rank) * std::size_t(cfg_.max_channels) + std::size_t(ch)];
      if (e.st != status::success) return describe(e);
    }
    if (call_errors_.size() > std::size_t(rank) && !call_errors_[std::size_t(rank)].empty())
      return call_errors_[std::size_t(rank)];
    return "no error";
  }

  // ---- used by the collective entry points ----
  //! Ring connection sender -> sender+1 for protocol `p` on channel `ch`.
  connection* ring_conn(protocol p, int ch, int sender) noexcept {
    return &conns_[(std::size_t(int(p)) * std::size_t(cfg_.max_channels) + std::size_t(ch)) * std::size_t(n_) +
                   std::size_t(sender)];
  }
  //! Connection sender -> receiver for protocol `p` on channel `ch`, made on first use
  //! (by whichever endpoint asks first; both get the same one).
  connection pair_conn(protocol p, int ch, int sender, int receiver) {
    std::lock_guard<std::mutex> lock(pair_mutex_);
    auto key = std::make_tuple(int(p), ch, sender, receiver);
    auto it = pairs_.find(key);
    if (it != pairs_.end()) return it->second;
    std::size_t const sb = cfg_.slot_bytes(p);
    std::size_t const bytes = connection_bytes(cfg_.nslots, sb);
    void* mem = std::aligned_alloc(64, align_up(bytes, 64));
    if (!mem) return connection{};
    std::memset(mem, 0, bytes);
    blocks_.emplace_back(static_cast<unsigned char*>(mem));
    scratch_ += bytes;
    return pairs_[key] = make_connection(mem, p, cfg_.nslots, sb, sender, receiver);
  }
  wait_error* error_slot(int rank, int ch) noexcept {
    return &errors_[std::size_t(rank) * std::size_t(cfg_.max_channels) + std::size_t(ch)];
  }
  //! Record why `tr`'s call of `coll` is refused (read back by last_error) and return `s`.
  template <class Rank>
  status refuse(Rank& tr, coll_kind coll, status s, char const* why) {
    if (tr.rank() >= 0 && std::size_t(tr.rank()) < call_errors_.size())
      call_errors_[std::size_t(tr.rank())] = std::string(to_string(coll)) + ": " + why;
    return s;
  }

  //! Check the call's arguments; record why it is refused.
  template <class Rank>
  status admit(Rank& tr, coll_kind coll, coll_options const& o, int root = 0) {
    auto refuse = [&](status s, char const* why) { return this->refuse(tr, coll, s, why); };
    if (out_of_memory_) return refuse(status::out_of_memory, "connection memory could not be allocated");
    if (!valid_) return refuse(status::invalid_argument, "invalid communicator configuration");
    if (tr.size() != n_) return refuse(status::invalid_argument, "team size differs from the communicator's");
    if (cuda::atomic_ref<int, cuda::thread_scope_system>(broken_).load(cuda::memory_order_acquire) != 0)
      return refuse(status::aborted, "communicator is broken by an earlier failed collective");
    if (o.nchannels < 1 || o.nchannels > cfg_.max_channels)
      return refuse(status::invalid_argument, "nchannels outside 1..max_channels");
    if (unsigned(o.proto) >= unsigned(protocol_count)) return refuse(status::invalid_argument, "unknown protocol");
    {
      char const* why = nullptr;
      if (status const a = host_algorithm_check(o.algo, coll, why); a != status::success) return refuse(a, why);
    }
    if (o.direct && o.proto != protocol::simple)
      return refuse(status::unsupported, "direct transfers need the Simple protocol");
    if (o.direct && o.algo != algorithm::ring)
      return refuse(status::unsupported, "direct transfers are for the ring all-gather");
    if (char const* why = ring_local_problem(o.ring_local, n_)) return refuse(status::invalid_argument, why);
    if (root < 0 || root >= n_) return refuse(status::invalid_argument, "root outside 0..nranks-1");
    call_errors_[std::size_t(tr.rank())].clear();
    for (int ch = 0; ch < cfg_.max_channels; ++ch) *error_slot(tr.rank(), ch) = wait_error{};
    return status::success;
  }
  void mark_broken() noexcept {
    cuda::atomic_ref<int, cuda::thread_scope_system>(broken_).store(1, cuda::memory_order_release);
  }

private:
  struct free_deleter {
    void operator()(unsigned char* p) const noexcept { std::free(p); }
  };
  int n_;
  cpu_comm_config cfg_;
  bool valid_ = false;
  std::vector<std::unique_ptr<unsigned char, free_deleter>> blocks_;
  std::vector<connection> conns_;
  std::vector<wait_error> errors_;
  std::vector<std::string> call_errors_;
  std::size_t scratch_ = 0;
  mutable std::mutex pair_mutex_;
  std::map<std::tuple<int, int, int, int>, connection> pairs_;
  bool out_of_memory_ = false;
  int broken_ = 0;
};

template <>
struct is_host_comm<cpu_comm> : std::true_type {};

namespace detail {

//! The order of channel `ch`'s ring for a call with options `o` (the deterministic
//! mode and every algorithm but the ring keep the plain order).
inline ring_order ring_order_for(coll_options const& o, int ch) noexcept {
  bool const rotate = o.algo == algorithm::ring && !o.deterministic;
  return ring_order{rotate ? o.ring_local : 1, ch};
}

//! The connection of ring edge sender -> receiver on channel `ch`: the ring
//! connection when receiver is sender + 1, else the pair connection (so every
//! connection keeps the same two endpoints whatever the order, and its
//! persistent step counters stay consistent from call to call).
template <class Comm>
connection ring_edge(Comm& c, protocol p, int ch, int sender, int receiver) {
  if (receiver == mod(sender + 1, c.size())) return *c.ring_conn(p, ch, sender);
  return c.pair_conn(p, ch, sender, receiver);
}

template <class Comm, class = void>
struct has_plan_selector : std::false_type {};
template <class Comm>
struct has_plan_selector<Comm, std::void_t<decltype(std::declval<Comm const&>().selector()),
                                           decltype(std::declval<Comm const&>().max_channels())>> : std::true_type {};

//! Whether the CPU team runs `a` for `coll` with no further options (hierarchical
//! needs a layout, so a selector's choice of it becomes the ring; NVLS needs a
//! multicast window, which a host communicator has not).
constexpr bool cpu_serves(algorithm a, coll_kind coll) noexcept {
  return a == algorithm::ring || (coll == coll_kind::all_reduce && a != algorithm::hierarchical && a != algorithm::nvls);
}

//! `coll_options::automatic`: ask the communicator's selector (if it has one)
//! for the plan of this call and write it into `o`. `bytes` is nccl-tests' size.
template <class Comm>
void choose_plan(Comm const& c, coll_kind coll, std::size_t bytes, std::size_t elem_bytes, int root, coll_options& o) {
  if (!o.automatic) return;
  if constexpr (has_plan_selector<Comm>::value) {
    plan_selector const& sel = c.selector();
    launch_plan p;
    p.algo = o.algo;
    p.proto = o.proto;
    p.nchannels = o.nchannels;
    p.direct = o.direct;
    p.ring_local = o.ring_local;
    if (!sel || !sel(coll, c.size(), bytes, elem_bytes, root, p)) return;
    o.algo = unsigned(p.algo) < unsigned(algorithm_count) && cpu_serves(p.algo, coll) ? p.algo : algorithm::ring;
    if (unsigned(p.proto) < unsigned(protocol_count)) o.proto = p.proto;
    o.nchannels = p.nchannels < 1 ? 1 : p.nchannels > c.max_channels() ? c.max_channels() : p.nchannels;
    o.direct = p.direct && coll == coll_kind::all_gather && o.proto == protocol::simple && o.algo == algorithm::ring;
    // A layout the team cannot take (not whole nodes) leaves the plain ring.
    o.ring_local = ring_local_problem(p.ring_local, c.size()) ? 0 : p.ring_local;
  }
}

// Runs `body(prims&, channel range, ring_position)` for every channel with the
// chosen protocol, each channel's prims connected to that channel's ring
// neighbours (`ring_order_for`). `direct`, when not null, holds every rank's
// user buffer for direct prims: the next rank's goes into this rank's private
// copy of the send connection (the shared one is read by the next rank at the
// same time).
template <class Comm, class Rank, class Op, class Body>
status cpu_ring_run(Comm& c, Rank& tr, coll_kind coll, Op const& op, coll_options const& o,
                    std::size_t range_count, Body&& body, void* const* direct = nullptr) {
  host_group g;
  int const me = tr.rank(), n = c.size();
  auto one = [&](auto proto_tag) -> status {
    constexpr protocol P = decltype(proto_tag)::value;
    for (int ch = 0; ch < o.nchannels; ++ch) {
      ring_position const pos{me, n, ring_order_for(o, ch)};
      int const prev = pos.order.prev(me, n), next = pos.order.next(me, n);
      prims_context ctx{me, ch, coll, tr.bound(), c.error_slot(me, ch)};
      connection recv_c = ring_edge(c, P, ch, prev, me);
      connection send_c = ring_edge(c, P, ch, me, next);
      if (n > 1 && (!recv_c.buf || !send_c.buf)) return status::out_of_memory;
      send_c.direct_buf = direct ? direct[next] : nullptr;
      prims<Op, P, host_group> p(g, op, &recv_c, &send_c, ctx);
      status const s = body(p, partition(range_count, o.nchannels, ch), pos);
      p.finish();
      if (s != status::success) return s;
    }
    return status::success;
  };
  status s;
  switch (o.proto) {
    case protocol::ll: s = one(cuda::std::integral_constant<protocol, protocol::ll>{}); break;
    case protocol::ll128: s = one(cuda::std::integral_constant<protocol, protocol::ll128>{}); break;
    default: s = one(cuda::std::integral_constant<protocol, protocol::simple>{}); break;
  }
  if (s != status::success) c.mark_broken();
  return s;
}

// Prims to any peer for the recursive algorithms (see weft/algorithm/recursive.hpp).
template <class Comm, class Rank, class Op, protocol P>
struct cpu_net {
  Comm& c;
  Rank& tr;
  coll_kind coll;
  Op const& op;
  int ch;
  host_group g{};
  //! f(prims&) receiving from `recv_peer` and sending to `send_peer` (either may be -1: none).
  template <class F>
  status with_peers(int recv_peer, int send_peer, F&& f) {
    int const me = tr.rank();
    connection rc{}, sc{};
    if (recv_peer >= 0) rc = c.pair_conn(P, ch, recv_peer, me);
    if (send_peer >= 0) sc = c.pair_conn(P, ch, me, send_peer);
    if ((recv_peer >= 0 && !rc.buf) || (send_peer >= 0 && !sc.buf)) return status::out_of_memory;
    prims_context ctx{me, ch, coll, tr.bound(), c.error_slot(me, ch)};
    prims<Op, P, host_group> p(g, op, recv_peer >= 0 ? &rc : nullptr, send_peer >= 0 ? &sc : nullptr, ctx);
    status const s = f(p);
    p.finish();
    return s;
  }
  //! f(prims&) receiving from and sending to `peer`.
  template <class F>
  status with_peer(int peer, F&& f) {
    return with_peers(peer, peer, static_cast<F&&>(f));
  }
  template <class F>
  status local(F&& f) {
    prims_context ctx{tr.rank(), ch, coll, tr.bound(), c.error_slot(tr.rank(), ch)};
    prims<Op, P, host_group> p(g, op, nullptr, nullptr, ctx);
    return f(p);
  }
};

template <class Comm, class Rank, class Op, class Body>
status cpu_net_run(Comm& c, Rank& tr, coll_kind coll, Op const& op, coll_options const& o,
                   std::size_t range_count, Body&& body) {
  auto one = [&](auto proto_tag) -> status {
    constexpr protocol P = decltype(proto_tag)::value;
    for (int ch = 0; ch < o.nchannels; ++ch) {
      cpu_net<Comm, Rank, Op, P> net{c, tr, coll, op, ch};
      if (status const s = body(net, partition(range_count, o.nchannels, ch)); s != status::success) return s;
    }
    return status::success;
  };
  status s;
  switch (o.proto) {
    case protocol::ll: s = one(cuda::std::integral_constant<protocol, protocol::ll>{}); break;
    case protocol::ll128: s = one(cuda::std::integral_constant<protocol, protocol::ll128>{}); break;
    default: s = one(cuda::std::integral_constant<protocol, protocol::simple>{}); break;
  }
  if (s != status::success) c.mark_broken();
  return s;
}

inline bool bad_buffers(void const* a, void const* b, std::size_t count) { return count > 0 && (!a || !b); }

// The levels of a hierarchical call, or a refusal recorded on the communicator.
template <class Comm, class Rank>
status hier_shape_for(Comm& c, Rank& tr, coll_kind coll, coll_options const& o, hier_shape& shape) {
  char const* why = "";
  if (!hier_shape::of(o.hier.resolved(c.size()), c.size(), shape, &why)) return c.refuse(tr, coll, status::unsupported, why);
  return status::success;
}

template <class T>
bool count_overflows(std::size_t count, int n) {
  return count > std::numeric_limits<std::size_t>::max() / sizeof(T) / std::size_t(n < 1 ? 1 : n);
}

} // namespace detail

//! All-reduce: every rank's `recv` gets the reduction of all ranks' `send` (`count` elements; in place when equal).
template <class T, class Op, class Comm, class Rank>
std::enable_if_t<is_host_comm_v<Comm>, status> all_reduce(Comm& c, Rank& tr, T const* send, T* recv, std::size_t count, Op const& op,
                  coll_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  detail::choose_plan(c, coll_kind::all_reduce, count * sizeof(T), sizeof(T), 0, o);
  if (status s = c.admit(tr, coll_kind::all_reduce, o); s != status::success) return s;
  if (detail::bad_buffers(send, recv, count) || detail::count_overflows<T>(count, 1))
    return c.refuse(tr, coll_kind::all_reduce, status::invalid_argument, "null buffer or element count too large");
  ring_position const pos{tr.rank(), c.size()};
  auto on_net = [&](auto&& algo) {
    return detail::cpu_net_run(c, tr, coll_kind::all_reduce, op, o, count,
                               [&](auto& net, elem_range r) { return algo(net, r); });
  };
  switch (o.deterministic ? algorithm::rank_order : o.algo) {
    case algorithm::recursive_doubling:
      return on_net([&](auto& net, elem_range r) { return recursive_doubling_all_reduce(net, pos, send, recv, r); });
    case algorithm::rabenseifner:
      return on_net([&](auto& net, elem_range r) { return rabenseifner_all_reduce(net, pos, send, recv, r); });
    case algorithm::tree:
      return on_net([&](auto& net, elem_range r) { return tree_all_reduce(net, pos, send, recv, r); });
    case algorithm::hierarchical: {
      hier_shape shape;
      WEFT_TRY(detail::hier_shape_for(c, tr, coll_kind::all_reduce, o, shape));
      hier_layout const layout = o.hier.resolved(c.size());
      return on_net([&](auto& net, elem_range r) {
        return hier_all_reduce(net, shape, layout.outer, tr.rank(), send, recv, r, layout.within);
      });
    }
    case algorithm::rank_order:
      return detail::cpu_ring_run(c, tr, coll_kind::all_reduce, op, o, count, [&](auto& p, elem_range r, ring_position) {
        return rank_order_all_reduce(p, pos, send, recv, r);
      });
    default: break;
  }
  return detail::cpu_ring_run(c, tr, coll_kind::all_reduce, op, o, count, [&](auto& p, elem_range r, ring_position q) {
    return ring_all_reduce(p, q, send, recv, r);
  });
}

//! All-gather: `recv` (nranks * sendcount) gets every rank's `send` in rank order.
//! In place when `send == recv + rank * sendcount`.
template <class T, class Comm, class Rank>
std::enable_if_t<is_host_comm_v<Comm>, status> all_gather(Comm& c, Rank& tr, T const* send, T* recv, std::size_t sendcount, coll_options o = {}) {
  detail::choose_plan(c, coll_kind::all_gather, sendcount * std::size_t(c.size()) * sizeof(T), sizeof(T), 0, o);
  if (status s = c.admit(tr, coll_kind::all_gather, o); s != status::success) return s;
  if (detail::bad_buffers(send, recv, sendcount) || detail::count_overflows<T>(sendcount, c.size()))
    return c.refuse(tr, coll_kind::all_gather, status::invalid_argument, "null buffer or element count too large");
  // Each channel's next rank's output buffer is this rank's direct destination: exchange pointers.
  std::vector<T*> outs(o.direct ? std::size_t(c.size()) : 0);
  std::vector<void*> direct(outs.size());
  if (o.direct) {
    if (status s = tr.all_gather_ptr(recv, outs.data()); s != status::success) return s;
    for (std::size_t k = 0; k < outs.size(); ++k) direct[k] = outs[k];
  }
  op::sum<T> copy_op;
  if (o.algo == algorithm::hierarchical) {
    hier_shape shape;
    WEFT_TRY(detail::hier_shape_for(c, tr, coll_kind::all_gather, o, shape));
    return detail::cpu_net_run(c, tr, coll_kind::all_gather, copy_op, o, sendcount, [&](auto& net, elem_range r) {
      return hier_all_gather(net, shape, tr.rank(), send, recv, sendcount, r);
    });
  }
  return detail::cpu_ring_run(c, tr, coll_kind::all_gather, copy_op, o, sendcount, [&](auto& p, elem_range r, ring_position q) {
    if constexpr (std::decay_t<decltype(p)>::proto == protocol::simple)
      if (o.direct) return ring_all_gather_direct(p, q, send, recv, sendcount, r);
    return ring_all_gather(p, q, send, recv, sendcount, r);
  }, o.direct ? direct.data() : nullptr);
}

//! Reduce-scatter: rank r's `recv` (recvcount) gets the reduction of block r of every rank's `send` (nranks * recvcount).
template <class T, class Op, class Comm, class Rank>
std::enable_if_t<is_host_comm_v<Comm>, status> reduce_scatter(Comm& c, Rank& tr, T const* send, T* recv, std::size_t recvcount, Op const& op,
                      coll_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  detail::choose_plan(c, coll_kind::reduce_scatter, recvcount * std::size_t(c.size()) * sizeof(T), sizeof(T), 0, o);
  if (status s = c.admit(tr, coll_kind::reduce_scatter, o); s != status::success) return s;
  if (detail::bad_buffers(send, recv, recvcount) || detail::count_overflows<T>(recvcount, c.size()))
    return c.refuse(tr, coll_kind::reduce_scatter, status::invalid_argument, "null buffer or element count too large");
  if (o.algo == algorithm::hierarchical && !o.deterministic) {
    hier_shape shape;
    WEFT_TRY(detail::hier_shape_for(c, tr, coll_kind::reduce_scatter, o, shape));
    // Partial sums between levels: nranks x recvcount elements, for this call only.
    std::vector<T> scratch(shape.levels > 1 && c.size() > 1 ? std::size_t(c.size()) * recvcount : 0);
    return detail::cpu_net_run(c, tr, coll_kind::reduce_scatter, op, o, recvcount, [&](auto& net, elem_range r) {
      return hier_reduce_scatter(net, shape, tr.rank(), send, recv, scratch.data(), recvcount, r);
    });
  }
  return detail::cpu_ring_run(c, tr, coll_kind::reduce_scatter, op, o, recvcount, [&](auto& p, elem_range r, ring_position q) {
    return ring_reduce_scatter(p, q, send, recv, recvcount, r);
  });
}

//! Broadcast: every rank's `recv` gets root's `send` (only root's `send` is read).
template <class T, class Comm, class Rank>
std::enable_if_t<is_host_comm_v<Comm>, status> broadcast(Comm& c, Rank& tr, T const* send, T* recv, std::size_t count, int root, coll_options o = {}) {
  detail::choose_plan(c, coll_kind::broadcast, count * sizeof(T), sizeof(T), root, o);
  if (status s = c.admit(tr, coll_kind::broadcast, o, root); s != status::success) return s;
  if ((tr.rank() == root && detail::bad_buffers(send, recv, count)) || (count > 0 && !recv) ||
      detail::count_overflows<T>(count, 1))
    return c.refuse(tr, coll_kind::broadcast, status::invalid_argument, "null buffer or element count too large");
  op::sum<T> copy_op;
  return detail::cpu_ring_run(c, tr, coll_kind::broadcast, copy_op, o, count, [&](auto& p, elem_range r, ring_position q) {
    return chain_broadcast(p, q, root, send, recv, r);
  });
}

//! Reduce: root's `recv` gets the reduction of every rank's `send` (other ranks' `recv` is untouched).
template <class T, class Op, class Comm, class Rank>
std::enable_if_t<is_host_comm_v<Comm>, status> reduce(Comm& c, Rank& tr, T const* send, T* recv, std::size_t count, int root, Op const& op,
              coll_options o = {}) {
  static_assert(std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  detail::choose_plan(c, coll_kind::reduce, count * sizeof(T), sizeof(T), root, o);
  if (status s = c.admit(tr, coll_kind::reduce, o, root); s != status::success) return s;
  if ((count > 0 && !send) || (tr.rank() == root && count > 0 && !recv) || detail::count_overflows<T>(count, 1))
    return c.refuse(tr, coll_kind::reduce, status::invalid_argument, "null buffer or element count too large");
  return detail::cpu_ring_run(c, tr, coll_kind::reduce, op, o, count, [&](auto& p, elem_range r, ring_position q) {
    return chain_reduce(p, q, root, send, recv, r);
  });
}

} // namespace weft
