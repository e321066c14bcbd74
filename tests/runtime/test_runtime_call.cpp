// Argument checks, stream checks and plan selection of a collective call
// (runtime/call.hpp): every bad input returns its documented status, names a
// reason, and never reaches the launch.
#include <catch2/catch.hpp>

#include <weft/runtime/call.hpp>

#include <cstdint>
#include <limits>
#include <vector>

using weft::coll_call;
using weft::coll_kind;
using weft::comm_facts;
using weft::status;

namespace {

comm_facts facts(int rank = 1, int nranks = 4) {
  comm_facts f;
  f.initialized = true;
  f.rank = rank;
  f.nranks = nranks;
  f.device = 0;
  f.max_channels = 4;
  return f;
}

// A call over real host memory (the checks never dereference it).
struct buffers {
  std::vector<float> in = std::vector<float>(4096, 1.0f), out = std::vector<float>(4096, 0.0f);
};

coll_call call(buffers& b, coll_kind c = coll_kind::all_reduce, std::size_t count = 256) {
  coll_call k;
  k.coll = c;
  k.send = b.in.data();
  k.recv = b.out.data();
  k.count = count;
  k.type = weft::dtype::f32;
  return k;
}

// Runs the whole call path with a counting launch and a stream on device `dev`.
struct outcome {
  weft::call_result r;
  int launches = 0;
  int stream_queries = 0;
};
outcome run(comm_facts const& f, coll_call const& c, int dev = 0, weft::plan_selector const* sel = nullptr) {
  outcome o;
  o.r = weft::run_call(
      f, c,
      [&](weft::stream_facts& s) {
        ++o.stream_queries;
        s.device = dev;
        return status::success;
      },
      sel,
      [&](weft::launch_plan const&) {
        ++o.launches;
        return status::success;
      });
  return o;
}

void expect_refused(comm_facts const& f, coll_call const& c, status want, int dev = 0) {
  outcome const o = run(f, c, dev);
  INFO("why: " << o.r.why);
  CHECK(o.r.st == want);
  CHECK(o.launches == 0);
  CHECK_FALSE(o.r.launched);
  CHECK(std::string(o.r.why) != "ok");
}

} // namespace

TEST_CASE("runtime call: a good call launches once with a plan", "[runtime]") {
  buffers b;
  for (coll_kind c : {coll_kind::all_reduce, coll_kind::all_gather, coll_kind::reduce_scatter, coll_kind::broadcast,
                      coll_kind::reduce}) {
    INFO(weft::to_string(c));
    outcome const o = run(facts(), call(b, c, 64));
    CHECK(o.r.st == status::success);
    CHECK(o.launches == 1);
    CHECK(o.stream_queries == 1);
    CHECK(o.r.plan.nchannels >= 1);
  }
}

TEST_CASE("runtime call: communicator state", "[runtime]") {
  buffers b;
  comm_facts f = facts();
  f.initialized = false;
  expect_refused(f, call(b), status::invalid_argument);
  f = facts();
  f.healthy = false;
  expect_refused(f, call(b), status::aborted);
}

TEST_CASE("runtime call: null and misaligned pointers", "[runtime]") {
  buffers b;
  coll_call c = call(b);
  c.send = nullptr;
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.recv = nullptr;
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.send = reinterpret_cast<char const*>(b.in.data()) + 2; // not a multiple of 4
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.recv = reinterpret_cast<char*>(b.out.data()) + 1;
  expect_refused(facts(), c, status::invalid_argument);
  // A 2-byte type needs 2-byte alignment only.
  c = call(b);
  c.type = weft::dtype::bf16;
  c.send = reinterpret_cast<char const*>(b.in.data()) + 2;
  CHECK(run(facts(), c).r.st == status::success);
}

TEST_CASE("runtime call: buffers a rank does not use may be null", "[runtime]") {
  buffers b;
  coll_call c = call(b, coll_kind::broadcast);
  c.root = 0; // we are rank 1: our send buffer is not read
  c.send = nullptr;
  CHECK(run(facts(1), c).r.st == status::success);
  c.root = 1; // now it is
  expect_refused(facts(1), c, status::invalid_argument);
  c = call(b, coll_kind::reduce);
  c.root = 2;
  c.recv = nullptr;
  CHECK(run(facts(1), c).r.st == status::success);
  c.root = 1;
  expect_refused(facts(1), c, status::invalid_argument);
}

