#pragma once
//! \file
//! Trace functions of the NVLS (multicast) schedules.
//!
//! `trace_multicast` is the multicast object of weft/algorithm/nvls.hpp in
//! the trace interpretation: `ld_reduce` records an `mc_ld_reduce` step (the
//! switch reads every rank's copy and reduces), `st` an `mc_st` step (the
//! switch writes every copy), `ld_reduce_st` both; staging copies and barriers
//! are recorded by the underlying `trace_sym` (weft/sim/trace_direct.hpp).
//!
//! `trace_multicast_buffer` is the call's own buffer as the multicast buffer of
//! zero-copy NVLS (`mc_ld_reduce` / `mc_st` steps on the output or input buffers).
//!
//! In `traced_algorithm_list` (trace.hpp) as nvls and nvls_zero_copy
//! (all-reduce, all-gather, reduce-scatter); `traced_nvls_list` lists them alone.

#include <weft/algorithm/nvls.hpp>
#include <weft/sim/trace_core.hpp>
#include <weft/sim/trace_direct.hpp>
#include <string>

// Host only: the recording views call host code from the host-device algorithm
// templates, so the device pass of nvcc does not see the tracers (nothing on a
// device calls them).
#if !defined(__CUDA_ARCH__)
namespace weft::sim {

//! Multicast object that records `mc_ld_reduce` / `mc_st` steps.
template <class T>
struct trace_multicast {
  trace_sym<T> v;

  trace_sym<T> const& sym() const noexcept { return v; }
  template <class Op>
  status supports(Op const&) const noexcept {
    return status::success;
  }
  step mc(step_op op, int b, int par, int which, std::size_t off, std::size_t count) const {
    step t = v.make(op, b);
    t.count = count;
    (op == step_op::mc_ld_reduce ? t.src : t.dst) = buf::scratch;
    (op == step_op::mc_ld_reduce ? t.src_offset : t.dst_offset) = v.area_offset(b, par, which) + off;
    return t;
  }
  template <class Group, class Op>
  void ld_reduce(Group&, Op const&, int b, int par, int which, std::size_t off, std::size_t count, T* dst,
                 bool post) const {
    if (count == 0) return;
    int q;
    step t = mc(step_op::mc_ld_reduce, b, par, which, off, count);
    if (!v.decode(dst, q, t.dst, t.dst_offset) || q != v.rank) {
      v.fail("mc_ld_reduce into a buffer that is not this rank's");
      return;
    }
    t.post = post;
    v.out->push_back(t);
  }
  template <class Group>
  void st(Group&, T const* src, int b, int par, int which, std::size_t off, std::size_t count) const {
    if (count == 0) return;
    int q;
    step t = mc(step_op::mc_st, b, par, which, off, count);
    if (!v.decode(src, q, t.src, t.src_offset) || q != v.rank) {
      v.fail("mc_st from a buffer that is not this rank's");
      return;
    }
    t.pre = false; // stores what it is given
    v.out->push_back(t);
  }
  template <class Group, class Op>
  void ld_reduce_st(Group& g, Op const& op, int b, int par, int from, int to, std::size_t off, std::size_t count) const {
    weft::detail::ld_reduce_then_st(*this, g, op, b, par, from, to, off, count);
  }
  template <class Group>
  status barrier(Group& g, int b, sym_cursor& c) const {
    return v.barrier(g, b, ++c.epoch);
  }
};

//! One of the call's own buffers, `b`, as a multicast buffer of zero-copy
//! NVLS: `ld_reduce_st` records an `mc_ld_reduce` of every rank's range of `b`
//! into this rank's own range of `to` and an `mc_st` of that to every rank's
//! `to` (the GPU keeps the sum in registers between the two), `st` an
//! `mc_st` into every rank's `b`, `ld_reduce` an `mc_ld_reduce` of every rank's
//! `b` into this rank's buffer.
template <class T>
struct trace_multicast_buffer {
  trace_sym<T> const* v = nullptr;
  buf b = buf::output;

