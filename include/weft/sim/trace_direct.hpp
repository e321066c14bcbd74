#pragma once
//! \file
//! Trace functions of the direct (symmetric memory) schedules.
//!
//! The algorithms of weft/algorithm/direct.hpp move data through their view
//! (`copy`, `reduce`, `barrier`, `ll_push`, `ll_pull`). `trace_sym` is a view
//! that records those calls as one-sided steps (`local`, `get`, `get_reduce`,
//! `put`, `reduce`) and flag steps (`signal`, `wait`) instead of moving data;
//! its areas are fake pointers that name (rank, scratch, element), so a read of
//! a peer's area becomes a `get` from that peer. Block b is channel b. The
//! trace's areas hold `step_elems` elements per round (times nranks for the
//! collectives that exchange one piece per rank), so a count above that takes
//! several rounds and the parity reuse of the areas is what the verifier's
//! race analysis checks.
//!
//! These schedules are in `traced_algorithm_list` (trace.hpp) as direct_one_shot,
//! direct_two_shot, direct_ll (all-reduce) and direct (all-gather, reduce-scatter);
//! `traced_direct_list` lists them alone.

#include <weft/algorithm/direct.hpp>
#include <weft/sim/trace_core.hpp>
#include <string>
#include <vector>

// Host only: the recording views call host code from the host-device algorithm
// templates, so the device pass of nvcc does not see the tracers (nothing on a
// device calls them).
#if !defined(__CUDA_ARCH__)
namespace weft::sim {

//! Bit position of the rank tag (rank + 1; 0 = the tracing rank's own buffers) in a traced pointer.
inline constexpr int trace_rank_shift = 43;

//! The operator a traced reduction names: only its value type matters (the trace
//! records where data is combined, not how), so any element size can be traced.
template <class T>
struct trace_op {
  using value_type = T;
};

//! A symmetric-memory view that records steps (see the file comment). `T` sets the element size.
template <class T>
struct trace_sym {
  std::vector<step>* out = nullptr;
  std::string* error = nullptr;
  sym_cursor* cursors = nullptr; //!< [nblocks], fresh for each traced (rank, block)
  int rank = 0;
  int nranks = 1;
  int nblocks = 1;
  std::size_t area_bytes = 0; //!< one area, as the algorithms see it
  std::size_t ll_bytes = 0;   //!< LL payload per sender and round

  //! Elements of one area / of the LL slots, and the scratch layout [b][par][which][area] then [b][par][from][ll].
  std::size_t area_count() const noexcept { return area_bytes / sizeof(T); }
  std::size_t ll_count() const noexcept { return ll_bytes / sizeof(T); }
  std::size_t area_offset(int b, int par, int which) const noexcept {
    return ((std::size_t(b) * 2 + std::size_t(par)) * 2 + std::size_t(which)) * area_count();
  }
  std::size_t ll_offset(int b, int par, int from) const noexcept {
    return std::size_t(nblocks) * 4 * area_count() +
           ((std::size_t(b) * 2 + std::size_t(par)) * std::size_t(nranks) + std::size_t(from)) * ll_count();
  }
  //! Scratch elements per rank this layout needs.
  std::size_t scratch_elems() const noexcept { return ll_offset(nblocks, 0, 0); }

  template <class U>
  static U* encode(int q, buf b, std::size_t elem) noexcept {
    return reinterpret_cast<U*>((std::uintptr_t(q + 1) << trace_rank_shift) |
                                (std::uintptr_t(b) << trace_buffer_shift) | std::uintptr_t(elem * sizeof(U)));
  }
  //! Rank, buffer and element of a traced pointer (own buffers carry rank tag 0).
  bool decode(void const* p, int& q, buf& b, std::size_t& elem) const noexcept {
    std::uintptr_t const a = reinterpret_cast<std::uintptr_t>(p);
    std::uintptr_t const tag = a >> trace_rank_shift;
    std::uintptr_t const bt = (a >> trace_buffer_shift) & 7u;
    std::uintptr_t const bytes = a & ((std::uintptr_t(1) << trace_buffer_shift) - 1);
    if (bt < std::uintptr_t(buf::input) || bt > std::uintptr_t(buf::scratch) || bytes % sizeof(T) != 0) return false;
    q = tag == 0 ? rank : int(tag - 1);
    b = buf(bt);
    elem = std::size_t(bytes / sizeof(T));
    return q >= 0 && q < nranks;
  }