TEST_CASE("runtime call: counts whose byte size overflows", "[runtime]") {
  buffers b;
  std::size_t const max = std::numeric_limits<std::size_t>::max();
  for (coll_kind k : {coll_kind::all_reduce, coll_kind::all_gather, coll_kind::reduce_scatter}) {
    coll_call c = call(b, k);
    c.count = max / 2;
    expect_refused(facts(), c, status::invalid_argument);
  }
  // Fits one rank's buffer but not the n-rank side of an all-gather.
  coll_call c = call(b, coll_kind::all_gather);
  c.count = std::size_t(std::numeric_limits<std::ptrdiff_t>::max()) / 4 / 2;
  expect_refused(facts(1, 4), c, status::invalid_argument);
  std::size_t in = 0, out = 0;
  CHECK(weft::call_bytes(c, 1, in, out)); // one rank: fits
}

TEST_CASE("runtime call: dtype, operator and root", "[runtime]") {
  buffers b;
  coll_call c = call(b);
  c.type = weft::dtype(200);
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.op.op = weft::redop(99);
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.type = weft::dtype::i32;
  c.op = {weft::redop::premul_sum, 0.5, 1}; // integer premul needs an integral scalar
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.op = {weft::redop::avg, 1.0, 3}; // avg over 4 ranks must divide by 4
  expect_refused(facts(), c, status::invalid_argument);
  c.op.nranks = 4;
  CHECK(run(facts(), c).r.st == status::success);
  for (int root : {-1, 4}) {
    c = call(b, coll_kind::broadcast);
    c.root = root;
    expect_refused(facts(), c, status::invalid_argument);
  }
  c = call(b, coll_kind::all_to_all);
  expect_refused(facts(), c, status::unsupported);
}

TEST_CASE("runtime call: dtypes and operators outside the compiled set", "[runtime]") {
  buffers b;
  comm_facts f = facts();
  f.dtype_mask = 1u << unsigned(weft::dtype::f32);
  f.redop_mask = 1u << unsigned(weft::redop::sum);
  coll_call c = call(b);
  c.type = weft::dtype::f16;
  expect_refused(f, c, status::unsupported);
  c = call(b);
  c.op.op = weft::redop::max;
  expect_refused(f, c, status::unsupported);
  // Copy-only collectives move bytes: any dtype serves.
  c = call(b, coll_kind::all_gather);
  c.type = weft::dtype::u64;
  CHECK(run(f, c).r.st == status::success);
}

TEST_CASE("runtime call: overlapping buffers other than in place", "[runtime]") {
  buffers b;
  coll_call c = call(b);
  c.recv = b.in.data() + 1;
  c.send = b.in.data();
  expect_refused(facts(), c, status::invalid_argument);
  c.recv = b.in.data(); // in place
  CHECK(run(facts(), c).r.st == status::success);
  // all-gather in place: send is this rank's part of recv.
  c = call(b, coll_kind::all_gather, 100);
  c.recv = b.out.data();
  c.send = b.out.data() + 100 * 1; // rank 1
  CHECK(run(facts(1), c).r.st == status::success);
  c.send = b.out.data() + 100 * 2;
  expect_refused(facts(1), c, status::invalid_argument);
  // reduce-scatter in place: recv is this rank's part of send.
  c = call(b, coll_kind::reduce_scatter, 100);
  c.send = b.out.data();
  c.recv = b.out.data() + 100 * 3;
  CHECK(run(facts(3), c).r.st == status::success);
  expect_refused(facts(2), c, status::invalid_argument);
}

