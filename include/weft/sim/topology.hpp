#pragma once
//! \file
//! Topology model of the simulator: GPUs, NVLink domains behind switches,
//! NICs on rails and a two-level scale-out fabric -- and where a byte goes
//! between two GPUs (`route`).
//!
//! Shape. `gpus_per_node` GPUs make a node (a DGX/HGX server, an NVL72
//! compute tray); `nodes_per_domain` nodes share one NVLink domain (1 for a
//! DGX, 18 for an NVL72 rack); `domains` domains are joined by the fabric.
//!
//! Ports. Every GPU has one NVLink port (its links aggregated, behind a
//! non-blocking switch) and one NIC port, each full duplex: the simulator sees a
//! transmit and a receive resource per port. The fabric is rail-optimised: the
//! NIC of a GPU with node-local index `i` is on rail `i % rails`; each rail has
//! leaf switches of `leaf_ports` NIC ports; leaves meet at a spine, reached
//! through leaf uplinks of `leaf_ports * NIC bandwidth / oversubscription`.
//!
//! | from -> to | route |
//! |---|---|
//! | same GPU | none (a local copy) |
//! | same NVLink domain | NVLink tx of the sender, NVLink rx of the receiver |
//! | same rail and leaf | NIC tx, NIC rx (one switch) |
//! | otherwise | NIC tx, leaf uplink, leaf downlink, NIC rx (three switches) |
//!
//! In-switch reduction (NVLS) is a capability of the NVLink domain
//! (`nvlink.in_switch_reduction`); the simulator times multicast steps only where it is set.
//!
//! Data. A topology is a JSON file in `data/topologies/` (see
//! docs/simulator.md); `load_topology("gb200-nvl72x8-ib", ...)` reads the
//! preset `gb200-nvl72`, sets 8 domains and the InfiniBand fabric. Errors name
//! the file, the member and the line.

#include <weft/sim/cost_params.hpp>
#include <weft/sim/data_json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace weft::sim {

enum class fabric_type : unsigned char { infiniband, ethernet };

inline char const* to_string(fabric_type f) noexcept { return f == fabric_type::infiniband ? "infiniband" : "ethernet"; }

struct gpu_spec {
  std::string model;     //!< e.g. "H100 SXM"
  std::string arch;      //!< e.g. "sm90"
  double hbm_GBps = 0;   //!< memory bandwidth (local copies); 0: local copies are free
};

struct nvlink_spec {
  double GBps = 0;                  //!< nominal bandwidth per GPU per direction (all links)
  int links = 0;                    //!< links per GPU (documentation; the bandwidth is the total)
  double latency_us = 0;            //!< hardware latency added to every NVLink step
  bool in_switch_reduction = false; //!< the switches reduce (NVLS)
};

struct nic_spec {
  double Gbps_per_gpu = 0; //!< nominal NIC bandwidth per GPU per direction (Gb/s); 0: no NIC
  int rails = 1;           //!< NICs per node; the GPU with local index i uses rail i % rails
  double latency_us = 0;   //!< hardware latency added to every network step
};

struct fabric_spec {
  std::string name;                //!< e.g. "infiniband"
  std::string description;
  fabric_type type = fabric_type::infiniband;
  double efficiency = 1.0;         //!< achieved / nominal NIC bandwidth
  int leaf_ports = 32;             //!< NIC ports per leaf switch (per rail)
  double oversubscription = 1.0;   //!< leaf downlink / uplink bandwidth
  double switch_latency_us = 0;    //!< added per switch crossed
};

//! Where the bytes of one transfer go: the resources (port directions) it
//! crosses, and the hardware latency and link class of the route.
struct route {
  static constexpr int max_resources = 4;
  int res[max_resources] = {0, 0, 0, 0};
  int nres = 0;                 //!< 0: same GPU (a local copy)
  double latency_us = 0;        //!< hardware latency (links and switches)
  link_class cls = link_class::nvlink;
};

//! A whole system.
struct topology {
  std::string name;
  std::string description;
  gpu_spec gpu;
  int gpus_per_node = 1;
  int nodes_per_domain = 1;
  int domains = 1;
  nvlink_spec nvlink;
  nic_spec nic;
  fabric_spec fabric;
  cost_params cost;

