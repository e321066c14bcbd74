// The tuner-backed selector: the plan of a call follows the simulator's choice
// on a topology model, and the call's overrides still win -- in the GPU
// runtime's call path and in the CPU communicator (coll_options::automatic).
#include <catch2/catch.hpp>

#include <weft/runtime/call.hpp>
#include <weft/runtime/tuned.hpp>
#include <weft/team/cpu_comm.hpp>

#include <cstring>
#include <mutex>
#include <vector>

using weft::coll_kind;
using weft::status;

namespace {
// Elements of any rank's all-reduce output that differ from the sum over ranks of the inputs.
std::size_t wrong_sums(std::vector<std::vector<float>> const& in, std::vector<std::vector<float>> const& out) {
  std::size_t wrong = 0;
  for (auto const& o : out)
    for (std::size_t i = 0; i < o.size(); ++i) {
      float want = 0;
      for (auto const& x : in) want += x[i];
      wrong += o[i] != want;
    }
  return wrong;
}
} // namespace

TEST_CASE("runtime tuned selector: the plan is the tuner's choice", "[runtime]") {
  weft::sim::topology t;
  std::string why;
  REQUIRE(weft::sim::load_topology("dgx-h100", t, &why));
  weft::plan_selector sel = weft::tuner_selector(t);
  weft::tune::tuner direct(t);
  auto tuner_choice = [&](std::size_t bytes) -> weft::tune::choice const& {
    weft::tune::request rq;
    rq.coll = weft::sim::collective::all_reduce;
    rq.nranks = 8;
    rq.bytes = bytes;
    return direct.choose(rq);
  };
  for (std::size_t bytes : {std::size_t(4096), std::size_t(1) << 20, std::size_t(64) << 20}) {
    INFO("bytes " << bytes);
    weft::launch_plan p;
    REQUIRE(sel(coll_kind::all_reduce, 8, bytes, 4, 0, p));
    weft::tune::choice const& c = tuner_choice(bytes);
    REQUIRE(c.ok);
    CHECK(p.proto == c.best.proto);
    CHECK(p.nchannels == c.best.nchannels);
    weft::algorithm want = weft::algorithm::ring;
    if (c.best.algo != "ring_direct") (void)weft::parse_algorithm(c.best.algo.c_str(), want);
    CHECK(p.algo == want);
    CHECK(p.direct == (c.best.algo == "ring_direct"));
    CHECK(p.flavour.has_value() == (c.best.algo.rfind("direct_", 0) == 0));
  }
  // Where the tuner picks a direct all-reduce, the plan carries its flavour (and the ring as algo).
  int direct_picks = 0;
  for (std::size_t bytes = 8; bytes <= (std::size_t(4) << 20); bytes *= 4) {
    weft::tune::choice const& c = tuner_choice(bytes);
    REQUIRE(c.ok);
    weft::direct_flavour want{};
    if (!weft::parse_direct_flavour(c.best.algo.c_str(), want)) continue;
    INFO("bytes " << bytes << " tuner " << c.best.algo);
    weft::launch_plan p;
    REQUIRE(sel(coll_kind::all_reduce, 8, bytes, 4, 0, p));
    REQUIRE(p.flavour);
    CHECK(*p.flavour == want);
    CHECK(p.algo == weft::algorithm::ring);
    ++direct_picks;
  }
  CHECK(direct_picks > 0);
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
  // On several nodes the tuner picks hierarchical entries for mid sizes: the plan is
  // hierarchical with the layout the model traced.
  weft::sim::topology multi;
  REQUIRE(weft::sim::load_topology("dgx-h100x4-ib", multi, &why));
  weft::plan_selector msel = weft::tuner_selector(multi);
  weft::tune::tuner mt(multi);
  int hier_picks = 0;
  for (std::size_t bytes = 4096; bytes <= (std::size_t(2) << 20); bytes *= 4) {
    weft::tune::request rq;
    rq.coll = weft::sim::collective::all_reduce;
    rq.nranks = 32;
    rq.bytes = bytes;
    weft::tune::choice const& mc = mt.choose(rq);
    REQUIRE(mc.ok);
    if (mc.best.algo.rfind("hier", 0) != 0) continue;
    INFO("bytes " << bytes << " tuner " << mc.best.algo);
    weft::launch_plan mp;
    REQUIRE(msel(coll_kind::all_reduce, 32, bytes, 4, 0, mp));
    weft::hier_layout const want = weft::sim::traced_hier_layout(mc.best.algo, 32);
    CHECK(mp.algo == weft::algorithm::hierarchical);
    CHECK(mp.hier.inner == want.inner);
    CHECK(mp.hier.middle == want.middle);
    CHECK(mp.hier.outer == want.outer);
    CHECK(mp.hier.within == want.within);
    ++hier_picks;
  }
  CHECK(hier_picks > 0);
  // all-to-all is not modelled: the selector declines.
  weft::launch_plan p;
  CHECK_FALSE(sel(coll_kind::all_to_all, 8, 4096, 4, 0, p));
}

