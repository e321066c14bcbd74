#pragma once
//! \file
//! The shared-memory communicator: CPU-team ranks as separate processes of one
//! host, running the same prims and algorithms as `cpu_comm`.
//!
//! ```
//! weft::mpi_bootstrap boot(MPI_COMM_WORLD);               // or tcp_bootstrap, callback_bootstrap
//! std::unique_ptr<weft::shm_comm> comm;
//! if (weft::shm_comm::create(boot, {}, comm) != weft::status::success) ...;
//! weft::proc_rank me = comm->rank_handle();
//! weft::status s = weft::all_reduce(*comm, me, send, recv, count, weft::op::sum<float>{});
//! // on failure: comm->last_error() names the collective, rank, peer and step, and a lost process
//! ```
//! One POSIX shared-memory segment per communicator holds everything the ranks
//! share: a header, one liveness slot per rank, the `wait_error` of every rank
//! and channel, and the connections -- a ring connection per protocol, channel
//! and sender, and (unless turned off) a pair connection for every ordered pair
//! of ranks, all laid out up front by `connection_bytes` and viewed in each
//! process with `make_connection` at its own mapping address.
//!
//! Faults. Each process's watchdog thread holds its rank's robust mutex in the
//! segment and polls its peers' mutexes; the kernel hands a dead holder's mutex
//! over as EOWNERDEAD, so a process that dies in any way (SIGKILL included) is
//! seen within `watch_interval_ns`. The watchdog then records the lost rank and
//! raises the segment's abort word: every rank's bounded waits return
//! `status::aborted` at once, the collective reports which wait stopped, and
//! `last_error()` adds which process was lost. The segment's name is removed
//! as soon as every rank has mapped it, so no segment outlives the job.

#include <weft/bootstrap/bootstrap.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>
#include <weft/prims/describe.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/proc_rank.hpp>
#include <weft/transport/shm_segment.hpp>
#include <cuda/atomic>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace weft {

//! How a shared-memory communicator is built. Every rank passes the same values.
struct shm_comm_config {
  //! Channels, slots and slot sizes per protocol. Simple slots of 32 KiB, not the
  //! CPU team's 128: one shared segment holds the connections of every ordered
  //! pair (n^2 per channel), and /dev/shm is often small.
  cpu_comm_config conn = [] {
    cpu_comm_config c;
    c.simple_slot_bytes = std::size_t(32) << 10;
    return c;
  }();
  bool pair_connections = true;                       //!< connections for every ordered pair (recursive all-reduce)
  cuda::std::uint64_t timeout_ns = 10'000'000'000ull; //!< bound of every wait of a collective
  cuda::std::uint64_t watch_interval_ns = 20'000'000ull; //!< how often each process checks its peers are alive
  bool watchdog = true;                               //!< detect dead peers (else only timeouts report them)
};

namespace detail {

inline constexpr std::uint64_t shm_comm_magic = 0x314d4d4f43544657ull; // "WFTCOMM1"

struct alignas(64) shm_rank_slot {
  pthread_mutex_t live; // held by the rank's watchdog thread while its process lives
  std::int32_t pid;
  std::int32_t state; // 0: not attached, 1: attached, 2: left
};

struct alignas(64) shm_header {
  std::uint64_t magic; // stored last by the creator (release)
  std::uint64_t total_bytes;
  std::int32_t nranks, max_channels, nslots, pairs;
  std::uint64_t slot_bytes[protocol_count];
  std::int64_t creator_pid;
  alignas(64) std::uint32_t abort;
  alignas(64) std::int32_t lost_rank;
  std::int32_t lost_pid;
};

inline constexpr std::size_t shm_align(std::size_t x) noexcept { return (x + 63) / 64 * 64; }

//! Where everything sits in a segment.
struct shm_layout {
  int n = 0, nch = 0, nslots = 0;
  bool pairs = false;
  std::size_t slot_bytes[protocol_count] = {};
  std::size_t ranks_off = 0, errors_off = 0, error_stride = 0;
  std::size_t conn_stride[protocol_count] = {}, proto_off[protocol_count] = {};
  std::size_t total = 0;

