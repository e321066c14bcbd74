#pragma once
//! \file
//! The tuner: which algorithm, protocol and channel count to use for a
//! (topology, collective, ranks, bytes), chosen by predicted time from the
//! simulator, with the user's overrides taking precedence.
//!
//! ```
//! weft::sim::topology t;
//! std::string why;
//! if (!weft::sim::load_topology("dgx-h100", t, &why)) { /* report why */ }
//! weft::tune::request rq;
//! rq.coll = weft::sim::collective::all_reduce;
//! rq.nranks = 8;
//! rq.bytes = 64 << 20;
//! weft::tune::choice c = weft::tune::choose(t, rq);
//! // c.best.algo == "ring", c.best.proto, c.best.nchannels, c.best.time_us
//! ```
//!
//! Candidates are every traced algorithm of the collective (see
//! `sim::traced_algorithm_list`: only what exists is considered), every
//! protocol and every channel count of `tune_options`. Each is traced and
//! simulated (`predict`), except that a candidate is skipped when
//!  - an algorithm-independent lower bound on its time (the bytes each GPU must
//!    move at the fastest rate the protocol allows, plus its base latency)
//!    already exceeds the best time found, or
//!  - its schedule would have more than `max_steps` steps (too slow to simulate;
//!    it is listed with the reason).
//!
//! Layering: DESIGN.md numbers tune/ (5) below sim/ (6); this selector needs the
//! simulator, so it sits above it. The constexpr policies of tune/ that device
//! code may include stay free of sim/ (see docs/simulator.md).

#include <weft/proto/protocol.hpp>
#include <weft/sim/simulator.hpp>
#include <weft/sim/topology.hpp>
#include <weft/sim/trace.hpp>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace weft::tune {

//! What to choose for.
struct request {
  sim::collective coll = sim::collective::all_reduce;
  int nranks = 0;             //!< 0: every GPU of the topology
  std::size_t bytes = 0;      //!< nccl-tests' size: per rank, or the total for all-gather and reduce-scatter
  std::size_t elem_bytes = 4; //!< 1, 2, 4 or 8
  int root = 0;               //!< broadcast and reduce
  //! The reduction is a sum of fp32, bf16 or fp16, what NVLS switches reduce
  //! (zero-copy NVLS runs nothing else; weft-sim sets it from -d and -o).
  bool switch_sum = true;
};

//! What the user fixed (the tuner chooses the rest).
struct overrides {
  std::string algo;   //!< "" or "auto": choose
  int proto = -1;     //!< -1: choose; else a `weft::protocol` value
  int nchannels = 0;  //!< 0: choose
};

//! Overrides from the environment: WEFT_ALGO (e.g. "ring"), WEFT_PROTO ("simple", "ll", "ll128"),
//! WEFT_NCHANNELS (a positive number). Unset or "auto" leaves the choice to the tuner; a value
//! that does not parse is reported in `*why` and ignored.
inline overrides overrides_from_env(std::string* why = nullptr) {
  overrides o;
  if (char const* a = std::getenv("WEFT_ALGO"); a && *a && std::string(a) != "auto") o.algo = a;
  if (char const* p = std::getenv("WEFT_PROTO"); p && *p && std::string(p) != "auto") {
    protocol pr;
    if (parse_protocol(p, pr)) o.proto = int(pr);
    else if (why) *why = std::string("WEFT_PROTO=") + p + " is not simple, ll or ll128; ignored";
  }
  if (char const* c = std::getenv("WEFT_NCHANNELS"); c && *c && std::string(c) != "auto") {
    char* end = nullptr;
    long const v = std::strtol(c, &end, 10);
    if (end && *end == 0 && v >= 1 && v <= sim::max_channels) o.nchannels = int(v);
    else if (why) *why = std::string("WEFT_NCHANNELS=") + c + " is not a channel count; ignored";
  }
  return o;
}