TEST_CASE("cpu communicator: coll_options::automatic runs the tuner's plan", "[runtime][team]") {
  weft::sim::topology t;
  std::string why;
  REQUIRE(weft::sim::load_topology("dgx-h100", t, &why));
  weft::plan_selector const tuned = weft::tuner_selector(t);
  int const n = 8;
  // Every rank's choice is recorded: the selector is asked once per rank and call.
  std::mutex m;
  std::vector<weft::launch_plan> asked;
  weft::cpu_comm_config cfg;
  cfg.max_channels = 4;
  cfg.selector = [&](coll_kind c, int nr, std::size_t bytes, std::size_t eb, int root, weft::launch_plan& p) {
    bool const ok = tuned(c, nr, bytes, eb, root, p);
    std::lock_guard<std::mutex> lk(m);
    asked.push_back(p);
    return ok;
  };
  weft::cpu_comm comm(n, cfg);
  weft::cpu_team team(n);
  for (std::size_t count : {std::size_t(16), std::size_t(1) << 14, std::size_t(1) << 20}) {
    INFO("count " << count);
    asked.clear();
    std::vector<std::vector<float>> in(n, std::vector<float>(count)), out(n, std::vector<float>(count, -1.0f));
    for (int r = 0; r < n; ++r)
      for (std::size_t i = 0; i < count; ++i) in[std::size_t(r)][i] = float((i * 3 + std::size_t(r) * 5) % 11);
    weft::coll_options o;
    o.automatic = true;
    REQUIRE(team.run([&](weft::team_rank& tr) {
      return weft::all_reduce(comm, tr, in[std::size_t(tr.rank())].data(), out[std::size_t(tr.rank())].data(), count,
                              weft::op::sum<float>{}, o);
    }) == status::success);
    CHECK(wrong_sums(in, out) == 0);
    // Every rank asked, and every rank got the tuner's answer for this size.
    REQUIRE(asked.size() == std::size_t(n));
    weft::launch_plan want;
    REQUIRE(tuned(coll_kind::all_reduce, n, count * sizeof(float), sizeof(float), 0, want));
    for (auto const& p : asked) {
      CHECK(p.algo == want.algo);
      CHECK(p.proto == want.proto);
      CHECK(p.nchannels == want.nchannels);
    }
  }
  // The choice is clamped to the communicator and made servable: a selector
  // asking for 64 channels and a hierarchical all-gather gets 4 channels and the ring.
  weft::cpu_comm_config wild = cfg;
  wild.selector = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
    p.algo = weft::algorithm::hierarchical;
    p.proto = weft::protocol::ll;
    p.nchannels = 64;
    p.direct = true;
    return true;
  };
  weft::cpu_comm wc(n, wild);
  weft::coll_options o;
  o.automatic = true;
  weft::coll_options seen = o;
  weft::detail::choose_plan(wc, coll_kind::all_gather, 4096, 4, 0, seen);
  CHECK(seen.algo == weft::algorithm::ring);
  CHECK(seen.proto == weft::protocol::ll);
  CHECK(seen.nchannels == 4);
  CHECK_FALSE(seen.direct); // direct needs Simple
  std::size_t const cnt = 1000;
  std::vector<std::vector<int>> gin(n, std::vector<int>(cnt)), gout(n, std::vector<int>(cnt * n, 0));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < cnt; ++i) gin[std::size_t(r)][i] = int(std::size_t(r) * 100000 + i);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    return weft::all_gather(wc, tr, gin[std::size_t(tr.rank())].data(), gout[std::size_t(tr.rank())].data(), cnt, o);
  }) == status::success);
  for (int r = 0; r < n; ++r) CHECK(std::memcmp(gout[std::size_t(r)].data() + std::size_t(r) * cnt, gin[std::size_t(r)].data(), cnt * 4) == 0);
  CHECK(gout[3][5 * cnt + 7] == 500007);
  // Without `automatic` the selector is not asked.
  asked.clear();
  std::vector<std::vector<float>> a(n, std::vector<float>(8, 1.0f));
  REQUIRE(team.run([&](weft::team_rank& tr) {
    return weft::all_reduce(comm, tr, a[std::size_t(tr.rank())].data(), a[std::size_t(tr.rank())].data(), 8,
                            weft::op::sum<float>{});
  }) == status::success);
  CHECK(asked.empty());
  CHECK(a[2][3] == float(n));
}

TEST_CASE("cpu communicator: nvls is refused by name and a selector's nvls runs the ring", "[runtime][team]") {
  int const n = 4;
  std::size_t const count = 1000;
  weft::cpu_team team(n);
  std::vector<std::vector<float>> in(n, std::vector<float>(count)), out(n, std::vector<float>(count, -1.0f));
  for (int r = 0; r < n; ++r)
    for (std::size_t i = 0; i < count; ++i) in[std::size_t(r)][i] = float((i + std::size_t(r) * 7) % 13);
  // Named: unsupported on every rank, with the reason, and the communicator stays usable.
  weft::cpu_comm plain(n);
  weft::coll_options named;
  named.algo = weft::algorithm::nvls;
  std::vector<status> per_rank;
  CHECK(team.run([&](weft::team_rank& tr) {
    return weft::all_reduce(plain, tr, in[std::size_t(tr.rank())].data(), out[std::size_t(tr.rank())].data(), count,
                            weft::op::sum<float>{}, named);
  }, &per_rank) == status::unsupported);
  for (status s : per_rank) CHECK(s == status::unsupported);
  CHECK(plain.last_error(0).find("multicast") != std::string::npos);
  CHECK(plain.healthy());
  CHECK(out[0][0] == -1.0f); // nothing ran
  // Chosen by a selector: the CPU team cannot run it, so the ring does.
  weft::cpu_comm_config cfg;
  cfg.selector = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
    p.algo = weft::algorithm::nvls;
    return true;
  };
  weft::cpu_comm chosen(n, cfg);
  weft::coll_options o;
  o.automatic = true;
  weft::coll_options seen = o;
  weft::detail::choose_plan(chosen, coll_kind::all_reduce, count * 4, 4, 0, seen);
  CHECK(seen.algo == weft::algorithm::ring);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    return weft::all_reduce(chosen, tr, in[std::size_t(tr.rank())].data(), out[std::size_t(tr.rank())].data(), count,
                            weft::op::sum<float>{}, o);
  }) == status::success);
  CHECK(wrong_sums(in, out) == 0);
}
