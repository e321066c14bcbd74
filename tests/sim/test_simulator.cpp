// The simulator against closed forms on a synthetic topology (100 GB/s ports,
// a fixed per-step latency, no base latency, free local copies).
#include "sim_test_util.hpp"

#include <weft/sim/simulator.hpp>
#include <weft/sim/trace.hpp>

#include <catch2/catch.hpp>

using namespace weft::sim;
using sim_test::make_schedule;
using sim_test::make_step;

namespace {
constexpr double bw = 1e5; // bytes per microsecond (100 GB/s)
constexpr double lat = 2.0;
constexpr std::size_t B = 1000000; // bytes: 10 us at 100 GB/s

sim_result run(schedule const& s, topology const& t, sim_options o = {}) {
  sim_result r = simulate(s, t, o);
  INFO(r.error);
  REQUIRE(r.ok);
  return r;
}
} // namespace

TEST_CASE("one transfer over one link takes latency + bytes / bandwidth", "[sim][simulator]") {
  topology const t = sim_test::flat(2, lat);
  schedule s = make_schedule(2);
  s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
  s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
  sim_result const r = run(s, t);
  REQUIRE(r.time_us == Approx(lat + B / bw));
  REQUIRE(r.busiest == "gpu0.nvlink-tx");
  REQUIRE(r.busiest_utilization == Approx((B / bw) / (lat + B / bw)));
}

TEST_CASE("two flows into one port share it equally; ports are full duplex", "[sim][simulator]") {
  topology const t = sim_test::flat(3, lat);
  SECTION("two senders, one receiver: the receive port halves each flow") {
    schedule s = make_schedule(3);
    s.steps.push_back(make_step(0, step_op::send, -1, 2, B));
    s.steps.push_back(make_step(1, step_op::send, -1, 2, B));
    s.steps.push_back(make_step(2, step_op::recv, 0, -1, B, 0));
    s.steps.push_back(make_step(2, step_op::recv, 1, -1, B, 1)); // another program (channel 1)
    s.steps[1].channel = 1;
    s.nchannels = 2;
    REQUIRE(run(s, t).time_us == Approx(lat + 2 * B / bw));
  }
  SECTION("one sender, two receivers: the send port halves each flow") {
    schedule s = make_schedule(3);
    s.nchannels = 2;
    s.steps.push_back(make_step(0, step_op::send, -1, 1, B, 0));
    s.steps.push_back(make_step(0, step_op::send, -1, 2, B, 1));
    s.steps.push_back(make_step(1, step_op::recv, 0, -1, B, 0));
    s.steps.push_back(make_step(2, step_op::recv, 0, -1, B, 1));
    sim_options o;
    o.fold_channels = false;
    REQUIRE(run(s, t, o).time_us == Approx(lat + 2 * B / bw));
  }
  SECTION("a flow ending early gives its share back") {
    schedule s = make_schedule(3);
    s.nchannels = 2;
    s.steps.push_back(make_step(0, step_op::send, -1, 2, B / 2));
    s.steps.push_back(make_step(1, step_op::send, -1, 2, B, 1));
    s.steps.push_back(make_step(2, step_op::recv, 0, -1, B / 2, 0));
    s.steps.push_back(make_step(2, step_op::recv, 1, -1, B, 1));
    // both at half rate until the small one ends at B/bw, then the big one alone: 1.5 B / bw
    REQUIRE(run(s, t).time_us == Approx(lat + 1.5 * B / bw));
  }
  SECTION("opposite directions do not share") {
    schedule s = make_schedule(2);
    s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
    s.steps.push_back(make_step(0, step_op::recv, 1, -1, B));
    s.steps.push_back(make_step(1, step_op::send, -1, 0, B));
    s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
    REQUIRE(run(s, t).time_us == Approx(lat + B / bw));
  }
}

TEST_CASE("protocol efficiency, per-GPU caps and base latency", "[sim][simulator]") {
  topology t = sim_test::flat(2, lat);
  schedule s = make_schedule(2);
  s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
  s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
  t.cost.of(weft::protocol::ll).efficiency = 0.5;
  t.cost.of(weft::protocol::ll).base_latency_us = 5;
  sim_options o;
  o.use_schedule_protocol = false;
  o.proto = weft::protocol::ll;
  REQUIRE(run(s, t, o).time_us == Approx(5 + lat + 2 * B / bw)); // half the wire bytes carry data
  o.base_latency = false;
  REQUIRE(run(s, t, o).time_us == Approx(lat + 2 * B / bw));
  t.cost.of(weft::protocol::ll).max_GBps_per_gpu = 25; // 25 GB/s of payload per GPU
  REQUIRE(run(s, t, o).time_us == Approx(lat + B / 25e3));
  t.cost.channel_GBps = 10; // and 10 GB/s per channel
  REQUIRE(run(s, t, o).time_us == Approx(lat + B / 10e3));
}