//! How to search.
struct tune_options {
  std::vector<int> channels{1, 2, 4, 8, 16, 32};
  std::vector<protocol> protocols{protocol::simple, protocol::ll128, protocol::ll};
  protocol_defaults slots{};        //!< slot count and sizes per protocol (as the communicator's)
  std::size_t max_steps = 1u << 19; //!< skip candidates whose schedule would be larger
  bool prune = true;                //!< skip candidates whose lower bound exceeds the best time
  std::vector<int> gpu_of_rank;     //!< GPU of each rank (empty: rank r on GPU r)
  //! Symmetric-memory window of the direct and NVLS schedules (per block, as
  //! `cpu_window`'s `window_config`): one round moves one area per block.
  std::size_t sym_area_bytes = 64 << 10;
  std::size_t sym_ll_bytes = 1 << 10; //!< LL payload per sender and round (direct_ll)
  //! Symmetric schedules repeat the same round: beyond this many rounds the time
  //! is extrapolated from two shorter simulations (see `predict`). 0: never.
  int max_rounds_simulated = 8;
  //! The call's buffers are multicast symmetric memory (weft-bench -R 2):
  //! zero-copy NVLS (`traced_algorithm::zero_copy`) is a candidate. Off, it is
  //! listed with the reason and never chosen.
  bool zero_copy = false;
};

//! One predicted candidate.
struct prediction {
  bool ok = false;
  std::string error;         //!< why there is no prediction
  std::string algo;
  protocol proto = protocol::simple;
  int nchannels = 1;
  std::size_t count = 0;     //!< elements per rank (the schedule's count)
  double time_us = 0;        //!< predicted time
  double lower_bound_us = 0; //!< the bound used for pruning
  sim::sim_result sim;       //!< the simulation (when one ran)
  std::size_t rounds = 0;    //!< symmetric schedules: rounds of the window
  bool extrapolated = false; //!< the time is extrapolated from 4 and 8 rounds (`max_rounds_simulated`)
};

//! The registry entry of `algo` for collective `c` (nullptr: none).
inline sim::traced_algorithm const* find_algorithm(sim::collective c, std::string const& algo) {
  for (auto const& a : sim::traced_algorithm_list)
    if (a.coll == c && algo == a.name) return &a;
  return nullptr;
}

//! Why zero-copy schedule `a` cannot run for `rq` ("" when it can, or `a` is
//! not zero-copy): the buffers must be multicast symmetric memory, and the
//! runtime takes the zero-copy path only for whole 16-byte vectors per rank
//! and, reducing, for sums of fp32, bf16 or fp16 (`nvls_zero_copy_fits`;
//! other calls are staged).
inline std::string zero_copy_reason(sim::traced_algorithm const& a, request const& rq, int nranks,
                                    tune_options const& o) {
  if (!a.zero_copy) return {};
  if (!o.zero_copy)
    return std::string(a.name) + " runs on the call's own buffers when they are multicast symmetric memory "
                                 "(tune_options::zero_copy; weft-sim --zero-copy)";
  bool const reduces = rq.coll == sim::collective::all_reduce || rq.coll == sim::collective::reduce_scatter;
  if (reduces && (!rq.switch_sum || (rq.elem_bytes != 2 && rq.elem_bytes != 4)))
    return std::string(a.name) + " reduces in the switch, which adds fp32, bf16 and fp16 only (the runtime stages "
                                 "other reductions)";
  std::size_t const per = rq.elem_bytes * (sim::size_is_total(rq.coll) ? std::size_t(nranks) : 1u);
  std::size_t const piece = per ? rq.bytes / per * rq.elem_bytes : 0;
  if (piece == 0 || piece % nvls_vector_bytes != 0)
    return std::string(a.name) + " moves whole 16-byte vectors: " + std::to_string(piece) +
           " bytes per rank is not a nonzero multiple of 16 (the runtime stages such a call)";
  return {};
}

//! Why `a` cannot run with `nranks` ranks on `t` ("" when it can): symmetric-memory
//! schedules need every rank in one NVLink domain, multicast ones switches that reduce.
inline std::string unsupported_reason(sim::topology const& t, int nranks, sim::traced_algorithm const& a,
                                      std::vector<int> const& gpu_of_rank = {}) {
  auto gpu = [&](int r) { return gpu_of_rank.empty() ? r : gpu_of_rank[std::size_t(r)]; };
  if (a.rail) { // ranks fill the nodes in order (rank r on the GPU of local index r mod gpus_per_node)
    // Inside an NVLink domain every hop is NVLink: the rotation moves no NIC traffic.
    bool several_domains = false;
    for (int r = 1; r < nranks; ++r) several_domains = several_domains || t.domain_of(gpu(r)) != t.domain_of(gpu(0));
    if (t.gpus_per_node < 2 || !several_domains)
      return std::string(a.name) + " differs from the plain ring only across NVLink domains (through NICs); " +
             std::to_string(nranks) + " ranks on " + t.name + " are in one";
    if (nranks % t.gpus_per_node != 0)
      return std::string(a.name) + " needs whole nodes: " + std::to_string(nranks) + " ranks is not a multiple of " +
             std::to_string(t.gpus_per_node) + " GPUs per node";
    return {};
  }
  if (!a.symmetric) return {};
  for (int r = 1; r < nranks; ++r)
    if (t.domain_of(gpu(r)) != t.domain_of(gpu(0)))
      return std::string(a.name) + " needs every rank in one NVLink domain (symmetric memory); " +
             std::to_string(nranks) + " ranks span " + std::to_string(t.domain_of(gpu(nranks - 1)) + 1) +
             " domains of " + t.name;
  if (a.multicast && !t.nvlink.in_switch_reduction)
    return std::string(a.name) + " needs NVLink switches that reduce (nvlink.in_switch_reduction); " + t.name +
           " has none";
  if (!t.cost.has_symmetric) return "cost model " + t.cost.name + " has no \"symmetric\" parameters";
  return {};
}