  int gpus_per_domain() const noexcept { return gpus_per_node * nodes_per_domain; }
  int ngpus() const noexcept { return gpus_per_domain() * domains; }
  int domain_of(int g) const noexcept { return g / gpus_per_domain(); }
  int node_of(int g) const noexcept { return g / gpus_per_node; } //!< global node index
  int local_of(int g) const noexcept { return g % gpus_per_node; }
  int rail_of(int g) const noexcept { return local_of(g) % std::max(1, nic.rails); }
  int nodes() const noexcept { return nodes_per_domain * domains; }
  int leaves_per_rail() const noexcept { return (nodes() + fabric.leaf_ports - 1) / fabric.leaf_ports; }

  //! Achieved bandwidths in bytes per microsecond (= GB/s * 1e3).
  double nvlink_bytes_per_us() const noexcept { return nvlink.GBps * cost.nvlink_efficiency * 1e3; }
  double nic_bytes_per_us() const noexcept { return nic.Gbps_per_gpu / 8.0 * fabric.efficiency * 1e3; }

  // ---- resources: per GPU 4 (NVLink tx/rx, NIC tx/rx), then per (rail, leaf) 2 (up, down) ----
  int resource_count() const noexcept { return 4 * ngpus() + 2 * std::max(1, nic.rails) * leaves_per_rail(); }
  //! Capacity of resource `r` in bytes per microsecond.
  double resource_capacity(int r) const noexcept {
    if (r < 4 * ngpus()) return (r % 4) < 2 ? nvlink_bytes_per_us() : nic_bytes_per_us();
    return double(fabric.leaf_ports) * nic_bytes_per_us() / fabric.oversubscription;
  }
  std::string resource_name(int r) const {
    static char const* const kinds[] = {"nvlink-tx", "nvlink-rx", "nic-tx", "nic-rx"};
    if (r < 4 * ngpus()) return std::string("gpu") + std::to_string(r / 4) + "." + kinds[r % 4];
    int const k = (r - 4 * ngpus()) / 2;
    int const rail = k / leaves_per_rail(), leaf = k % leaves_per_rail();
    return "rail" + std::to_string(rail) + ".leaf" + std::to_string(leaf) + ((r % 2) == 0 ? ".up" : ".down");
  }

  //! The route from GPU `a` to GPU `b` (both in [0, ngpus())).
  route path(int a, int b) const noexcept {
    route rt;
    if (a == b) return rt;
    if (domain_of(a) == domain_of(b)) {
      rt.res[0] = 4 * a + 0;
      rt.res[1] = 4 * b + 1;
      rt.nres = 2;
      rt.latency_us = nvlink.latency_us;
      rt.cls = link_class::nvlink;
      return rt;
    }
    rt.cls = link_class::network;
    rt.res[0] = 4 * a + 2;
    int const ra = rail_of(a), rb = rail_of(b);
    int const la = node_of(a) / fabric.leaf_ports, lb = node_of(b) / fabric.leaf_ports;
    if (ra == rb && la == lb) {
      rt.res[1] = 4 * b + 3;
      rt.nres = 2;
      rt.latency_us = nic.latency_us + fabric.switch_latency_us;
    } else {
      int const base = 4 * ngpus(), lpr = leaves_per_rail();
      rt.res[1] = base + 2 * (ra * lpr + la) + 0;
      rt.res[2] = base + 2 * (rb * lpr + lb) + 1;
      rt.res[3] = 4 * b + 3;
      rt.nres = 4;
      rt.latency_us = nic.latency_us + 3 * fabric.switch_latency_us;
    }
    return rt;
  }

