#pragma once
//! \file
//! Cost parameters of the simulator: what a protocol costs on a link class.
//! They are data (`data/topologies/cost-*.json`), so users can fit their own
//! rack; docs/calibration.md says where each default comes from.
//!
//! | member | meaning |
//! |---|---|
//! | `nvlink_efficiency` | achieved fraction of the nominal NVLink bandwidth (per GPU, per direction) |
//! | `channel_GBps` | most payload one channel (one CTA) moves per second; 0: no limit |
//! | `desync_rounds` | channels start in lockstep and spread over their steps within this many times nranks steps |
//! | `protocols.<p>.efficiency` | payload bytes per wire byte (LL 0.5, LL128 120/128 x ..., Simple 1) |
//! | `protocols.<p>.max_GBps_per_gpu` | cap on the payload a GPU sends per second under the protocol; 0: none |
//! | `protocols.<p>.base_latency_us` | paid once per collective (launch, setup) |
//! | `protocols.<p>.step_latency_us.{nvlink,network}` | from the end of a step's transfer until the receiver can use the data (flag visible, poll), per link class |
//! | `symmetric.base_latency_us` | once per collective of a symmetric-memory or multicast schedule (direct, NVLS): replaces the protocol's |
//! | `symmetric.flag_latency_us` | a flag store (`signal`) until the waiting peer sees it |
//! | `symmetric.access_latency_us` | a one-sided access (`get`, `put`, `mc_*`): issue until its data has landed, beyond the transfer |
//! | `symmetric.nvls_efficiency` | payload per wire byte of the multicast steps (`mc_ld_reduce`, `mc_st`) through the switch |
//!
//! `symmetric` is optional; without it the simulator refuses symmetric-memory
//! and multicast schedules, naming the missing member.
//!
//! The network's achieved fraction belongs to the fabric (`fabric-*.json`),
//! because it differs between InfiniBand and Ethernet rather than between GPUs.

#include <weft/proto/protocol.hpp>
#include <weft/sim/data_json.hpp>

#include <string>

namespace weft::sim {

//! Which kind of link a path crosses (a path that crosses the network is `network`).
enum class link_class : unsigned char { nvlink = 0, network = 1 };

inline char const* to_string(link_class c) noexcept { return c == link_class::nvlink ? "nvlink" : "network"; }

//! Costs of one protocol.
struct protocol_cost {
  double efficiency = 1.0;         //!< payload bytes per wire byte, (0, 1]
  double max_GBps_per_gpu = 0;     //!< payload a GPU may send per second under this protocol (GB/s); 0: no cap
  double base_latency_us = 0;      //!< once per collective
  double step_latency_us[2] = {0, 0}; //!< per step, indexed by `link_class`
};

//! Costs of symmetric-memory (one-sided, flag) and multicast (NVLS) steps.
struct symmetric_cost {
  double base_latency_us = 0;   //!< once per collective (replaces the protocol's base latency)
  double flag_latency_us = 0;   //!< signal -> the waiting peer sees the flag
  double access_latency_us = 0; //!< one-sided get/put/multicast access, beyond its transfer time
  double nvls_efficiency = 1.0; //!< payload per wire byte of mc_ld_reduce / mc_st, (0, 1]
};

//! The whole cost model of one GPU generation.
struct cost_params {
  std::string name;                //!< e.g. "hopper"
  std::string description;
  double nvlink_efficiency = 1.0;  //!< achieved / nominal NVLink bandwidth, (0, 1]
  double channel_GBps = 0;         //!< payload per channel per second (GB/s); 0: no limit
  //! Channels start together and drift apart: at step j of a program they are
  //! spread over min(1, j / (desync_rounds * nranks)) of the step (0: spread
  //! from the start). Fitted, see docs/calibration.md.
  double desync_rounds = 0;
  protocol_cost protocols[protocol_count]{};
  bool has_symmetric = false;      //!< `symmetric` was given (else symmetric schedules are not timed)
  symmetric_cost symmetric{};

