// Tracing the ring family: the steps a trace records are the steps the prims
// take (checked against the CPU communicator's connection counters and by
// hand), the trace options and errors, and the verifier over every traced
// algorithm for 1..16 ranks. Also the worked example of docs/schedules.md:
// tracing an algorithm of your own.
#include "trace_test_util.hpp"

#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_team.hpp>

#include <set>
#include <utility>

using namespace trace_test;

TEST_CASE("trace: a 3-rank ring all-reduce, step by step", "[trace]") {
  trace_options o;
  o.step_elems = 16;
  schedule s = trace_ring_all_reduce(3, 1, 48, o);
  REQUIRE(s.steps.size() == 15);
  REQUIRE(s.coll == collective::all_reduce);
  REQUIRE(s.name == "ring");
  REQUIRE(s.slot_bytes == 64);
  struct want {
    step_op op;
    buf src;
    std::size_t so;
    buf dst;
    std::size_t d_o;
    bool post;
  };
  // rank 0: chunk 2 starts the reduce-scatter, chunk 0 completes here, chunks 2 and 1 come back.
  want const w[] = {{step_op::send, buf::input, 32, buf::none, 0, false},
                    {step_op::recv_reduce_send, buf::input, 16, buf::none, 0, false},
                    {step_op::recv_reduce_copy_send, buf::input, 0, buf::output, 0, true},
                    {step_op::recv_copy_send, buf::none, 0, buf::output, 32, false},
                    {step_op::recv, buf::none, 0, buf::output, 16, false}};
  for (long long k = 0; k < 5; ++k) {
    step const& t = s.steps[step_at(s, 0, 0, k)];
    INFO("rank 0 step " << k);
    CHECK(t.op == w[k].op);
    CHECK(t.src == w[k].src);
    CHECK(t.src_offset == w[k].so);
    CHECK(t.dst == w[k].dst);
    CHECK(t.dst_offset == w[k].d_o);
    CHECK(t.post == w[k].post);
    CHECK(t.count == 16);
    CHECK(t.recv_peer == (t.receives() ? 2 : -1));
    CHECK(t.send_peer == (t.sends() ? 1 : -1));
    CHECK(t.index == k);
  }
  // linked: rank 0's first receive consumes rank 2's first send; its first send frees nothing (nslots 8)
  step const& r0 = s.steps[step_at(s, 0, 0, 1)];
  REQUIRE(r0.matching_send == (long long)step_at(s, 2, 0, 0));
  REQUIRE(s.steps[std::size_t(r0.matching_send)].matching_recv == (long long)step_at(s, 0, 0, 1));
  REQUIRE(s.steps[step_at(s, 0, 0, 0)].credit_recv == -1);
}

TEST_CASE("trace: credit links with few slots", "[trace]") {
  trace_options o;
  o.step_elems = 16;
  o.nslots = 2;
  schedule s = trace_ring_all_gather(2, 1, 64, o); // 4 chunk-steps: copy_send, recv, ...
  step const& third_send = s.steps[step_at(s, 0, 0, 4)];
  REQUIRE(third_send.op == step_op::copy_send);
  REQUIRE(third_send.send_index == 2);
  REQUIRE(third_send.credit_recv == (long long)step_at(s, 1, 0, 1)); // rank 1's receive #0 frees slot 0
}

// Runs collective `c` of schedule `s` (its count; root n - 1) on the CPU team,
// every input 1.
static weft::status run_like_trace(schedule const& s, collective c, weft::cpu_comm& comm, weft::cpu_team& team,
                                   weft::coll_options const& co) {
  int const n = s.nranks;
  std::size_t const count = s.count;
  std::size_t const in_elems = buffer_elems(s, buf::input), out_elems = buffer_elems(s, buf::output);
  std::vector<std::vector<float>> in(std::size_t(n), std::vector<float>(in_elems + 1, 1.0f));
  std::vector<std::vector<float>> out(std::size_t(n), std::vector<float>(out_elems + 1, 0.0f));
  return team.run([&](weft::team_rank& tr) {
    float const* x = in[std::size_t(tr.rank())].data();
    float* y = out[std::size_t(tr.rank())].data();
    switch (c) {
      case collective::all_reduce: return weft::all_reduce(comm, tr, x, y, count, weft::op::sum<float>{}, co);
      case collective::all_gather: return weft::all_gather(comm, tr, x, y, count, co);
      case collective::reduce_scatter: return weft::reduce_scatter(comm, tr, x, y, count, weft::op::sum<float>{}, co);
      case collective::broadcast: return weft::broadcast(comm, tr, x, y, count, n - 1, co);
      case collective::reduce: return weft::reduce(comm, tr, x, y, count, n - 1, weft::op::sum<float>{}, co);
    }
    return weft::status::internal_error;
  });
}