//! Elements per rank for nccl-tests' `bytes` (0 when the size holds less than one element per rank).
inline std::size_t count_for(request const& rq, int nranks) noexcept {
  std::size_t const per = rq.elem_bytes * (sim::size_is_total(rq.coll) ? std::size_t(nranks) : 1u);
  return per ? rq.bytes / per : 0;
}

//! The fewest bytes some GPU must send or receive for the collective, whatever
//! the algorithm (with in-switch reduction, all-reduce needs only (n-1)/n S).
inline double min_bytes_per_gpu(sim::collective c, int n, double S, bool switch_reduction) noexcept {
  if (n < 2) return 0;
  double const f = double(n - 1) / double(n);
  switch (c) {
    case sim::collective::all_reduce: return switch_reduction ? f * S : 2 * f * S;
    case sim::collective::all_gather:
    case sim::collective::reduce_scatter: return f * S; // S: the total (nccl-tests' size)
    case sim::collective::broadcast:
    case sim::collective::reduce: return S;
  }
  return 0;
}

//! Lower bound on the time of collective `rq` under protocol `p`: for any
//! algorithm (`a` null), or for `a` (symmetric schedules pay their own base
//! latency; multicast ones may reduce in the switch).
inline double lower_bound_us(sim::topology const& t, request const& rq, int nranks, protocol p,
                             sim::traced_algorithm const* a = nullptr) {
  sim::protocol_cost const& pc = t.cost.of(p);
  double rate = std::max(nranks > 1 && t.gpus_per_domain() > 1 ? t.nvlink_bytes_per_us() : 0.0,
                         t.domains > 1 ? t.nic_bytes_per_us() : 0.0) * pc.efficiency;
  if (pc.max_GBps_per_gpu > 0) rate = std::min(rate, pc.max_GBps_per_gpu * 1e3);
  bool const sym_possible = t.cost.has_symmetric && nranks <= t.gpus_per_domain();
  bool const switch_reduction = t.nvlink.in_switch_reduction && sym_possible && (a == nullptr || a->multicast);
  double base = pc.base_latency_us;
  if (a != nullptr && a->symmetric) base = t.cost.symmetric.base_latency_us;
  else if (a == nullptr && sym_possible) base = std::min(base, t.cost.symmetric.base_latency_us);
  double const bytes = min_bytes_per_gpu(rq.coll, nranks, double(rq.bytes), switch_reduction);
  return base + (rate > 0 ? bytes / rate : 0.0);
}

