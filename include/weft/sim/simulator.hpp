#pragma once
//! \file
//! Event-driven simulator: the time a schedule takes on a topology.
//!
//! The simulator knows nothing about algorithms. It runs the schedule's DAG:
//! each (rank, program) executes its steps in order; a step starts when the
//! previous step of its program has ended, its received data has arrived
//! (`waits_data`), its send slot is free (`waits_credit`: the receiver finished
//! the step `nslots` sends earlier on that connection) and its dependency (if
//! any) has ended.
//!
//! Cost of a step (protocol `p`, cost parameters `c` of the topology):
//!  - a step that sends is a flow of `count * elem_bytes / c.of(p).efficiency`
//!    wire bytes along `topology::path(sender GPU, receiver GPU)`. Every port
//!    direction is a resource of fixed capacity shared equally (weighted by the
//!    number of channels a flow stands for) among the flows crossing it; a
//!    flow's rate is its smallest share (and at most `c.channel_GBps` per
//!    channel, and under a protocol with `max_GBps_per_gpu`, its share of that
//!    per-GPU cap). Rates are recomputed whenever a flow starts or ends.
//!    The step ends when its last byte has left; the receiver can use the data
//!    `step_latency_us[link class] + route latency` later.
//!  - a step that only receives or works locally costs its memory traffic at
//!    the GPU's HBM bandwidth (recv: 2 x bytes, reduce: 3 x bytes, direct
//!    receive and nop: nothing).
//!  - the slot a receive frees is visible to the sender one step latency later.
//!  - symmetric-memory and multicast steps (direct, NVLS schedules): `get`,
//!    `get_reduce` are flows from the peer's NVLink tx to this rank's rx, `put`
//!    the reverse; `mc_ld_reduce` is one flow across every rank's tx and the
//!    reader's rx, `mc_st` across the writer's tx and every rank's rx (at
//!    `symmetric.nvls_efficiency`; needs `nvlink.in_switch_reduction`). The
//!    data steps of a program between two waits run together (a "run"); a run
//!    that loads waits `symmetric.access_latency_us` more; its signals fire when
//!    it ends and are seen `symmetric.flag_latency_us` later (flags take no
//!    credit). Such schedules must stay in one NVLink domain and pay
//!    `symmetric.base_latency_us` instead of the protocol's.
//! The predicted time is the protocol's `base_latency_us` plus the time the
//! last step ends.
//!
//! Speed. Channels of a traced schedule whose programs are identical on every
//! rank (same ops and peers, step for step) are folded: one program per rank
//! stands for all of them, carrying their summed bytes with the weight of that
//! many flows. Under equal sharing identical channels move in lockstep, so
//! folding alone changes no time; it divides the work by the channel count.
//!
//! Channel drift. Real channels (CTAs) start together and drift apart, and a
//! channel's step latency is then covered by the other channels' transfers.
//! A folded program models that: after a step of duration D, the latency the
//! receiver sees (and a following local copy) is reduced by s * D * (k-1)/k,
//! k the channels folded, s growing from 0 to 1 over the first
//! `cost.desync_rounds * nranks` steps (docs/simulator.md, docs/calibration.md).
//! Unfolded channels (`fold_channels = false`) stay in exact lockstep.

#include <weft/sim/schedule.hpp>
#include <weft/sim/topology.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <queue>
#include <string>
#include <utility>
#include <vector>

