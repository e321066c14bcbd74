// sim_bench: wall time of tracing and simulating large schedules.
//
// The headline case is the target: a 576-rank ring all-reduce (8 racks
// of GB200 NVL72 over InfiniBand), 1 GiB of float, Simple, 16 channels --
// under 5 s on a 2-core machine. Every case prints the trace time, the
// simulation time, the steps simulated and the predicted time. Not a test:
// nothing is timed by CTest.
//
//   sim_bench            all cases
//   sim_bench --quick    the headline case only
#include <weft/sim/simulator.hpp>
#include <weft/sim/topology.hpp>
#include <weft/sim/trace.hpp>
#include <weft/tune/tuner.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

struct bench_case {
  char const* topo;
  int nranks;
  std::size_t bytes;
  weft::protocol proto;
  int nchannels;
};

//! One traced channel carrying `nchannels` steps, simulated as that many channels (as tune::predict does).
bool run_case(bench_case const& c) {
  weft::sim::topology t;
  std::string why;
  if (!weft::sim::load_topology(c.topo, t, &why)) {
    std::printf("%s: %s\n", c.topo, why.c_str());
    return false;
  }
  weft::sim::trace_options to;
  to.proto = c.proto;
  to.elem_bytes = 4;
  to.step_elems = weft::sim::prims_step_elems(c.proto, weft::protocol_defaults{}.slot_bytes(c.proto), 4) *
                  std::size_t(c.nchannels);
  auto const t0 = clk::now();
  weft::sim::schedule const s = weft::sim::trace_ring_all_reduce(c.nranks, 1, c.bytes / 4, to, &why);
  auto const t1 = clk::now();
  if (s.steps.empty()) {
    std::printf("trace failed: %s\n", why.c_str());
    return false;
  }
  weft::sim::sim_options so;
  so.use_schedule_protocol = false;
  so.proto = c.proto;
  so.channel_multiplicity = c.nchannels;
  weft::sim::sim_result const r = weft::sim::simulate(s, t, so);
  auto const t2 = clk::now();
  if (!r.ok) {
    std::printf("simulation failed: %s\n", r.error.c_str());
    return false;
  }
  double const busbw = double(c.bytes) / (r.time_us * 1e-6) / 1e9 * weft::sim::busbw_factor(s.coll, c.nranks);
  std::printf("%-18s %5d ranks %6.0f MiB %-6s x%-2d | trace %6.2f s  simulate %6.2f s  total %6.2f s | %8zu steps %9zu "
              "events | predicted %10.1f us, busbw %7.1f GB/s (busiest %s)\n",
              c.topo, c.nranks, double(c.bytes) / (1 << 20), weft::to_string(c.proto), c.nchannels, secs(t0, t1),
              secs(t1, t2), secs(t0, t2), r.simulated_steps, r.events, r.time_us, busbw, r.busiest.c_str());
  return true;
}

} // namespace

int main(int argc, char** argv) {
  bool const quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  std::printf("# sim_bench: %s, %u hardware threads (the simulator uses one)\n", cpu_model().c_str(),
              std::thread::hardware_concurrency());
  std::printf("# target: the 576-rank ring all-reduce (first line) in under 5 s on a 2-core machine\n");
  bool ok = run_case({"gb200-nvl72x8-ib", 576, std::size_t(1) << 30, weft::protocol::simple, 16});
  if (quick) return ok ? 0 : 1;
  ok = run_case({"gb200-nvl72x8-eth", 576, std::size_t(1) << 30, weft::protocol::simple, 32}) && ok;
  ok = run_case({"gb200-nvl72x8-ib", 576, std::size_t(1) << 30, weft::protocol::ll128, 16}) && ok;
  ok = run_case({"gb200-nvl72", 72, std::size_t(8) << 30, weft::protocol::simple, 32}) && ok;
  ok = run_case({"dgx-h100", 8, std::size_t(8) << 30, weft::protocol::simple, 32}) && ok;
  ok = run_case({"dgx-h100x4-eth", 32, std::size_t(8) << 30, weft::protocol::simple, 16}) && ok;
  // The tuner's whole search for the headline size (every protocol and channel count it does not prune).
  weft::sim::topology t;
  std::string why;
  if (weft::sim::load_topology("gb200-nvl72x8-ib", t, &why)) {
    weft::tune::request rq;
    rq.bytes = std::size_t(1) << 30;
    auto const t0 = clk::now();
    weft::tune::choice const c = weft::tune::choose(t, rq);
    auto const t1 = clk::now();
    int simulated = 0;
    for (auto const& p : c.considered) simulated += p.ok ? 1 : 0;
    std::printf("tuner, 576 ranks, 1 GiB all-reduce: %.2f s for %zu candidates (%d simulated) -> %s %s x%d, %.1f us\n",
                secs(t0, t1), c.considered.size(), simulated, c.best.algo.c_str(), weft::to_string(c.best.proto),
                c.best.nchannels, c.best.time_us);
  }
  return ok ? 0 : 1;
}
