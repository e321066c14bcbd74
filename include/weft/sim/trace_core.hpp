#pragma once
//! \file
//! The tracing machinery (see trace.hpp for the traced algorithms and their
//! registry). Tracing algorithms into schedules: run the algorithm source over
//! `trace_prims` for every rank and channel, exactly as the CPU communicator
//! runs it over `weft::prims` (channel ch handles `partition(count, nchannels, ch)`
//! of the data, rank r sits at `ring_position{r, nranks}`).
//!
//! ```
//! weft::sim::trace_options o;
//! o.step_elems = 64;
//! weft::sim::schedule s = weft::sim::trace_ring_all_reduce(8, 2, 1000, o);
//! ```
//! Adding an algorithm takes a trace function (a few lines around
//! `trace_algorithm`, or `trace_net_algorithm` for algorithms written over a
//! Net whose peers change from step to step) and one line in
//! `traced_algorithm_list`.

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/status.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <weft/sim/trace_prims.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::sim {

//! How a schedule is cut: the protocol, slots and element size the prims would see.
struct trace_options {
  protocol proto = protocol::simple;
  std::size_t slot_bytes = 0; //!< 0: the protocol's default slot (protocol_defaults), or the one `step_elems` needs
  int nslots = 8;             //!< slots per connection (recorded in the schedule; flow control)
  std::size_t elem_bytes = 4; //!< 1, 2, 4 or 8
  std::size_t step_elems = 0; //!< 0: what prims derive from the slot; else this many (Simple: a multiple of 16)
  int root = 0;               //!< broadcast and reduce
  //! The rail-rotated ring family (`ring_rail`, `chain_rail`): ranks per node
  //! (`ring_order::local`); 0 or 1: the plain ring. nranks must be a multiple of
  //! it (or at most it: one node, the plain ring).
  int ring_local = 0;
  //! Symmetric-memory schedules (direct, NVLS): trace this many calls back to
  //! back on one window, each rank reading and rewriting (in place) its own part
  //! of its input and output between two calls -- what a caller does before its
  //! next call -- so that the verifier's race analysis covers what the
  //! algorithms' barriers guard across calls (buffers and staging reused).
  //! Every other schedule takes 1 only.
  int calls = 1;
};

//! What one (rank, channel) of a traced algorithm is given.
template <class T>
struct trace_call {
  int rank = 0;
  int nranks = 1;
  int channel = 0;
  int nchannels = 1;
  int root = 0;
  std::size_t count = 0; //!< the collective's count (per-rank send count for all-gather, recv count for reduce-scatter)
  elem_range range{};    //!< this channel's part: partition(count, nchannels, channel)
  T const* in = nullptr; //!< fake input buffer
  T* out = nullptr;      //!< fake output buffer
  T* scratch = nullptr;  //!< fake scratch buffer
};

//! Incoming and outgoing peer of (rank, channel).
struct trace_peers {
  int recv_peer = -1;
  int send_peer = -1;
};

//! The ring every ring-family algorithm uses: on the plain ring (local <= 1)
//! receive from rank - 1 and send to rank + 1; else channel ch's neighbours in
//! the rail-rotated order (`ring_order{local, ch}`).
struct ring_peers {
  int local = 1;
  trace_peers operator()(int rank, int nranks, int channel) const noexcept {
    if (nranks < 2) return {};
    ring_order const ord{local, channel};
    return {ord.prev(rank, nranks), ord.next(rank, nranks)};
  }
};

namespace detail {

template <class T, class Body, class Peers>
bool trace_run(schedule& s, int nranks, int nchannels, std::size_t count, int root, std::size_t step_elems, Body& body,
               Peers& peers, std::string& err) {
  for (int r = 0; r < nranks; ++r)
    for (int ch = 0; ch < nchannels; ++ch) {
      trace_peers const pr = peers(r, nranks, ch);
      trace_site const site{r, ch, pr.recv_peer, pr.send_peer, step_elems};
      trace_prims<T> p(s.steps, site, &err);
      trace_call<T> c;
      c.rank = r;
      c.nranks = nranks;
      c.channel = ch;
      c.nchannels = nchannels;
      c.root = root;
      c.count = count;
      c.range = partition(count, nchannels, ch);
      c.in = trace_buffers<T>::input();
      c.out = trace_buffers<T>::output();
      c.scratch = trace_buffers<T>::scratch();
      status const st = body(p, c);
      p.finish();
      if (st != status::success) {
        if (err.empty())
          err = "rank " + std::to_string(r) + " channel " + std::to_string(ch) + ": the algorithm returned " + to_string(st);
        return false;
      }
    }
  return true;
}

} // namespace detail

//! Trace an algorithm: `body(prims, call)` runs one (rank, channel) of it over
//! `trace_prims<T>` (a generic lambda: T is an unsigned type of `o.elem_bytes`
//! bytes) and returns its status. `peers(rank, nranks, channel)` gives the
//! connections each (rank, channel) has. The result is linked. On invalid
//! arguments or an algorithm failure it has no steps and `*error` says why.
template <class Body, class Peers = ring_peers>
schedule trace_algorithm(std::string name, collective coll, int nranks, int nchannels, std::size_t count,
                         trace_options const& o, Body&& body, std::string* error = nullptr, Peers peers = {}) {
  schedule s;
  s.name = std::move(name);
  s.coll = coll;
  s.nranks = nranks;
  s.nchannels = nchannels;
  s.nslots = o.nslots;
  s.root = o.root;
  s.count = count;
  s.elem_bytes = o.elem_bytes;
  s.proto = o.proto;
  std::string err;
  auto fail = [&](std::string m) {
    if (error) *error = std::string(to_string(coll)) + " " + s.name + ": " + m;
    s.steps.clear();
    return s;
  };
  if (nranks < 1 || nranks > max_ranks) return fail("nranks must be in 1.." + std::to_string(max_ranks));
  if (nchannels < 1 || nchannels > max_channels) return fail("nchannels must be in 1.." + std::to_string(max_channels));
  if (o.nslots < 1) return fail("nslots must be at least 1");
  if (o.calls != 1)
    return fail("calls " + std::to_string(o.calls) +
                ": only symmetric-memory schedules (direct, NVLS) trace several calls, at least 1");
  if (o.root < 0 || o.root >= nranks) return fail("root outside 0..nranks-1");
  if (o.ring_local < 0 || (o.ring_local > 1 && o.ring_local < nranks && nranks % o.ring_local != 0))
    return fail("nranks " + std::to_string(nranks) + " is not a multiple of ring_local " + std::to_string(o.ring_local));
  if (o.elem_bytes != 1 && o.elem_bytes != 2 && o.elem_bytes != 4 && o.elem_bytes != 8)
    return fail("elem_bytes must be 1, 2, 4 or 8");
  if (unsigned(o.proto) >= unsigned(protocol_count)) return fail("unknown protocol");
  // Every buffer must fit the 2^40-byte window of a fake trace pointer.
  if (count > ((std::size_t(1) << trace_buffer_shift) - 1) / o.elem_bytes / std::size_t(nranks))
    return fail("count too large to trace (buffers must stay below 2^40 bytes)");
  std::size_t step = o.step_elems;
  if (step == 0) {
    s.slot_bytes = o.slot_bytes ? o.slot_bytes : protocol_defaults{}.slot_bytes(o.proto);
    step = prims_step_elems(o.proto, s.slot_bytes, o.elem_bytes);
    if (step == 0) return fail("a slot of " + std::to_string(s.slot_bytes) + " bytes carries no element");
  } else {
    if (o.proto == protocol::simple && step % 16 != 0)
      return fail("step_elems must be a multiple of 16 under Simple (prims round the slot payload down to 16 elements)");
    s.slot_bytes = o.slot_bytes ? o.slot_bytes : slot_bytes_for(o.proto, step, o.elem_bytes);
    if (prims_step_elems(o.proto, s.slot_bytes, o.elem_bytes) != step)
      return fail("slot_bytes " + std::to_string(s.slot_bytes) + " does not give step_elems " + std::to_string(step));
  }
  bool ok = false;
  switch (o.elem_bytes) {
    case 1: ok = detail::trace_run<std::uint8_t>(s, nranks, nchannels, count, o.root, step, body, peers, err); break;
    case 2: ok = detail::trace_run<std::uint16_t>(s, nranks, nchannels, count, o.root, step, body, peers, err); break;
    case 4: ok = detail::trace_run<std::uint32_t>(s, nranks, nchannels, count, o.root, step, body, peers, err); break;
    default: ok = detail::trace_run<std::uint64_t>(s, nranks, nchannels, count, o.root, step, body, peers, err); break;
  }
  if (!ok) return fail(err);
  if (!s.link(&err)) return fail("the traced steps do not link: " + err);
  return s;
}

//! The Net of the algorithms whose peers change from step to step (see
//! weft/algorithm/recursive.hpp), recording instead of moving data: every
//! `with_peers` call records into the same (rank, channel) program, on the
//! connections (recv_peer -> rank) and (rank -> send_peer) of that channel.
template <class T>
struct trace_net {
  std::vector<step>& out;
  trace_site site;
  std::string* error;
  // Host-device like the algorithms that call them; tracing happens on the host
  // only (under nvcc the device side returns `unsupported`).
  //! f(prims&) receiving from `recv_peer` and sending to `send_peer` (either may be -1: none).
  template <class F>
  WEFT_HOST_DEVICE status with_peers(int recv_peer, int send_peer, F&& f) {
    WEFT_TRACE_ON_HOST(return record(recv_peer, send_peer, f);)
  }
  template <class F>
  WEFT_HOST_DEVICE status with_peer(int peer, F&& f) {
    WEFT_TRACE_ON_HOST(return record(peer, peer, f);)
  }
  template <class F>
  WEFT_HOST_DEVICE status local(F&& f) {
    WEFT_TRACE_ON_HOST(return record(-1, -1, f);)
  }

private:
  template <class F>
  status record(int recv_peer, int send_peer, F& f) {
    trace_prims<T> p(out, trace_site{site.rank, site.channel, recv_peer, send_peer, site.step_elems}, error);
    status const s = f(p);
    p.finish();
    return s;
  }
};

//! `trace_algorithm` for an algorithm written over a Net: `body(net, call)`
//! runs one (rank, channel) of it over `trace_net<T>`.
template <class Body>
schedule trace_net_algorithm(std::string name, collective coll, int nranks, int nchannels, std::size_t count,
                             trace_options const& o, Body&& body, std::string* error = nullptr) {
  return trace_algorithm(std::move(name), coll, nranks, nchannels, count, o, [&](auto& p, auto const& c) {
    using T = typename std::decay_t<decltype(p)>::value_type;
    trace_net<T> net{p.steps_out(), p.site(), p.error_sink()};
    return body(net, c);
  }, error);
}

using trace_fn = schedule (*)(int nranks, int nchannels, std::size_t count, trace_options const&, std::string* error);

//! One traceable algorithm.
struct traced_algorithm {
  collective coll;
  char const* name;
  trace_fn fn;
  char const* summary;
  algorithm algo = algorithm::ring; //!< what `coll_options::algo` selects to run it on a communicator
  bool pairs = false;               //!< runs over point-to-point connections (a Net), not the ring's
  //! Protocols it is cut for and runs under (bit `1 << protocol`): the symmetric-memory
  //! schedules move data with loads and stores of their own (direct, NVLS: Simple; LL lines: LL).
  unsigned protocols = (1u << protocol_count) - 1;
  //! Runs over a symmetric-memory window (one-sided, multicast and flag steps), not a
  //! communicator's connections (`algo` does not apply): needs every rank in one NVLink domain.
  bool symmetric = false;
  bool multicast = false; //!< needs NVLink switches that reduce and replicate (NVLS)
  //! The rail-rotated ring family: traced with `trace_options::ring_local` (the
  //! tuner sets it to the topology's GPUs per node); each channel is its own ring.
  bool rail = false;
  //! Runs on the call's own buffers, which must be multicast symmetric memory
  //! (zero-copy NVLS; the runtime takes it only for whole 16-byte vectors per
  //! rank, `nvls_zero_copy_fits`). The tuner considers it only when told the
  //! buffers are (`tune_options::zero_copy`).
  bool zero_copy = false;
};

//! Whether `a` is cut for / runs under protocol `p`.
constexpr bool traces_under(traced_algorithm const& a, protocol p) noexcept {
  return (a.protocols >> unsigned(p)) & 1u;
}

//! The protocol bit of `p` (for `traced_algorithm::protocols`).
constexpr unsigned protocol_bit(protocol p) noexcept { return 1u << unsigned(p); }

} // namespace weft::sim