// Trace options that cut the data as a communicator with `cfg` does (root n - 1).
static trace_options like_comm(weft::cpu_comm_config const& cfg, weft::protocol p, int n) {
  trace_options o;
  o.proto = p;
  o.slot_bytes = cfg.slot_bytes(p);
  o.nslots = cfg.nslots;
  o.root = n - 1;
  return o;
}

// The trace cuts data exactly like the prims: after running each collective on
// the CPU team, every connection's step counter equals the number of sends the
// trace records on it.
TEST_CASE("trace: the same steps as the CPU communicator takes", "[trace]") {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 3;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 64; // 16 floats
  cfg.ll_slot_bytes = 64;     // 8 floats
  cfg.ll128_slot_bytes = 256; // 60 floats
  for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128})
    for (auto const& a : traced_algorithm_list)
      for (int n : {1, 2, 3, 5})
        for (int nch : {1, 3})
          for (std::size_t count : {std::size_t(0), std::size_t(7), std::size_t(100), std::size_t(333)}) {
            bool const direct = std::string(a.name) == "ring_direct";
            if (direct && p != weft::protocol::simple) continue;
            if (a.symmetric) continue; // symmetric-memory schedules: the communicator has none (test_trace_direct.cpp)
            INFO(to_string(a.coll) << " " << a.name << " " << weft::to_string(p) << " n " << n << " nch " << nch
                                   << " count " << count);
            schedule s = traced(a, n, nch, count, like_comm(cfg, p, n));
            weft::cpu_comm comm(n, cfg);
            weft::cpu_team team(n);
            weft::coll_options co;
            co.proto = p;
            co.nchannels = nch;
            co.direct = direct;
            co.algo = a.algo;
            co.hier = traced_hier_layout(a.name, n); // the layout a hierarchical entry traces with
            REQUIRE(run_like_trace(s, a.coll, comm, team, co) == weft::status::success);
            detail::link_table const L = detail::build_links(s);
            for (int ch = 0; ch < nch; ++ch)
              for (int r = 0; r < n && n > 1; ++r) {
                if (!a.pairs) {
                  std::size_t sends = 0;
                  for (auto const& k : L.conns)
                    if (k.sender == r && k.channel == ch) sends = k.sends.size();
                  CHECK(*comm.ring_conn(p, ch, r)->send_step == sends);
                  continue;
                }
                for (int q = 0; q < n; ++q) { // every point-to-point connection r -> q
                  if (q == r) continue;
                  std::size_t sends = 0;
                  for (auto const& k : L.conns)
                    if (k.sender == r && k.receiver == q && k.channel == ch) sends = k.sends.size();
                  weft::connection const c = comm.pair_conn(p, ch, r, q);
                  CHECK(*c.send_step == sends);
                }
              }
          }
}

// The same for the rail-rotated ring: every connection the trace records
// (sender -> receiver on a channel) carried as many steps on the CPU
// communicator, which takes each edge from the ring or the pair connections.
TEST_CASE("trace: the rail-rotated ring takes the CPU communicator's steps", "[trace][rail]") {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 3;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 64;
  cfg.ll_slot_bytes = 64;
  cfg.ll128_slot_bytes = 256;
  for (auto const& a : traced_algorithm_list) {
    if (!a.rail) continue;
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll128})
      for (int local : {2, 3}) {
        int const n = 2 * local, nch = 3;
        std::size_t const count = 333;
        INFO(to_string(a.coll) << " " << a.name << " " << weft::to_string(p) << " 2 x " << local);
        trace_options o = like_comm(cfg, p, n);
        o.ring_local = local;
        schedule s = traced(a, n, nch, count, o);
        weft::cpu_comm comm(n, cfg);
        weft::cpu_team team(n);
        weft::coll_options co;
        co.proto = p;
        co.nchannels = nch;
        co.ring_local = local;
        REQUIRE(run_like_trace(s, a.coll, comm, team, co) == weft::status::success);
        detail::link_table const L = detail::build_links(s);
        std::size_t rotated_edges = 0;
        for (auto const& k : L.conns) {
          weft::connection const c = weft::detail::ring_edge(comm, p, k.channel, k.sender, k.receiver);
          REQUIRE(c.send_step != nullptr);
          CHECK(*c.send_step == k.sends.size());
          rotated_edges += k.receiver != (k.sender + 1) % n;
        }
        CHECK(rotated_edges > 0); // channels 1 and 2 are rotated rings
      }
  }
}