  //! Empty when the topology is usable, else what is wrong.
  std::string check() const {
    auto bad = [&](std::string const& what) { return "topology \"" + name + "\": " + what; };
    if (gpus_per_node < 1) return bad("gpus_per_node must be at least 1");
    if (nodes_per_domain < 1) return bad("nodes_per_domain must be at least 1");
    if (domains < 1) return bad("domains must be at least 1");
    if (double(gpus_per_node) * nodes_per_domain * domains > double(1 << 20)) return bad("more than 2^20 GPUs");
    if (gpus_per_domain() > 1 && !(nvlink.GBps > 0))
      return bad("nvlink.GBps must be positive when a domain has more than one GPU");
    if (domains > 1 && !(nic.Gbps_per_gpu > 0))
      return bad("nic.Gbps_per_gpu must be positive when there is more than one domain");
    if (domains > 1 && fabric.name.empty()) return bad("a \"fabric\" is needed when there is more than one domain");
    if (nic.rails < 1 || nic.rails > gpus_per_node) return bad("nic.rails must be in [1, gpus_per_node]");
    if (fabric.leaf_ports < 1) return bad("fabric.leaf_ports must be at least 1");
    if (!(fabric.oversubscription >= 1)) return bad("fabric.oversubscription must be at least 1");
    if (!(fabric.efficiency > 0 && fabric.efficiency <= 1)) return bad("fabric.efficiency must be in (0, 1]");
    if (!(cost.nvlink_efficiency > 0 && cost.nvlink_efficiency <= 1))
      return bad("cost nvlink_efficiency must be in (0, 1]");
    return {};
  }
};

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

//! Where the data files are: $WEFT_SIM_DATA, else the directory compiled in as
//! WEFT_SIM_DATA_DIR (the tools and tests set it to the source tree's
//! data/topologies), else "data/topologies" relative to the working directory.
inline std::string default_data_dir() {
  if (char const* e = std::getenv("WEFT_SIM_DATA"); e != nullptr && *e) return e;
#ifdef WEFT_SIM_DATA_DIR
  return WEFT_SIM_DATA_DIR;
#else
  return "data/topologies";
#endif
}

//! Names of the topology presets in `dir` (files without the `cost-`, `fabric-` and `calibration-` prefixes), sorted.
inline std::vector<std::string> list_presets(std::string const& dir = default_data_dir()) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto const& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string const f = e.path().filename().string();
    if (f.size() < 6 || f.compare(f.size() - 5, 5, ".json") != 0) continue;
    if (f.rfind("cost-", 0) == 0 || f.rfind("fabric-", 0) == 0 || f.rfind("calibration-", 0) == 0) continue;
    out.push_back(f.substr(0, f.size() - 5));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace detail {

inline std::string join_names(std::vector<std::string> const& v) {
  std::string s;
  for (auto const& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "(none)" : s;
}

inline bool load_fabric(data_json::value const& v, fabric_spec& out, std::string* err) {
  data_json::object_reader r(v, "", err);
  if (!r.ok()) return false;
  std::string kind, type;
  r.string("kind", kind, true);
  if (r.ok() && kind != "weft-fabric") return r.fail(v, "\"kind\" must be \"weft-fabric\", not \"" + kind + "\"");
  r.string("name", out.name, true);
  r.string("description", out.description, false);
  r.ignore("sources");
  r.ignore("notes");
  r.string("type", type, true);
  if (r.ok()) {
    if (type == "infiniband") out.type = fabric_type::infiniband;
    else if (type == "ethernet") out.type = fabric_type::ethernet;
    else return r.fail(v, "\"type\" must be \"infiniband\" or \"ethernet\", not \"" + type + "\"");
  }
  r.number("efficiency", out.efficiency, true, 1e-3, 1.0);
  r.integer("leaf_ports", out.leaf_ports, true, 1, 1 << 16);
  r.number("oversubscription", out.oversubscription, false, 1.0, 1e3);
  r.number("switch_latency_us", out.switch_latency_us, false, 0, 1e4);
  return r.finish();
}

//! Resolve a member that is either an inline object or the name of `<prefix><name>.json` in `dirs`.
inline bool load_part(data_json::value const& v, std::string const& what, char const* prefix,
                      std::vector<std::string> const& dirs, data_json::value& out, std::string& where,
                      std::string* err) {
  if (v.is(data_json::kind::object)) {
    out = v;
    return true;
  }
  if (!v.is(data_json::kind::string)) {
    if (err && err->empty())
      *err = "line " + std::to_string(v.line) + ": \"" + what + "\" must be a name or an object";
    return false;
  }
  for (auto const& d : dirs) {
    std::string const p = d + "/" + prefix + v.str + ".json";
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) continue;
    where = p;
    return data_json::parse_file(p, out, err);
  }
  if (err && err->empty())
    *err = "line " + std::to_string(v.line) + ": no file " + prefix + v.str + ".json for \"" + what + "\" in " +
           join_names(dirs);
  return false;
}

} // namespace detail

