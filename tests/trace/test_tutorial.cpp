// The tutorial of docs/tutorial-new-schedule.md, kept compiling and passing:
// a new all-reduce schedule written once, verified, simulated on a GB200 NVL72
// rack (predicted), and run on the CPU team with real data.
#include <catch2/catch.hpp>

// example-begin tutorial
#include <weft/sim/simulator.hpp>
#include <weft/sim/topology.hpp>
#include <weft/sim/trace.hpp>
#include <weft/sim/verify.hpp>
#include <weft/team/cpu_run.hpp>

// 1. The schedule: reduce everything to rank 0 along a pipelined chain, then
//    broadcast the result back along the same chain. Written over any prims,
//    so the GPU, the CPU team and the tracer all run this source.
template <class Prims, class T>
weft::status chain_all_reduce(Prims& p, weft::ring_position pos, T const* in, T* out, weft::elem_range r) {
  WEFT_TRY(weft::chain_reduce(p, pos, /*root=*/0, in, out, r));
  return weft::chain_broadcast(p, pos, /*root=*/0, out, out, r);
}

// The ring's peers (receive from rank - 1, send to rank + 1), as a Net body.
auto chain_body = [](auto& net, weft::ring_position pos, auto const* in, auto* out, weft::elem_range r) {
  int const n = pos.nranks;
  return net.with_peers((pos.rank + n - 1) % n, (pos.rank + 1) % n,
                        [&](auto& p) { return chain_all_reduce(p, pos, in, out, r); });
};

TEST_CASE("tutorial: write, verify, simulate and run a new schedule", "[tutorial]") {
  namespace sim = weft::sim;
  // 2. Trace it for 72 ranks and verify it: every output holds every input once.
  sim::trace_options o;
  o.proto = weft::protocol::simple;
  std::size_t const count = std::size_t(16) << 20; // 64 MiB of floats per rank
  sim::schedule s = sim::trace_net_algorithm("chain", sim::collective::all_reduce, 72, 16, count, o,
      [](auto& net, auto const& c) { return chain_body(net, {c.rank, c.nranks}, c.in, c.out, c.range); });
  sim::verify_result const v = sim::verify(s);
  INFO(v.report());
  REQUIRE(v.ok());

  // 3. Predict its time on a GB200 NVL72 rack, beside the ring's.
  sim::topology rack;
  std::string why;
  REQUIRE(sim::load_topology("gb200-nvl72", rack, &why));
  sim::sim_result const chain = sim::simulate(s, rack);
  sim::sim_result const ring = sim::simulate(sim::trace_ring_all_reduce(72, 16, count, o), rack);
  REQUIRE(chain.ok);
  REQUIRE(ring.ok);
  auto busbw = [&](double us) { return 4.0 * double(count) / (us * 1e-6) / 1e9 * 2.0 * 71 / 72; }; // nccl-tests' busbw
  std::printf("predicted on gb200-nvl72, 64 MiB: chain %.0f us (busbw %.0f GB/s), ring %.0f us (busbw %.0f GB/s)\n",
              chain.time_us, busbw(chain.time_us), ring.time_us, busbw(ring.time_us));

  // 4. Run the same source on a CPU team of 5 threads with real data.
  int const n = 5;
  std::size_t const m = 1000;
  weft::cpu_team team(n);
  weft::cpu_comm comm(n);
  std::vector<std::vector<float>> in(n, std::vector<float>(m)), out(n, std::vector<float>(m));
  for (std::size_t r = 0; r < in.size(); ++r)
    for (std::size_t i = 0; i < m; ++i) in[r][i] = float(r + 1) * 0.5f + float(i % 7);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    float const* x = in[std::size_t(tr.rank())].data();
    float* y = out[std::size_t(tr.rank())].data();
    return weft::run_net_algorithm(comm, tr, weft::coll_kind::all_reduce, weft::op::sum<float>{}, m, {},
        [&](auto& net, weft::elem_range r) { return chain_body(net, {tr.rank(), n}, x, y, r); });
  }) == weft::status::success);
  for (auto const& y : out)
    for (std::size_t i = 0; i < m; ++i) REQUIRE(y[i] == 7.5f + 5.0f * float(i % 7));
}
// example-end tutorial
