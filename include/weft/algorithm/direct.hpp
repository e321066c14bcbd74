#pragma once
//! \file
//! Direct collectives over symmetric memory: every rank reads (and, for the LL
//! flavour, writes) the registered buffers of its peers instead of passing
//! data hop by hop. Written once over a symmetric-memory view `Sym` and an
//! execution group, so the same source runs on CPU-team threads (weft/team/cpu_direct.hpp)
//! and, with peer pointers over NVLink, on GPUs. See docs/algorithms/direct.md.
//!
//! Memory. Each rank registers one region; `sym_view` addresses every rank's
//! region and is a trivially copyable value (a kernel argument). Per block
//! (a CTA on a GPU, a channel on the CPU team) a region holds four staging
//! areas: two parities x {input, result}. Successive rounds alternate the
//! parity, which is what makes one barrier per phase enough: a rank writes a
//! parity-P area in round k+2 only after every peer passed a barrier of round
//! k+1, which each peer crosses only once it finished reading round k's
//! parity-P areas.
//!
//! Flags. A barrier of block b stores the block's next epoch into slot
//! [b][me] of every peer's flag array and waits until its own slots [b][q]
//! reached that epoch. Epochs only grow (a 64-bit counter kept in the rank's
//! own memory, `sym_cursor`), so flags are never reset: back-to-back calls and
//! CUDA-graph replays (the cursor lives in device memory and the replayed
//! kernel advances it) keep working. Every wait is bounded (`wait_bound`).
//!
//! Flavours of all-reduce:
//!  - one_shot: copy in -> own area; barrier; reduce all peers' areas -> out.
//!    One barrier, n-1 remote reads of the whole vector per rank.
//!  - two_shot: copy in -> own area; barrier; reduce slice `me` of all peers'
//!    areas -> own result area; barrier; gather every peer's result slice.
//!    Two barriers, 2(n-1)/n of the vector read per rank.
//!  - ll: every rank pushes its input into a per-sender slot of every peer as
//!    8-byte lines (4 bytes of data + the 32-bit epoch); a reader polls its own
//!    memory until every line carries the current epoch. No barrier at all:
//!    the lowest latency for tiny messages.
//! Every rank reduces in rank order, so results are bit-identical on every
//! rank and from run to run.

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/recursive.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/config.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>
#include <cuda/atomic>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>

