// The tuner: sensible choices (LL for tiny messages, Simple for large ones,
// more channels for more data), the user's overrides, and honest refusals.
#include <weft/tune/tuner.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>

using namespace weft;

namespace {
sim::topology preset(char const* name) {
  sim::topology t;
  std::string why;
  INFO(why);
  REQUIRE(sim::load_topology(name, t, &why));
  return t;
}
tune::request all_reduce(std::size_t bytes, int nranks = 0) {
  tune::request rq;
  rq.coll = sim::collective::all_reduce;
  rq.bytes = bytes;
  rq.nranks = nranks;
  return rq;
}
} // namespace

TEST_CASE("the tuner picks LL for tiny messages and Simple for large ones", "[sim][tuner]") {
  for (char const* name : {"dgx-h100", "hgx-b200", "gb200-nvl72"}) {
    INFO(name);
    sim::topology const t = preset(name);
    tune::choice const tiny = tune::choose(t, all_reduce(64));
    REQUIRE(tiny.ok);
    REQUIRE(tiny.best.proto == protocol::ll);
    // Every all-reduce algorithm is considered; latency-bound ones (recursive doubling, tree) may beat the ring.
    bool ring_seen = false;
    for (auto const& c : tiny.considered)
      if (c.ok && c.algo == "ring") {
        ring_seen = true;
        REQUIRE(tiny.best.time_us <= c.time_us * (1 + 1e-9));
      }
    REQUIRE(ring_seen);
    tune::choice const large = tune::choose(t, all_reduce(std::size_t(1) << 30, 8));
    REQUIRE(large.ok);
    REQUIRE(large.best.proto == protocol::simple);
    REQUIRE(large.best.nchannels >= 16);
    REQUIRE(large.best.time_us > tiny.best.time_us);
    // The choice is the fastest prediction among those made.
    for (auto const& c : large.considered)
      if (c.ok) REQUIRE(c.time_us >= large.best.time_us * (1 - 1e-3));
  }
}

TEST_CASE("predicted time grows with size and busbw approaches the link", "[sim][tuner]") {
  sim::topology const t = preset("dgx-h100");
  double last = 0;
  // The ring: NVLS (in-switch reduction) goes past the link's busbw, see test_symmetric.cpp.
  tune::overrides ring;
  ring.algo = "ring";
  for (std::size_t b = 1024; b <= (std::size_t(256) << 20); b *= 8) {
    tune::choice const c = tune::choose(t, all_reduce(b), ring);
    REQUIRE(c.ok);
    REQUIRE(c.best.time_us > last);
    last = c.best.time_us;
  }
  double const busbw = double(256 << 20) / (last * 1e-6) / 1e9 * 1.75;
  REQUIRE(busbw < t.nvlink_bytes_per_us() / 1e3 * 1.001);
  REQUIRE(busbw > 0.9 * t.nvlink_bytes_per_us() / 1e3);
}

TEST_CASE("the user's overrides win", "[sim][tuner]") {
  sim::topology const t = preset("dgx-h100");
  tune::overrides ov;
  ov.proto = int(protocol::ll128);
  ov.nchannels = 3;
  tune::choice const c = tune::choose(t, all_reduce(std::size_t(64) << 20), ov);
  REQUIRE(c.ok);
  REQUIRE(c.best.proto == protocol::ll128);
  REQUIRE(c.best.nchannels == 3);
  // One candidate per all-reduce algorithm, each with the overridden protocol and channels.
  REQUIRE(c.considered.size() == sim::traced_algorithms(sim::collective::all_reduce).size());
  for (auto const& k : c.considered) {
    REQUIRE(k.proto == protocol::ll128);
    REQUIRE(k.nchannels == 3);
  }

  ov = {};
  ov.algo = "collnet";
  tune::choice const no = tune::choose(t, all_reduce(1 << 20), ov);
  REQUIRE_FALSE(no.ok);
  REQUIRE(no.error.find("no all_reduce algorithm named 'collnet'") != std::string::npos);
  REQUIRE(no.error.find("available: ring") != std::string::npos);

  // All-gather has two ring variants; direct needs Simple.
  tune::request rq;
  rq.coll = sim::collective::all_gather;
  rq.bytes = std::size_t(64) << 20;
  ov = {};
  ov.algo = "ring_direct";
  ov.proto = int(protocol::ll);
  tune::choice const d = tune::choose(t, rq, ov);
  REQUIRE_FALSE(d.ok);
  REQUIRE(d.error.find("Simple") != std::string::npos);
  ov.proto = -1;
  tune::choice const d2 = tune::choose(t, rq, ov);
  REQUIRE(d2.ok);
  REQUIRE(d2.best.algo == "ring_direct");
  REQUIRE(d2.best.proto == protocol::simple);
}

TEST_CASE("overrides from the environment", "[sim][tuner]") {
  ::setenv("WEFT_ALGO", "ring", 1);
  ::setenv("WEFT_PROTO", "LL128", 1);
  ::setenv("WEFT_NCHANNELS", "4", 1);
  std::string why;
  tune::overrides o = tune::overrides_from_env(&why);
  REQUIRE(o.algo == "ring");
  REQUIRE(o.proto == int(protocol::ll128));
  REQUIRE(o.nchannels == 4);
  REQUIRE(why.empty());
  ::setenv("WEFT_PROTO", "fast", 1);
  ::setenv("WEFT_NCHANNELS", "auto", 1);
  o = tune::overrides_from_env(&why);
  REQUIRE(o.proto == -1);
  REQUIRE(o.nchannels == 0);
  REQUIRE(why.find("WEFT_PROTO=fast") != std::string::npos);
  ::unsetenv("WEFT_ALGO");
  ::unsetenv("WEFT_PROTO");
  ::unsetenv("WEFT_NCHANNELS");
}