TEST_CASE("trace: options, defaults and errors", "[trace]") {
  std::string err;
  // default step = what the prims derive from the protocol's default slot
  CHECK(trace_ring_all_reduce(2, 1, 10).slot_bytes == weft::protocol_defaults{}.simple_slot_bytes);
  CHECK(prims_step_elems(weft::protocol::simple, 128 << 10, 4) == 32768);
  CHECK(prims_step_elems(weft::protocol::ll, 16 << 10, 4) == 2048);
  CHECK(prims_step_elems(weft::protocol::ll128, 64 << 10, 4) == 15360);
  CHECK(prims_step_elems(weft::protocol::simple, 100, 4) == 16); // 25 elements, rounded down to 16
  trace_options o;
  o.proto = weft::protocol::ll;
  o.step_elems = 6;
  schedule s = trace_ring_all_reduce(3, 1, 30, o, &err);
  INFO(err);
  REQUIRE(err.empty());
  for (auto const& t : s.steps) CHECK(t.count <= 6);
  REQUIRE(s.proto == weft::protocol::ll);
  REQUIRE(s.slot_bytes == 48); // 6 x 4 bytes = 24 -> 3 LL lines of 8 data bytes (16 bytes each)
  o.step_elems = 5;             // 20 bytes: no whole number of LL lines carries exactly 5 floats
  CHECK(trace_ring_all_reduce(3, 1, 30, o, &err).steps.empty());
  CHECK(err.find("does not give step_elems 5") != std::string::npos);
  err.clear();

  auto refused = [&](schedule const& r, char const* why) {
    INFO(err);
    CHECK(r.steps.empty());
    CHECK(err.find(why) != std::string::npos);
    err.clear();
  };
  trace_options bad;
  bad.step_elems = 24;
  refused(trace_ring_all_reduce(4, 1, 100, bad, &err), "multiple of 16");
  refused(trace_ring_all_reduce(0, 1, 100, {}, &err), "nranks");
  refused(trace_ring_all_reduce(4, 0, 100, {}, &err), "nchannels");
  trace_options eb;
  eb.elem_bytes = 3;
  refused(trace_ring_all_reduce(4, 1, 100, eb, &err), "elem_bytes");
  trace_options root;
  root.root = 4;
  refused(trace_chain_broadcast(4, 1, 100, root, &err), "root");
  trace_options ll;
  ll.proto = weft::protocol::ll;
  refused(trace_ring_all_gather_direct(4, 1, 100, ll, &err), "Simple");
  refused(trace(collective::all_reduce, "spiral", 4, 1, 100, {}, &err), "known: ring");
  trace_options ll128;
  ll128.proto = weft::protocol::ll128;
  ll128.step_elems = 16; // a 120-byte LL128 line carries 30 floats, never 16
  refused(trace_ring_all_reduce(4, 1, 100, ll128, &err), "does not give step_elems");
  refused(trace_ring_all_reduce(4, 1, std::size_t(1) << 40, {}, &err), "too large");
}

TEST_CASE("trace: the registry", "[trace]") {
  // Families in their own headers add entries; these must be there.
  auto names = [](collective c) {
    std::string all;
    for (auto const& a : traced_algorithms(c)) all += std::string(" ") + a.name + " ";
    return all;
  };
  CHECK(mentions(names(collective::all_reduce), {" ring ", " recursive_doubling ", " rabenseifner ", " tree ",
                                                 " rank_order ", " hierarchical ", " hier_tree ", " hier_3level ",
                                                 " hier_rd_tree "}));
  CHECK(mentions(names(collective::all_gather), {" ring ", " ring_direct ", " hierarchical "}));
  CHECK(mentions(names(collective::reduce_scatter), {" ring ", " hierarchical "}));
  CHECK(traced_algorithms(collective::broadcast).size() >= 1);
  CHECK(traced_algorithms(collective::reduce).size() >= 1);
  std::string err;
  schedule s = trace(collective::all_gather, "ring_direct", 3, 1, 64, {}, &err);
  REQUIRE(err.empty());
  REQUIRE(s.name == "ring_direct");
  bool direct = false;
  for (auto const& t : s.steps) direct = direct || t.direct;
  REQUIRE(direct);
}