namespace weft::sim {

//! How to simulate.
struct sim_options {
  bool use_schedule_protocol = true; //!< cost the steps under the schedule's `proto` ...
  protocol proto = protocol::simple;  //!< ... or, when false, under this protocol
  std::vector<int> gpu_of_rank;   //!< GPU of each rank; empty: rank r runs on GPU r
  bool fold_channels = true;      //!< fold identical channels (see the file comment)
  //! Each program of the schedule stands for this many identical channels: a
  //! schedule traced with one channel and `m` times the step size simulates
  //! like `m` channels (what `tune::predict` does to keep large runs fast).
  int channel_multiplicity = 1;
  //! The rail-rotated ring (`ring_order`; docs/algorithms/ring-rail.md): each
  //! program also stands for its images under rotating every node's local GPU
  //! indices by 1 .. rail_orbit-1 (GPU g -> g - l + (l + c) mod gpus_per_node,
  //! l = g's local index): the rings of channels 1 .. rail_orbit-1, which are
  //! channel 0's ring rotated so. Each point-to-point transfer also loads the
  //! routes of its images, and moves at the slowest share among them. Exact when
  //! the topology is symmetric under the rotation (a NIC per GPU, as
  //! rails == gpus_per_node): the images then move in lockstep with the program.
  //! 1: none. At most gpus_per_node.
  int rail_orbit = 1;
  int nslots = 0;                 //!< slots per connection; 0: the schedule's
  bool base_latency = true;       //!< add the protocol's base latency
};

//! What a simulation found.
struct sim_result {
  bool ok = false;
  std::string error;               //!< why not ok
  double time_us = 0;              //!< predicted time: base latency + makespan
  double makespan_us = 0;          //!< when the last step ended
  double base_latency_us = 0;
  protocol proto = protocol::simple;
  std::size_t steps = 0;           //!< steps in the schedule
  std::size_t simulated_steps = 0; //!< steps simulated (after folding)
  int fold = 1;                    //!< channels each simulated program stands for (folding x channel_multiplicity)
  std::size_t events = 0;          //!< events processed
  std::string busiest;             //!< resource with the most busy time
  double busiest_utilization = 0;  //!< its busy time / makespan
};

namespace detail {

struct sim_step {
  double bytes = 0;         //!< payload bytes (summed over folded channels)
  int prog = 0;
  // symmetric-memory and multicast steps (see the file comment)
  int mc = 0;               //!< 1: mc_ld_reduce, 2: mc_st
  bool load = false;        //!< get, get_reduce, mc_ld_reduce: the reader waits a round trip
  int from_gpu = -1, to_gpu = -1; //!< one-sided get/get_reduce/put: the data's way
  int group_last = -1;      //!< first step of a run of data steps issued together: the run's last step
  bool flag = false;        //!< signal or wait
  bool sym_data = false;    //!< runs in a group (one-sided, multicast, or local in a symmetric schedule)
  int peer_gpu = -1;        //!< sends: GPU of the receiver
  int src_gpu = -1;         //!< receives: GPU of the sender
  int match = -1;           //!< sends: the receive consuming it
  int credit_dep = -1;      //!< sends: the receive that frees its slot
  int credit_waiter = -1;   //!< receives: the send waiting for this slot
  int dep = -1;             //!< a step of this rank it waits for
  double local_factor = 0;  //!< non-sending steps: HBM bytes per payload byte
  bool sends = false, recvs = false, wd = true, wc = true;
  double data_at = std::numeric_limits<double>::infinity();   //!< receives: data usable
  double credit_at = std::numeric_limits<double>::infinity(); //!< sends: slot free
  double dep_at = std::numeric_limits<double>::infinity();    //!< dependency ended
  double start = 0;                                           //!< when it started
};

struct sim_prog {
  int begin = 0, end = 0, pc = 0;
  int gpu = 0;
  double weight = 1;
  double hide = 0;   //!< time the other folded channels keep the port busy after the last send
  bool busy = false;
  // symmetric schedules: the group in flight and the latency cover
  int pending = 0;        //!< flows of the group still moving
  double gstart = 0;      //!< when the group started
  double ghbm_end = 0;    //!< when its local (HBM) work ends
  double gdur = 0;        //!< how long its transfers took (0: none)
  bool gload = false;     //!< the group loads (get, get_reduce, mc_ld_reduce): it waits for the access latency
  double cover = 0;       //!< time the other folded channels keep the ports busy (hides latency and local work)
  double flag_hidden = 0; //!< flag latency the cover hid since the last wait
  double port_mark[2] = {0, 0}; //!< wire bytes its NVLink tx / rx had carried at its last group with transfers
};

struct sim_flow {
  int step = -1;
  int nres = 0;
  std::vector<int> res;     //!< resources crossed (a multicast flow crosses one port per rank)
  double w = 1, cap = 0, remaining = 0, rate = 0, t_last = 0, latency = 0;
  unsigned ver = 0;
  bool active = false;
};

struct sim_resource {
  double cap = 0;     //!< bytes per microsecond
  double wsum = 0;
  double bytes = 0;   //!< wire bytes carried (statistics)
  std::vector<int> flows;
};

struct sim_event {
  double t;
  std::uint64_t seq;
  int kind; // 0: flow end, 1: step end (local), 2: wake program, 3: group end (id: program)
  int id;
  unsigned ver;
  bool operator>(sim_event const& o) const noexcept { return t != o.t ? t > o.t : seq > o.seq; }
};

//! HBM bytes per payload byte of a step that does not send.
inline double local_factor(step const& t) noexcept {
  if (t.direct && t.op == step_op::recv) return 0;
  switch (t.op) {
    case step_op::recv:
    case step_op::local: return 2;
    case step_op::recv_reduce_copy:
    case step_op::reduce: return 3;
    case step_op::nop: return 0;
    default: return 0;
  }
}

//! Are the step sequences of two programs the same (ops, peers, direct), step for step?
inline bool same_shape(schedule const& s, std::vector<std::size_t> const& a, std::vector<std::size_t> const& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    step const& x = s.steps[a[i]];
    step const& y = s.steps[b[i]];
    if (x.op != y.op || x.recv_peer != y.recv_peer || x.send_peer != y.send_peer || x.direct != y.direct ||
        x.peer != y.peer)
      return false;
  }
  return true;
}

class engine {
public:
  engine(topology const& t, protocol p) : t_(t), pc_(t.cost.of(p)) {}

  std::vector<sim_step> steps;
  std::vector<sim_prog> progs;
  std::vector<int> mc_tx, mc_rx; //!< multicast: every participating GPU's NVLink tx / rx resource
  bool symmetric = false;        //!< the schedule has one-sided, multicast or flag steps
  std::vector<std::vector<int>> dep_waiters; //!< step -> steps waiting for it (only with dependencies)
  std::size_t events = 0;
  int rail_orbit = 1;            //!< sim_options::rail_orbit

  void setup_resources(int nranks) {
    int const nr = t_.resource_count();
    res_.resize(std::size_t(nr + t_.ngpus()));
    for (int r = 0; r < nr; ++r) res_[std::size_t(r)].cap = t_.resource_capacity(r);
    cap_base_ = nr;
    double const gpu_cap = pc_.max_GBps_per_gpu > 0 ? pc_.max_GBps_per_gpu * 1e3 / pc_.efficiency : 0;
    for (int g = 0; g < t_.ngpus(); ++g) res_[std::size_t(nr + g)].cap = gpu_cap;
    chan_cap_ = t_.cost.channel_GBps > 0 ? t_.cost.channel_GBps * 1e3 / pc_.efficiency : 0;
    hbm_ = t_.gpu.hbm_GBps * 1e3;
    desync_steps_ = t_.cost.desync_rounds * double(nranks);
  }