  step mc(step_op op, std::size_t count) const {
    step t = v->make(op, v->current_block);
    t.count = count;
    return t;
  }
  template <class Group, class Op>
  void ld_reduce_st(Group&, Op const&, std::size_t off, std::size_t count, trace_multicast_buffer const& to) const {
    if (count == 0) return;
    step t = mc(step_op::mc_ld_reduce, count);
    t.src = b;
    t.dst = to.b; // this rank's own range of `to` holds the sum until it is stored
    t.src_offset = t.dst_offset = off;
    t.post = true;
    v->out->push_back(t);
    step u = mc(step_op::mc_st, count);
    u.src = u.dst = to.b;
    u.src_offset = u.dst_offset = off;
    u.pre = false; // stores the finished sum
    v->out->push_back(u);
  }
  template <class Group>
  void st(Group&, T const* src, std::size_t off, std::size_t count) const {
    if (count == 0) return;
    int q;
    step t = mc(step_op::mc_st, count);
    if (!v->decode(src, q, t.src, t.src_offset) || q != v->rank) {
      v->fail("mc_st from a buffer that is not this rank's");
      return;
    }
    t.dst = b;
    t.dst_offset = off;
    t.pre = false;
    v->out->push_back(t);
  }
  template <class Group, class Op>
  void ld_reduce(Group&, Op const&, std::size_t off, std::size_t count, T* dst) const {
    if (count == 0) return;
    int q;
    step t = mc(step_op::mc_ld_reduce, count);
    if (!v->decode(dst, q, t.dst, t.dst_offset) || q != v->rank) {
      v->fail("mc_ld_reduce into a buffer that is not this rank's");
      return;
    }
    t.src = b;
    t.src_offset = off;
    t.post = true;
    v->out->push_back(t);
  }
};

namespace detail {

template <class Body>
schedule trace_nvls_algorithm(std::string name, collective coll, int nranks, int nchannels, std::size_t count,
                              trace_options const& o, std::size_t area_per_step, Body&& body, std::string* error) {
  return trace_sym_algorithm(std::move(name), coll, nranks, nchannels, count, o, area_per_step, false,
                             [&](auto& v, auto const& c) {
                               using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                               host_group g;
                               return body(g, trace_multicast<T>{v}, c);
                             }, error);
}

} // namespace detail

//! NVLS all-reduce (weft::nvls_all_reduce).
inline schedule trace_nvls_all_reduce(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls", collective::all_reduce, nranks, nchannels, count, o, 1,
                                      [](auto& g, auto const& mc, auto const& c) {
                                        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                        return nvls_all_reduce(g, mc, c.channel, trace_op<T>{}, c.in, c.out, c.range);
                                      }, error);
}

//! NVLS all-gather (weft::nvls_all_gather); `count` is each rank's send count.
inline schedule trace_nvls_all_gather(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                      std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls", collective::all_gather, nranks, nchannels, count, o,
                                      std::size_t(nranks < 1 ? 1 : nranks), [](auto& g, auto const& mc, auto const& c) {
                                        return nvls_all_gather(g, mc, c.channel, c.in, c.out, c.count, c.range);
                                      }, error);
}

//! NVLS reduce-scatter (weft::nvls_reduce_scatter); `count` is each rank's receive count.
inline schedule trace_nvls_reduce_scatter(int nranks, int nchannels, std::size_t count, trace_options const& o = {},
                                          std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls", collective::reduce_scatter, nranks, nchannels, count, o,
                                      std::size_t(nranks < 1 ? 1 : nranks), [](auto& g, auto const& mc, auto const& c) {
                                        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                        return nvls_reduce_scatter(g, mc, c.channel, trace_op<T>{}, c.in, c.out,
                                                                   c.count, c.range);
                                      }, error);
}

//! Zero-copy NVLS all-reduce (weft::nvls_zero_copy_all_reduce) with the input
//! and output buffers in multicast symmetric memory: each rank's slice is
//! reduced from every input and stored into every output, nothing is copied.
inline schedule trace_nvls_zero_copy_all_reduce(int nranks, int nchannels, std::size_t count,
                                                trace_options const& o = {}, std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls_zero_copy", collective::all_reduce, nranks, nchannels, count, o, 1,
                                      [](auto& g, auto const& mc, auto const& c) {
                                        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                        trace_multicast_buffer<T> const in{&mc.v, buf::input}, out{&mc.v, buf::output};
                                        return nvls_zero_copy_all_reduce(g, mc, in, out, false, c.channel, trace_op<T>{},
                                                                         c.in, c.out, c.range);
                                      }, error);
}