TEST_CASE("ring_order: the rail-rotated ring's positions and neighbours", "[trace][rail]") {
  for (int nodes : {1, 2, 3, 4})
    for (int local : {1, 2, 3, 8}) {
      int const n = nodes * local;
      for (int ch = 0; ch < 2 * local + 1; ++ch) {
        weft::ring_order const ord{local, ch};
        INFO("nodes " << nodes << " local " << local << " channel " << ch);
        // One node or one rank per node: the plain ring.
        CHECK(ord.rotated(n) == (nodes > 1 && local > 1 && ch % local != 0));
        std::vector<int> seen(std::size_t(n), 0);
        for (int p = 0; p < n; ++p) {
          int const r = ord.rank_at(p, n);
          REQUIRE(r >= 0);
          REQUIRE(r < n);
          ++seen[std::size_t(r)];
          CHECK(ord.position_of(r, n) == p);
          CHECK(r / local == p / local); // a node's ranks stay together
          CHECK(ord.next(ord.prev(r, n), n) == r);
          if (!ord.rotated(n)) CHECK(r == p);
        }
        for (int k : seen) CHECK(k == 1);
        if (nodes > 1) // channel ch enters every node at local index ch mod local
          for (int k = 0; k < nodes; ++k) CHECK(ord.rank_at(k * local, n) == k * local + ch % local);
      }
    }
  // Not whole nodes: refused by the communicators, the plain ring here.
  CHECK(weft::ring_local_problem(4, 12) == nullptr);
  CHECK(weft::ring_local_problem(8, 8) == nullptr);
  CHECK(weft::ring_local_problem(0, 5) == nullptr);
  CHECK(weft::ring_local_problem(4, 10) != nullptr);
  CHECK(weft::ring_local_problem(-1, 4) != nullptr);
  CHECK_FALSE(weft::ring_order{4, 1}.rotated(10));
}

// The rail-rotated ring family verified at several (nodes, local) shapes, 4 x 8
// among them, with channel counts below, at and above the node size (channel c
// and c + local share a ring), for every collective and protocol.
TEST_CASE("verify: the rail-rotated ring at several node shapes", "[verify][rail]") {
  struct shape {
    int nodes, local;
  };
  std::size_t checked = 0;
  for (shape const sh : {shape{2, 2}, shape{2, 3}, shape{3, 2}, shape{2, 4}, shape{4, 2}, shape{4, 8}})
    for (auto const& a : traced_algorithm_list) {
      if (!a.rail) continue;
      int const n = sh.nodes * sh.local;
      for (int nch : {1, 3, sh.local, sh.local + 3})
        for (std::size_t count : {std::size_t(1), std::size_t(16 * n + 5), std::size_t(97 * n + 3)}) {
          int const variant = (n + nch + int(count % 7)) % 3;
          trace_options o;
          o.proto = weft::protocol(variant);
          o.step_elems = o.proto == weft::protocol::simple ? 16 : o.proto == weft::protocol::ll ? 8 : 30;
          o.nslots = variant == 0 ? 2 : 8;
          o.root = (nch * 5 + 1) % n;
          o.ring_local = sh.local;
          schedule s = traced(a, n, nch, count, o);
          verify_result const r = verify(s);
          INFO(to_string(a.coll) << " " << a.name << " " << sh.nodes << " x " << sh.local << " nch " << nch << " count "
                                 << count << " proto " << weft::to_string(o.proto) << "\n"
                                 << show(r));
          REQUIRE(r.ok());
          REQUIRE(r.symbolic_checked);
          ++checked;
        }
    }
  CHECK(checked == 6 * 5 * 4 * 3);
}

