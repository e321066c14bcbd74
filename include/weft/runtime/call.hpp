#pragma once
//! \file
//! The host side of one collective call, before anything touches a GPU:
//! argument checks, the stream checks, the choice of algorithm, protocol and
//! channels (a selector, overridable per call), and the order in which they
//! run. Plain C++ (no CUDA): the GPU runtime (`runtime/collectives.cuh`) fills
//! in the facts and the launch; the tests drive the same functions directly.
//!
//! Order of a call (`run_call`), each step returning before the next on failure:
//!   1. `check_call`   communicator state, dtype/op, root, count overflow,
//!                     null/misaligned/overlapping pointers, options
//!   2. count == 0     success, nothing launched
//!   3. `check_stream` the stream is on the communicator's device
//!   4. `plan_call`    selector (tuner or the built-in policy), then the
//!                     per-call overrides, then the registration rules
//!   5. the launch
//! A failed step launches nothing and names its reason (`call_result::why`,
//! a static string).

#include <weft/algorithm/algorithm.hpp>
#include <weft/algorithm/hierarchical.hpp>
#include <weft/algorithm/plan.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/protocol.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>

namespace weft {

//! Per-call choices; anything left unset is chosen by the communicator's selector.
struct call_options {
  //! all-reduce: ring, recursive_doubling, rabenseifner, tree, hierarchical, nvls;
  //! all-gather: ring, hierarchical, nvls; reduce-scatter: ring, hierarchical (with
  //! `scratch`), nvls; others: ring.
  //! nvls runs over the communicator's multicast window (comm_config::nvls_blocks);
  //! `proto` is then ignored and `nchannels` (blocks) is at most nvls_blocks.
  std::optional<algorithm> algo;
  std::optional<protocol> proto;  //!< simple, ll, ll128 (naming one also keeps the selector from choosing a direct flavour)
  int nchannels = 0;              //!< 0: choose; else 1 .. the communicator's max_channels
  std::optional<bool> direct;     //!< all-gather on Simple: write into the next rank's registered output
  //! All-reduce: the direct algorithm of this flavour (one_shot, two_shot, ll) over
  //! the communicator's symmetric window (`comm_config::direct_blocks`); user
  //! buffers need no registration. Not together with a non-ring `algo` or `direct`;
  //! `nchannels` (blocks) at most direct_blocks; `proto` is ignored.
  std::optional<direct_flavour> flavour;
  //! algo == hierarchical: the levels (default: comm_config::hier, else
  //! hier_layout::automatic). Ignored by the other algorithms.
  std::optional<hier_layout> hier;
  //! The hierarchical reduce-scatter's workspace: device memory on this rank's GPU
  //! for the partial sums between levels, at least nranks x count elements
  //! (`scratch_bytes`), aligned to the element size, overlapping neither buffer.
  //! The runtime allocates nothing per call, so without it that algorithm is
  //! refused (named) or not chosen (selected). Ignored by every other call.
  void* scratch = nullptr;
  std::size_t scratch_bytes = 0;
};

//! One collective call. `count` is in elements: the whole buffer for
//! all-reduce, broadcast and reduce; each rank's part for all-gather (the send
//! count) and reduce-scatter (the receive count), as in NCCL.
struct coll_call {
  coll_kind coll = coll_kind::all_reduce;
  void const* send = nullptr;
  void* recv = nullptr;
  std::size_t count = 0;
  dtype type = dtype::f32;
  redop_desc op{};
  int root = 0;
  call_options opt{};
};

//! What the checks need to know about the communicator (filled by the runtime).
struct comm_facts {
  bool initialized = false;
  bool healthy = true;           //!< false after a failed collective: every call returns aborted
  int rank = 0;
  int nranks = 0;
  int device = 0;
  int max_channels = 1;
  bool recursive_ready = false;  //!< point-to-point connections were made at creation
  bool peer_access = true;       //!< every peer's memory is addressable (direct prims need it)
  bool ring_rotated = false;     //!< the ring is rail-rotated (comm_config::ring_local): no direct all-gather
  //! The symmetric window of the direct all-reduce (blocks 0: none was made).
  struct window {
    int blocks = 0;
    std::size_t area_bytes = 0, ll_bytes = 0;
  } direct{};
  //! The multicast window of the NVLS collectives (blocks 0: none was made).
  struct multicast_window {
    int blocks = 0;
    std::size_t area_bytes = 0;
  } nvls{};
  //! The layout of hierarchical all-reduce when a call names none (comm_config::hier; inner 0: none given).
  hier_layout hier{};
  std::uint32_t dtype_mask = ~0u;  //!< reduction dtypes compiled into this launch path (bit = int(dtype))
  std::uint32_t redop_mask = ~0u;  //!< reduction operators compiled in (bit = int(redop))
  //! Whether [p, p + bytes) lies in one registered buffer of this rank (null: nothing is registered).
  std::function<bool(void const* p, std::size_t bytes)> registered;
};

//! What the runtime found out about the stream (filled from the CUDA runtime).
struct stream_facts {
  int device = 0;                //!< -1: not known (a capturing stream is not asked; see query_stream)
  bool capturing = false;
};

//! A status and the reason for it (a static string, never null).
struct call_result {
  status st = status::success;
  char const* why = "ok";
  bool launched = false;
  launch_plan plan{};
};

//! True for the collectives that reduce (dtype and operator matter).
constexpr bool reduces(coll_kind c) noexcept {
  return c == coll_kind::all_reduce || c == coll_kind::reduce_scatter || c == coll_kind::reduce;
}

//! Whether the GPU runtime runs algorithm `a` for collective `c`: the ring (and
//! chains) for every collective; recursive doubling, Rabenseifner, the double
//! binary tree and the hierarchical composition for all-reduce, and the
//! hierarchical all-gather (over the point-to-point connections of
//! comm_config::recursive_connections), and NVLS for all-reduce, all-gather and
//! reduce-scatter (over the multicast window, comm_config::nvls_blocks). The
//! hierarchical reduce-scatter needs the caller's workspace (call_options::scratch).
//! Rank order (the deterministic mode) is not offered here.
constexpr bool runtime_serves(algorithm a, coll_kind c) noexcept {
  return a == algorithm::ring ||
         (a == algorithm::nvls &&
          (c == coll_kind::all_reduce || c == coll_kind::all_gather || c == coll_kind::reduce_scatter)) ||
         (c == coll_kind::all_reduce && (a == algorithm::recursive_doubling || a == algorithm::rabenseifner ||
                                         a == algorithm::tree || a == algorithm::hierarchical)) ||
         ((c == coll_kind::all_gather || c == coll_kind::reduce_scatter) && a == algorithm::hierarchical);
}

//! Whether the runtime runs `a` over the point-to-point connections
//! (comm_config::recursive_connections): every algorithm but the ring and NVLS.
constexpr bool needs_pairs(algorithm a) noexcept { return a != algorithm::ring && a != algorithm::nvls; }

//! The layout a hierarchical all-reduce on `nranks` ranks runs with, or false
//! when it does not fit them or names an inner algorithm the levels cannot run.
inline bool runnable_hier_layout(hier_layout const& l, int nranks, hier_layout& out) noexcept {
  out = l.resolved(nranks);
  hier_shape shape;
  if (!hier_shape::of(out, nranks, shape)) return false;
  return out.within == algorithm::ring || out.within == algorithm::tree || out.within == algorithm::recursive_doubling ||
         out.within == algorithm::rabenseifner;
}

//! Whether a hierarchical reduce-scatter of this shape keeps partial sums between
//! levels (two or more levels with more than one rank), i.e. needs its workspace.
inline bool hier_needs_scratch(hier_shape const& s) noexcept {
  int busy = 0;
  for (int l = 0; l < s.levels; ++l) busy += s.size[l] > 1;
  return busy > 1;
}

//! Input and output bytes of `c` on this rank; false when they overflow.
inline bool call_bytes(coll_call const& c, int nranks, std::size_t& in_bytes, std::size_t& out_bytes) noexcept {
  std::size_t const e = dtype_size(c.type);
  std::size_t const n = std::size_t(nranks < 1 ? 1 : nranks);
  std::size_t const max = std::size_t(std::numeric_limits<std::ptrdiff_t>::max());
  if (e == 0 || c.count > max / e / n) return false; // the n-rank side must fit too
  std::size_t const one = c.count * e;
  bool const all_to_all = c.coll == coll_kind::all_to_all; // count per peer, both ways
  in_bytes = c.coll == coll_kind::reduce_scatter || all_to_all ? one * n : one;
  out_bytes = c.coll == coll_kind::all_gather || all_to_all ? one * n : one;
  return true;
}

//! Step 1: everything about the call that needs no CUDA call.
inline call_result check_call(comm_facts const& f, coll_call const& c) {
  auto bad = [](status s, char const* why) { return call_result{s, why, false, {}}; };
  if (!f.initialized || f.nranks < 1) return bad(status::invalid_argument, "communicator not initialized");
  if (!f.healthy) return bad(status::aborted, "an earlier collective failed on this communicator; make a new one");
  if (unsigned(c.coll) > unsigned(coll_kind::all_to_all))
    return bad(status::unsupported, "collective not offered by the GPU runtime");
  if (c.coll == coll_kind::all_to_all && !f.recursive_ready)
    return bad(status::unsupported, "all_to_all needs point-to-point connections (comm_config::recursive_connections)");
  if (!is_valid(c.type)) return bad(status::invalid_argument, "invalid dtype");
  if (reduces(c.coll)) {
    if (validate(c.op, c.type) != status::success)
      return bad(status::invalid_argument, "invalid reduction operator for this dtype");
    if (c.op.op == redop::avg && c.op.nranks != f.nranks)
      return bad(status::invalid_argument, "avg: redop_desc::nranks must equal the communicator size");
    if (!(f.dtype_mask >> unsigned(c.type) & 1u))
      return bad(status::unsupported, "dtype not compiled into this launch path (WEFT_RUNTIME_DTYPES)");
    if (!(f.redop_mask >> unsigned(c.op.op) & 1u))
      return bad(status::unsupported, "operator not compiled into this launch path (WEFT_RUNTIME_REDOPS)");
  }
  bool const rooted = c.coll == coll_kind::broadcast || c.coll == coll_kind::reduce;
  if (rooted && (c.root < 0 || c.root >= f.nranks)) return bad(status::invalid_argument, "root out of range");
  std::size_t in_b = 0, out_b = 0;
  if (!call_bytes(c, f.nranks, in_b, out_b)) return bad(status::invalid_argument, "count overflows the byte size");
  // Options are checked even for empty calls: a bad option is a bug whatever the size.
  if (c.opt.nchannels < 0 || c.opt.nchannels > f.max_channels)
    return bad(status::invalid_argument, "nchannels out of range (0 or 1 .. max_channels)");
  if (c.opt.proto && unsigned(*c.opt.proto) >= unsigned(protocol_count))
    return bad(status::invalid_argument, "invalid protocol");
  if (c.opt.algo && unsigned(*c.opt.algo) >= unsigned(algorithm_count))
    return bad(status::invalid_argument, "invalid algorithm");
  if (c.opt.algo && !runtime_serves(*c.opt.algo, c.coll))
    return bad(status::unsupported, "algorithm not offered by the GPU runtime for this collective");
  if (c.opt.flavour) {
    if (unsigned(*c.opt.flavour) >= unsigned(direct_flavour_count)) return bad(status::invalid_argument, "invalid direct flavour");
    if (c.coll != coll_kind::all_reduce)
      return bad(status::unsupported, "direct flavours (one_shot, two_shot, ll) serve all-reduce only");
    if ((c.opt.algo && *c.opt.algo != algorithm::ring) || (c.opt.direct && *c.opt.direct))
      return bad(status::invalid_argument, "call_options: a direct flavour is its own algorithm; leave algo and direct unset");
  }
  if (c.count == 0) return {};
  bool const uses_send = !(c.coll == coll_kind::broadcast && f.rank != c.root);
  bool const uses_recv = !(c.coll == coll_kind::reduce && f.rank != c.root);
  if ((uses_send && !c.send) || (uses_recv && !c.recv)) return bad(status::invalid_argument, "null buffer");
  std::size_t const e = dtype_size(c.type);
  if ((uses_send && reinterpret_cast<std::uintptr_t>(c.send) % e) || (uses_recv && reinterpret_cast<std::uintptr_t>(c.recv) % e))
    return bad(status::invalid_argument, "buffer not aligned to its element size");
  auto const s = reinterpret_cast<std::uintptr_t>(c.send), r = reinterpret_cast<std::uintptr_t>(c.recv);
  if ((uses_send && s + in_b < s) || (uses_recv && r + out_b < r))
    return bad(status::invalid_argument, "buffer wraps around the address space");
  if (uses_send && uses_recv && s < r + out_b && r < s + in_b) {
    // Overlap is allowed only as NCCL's in-place forms.
    std::uintptr_t const part = std::uintptr_t(c.count * e) * std::uintptr_t(f.rank);
    if (c.coll == coll_kind::all_to_all)
      return bad(status::unsupported, "in-place (overlapping) all_to_all is not supported");
    bool const in_place = (c.coll == coll_kind::all_gather) ? s == r + part
                          : (c.coll == coll_kind::reduce_scatter) ? r == s + part
                                                                  : s == r;
    if (!in_place) return bad(status::invalid_argument, "send and recv overlap other than in place");
  }
  return {};
}

//! Step 3: the stream must belong to the communicator's device (when its device is known).
inline call_result check_stream(comm_facts const& f, stream_facts const& s) {
  if (s.device >= 0 && s.device != f.device) return {status::invalid_argument, "stream is on another device than the communicator", false, {}};
  return {};
}

//! Resource-making calls (allocation, registration, handle exchange) refuse a
//! capturing stream: nothing of that kind may happen inside a CUDA graph.
inline call_result check_not_capturing(stream_facts const& s) {
  if (s.capturing)
    return {status::unsupported, "refused during CUDA graph capture: allocate and register before capturing", false, {}};
  return {};
}

//! The built-in policy (used when no selector is set or it declines):
//!  - one rank: Simple, one channel (a local copy or reduction);
//!  - all-reduce on 2..8 ranks with a direct window (`w.blocks > 0`): direct LL
//!    while one LL round per block holds the message (`blocks * ll_bytes`),
//!    one-shot up to 1 MiB (one block per started area, up to `blocks`) -- on
//!    the H100 runs with virtual ranks (docs/gpu-validation.md, algos_bench_gpu)
//!    direct LL was the fastest all-reduce at 8 B and one-shot up to 1 MiB, at
//!    2, 4 and 8 ranks; more ranks are not measured, so they keep the rest;
//!  - up to 256 KiB per rank: LL (lowest latency measured), recursive doubling
//!    for all-reduce when its connections exist and there are more than 2 ranks;
//!  - above: Simple, one channel per MiB up to max_channels.
//! LL128 is never picked by the policy: on the measured H100 runs it was the
//! slowest protocol at every size; it stays available as an override.
inline launch_plan default_plan(coll_kind c, int nranks, std::size_t bytes, int max_channels, bool recursive_ready,
                                comm_facts::window w = {}) {
  launch_plan p;
  if (nranks <= 1) return p;
  if (c == coll_kind::all_reduce && w.blocks > 0 && nranks <= 8 && w.ll_bytes > 0 && w.area_bytes > 0) {
    auto blocks_for = [&](std::size_t per) { return int(std::min<std::size_t>(std::size_t(w.blocks), (bytes + per - 1) / per)); };
    if (bytes <= std::size_t(w.blocks) * w.ll_bytes) {
      p.flavour = direct_flavour::ll;
      p.nchannels = std::max(1, blocks_for(w.ll_bytes));
      return p;
    }
    if (bytes <= (std::size_t(1) << 20)) {
      p.flavour = direct_flavour::one_shot;
      p.nchannels = std::max(1, blocks_for(w.area_bytes));
      return p;
    }
  }
  auto clamp = [&](std::size_t v) { return int(v < 1 ? 1 : v > std::size_t(max_channels) ? std::size_t(max_channels) : v); };
  if (bytes <= (256u << 10)) {
    p.proto = protocol::ll;
    p.nchannels = 1;
    if (c == coll_kind::all_reduce && recursive_ready && nranks > 2) p.algo = algorithm::recursive_doubling;
  } else {
    p.proto = protocol::simple;
    p.nchannels = clamp(bytes >> 20);
  }
  return p;
}

//! Why the hierarchical reduce-scatter of `c` with layout `l` cannot use the
//! call's workspace (null: it can, or needs none).
inline char const* scratch_problem(comm_facts const& f, coll_call const& c, hier_layout const& l) noexcept {
  hier_shape shape;
  if (!hier_shape::of(l, f.nranks, shape) || !hier_needs_scratch(shape)) return nullptr;
  std::size_t in_b = 0, out_b = 0;
  if (!call_bytes(c, f.nranks, in_b, out_b)) return "count overflows the byte size";
  if (!c.opt.scratch || c.opt.scratch_bytes < in_b)
    return "hierarchical reduce-scatter needs call_options::scratch of nranks x count elements (the partial sums "
           "between levels)";
  auto const w = reinterpret_cast<std::uintptr_t>(c.opt.scratch);
  if (w % dtype_size(c.type)) return "call_options::scratch not aligned to its element size";
  if (w + in_b < w) return "call_options::scratch wraps around the address space";
  auto overlaps = [&](void const* p, std::size_t bytes) {
    auto const q = reinterpret_cast<std::uintptr_t>(p);
    return p && w < q + bytes && q < w + in_b;
  };
  if (overlaps(c.send, in_b) || overlaps(c.recv, out_b)) return "call_options::scratch overlaps the send or recv buffer";
  return nullptr;
}

//! Step 4: the plan of a checked call (selector, then overrides, then the rules
//! the plan must satisfy). A plan that cannot run returns its reason.
inline call_result plan_call(comm_facts const& f, coll_call const& c, plan_selector const* sel = nullptr) {
  call_result out;
  std::size_t in_b = 0, out_b = 0;
  call_bytes(c, f.nranks, in_b, out_b);
  std::size_t const size = c.coll == coll_kind::all_gather ? out_b : in_b; // nccl-tests' size
  launch_plan p;
  if (!(sel && *sel && (*sel)(c.coll, f.nranks, size, dtype_size(c.type), c.root, p)))
    p = default_plan(c.coll, f.nranks, size, f.max_channels, f.recursive_ready, f.direct);
  // A direct flavour needs an all-reduce and the window; otherwise the plan's algorithm runs.
  if (p.flavour && (c.coll != coll_kind::all_reduce || f.direct.blocks < 1 || unsigned(*p.flavour) >= unsigned(direct_flavour_count)))
    p.flavour.reset();
  // An NVLS plan needs the multicast window; otherwise the ring runs.
  if (p.algo == algorithm::nvls && (f.nvls.blocks < 1 || p.flavour || !runtime_serves(p.algo, c.coll))) p.algo = algorithm::ring;
  int const max_ch = p.flavour                     ? std::min(f.max_channels, f.direct.blocks)
                     : p.algo == algorithm::nvls ? std::min(f.max_channels, f.nvls.blocks)
                                                 : f.max_channels;
  if (p.nchannels < 1) p.nchannels = 1;
  if (p.nchannels > max_ch) p.nchannels = max_ch;
  // A selected plan the communicator cannot serve falls back to the ring
  // (for all_to_all, `ring` names its only schedule, the pairwise exchange).
  if (!runtime_serves(p.algo, c.coll) || (needs_pairs(p.algo) && !f.recursive_ready)) p.algo = algorithm::ring;
  // A selected hierarchical plan needs a layout: the selector's, else the communicator's; one that does not fit: the ring.
  if (p.algo == algorithm::hierarchical) {
    hier_layout const want = p.hier.inner > 0 ? p.hier : f.hier;
    if (want.inner < 1 || !runnable_hier_layout(want, f.nranks, p.hier)) p.algo = algorithm::ring;
    else if (c.coll == coll_kind::reduce_scatter && scratch_problem(f, c, p.hier)) p.algo = algorithm::ring;
  }
  bool const recv_registered = f.registered && f.registered(c.recv, out_b);
  if (p.direct && (c.coll != coll_kind::all_gather || p.proto != protocol::simple || !recv_registered || !f.peer_access ||
                   f.ring_rotated || p.algo != algorithm::ring))
    p.direct = false;
  // Explicit overrides are obeyed or refused, never silently changed.
  if (c.opt.algo) p.algo = *c.opt.algo;
  if (c.opt.proto) p.proto = *c.opt.proto;
  if (c.opt.nchannels > 0) p.nchannels = c.opt.nchannels;
  if (c.opt.direct) p.direct = *c.opt.direct;
  if (c.opt.flavour) {
    p.flavour = c.opt.flavour;
    p.algo = algorithm::ring;
    p.direct = false;
    if (c.opt.nchannels <= 0 && p.nchannels > f.direct.blocks) p.nchannels = std::max(1, f.direct.blocks);
  } else if (c.opt.algo || c.opt.proto || (c.opt.direct && *c.opt.direct) || c.opt.nchannels > f.direct.blocks) {
    // An explicit algorithm or protocol asks for the prims-based algorithms, and
    // more channels than the window has blocks cannot run a direct flavour.
    p.flavour.reset();
  }
  // Likewise a selected NVLS plan: an explicit protocol, direct transfers or more
  // channels than the multicast window has blocks ask for the ring.
  if (!c.opt.algo && p.algo == algorithm::nvls &&
      (c.opt.proto || (c.opt.direct && *c.opt.direct) || c.opt.nchannels > f.nvls.blocks))
    p.algo = algorithm::ring;
  if (c.opt.algo && *c.opt.algo == algorithm::hierarchical) {
    // Explicit: the call's layout, else the communicator's, else the automatic one.
    hier_layout const want = c.opt.hier ? *c.opt.hier : f.hier;
    if (!runnable_hier_layout(want, f.nranks, p.hier)) {
      out.plan = p;
      return {status::unsupported,
              "hierarchical layout does not fit the rank count, or its inner algorithm is not ring, tree, "
              "recursive_doubling or rabenseifner (call_options::hier, comm_config::hier)",
              false, p};
    }
    if (c.coll == coll_kind::reduce_scatter)
      if (char const* why = scratch_problem(f, c, p.hier)) return {status::invalid_argument, why, false, p};
  }
  if (p.algo == algorithm::nvls && !c.opt.nchannels && p.nchannels > f.nvls.blocks) p.nchannels = std::max(1, f.nvls.blocks);
  out.plan = p;
  if (p.algo == algorithm::nvls) {
    if (f.nvls.blocks < 1)
      return {status::unsupported,
              "nvls needs the communicator's multicast window: one rank per GPU (on one host, or across hosts with "
              "fabric handles), every GPU with "
              "multicast support (NVSwitch, sm_90+), comm_config::nvls_blocks > 0 and WEFT_RUNTIME_NVLS "
              "(comm::nvls_status() says why it is missing)",
              false, p};
    if (p.nchannels > f.nvls.blocks)
      return {status::invalid_argument, "nchannels above comm_config::nvls_blocks for an nvls collective", false, p};
    if (p.direct) return {status::unsupported, "direct transfers serve the ring all-gather only", false, p};
    return out;
  }
  if (p.flavour) {
    if (f.direct.blocks < 1)
      return {status::unsupported,
              "direct all-reduce needs the communicator's symmetric window (comm_config::direct_blocks > 0, peer access, WEFT_RUNTIME_DIRECT)",
              false, p};
    if (p.nchannels > f.direct.blocks)
      return {status::invalid_argument, "nchannels above comm_config::direct_blocks for a direct all-reduce", false, p};
    return out;
  }
  if (needs_pairs(p.algo) && !f.recursive_ready)
    return {status::unsupported, "recursive, tree and hierarchical algorithms need comm_config::recursive_connections",
            false, p};
  if (p.direct) {
    if (c.coll != coll_kind::all_gather || p.proto != protocol::simple || p.algo != algorithm::ring)
      return {status::unsupported, "direct transfers serve the ring all-gather on the Simple protocol only", false, p};
    if (!f.peer_access) return {status::unsupported, "direct transfers need peer access between the ranks", false, p};
    if (f.ring_rotated)
      return {status::unsupported, "direct transfers follow the plain ring (comm_config::ring_local is set)", false, p};
    if (!recv_registered)
      return {status::invalid_argument, "direct all-gather needs a registered output buffer (register_buffer)", false, p};
  }
  return out;
}

//! Steps 1-5 in order. `query_stream(stream_facts&)` (the first CUDA call of a
//! collective) runs only after step 1 passed, and `launch(plan)` only when every
//! check passed; the status of whichever failed first is returned.
template <class QueryStream, class Launch>
call_result run_call(comm_facts const& f, coll_call const& c, QueryStream&& query_stream, plan_selector const* sel,
                     Launch&& launch) {
  call_result r = check_call(f, c);
  if (r.st != status::success || c.count == 0) return r;
  stream_facts s;
  if (status const qs = query_stream(s); qs != status::success) return {qs, "could not query the stream", false, {}};
  r = check_stream(f, s);
  if (r.st != status::success) return r;
  r = plan_call(f, c, sel);
  if (r.st != status::success) return r;
  r.st = launch(r.plan);
  r.launched = true;
  r.why = r.st == status::success ? "ok" : "the launch failed";
  return r;
}

} // namespace weft