  int conns_per_channel() const noexcept { return n + (pairs ? n * (n - 1) : 0); }

  static shm_layout of(int n, shm_comm_config const& c) noexcept {
    shm_layout l;
    l.n = n;
    l.nch = c.conn.max_channels;
    l.nslots = c.conn.nslots;
    l.pairs = c.pair_connections && n > 1;
    std::size_t off = shm_align(sizeof(shm_header));
    l.ranks_off = off;
    off += shm_align(sizeof(shm_rank_slot) * std::size_t(n));
    l.errors_off = off;
    l.error_stride = shm_align(sizeof(wait_error));
    off += l.error_stride * std::size_t(n) * std::size_t(l.nch);
    for (int p = 0; p < protocol_count; ++p) {
      l.slot_bytes[p] = c.conn.slot_bytes(protocol(p));
      l.conn_stride[p] = shm_align(connection_bytes(l.nslots, l.slot_bytes[p]));
      l.proto_off[p] = off;
      off += l.conn_stride[p] * std::size_t(l.conns_per_channel()) * std::size_t(l.nch);
    }
    l.total = off;
    return l;
  }
  //! Offset of connection `index` (ring: sender; pair: n + sender*(n-1) + receiver slot) of protocol p, channel ch.
  std::size_t conn_off(int p, int ch, int index) const noexcept {
    return proto_off[p] + (std::size_t(ch) * std::size_t(conns_per_channel()) + std::size_t(index)) * conn_stride[p];
  }
  int pair_index(int s, int r) const noexcept { return n + s * (n - 1) + (r < s ? r : r - 1); }
};

//! A digest of everything the ranks must agree on (so a mismatch is refused, not misread).
inline std::uint64_t shm_config_digest(int n, shm_comm_config const& c) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xffu)) * 1099511628211ull;
  };
  mix(std::uint64_t(n));
  mix(std::uint64_t(c.conn.max_channels));
  mix(std::uint64_t(c.conn.nslots));
  for (int p = 0; p < protocol_count; ++p) mix(c.conn.slot_bytes(protocol(p)));
  mix(c.pair_connections ? 1 : 0);
  mix(c.timeout_ns);
  mix(c.watchdog ? 1 : 0);
  return h;
}

//! This host's identity: host name and kernel boot id (ranks of one communicator must share it).
inline std::uint64_t host_digest() {
  std::string id;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) id = host;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string boot;
  if (f && std::getline(f, boot)) id += "/" + boot;
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : id) h = (h ^ ch) * 1099511628211ull;
  return h;
}

} // namespace detail

//! A communicator whose ranks are processes sharing one POSIX shared-memory segment.
class shm_comm {
public:
  shm_comm(shm_comm const&) = delete;
  shm_comm& operator=(shm_comm const&) = delete;