namespace weft {

// direct_flavour (one_shot, two_shot, ll) is in algorithm/algorithm.hpp.

//! Per-block progress, in the rank's own memory: the last epoch used and the rounds run.
struct sym_cursor {
  cuda::std::uint64_t epoch = 0;
  cuda::std::uint64_t round = 0;
  cuda::std::uint64_t arrivals = 0; //!< counter barriers crossed (multicast objects with counters, algorithm/nvls.hpp)
};

//! The wait that failed (first failure of a call).
struct sym_failure {
  status st = status::success;
  int peer = -1;
  int block = -1;
  cuda::std::uint64_t epoch = 0; //!< the epoch waited for
  cuda::std::uint64_t seen = 0;  //!< the value last read
  bool ll = false;               //!< an LL line, not a barrier flag
  int claimed = 0;               //!< 1 once a failure wrote the record (the first one wins, whole)
};

//! Sources reduced in one pass of `reduce_sources` (more peers take more passes).
inline constexpr int direct_max_srcs = 8;

//! One rank's view of a symmetric-memory window (trivially copyable).
//!
//! Region of each rank: [nblocks][2 parities][2 areas: input, result][area_bytes],
//! then the LL slots [nblocks][2 parities][nranks senders][2 * ll_bytes].
//! Flag array of each rank: [nblocks][nranks] 64-bit epochs, slot [b][q] written by q.
namespace detail {

//! Every thread of the group gets a copy of the block's cursor.
template <class Sym>
WEFT_HOST_DEVICE sym_cursor load_cursor(Sym const& s, int b) {
  return s.cursors[b];
}

//! Store the cursor back (one thread) once the group is done with the call.
template <class Group, class Sym>
WEFT_HOST_DEVICE void store_cursor(Group& g, Sym const& s, int b, sym_cursor c) {
  g.sync();
  if (g.thread_rank() == 0) s.cursors[b] = c;
  g.sync();
}

//! All-to-all barrier of block `b` at epoch `e`: signal every peer, wait for every peer.
template <class Group, class Sym>
WEFT_HOST_DEVICE status sym_barrier(Group& g, Sym const& s, int b, cuda::std::uint64_t e) {
  g.sync(); // the group's writes come before thread 0's release
  if (g.thread_rank() == 0)
    for (int k = 1; k < s.nranks; ++k) s.signal(mod(s.rank + k, s.nranks), b, e);
  status st = status::success;
  for (int k = 1; k < s.nranks && st == status::success; ++k) st = s.wait(mod(s.rank + k, s.nranks), b, e);
  if (sync_any(g, st != status::success)) return st != status::success ? st : status::aborted;
  return status::success;
}

//! dst = reduction of src(0), ..., src(n-1) in that order (pre on every source,
//! post when `post`). More than `direct_max_srcs` sources take several passes,
//! each folding the partial result in `dst` with the next sources.
template <class Group, class Op, class Src>
WEFT_HOST_DEVICE void reduce_sources(Group& g, Op const& op, int n, Src const& src, typename Op::value_type* dst,
                                     cuda::std::size_t count, bool post) {
  using T = typename Op::value_type;
  int q = 0;
  bool first = true;
  while (q < n) {
    ptr_list<T const, direct_max_srcs> l{};
    l.n = 0;
    cuda::std::uint32_t mask = 0xffffffffu;
    if (!first) {
      l.ptr[l.n++] = dst;
      mask = ~1u; // the partial result already had pre applied
    }
    while (l.n < direct_max_srcs && q < n) l.ptr[l.n++] = src(q++);
    reduce_copy(g, op, l, ptr_list<T, 1>{{dst}, 1}, count, reduce_copy_flags{mask, post && q == n});
    g.sync();
    first = false;
  }
}

template <class Group, class T>
WEFT_HOST_DEVICE void copy_to(Group& g, T const* src, T* dst, cuda::std::size_t count) {
  copy(g, src, ptr_list<T, 1>{{dst}, 1}, count);
}

//! Rounds of at most `m` elements over [r.lo, r.hi).
WEFT_HOST_DEVICE constexpr cuda::std::size_t round_len(elem_range r, cuda::std::size_t base,
                                                       cuda::std::size_t m) noexcept {
  return r.hi - base < m ? r.hi - base : m;
}

} // namespace detail

struct sym_view {
  unsigned char* const* bufs = nullptr;        //!< [nranks] every rank's region
  cuda::std::uint64_t* const* flags = nullptr; //!< [nranks] every rank's flag array
  sym_cursor* cursors = nullptr;               //!< [nblocks] this rank's cursors
  unsigned char* staging = nullptr;            //!< this rank's private LL staging [nblocks][nranks][ll_bytes]
  sym_failure* failure = nullptr;              //!< where a failed wait is described (may be null)
  int rank = 0;
  int nranks = 1;
  int nblocks = 1;
  cuda::std::size_t area_bytes = 0; //!< one staging area (a multiple of 64)
  cuda::std::size_t ll_bytes = 0;   //!< LL payload per sender and round (a multiple of 64)
  wait_bound bound{};

