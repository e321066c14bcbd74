// Topology presets and the loader: every preset loads and validates; bad data
// is refused with a message that names the file, the member and the line.
#include <weft/sim/topology.hpp>

#include <catch2/catch.hpp>

#include <algorithm>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace weft::sim;

namespace {

std::string const data = default_data_dir();

//! A scratch directory holding the shipped cost and fabric files plus `topo` as t.json.
struct scratch {
  std::filesystem::path dir;
  explicit scratch(std::string const& name) {
    dir = std::filesystem::temp_directory_path() / ("weft_sim_topo_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    for (auto const& e : std::filesystem::directory_iterator(data)) {
      std::string const f = e.path().filename().string();
      if (f.rfind("cost-", 0) == 0 || f.rfind("fabric-", 0) == 0)
        std::filesystem::copy_file(e.path(), dir / f, std::filesystem::copy_options::overwrite_existing);
    }
  }
  ~scratch() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string write(std::string const& file, std::string const& text) const {
    std::ofstream(dir / file) << text;
    return (dir / file).string();
  }
};

std::string const good = R"({
  "kind": "weft-topology",
  "name": "t",
  "gpu": { "model": "X", "arch": "sm90", "hbm_GBps": 1000 },
  "gpus_per_node": 4,
  "nodes_per_domain": 2,
  "domains": 2,
  "nvlink": { "GBps": 400, "links": 18 },
  "nic": { "Gbps_per_gpu": 400, "rails": 4 },
  "fabric": "infiniband",
  "cost": "hopper"
})";

std::string replace(std::string s, std::string const& from, std::string const& to) {
  std::size_t const p = s.find(from);
  REQUIRE(p != std::string::npos);
  return s.replace(p, from.size(), to);
}

} // namespace

TEST_CASE("every preset loads and validates", "[sim][topology]") {
  std::vector<std::string> const presets = list_presets(data);
  for (char const* want : {"dgx-h100", "hgx-b200", "gb200-nvl72", "gb300-nvl72"})
    REQUIRE(std::find(presets.begin(), presets.end(), want) != presets.end());
  for (auto const& p : presets) {
    INFO(p);
    topology t;
    std::string why;
    REQUIRE(load_topology(p, t, &why, data));
    REQUIRE(why.empty());
    REQUIRE(t.check().empty());
    REQUIRE(t.ngpus() >= 8);
    REQUIRE(t.nvlink_bytes_per_us() > 0);
    REQUIRE(t.nic_bytes_per_us() > 0);
  }
  topology t;
  REQUIRE(load_topology("dgx-h100", t, nullptr, data));
  REQUIRE(t.ngpus() == 8);
  REQUIRE(t.gpu.arch == "sm90");
  REQUIRE(t.nvlink.in_switch_reduction);
  REQUIRE(t.nvlink_bytes_per_us() == Approx(370.8e3).epsilon(1e-3)); // NCCL's SM90 20.6 GB/s x 18
  REQUIRE(load_topology("gb200-nvl72", t, nullptr, data));
  REQUIRE(t.ngpus() == 72);
  REQUIRE(t.gpus_per_node == 4);
  REQUIRE(t.nodes_per_domain == 18);
  REQUIRE(t.nic_bytes_per_us() == Approx(48e3)); // 400 Gb/s at the 0.96 of the rule of thumb
  REQUIRE(load_topology("gb300-nvl72", t, nullptr, data));
  REQUIRE(t.nic.Gbps_per_gpu == 800);
}

TEST_CASE("racks of NVL72 joined by InfiniBand or Ethernet", "[sim][topology]") {
  topology t;
  std::string why;
  REQUIRE(load_topology("gb200-nvl72x8-ib", t, &why, data));
  REQUIRE(t.ngpus() == 576);
  REQUIRE(t.domains == 8);
  REQUIRE(t.fabric.type == fabric_type::infiniband);
  REQUIRE(t.name == "gb200-nvl72x8-ib");
  REQUIRE(load_topology("gb300-nvl72x4-eth", t, &why, data));
  REQUIRE(t.ngpus() == 288);
  REQUIRE(t.fabric.type == fabric_type::ethernet);
  REQUIRE(load_topology("dgx-h100x4-eth", t, &why, data));
  REQUIRE(t.ngpus() == 32);
  REQUIRE(load_topology("gb200-nvl72x8", t, &why, data)); // the preset's own fabric
  REQUIRE(t.fabric.type == fabric_type::infiniband);
}

TEST_CASE("routes: NVLink inside a domain, NICs and switches between domains", "[sim][topology]") {
  topology t;
  REQUIRE(load_topology("gb200-nvl72x8-ib", t, nullptr, data));
  route r = t.path(3, 3);
  REQUIRE(r.nres == 0);
  r = t.path(0, 71); // same rack
  REQUIRE(r.nres == 2);
  REQUIRE(r.cls == link_class::nvlink);
  REQUIRE(t.resource_name(r.res[0]) == "gpu0.nvlink-tx");
  REQUIRE(t.resource_name(r.res[1]) == "gpu71.nvlink-rx");
  r = t.path(0, 72); // next rack, same rail (local index 0), same leaf (nodes 0 and 18 < 32)
  REQUIRE(r.cls == link_class::network);
  REQUIRE(r.nres == 2);
  REQUIRE(t.resource_name(r.res[0]) == "gpu0.nic-tx");
  REQUIRE(t.resource_name(r.res[1]) == "gpu72.nic-rx");
  r = t.path(71, 72); // rail 3 -> rail 0: through the spine
  REQUIRE(r.nres == 4);
  REQUIRE(t.resource_name(r.res[1]) == "rail3.leaf0.up");
  REQUIRE(t.resource_name(r.res[2]) == "rail0.leaf0.down");
  REQUIRE(t.resource_capacity(r.res[1]) == Approx(32 * 48e3));
  r = t.path(0, 72 * 7); // same rail, node 126 is on leaf 3
  REQUIRE(r.nres == 4);
  for (int i = 0; i < t.resource_count(); ++i) REQUIRE(t.resource_capacity(i) > 0);
}