  protocol_cost const& of(protocol p) const noexcept { return protocols[static_cast<int>(p)]; }
  protocol_cost& of(protocol p) noexcept { return protocols[static_cast<int>(p)]; }
};

namespace detail {

inline bool read_protocol_cost(data_json::value const& v, std::string const& path, protocol_cost& pc,
                               std::string* why) {
  data_json::object_reader r(v, path, why);
  if (!r.ok()) return false;
  r.number("efficiency", pc.efficiency, true, 1e-3, 1.0);
  r.number("max_GBps_per_gpu", pc.max_GBps_per_gpu, false, 0, 1e6);
  r.number("base_latency_us", pc.base_latency_us, true, 0, 1e6);
  if (!r.ok()) return false;
  data_json::value const* sl = r.get("step_latency_us");
  if (sl == nullptr) return r.fail(v, "missing member \"" + r.member_path("step_latency_us") + "\"");
  data_json::object_reader lr(*sl, r.member_path("step_latency_us"), why);
  lr.number("nvlink", pc.step_latency_us[0], true, 0, 1e6);
  lr.number("network", pc.step_latency_us[1], true, 0, 1e6);
  if (!lr.finish()) return false;
  return r.finish();
}

} // namespace detail

//! Read cost parameters from a parsed JSON object (see the table above; every
//! protocol must be present). Unknown members are refused, so typos are caught.
inline bool load_cost_params(data_json::value const& v, cost_params& out, std::string* why = nullptr) {
  std::string err;
  cost_params c;
  data_json::object_reader r(v, "", &err);
  if (r.ok()) {
    std::string kind;
    r.string("kind", kind, true);
    if (r.ok() && kind != "weft-cost-model")
      r.fail(v, "\"kind\" must be \"weft-cost-model\", not \"" + kind + "\"");
    r.string("name", c.name, true);
    r.string("description", c.description, false);
    r.ignore("sources");
    r.ignore("notes");
    r.number("nvlink_efficiency", c.nvlink_efficiency, true, 1e-3, 1.0);
    r.number("channel_GBps", c.channel_GBps, false, 0, 1e6);
    r.number("desync_rounds", c.desync_rounds, false, 0, 1e6);
    if (r.ok()) {
      data_json::value const* ps = r.get("protocols");
      if (ps == nullptr) {
        r.fail(v, "missing member \"protocols\"");
      } else {
        data_json::object_reader pr(*ps, "protocols", &err);
        for (int p = 0; p < protocol_count && pr.ok(); ++p) {
          char const* name = to_string(static_cast<protocol>(p));
          data_json::value const* pv = pr.get(name);
          if (pv == nullptr) {
            pr.fail(*ps, std::string("missing member \"protocols.") + name + "\"");
            break;
          }
          detail::read_protocol_cost(*pv, std::string("protocols.") + name, c.protocols[p], &err);
        }
        if (err.empty()) pr.finish();
      }
    }
    if (data_json::value const* sy = r.get("symmetric"); sy != nullptr && err.empty()) {
      data_json::object_reader sr(*sy, "symmetric", &err);
      sr.number("base_latency_us", c.symmetric.base_latency_us, true, 0, 1e6);
      sr.number("flag_latency_us", c.symmetric.flag_latency_us, true, 0, 1e6);
      sr.number("access_latency_us", c.symmetric.access_latency_us, true, 0, 1e6);
      sr.number("nvls_efficiency", c.symmetric.nvls_efficiency, true, 1e-3, 1.0);
      c.has_symmetric = sr.finish();
    }
    if (err.empty()) r.finish();
  }
  if (!err.empty()) {
    if (why) *why = "cost parameters: " + err;
    return false;
  }
  out = c;
  return true;
}

//! Read cost parameters from a file.
inline bool load_cost_params_file(std::string const& path, cost_params& out, std::string* why = nullptr) {
  data_json::value v;
  std::string err;
  if (!data_json::parse_file(path, v, &err) || !load_cost_params(v, out, &err)) {
    if (why) *why = err.compare(0, path.size(), path) == 0 ? err : path + ": " + err;
    return false;
  }
  return true;
}

} // namespace weft::sim