TEST_CASE("flow control: a send waits until its slot is free", "[sim][simulator]") {
  topology const t = sim_test::flat(2, lat);
  auto build = [](int nslots) {
    schedule s = make_schedule(2, 1, nslots);
    for (int i = 0; i < 4; ++i) s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
    for (int i = 0; i < 4; ++i) s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
    return s;
  };
  double const D = B / bw;
  // Enough slots: back to back.
  REQUIRE(run(build(8), t).time_us == Approx(4 * D + lat));
  // One slot: each send waits for the previous receive (data latency) and the credit (latency back).
  REQUIRE(run(build(1), t).time_us == Approx(4 * D + 7 * lat));
  // Two slots: send k waits for receive k-2.
  REQUIRE(run(build(2), t).time_us == Approx(4 * D + lat + std::max(0.0, 2 * lat - D) * 1));
}

TEST_CASE("ring all-reduce matches the closed form", "[sim][simulator]") {
  // One loop (the step holds a whole chunk), one channel: the 2n-1 steps of a
  // rank form a chain through the ring; each of its 2(n-1) sends moves S/n
  // bytes after the previous one arrived, and the last receive waits one more
  // latency: 2(n-1)(S/(n bw) + lat) = 2(n-1)/n S/bw + 2(n-1) lat.
  for (int n : {2, 3, 4, 8, 16}) {
    INFO("n = " << n);
    topology const t = sim_test::flat(n, lat);
    std::size_t const count = std::size_t(n) * 4096; // 16-element aligned chunks
    trace_options to;
    to.elem_bytes = 4;
    to.step_elems = 4096;
    std::string why;
    schedule const s = trace_ring_all_reduce(n, 1, count, to, &why);
    REQUIRE(why.empty());
    double const S = double(count) * 4;
    REQUIRE(run(s, t).time_us == Approx(2.0 * (n - 1) / n * S / bw + 2 * (n - 1) * lat));
  }
}

TEST_CASE("identical channels fold without changing the time", "[sim][simulator]") {
  topology const t = sim_test::flat(4, 0.0); // without latency folding is exact
  trace_options to;
  to.elem_bytes = 4;
  to.step_elems = 1024;
  schedule const s = trace_ring_all_reduce(4, 4, 4 * 4 * 1024 * 5, to);
  REQUIRE_FALSE(s.steps.empty());
  sim_options folded, unfolded;
  unfolded.fold_channels = false;
  sim_result const a = run(s, t, folded), b = run(s, t, unfolded);
  REQUIRE(a.fold == 4);
  REQUIRE(b.fold == 1);
  REQUIRE(a.simulated_steps * 4 == b.simulated_steps);
  REQUIRE(a.time_us == Approx(b.time_us));
  // One traced channel carrying 4x the step, simulated as 4 channels, is the same run.
  trace_options to1 = to;
  to1.step_elems = 4 * 1024;
  schedule const s1 = trace_ring_all_reduce(4, 1, 4 * 4 * 1024 * 5, to1);
  sim_options m;
  m.channel_multiplicity = 4;
  REQUIRE(run(s1, t, m).time_us == Approx(a.time_us).epsilon(1e-3));
}

TEST_CASE("folded channels hide their step latency behind each other", "[sim][simulator]") {
  // 16 channels folded, each step 16 x 64 KiB: while one channel waits for its
  // flag the others keep the port busy, so a long ring runs at port speed.
  topology t = sim_test::flat(8, 3.0);
  trace_options to;
  to.elem_bytes = 4;
  to.step_elems = 16 * 16384;
  std::size_t const count = std::size_t(64) << 20;
  schedule const s = trace_ring_all_reduce(8, 1, count, to);
  sim_options m;
  m.channel_multiplicity = 16;
  double const busbw_of = 2.0 * 7 / 8 * double(count) * 4 / 1e3; // bytes*factor / 1e3 -> GB/s * us
  double const bw_spread = busbw_of / run(s, t, m).time_us;
  REQUIRE(bw_spread == Approx(100).epsilon(0.02));
  t.cost.desync_rounds = 1e6; // channels never drift apart: every step pays its latency
  double const bw_lockstep = busbw_of / run(s, t, m).time_us;
  double const D = 16 * 16384 * 4 / bw;
  REQUIRE(bw_lockstep == Approx(100 * D / (D + 3.0)).epsilon(0.02));
}