  template <class U>
  U* area(int q, int b, int par, int which) const noexcept {
    return encode<U>(q, buf::scratch, area_offset(b, par, which));
  }
  template <class U>
  std::size_t area_elems() const noexcept {
    return area_bytes / sizeof(U) / partition_align * partition_align;
  }
  template <class U>
  U const* ll_staged(int b, int par, int q) const noexcept {
    return encode<U>(rank, buf::scratch, ll_offset(b, par, q));
  }

  status fail(std::string const& why) const {
    if (error && error->empty()) *error = "rank " + std::to_string(rank) + ": " + why;
    return status::invalid_argument;
  }

  step make(step_op op, int b) const {
    step t;
    t.rank = rank;
    t.channel = b;
    t.op = op;
    return t;
  }

  // One data step from `src` to `dst` (pointers decoded); `combine`: dst (+)= src.
  status move(step_op own_op, step_op peer_get, T const* src, T* dst, std::size_t n, bool combine, bool pre, bool post,
              int b) const {
    if (n == 0) return status::success;
    int qs, qd;
    buf bs, bd;
    std::size_t os, od;
    if (!decode(src, qs, bs, os) || !decode(dst, qd, bd, od)) return fail("a pointer outside the traced buffers");
    step t = make(own_op, b);
    if (qs != rank && qd != rank) return fail("a copy between two other ranks' buffers");
    if (qd != rank) {
      if (combine) return fail("a reduction into another rank's buffer");
      t.op = step_op::put;
      t.peer = qd;
    } else if (qs != rank) {
      t.op = peer_get;
      t.peer = qs;
    }
    t.src = bs;
    t.src_offset = os;
    t.dst = bd;
    t.dst_offset = od;
    t.count = n;
    t.pre = pre;
    t.post = post;
    (void)combine;
    out->push_back(t);
    return status::success;
  }

  // ---- the view's data movement, recorded ----
  template <class Group>
  void copy(Group&, T const* src, T* dst, std::size_t n) const {
    move(step_op::local, step_op::get, src, dst, n, false, false, false, block_of(dst));
  }
  template <class Group, class Op, class Src>
  void reduce(Group&, Op const&, int n, Src const& src, T* dst, std::size_t count, bool post) const {
    int const b = block_of(dst);
    for (int q = 0; q < n; ++q) {
      bool const first = q == 0;
      move(first ? step_op::local : step_op::reduce, first ? step_op::get : step_op::get_reduce, src(q), dst, count,
           !first, true, post && q == n - 1, b);
    }
  }
  template <class Group>
  status barrier(Group&, int b, std::uint64_t) const {
    for (int k = 1; k < nranks; ++k) {
      step t = make(step_op::signal, b);
      t.send_peer = mod(rank + k, nranks);
      out->push_back(t);
    }
    for (int k = 1; k < nranks; ++k) {
      step t = make(step_op::wait, b);
      t.recv_peer = mod(rank + k, nranks);
      out->push_back(t);
    }
    return status::success;
  }
  //! LL: the lines are a put into rank q's slot for this rank, their flags a signal.
  template <class Group>
  void ll_push(Group&, int q, int b, int par, T const* src, std::size_t len, std::uint64_t) const {
    if (len == 0) return;
    move(step_op::local, step_op::get, src, encode<T>(q, buf::scratch, ll_offset(b, par, rank)), len, false, false, false,
         b);
    if (q == rank) return;
    step t = make(step_op::signal, b);
    t.send_peer = q;
    out->push_back(t);
  }
  template <class Group>
  status ll_pull(Group&, int q, int b, int, std::size_t len, std::uint64_t, T const*) const {
    if (q == rank || len == 0) return status::success;
    step t = make(step_op::wait, b);
    t.recv_peer = q;
    out->push_back(t);
    return status::success;
  }