TEST_CASE("bad topology data is refused with a clear message", "[sim][topology]") {
  scratch s("bad");
  topology t;
  std::string why;
  REQUIRE(load_topology_file(s.write("t.json", good), t, &why, data));
  REQUIRE(t.ngpus() == 16);

  struct bad_case {
    std::string from, to, expect;
  };
  bad_case const cases[] = {
      {"\"kind\": \"weft-topology\"", "\"kind\": \"weft-topo\"", "\"kind\" must be \"weft-topology\""},
      {"\"gpus_per_node\": 4", "\"gpus_per_node\": 0", "gpus_per_node = 0 is out of range"},
      {"\"gpus_per_node\": 4", "\"gpus_per_node\": 2.5", "gpus_per_node must be a whole number"},
      {"\"GBps\": 400", "\"GBps\": \"fast\"", "nvlink.GBps must be a number, not a string"},
      {"\"links\": 18", "\"link\": 18", "unknown member \"nvlink.link\""},
      {"\"nvlink\"", "\"nvlinks\"", "missing member \"nvlink\""},
      {"\"domains\": 2", "\"domains\": 2, \"domain\": 3", "unknown member \"domain\""},
      {"\"cost\": \"hopper\"", "\"cost\": \"pascal\"", "no file cost-pascal.json"},
      {"\"fabric\": \"infiniband\"", "\"fabric\": \"myrinet\"", "no file fabric-myrinet.json"},
      {"\"Gbps_per_gpu\": 400", "\"Gbps_per_gpu\": 0", "nic.Gbps_per_gpu must be positive"},
      {"\"rails\": 4", "\"rails\": 5", "nic.rails must be in [1, gpus_per_node]"},
      {"\"hbm_GBps\": 1000 }", "\"hbm_GBps\": 1000, }", "expected a member name"},
  };
  for (auto const& c : cases) {
    INFO(c.to);
    why.clear();
    REQUIRE_FALSE(load_topology_file(s.write("t.json", replace(good, c.from, c.to)), t, &why, data));
    INFO(why);
    REQUIRE(why.find(c.expect) != std::string::npos);
    REQUIRE(why.find("t.json") != std::string::npos); // names the file
  }
  // Errors name the line.
  why.clear();
  REQUIRE_FALSE(load_topology_file(s.write("t.json", replace(good, "\"links\": 18", "\"link\": 18")), t, &why, data));
  REQUIRE(why.find("line 8") != std::string::npos);
  // A bad cost file is refused with its own name.
  s.write("cost-broken.json", R"({"kind": "weft-cost-model", "name": "b", "nvlink_efficiency": 1.5, "protocols": {}})");
  why.clear();
  REQUIRE_FALSE(load_topology_file(s.write("t.json", replace(good, "\"cost\": \"hopper\"", "\"cost\": \"broken\"")), t,
                                   &why, data));
  REQUIRE(why.find("cost-broken.json") != std::string::npos);
  REQUIRE(why.find("nvlink_efficiency = 1.5 is out of range") != std::string::npos);
  s.write("cost-noll.json", R"({"kind": "weft-cost-model", "name": "b", "nvlink_efficiency": 0.9, "protocols": {
      "simple": {"efficiency": 1, "base_latency_us": 1, "step_latency_us": {"nvlink": 1, "network": 2}}}})");
  why.clear();
  REQUIRE_FALSE(load_topology_file(s.write("t.json", replace(good, "\"cost\": \"hopper\"", "\"cost\": \"noll\"")), t,
                                   &why, data));
  REQUIRE(why.find("missing member \"protocols.ll\"") != std::string::npos);
  // More than one domain needs a fabric.
  why.clear();
  REQUIRE_FALSE(load_topology_file(s.write("t.json", replace(good, "\"fabric\": \"infiniband\",", "")), t, &why, data));
  REQUIRE(why.find("a \"fabric\" is needed") != std::string::npos);
}

TEST_CASE("unknown topology names list the presets", "[sim][topology]") {
  topology t;
  std::string why;
  REQUIRE_FALSE(load_topology("dgx-a100", t, &why, data));
  REQUIRE(why.find("unknown topology \"dgx-a100\"") != std::string::npos);
  REQUIRE(why.find("gb200-nvl72") != std::string::npos);
  REQUIRE_FALSE(load_topology("gb200-nvl72x0", t, &why, data));
  REQUIRE(why.find("at least 1") != std::string::npos);
  REQUIRE_FALSE(load_topology("", t, &why, data));
  REQUIRE_FALSE(load_topology("/nonexistent/topo.json", t, &why, data));
  REQUIRE(why.find("cannot open") != std::string::npos);
}
