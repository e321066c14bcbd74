// The tuner-backed selector: the plan of a call follows the simulator's choice
// on a topology model, and the call's overrides still win.
#include <catch2/catch.hpp>

#include <weft/runtime/tuned.hpp>

#include <vector>

using weft::coll_kind;
using weft::status;

TEST_CASE("runtime tuned selector: the plan is the tuner's choice", "[runtime]") {
  weft::sim::topology t;
  std::string why;
  REQUIRE(weft::sim::load_topology("dgx-h100", t, &why));
  weft::plan_selector sel = weft::tuner_selector(t);
  weft::tune::tuner direct(t);
  for (std::size_t bytes : {std::size_t(4096), std::size_t(1) << 20, std::size_t(64) << 20}) {
    INFO("bytes " << bytes);
    weft::launch_plan p;
    REQUIRE(sel(coll_kind::all_reduce, 8, bytes, 4, 0, p));
    weft::tune::request rq;
    rq.coll = weft::sim::collective::all_reduce;
    rq.nranks = 8;
    rq.bytes = bytes;
    weft::tune::choice const& c = direct.choose(rq);
    REQUIRE(c.ok);
    CHECK(p.proto == c.best.proto);
    CHECK(p.nchannels == c.best.nchannels);
    CHECK(p.algo == weft::algorithm::ring);
  }
  // The runtime's call path uses it, clamps to the communicator and keeps overrides.
  std::vector<float> in(1 << 16, 1.0f), out(1 << 16);
  weft::comm_facts f;
  f.initialized = true;
  f.rank = 0;
  f.nranks = 8;
  f.max_channels = 2;
  weft::coll_call c;
  c.send = in.data();
  c.recv = out.data();
  c.count = in.size();
  weft::call_result r = weft::plan_call(f, c, &sel);
  REQUIRE(r.st == status::success);
  CHECK(r.plan.nchannels <= 2);
  c.opt.proto = weft::protocol::ll128;
  r = weft::plan_call(f, c, &sel);
  CHECK(r.plan.proto == weft::protocol::ll128);
  // all-to-all is not modelled: the selector declines.
  weft::launch_plan p;
  CHECK_FALSE(sel(coll_kind::all_to_all, 8, 4096, 4, 0, p));
}