  // Block of a traced call: the algorithms run one block per (rank, channel) trace.
  int block_of(T const*) const noexcept { return current_block; }
  int current_block = 0;
};

namespace detail {

//! Trace a direct/NVLS algorithm: `body(view, block, call)` for every (rank, block).
//! `area_elems` / `ll_elems` size the trace's areas; the schedule's scratch is the whole layout.
//! With `o.calls` > 1 the body runs that many times per (rank, block) on the
//! same cursors, and between two calls the rank touches its own part of its
//! input and output: a `local` step that reads and rewrites each range in place
//! (values unchanged, so the symbolic check still holds), ordered after the
//! call's steps of that block only -- which is all a caller's later accesses
//! are ordered after on the block's elements.
template <class T>
void trace_touch_own_buffers(trace_sym<T>& v, trace_call<T> const& c, collective coll) {
  host_group g;
  elem_range const r = c.range;
  auto touch = [&](T const* p, std::size_t off) { v.copy(g, p + off, const_cast<T*>(p) + off, r.size()); };
  std::size_t const n = std::size_t(c.nranks);
  bool const pieces_in = coll == collective::reduce_scatter, pieces_out = coll == collective::all_gather;
  for (std::size_t q = 0; q < (pieces_in ? n : 1); ++q) touch(c.in, (pieces_in ? q * c.count : 0) + r.lo);
  for (std::size_t q = 0; q < (pieces_out ? n : 1); ++q) touch(c.out, (pieces_out ? q * c.count : 0) + r.lo);
}

template <class Body>
schedule trace_sym_algorithm(std::string name, collective coll, int nranks, int nchannels, std::size_t count,
                             trace_options const& o, std::size_t area_per_step, bool ll, Body&& body,
                             std::string* error) {
  std::size_t scratch = 0;
  if (o.calls < 1) {
    if (error) *error = std::string(to_string(coll)) + " " + name + ": calls must be at least 1";
    return schedule{};
  }
  trace_options one = o;
  one.calls = 1;
  schedule s = trace_algorithm(std::move(name), coll, nranks, nchannels, count, one, [&](auto& p, auto const& c) {
    using T = typename std::decay_t<decltype(p)>::value_type;
    std::vector<sym_cursor> cursors(std::size_t(c.nchannels));
    trace_sym<T> v;
    v.out = &p.steps_out();
    v.error = p.error_sink();
    v.cursors = cursors.data();
    v.rank = c.rank;
    v.nranks = c.nranks;
    v.nblocks = c.nchannels;
    v.area_bytes = p.step_elems() * area_per_step * sizeof(T);
    v.ll_bytes = ll ? p.step_elems() * sizeof(T) : 0;
    v.current_block = c.channel;
    scratch = v.scratch_elems();
    for (int k = 0; k < o.calls; ++k) {
      if (k > 0) trace_touch_own_buffers(v, c, coll);
      WEFT_TRY(body(v, c));
    }
    return status::success;
  }, error);
  if (!s.steps.empty()) s.scratch_count = scratch;
  return s;
}

} // namespace detail

//! One-shot direct all-reduce (weft::direct_one_shot_all_reduce).
inline schedule trace_direct_one_shot_all_reduce(int nranks, int nchannels, std::size_t count,
                                                 trace_options const& o = {}, std::string* error = nullptr) {
  return detail::trace_sym_algorithm("direct_one_shot", collective::all_reduce, nranks, nchannels, count, o, 1, false,
                                     [](auto& v, auto const& c) {
                                       host_group g;
                                       using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                       return direct_one_shot_all_reduce(g, v, c.channel, trace_op<T>{}, c.in, c.out,
                                                                         c.range);
                                     }, error);
}

//! Two-shot direct all-reduce (weft::direct_two_shot_all_reduce).
inline schedule trace_direct_two_shot_all_reduce(int nranks, int nchannels, std::size_t count,
                                                 trace_options const& o = {}, std::string* error = nullptr) {
  return detail::trace_sym_algorithm("direct_two_shot", collective::all_reduce, nranks, nchannels, count, o, 1, false,
                                     [](auto& v, auto const& c) {
                                       host_group g;
                                       using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                       return direct_two_shot_all_reduce(g, v, c.channel, trace_op<T>{}, c.in, c.out,
                                                                         c.range);
                                     }, error);
}

//! LL direct all-reduce (weft::direct_ll_all_reduce): puts with their flags, no barrier.
inline schedule trace_direct_ll_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                           std::string* error = nullptr) {
  return detail::trace_sym_algorithm("direct_ll", collective::all_reduce, nranks, nchannels, count, o, 1, true,
                                     [](auto& v, auto const& c) {
                                       host_group g;
                                       using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                       return direct_ll_all_reduce(g, v, c.channel, trace_op<T>{}, c.in, c.out, c.range);
                                     }, error);
}