//! Zero-copy NVLS all-gather (weft::nvls_zero_copy_all_gather); `count` is each rank's send count.
inline schedule trace_nvls_zero_copy_all_gather(int nranks, int nchannels, std::size_t count,
                                                trace_options const& o = {}, std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls_zero_copy", collective::all_gather, nranks, nchannels, count, o, 1,
                                      [](auto& g, auto const& mc, auto const& c) {
                                        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                        trace_multicast_buffer<T> const mb{&mc.v, buf::output};
                                        return nvls_zero_copy_all_gather(g, mc, mb, c.channel, c.in, c.out, c.count, c.range);
                                      }, error);
}

//! Zero-copy NVLS reduce-scatter (weft::nvls_zero_copy_reduce_scatter); `count`
//! is each rank's receive count; the input buffers are the multicast buffer.
inline schedule trace_nvls_zero_copy_reduce_scatter(int nranks, int nchannels, std::size_t count,
                                                    trace_options const& o = {}, std::string* error = nullptr) {
  return detail::trace_nvls_algorithm("nvls_zero_copy", collective::reduce_scatter, nranks, nchannels, count, o, 1,
                                      [](auto& g, auto const& mc, auto const& c) {
                                        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
                                        trace_multicast_buffer<T> const mb{&mc.v, buf::input};
                                        return nvls_zero_copy_reduce_scatter(g, mc, mb, c.channel, trace_op<T>{}, c.out,
                                                                             c.count, c.range);
                                      }, error);
}

//! Registry entries of the NVLS schedules (spliced into `traced_algorithm_list`,
//! trace.hpp, by `WEFT_TRACED_NVLS`): Simple, multicast.
#define WEFT_TRACED_NVLS_ENTRIES                                                                                      \
  {collective::all_reduce, "nvls", &trace_nvls_all_reduce,                                                            \
   "stage, then each rank multicast-reduces its slice and multicast-stores the result", algorithm::ring, false,      \
   protocol_bit(protocol::simple), true, true},                                                                       \
      {collective::all_gather, "nvls", &trace_nvls_all_gather, "each rank multicast-stores its input into every copy", \
       algorithm::ring, false, protocol_bit(protocol::simple), true, true},                                           \
      {collective::reduce_scatter, "nvls", &trace_nvls_reduce_scatter,                                                \
       "stage, then each rank multicast-reduces its own block", algorithm::ring, false,                               \
       protocol_bit(protocol::simple), true, true},                                                                   \
      {collective::all_reduce, "nvls_zero_copy", &trace_nvls_zero_copy_all_reduce,                                    \
       "in the output buffers (multicast symmetric memory): each rank multicast-reduces and -stores its slice",       \
       algorithm::ring, false, protocol_bit(protocol::simple), true, true, false, true},                              \
      {collective::all_gather, "nvls_zero_copy", &trace_nvls_zero_copy_all_gather,                                   \
       "each rank multicast-stores its input into every output buffer (multicast symmetric memory)", algorithm::ring, \
       false, protocol_bit(protocol::simple), true, true, false, true},                                               \
      {collective::reduce_scatter, "nvls_zero_copy", &trace_nvls_zero_copy_reduce_scatter,                            \
       "each rank multicast-reduces its block of the input buffers (multicast symmetric memory)", algorithm::ring,   \
       false, protocol_bit(protocol::simple), true, true, false, true},

//! The NVLS schedules alone.
inline constexpr traced_algorithm traced_nvls_list[] = {WEFT_TRACED_NVLS_ENTRIES};

} // namespace weft::sim
#endif // !__CUDA_ARCH__

//! Registry entries of this family, each followed by a comma (none in nvcc's device pass).
#if !defined(__CUDA_ARCH__)
#define WEFT_TRACED_NVLS WEFT_TRACED_NVLS_ENTRIES
#else
#define WEFT_TRACED_NVLS
#endif