  //! Runs to the end; returns the makespan or a negative value on deadlock (with `stuck`).
  double run(std::string& stuck) {
    for (int p = 0; p < int(progs.size()); ++p) try_start(p, 0.0);
    double now = 0;
    while (!q_.empty()) {
      sim_event const e = q_.top();
      q_.pop();
      ++events;
      now = e.t;
      if (e.kind == 0) {
        sim_flow& f = flows_[std::size_t(e.id)];
        if (!f.active || f.ver != e.ver) continue;
        finish_flow(e.id, now);
      } else if (e.kind == 1) {
        step_end(e.id, now);
      } else if (e.kind == 3) {
        group_end(e.id, now);
      } else {
        try_start(e.id, now);
      }
    }
    for (std::size_t p = 0; p < progs.size(); ++p)
      if (progs[p].pc < progs[p].end) {
        stuck_at_ = progs[p].pc;
        stuck = "program " + std::to_string(p);
        return -1;
      }
    return makespan_;
  }
  int stuck_step() const noexcept { return stuck_at_; }

  //! Resource with the most busy time, and that time.
  std::pair<int, double> busiest() const {
    int best = -1;
    double bt = 0;
    for (std::size_t r = 0; r < res_.size(); ++r) {
      if (res_[r].cap <= 0 || res_[r].bytes <= 0) continue;
      double const b = res_[r].bytes / res_[r].cap;
      if (b > bt) bt = b, best = int(r);
    }
    return {best, bt};
  }
  std::string resource_name(int r) const {
    if (r < cap_base_) return t_.resource_name(r);
    return "gpu" + std::to_string(r - cap_base_) + ".protocol-cap";
  }

private:
  topology const& t_;
  protocol_cost const& pc_;
  std::vector<sim_resource> res_;
  std::vector<sim_flow> flows_;
  std::vector<int> free_flows_;
  std::vector<int> touched_;
  std::vector<unsigned> mark_;
  unsigned stamp_ = 0;
  std::priority_queue<sim_event, std::vector<sim_event>, std::greater<sim_event>> q_;
  std::uint64_t seq_ = 0;
  int cap_base_ = 0;
  double chan_cap_ = 0, hbm_ = 0, makespan_ = 0;
  double desync_steps_ = 0;
  int stuck_at_ = -1;
  std::vector<int> buf_; //!< scratch resource list

  void push(double t, int kind, int id, unsigned ver = 0) { q_.push(sim_event{t, seq_++, kind, id, ver}); }

  double step_latency(route const& rt) const noexcept { return pc_.step_latency_us[int(rt.cls)] + rt.latency_us; }

  //! Latency seen after a step of `dur` of a program standing for `w` channels:
  //! the channels are spread over the step, so the last (w-1)/w of it hides
  //! the latency of the first (see the file comment).
  double hidden(double dur, double w, int pos) const noexcept {
    double spread = 1.0;
    if (desync_steps_ > 0 && double(pos) < desync_steps_) spread = double(pos) / desync_steps_;
    return spread * dur * (w - 1.0) / w;
  }
  double exposed(double lat, double dur, double w, int pos) const noexcept {
    double const e = lat - hidden(dur, w, pos);
    return e > 0 ? e : 0.0;
  }

  void try_start(int p, double now) {
    sim_prog& P = progs[std::size_t(p)];
    if (P.busy || P.pc >= P.end) return;
    sim_step& s = steps[std::size_t(P.pc)];
    if (s.recvs && s.wd && s.data_at > now) return;
    if (s.sends && s.wc && s.credit_dep >= 0 && s.credit_at > now) return;
    if (s.dep >= 0 && s.dep_at > now) return;
    P.busy = true;
    s.start = now;
    if (s.sym_data) {
      start_group(p, now);
      return;
    }
    if (s.flag) { // a flag store or a wait that has been satisfied: no transfer
      push(now, 1, P.pc);
      return;
    }
    if (s.sends) {
      route const rt = t_.path(P.gpu, s.peer_gpu);
      if (rt.nres > 0 && s.bytes > 0) {
        start_flow(P.pc, rt, P, now);
        return;
      }
      double const dur = hbm_ > 0 ? 2.0 * s.bytes / hbm_ : 0.0; // same GPU: a local copy
      push(now + dur, 1, P.pc);
      return;
    }
    double dur = hbm_ > 0 ? s.local_factor * s.bytes / hbm_ : 0.0;
    // Folded channels are spread: while one copies locally the others send.
    dur = dur > P.hide ? dur - P.hide : 0.0;
    P.hide = 0;
    push(now + dur, 1, P.pc);
  }