//! Direct all-gather (weft::direct_all_gather); `count` is each rank's send count.
inline schedule trace_direct_all_gather(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                        std::string* error = nullptr) {
  return detail::trace_sym_algorithm("direct", collective::all_gather, nranks, nchannels, count, o, 1, false,
                                     [](auto& v, auto const& c) {
                                       host_group g;
                                       return direct_all_gather(g, v, c.channel, c.in, c.out, c.count, c.range);
                                     }, error);
}

//! Direct reduce-scatter (weft::direct_reduce_scatter); `count` is each rank's receive count.
inline schedule trace_direct_reduce_scatter(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                            std::string* error = nullptr) {
  return detail::trace_sym_algorithm("direct", collective::reduce_scatter, nranks, nchannels, count, o,
                                     std::size_t(nranks < 1 ? 1 : nranks), false, [](auto& v, auto const& c) {
                                       host_group g;
                                       using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                       return direct_reduce_scatter(g, v, c.channel, trace_op<T>{}, c.in, c.out,
                                                                    c.count, c.range);
                                     }, error);
}

//! Registry entries of the direct schedules (spliced into `traced_algorithm_list`,
//! trace.hpp, by `WEFT_TRACED_DIRECT`): Simple loads and stores, except the LL flavour.
#define WEFT_TRACED_DIRECT_ENTRIES                                                                                    \
  {collective::all_reduce, "direct_one_shot", &trace_direct_one_shot_all_reduce,                                     \
   "every rank reads every peer's staged input and reduces (one barrier)", algorithm::ring, false,                   \
   protocol_bit(protocol::simple), true},                                                                             \
      {collective::all_reduce, "direct_two_shot", &trace_direct_two_shot_all_reduce,                                  \
       "reduce-scatter then all-gather through symmetric memory (two barriers)", algorithm::ring, false,              \
       protocol_bit(protocol::simple), true},                                                                         \
      {collective::all_reduce, "direct_ll", &trace_direct_ll_all_reduce,                                              \
       "every rank puts its input into every peer with in-line flags (no barrier)", algorithm::ring, false,           \
       protocol_bit(protocol::ll), true},                                                                             \
      {collective::all_gather, "direct", &trace_direct_all_gather, "every rank reads every peer's staged input",     \
       algorithm::ring, false, protocol_bit(protocol::simple), true},                                                 \
      {collective::reduce_scatter, "direct", &trace_direct_reduce_scatter,                                            \
       "every rank reduces its block from every peer's staged input", algorithm::ring, false,                         \
       protocol_bit(protocol::simple), true},

//! The direct schedules alone.
inline constexpr traced_algorithm traced_direct_list[] = {WEFT_TRACED_DIRECT_ENTRIES};

} // namespace weft::sim
#endif // !__CUDA_ARCH__

//! Registry entries of this family, each followed by a comma (none in nvcc's device pass).
#if !defined(__CUDA_ARCH__)
#define WEFT_TRACED_DIRECT WEFT_TRACED_DIRECT_ENTRIES
#else
#define WEFT_TRACED_DIRECT
#endif