  //! Collective over `b`'s ranks: every rank calls it with the same `cfg`. On
  //! success `out` holds this rank's communicator. `b` must outlive it.
  //! Fails with `invalid_argument` (bad or mismatched configuration, ranks on
  //! different hosts), `out_of_memory` (no room in /dev/shm), or the bootstrap's status.
  [[nodiscard]] static status create(bootstrap& b, shm_comm_config const& cfg, std::unique_ptr<shm_comm>& out,
                                     std::string* why = nullptr) {
    auto say = [&](status s, std::string const& text) {
      if (why) *why = "shm_comm: " + text;
      return s;
    };
    int const n = b.size(), me = b.rank();
    if (n < 1 || me < 0 || me >= n) return say(status::invalid_argument, "bootstrap rank or size invalid");
    bool ok = cfg.conn.max_channels >= 1 && cfg.conn.nslots >= 2 && cfg.timeout_ns > 0 && cfg.watch_interval_ns > 0;
    for (int p = 0; p < protocol_count; ++p)
      ok = ok && valid_slot_bytes(protocol(p), cfg.conn.slot_bytes(protocol(p))) &&
           cfg.conn.slot_bytes(protocol(p)) <= (std::size_t(1) << 30);
    std::unique_ptr<shm_comm> c(new shm_comm(b, cfg));

    // 1. Agree on the configuration and the host.
    struct agree {
      std::uint64_t host, cfg;
      std::int32_t ok, pad;
    };
    agree mine{detail::host_digest(), detail::shm_config_digest(n, cfg), ok ? 1 : 0, 0};
    std::vector<agree> all(static_cast<std::size_t>(n));
    if (status s = b.all_gather(&mine, sizeof mine, all.data()); s != status::success)
      return say(s, "bootstrap all_gather failed: " + b.last_error());
    for (agree const& a : all) {
      if (!a.ok) return say(status::invalid_argument, "invalid configuration (channels, slots or slot sizes)");
      if (a.cfg != mine.cfg) return say(status::invalid_argument, "ranks passed different configurations");
      if (a.host != mine.host) return say(status::invalid_argument, "ranks are on different hosts");
    }
    c->layout_ = detail::shm_layout::of(n, cfg);

    // 2. Rank 0 creates and fills the header; everyone learns the name.
    struct name_msg {
      std::int32_t st;
      char name[shm_name_max + 1];
    };
    name_msg nm{};
    if (me == 0) {
      (void)shm_sweep_stale();
      status s = shm_segment::create(c->layout_.total, c->seg_);
      if (s == status::success) s = c->init_header();
      nm.st = std::int32_t(s);
      std::strncpy(nm.name, c->seg_.name().c_str(), shm_name_max);
    }
    if (status s = bootstrap_broadcast(b, 0, &nm, sizeof nm); s != status::success)
      return say(s, "bootstrap broadcast failed: " + b.last_error());
    if (nm.st != std::int32_t(status::success))
      return say(status(nm.st), "rank 0 could not create the shared-memory segment");

    // 3. Everyone maps it; all must succeed.
    std::int32_t att = std::int32_t(status::success);
    if (me != 0) {
      nm.name[shm_name_max] = 0;
      att = std::int32_t(shm_segment::open(nm.name, c->layout_.total, c->seg_));
      if (att == std::int32_t(status::success) && !c->header_matches()) att = std::int32_t(status::invalid_argument);
    }
    std::vector<std::int32_t> atts(static_cast<std::size_t>(n));
    if (status s = b.all_gather(&att, sizeof att, atts.data()); s != status::success)
      return say(s, "bootstrap all_gather failed: " + b.last_error());
    for (int r = 0; r < n; ++r)
      if (atts[std::size_t(r)] != std::int32_t(status::success))
        return say(status(atts[std::size_t(r)]), "rank " + std::to_string(r) + " could not map the segment");

    // 4. Liveness: each watchdog holds its rank's mutex before anyone watches.
    detail::shm_rank_slot& slot = c->rank_slot(me);
    cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(slot.pid).store(std::int32_t(::getpid()),
                                                                             cuda::memory_order_relaxed);
    cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(slot.state).store(1, cuda::memory_order_release);
    if (cfg.watchdog) {
      if (status s = c->start_watchdog(); s != status::success) return say(s, "could not start the watchdog");
    }
    if (status s = b.barrier(); s != status::success) return say(s, "bootstrap barrier failed: " + b.last_error());
    c->seg_.unlink(); // every rank has it mapped: the name is no longer needed
    // Once create returns on any rank, the name is gone from /dev/shm.
    if (status s = b.barrier(); s != status::success) return say(s, "bootstrap barrier failed: " + b.last_error());
    c->armed_.store(true, std::memory_order_release);
    c->build_views();
    out = std::move(c);
    return status::success;
  }

  ~shm_comm() {
    stop_watchdog();
    seg_.reset();
  }

  int size() const noexcept { return layout_.n; }
  int rank() const noexcept { return me_; }
  shm_comm_config const& config() const noexcept { return cfg_; }
  //! For `coll_options::automatic`: `cfg.conn.selector` (each process's must agree).
  plan_selector const& selector() const noexcept { return cfg_.conn.selector; }
  int max_channels() const noexcept { return layout_.nch; }
  //! Bytes of the shared segment (staging slots, counters, error slots, header).
  std::size_t scratch_bytes() const noexcept { return layout_.total; }
  //! The segment's name (already removed from /dev/shm once `create` returned).
  std::string const& segment_name() const noexcept { return seg_.name(); }
  //! This process's rank, as the collectives take it.
  proc_rank rank_handle() const noexcept { return proc_rank(*boot_, bound()); }
  //! The bound every wait of a collective uses: the timeout and the shared abort word.
  wait_bound bound() const noexcept { return {cfg_.timeout_ns, &header()->abort}; }