  void step_end(int si, double now) {
    sim_step& s = steps[std::size_t(si)];
    sim_prog& P = progs[std::size_t(s.prog)];
    makespan_ = std::max(makespan_, now);
    if (s.sends) P.hide = hidden(now - s.start, P.weight, si - P.begin);
    if (s.flag && s.sends && s.match >= 0) {
      send_flag(s, P, now);
    } else if (s.flag && s.recvs) {
      P.cover = std::max(0.0, P.cover - P.flag_hidden); // the barrier used that much of the cover
      P.flag_hidden = 0;
    } else if (s.sends && s.match >= 0) {
      route const rt = t_.path(P.gpu, s.peer_gpu);
      double const at = now + (rt.nres > 0 ? exposed(step_latency(rt), now - s.start, P.weight, si - P.begin) : 0.0);
      sim_step& r = steps[std::size_t(s.match)];
      r.data_at = at;
      push(at, 2, r.prog);
    }
    if (s.recvs && s.credit_waiter >= 0) {
      route const rt = t_.path(s.src_gpu, P.gpu);
      double const at = now + (rt.nres > 0 ? exposed(step_latency(rt), now - s.start, P.weight, si - P.begin) : 0.0);
      sim_step& w = steps[std::size_t(s.credit_waiter)];
      w.credit_at = at;
      push(at, 2, w.prog);
    }
    notify_deps(si, now);
    P.busy = false;
    ++P.pc;
    try_start(s.prog, now);
  }

  //! A flag is seen flag_latency later, less what the other folded channels' transfers hide.
  void send_flag(sim_step const& s, sim_prog& P, double now) {
    double const lat = t_.cost.symmetric.flag_latency_us + t_.nvlink.latency_us;
    double const h = std::min(lat, P.cover);
    P.flag_hidden = std::max(P.flag_hidden, h);
    sim_step& r = steps[std::size_t(s.match)];
    r.data_at = now + lat - h;
    push(r.data_at, 2, r.prog);
  }

  void notify_deps(int si, double now) {
    if (dep_waiters.empty()) return;
    for (int w : dep_waiters[std::size_t(si)]) {
      steps[std::size_t(w)].dep_at = now;
      push(now, 2, steps[std::size_t(w)].prog);
    }
  }

  // ---- symmetric-memory and multicast steps ----
  // A run of data steps without a flag between them is issued at once (see the
  // file comment): every transfer of the run is a flow started now, the local
  // work of the run is HBM time alongside them; the run ends when both are done
  // and the access latency has passed.
  void start_group(int p, double now) {
    sim_prog& P = progs[std::size_t(p)];
    sim_step const& first = steps[std::size_t(P.pc)];
    P.gstart = now;
    P.pending = 0;
    P.gdur = 0;
    P.gload = false;
    double hbm_time = 0;
    for (int i = P.pc; i <= first.group_last; ++i) {
      sim_step& x = steps[std::size_t(i)];
      x.start = now;
      if (x.flag || x.bytes <= 0) continue;
      int const nres = group_resources(x, P);
      if (nres > 0) {
        double const eff = x.mc ? t_.cost.symmetric.nvls_efficiency : pc_.efficiency;
        start_flow(i, buf_.data(), nres, x.bytes / eff, x.mc ? -1 : P.gpu, P.weight, now);
        ++P.pending;
        P.gload = P.gload || x.load;
      } else {
        hbm_time += (x.from_gpu >= 0 ? 2.0 : x.local_factor) * x.bytes / (hbm_ > 0 ? hbm_ : HUGE_VAL);
      }
    }
    double const used = std::min(P.cover, hbm_time); // the other channels move data meanwhile
    P.cover -= used;
    P.ghbm_end = now + hbm_time - used;
    if (P.pending == 0) push(P.ghbm_end, 3, p);
  }

  //! Resources of a data step of a group into buf_ (0: no transfer, a local copy).
  int group_resources(sim_step const& x, sim_prog const& P) {
    buf_.clear();
    if (x.mc == 1) { // every rank's tx into the switch, the reduced data into this rank
      buf_ = mc_tx;
      buf_.push_back(4 * P.gpu + 1);
    } else if (x.mc == 2) { // this rank's tx, the switch replicates into every rank
      buf_.push_back(4 * P.gpu + 0);
      buf_.insert(buf_.end(), mc_rx.begin(), mc_rx.end());
    } else if (x.from_gpu >= 0 && x.from_gpu != x.to_gpu) {
      route const rt = t_.path(x.from_gpu, x.to_gpu);
      buf_.assign(rt.res, rt.res + rt.nres);
    }
    return int(buf_.size());
  }

  //! How long this rank's NVLink ports were busy since its last group with transfers: the
  //! transfer time that hides its latency is the collective's, not its own flows' alone (a
  //! rank with a smaller slice, or one ahead of the others, has short flows of its own while
  //! the other ranks' spread channels still move data through its ports).
  double port_busy(sim_prog& P) {
    double busy = 0;
    for (int k = 0; k < 2; ++k) {
      sim_resource const& R = res_[std::size_t(4 * P.gpu + k)];
      if (R.cap > 0) busy = std::max(busy, (R.bytes - P.port_mark[k]) / R.cap);
      P.port_mark[k] = R.bytes;
    }
    return busy;
  }

  void group_flow_done(int p, double now) {
    sim_prog& P = progs[std::size_t(p)];
    if (--P.pending > 0) return;
    P.gdur = now - P.gstart;
    // A load waits for its round trip; posted stores do not (their flag travels behind them).
    double const lat = P.gload ? t_.cost.symmetric.access_latency_us + t_.nvlink.latency_us : 0.0;
    double const at = now + exposed(lat, P.gdur, P.weight, P.pc - P.begin);
    push(std::max(at, P.ghbm_end), 3, p);
  }