//! Read a topology from a parsed JSON document; `dirs` are searched for the
//! named fabric and cost files. `file` only prefixes error messages.
inline bool load_topology_json(data_json::value const& v, std::vector<std::string> const& dirs, std::string const& file,
                               topology& out, std::string* why = nullptr) {
  std::string err;
  std::string where = file;
  topology t;
  data_json::object_reader r(v, "", &err);
  if (r.ok()) {
    std::string kind;
    r.string("kind", kind, true);
    if (r.ok() && kind != "weft-topology") r.fail(v, "\"kind\" must be \"weft-topology\", not \"" + kind + "\"");
    r.string("name", t.name, true);
    r.string("description", t.description, false);
    r.ignore("sources");
    r.ignore("notes");
    r.integer("gpus_per_node", t.gpus_per_node, true, 1, 1 << 16);
    r.integer("nodes_per_domain", t.nodes_per_domain, true, 1, 1 << 16);
    r.integer("domains", t.domains, false, 1, 1 << 16);
    if (data_json::value const* g = r.get("gpu"); g != nullptr && err.empty()) {
      data_json::object_reader gr(*g, "gpu", &err);
      gr.string("model", t.gpu.model, true);
      gr.string("arch", t.gpu.arch, true);
      gr.number("hbm_GBps", t.gpu.hbm_GBps, false, 0, 1e6);
      gr.finish();
    } else if (g == nullptr && err.empty()) {
      r.fail(v, "missing member \"gpu\"");
    }
    if (data_json::value const* n = r.get("nvlink"); n != nullptr && err.empty()) {
      data_json::object_reader nr(*n, "nvlink", &err);
      nr.number("GBps", t.nvlink.GBps, true, 0, 1e6);
      nr.integer("links", t.nvlink.links, false, 0, 1 << 10);
      nr.number("latency_us", t.nvlink.latency_us, false, 0, 1e4);
      nr.boolean("in_switch_reduction", t.nvlink.in_switch_reduction, false);
      nr.finish();
    } else if (n == nullptr && err.empty()) {
      r.fail(v, "missing member \"nvlink\"");
    }
    if (data_json::value const* n = r.get("nic"); n != nullptr && err.empty()) {
      data_json::object_reader nr(*n, "nic", &err);
      nr.number("Gbps_per_gpu", t.nic.Gbps_per_gpu, true, 0, 1e6);
      nr.integer("rails", t.nic.rails, false, 1, 1 << 16);
      nr.number("latency_us", t.nic.latency_us, false, 0, 1e4);
      nr.finish();
    }
    if (data_json::value const* f = r.get("fabric"); f != nullptr && err.empty()) {
      data_json::value fv;
      std::string fwhere = where;
      if (detail::load_part(*f, "fabric", "fabric-", dirs, fv, fwhere, &err)) {
        std::string ferr;
        if (!detail::load_fabric(fv, t.fabric, &ferr)) err = (fwhere != where ? fwhere + ": " : "") + "fabric: " + ferr;
      }
    }
    if (data_json::value const* c = r.get("cost"); c != nullptr && err.empty()) {
      data_json::value cv;
      std::string cwhere = where;
      if (detail::load_part(*c, "cost", "cost-", dirs, cv, cwhere, &err)) {
        std::string cerr;
        if (!load_cost_params(cv, t.cost, &cerr)) err = (cwhere != where ? cwhere + ": " : "") + cerr;
      }
    } else if (c == nullptr && err.empty()) {
      r.fail(v, "missing member \"cost\"");
    }
    if (err.empty()) r.finish();
  }
  if (err.empty()) err = t.check();
  if (!err.empty()) {
    if (why) *why = (file.empty() || err.rfind(file, 0) == 0 ? "" : file + ": ") + err;
    return false;
  }
  out = std::move(t);
  return true;
}