// What the rotation is for: on 4 nodes x 8, eight channels leave every node
// from eight different ranks and enter the next node at eight different ranks,
// so every NIC carries one channel each way. The plain ring crosses on one.
TEST_CASE("trace: the rail-rotated ring crosses nodes on every NIC", "[trace][rail]") {
  int const nodes = 4, local = 8, n = nodes * local;
  auto crossings = [&](schedule const& s) {
    std::set<std::pair<int, int>> tx, rx; // (node, local index) of senders and receivers across nodes
    for (auto const& t : s.steps)
      if (t.sends() && t.send_peer >= 0 && t.send_peer / local != t.rank / local) {
        tx.insert({t.rank / local, t.rank % local});
        rx.insert({t.send_peer / local, t.send_peer % local});
      }
    return std::make_pair(tx.size(), rx.size());
  };
  trace_options o;
  o.step_elems = 16;
  o.ring_local = local;
  std::string err;
  schedule const rail = trace(collective::all_reduce, "ring_rail", n, local, 16 * n * local, o, &err);
  REQUIRE(err.empty());
  CHECK(crossings(rail) == std::make_pair(std::size_t(nodes * local), std::size_t(nodes * local)));
  schedule const plain = trace(collective::all_reduce, "ring", n, local, 16 * n * local, o, &err);
  REQUIRE(err.empty());
  CHECK(crossings(plain) == std::make_pair(std::size_t(nodes), std::size_t(nodes)));
  // Not whole nodes: refused with a reason.
  o.ring_local = 6;
  CHECK(trace(collective::all_reduce, "ring_rail", n, 2, 1000, o, &err).steps.empty());
  CHECK(err.find("multiple of ring_local") != std::string::npos);
}

// With one slot per connection a ring can deadlock once a step that receives
// and sends must send into a used slot: prims wait for credit before they
// consume, so when every rank of the cycle holds its incoming slot while it
// waits for the next rank to free its outgoing one, nothing moves. Whether the
// cycle closes depends on where the empty chunks fall (an empty chunk is a
// bubble that keeps the ring moving), which is what the verifier decides.
// Chains drain from their last rank and never deadlock.
static bool may_deadlock_with_one_slot(schedule const& s) {
  if (s.nslots != 1 || s.coll == collective::broadcast || s.coll == collective::reduce) return false;
  for (auto const& t : s.steps)
    if (t.receives() && t.sends() && t.send_index >= 1) return true;
  return false;
}

// Every algorithm the library can trace, for 1..16 ranks: counts 0, 1, a few
// non-divisible ones and one that loops over many chunks; 1..3 channels; every
// protocol's step shape; 1, 2 and 8 slots (so flow control is exercised).
TEST_CASE("verify: every traced algorithm for 1..16 ranks", "[verify]") {
  std::size_t checked = 0, deadlocks = 0;
  for (auto const& a : traced_algorithm_list)
    for (int n = 1; n <= 16; ++n)
      for (int nch = 1; nch <= 3; ++nch)
        for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(17), std::size_t(16 * n + 5),
                                  std::size_t(97 * n + 3)}) {
          int const variant = (n + nch + int(count % 7)) % 3;
          trace_options o;
          o.proto = std::string(a.name) == "ring_direct" ? weft::protocol::simple : weft::protocol(variant);
          if (!traces_under(a, o.proto)) o.proto = traces_under(a, weft::protocol::simple) ? weft::protocol::simple : weft::protocol::ll;
          o.step_elems = o.proto == weft::protocol::simple ? 16 : o.proto == weft::protocol::ll ? 8 : 30;
          o.nslots = variant == 0 ? 1 : variant == 1 ? 2 : 8;
          o.root = (n * 7 + 3) % n;
          if (a.rail) // a node size that divides n, varied with the channels (none: the plain ring)
            for (int d = 2 + nch % 2; d < n && o.ring_local == 0; ++d)
              if (n % d == 0) o.ring_local = d;
          schedule s = traced(a, n, nch, count, o);
          verify_result const r = verify(s);
          INFO(to_string(a.coll) << " " << a.name << " n " << n << " nch " << nch << " count " << count << " proto "
                                 << weft::to_string(o.proto) << " nslots " << o.nslots << "\n"
                                 << show(r));
          REQUIRE(r.races_exact);
          if (may_deadlock_with_one_slot(s) && !r.ok()) {
            REQUIRE(r.has(finding_kind::deadlock)); // see the next test
            for (auto const& f : r.findings) REQUIRE(f.kind == finding_kind::deadlock);
            ++deadlocks;
          } else {
            REQUIRE(r.ok());
            REQUIRE(r.symbolic_checked);
          }
          ++checked;
        }
  CHECK(deadlocks > 0);
  REQUIRE(checked == std::size(traced_algorithm_list) * 16 * 3 * 5);
}