  //! Bytes of one rank's region for this layout.
  WEFT_HOST_DEVICE static constexpr cuda::std::size_t region_bytes(int nranks, int nblocks, cuda::std::size_t area,
                                                                    cuda::std::size_t ll) noexcept {
    return cuda::std::size_t(nblocks) * 4 * area + cuda::std::size_t(nblocks) * 2 * cuda::std::size_t(nranks) * 2 * ll;
  }
  //! Area `which` (0 input, 1 result) of parity `par` of block `b` in rank `q`'s region.
  template <class T>
  WEFT_HOST_DEVICE T* area(int q, int b, int par, int which) const noexcept {
    return reinterpret_cast<T*>(bufs[q] + ((cuda::std::size_t(b) * 2 + cuda::std::size_t(par)) * 2 +
                                           cuda::std::size_t(which)) * area_bytes);
  }
  //! Elements of T one area holds, rounded down to the partition alignment.
  template <class T>
  WEFT_HOST_DEVICE cuda::std::size_t area_elems() const noexcept {
    return area_bytes / sizeof(T) / partition_align * partition_align;
  }
  //! LL lines sender `from` writes into rank `q`'s region (block b, parity par).
  WEFT_HOST_DEVICE cuda::std::uint64_t* ll_lines(int q, int b, int par, int from) const noexcept {
    cuda::std::size_t const base = cuda::std::size_t(nblocks) * 4 * area_bytes;
    return reinterpret_cast<cuda::std::uint64_t*>(
        bufs[q] + base +
        ((cuda::std::size_t(b) * 2 + cuda::std::size_t(par)) * cuda::std::size_t(nranks) + cuda::std::size_t(from)) *
            2 * ll_bytes);
  }
  WEFT_HOST_DEVICE unsigned char* ll_staging(int b, int from) const noexcept {
    return staging + (cuda::std::size_t(b) * cuda::std::size_t(nranks) + cuda::std::size_t(from)) * ll_bytes;
  }
  //! Publish epoch `e` of block `b` to rank `q` (release: this rank's writes before it are visible).
  WEFT_HOST_DEVICE void signal(int q, int b, cuda::std::uint64_t e) const noexcept {
    weft::signal(&flags[q][cuda::std::size_t(b) * cuda::std::size_t(nranks) + cuda::std::size_t(rank)], e);
  }
  //! Wait until rank `q` published epoch `e` (or later) of block `b`.
  WEFT_HOST_DEVICE status wait(int q, int b, cuda::std::uint64_t e) const noexcept {
    cuda::std::uint64_t seen = 0;
    status const s = wait_geq(&flags[rank][cuda::std::size_t(b) * cuda::std::size_t(nranks) + cuda::std::size_t(q)],
                              e, bound, cuda::memory_order_acquire, &seen);
    if (s != status::success) fail(s, q, b, e, seen, false);
    return s;
  }
  WEFT_HOST_DEVICE void fail(status s, int q, int b, cuda::std::uint64_t e, cuda::std::uint64_t seen,
                             bool ll) const noexcept {
    if (!failure) return;
    // Every waiting thread of every block may fail at once: the first to claim
    // the record writes all of it, so block, epoch and value come from one wait.
    int expected = 0;
    if (!cuda::atomic_ref<int, cuda::thread_scope_system>(failure->claimed)
             .compare_exchange_strong(expected, 1, cuda::memory_order_relaxed))
      return;
    failure->st = s;
    failure->peer = q;
    failure->block = b;
    failure->epoch = e;
    failure->seen = seen;
    failure->ll = ll;
  }

  // ---- data movement (what a tracing view records instead) ----
  template <class Group, class T>
  WEFT_HOST_DEVICE void copy(Group& g, T const* src, T* dst, cuda::std::size_t count) const {
    detail::copy_to(g, src, dst, count);
  }
  //! dst = reduction of src(0), ..., src(n-1) in that order.
  template <class Group, class Op, class Src>
  WEFT_HOST_DEVICE void reduce(Group& g, Op const& op, int n, Src const& src, typename Op::value_type* dst,
                               cuda::std::size_t count, bool post) const {
    detail::reduce_sources(g, op, n, src, dst, count, post);
  }
  template <class Group>
  WEFT_HOST_DEVICE status barrier(Group& g, int b, cuda::std::uint64_t e) const {
    return detail::sym_barrier(g, *this, b, e);
  }
  //! LL: write `len` elements from `src` into rank q's slot for this rank as lines tagged with `epoch`.
  template <class Group, class T>
  WEFT_HOST_DEVICE void ll_push(Group& g, int q, int b, int par, T const* src, cuda::std::size_t len,
                                cuda::std::uint64_t epoch) const {
    cuda::std::uint64_t const flag = cuda::std::uint64_t(cuda::std::uint32_t(epoch)) << 32;
    cuda::std::size_t const bytes = len * sizeof(T), lines = div_up(bytes, 4);
    unsigned char const* p = reinterpret_cast<unsigned char const*>(src);
    cuda::std::uint64_t* dst = ll_lines(q, b, par, rank);
    for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < lines; i += cuda::std::size_t(g.size())) {
      cuda::std::uint32_t word = 0;
      for (cuda::std::size_t j = 0; j < 4 && 4 * i + j < bytes; ++j) word |= cuda::std::uint32_t(p[4 * i + j]) << (8 * j);
      cuda::atomic_ref<cuda::std::uint64_t, cuda::thread_scope_system>(dst[i]).store(flag | word,
                                                                                    cuda::memory_order_relaxed);
    }
  }
  //! LL: wait until every line from sender q carries `epoch`, unpack into the staging `ll_staged(b, par, q)`.
  template <class Group, class T>
  WEFT_HOST_DEVICE status ll_pull(Group& g, int q, int b, int par, cuda::std::size_t len, cuda::std::uint64_t epoch,
                                  T const*) const {
    cuda::std::uint64_t const flag = cuda::std::uint64_t(cuda::std::uint32_t(epoch)) << 32;
    cuda::std::size_t const lines = div_up(len * sizeof(T), 4);
    cuda::std::uint64_t* from = ll_lines(rank, b, par, q);
    unsigned char* stage = ll_staging(b, q);
    for (cuda::std::size_t i = cuda::std::size_t(g.thread_rank()); i < lines; i += cuda::std::size_t(g.size())) {
      cuda::atomic_ref<cuda::std::uint64_t, cuda::thread_scope_system> line(from[i]);
      cuda::std::uint64_t v = 0;
      status const st =
          spin_until([&] { return ((v = line.load(cuda::memory_order_relaxed)) & ~0xffffffffull) == flag; }, bound);
      if (st != status::success) {
        fail(st, q, b, flag >> 32, v >> 32, true);
        return st;
      }
      for (cuda::std::size_t j = 0; j < 4; ++j) stage[4 * i + j] = static_cast<unsigned char>(v >> (8 * j));
    }
    return status::success;
  }
  //! Where `ll_pull` left sender q's data.
  template <class T>
  WEFT_HOST_DEVICE T const* ll_staged(int b, int /*par*/, int q) const noexcept {
    return reinterpret_cast<T const*>(ll_staging(b, q));
  }
};