  void group_end(int p, double now) {
    sim_prog& P = progs[std::size_t(p)];
    int const last = steps[std::size_t(P.pc)].group_last;
    makespan_ = std::max(makespan_, now);
    if (P.gdur > 0) P.cover = hidden(std::max(P.gdur, port_busy(P)), P.weight, P.pc - P.begin);
    for (int i = P.pc; i <= last; ++i) {
      sim_step const& x = steps[std::size_t(i)];
      if (x.flag && x.match >= 0) send_flag(x, P, now); // signals of the run: after its data landed
      notify_deps(i, now);
    }
    P.busy = false;
    P.pc = last + 1;
    try_start(p, now);
  }

  double rate_of(sim_flow const& f) const noexcept {
    double r = f.cap > 0 ? f.cap : std::numeric_limits<double>::infinity();
    for (int i = 0; i < f.nres; ++i) {
      sim_resource const& R = res_[std::size_t(f.res[i])];
      double const share = R.cap * f.w / R.wsum;
      if (share < r) r = share;
    }
    return r;
  }

  void collect(int fid) {
    sim_flow const& f = flows_[std::size_t(fid)];
    for (int i = 0; i < f.nres; ++i)
      for (int g : res_[std::size_t(f.res[i])].flows)
        if (mark_[std::size_t(g)] != stamp_) {
          mark_[std::size_t(g)] = stamp_;
          touched_.push_back(g);
        }
  }

  void rerate(double now) {
    for (int g : touched_) {
      sim_flow& f = flows_[std::size_t(g)];
      if (!f.active) continue;
      double const r = rate_of(f);
      if (r == f.rate) continue;
      if (f.rate > 0) f.remaining -= f.rate * (now - f.t_last);
      if (f.remaining < 0) f.remaining = 0;
      f.t_last = now;
      f.rate = r;
      ++f.ver;
      push(now + f.remaining / r, 0, g, f.ver);
    }
    touched_.clear();
  }

  void next_stamp() {
    if (++stamp_ == 0) {
      std::fill(mark_.begin(), mark_.end(), 0u);
      stamp_ = 1;
    }
  }

  //! GPU g with its node-local index rotated by c (sim_options::rail_orbit).
  int rail_image(int g, int c) const noexcept {
    int const l = t_.local_of(g);
    return g - l + (l + c) % t_.gpus_per_node;
  }

  void start_flow(int si, route const& rt, sim_prog const& P, double now) {
    buf_.assign(rt.res, rt.res + rt.nres);
    // The images of a rail-rotated ring's transfer load their own routes and
    // protocol caps (a resource two images cross appears twice: two flows' load).
    sim_step const& s = steps[std::size_t(si)];
    double const cap = res_[std::size_t(cap_base_ + P.gpu)].cap;
    for (int c = 1; c < rail_orbit; ++c) {
      route const im = t_.path(rail_image(P.gpu, c), rail_image(s.peer_gpu, c));
      buf_.insert(buf_.end(), im.res, im.res + im.nres);
      if (cap > 0) buf_.push_back(cap_base_ + rail_image(P.gpu, c));
    }
    start_flow(si, buf_.data(), int(buf_.size()), s.bytes / pc_.efficiency, P.gpu, P.weight, now);
  }

  //! A flow of `wire` bytes across `res[0..nres)` (and the protocol cap of `cap_gpu`, if any).
  void start_flow(int si, int const* res, int nres, double wire, int cap_gpu, double weight, double now) {
    int fid;
    if (!free_flows_.empty()) {
      fid = free_flows_.back();
      free_flows_.pop_back();
    } else {
      fid = int(flows_.size());
      flows_.emplace_back();
      mark_.push_back(0);
    }
    sim_flow& f = flows_[std::size_t(fid)];
    f.ver += 1;
    f.step = si;
    f.w = weight;
    f.cap = chan_cap_ > 0 ? chan_cap_ * weight : 0;
    f.remaining = wire;
    f.t_last = now;
    f.rate = 0;
    f.latency = 0;
    f.active = true;
    f.res.assign(res, res + nres);
    if (cap_gpu >= 0 && res_[std::size_t(cap_base_ + cap_gpu)].cap > 0) f.res.push_back(cap_base_ + cap_gpu);
    f.nres = int(f.res.size());
    for (int i = 0; i < f.nres; ++i) {
      sim_resource& R = res_[std::size_t(f.res[i])];
      R.wsum += f.w;
      R.flows.push_back(fid);
      R.bytes += f.remaining;
    }
    next_stamp();
    collect(fid);
    rerate(now);
  }

  void finish_flow(int fid, double now) {
    sim_flow& f = flows_[std::size_t(fid)];
    f.active = false;
    for (int i = 0; i < f.nres; ++i) {
      sim_resource& R = res_[std::size_t(f.res[i])];
      R.wsum -= f.w;
      if (R.wsum < 1e-9) R.wsum = 0;
      auto it = std::find(R.flows.begin(), R.flows.end(), fid);
      if (it != R.flows.end()) {
        *it = R.flows.back();
        R.flows.pop_back();
      }
    }
    next_stamp();
    mark_[std::size_t(fid)] = stamp_;
    collect(fid);
    rerate(now);
    free_flows_.push_back(fid);
    sim_step const& s = steps[std::size_t(f.step)];
    if (s.sym_data) group_flow_done(s.prog, now);
    else step_end(f.step, now);
  }
};

} // namespace detail