namespace detail {

//! Channels that get data (partition() leaves trailing channels empty for small counts).
inline int busy_channels(std::size_t count, int nchannels) {
  std::size_t const per = align_up(div_up(count, std::size_t(nchannels)), partition_align);
  return int(std::min<std::size_t>(std::size_t(nchannels), div_up(count, per)));
}

//! Trace `algo` with one channel of `busy` channels' steps and simulate it as
//! `busy` channels. The rail-rotated ring (`rail_orbit` > 1, `ring_local` its
//! ranks per node): `count` is ring 0's share, and the channel stands for
//! `busy` channels of each of the `rail_orbit` rings (sim_options::rail_orbit).
inline bool trace_and_simulate(sim::topology const& t, request const& rq, std::string const& algo, int n,
                               std::size_t count, protocol proto, std::size_t step_elems, int busy,
                               tune_options const& o, sim::sim_result& out, int rail_orbit = 1, int ring_local = 0) {
  sim::trace_options to;
  to.proto = proto;
  to.nslots = o.slots.nslots;
  to.elem_bytes = rq.elem_bytes;
  to.step_elems = step_elems;
  to.root = rq.root;
  to.ring_local = ring_local;
  std::string why;
  sim::schedule s = sim::trace(rq.coll, algo, n, 1, count, to, &why);
  if (s.steps.empty() && !why.empty()) {
    out.ok = false;
    out.error = why;
    return false;
  }
  sim::sim_options so;
  so.use_schedule_protocol = false;
  so.proto = proto;
  so.channel_multiplicity = busy;
  so.rail_orbit = rail_orbit;
  so.gpu_of_rank = o.gpu_of_rank;
  out = sim::simulate(s, t, so);
  return out.ok;
}

//! Symmetric-memory schedules (direct, NVLS): one round moves one window area
//! per block (`tune_options::sym_area_bytes`; direct_ll: `sym_ll_bytes`), the
//! blocks being the channels (traced as one channel of `nchannels` areas, like
//! `predict`). Every round repeats the same steps, so past
//! `max_rounds_simulated` rounds the time is extrapolated linearly from
//! simulations of 4 and 8 rounds (each with the real last round): t(R) =
//! t(8) + (R - 8) (t(8) - t(4)) / 4. The tests check it against full simulations.
inline prediction predict_symmetric(sim::topology const& t, request const& rq, sim::traced_algorithm const& a,
                                           int n, protocol proto, int nchannels, tune_options const& o,
                                           prediction pr) {
  auto fail = [&](std::string m) {
    pr.ok = false;
    pr.error = std::move(m);
    return pr;
  };
  bool const ll = proto == protocol::ll;
  bool const per_rank_piece = rq.coll == sim::collective::all_gather || rq.coll == sim::collective::reduce_scatter;
  std::size_t step = (ll ? o.sym_ll_bytes : o.sym_area_bytes) / rq.elem_bytes;
  if (per_rank_piece && !ll) step /= std::size_t(n);
  step = step / partition_align * partition_align;
  if (step == 0) return fail("the symmetric window's area holds no aligned piece per rank");
  int const busy = busy_channels(pr.count, nchannels);
  std::size_t const stepb = step * std::size_t(busy);
  // Zero-copy runs each block's range in one pass, whatever its size: its
  // schedule does not grow with the count, so it is simulated whole.
  pr.rounds = a.zero_copy ? 1 : div_up(pr.count, stepb);
  std::size_t const cap = o.max_rounds_simulated > 0 ? std::size_t(o.max_rounds_simulated) : pr.rounds;
  double const est = double(n) * double(std::min(pr.rounds, std::max<std::size_t>(cap, 8))) * (6.0 * n + 8.0);
  if (est > double(o.max_steps))
    return fail("not simulated: about " + std::to_string((long long)est) + " steps (more than max_steps " +
                std::to_string(o.max_steps) + ")");
  auto run = [&](std::size_t count, sim::sim_result& out) {
    return trace_and_simulate(t, rq, a.name, n, count, proto, stepb, busy, o, out);
  };
  if (pr.rounds <= cap || pr.rounds <= 8) {
    if (!run(pr.count, pr.sim)) return fail(pr.sim.error);
    pr.time_us = pr.sim.time_us;
  } else {
    std::size_t const rem = pr.count - (pr.rounds - 1) * stepb; // the last round, as it is
    sim::sim_result r4;
    if (!run(3 * stepb + rem, r4)) return fail(r4.error);
    if (!run(7 * stepb + rem, pr.sim)) return fail(pr.sim.error);
    double const per_round = (pr.sim.time_us - r4.time_us) / 4.0;
    pr.time_us = pr.sim.time_us + double(pr.rounds - 8) * per_round;
    pr.extrapolated = true;
  }
  pr.ok = true;
  return pr;
}

} // namespace detail