TEST_CASE("programs with dependencies (MSCCL threadblocks) are ordered by them", "[sim][simulator]") {
  topology const t = sim_test::flat(3, lat);
  schedule s = make_schedule(3);
  s.nchannels = 2;
  // Rank 1 sends to rank 0 (program 0 receives); rank 0's program 1 forwards to
  // rank 2 only after that receive (its dependency).
  weft::sim::step r0 = make_step(0, step_op::recv, 1, -1, B, 0);
  r0.program = 0;
  weft::sim::step s0 = make_step(0, step_op::send, -1, 2, B, 1);
  s0.program = 1;
  s0.dep_program = 0;
  s0.dep_index = 0;
  s.steps = {r0, s0, make_step(1, step_op::send, -1, 0, B, 0), make_step(2, step_op::recv, 0, -1, B, 1)};
  double const D = B / bw;
  REQUIRE(run(s, t).time_us == Approx(2 * D + 2 * lat));
  s.steps[1].dep_program = -1; // without the dependency both transfers run at once
  s.steps[1].dep_index = -1;
  REQUIRE(run(s, t).time_us == Approx(D + lat));
}

TEST_CASE("multi-domain routes use NICs and the fabric", "[sim][simulator]") {
  topology t = sim_test::flat(2, lat);
  t.gpus_per_node = 1;
  t.domains = 2;
  t.nic.Gbps_per_gpu = 400; // 50 GB/s
  t.nic.rails = 1;
  t.fabric.name = "test";
  t.fabric.efficiency = 1.0;
  t.cost.of(weft::protocol::simple).step_latency_us[1] = 10.0; // network
  REQUIRE(t.check().empty());
  schedule s = make_schedule(2);
  s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
  s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
  sim_result const r = run(s, t);
  REQUIRE(r.time_us == Approx(10.0 + B / 5e4));
  REQUIRE(r.busiest == "gpu0.nic-tx");
}

TEST_CASE("the simulator refuses what it cannot run", "[sim][simulator]") {
  topology const t = sim_test::flat(2, lat);
  SECTION("a deadlock is reported with the stuck step") {
    schedule s = make_schedule(2);
    s.steps.push_back(make_step(0, step_op::recv, 1, -1, B));
    s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
    s.steps.push_back(make_step(1, step_op::recv, 0, -1, B));
    s.steps.push_back(make_step(1, step_op::send, -1, 0, B));
    sim_result const r = simulate(s, t);
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.error.find("deadlocks") != std::string::npos);
    REQUIRE(r.error.find("step 0 (recv)") != std::string::npos);
  }
  SECTION("unmatched sends") {
    schedule s = make_schedule(2);
    s.steps.push_back(make_step(0, step_op::send, -1, 1, B));
    sim_result const r = simulate(s, t);
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.error.find("1 sends, 0 receives") != std::string::npos);
  }
  SECTION("more ranks than GPUs") {
    schedule s = make_schedule(3);
    sim_result const r = simulate(s, t);
    REQUIRE_FALSE(r.ok);
    REQUIRE(r.error.find("3 ranks but topology") != std::string::npos);
  }
  SECTION("a rank mapping of the wrong size") {
    schedule s = make_schedule(2);
    sim_options o;
    o.gpu_of_rank = {0};
    REQUIRE_FALSE(simulate(s, t, o).ok);
    o.gpu_of_rank = {0, 5};
    REQUIRE(simulate(s, t, o).error.find("out of range") != std::string::npos);
  }
}

TEST_CASE("nccl-tests table layout of predicted rows", "[sim][simulator]") {
  predicted_row r;
  r.size = 1 << 20;
  r.count = 1 << 18;
  r.algo = "ring";
  r.proto = "simple";
  r.nchannels = 16;
  set_bandwidths(r, collective::all_reduce, 8, 10.0);
  REQUIRE(r.algbw == Approx(104.8576));
  REQUIRE(r.busbw == Approx(104.8576 * 1.75));
  std::string const row = format_predicted_row(r);
  REQUIRE(row.find("     1048576        262144     float     sum      -1    10.00  104.86  183.50    N/A") == 0);
  std::string const head = predicted_table_header();
  REQUIRE(head.find("predicted (out-of-place)") != std::string::npos);
  REQUIRE(head.find("size         count      type   redop    root     time   algbw   busbw #wrong") !=
          std::string::npos);
  REQUIRE(busbw_factor(collective::all_gather, 4) == Approx(0.75));
  REQUIRE(busbw_factor(collective::broadcast, 4) == 1.0);
  collective c;
  REQUIRE(parse_cli_collective("all_reduce", c));
  REQUIRE(c == collective::all_reduce);
  REQUIRE(parse_cli_collective("reducescatter", c));
  REQUIRE(c == collective::reduce_scatter);
  REQUIRE_FALSE(parse_cli_collective("alltoall", c));
}