namespace detail {

//! One round of a symmetric-memory collective: elements [base, base + len), areas of parity `par`.
struct sym_round {
  cuda::std::size_t base = 0, len = 0;
  int par = 0;
};

//! Run `body(round)` for rounds of at most `m` elements over [r.lo, r.hi) on block `b`,
//! alternating the parity; `barrier()` inside the body is the block's next barrier,
//! `cross(cursor)`, which advances the cursor's epoch (and whatever else its
//! barrier counts). The block's cursor is loaded first and stored back after
//! the last round.
template <class Group, class Sym, class Cross, class Body>
WEFT_HOST_DEVICE status sym_rounds_with(Group& g, Sym const& s, int b, elem_range r, cuda::std::size_t m,
                                        Cross&& cross, Body&& body) {
  sym_cursor c = load_cursor(s, b);
  auto barrier = [&] { return cross(c); };
  for (cuda::std::size_t base = r.lo; base < r.hi; base += m) {
    sym_round const rd{base, round_len(r, base, m), int(c.round++ & 1u)};
    WEFT_TRY(body(rd, barrier, c));
  }
  store_cursor(g, s, b, c);
  return status::success;
}

//! `sym_rounds_with` whose barrier is the view's own (`s.barrier`).
template <class Group, class Sym, class Body>
WEFT_HOST_DEVICE status sym_rounds(Group& g, Sym const& s, int b, elem_range r, cuda::std::size_t m, Body&& body) {
  return sym_rounds_with(g, s, b, r, m, [&](sym_cursor& c) { return s.barrier(g, b, ++c.epoch); }, body);
}

} // namespace detail

//! One-shot all-reduce of [r.lo, r.hi) on block `b`.
template <class Group, class Sym, class Op>
WEFT_HOST_DEVICE status direct_one_shot_all_reduce(Group& g, Sym const& s, int b, Op const& op,
                                                   typename Op::value_type const* in, typename Op::value_type* out,
                                                   elem_range r) {
  using T = typename Op::value_type;
  cuda::std::size_t const m = s.template area_elems<T>();
  if (m == 0) return status::invalid_argument;
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    s.copy(g, in + rd.base, s.template area<T>(s.rank, b, rd.par, 0), rd.len);
    WEFT_TRY(barrier());
    s.reduce(g, op, s.nranks, [&](int q) { return s.template area<T>(q, b, rd.par, 0); },
                           out + rd.base, rd.len, true);
    return status::success;
  });
}