  //! False once a collective failed, a peer was lost, or `abort()` was called.
  bool healthy() const noexcept { return !broken_.load(std::memory_order_acquire) && abort_word() == 0; }
  //! Stop every rank's collective now (all their waits return `aborted`).
  void abort() noexcept { signal(&header()->abort, 1u); }
  //! Rank whose process was seen to die, or -1.
  int lost_peer() const noexcept { return load_i32(header()->lost_rank); }

  //! Why this rank's last collective failed: the failed wait (collective, rank,
  //! peer, step), or the refusal, and the lost process if one was seen.
  std::string last_error() const { return last_error(me_); }
  //! The same for any rank of the communicator (read from the segment).
  std::string last_error(int rank) const {
    if (rank < 0 || rank >= layout_.n) return "no such rank";
    std::string s;
    for (int ch = 0; ch < layout_.nch && s.empty(); ++ch) {
      wait_error const& e = *error_at(rank, ch);
      if (e.st != status::success) s = describe(e);
    }
    if (s.empty() && rank == me_) s = call_error_;
    int const lost = lost_peer();
    if (lost >= 0) {
      if (!s.empty()) s += "; ";
      s += "rank " + std::to_string(lost) + " (pid " + std::to_string(load_i32(header()->lost_pid)) +
           ") was lost: its process ended";
    }
    return s.empty() ? "no error" : s;
  }

  // ---- used by the collective entry points (see weft/team/cpu_comm.hpp) ----
  connection* ring_conn(protocol p, int ch, int sender) noexcept {
    return &ring_[(std::size_t(int(p)) * std::size_t(layout_.nch) + std::size_t(ch)) * std::size_t(layout_.n) +
                  std::size_t(sender)];
  }
  //! Connection sender -> receiver (allocated at creation); empty when pair connections are off.
  connection pair_conn(protocol p, int ch, int sender, int receiver) noexcept {
    int const n = layout_.n;
    if (!layout_.pairs || sender == receiver || sender < 0 || receiver < 0 || sender >= n || receiver >= n ||
        ch < 0 || ch >= layout_.nch)
      return connection{};
    int const pi = int(p);
    return make_connection(base() + layout_.conn_off(pi, ch, layout_.pair_index(sender, receiver)), p, layout_.nslots,
                           layout_.slot_bytes[pi], sender, receiver);
  }
  wait_error* error_slot(int rank, int ch) noexcept { return error_at(rank, ch); }

  template <class Rank>
  status refuse(Rank& tr, coll_kind coll, status s, char const* why) {
    if (tr.rank() == me_) call_error_ = std::string(to_string(coll)) + ": " + why;
    return s;
  }