//! Read the topology file at `path` (fabric and cost names resolve next to it, then in `data_dir`).
inline bool load_topology_file(std::string const& path, topology& out, std::string* why = nullptr,
                               std::string const& data_dir = default_data_dir()) {
  data_json::value v;
  std::string err;
  if (!data_json::parse_file(path, v, &err)) {
    if (why) *why = err;
    return false;
  }
  std::string const dir = std::filesystem::path(path).parent_path().string();
  std::vector<std::string> dirs{dir.empty() ? std::string(".") : dir};
  if (data_dir != dirs[0]) dirs.push_back(data_dir);
  return load_topology_json(v, dirs, path, out, why);
}

//! Load a topology by spec:
//!   - a path (contains '/' or ends in ".json"): that file;
//!   - `<preset>`: data_dir/<preset>.json, e.g. "dgx-h100", "gb200-nvl72";
//!   - `<preset>x<N>`: N domains of the preset joined by its fabric, e.g. "gb200-nvl72x8";
//!   - any of these + `-ib` / `-eth`: with the InfiniBand / Ethernet (Spectrum-X) fabric,
//!     e.g. "gb200-nvl72x8-eth", "dgx-h100x4-eth".
inline bool load_topology(std::string const& spec, topology& out, std::string* why = nullptr,
                          std::string const& data_dir = default_data_dir()) {
  auto ends_with = [](std::string const& s, std::string const& e) {
    return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
  };
  if (spec.empty()) {
    if (why) *why = "empty topology name; presets in " + data_dir + ": " + detail::join_names(list_presets(data_dir));
    return false;
  }
  if (spec.find('/') != std::string::npos || ends_with(spec, ".json")) return load_topology_file(spec, out, why, data_dir);
  std::string base = spec, fabric;
  static char const* const suffixes[][2] = {{"-infiniband", "infiniband"}, {"-ib", "infiniband"},
                                            {"-ethernet", "ethernet"},     {"-eth", "ethernet"},
                                            {"-spectrum-x", "ethernet"},   {"-roce", "ethernet"}};
  for (auto const& sfx : suffixes)
    if (ends_with(base, sfx[0])) {
      base.resize(base.size() - std::string(sfx[0]).size());
      fabric = sfx[1];
      break;
    }
  int domains = 0;
  std::size_t const x = base.rfind('x');
  if (x != std::string::npos && x + 1 < base.size() &&
      base.find_first_not_of("0123456789", x + 1) == std::string::npos) {
    std::error_code ec;
    if (!std::filesystem::exists(data_dir + "/" + base + ".json", ec)) {
      std::string const n = base.substr(x + 1);
      if (n.size() > 6) {
        if (why) *why = "topology \"" + spec + "\": too many domains";
        return false;
      }
      domains = std::atoi(n.c_str());
      base.resize(x);
      if (domains < 1) {
        if (why) *why = "topology \"" + spec + "\": the domain count must be at least 1";
        return false;
      }
    }
  }
  std::string const file = data_dir + "/" + base + ".json";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (why)
      *why = "unknown topology \"" + spec + "\" (no " + file + "); presets: " + detail::join_names(list_presets(data_dir)) +
             "; add xN for N domains and -ib or -eth for the fabric, e.g. gb200-nvl72x8-ib";
    return false;
  }
  topology t;
  if (!load_topology_file(file, t, why, data_dir)) return false;
  if (!fabric.empty()) {
    data_json::value fv;
    std::string err, where;
    data_json::value name;
    name.k = data_json::kind::string;
    name.str = fabric;
    if (!detail::load_part(name, "fabric", "fabric-", {data_dir}, fv, where, &err) ||
        !detail::load_fabric(fv, t.fabric, &err)) {
      if (why) *why = (where.empty() ? "" : where + ": ") + "fabric: " + err;
      return false;
    }
  }
  if (domains > 0) t.domains = domains;
  if (domains > 1 || !fabric.empty()) t.name = spec;
  if (std::string const e = t.check(); !e.empty()) {
    if (why) *why = e;
    return false;
  }
  out = std::move(t);
  return true;
}

} // namespace weft::sim