//! Two-shot all-reduce of [r.lo, r.hi) on block `b` (reduce-scatter + all-gather through the areas).
template <class Group, class Sym, class Op>
WEFT_HOST_DEVICE status direct_two_shot_all_reduce(Group& g, Sym const& s, int b, Op const& op,
                                                   typename Op::value_type const* in, typename Op::value_type* out,
                                                   elem_range r) {
  using T = typename Op::value_type;
  cuda::std::size_t const m = s.template area_elems<T>();
  if (m == 0) return status::invalid_argument;
  int const n = s.nranks, me = s.rank;
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    s.copy(g, in + rd.base, s.template area<T>(me, b, rd.par, 0), rd.len);
    WEFT_TRY(barrier());
    elem_range const mine = partition(rd.len, n, me);
    s.reduce(g, op, n, [&](int q) { return s.template area<T>(q, b, rd.par, 0) + mine.lo; },
                           s.template area<T>(me, b, rd.par, 1) + mine.lo, mine.size(), true);
    WEFT_TRY(barrier());
    for (int k = 0; k < n; ++k) {
      int const q = mod(me + k, n);
      elem_range const part = partition(rd.len, n, q);
      s.copy(g, s.template area<T>(q, b, rd.par, 1) + part.lo, out + rd.base + part.lo, part.size());
    }
    g.sync();
    return status::success;
  });
}

//! LL one-shot all-reduce of [r.lo, r.hi) on block `b`: data travels with its flag, no barrier.
template <class Group, class Sym, class Op>
WEFT_HOST_DEVICE status direct_ll_all_reduce(Group& g, Sym const& s, int b, Op const& op,
                                             typename Op::value_type const* in, typename Op::value_type* out,
                                             elem_range r) {
  using T = typename Op::value_type;
  cuda::std::size_t const m = s.ll_bytes / sizeof(T);
  if (m == 0) return status::invalid_argument;
  int const n = s.nranks, me = s.rank;
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto&, sym_cursor& c) {
    cuda::std::uint64_t const epoch = ++c.epoch;
    // Push: my input into slot `me` of every rank (myself included); the lines carry the epoch.
    for (int k = 0; k < n; ++k) s.ll_push(g, mod(me + k, n), b, rd.par, in + rd.base, rd.len, epoch);
    // Pull: wait for every sender's lines of this epoch.
    status st = status::success;
    for (int k = 0; k < n && st == status::success; ++k)
      st = s.ll_pull(g, mod(me + k, n), b, rd.par, rd.len, epoch, in);
    if (sync_any(g, st != status::success)) return st != status::success ? st : status::aborted;
    s.reduce(g, op, n, [&](int q) { return s.template ll_staged<T>(b, rd.par, q); }, out + rd.base, rd.len, true);
    return status::success;
  });
}

//! The all-reduce of flavour `f` (one_shot for an unknown value) on block `b`.
template <class Group, class Sym, class Op>
WEFT_HOST_DEVICE status direct_all_reduce_flavour(direct_flavour f, Group& g, Sym const& s, int b, Op const& op,
                                                  typename Op::value_type const* in, typename Op::value_type* out,
                                                  elem_range r) {
  switch (f) {
    case direct_flavour::two_shot: return direct_two_shot_all_reduce(g, s, b, op, in, out, r);
    case direct_flavour::ll: return direct_ll_all_reduce(g, s, b, op, in, out, r);
    default: return direct_one_shot_all_reduce(g, s, b, op, in, out, r);
  }
}

//! Direct all-gather of [r.lo, r.hi) of every rank's `count` elements into `out` (n * count).
template <class Group, class Sym, class T>
WEFT_HOST_DEVICE status direct_all_gather(Group& g, Sym const& s, int b, T const* in, T* out, cuda::std::size_t count,
                                          elem_range r) {
  cuda::std::size_t const m = s.template area_elems<T>();
  if (m == 0) return status::invalid_argument;
  int const n = s.nranks, me = s.rank;
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    s.copy(g, in + rd.base, s.template area<T>(me, b, rd.par, 0), rd.len);
    WEFT_TRY(barrier());
    for (int k = 0; k < n; ++k) {
      int const q = mod(me + k, n);
      s.copy(g, s.template area<T>(q, b, rd.par, 0), out + cuda::std::size_t(q) * count + rd.base, rd.len);
    }
    g.sync();
    return status::success;
  });
}