//! Trace algorithm `algo` for `rq` and simulate it with `proto` and `nchannels` on `t`.
//! The schedule is traced with one channel carrying `nchannels` times the step
//! and simulated as that many channels (`sim_options::channel_multiplicity`),
//! which is how the simulator folds identical channels anyway.
inline prediction predict(sim::topology const& t, request const& rq, std::string const& algo, protocol proto,
                          int nchannels, tune_options const& o = {}) {
  prediction pr;
  pr.algo = algo;
  pr.proto = proto;
  pr.nchannels = nchannels;
  int const n = rq.nranks > 0 ? rq.nranks : t.ngpus();
  auto fail = [&](std::string m) {
    pr.ok = false;
    pr.error = std::move(m);
    return pr;
  };
  if (nchannels < 1 || nchannels > sim::max_channels) return fail("channel count out of range");
  if (n > t.ngpus() && o.gpu_of_rank.empty())
    return fail(std::to_string(n) + " ranks on " + std::to_string(t.ngpus()) + " GPUs of " + t.name);
  sim::traced_algorithm const* entry = find_algorithm(rq.coll, algo);
  pr.count = count_for(rq, n);
  pr.lower_bound_us = lower_bound_us(t, rq, n, proto, entry);
  if (pr.count == 0) return fail("the size holds no element per rank");
  if (entry && !sim::traces_under(*entry, proto))
    return fail(algo + " does not run under the " + std::string(to_string(proto)) + " protocol");
  if (entry)
    if (std::string const why = unsupported_reason(t, n, *entry, o.gpu_of_rank); !why.empty()) return fail(why);
  if (entry)
    if (std::string const why = zero_copy_reason(*entry, rq, n, o); !why.empty()) return fail(why);
  if (entry && entry->symmetric) return detail::predict_symmetric(t, rq, *entry, n, proto, nchannels, o, pr);
  std::size_t const step = sim::prims_step_elems(proto, o.slots.slot_bytes(proto), rq.elem_bytes);
  if (step == 0) return fail("a slot carries no element");
  int const busy = detail::busy_channels(pr.count, nchannels);
  // Size guard: every rank moves at least the collective's minimum in steps of at most step * channels.
  double const est = double(n) *
                     min_bytes_per_gpu(rq.coll, n, double(rq.bytes), false) /
                     (double(step) * double(rq.elem_bytes) * double(busy));
  if (est > double(o.max_steps))
    return fail("not simulated: about " + std::to_string((long long)est) + " steps (more than max_steps " +
                std::to_string(o.max_steps) + ")");
  // One traced channel stands for all of them. On the rail-rotated ring the
  // channels are gpus_per_node different rings (channel c and c + gpus_per_node
  // share one), each a rotation of channel 0's: the traced channel is ring 0
  // with its share of the data and channels, and the simulator loads the other
  // rings' ports as its images (sim_options::rail_orbit). Where the rings do
  // not divide the channels, every ring is modelled with ring 0's channels.
  int orbit = 1, per = busy;
  std::size_t count = pr.count;
  if (entry && entry->rail) {
    orbit = std::min(busy, t.gpus_per_node);
    per = (busy + orbit - 1) / orbit; // channels 0, orbit, 2 orbit, ...
    count = 0;
    for (int ch = 0; ch < busy; ch += orbit) count += partition(pr.count, busy, ch).size();
  }
  if (!detail::trace_and_simulate(t, rq, algo, n, count, proto, step * std::size_t(per), per, o, pr.sim, orbit,
                                  entry && entry->rail ? t.gpus_per_node : 0))
    return fail(pr.sim.error);
  pr.time_us = pr.sim.time_us;
  pr.ok = true;
  return pr;
}

//! The tuner's answer.
struct choice {
  bool ok = false;
  std::string error;
  prediction best;
  std::vector<prediction> considered; //!< every candidate, in the order tried (pruned ones have an error)
};

