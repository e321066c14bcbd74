#pragma once
// Helpers of the simulator tests: a synthetic topology with round numbers and
// hand-built schedules.
#include <weft/sim/schedule.hpp>
#include <weft/sim/topology.hpp>

#include <string>

namespace sim_test {

//! `n` GPUs in one NVLink domain, 100 GB/s per direction (1e5 bytes/us) achieved,
//! per-step latency `lat_us` for every protocol, no base latency, free local copies.
inline weft::sim::topology flat(int n, double lat_us = 2.0) {
  weft::sim::topology t;
  t.name = "flat" + std::to_string(n);
  t.gpu.model = "test";
  t.gpu.arch = "none";
  t.gpu.hbm_GBps = 0;
  t.gpus_per_node = n;
  t.nodes_per_domain = 1;
  t.domains = 1;
  t.nvlink.GBps = 100;
  t.nic.Gbps_per_gpu = 0;
  t.cost.name = "test";
  t.cost.nvlink_efficiency = 1.0;
  t.cost.desync_rounds = 0;
  for (auto& p : t.cost.protocols) {
    p.efficiency = 1.0;
    p.base_latency_us = 0;
    p.step_latency_us[0] = p.step_latency_us[1] = lat_us;
    p.max_GBps_per_gpu = 0;
  }
  return t;
}

//! `flat(n)` with symmetric-memory costs: flags seen `flag_us` later, loads wait
//! `access_us`, multicast at full efficiency, switches that reduce (NVLS), no base latency.
inline weft::sim::topology flat_symmetric(int n, double flag_us = 1.0, double access_us = 0.5) {
  weft::sim::topology t = flat(n);
  t.nvlink.in_switch_reduction = true;
  t.cost.has_symmetric = true;
  t.cost.symmetric.base_latency_us = 0;
  t.cost.symmetric.flag_latency_us = flag_us;
  t.cost.symmetric.access_latency_us = access_us;
  t.cost.symmetric.nvls_efficiency = 1.0;
  return t;
}

inline weft::sim::step make_step(int rank, weft::sim::step_op op, int recv_peer, int send_peer, std::size_t count,
                                 int channel = 0) {
  weft::sim::step s;
  s.rank = rank;
  s.channel = channel;
  s.op = op;
  s.recv_peer = recv_peer;
  s.send_peer = send_peer;
  s.count = count;
  return s;
}

inline weft::sim::schedule make_schedule(int nranks, std::size_t elem_bytes = 1, int nslots = 8) {
  weft::sim::schedule s;
  s.name = "hand";
  s.nranks = nranks;
  s.elem_bytes = elem_bytes;
  s.nslots = nslots;
  return s;
}

} // namespace sim_test