//! Elements per destination one round of the block-exchanging collectives carries
//! (reduce-scatter, all-to-all): the area holds one such piece for every rank.
template <class T, class Sym>
WEFT_HOST_DEVICE cuda::std::size_t direct_piece_elems(Sym const& s) {
  return s.template area_elems<T>() / cuda::std::size_t(s.nranks) / partition_align * partition_align;
}

namespace detail {

// Stage block q (q = 0..n-1, `stride` apart in `in`) of [base, base+len) into this rank's area.
template <class Group, class Sym, class T>
WEFT_HOST_DEVICE void stage_blocks(Group& g, Sym const& s, int b, int par, T const* in, cuda::std::size_t stride,
                                   cuda::std::size_t base, cuda::std::size_t len, cuda::std::size_t piece) {
  for (int q = 0; q < s.nranks; ++q)
    s.copy(g, in + cuda::std::size_t(q) * stride + base,
           s.template area<T>(s.rank, b, par, 0) + cuda::std::size_t(q) * piece, len);
}

} // namespace detail

//! Direct reduce-scatter: rank me gets the reduction of block `me` (`count` elements) of every input; [r.lo, r.hi) of it.
template <class Group, class Sym, class Op>
WEFT_HOST_DEVICE status direct_reduce_scatter(Group& g, Sym const& s, int b, Op const& op,
                                              typename Op::value_type const* in, typename Op::value_type* out,
                                              cuda::std::size_t count, elem_range r) {
  using T = typename Op::value_type;
  cuda::std::size_t const m = direct_piece_elems<T>(s);
  if (m == 0) return status::unsupported; // the window cannot hold one aligned piece per rank
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    detail::stage_blocks(g, s, b, rd.par, in, count, rd.base, rd.len, m);
    WEFT_TRY(barrier());
    cuda::std::size_t const at = cuda::std::size_t(s.rank) * m;
    s.reduce(g, op, s.nranks, [&](int q) { return s.template area<T>(q, b, rd.par, 0) + at; },
                           out + rd.base, rd.len, true);
    return status::success;
  });
}

//! Direct all-to-all: block q of `in` goes to rank q, block q of `out` comes from rank q
//! (`count` elements per block); [r.lo, r.hi) of every block.
template <class Group, class Sym, class T>
WEFT_HOST_DEVICE status direct_all_to_all(Group& g, Sym const& s, int b, T const* in, T* out, cuda::std::size_t count,
                                          elem_range r) {
  cuda::std::size_t const m = direct_piece_elems<T>(s);
  if (m == 0) return status::unsupported;
  int const n = s.nranks, me = s.rank;
  return detail::sym_rounds(g, s, b, r, m, [&](auto const& rd, auto& barrier, sym_cursor&) {
    detail::stage_blocks(g, s, b, rd.par, in, count, rd.base, rd.len, m);
    WEFT_TRY(barrier());
    for (int k = 0; k < n; ++k) {
      int const q = mod(me + k, n);
      s.copy(g, s.template area<T>(q, b, rd.par, 0) + cuda::std::size_t(me) * m,
                      out + cuda::std::size_t(q) * count + rd.base, rd.len);
    }
    g.sync();
    return status::success;
  });
}

//! Pairwise-exchange all-to-all over a Net (see weft/algorithm/recursive.hpp):
//! at step k = 1..n-1 rank me sends block me+k and receives block me-k, so each
//! step is a permutation and every connection carries one block. Out of place only.
template <class Net, class T>
WEFT_HOST_DEVICE status pairwise_all_to_all(Net& net, ring_position pos, T const* in, T* out, cuda::std::size_t count,
                                            elem_range r) {
  int const n = pos.nranks, me = pos.rank;
  cuda::std::size_t const own = cuda::std::size_t(me) * count + r.lo;
  WEFT_TRY(net.local([&](auto& p) { return p.reduce_local(in + own, out + own, r.size(), false, false); }));
  for (int k = 1; k < n; ++k) {
    int const to = mod(me + k, n), from = mod(me - k, n);
    WEFT_TRY(net.with_peers(from, to, [&](auto& p) {
      return detail::exchange_copy(p, in + cuda::std::size_t(to) * count + r.lo, r.size(),
                                   out + cuda::std::size_t(from) * count + r.lo, r.size());
    }));
  }
  return status::success;
}

} // namespace weft