TEST_CASE("runtime call: options", "[runtime]") {
  buffers b;
  coll_call c = call(b);
  c.opt.nchannels = 5; // max_channels is 4
  expect_refused(facts(), c, status::invalid_argument);
  c.opt.nchannels = -1;
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b);
  c.opt.proto = weft::protocol(7);
  expect_refused(facts(), c, status::invalid_argument);
  c = call(b, coll_kind::all_gather);
  c.opt.algo = weft::algorithm::recursive_doubling;
  expect_refused(facts(), c, status::unsupported);
  c = call(b);
  c.opt.algo = weft::algorithm::rabenseifner; // not made at creation
  expect_refused(facts(), c, status::unsupported);
  comm_facts f = facts();
  f.recursive_ready = true;
  CHECK(run(f, c).r.st == status::success);
  CHECK(run(f, c).r.plan.algo == weft::algorithm::rabenseifner);
  // Every algorithm the enum names is either served or refused as unsupported, never run as another.
  for (int a = 0; a < weft::algorithm_count; ++a) {
    weft::algorithm const al = weft::algorithm(a);
    c.opt.algo = al;
    outcome const o = run(f, c);
    INFO(weft::to_string(al));
    bool const served = al == weft::algorithm::ring || al == weft::algorithm::recursive_doubling ||
                        al == weft::algorithm::rabenseifner || al == weft::algorithm::tree ||
                        al == weft::algorithm::hierarchical; // nvls: no multicast window in these facts
    CHECK(o.r.st == (served ? status::success : status::unsupported));
    if (served) CHECK(o.r.plan.algo == al);
  }
}

TEST_CASE("runtime call: direct all-gather needs a registered output", "[runtime]") {
  buffers b;
  coll_call c = call(b, coll_kind::all_gather, 64);
  c.opt.direct = true;
  c.opt.proto = weft::protocol::simple;
  expect_refused(facts(), c, status::invalid_argument); // nothing registered
  comm_facts f = facts();
  f.registered = [&](void const* p, std::size_t bytes) {
    auto const base = reinterpret_cast<std::uintptr_t>(b.out.data());
    auto const q = reinterpret_cast<std::uintptr_t>(p);
    return q >= base && q + bytes <= base + b.out.size() * sizeof(float);
  };
  outcome o = run(f, c);
  CHECK(o.r.st == status::success);
  CHECK(o.r.plan.direct);
  c.opt.proto = weft::protocol::ll;
  expect_refused(f, c, status::unsupported);
  c.opt.proto = weft::protocol::simple;
  f.peer_access = false;
  expect_refused(f, c, status::unsupported);
  c = call(b, coll_kind::all_reduce);
  c.opt.direct = true;
  expect_refused(facts(), c, status::unsupported);
}

TEST_CASE("runtime call: a stream on another device", "[runtime]") {
  buffers b;
  outcome const o = run(facts(), call(b), /*dev=*/1);
  CHECK(o.r.st == status::invalid_argument);
  CHECK(o.launches == 0);
  CHECK(o.stream_queries == 1);
  // A capturing stream's device is not asked (-1, unknown): the check passes it
  // on to the launch rather than refusing every captured call.
  outcome const unknown = run(facts(), call(b), /*dev=*/-1);
  CHECK(unknown.r.st == status::success);
  CHECK(unknown.launches == 1);
}

TEST_CASE("runtime call: argument checks come before any stream query", "[runtime]") {
  buffers b;
  coll_call c = call(b);
  c.send = nullptr;
  outcome const o = run(facts(), c);
  CHECK(o.stream_queries == 0);
  // A stream that cannot be queried stops the call too.
  outcome q;
  q.r = weft::run_call(
      facts(), call(b), [](weft::stream_facts&) { return status::cuda_error; }, nullptr,
      [&](weft::launch_plan const&) {
        ++q.launches;
        return status::success;
      });
  CHECK(q.r.st == status::cuda_error);
  CHECK(q.launches == 0);
}

TEST_CASE("runtime call: empty calls succeed without a launch or a stream query", "[runtime]") {
  coll_call c;
  c.count = 0; // null buffers are fine with nothing to move
  outcome const o = run(facts(), c);
  CHECK(o.r.st == status::success);
  CHECK(o.launches == 0);
  CHECK(o.stream_queries == 0);
  c.opt.nchannels = 9; // but a bad option is still refused
  CHECK(run(facts(), c).r.st == status::invalid_argument);
}

TEST_CASE("runtime call: graph capture refuses resource-making calls only", "[runtime]") {
  weft::stream_facts s;
  s.capturing = true;
  CHECK(weft::check_not_capturing(s).st == status::unsupported);
  s.capturing = false;
  CHECK(weft::check_not_capturing(s).st == status::success);
}