//! Choose algorithm, protocol and channels for `rq` on `t` (see the file comment).
inline choice choose(sim::topology const& t, request const& rq, overrides const& ov = {}, tune_options const& o = {}) {
  choice ch;
  int const n = rq.nranks > 0 ? rq.nranks : t.ngpus();
  std::vector<sim::traced_algorithm> algos;
  std::string known;
  for (auto const& a : sim::traced_algorithms(rq.coll)) {
    known += (known.empty() ? "" : ", ") + std::string(a.name);
    if (ov.algo.empty() || ov.algo == "auto" || ov.algo == a.name) algos.push_back(a);
  }
  if (algos.empty()) {
    ch.error = ov.algo.empty() ? std::string("no algorithm for ") + sim::to_string(rq.coll)
                               : "no " + std::string(sim::to_string(rq.coll)) + " algorithm named '" + ov.algo +
                                     "' in weft (available: " + (known.empty() ? "none" : known) + ")";
    return ch;
  }
  std::vector<protocol> protos;
  if (ov.proto >= 0) protos.push_back(protocol(ov.proto));
  else protos = o.protocols;
  std::vector<int> chans;
  if (ov.nchannels > 0) chans.push_back(ov.nchannels);
  else chans = o.channels;
  // Cheapest bound first, so that pruning bites early.
  std::stable_sort(protos.begin(), protos.end(), [&](protocol a, protocol b) {
    return lower_bound_us(t, rq, n, a) < lower_bound_us(t, rq, n, b);
  });
  // Channel counts from the most down: past the best count the time only
  // grows (fewer channels carry the same bytes), so a protocol's descent stops
  // once a count is `stop_ratio` slower than its best so far.
  std::sort(chans.begin(), chans.end(), [](int a, int b) { return a > b; });
  double constexpr stop_ratio = 1.10;
  double best = -1;
  for (auto const& entry : algos) {
    std::string const a = entry.name;
    // Algorithms the system cannot run, zero-copy ones the buffers do not allow, or
    // protocols they do not run under: listed once, never simulated.
    std::string why = unsupported_reason(t, n, entry, o.gpu_of_rank);
    if (!why.empty()) why = "not on this system: " + why;
    else if (std::string const zc = zero_copy_reason(entry, rq, n, o); !zc.empty()) why = "not for these buffers: " + zc;
    if (!why.empty()) {
      prediction pr;
      pr.algo = a;
      if (ov.proto >= 0) pr.proto = protocol(ov.proto); // the candidate as asked for
      if (ov.nchannels > 0) pr.nchannels = ov.nchannels;
      pr.error = why;
      ch.considered.push_back(std::move(pr));
      continue;
    }
    for (protocol p : protos) {
      if (!sim::traces_under(entry, p)) {
        if (ov.proto >= 0) {
          prediction pr;
          pr.algo = a;
          pr.proto = p;
          pr.nchannels = chans.empty() ? 1 : chans.front();
          pr.error = a + " does not run under the " + std::string(to_string(p)) + " protocol";
          ch.considered.push_back(std::move(pr));
        }
        continue;
      }
      double proto_best = -1;
      bool stop = false;
      for (int c : chans) {
        double const lb = lower_bound_us(t, rq, n, p, &entry);
        prediction pr;
        if (o.prune && best >= 0 && lb > best) {
          pr.algo = a;
          pr.proto = p;
          pr.nchannels = c;
          pr.lower_bound_us = lb;
          pr.error = "pruned: lower bound " + std::to_string(lb) + " us exceeds the best " + std::to_string(best) + " us";
        } else if (o.prune && (stop || (proto_best >= 0 && ch.considered.back().ok &&
                                        ch.considered.back().time_us > stop_ratio * proto_best))) {
          stop = true;
          pr.algo = a;
          pr.proto = p;
          pr.nchannels = c;
          pr.error = "pruned: fewer channels than a slower count";
        } else {
          pr = predict(t, rq, a, p, c, o);
        }
        if (pr.ok) {
          if (proto_best < 0 || pr.time_us < proto_best) proto_best = pr.time_us;
          // Better: faster by 0.1 %, or as fast with fewer channels.
          bool const better = best < 0 || pr.time_us < best * (1 - 1e-3) ||
                              (pr.time_us <= best * (1 + 1e-3) && pr.nchannels < ch.best.nchannels);
          if (better) {
            best = std::min(best < 0 ? pr.time_us : best, pr.time_us);
            ch.best = pr;
            ch.ok = true;
          }
        }
        ch.considered.push_back(std::move(pr));
      }
    }
  }
  if (!ch.ok) {
    ch.error = "no candidate could be predicted";
    for (auto const& c : ch.considered)
      if (!c.error.empty()) {
        ch.error += ": " + c.error;
        break;
      }
  }
  return ch;
}

//! A tuner bound to one topology, remembering its answers (what a communicator keeps).
class tuner {
public:
  explicit tuner(sim::topology t, tune_options o = {}) : t_(std::move(t)), o_(std::move(o)) {}

  sim::topology const& topology() const noexcept { return t_; }

  //! The choice for `rq` (computed once per distinct request and overrides).
  choice const& choose(request const& rq, overrides const& ov = {}) {
    auto const key = std::make_tuple(int(rq.coll), rq.nranks, rq.bytes, rq.elem_bytes, rq.root, ov.algo, ov.proto,
                                     ov.nchannels);
    auto it = cache_.find(key);
    if (it == cache_.end()) it = cache_.emplace(key, weft::tune::choose(t_, rq, ov, o_)).first;
    return it->second;
  }

private:
  sim::topology t_;
  tune_options o_;
  std::map<std::tuple<int, int, std::size_t, std::size_t, int, std::string, int, int>, choice> cache_;
};

} // namespace weft::tune