TEST_CASE("every collective weft has gets a choice", "[sim][tuner]") {
  sim::topology const t = preset("hgx-b200");
  tune::tuner tu(t);
  for (auto c : {sim::collective::all_reduce, sim::collective::all_gather, sim::collective::reduce_scatter,
                 sim::collective::broadcast, sim::collective::reduce}) {
    INFO(sim::to_string(c));
    tune::request rq;
    rq.coll = c;
    rq.bytes = std::size_t(32) << 20;
    rq.root = 3;
    tune::choice const& ch = tu.choose(rq);
    REQUIRE(ch.ok);
    REQUIRE(&tu.choose(rq) == &ch); // remembered
    REQUIRE(ch.best.time_us > 0);
  }
  tune::request rq = all_reduce(3); // below one element per rank
  REQUIRE_FALSE(tune::choose(t, rq).ok);
}

// The rail-rotated ring on four DGX H100 over Ethernet (the calibration row
// h100x4-roce, 320 GB/s with NCCL's rings): its channels cross node boundaries
// on all eight NICs, the plain ring on one, which caps it at that NIC.
TEST_CASE("the rail-rotated ring crosses nodes on every NIC; the plain ring is NIC-bound", "[sim][tuner][rail]") {
  sim::topology const t = preset("dgx-h100x4-eth");
  REQUIRE(t.gpus_per_node == 8);
  REQUIRE(t.nic.rails == 8); // one NIC per GPU
  tune::request const rq = all_reduce(std::size_t(8) << 30, 32);
  auto busbw = [&](char const* algo) {
    tune::overrides ov;
    ov.algo = algo;
    tune::choice const c = tune::choose(t, rq, ov);
    INFO(algo << ": " << c.error);
    REQUIRE(c.ok);
    return double(rq.bytes) / (c.best.time_us * 1e-6) / 1e9 * sim::busbw_factor(rq.coll, 32);
  };
  double const rail = busbw("ring_rail"), plain = busbw("ring");
  double const nic_GBps = t.nic_bytes_per_us() / 1e3;
  INFO("ring_rail " << rail << " GB/s, ring " << plain << " GB/s, one NIC " << nic_GBps << " GB/s");
  CHECK(std::fabs(rail - 320.0) <= 32.0);  // the published 320 GB/s within 10 %
  CHECK(plain <= nic_GBps * 1.001);        // the plain ring: one NIC per node boundary
  CHECK(plain < 0.25 * rail);
  CHECK(rail <= 8 * nic_GBps * 1.001);     // eight NICs at most

  // Within one NVLink domain the rotation moves no NIC traffic: the candidate is declined, with the reason.
  sim::topology const one = preset("dgx-h100");
  tune::overrides ov;
  ov.algo = "ring_rail";
  tune::choice const c = tune::choose(one, all_reduce(std::size_t(1) << 30, 8), ov);
  CHECK_FALSE(c.ok);
  CHECK(c.error.find("only across NVLink domains") != std::string::npos);
}

// sim_options::rail_orbit: ring 0 alone, its transfers loading the routes of
// the other rings (its rotations), predicts what tracing every ring does.
TEST_CASE("rail_orbit: ring 0 and its images simulate like every ring traced", "[sim][rail]") {
  sim::topology const t = preset("dgx-h100x2-eth");
  int const n = 16, local = 8;
  for (int nch : {4, 8}) {
    sim::trace_options o;
    o.step_elems = 32768; // 128 KiB steps, as the default Simple slot
    o.ring_local = local;
    std::size_t const count = std::size_t(nch) * 2 * 1024 * 1024;
    std::string err;
    sim::schedule const all = sim::trace(sim::collective::all_reduce, "ring_rail", n, nch, count, o, &err);
    INFO(err);
    REQUIRE(!all.steps.empty());
    sim::sim_result const full = sim::simulate(all, t);
    REQUIRE(full.ok);
    CHECK(full.fold == 1); // different rings do not fold
    sim::schedule const ring0 = sim::trace(sim::collective::all_reduce, "ring_rail", n, 1, count / std::size_t(nch), o, &err);
    REQUIRE(!ring0.steps.empty());
    sim::sim_options so;
    so.rail_orbit = nch;
    sim::sim_result const orbit = sim::simulate(ring0, t, so);
    REQUIRE(orbit.ok);
    INFO("nch " << nch << ": every ring " << full.time_us << " us, ring 0 with images " << orbit.time_us << " us");
    CHECK(std::fabs(orbit.time_us - full.time_us) <= 0.01 * full.time_us);
    // The plain ring's channels all cross on one NIC per node boundary.
    sim::sim_result const plain = sim::simulate(sim::trace_ring_all_reduce(n, nch, count, o), t);
    REQUIRE(plain.ok);
    CHECK(plain.time_us > 1.5 * full.time_us);
  }
  sim::sim_options bad;
  bad.rail_orbit = 9;
  sim::trace_options o;
  CHECK_FALSE(sim::simulate(sim::trace_ring_all_reduce(16, 1, 1024, o), t, bad).ok);
}