  template <class Rank>
  status admit(Rank& tr, coll_kind coll, coll_options const& o, int root = 0) {
    auto refuse = [&](status s, char const* why) { return this->refuse(tr, coll, s, why); };
    if (tr.size() != layout_.n || tr.rank() != me_)
      return refuse(status::invalid_argument, "rank handle belongs to another communicator or rank");
    if (broken_.load(std::memory_order_acquire) || abort_word() != 0)
      return refuse(status::aborted, "communicator is broken by an earlier failure or abort");
    if (o.nchannels < 1 || o.nchannels > layout_.nch)
      return refuse(status::invalid_argument, "nchannels outside 1..max_channels");
    if (unsigned(o.proto) >= unsigned(protocol_count)) return refuse(status::invalid_argument, "unknown protocol");
    {
      char const* why = nullptr; // the same algorithm rules as cpu_comm's
      if (status const a = host_algorithm_check(o.algo, coll, why); a != status::success) return refuse(a, why);
    }
    // Every algorithm but the ring family and rank order talks to arbitrary peers.
    if (o.algo != algorithm::ring && o.algo != algorithm::rank_order && !layout_.pairs && layout_.n > 1)
      return refuse(status::unsupported, "this algorithm needs pair connections (pair_connections = false)");
    if (o.direct)
      return refuse(status::unsupported, "direct transfers need one address space; ranks here are processes");
    if (char const* why = ring_local_problem(o.ring_local, layout_.n)) return refuse(status::invalid_argument, why);
    // The rail-rotated ring's edges that are not rank -> rank + 1 are pair connections.
    if (detail::ring_order_for(o, 1).rotated(layout_.n) && !layout_.pairs)
      return refuse(status::unsupported, "the rail-rotated ring needs pair connections (pair_connections = false)");
    if (root < 0 || root >= layout_.n) return refuse(status::invalid_argument, "root outside 0..nranks-1");
    call_error_.clear();
    for (int ch = 0; ch < layout_.nch; ++ch) *error_at(me_, ch) = wait_error{};
    return status::success;
  }
  //! A collective failed: every rank is told (the shared abort word), so none waits out its timeout.
  void mark_broken() noexcept {
    broken_.store(true, std::memory_order_release);
    abort();
  }

private:
  shm_comm(bootstrap& b, shm_comm_config const& cfg) : boot_(&b), cfg_(cfg), me_(b.rank()) {}

  unsigned char* base() const noexcept { return static_cast<unsigned char*>(seg_.data()); }
  detail::shm_header* header() const noexcept { return reinterpret_cast<detail::shm_header*>(base()); }
  detail::shm_rank_slot& rank_slot(int r) const noexcept {
    return reinterpret_cast<detail::shm_rank_slot*>(base() + layout_.ranks_off)[r];
  }
  wait_error* error_at(int rank, int ch) const noexcept {
    return reinterpret_cast<wait_error*>(base() + layout_.errors_off +
                                         (std::size_t(rank) * std::size_t(layout_.nch) + std::size_t(ch)) *
                                             layout_.error_stride);
  }
  static std::int32_t load_i32(std::int32_t& v) noexcept {
    return cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(v).load(cuda::memory_order_acquire);
  }
  std::uint32_t abort_word() const noexcept { return load_flag(&header()->abort); }

  status init_header() {
    detail::shm_header* h = header();
    h->total_bytes = layout_.total;
    h->nranks = layout_.n;
    h->max_channels = layout_.nch;
    h->nslots = layout_.nslots;
    h->pairs = layout_.pairs ? 1 : 0;
    for (int p = 0; p < protocol_count; ++p) h->slot_bytes[p] = layout_.slot_bytes[p];
    h->creator_pid = ::getpid();
    h->abort = 0;
    h->lost_rank = -1;
    h->lost_pid = 0;
    for (int r = 0; r < layout_.n; ++r) {
      pthread_mutexattr_t a;
      if (pthread_mutexattr_init(&a) != 0) return status::system_error;
      bool const good = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0 &&
                        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
                        pthread_mutex_init(&rank_slot(r).live, &a) == 0;
      pthread_mutexattr_destroy(&a);
      if (!good) return status::system_error;
    }
    for (int r = 0; r < layout_.n; ++r)
      for (int ch = 0; ch < layout_.nch; ++ch) *error_at(r, ch) = wait_error{};
    signal(&h->magic, detail::shm_comm_magic); // last: a mapper that sees it sees the rest
    return status::success;
  }

  bool header_matches() const noexcept {
    detail::shm_header* h = header();
    if (load_flag(&h->magic) != detail::shm_comm_magic) return false;
    if (h->total_bytes != layout_.total || h->nranks != layout_.n || h->max_channels != layout_.nch ||
        h->nslots != layout_.nslots || h->pairs != (layout_.pairs ? 1 : 0))
      return false;
    for (int p = 0; p < protocol_count; ++p)
      if (h->slot_bytes[p] != layout_.slot_bytes[p]) return false;
    return true;
  }