//! Simulate `s` on `t`. The schedule is linked first if it is not (on a copy).
inline sim_result simulate(schedule const& s, topology const& t, sim_options const& o = {}) {
  sim_result res;
  protocol const proto = o.use_schedule_protocol ? s.proto : o.proto;
  res.proto = proto;
  res.steps = s.steps.size();
  auto fail = [&](std::string m) {
    res.ok = false;
    res.error = std::move(m);
    return res;
  };
  if (std::string const e = t.check(); !e.empty()) return fail(e);
  if (s.nranks < 1) return fail("schedule: nranks must be at least 1");
  if (o.channel_multiplicity < 1) return fail("channel_multiplicity must be at least 1");
  if (o.rail_orbit < 1 || o.rail_orbit > t.gpus_per_node)
    return fail("rail_orbit must be in 1..gpus_per_node (" + std::to_string(t.gpus_per_node) + ")");
  if (!o.gpu_of_rank.empty() && int(o.gpu_of_rank.size()) != s.nranks)
    return fail("gpu_of_rank has " + std::to_string(o.gpu_of_rank.size()) + " entries for " +
                std::to_string(s.nranks) + " ranks");
  if (o.gpu_of_rank.empty() && s.nranks > t.ngpus())
    return fail("schedule has " + std::to_string(s.nranks) + " ranks but topology \"" + t.name + "\" has " +
                std::to_string(t.ngpus()) + " GPUs");
  for (int g : o.gpu_of_rank)
    if (g < 0 || g >= t.ngpus()) return fail("gpu_of_rank names GPU " + std::to_string(g) + ", out of range");
  auto gpu = [&](int r) { return o.gpu_of_rank.empty() ? r : o.gpu_of_rank[std::size_t(r)]; };
  // Symmetric-memory and multicast steps: what the topology and the cost model must offer.
  bool symmetric = false, multicast = false;
  for (step const& x : s.steps) {
    symmetric = symmetric || op_is_flag(x.op) || op_one_sided(x.op);
    multicast = multicast || op_multicast(x.op);
  }
  if (symmetric) {
    if (!t.cost.has_symmetric)
      return fail("cost model \"" + t.cost.name +
                  "\" has no \"symmetric\" parameters, which symmetric-memory and multicast steps need");
    int const d0 = t.domain_of(gpu(0));
    for (int r = 1; r < s.nranks; ++r)
      if (t.domain_of(gpu(r)) != d0)
        return fail("symmetric-memory and multicast steps need every rank in one NVLink domain; rank " +
                    std::to_string(r) + " is in domain " + std::to_string(t.domain_of(gpu(r))) + ", rank 0 in " +
                    std::to_string(d0) + " of \"" + t.name + "\"");
    if (multicast && !t.nvlink.in_switch_reduction)
      return fail("multicast steps (mc_ld_reduce, mc_st) need NVLink switches that reduce and replicate "
                  "(nvlink.in_switch_reduction), which \"" + t.name + "\" does not have");
  }

  // Link (on a copy) unless the schedule already is.
  schedule linked_copy;
  schedule const* sp = &s;
  bool linked = true;
  for (step const& x : s.steps)
    if ((x.receives() && x.recv_peer >= 0 && x.matching_send < 0) ||
        (x.sends() && x.send_peer >= 0 && x.matching_recv < 0) || x.index < 0) {
      linked = false;
      break;
    }
  int const nslots = o.nslots > 0 ? o.nslots : s.nslots;
  if (!linked || nslots != s.nslots) {
    linked_copy = s;
    linked_copy.nslots = nslots;
    std::string why;
    if (!linked_copy.link(&why)) return fail("schedule: " + why);
    sp = &linked_copy;
  }
  schedule const& S = *sp;

  // Programs: per rank, by program id; steps in program order.
  std::vector<std::vector<std::size_t>> progs;
  std::vector<int> prog_rank;
  std::vector<std::vector<std::pair<int, int>>> of_rank(std::size_t(S.nranks)); // (program id, index into progs)
  {
    std::vector<std::vector<int>> ids(std::size_t(S.nranks));
    for (std::size_t i = 0; i < S.steps.size(); ++i) {
      step const& x = S.steps[i];
      auto& v = ids[std::size_t(x.rank)];
      int const pid = x.program_id();
      if (std::size_t(pid) >= v.size()) v.resize(std::size_t(pid) + 1, -1);
      int& slot = v[std::size_t(pid)];
      if (slot < 0) {
        slot = int(progs.size());
        progs.emplace_back();
        prog_rank.push_back(x.rank);
        of_rank[std::size_t(x.rank)].emplace_back(pid, slot);
      }
      auto& sv = progs[std::size_t(slot)];
      if (std::size_t(x.index) >= sv.size()) sv.resize(std::size_t(x.index) + 1);
      sv[std::size_t(x.index)] = i;
    }
    for (auto& v : of_rank) std::sort(v.begin(), v.end());
  }

  // Folding: traced programs (one per channel), no dependencies, the same
  // channels on every rank, every channel of a rank of one shape.
  int fold = 1;
  if (o.fold_channels && S.nchannels > 1) {
    bool ok = true;
    for (step const& x : S.steps)
      if (x.program >= 0 || x.dep_step >= 0) {
        ok = false;
        break;
      }
    for (int r = 0; ok && r < S.nranks; ++r) {
      auto const& v = of_rank[std::size_t(r)];
      if (v.size() != of_rank[0].size()) ok = false;
      for (std::size_t k = 0; ok && k < v.size(); ++k) {
        if (v[k].first != of_rank[0][k].first) ok = false;
        else if (k > 0 && !detail::same_shape(S, progs[std::size_t(v[0].second)], progs[std::size_t(v[k].second)]))
          ok = false;
      }
    }
    if (ok && of_rank[0].size() > 1) fold = int(of_rank[0].size());
  }
  res.fold = fold * o.channel_multiplicity;

  detail::engine E(t, proto);
  E.setup_resources(S.nranks);
  E.symmetric = symmetric;
  E.rail_orbit = o.rail_orbit;
  if (multicast) {
    std::vector<int> gs;
    for (int r = 0; r < S.nranks; ++r) gs.push_back(gpu(r));
    std::sort(gs.begin(), gs.end());
    gs.erase(std::unique(gs.begin(), gs.end()), gs.end());
    for (int g : gs) {
      E.mc_tx.push_back(4 * g + 0);
      E.mc_rx.push_back(4 * g + 1);
    }
  }
  std::vector<int> first(S.steps.size(), -1); // schedule step -> simulated step
  for (std::size_t p = 0; p < progs.size(); ++p) {
    int const r = prog_rank[p];
    auto const& group = of_rank[std::size_t(r)];
    if (fold > 1 && group[0].second != int(p)) continue; // folded into the rank's first channel
    detail::sim_prog P;
    P.begin = int(E.steps.size());
    P.gpu = gpu(r);
    P.weight = double(fold) * double(o.channel_multiplicity);
    auto const& v = progs[p];
    for (std::size_t k = 0; k < v.size(); ++k) {
      step const& x = S.steps[v[k]];
      detail::sim_step st;
      st.prog = int(E.progs.size());
      double bytes = double(x.count) * double(S.elem_bytes);
      if (fold > 1)
        for (std::size_t j = 1; j < group.size(); ++j)
          bytes += double(S.steps[progs[std::size_t(group[j].second)][k]].count) * double(S.elem_bytes);
      st.bytes = bytes;
      st.sends = x.sends() && x.send_peer >= 0;
      st.recvs = x.receives() && x.recv_peer >= 0;
      st.wd = x.waits_data;
      st.wc = x.waits_credit;
      if (st.sends) st.peer_gpu = gpu(x.send_peer);
      if (st.recvs) st.src_gpu = gpu(x.recv_peer);
      st.local_factor = detail::local_factor(x);
      st.flag = op_is_flag(x.op);
      if (st.flag) st.wc = false; // epoch flags are overwritten, never queued: no slot to wait for
      if (symmetric) {
        st.sym_data = op_one_sided(x.op) || x.op == step_op::local || x.op == step_op::reduce;
        st.mc = x.op == step_op::mc_ld_reduce ? 1 : x.op == step_op::mc_st ? 2 : 0;
        st.load = x.op == step_op::get || x.op == step_op::get_reduce || x.op == step_op::mc_ld_reduce;
        if (op_names_peer(x.op) && x.peer >= 0) {
          bool const put = x.op == step_op::put;
          st.from_gpu = put ? P.gpu : gpu(x.peer);
          st.to_gpu = put ? gpu(x.peer) : P.gpu;
        }
      }
      first[v[k]] = int(E.steps.size());
      E.steps.push_back(st);
    }
    P.end = int(E.steps.size());
    // Runs issued together: consecutive data steps and the signals among and after
    // them (they fire when the run's data has landed); a wait or a dependency ends a run.
    for (int i = P.begin; i < P.end;) {
      if (!E.steps[std::size_t(i)].sym_data) {
        ++i;
        continue;
      }
      int j = i;
      auto joins = [&](int k) {
        detail::sim_step const& x = E.steps[std::size_t(k)];
        return (x.sym_data || (x.flag && x.sends)) && S.steps[v[std::size_t(k - P.begin)]].dep_step < 0;
      };
      while (j + 1 < P.end && joins(j + 1)) ++j;
      E.steps[std::size_t(i)].group_last = j;
      i = j + 1;
    }
    P.pc = P.begin;
    E.progs.push_back(P);
  }
  // Cross links (matching, credit, dependencies) in simulated-step indices.
  bool any_dep = false;
  for (std::size_t i = 0; i < S.steps.size(); ++i) {
    int const si = first[i];
    if (si < 0) continue;
    step const& x = S.steps[i];
    detail::sim_step& st = E.steps[std::size_t(si)];
    if (st.sends && x.matching_recv >= 0) {
      st.match = first[std::size_t(x.matching_recv)];
      if (x.credit_recv >= 0 && !st.flag) {
        st.credit_dep = first[std::size_t(x.credit_recv)];
        if (st.credit_dep >= 0) E.steps[std::size_t(st.credit_dep)].credit_waiter = si;
      }
    }
    if (x.dep_step >= 0) any_dep = true;
  }
  if (any_dep) {
    E.dep_waiters.resize(E.steps.size());
    for (std::size_t i = 0; i < S.steps.size(); ++i) {
      step const& x = S.steps[i];
      if (x.dep_step < 0 || first[i] < 0) continue;
      int const d = first[std::size_t(x.dep_step)];
      E.steps[std::size_t(first[i])].dep = d;
      E.dep_waiters[std::size_t(d)].push_back(first[i]);
    }
  }
  res.simulated_steps = E.steps.size();

  std::string stuck;
  double const ms = E.run(stuck);
  res.events = E.events;
  if (ms < 0) {
    // Name the stuck step in schedule terms.
    int const si = E.stuck_step();
    std::string where = stuck;
    for (std::size_t i = 0; i < S.steps.size(); ++i)
      if (first[i] == si) {
        step const& x = S.steps[i];
        where = "rank " + std::to_string(x.rank) + " program " + std::to_string(x.program_id()) + " step " +
                std::to_string(x.index) + " (" + to_string(x.op) + ")";
        break;
      }
    return fail("schedule deadlocks: " + where + " never starts");
  }
  res.makespan_us = ms;
  res.base_latency_us =
      !o.base_latency ? 0.0 : symmetric ? t.cost.symmetric.base_latency_us : t.cost.of(proto).base_latency_us;
  res.time_us = res.base_latency_us + ms;
  auto const [br, bt] = E.busiest();
  if (br >= 0) {
    res.busiest = E.resource_name(br);
    res.busiest_utilization = ms > 0 ? bt / ms : 0;
  }
  res.ok = true;
  return res;
}