TEST_CASE("runtime plan: the built-in policy", "[runtime]") {
  using weft::protocol;
  auto p = weft::default_plan(coll_kind::all_reduce, 1, 1 << 30, 8, true);
  CHECK(p.proto == protocol::simple);
  CHECK(p.nchannels == 1);
  p = weft::default_plan(coll_kind::all_reduce, 8, 4096, 8, false);
  CHECK(p.proto == protocol::ll);
  CHECK(p.algo == weft::algorithm::ring);
  p = weft::default_plan(coll_kind::all_reduce, 8, 4096, 8, true);
  CHECK(p.algo == weft::algorithm::recursive_doubling);
  p = weft::default_plan(coll_kind::all_gather, 8, 4096, 8, true);
  CHECK(p.algo == weft::algorithm::ring);
  p = weft::default_plan(coll_kind::all_reduce, 8, 3u << 20, 8, false);
  CHECK(p.proto == protocol::simple);
  CHECK(p.nchannels == 3);
  p = weft::default_plan(coll_kind::all_reduce, 8, std::size_t(1) << 30, 8, false);
  CHECK(p.nchannels == 8);
}

TEST_CASE("runtime plan: the built-in policy picks direct all-reduce where a window exists", "[runtime]") {
  using weft::direct_flavour;
  comm_facts::window const w{4, std::size_t(64) << 10, std::size_t(1) << 10};
  auto p = weft::default_plan(coll_kind::all_reduce, 4, 8, 4, true, w);
  REQUIRE(p.flavour);
  CHECK(*p.flavour == direct_flavour::ll);
  CHECK(p.nchannels == 1);
  p = weft::default_plan(coll_kind::all_reduce, 4, 4096, 4, true, w); // one LL round on each of 4 blocks
  REQUIRE(p.flavour);
  CHECK(*p.flavour == direct_flavour::ll);
  CHECK(p.nchannels == 4);
  p = weft::default_plan(coll_kind::all_reduce, 4, 4097, 4, true, w);
  REQUIRE(p.flavour);
  CHECK(*p.flavour == direct_flavour::one_shot);
  CHECK(p.nchannels == 1);
  p = weft::default_plan(coll_kind::all_reduce, 8, std::size_t(1) << 20, 4, true, w);
  REQUIRE(p.flavour);
  CHECK(*p.flavour == direct_flavour::one_shot);
  CHECK(p.nchannels == 4);
  // Above 1 MiB, above 8 ranks, other collectives, one rank, no window: not direct.
  CHECK_FALSE(weft::default_plan(coll_kind::all_reduce, 8, (std::size_t(1) << 20) + 4, 4, true, w).flavour);
  CHECK_FALSE(weft::default_plan(coll_kind::all_reduce, 9, 8, 4, true, w).flavour);
  CHECK(weft::default_plan(coll_kind::all_reduce, 9, 8, 4, true, w).algo == weft::algorithm::recursive_doubling);
  CHECK_FALSE(weft::default_plan(coll_kind::all_gather, 4, 8, 4, true, w).flavour);
  CHECK_FALSE(weft::default_plan(coll_kind::all_reduce, 1, 8, 4, true, w).flavour);
  CHECK_FALSE(weft::default_plan(coll_kind::all_reduce, 4, 8, 4, true).flavour);
}