  void build_views() {
    int const n = layout_.n;
    ring_.clear();
    ring_.reserve(std::size_t(protocol_count) * std::size_t(layout_.nch) * std::size_t(n));
    for (int pi = 0; pi < protocol_count; ++pi)
      for (int ch = 0; ch < layout_.nch; ++ch)
        for (int s = 0; s < n; ++s)
          ring_.push_back(make_connection(base() + layout_.conn_off(pi, ch, s), protocol(pi), layout_.nslots,
                                          layout_.slot_bytes[pi], s, (s + 1) % n));
  }

  // ---- liveness ----
  status start_watchdog() {
    try {
      watchdog_ = std::thread([this] { watch(); });
    } catch (...) {
      return status::system_error;
    }
    std::unique_lock<std::mutex> l(wd_mutex_);
    wd_cv_.wait_for(l, std::chrono::seconds(10), [&] { return wd_holding_ || wd_failed_; });
    return wd_holding_ ? status::success : status::system_error;
  }

  void stop_watchdog() noexcept {
    if (!seg_.data()) return;
    // Leaving cleanly: say so before the mutex is released, so peers do not take it for a death.
    cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(rank_slot(me_).state).store(2, cuda::memory_order_release);
    if (watchdog_.joinable()) {
      {
        std::lock_guard<std::mutex> l(wd_mutex_);
        wd_stop_ = true;
      }
      wd_cv_.notify_all();
      watchdog_.join();
    }
  }

  void declare_lost(int peer) noexcept {
    detail::shm_header* h = header();
    std::int32_t expected = -1;
    if (cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(h->lost_rank)
            .compare_exchange_strong(expected, peer, cuda::memory_order_acq_rel)) {
      cuda::atomic_ref<std::int32_t, cuda::thread_scope_system>(h->lost_pid)
          .store(load_i32(rank_slot(peer).pid), cuda::memory_order_release);
    }
    abort();
  }

  void watch() {
    pthread_mutex_t* mine = &rank_slot(me_).live;
    int rc = pthread_mutex_lock(mine);
    if (rc == EOWNERDEAD) rc = pthread_mutex_consistent(mine);
    {
      std::lock_guard<std::mutex> l(wd_mutex_);
      if (rc == 0) wd_holding_ = true;
      else wd_failed_ = true;
    }
    wd_cv_.notify_all();
    if (rc != 0) return;
    std::vector<bool> gone(std::size_t(layout_.n), false);
    std::unique_lock<std::mutex> l(wd_mutex_);
    while (!wd_stop_) {
      wd_cv_.wait_for(l, std::chrono::nanoseconds(cfg_.watch_interval_ns));
      if (wd_stop_ || !armed_.load(std::memory_order_acquire)) continue;
      for (int p = 0; p < layout_.n; ++p) {
        if (p == me_ || gone[std::size_t(p)]) continue;
        detail::shm_rank_slot& s = rank_slot(p);
        if (load_i32(s.state) == 2) {
          gone[std::size_t(p)] = true; // left cleanly
          continue;
        }
        int const t = pthread_mutex_trylock(&s.live);
        if (t == EBUSY) continue;
        if (t == 0) {
          pthread_mutex_unlock(&s.live);
          continue; // its watchdog is between start and lock, or it just left
        }
        if (t == EOWNERDEAD) {
          pthread_mutex_consistent(&s.live);
          pthread_mutex_unlock(&s.live);
        }
        gone[std::size_t(p)] = true; // EOWNERDEAD or ENOTRECOVERABLE: the holder died
        declare_lost(p);
      }
    }
    l.unlock();
    pthread_mutex_unlock(mine);
  }

  bootstrap* boot_;
  shm_comm_config cfg_;
  int me_;
  detail::shm_layout layout_{};
  shm_segment seg_;
  std::vector<connection> ring_;
  std::string call_error_;
  std::atomic<bool> broken_{false};
  std::atomic<bool> armed_{false};
  std::thread watchdog_;
  std::mutex wd_mutex_;
  std::condition_variable wd_cv_;
  bool wd_stop_ = false, wd_holding_ = false, wd_failed_ = false;
};

template <>
struct is_host_comm<shm_comm> : std::true_type {};

} // namespace weft