// ---------------------------------------------------------------------------
// nccl-tests reporting
// ---------------------------------------------------------------------------

//! nccl-tests' bus bandwidth factor: busbw = algbw * factor.
inline double busbw_factor(collective c, int n) noexcept {
  double const dn = double(n);
  switch (c) {
    case collective::all_reduce: return n > 1 ? 2.0 * (dn - 1.0) / dn : 1.0;
    case collective::all_gather:
    case collective::reduce_scatter: return n > 1 ? (dn - 1.0) / dn : 1.0;
    case collective::broadcast:
    case collective::reduce: return 1.0;
  }
  return 1.0;
}

//! nccl-tests' size column counts every rank's part for all-gather and reduce-scatter.
inline bool size_is_total(collective c) noexcept {
  return c == collective::all_gather || c == collective::reduce_scatter;
}

//! Command-line names, as the nccl-tests binaries: allreduce, allgather, reducescatter, broadcast, reduce.
inline char const* cli_name(collective c) noexcept {
  switch (c) {
    case collective::all_reduce: return "allreduce";
    case collective::all_gather: return "allgather";
    case collective::reduce_scatter: return "reducescatter";
    case collective::broadcast: return "broadcast";
    case collective::reduce: return "reduce";
  }
  return "unknown";
}

//! Parse "allreduce", "all_reduce", "all-reduce" (and likewise for the others).
inline bool parse_cli_collective(std::string s, collective& out) noexcept {
  std::string k;
  for (char ch : s)
    if (ch != '_' && ch != '-') k += char(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  for (int i = 0; i < 5; ++i)
    if (k == cli_name(collective(i))) return out = collective(i), true;
  return false;
}

//! One predicted row of the table.
struct predicted_row {
  std::size_t size = 0;   //!< bytes (nccl-tests' size column)
  std::size_t count = 0;  //!< elements per rank
  std::string type = "float";
  std::string redop = "sum";
  int root = -1;
  double time_us = 0;
  double algbw = 0;       //!< GB/s, GB = 1e9 bytes
  double busbw = 0;
  std::string algo, proto;
  int nchannels = 0;
};

//! Fill time, algbw and busbw from a predicted time.
inline void set_bandwidths(predicted_row& r, collective c, int nranks, double time_us) noexcept {
  r.time_us = time_us;
  r.algbw = time_us > 0 ? double(r.size) / (time_us * 1e-6) / 1e9 : 0;
  r.busbw = r.algbw * busbw_factor(c, nranks);
}

namespace detail {
//! `value` in exactly `width` characters with as many decimals (2 at most) as fit (as weft-bench).
inline std::string fit_number(double value, int width) {
  char buf[64];
  int digits = 1;
  for (double p = 10; std::fabs(value) >= p && digits < 40; p *= 10) ++digits;
  if (value < 0) ++digits;
  if (digits <= width - 3) std::snprintf(buf, sizeof buf, "%*.2f", width, value);
  else if (digits <= width - 2) std::snprintf(buf, sizeof buf, "%*.1f", width, value);
  else if (digits <= width) std::snprintf(buf, sizeof buf, "%*.0f", width, value);
  else std::snprintf(buf, sizeof buf, "%*.*e", width, width >= 8 ? 2 : 0, value);
  return buf;
}
} // namespace detail

//! The header of the predicted table: nccl-tests' columns, both placements
//! (the model does not tell them apart), `#wrong` is N/A, then the choice made.
inline std::string predicted_table_header() {
  char b[1024];
  int n = std::snprintf(b, sizeof b,
                        "# %10s  %12s  %8s  %6s  %6s        predicted (out-of-place)              predicted (in-place)\n",
                        "", "", "", "", "");
  n += std::snprintf(b + n, sizeof b - std::size_t(n),
                     "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s  %-6s %-6s %3s\n", "size", "count",
                     "type", "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong", "algo",
                     "proto", "nch");
  std::snprintf(b + n, sizeof b - std::size_t(n), "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s\n",
                "(B)", "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
  return b;
}

//! One row (no newline).
inline std::string format_predicted_row(predicted_row const& r) {
  char b[512];
  std::string const t = detail::fit_number(r.time_us, 7), a = detail::fit_number(r.algbw, 6),
                    u = detail::fit_number(r.busbw, 6);
  std::snprintf(b, sizeof b, "%12zu  %12zu  %8s  %6s  %6d  %s  %s  %s    N/A  %s  %s  %s    N/A  %-6s %-6s %3d", r.size,
                r.count, r.type.c_str(), r.redop.c_str(), r.root, t.c_str(), a.c_str(), u.c_str(), t.c_str(), a.c_str(),
                u.c_str(), r.algo.c_str(), r.proto.c_str(), r.nchannels);
  return b;
}

} // namespace weft::sim