// The verifier's deadlock is real: the CPU communicator, running the same
// source over weft::prims, stops with a timeout (or refuses one slot).
TEST_CASE("verify: one slot deadlocks the ring, on the CPU team too", "[verify]") {
  struct ring_case {
    collective coll;
    int n;
    std::size_t count;
    char const* blocked;
  };
  ring_case const cases[] = {
      {collective::all_reduce, 2, 17, "rank 0 channel 0 step 1 (recv_reduce_copy_send) waits for a free slot"},
      {collective::all_gather, 3, 16, "rank 0 channel 0 step 1 (recv_copy_send) waits for a free slot"},
      {collective::reduce_scatter, 3, 16, "rank 0 channel 0 step 1 (recv_reduce_send) waits for a free slot"},
  };
  for (auto const& c : cases) {
    INFO(to_string(c.coll));
    trace_options o;
    o.step_elems = 16;
    o.nslots = 1;
    schedule const s = trace(c.coll, "ring", c.n, 1, c.count, o);
    verify_result const r = verify(s);
    REQUIRE(r.has(finding_kind::deadlock));
    CHECK(mentions(r.first(finding_kind::deadlock)->message, {c.blocked}));
    o.nslots = 2;
    CHECK(verify(trace(c.coll, "ring", c.n, 1, c.count, o)).ok());

    weft::cpu_comm_config cfg;
    cfg.max_channels = 1;
    cfg.nslots = 1;
    cfg.simple_slot_bytes = 64;
    weft::cpu_comm comm(c.n, cfg);
    weft::team_options to;
    to.timeout_ns = 200'000'000;
    weft::cpu_team team(c.n, to);
    std::size_t const n = std::size_t(c.n);
    std::vector<std::vector<float>> in(n, std::vector<float>(n * c.count, 1.0f)), out(n, std::vector<float>(n * c.count));
    weft::status const st = team.run([&](weft::team_rank& tr) {
      float const* x = in[std::size_t(tr.rank())].data();
      float* y = out[std::size_t(tr.rank())].data();
      if (c.coll == collective::all_reduce) return weft::all_reduce(comm, tr, x, y, c.count, weft::op::sum<float>{});
      if (c.coll == collective::all_gather) return weft::all_gather(comm, tr, x, y, c.count);
      return weft::reduce_scatter(comm, tr, x, y, c.count, weft::op::sum<float>{});
    });
    INFO(comm.last_error(0));
    CHECK(st != weft::status::success);
  }
}

// ---- tracing an algorithm of your own (quoted in docs/schedules.md) ----

// example-begin trace_own_algorithm
// An all-gather written as one pipelined chain broadcast per rank, over any prims
// (the GPU's, the CPU team's or the tracer's).
template <class Prims, class T>
weft::status broadcast_all_gather(Prims& p, weft::ring_position pos, T const* in, T* out, std::size_t count,
                                  weft::elem_range r) {
  for (int root = 0; root < pos.nranks; ++root)
    WEFT_TRY(weft::chain_broadcast(p, pos, root, in, out + std::size_t(root) * count, r));
  return weft::status::success;
}

TEST_CASE("trace: an algorithm of your own", "[trace][example]") {
  weft::sim::trace_options o;
  o.step_elems = 64; // elements per step (one slot)
  std::string error;
  weft::sim::schedule s = weft::sim::trace_algorithm(
      "broadcasts", weft::sim::collective::all_gather, /*nranks=*/6, /*nchannels=*/2, /*count=*/1000, o,
      [](auto& p, auto const& c) {
        return broadcast_all_gather(p, weft::ring_position{c.rank, c.nranks}, c.in, c.out, c.count, c.range);
      },
      &error);
  REQUIRE(error.empty());
  weft::sim::verify_result v = weft::sim::verify(s);
  INFO(v.report());
  REQUIRE(v.ok());
}
// example-end trace_own_algorithm

TEST_CASE("trace: an algorithm that fails is reported", "[trace]") {
  std::string err;
  schedule s = trace_algorithm(
      "broken", collective::all_reduce, 2, 1, 32, {},
      [](auto& p, auto const& c) {
        return c.rank == 1 ? weft::status::invalid_argument : p.send(c.in, c.count);
      },
      &err);
  CHECK(s.steps.empty());
  CHECK(err.find("rank 1 channel 0") != std::string::npos);
  // a pointer that is not in a trace buffer
  err.clear();
  float local = 0;
  s = trace_algorithm(
      "stray", collective::all_reduce, 2, 1, 32, {},
      [&](auto& p, auto const&) {
        using T = typename std::decay_t<decltype(p)>::value_type;
        return p.send(reinterpret_cast<T const*>(&local), 1);
      },
      &err);
  CHECK(s.steps.empty());
  CHECK(err.find("not in a trace buffer") != std::string::npos);
}