TEST_CASE("runtime call: direct all-reduce flavours over the communicator's window", "[runtime]") {
  using weft::direct_flavour;
  buffers b;
  comm_facts none = facts(); // no window
  comm_facts win = facts();
  win.max_channels = 8;
  win.direct = {2, std::size_t(64) << 10, std::size_t(1) << 10};
  for (direct_flavour fl : {direct_flavour::one_shot, direct_flavour::two_shot, direct_flavour::ll}) {
    INFO(weft::to_string(fl));
    coll_call c = call(b);
    c.opt.flavour = fl;
    // Without a window: refused with the reason, nothing launched.
    outcome o = run(none, c);
    CHECK(o.r.st == status::unsupported);
    CHECK(std::string(o.r.why).find("direct_blocks") != std::string::npos);
    CHECK(o.launches == 0);
    // With one: served, on at most direct_blocks blocks, whatever the default would use.
    o = run(win, c);
    REQUIRE(o.r.st == status::success);
    CHECK(o.launches == 1);
    REQUIRE(o.r.plan.flavour);
    CHECK(*o.r.plan.flavour == fl);
    CHECK(o.r.plan.nchannels >= 1);
    CHECK(o.r.plan.nchannels <= 2);
    c.count = 4000000 / 4; // the default would use 3 channels: clamped to the window's 2
    std::vector<float> big(c.count);
    c.send = c.recv = big.data(); // in place
    o = run(win, c);
    REQUIRE(o.r.st == status::success);
    CHECK(o.r.plan.nchannels == 2);
    // Asking for more blocks than the window has is an error, not a silent clamp.
    c.opt.nchannels = 3;
    expect_refused(win, c, status::invalid_argument);
    c.opt.nchannels = 2;
    CHECK(run(win, c).r.st == status::success);
  }
  coll_call c = call(b);
  c.opt.flavour = direct_flavour::two_shot;
  // Conflicting options and other collectives.
  c.opt.algo = weft::algorithm::tree;
  expect_refused(win, c, status::invalid_argument);
  c.opt.algo = weft::algorithm::ring; // the ring names no other algorithm: accepted
  CHECK(run(win, c).r.st == status::success);
  c.opt.algo.reset();
  c.opt.direct = true;
  expect_refused(win, c, status::invalid_argument);
  c.opt.direct.reset();
  c.opt.flavour = direct_flavour(7);
  expect_refused(win, c, status::invalid_argument);
  coll_call g = call(b, coll_kind::all_gather, 100);
  g.opt.flavour = direct_flavour::one_shot;
  expect_refused(win, g, status::unsupported);
  // A selector's flavour is dropped where it cannot run, and an explicit algorithm wins over it.
  weft::plan_selector sel = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
    p.flavour = direct_flavour::ll;
    p.nchannels = 8;
    return true;
  };
  outcome o = run(none, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK_FALSE(o.r.plan.flavour);
  o = run(win, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  REQUIRE(o.r.plan.flavour);
  CHECK(o.r.plan.nchannels == 2);
  o = run(win, call(b, coll_kind::reduce_scatter, 64), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK_FALSE(o.r.plan.flavour);
  c = call(b);
  c.opt.algo = weft::algorithm::ring;
  o = run(win, c, 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK_FALSE(o.r.plan.flavour);
  // The built-in policy on a window: a small all-reduce goes direct...
  o = run(win, call(b, coll_kind::all_reduce, 2));
  REQUIRE(o.r.st == status::success);
  REQUIRE(o.r.plan.flavour);
  CHECK(*o.r.plan.flavour == direct_flavour::ll);
  // ...unless the call asks for more channels than the window has blocks (then the prims-based plan)...
  coll_call wide = call(b, coll_kind::all_reduce, 2);
  wide.opt.nchannels = 3;
  o = run(win, wide);
  REQUIRE(o.r.st == status::success);
  CHECK_FALSE(o.r.plan.flavour);
  CHECK(o.r.plan.nchannels == 3);
  // ...or names a protocol: then the ring with that protocol.
  for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128}) {
    coll_call k = call(b, coll_kind::all_reduce, 2);
    k.opt.proto = p;
    o = run(win, k);
    REQUIRE(o.r.st == status::success);
    CHECK_FALSE(o.r.plan.flavour);
    CHECK(o.r.plan.proto == p);
    CHECK(o.r.plan.algo == weft::algorithm::ring);
  }
}

TEST_CASE("runtime call: nvls over the communicator's multicast window", "[runtime]") {
  using weft::algorithm;
  buffers b;
  comm_facts none = facts(); // no multicast window
  comm_facts mc = facts();
  mc.max_channels = 8;
  mc.nvls = {2, std::size_t(256) << 10};
  for (coll_kind k : {coll_kind::all_reduce, coll_kind::all_gather, coll_kind::reduce_scatter}) {
    INFO(weft::to_string(k));
    coll_call c = call(b, k, 100);
    c.opt.algo = algorithm::nvls;
    // Without a window: unsupported, the reason naming what is missing, nothing launched.
    outcome o = run(none, c);
    CHECK(o.r.st == status::unsupported);
    CHECK(std::string(o.r.why).find("nvls_blocks") != std::string::npos);
    CHECK(o.launches == 0);
    // With one: served on at most nvls_blocks blocks, whatever the protocol.
    o = run(mc, c);
    REQUIRE(o.r.st == status::success);
    CHECK(o.launches == 1);
    CHECK(o.r.plan.algo == algorithm::nvls);
    CHECK(o.r.plan.nchannels >= 1);
    CHECK(o.r.plan.nchannels <= 2);
    c.opt.proto = weft::protocol::ll128;
    CHECK(run(mc, c).r.plan.algo == algorithm::nvls);
    c.opt.proto.reset();
    // More blocks than the window has: refused, not clamped.
    c.opt.nchannels = 3;
    expect_refused(mc, c, status::invalid_argument);
    c.opt.nchannels = 2;
    CHECK(run(mc, c).r.st == status::success);
    // No recursive connections are needed (facts() has none).
    CHECK_FALSE(mc.recursive_ready);
  }
  // Broadcast, reduce and all-to-all have no NVLS form.
  for (coll_kind k : {coll_kind::broadcast, coll_kind::reduce}) {
    coll_call c = call(b, k, 100);
    c.opt.algo = algorithm::nvls;
    expect_refused(mc, c, status::unsupported);
  }
  // Not together with a direct flavour or direct transfers.
  coll_call c = call(b);
  c.opt.algo = algorithm::nvls;
  c.opt.flavour = weft::direct_flavour::one_shot;
  expect_refused(mc, c, status::invalid_argument);
  coll_call g = call(b, coll_kind::all_gather, 100);
  g.opt.algo = algorithm::nvls;
  g.opt.direct = true;
  expect_refused(mc, g, status::unsupported);
  // The built-in policy never picks NVLS by itself.
  for (std::size_t n : {std::size_t(2), std::size_t(4096)}) {
    std::vector<float> big(n * 1024);
    coll_call k = call(b, coll_kind::all_reduce, big.size());
    k.send = k.recv = big.data();
    CHECK(run(mc, k).r.plan.algo != algorithm::nvls);
  }
  // A selector's NVLS choice runs where the window exists, is clamped to its blocks,
  // becomes the ring without one, and yields to an explicit protocol or direct request.
  weft::plan_selector sel = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
    p.algo = algorithm::nvls;
    p.nchannels = 8;
    return true;
  };
  outcome o = run(mc, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::nvls);
  CHECK(o.r.plan.nchannels == 2);
  o = run(none, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
  o = run(mc, call(b, coll_kind::broadcast, 64), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
  coll_call p = call(b);
  p.opt.proto = weft::protocol::simple;
  o = run(mc, p, 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
  coll_call wide = call(b);
  wide.opt.nchannels = 3;
  o = run(mc, wide, 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
  CHECK(o.r.plan.nchannels == 3);
  // The name round-trips.
  algorithm a = algorithm::ring;
  CHECK(weft::parse_algorithm("nvls", a));
  CHECK(a == algorithm::nvls);
  CHECK(std::string(weft::to_string(algorithm::nvls)) == "nvls");
}

TEST_CASE("runtime call: hierarchical all-reduce and its layouts", "[runtime]") {
  using weft::algorithm;
  using weft::hier_layout;
  buffers b;
  comm_facts f = facts(1, 8);
  coll_call c = call(b);
  c.opt.algo = algorithm::hierarchical;
  // Over the point-to-point connections only.
  expect_refused(f, c, status::unsupported);
  f.recursive_ready = true;
  // No layout anywhere: the automatic one (8 ranks: inner teams of 2).
  outcome o = run(f, c);
  REQUIRE(o.r.st == status::success);
  CHECK(o.launches == 1);
  CHECK(o.r.plan.algo == algorithm::hierarchical);
  CHECK(o.r.plan.hier.inner == 2);
  // The communicator's layout, then the call's.
  f.hier.inner = 4;
  f.hier.outer = algorithm::tree;
  o = run(f, c);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.hier.inner == 4);
  CHECK(o.r.plan.hier.outer == algorithm::tree);
  hier_layout three;
  three.inner = 2;
  three.middle = 2;
  three.within = algorithm::recursive_doubling;
  c.opt.hier = three;
  o = run(f, c);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.hier.inner == 2);
  CHECK(o.r.plan.hier.middle == 2);
  CHECK(o.r.plan.hier.within == algorithm::recursive_doubling);
  // Layouts that do not fit 8 ranks, or name an algorithm a level cannot run.
  for (hier_layout bad : {hier_layout{3, 1, algorithm::ring, algorithm::ring}, hier_layout{2, 3, algorithm::ring, algorithm::ring},
                          hier_layout{2, 1, algorithm::hierarchical, algorithm::ring},
                          hier_layout{2, 1, algorithm::ring, algorithm::rank_order}}) {
    c.opt.hier = bad;
    expect_refused(f, c, status::unsupported);
  }
  // All-gather: served with the same layouts; the rooted collectives: not offered.
  coll_call g = call(b, coll_kind::all_gather, 100);
  g.opt.algo = algorithm::hierarchical;
  g.opt.hier = three;
  o = run(f, g);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::hierarchical);
  CHECK(o.r.plan.hier.middle == 2);
  g.opt.hier = hier_layout{3, 1, algorithm::ring, algorithm::ring};
  expect_refused(f, g, status::unsupported);
  g.opt.hier = three;
  g.opt.direct = true; // direct transfers follow the ring
  g.opt.proto = weft::protocol::simple;
  expect_refused(f, g, status::unsupported);
  for (coll_kind k : {coll_kind::broadcast, coll_kind::reduce}) {
    coll_call rs = call(b, k, 100);
    rs.opt.algo = algorithm::hierarchical;
    expect_refused(f, rs, status::unsupported);
  }
  // Reduce-scatter: served with the caller's workspace of nranks x count elements.
  {
    std::vector<float> in(8 * 100), out(100), work(8 * 100 + 1);
    coll_call rs = call(b, coll_kind::reduce_scatter, 100);
    rs.send = in.data();
    rs.recv = out.data();
    rs.opt.algo = algorithm::hierarchical;
    rs.opt.hier = three;
    expect_refused(f, rs, status::invalid_argument); // no workspace
    {
      outcome const r0 = run(f, rs);
      CHECK(std::string(r0.r.why).find("call_options::scratch") != std::string::npos);
    }
    rs.opt.scratch = work.data();
    rs.opt.scratch_bytes = 8 * 100 * sizeof(float) - 4; // one element short
    expect_refused(f, rs, status::invalid_argument);
    rs.opt.scratch_bytes = 8 * 100 * sizeof(float);
    o = run(f, rs);
    REQUIRE(o.r.st == status::success);
    CHECK(o.r.plan.algo == algorithm::hierarchical);
    CHECK(o.r.plan.hier.middle == 2);
    rs.opt.scratch = reinterpret_cast<char*>(work.data()) + 2; // misaligned
    expect_refused(f, rs, status::invalid_argument);
    rs.opt.scratch = in.data() + 4; // overlaps the input
    expect_refused(f, rs, status::invalid_argument);
    rs.opt.scratch = out.data(); // overlaps the output
    rs.opt.scratch_bytes = 8 * 100 * sizeof(float);
    expect_refused(f, rs, status::invalid_argument);
    // A layout with one busy level keeps no partial sums: no workspace needed.
    rs.opt.scratch = nullptr;
    rs.opt.scratch_bytes = 0;
    rs.opt.hier = hier_layout{8, 1, algorithm::ring, algorithm::ring};
    o = run(f, rs);
    REQUIRE(o.r.st == status::success);
    CHECK(o.r.plan.algo == algorithm::hierarchical);
    // A layout that does not fit: unsupported, as for all-reduce.
    rs.opt.hier = hier_layout{3, 1, algorithm::ring, algorithm::ring};
    expect_refused(f, rs, status::unsupported);
    // A selector's hierarchical reduce-scatter without a workspace runs the ring; with one, itself.
    weft::plan_selector hs = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
      p.algo = algorithm::hierarchical;
      p.hier = weft::hier_layout{2, 2, algorithm::ring, algorithm::ring};
      return true;
    };
    coll_call sel_rs = call(b, coll_kind::reduce_scatter, 100);
    sel_rs.send = in.data();
    sel_rs.recv = out.data();
    o = run(f, sel_rs, 0, &hs);
    REQUIRE(o.r.st == status::success);
    CHECK(o.r.plan.algo == algorithm::ring);
    sel_rs.opt.scratch = work.data();
    sel_rs.opt.scratch_bytes = work.size() * sizeof(float);
    o = run(f, sel_rs, 0, &hs);
    REQUIRE(o.r.st == status::success);
    CHECK(o.r.plan.algo == algorithm::hierarchical);
  }
  // A selector's hierarchical choice: its own layout, else the communicator's, else the ring.
  hier_layout from_selector{};
  weft::plan_selector sel = [&](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan& p) {
    p.algo = algorithm::hierarchical;
    p.hier = from_selector;
    return true;
  };
  comm_facts bare = facts(1, 8);
  bare.recursive_ready = true;
  o = run(bare, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
  o = run(f, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::hierarchical);
  CHECK(o.r.plan.hier.inner == 4);
  from_selector.inner = 8;
  o = run(f, call(b), 0, &sel);
  CHECK(o.r.plan.hier.inner == 8);
  from_selector.inner = 3; // does not fit: the ring, not a refusal (the call asked for nothing)
  o = run(f, call(b), 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(o.r.plan.algo == algorithm::ring);
}

TEST_CASE("runtime plan: a selector decides, overrides win, impossible choices fall back", "[runtime]") {
  buffers b;
  int asked = 0;
  std::size_t asked_bytes = 0;
  weft::plan_selector sel = [&](coll_kind, int, std::size_t bytes, std::size_t, int, weft::launch_plan& p) {
    ++asked;
    asked_bytes = bytes;
    p.proto = weft::protocol::ll128;
    p.nchannels = 64;                           // more than the communicator has: clamped
    p.algo = weft::algorithm::rabenseifner;     // not made: falls back to the ring
    p.direct = true;                            // not registered: falls back
    return true;
  };
  coll_call c = call(b, coll_kind::all_gather, 100);
  outcome o = run(facts(1, 4), c, 0, &sel);
  REQUIRE(o.r.st == status::success);
  CHECK(asked == 1);
  CHECK(asked_bytes == 100 * 4 * 4); // nccl-tests' size of an all-gather: the total
  CHECK(o.r.plan.proto == weft::protocol::ll128);
  CHECK(o.r.plan.nchannels == 4);
  CHECK(o.r.plan.algo == weft::algorithm::ring);
  CHECK_FALSE(o.r.plan.direct);
  c.opt.proto = weft::protocol::simple;
  c.opt.nchannels = 2;
  o = run(facts(1, 4), c, 0, &sel);
  CHECK(o.r.plan.proto == weft::protocol::simple);
  CHECK(o.r.plan.nchannels == 2);
  // A selector that declines leaves the built-in policy.
  weft::plan_selector none = [](coll_kind, int, std::size_t, std::size_t, int, weft::launch_plan&) { return false; };
  o = run(facts(1, 4), call(b, coll_kind::all_reduce, 64), 0, &none);
  CHECK(o.r.plan.proto == weft::protocol::ll);
}

TEST_CASE("runtime call: all_to_all", "[runtime]") {
  buffers b; // 4096 floats each: 4 ranks x 256 per peer = 1024
  coll_call c = call(b, coll_kind::all_to_all, 256);
  // Without point-to-point connections: refused with the reason, nothing launched.
  outcome o = run(facts(), c);
  CHECK(o.r.st == status::unsupported);
  CHECK(std::string(o.r.why).find("recursive_connections") != std::string::npos);
  CHECK(o.launches == 0);
  comm_facts f = facts();
  f.recursive_ready = true;
  o = run(f, c);
  REQUIRE(o.r.st == status::success);
  CHECK(o.launches == 1);
  CHECK(o.r.plan.algo == weft::algorithm::ring); // the pairwise exchange
  // Both buffers hold nranks x count: a count whose n-rank size overflows is refused.
  coll_call big = c;
  big.count = std::numeric_limits<std::size_t>::max() / 8;
  CHECK(run(f, big).r.st == status::invalid_argument);
  // Overlap of any kind (in place included) is refused.
  coll_call ip = c;
  ip.recv = b.in.data();
  o = run(f, ip);
  CHECK(o.r.st == status::unsupported);
  CHECK(o.launches == 0);
  coll_call shifted = c;
  shifted.recv = b.in.data() + 512; // send [0, 1024) and recv [512, 1536) overlap
  CHECK(run(f, shifted).r.st == status::unsupported);
  coll_call apart = c;
  apart.recv = b.in.data() + 1024; // adjacent, not overlapping
  CHECK(run(f, apart).r.st == status::success);
  // A recursive algorithm is not offered for it.
  coll_call rd = c;
  rd.opt.algo = weft::algorithm::recursive_doubling;
  CHECK(run(f, rd).r.st == status::unsupported);
}
