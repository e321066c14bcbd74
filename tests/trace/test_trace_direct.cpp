// Direct (symmetric memory) and NVLS (multicast) schedules traced from the
// algorithm source (weft/sim/trace_direct.hpp, trace_nvls.hpp): every schedule
// verifies (structure, exact race analysis, symbolic result) for 1..16 ranks,
// several channels and counts that take several rounds of the areas (so the
// parity reuse is checked), and at 72 ranks; schedules whose flags are removed
// are caught; JSON round trips; the interpreter runs them; the simulator times
// them (and refuses multicast without in-switch reduction); MSCCL XML refuses
// one-sided steps with a message; they are in the main registry under the names
// weft-sim and the tuner use; they verify at 576 ranks.
#include "trace_test_util.hpp"
#include "../sim/sim_test_util.hpp"

#include <weft/sim/interpret.hpp>
#include <weft/sim/msccl_xml.hpp>
#include <weft/sim/schedule_json.hpp>
#include <weft/sim/simulator.hpp>
#include <weft/sim/topology.hpp>
#include <weft/team/cpu_team.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <type_traits>
#include <vector>

using namespace trace_test;

namespace {

std::vector<traced_algorithm> symmetric_list() {
  std::vector<traced_algorithm> v(std::begin(traced_direct_list), std::end(traced_direct_list));
  v.insert(v.end(), std::begin(traced_nvls_list), std::end(traced_nvls_list));
  return v;
}

std::string label(traced_algorithm const& a) { return std::string(to_string(a.coll)) + " " + a.name; }

} // namespace

TEST_CASE("trace direct/nvls: every schedule verifies at 1..16 ranks", "[trace][direct]") {
  for (auto const& a : symmetric_list())
    for (int n = 1; n <= 16; ++n)
      for (int nch : {1, 2})
        for (std::size_t count : {std::size_t(0), std::size_t(7), std::size_t(100), std::size_t(333)}) {
          trace_options o;
          o.step_elems = 32;
          schedule s = traced(a, n, nch, count, o);
          verify_result const r = verify(s);
          INFO(label(a) << " n " << n << " nch " << nch << " count " << count << "\n" << show(r));
          REQUIRE(r.ok());
          REQUIRE(r.symbolic_checked);
          REQUIRE(r.races_exact);
        }
}

TEST_CASE("trace direct/nvls: the steps are one-sided and flag steps", "[trace][direct]") {
  trace_options o;
  o.step_elems = 16;
  schedule s = trace_direct_one_shot_all_reduce(4, 1, 16, o);
  std::size_t gets = 0, signals = 0, waits = 0;
  for (auto const& t : s.steps) {
    gets += t.op == step_op::get || t.op == step_op::get_reduce;
    signals += t.op == step_op::signal;
    waits += t.op == step_op::wait;
  }
  CHECK(gets == 4 * 3);    // every rank reads its 3 peers' areas
  CHECK(signals == 4 * 3); // one barrier
  CHECK(waits == 4 * 3);
  schedule m = trace_nvls_all_reduce(4, 1, 64, o);
  std::size_t lds = 0, sts = 0;
  for (auto const& t : m.steps) {
    lds += t.op == step_op::mc_ld_reduce;
    sts += t.op == step_op::mc_st;
  }
  CHECK(lds == 4);
  CHECK(sts == 4);
  CHECK(m.scratch_count > 0);
}

TEST_CASE("trace direct/nvls: every schedule verifies at 72 ranks", "[trace][direct][large]") {
  // One call, and two back to back with the callers touching their buffers between them.
  for (auto const& a : symmetric_list())
    for (int calls : {1, 2}) {
      trace_options o;
      o.step_elems = a.coll == collective::all_reduce ? 16 * 72 : 32; // two rounds
      o.calls = calls;
      std::size_t const count = a.coll == collective::all_reduce ? 72 * 16 + 5 : 32 + 5;
      schedule s = traced(a, 72, 1, count, o);
      verify_result const r = verify(s);
      INFO(label(a) << " calls " << calls << "\n" << show(r));
      REQUIRE(r.ok());
      REQUIRE(r.symbolic_checked);
      REQUIRE(r.races_exact); // the race analysis covers the callers' touches too
    }
}

TEST_CASE("trace direct/nvls: every schedule verifies at 576 ranks", "[trace][direct][large]") {
  // One round (count = the area): every barrier is 2 x 575 flag steps per rank, a
  // one-shot reduction 576 reads per rank, so a schedule is 0.3 - 0.7 million steps
  // (two rounds double that and the test's time, about 24 s on the project's 2-core
  // machine: one round covers every op; the parity reuse is checked at 1..16 and 72).
  // At this size the verifier's race analysis runs in the executor's interleaving
  // (every wait is on in a trace) and the symbolic check covers every output element.
  auto const t0 = std::chrono::steady_clock::now();
  for (auto const& a : symmetric_list()) {
    trace_options o;
    o.proto = traces_under(a, weft::protocol::simple) ? weft::protocol::simple : weft::protocol::ll;
    o.step_elems = 16;
    schedule s = traced(a, 576, 1, 16, o);
    verify_result const r = verify(s);
    INFO(label(a) << " steps " << s.steps.size() << "\n" << show(r));
    REQUIRE(r.ok());
    REQUIRE(r.symbolic_checked);
  }
  double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("direct/nvls at 576 ranks: traced and verified in %.1f s\n", secs);
}

TEST_CASE("trace direct/nvls: missing flags are caught", "[trace][direct]") {
  trace_options o;
  o.step_elems = 16;
  for (auto fn : {&trace_direct_ll_all_reduce, &trace_direct_two_shot_all_reduce, &trace_nvls_all_gather}) {
    schedule s = fn(3, 1, 40, o, nullptr);
    REQUIRE(verify(s).ok());
    // Remove every flag step: sends/receives still pair up, but nothing orders the data.
    schedule broken = s;
    broken.steps.clear();
    for (auto const& t : s.steps)
      if (!op_is_flag(t.op)) broken.steps.push_back(t);
    verify_result const r = verify(broken);
    INFO(r.report());
    CHECK_FALSE(r.ok());
    CHECK((r.has(finding_kind::buffer_race) || r.has(finding_kind::uninitialised_read)));
  }
  // A wait that does not wait: the verifier says the flag may be read before it is set.
  schedule s = trace_direct_one_shot_all_reduce(3, 1, 16, o);
  for (auto& t : s.steps)
    if (t.op == step_op::wait && t.rank == 1) t.waits_data = false;
  verify_result const r = verify(s);
  CHECK_FALSE(r.ok());
  CHECK(mentions(r.report(), {"rank 1", "wait"}));
}

TEST_CASE("trace direct/nvls: malformed one-sided steps are named", "[trace][direct]") {
  trace_options o;
  o.step_elems = 16;
  schedule s = trace_direct_one_shot_all_reduce(3, 1, 16, o);
  for (auto& t : s.steps)
    if (t.op == step_op::get) {
      t.peer = -1;
      break;
    }
  verify_result const r = verify(s);
  CHECK(r.has(finding_kind::malformed));
  CHECK(mentions(r.report(), {"names no peer"}));
}

TEST_CASE("trace direct/nvls: schedules run on the CPU team through the interpreter", "[trace][direct]") {
  for (auto const& a : symmetric_list())
    for (int n : {1, 3, 5})
      for (int ip = 0; ip < 2; ++ip) {
        trace_options o;
        o.step_elems = 16;
        std::size_t const count = 45; // three rounds of the areas
        schedule s = traced(a, n, 2, count, o);
        s.in_place = ip == 1;
        std::size_t const ni = buffer_elems(s, buf::input), no = buffer_elems(s, buf::output);
        std::size_t const store = s.in_place ? std::max(ni, no) : ni + no;
        std::vector<std::vector<float>> mem(static_cast<std::size_t>(n), std::vector<float>(store, -1.0f));
        std::vector<float const*> send(static_cast<std::size_t>(n));
        std::vector<float*> recv(static_cast<std::size_t>(n));
        auto x = [](int r, std::size_t j) { return float(1 + (r * 7 + int(j) * 3) % 11); };
        for (int r = 0; r < n; ++r) {
          float* base = mem[std::size_t(r)].data();
          float* in = base + (s.in_place ? in_place_offset(s, buf::input, r) : 0);
          recv[std::size_t(r)] = base + (s.in_place ? in_place_offset(s, buf::output, r) : ni);
          send[std::size_t(r)] = in;
          for (std::size_t j = 0; j < ni; ++j) in[j] = x(r, j);
        }
        std::string err;
        weft::status const st = weft::sim::interpret(s, send, recv, weft::op::sum<float>{}, {}, &err);
        INFO(label(a) << " n " << n << (s.in_place ? " in place" : "") << ": " << err);
        REQUIRE(st == weft::status::success);
        for (int r = 0; r < n; ++r)
          for (std::size_t j = 0; j < no; ++j) {
            float want = 0;
            if (a.coll == collective::all_gather) want = x(int(j / count), j % count);
            else
              for (int q = 0; q < n; ++q)
                want += x(q, a.coll == collective::reduce_scatter ? std::size_t(r) * count + j : j);
            INFO("rank " << r << " element " << j);
            REQUIRE(recv[std::size_t(r)][j] == want);
          }
      }
}

TEST_CASE("trace direct/nvls: JSON round trip; simulator and MSCCL refuse", "[trace][direct]") {
  trace_options o;
  o.step_elems = 16;
  for (auto const& a : symmetric_list()) {
    schedule s = traced(a, 5, 2, 77, o);
    std::string const j = write_json(s);
    schedule back;
    std::string err;
    INFO(label(a) << " " << err);
    REQUIRE(read_json(j, back, &err));
    REQUIRE(back.steps.size() == s.steps.size());
    for (std::size_t i = 0; i < s.steps.size(); ++i) {
      REQUIRE(back.steps[i].op == s.steps[i].op);
      REQUIRE(back.steps[i].peer == s.steps[i].peer);
    }
    REQUIRE(verify(back).ok());
    std::string xml;
    CHECK_FALSE(write_msccl_xml(s, xml, &err));
    CHECK(err.find("MSCCL XML has no") != std::string::npos);
  }
  // The simulator times them where the system has what they need.
  schedule s = trace_nvls_all_reduce(8, 1, 128, o);
  sim_result const res = simulate(s, sim_test::flat_symmetric(8));
  INFO(res.error);
  CHECK(res.ok);
  CHECK(res.time_us > 0);
  weft::sim::topology plain = sim_test::flat_symmetric(8);
  plain.nvlink.in_switch_reduction = false;
  sim_result const no = simulate(s, plain);
  CHECK_FALSE(no.ok);
  CHECK(no.error.find("in_switch_reduction") != std::string::npos);
}

TEST_CASE("trace direct/nvls: in the main registry, under the names weft-sim uses", "[trace][direct]") {
  std::size_t found = 0;
  for (auto const& a : symmetric_list()) {
    INFO(label(a));
    bool in_main = false;
    for (auto const& m : traced_algorithm_list)
      in_main = in_main || (m.coll == a.coll && std::string(m.name) == a.name && m.fn == a.fn);
    CHECK(in_main);
    CHECK(a.symmetric);
    found += in_main;
    // traced under its own name
    trace_options o;
    o.proto = traces_under(a, weft::protocol::simple) ? weft::protocol::simple : weft::protocol::ll;
    o.step_elems = 16;
    std::string err;
    schedule const s = trace(a.coll, a.name, 3, 1, 40, o, &err);
    INFO(err);
    REQUIRE_FALSE(s.steps.empty());
    CHECK(s.name == a.name);
  }
  CHECK(found == 11);
  for (char const* name : {"direct_one_shot", "direct_two_shot", "direct_ll", "nvls", "nvls_zero_copy"}) {
    bool ok = false;
    for (auto const& m : traced_algorithms(collective::all_reduce)) ok = ok || std::string(m.name) == name;
    INFO(name);
    CHECK(ok);
  }
  // Only NVLS needs switches that reduce, and only its zero-copy form the call's buffers
  // in multicast memory; the LL flavour runs under LL, the others under Simple.
  for (auto const& a : symmetric_list()) {
    INFO(label(a));
    bool const nvls = std::string(a.name) == "nvls" || std::string(a.name) == "nvls_zero_copy";
    CHECK(a.multicast == nvls);
    CHECK(a.zero_copy == (std::string(a.name) == "nvls_zero_copy"));
    CHECK(traces_under(a, weft::protocol::ll) == (std::string(a.name) == "direct_ll"));
    CHECK(traces_under(a, weft::protocol::simple) == (std::string(a.name) != "direct_ll"));
  }
}

TEST_CASE("trace nvls zero-copy: on the call's own buffers, nothing staged", "[trace][direct][zero-copy]") {
  trace_options o;
  o.step_elems = 16;
  struct expect {
    schedule s;
    buf reduced, stored; // the buffers mc_ld_reduce reads and mc_st writes (every rank's)
  };
  // The all-reduce has its input and output in multicast memory: reduced from
  // every input, stored into every output.
  expect const cases[] = {{trace_nvls_zero_copy_all_reduce(4, 1, 64, o), buf::input, buf::output},
                          {trace_nvls_zero_copy_all_gather(4, 1, 64, o), buf::none, buf::output},
                          {trace_nvls_zero_copy_reduce_scatter(4, 1, 64, o), buf::input, buf::none}};
  for (auto const& c : cases) {
    INFO(to_string(c.s.coll));
    std::size_t lds = 0, sts = 0, signals = 0, scratch = 0, local = 0;
    for (auto const& t : c.s.steps) {
      lds += t.op == step_op::mc_ld_reduce;
      sts += t.op == step_op::mc_st;
      signals += t.op == step_op::signal;
      local += t.op == step_op::local;
      scratch += t.src == buf::scratch || t.dst == buf::scratch;
      if (t.op == step_op::mc_ld_reduce) CHECK(t.src == c.reduced);
      if (t.op == step_op::mc_st) CHECK(t.dst == c.stored);
    }
    CHECK(local == 0);                                 // nothing is copied
    CHECK(scratch == 0);                               // no staging area is touched
    CHECK(signals == 4 * 3 * 2);                       // two barriers per rank
    CHECK(lds == (c.s.coll == collective::all_gather ? 0u : 4u));
    CHECK(sts == (c.s.coll == collective::reduce_scatter ? 0u : 4u));
    CHECK(verify(c.s).ok());
  }
  // The staged all-reduce moves the same data through the window as well.
  schedule const staged = trace_nvls_all_reduce(4, 1, 64, o);
  CHECK(staged.steps.size() > cases[0].s.steps.size());
}

TEST_CASE("trace nvls zero-copy: more ranks than one pass of sources, in place, through the interpreter", "[trace][direct][zero-copy]") {
  // In place, every rank's mc_ld_reduce reads its own range of its buffer among
  // its sources and writes it; past 8 sources the reduction takes several passes,
  // so the interpreter must reduce into a copy first. Counts of 3 x 16 elements
  // per rank give every rank a slice (ranks 8 and up included).
  for (int n : {9, 12, 16})
    for (auto c : {collective::all_reduce, collective::reduce_scatter}) {
      trace_options o;
      std::size_t const count = 48 * std::size_t(n);
      schedule s = c == collective::all_reduce ? trace_nvls_zero_copy_all_reduce(n, 1, count, o)
                                               : trace_nvls_zero_copy_reduce_scatter(n, 1, count, o);
      s.in_place = true;
      std::size_t const ni = buffer_elems(s, buf::input), no = buffer_elems(s, buf::output);
      std::vector<std::vector<float>> mem(static_cast<std::size_t>(n), std::vector<float>(std::max(ni, no)));
      std::vector<std::vector<float>> in(static_cast<std::size_t>(n), std::vector<float>(ni));
      std::vector<float const*> send;
      std::vector<float*> recv;
      for (int r = 0; r < n; ++r) {
        float* base = mem[std::size_t(r)].data();
        for (std::size_t j = 0; j < ni; ++j) in[std::size_t(r)][j] = float(1 + (r * 5 + int(j)) % 13);
        std::copy(in[std::size_t(r)].begin(), in[std::size_t(r)].end(), base + in_place_offset(s, buf::input, r));
        send.push_back(base + in_place_offset(s, buf::input, r));
        recv.push_back(base + in_place_offset(s, buf::output, r));
      }
      std::size_t slices = 0; // mc_ld_reduce steps of ranks 8 and up
      for (auto const& t : s.steps) slices += t.op == step_op::mc_ld_reduce && t.rank >= 8;
      CHECK(slices == std::size_t(n - 8));
      std::string err;
      INFO(to_string(c) << " n " << n << ": " << err);
      REQUIRE(weft::sim::interpret(s, send, recv, weft::op::sum<float>{}, {}, &err) == weft::status::success);
      for (int r = 0; r < n; ++r)
        for (std::size_t j = 0; j < no; ++j) {
          float want = 0;
          for (int q = 0; q < n; ++q)
            want += in[std::size_t(q)][c == collective::reduce_scatter ? std::size_t(r) * count + j : j];
          INFO("rank " << r << " element " << j);
          REQUIRE(recv[std::size_t(r)][j] == want);
        }
    }
}

TEST_CASE("trace direct/nvls: back-to-back calls verify, the ranks touching their buffers between them",
          "[trace][direct][calls]") {
  // Three calls on one window (trace_options::calls): staging parities, flag
  // epochs, counters and the callers' own reads and writes of their buffers
  // between calls must all be ordered by the algorithms' barriers -- the race
  // analysis is exact at these sizes.
  std::size_t checked = 0;
  for (auto const& a : symmetric_list())
    for (int n : {1, 2, 3, 5, 8})
      for (int nch : {1, 2})
        for (std::size_t count : {std::size_t(0), std::size_t(7), std::size_t(100), std::size_t(333)}) {
          trace_options o;
          o.proto = traces_under(a, weft::protocol::simple) ? weft::protocol::simple : weft::protocol::ll;
          o.step_elems = 32; // several rounds of the staged paths at the larger counts
          o.calls = 3;
          schedule s = traced(a, n, nch, count, o);
          verify_result const r = verify(s);
          INFO(label(a) << " n " << n << " nch " << nch << " count " << count << "\n" << show(r));
          REQUIRE(r.ok());
          REQUIRE(r.races_exact);
          REQUIRE(r.symbolic_checked);
          ++checked;
        }
  CHECK(checked == symmetric_list().size() * 5 * 2 * 4);
  // Schedules without symmetric memory trace one call only, and say so.
  trace_options o;
  o.calls = 2;
  std::string err;
  CHECK(trace_ring_all_reduce(4, 1, 100, o, &err).steps.empty());
  CHECK(err.find("only symmetric-memory schedules") != std::string::npos);
  o.calls = 0;
  CHECK(trace_nvls_zero_copy_all_reduce(4, 1, 100, o, &err).steps.empty());
  CHECK(err.find("calls must be at least 1") != std::string::npos);
}

namespace {

// Zero-copy reduce-scatter and all-gather each missing one barrier: fine for one
// call, a race across calls (the verifier must find it).
schedule zero_copy_rs_without_last_barrier(int n, std::size_t count, trace_options const& o) {
  return weft::sim::detail::trace_nvls_algorithm(
      "rs_no_last_barrier", collective::reduce_scatter, n, 1, count, o, 1,
      [](auto& g, auto const& mc, auto const& c) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
        trace_multicast_buffer<T> const mb{&mc.v, buf::input};
        return weft::detail::mc_once(g, mc, c.channel, [&](auto& barrier) {
          WEFT_TRY(barrier());
          mb.ld_reduce(g, trace_op<T>{}, std::size_t(c.rank) * c.count + c.range.lo, c.range.size(), c.out + c.range.lo);
          return weft::status::success; // no barrier: a send may be rewritten while a peer still reads it
        });
      },
      nullptr);
}

schedule zero_copy_ag_without_first_barrier(int n, std::size_t count, trace_options const& o) {
  return weft::sim::detail::trace_nvls_algorithm(
      "ag_no_first_barrier", collective::all_gather, n, 1, count, o, 1,
      [](auto& g, auto const& mc, auto const& c) {
        using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
        trace_multicast_buffer<T> const mb{&mc.v, buf::output};
        return weft::detail::mc_once(g, mc, c.channel, [&](auto& barrier) {
          // no barrier first: a peer's recv may still be in its caller's hands
          mb.st(g, c.in + c.range.lo, std::size_t(c.rank) * c.count + c.range.lo, c.range.size());
          return barrier();
        });
      },
      nullptr);
}

} // namespace

TEST_CASE("trace direct/nvls: a barrier missing across calls is a race the verifier names", "[trace][direct][calls]") {
  trace_options o;
  o.step_elems = 16;
  for (int calls : {1, 2}) {
    o.calls = calls;
    verify_result const rs = verify(zero_copy_rs_without_last_barrier(4, 64, o));
    verify_result const ag = verify(zero_copy_ag_without_first_barrier(4, 64, o));
    INFO(calls << " calls\n" << show(rs) << "\n" << show(ag));
    REQUIRE(rs.races_exact);
    REQUIRE(ag.races_exact);
    if (calls == 1) { // one call alone cannot show it
      CHECK(rs.ok());
      CHECK(ag.ok());
    } else {
      CHECK(rs.has(finding_kind::buffer_race));
      CHECK(ag.has(finding_kind::buffer_race));
    }
  }
}

TEST_CASE("trace direct/nvls: different all-reduces back to back on one window verify", "[trace][direct][calls]") {
  // What the runtime does on one communicator: one-shot, two-shot, LL, staged
  // NVLS and zero-copy NVLS all-reduces in a row, the callers touching their
  // buffers between calls. The cursors (parities, epochs) carry from one
  // algorithm to the next; every access must still be ordered.
  for (int n : {2, 3, 5})
    for (int nch : {1, 2})
      for (std::size_t count : {std::size_t(7), std::size_t(100), std::size_t(333)}) {
        trace_options o;
        o.step_elems = 32;
        schedule const s = weft::sim::detail::trace_sym_algorithm(
            "mixed", collective::all_reduce, n, nch, count, o, 1, true,
            [](auto& v, auto const& c) {
              using T = std::remove_const_t<std::remove_pointer_t<decltype(c.in)>>;
              weft::host_group g;
              trace_multicast<T> const mc{v};
              trace_multicast_buffer<T> const in{&mc.v, buf::input}, out{&mc.v, buf::output};
              trace_op<T> const op{};
              weft::status st = weft::direct_one_shot_all_reduce(g, v, c.channel, op, c.in, c.out, c.range);
              for (int k = 1; k < 5 && st == weft::status::success; ++k) {
                weft::sim::detail::trace_touch_own_buffers(v, c, collective::all_reduce);
                if (k == 1) st = weft::direct_two_shot_all_reduce(g, v, c.channel, op, c.in, c.out, c.range);
                if (k == 2) st = weft::direct_ll_all_reduce(g, v, c.channel, op, c.in, c.out, c.range);
                if (k == 3) st = weft::nvls_all_reduce(g, mc, c.channel, op, c.in, c.out, c.range);
                if (k == 4)
                  st = weft::nvls_zero_copy_all_reduce(g, mc, in, out, false, c.channel, op, c.in, c.out, c.range);
              }
              return st;
            },
            nullptr);
        verify_result const r = verify(s);
        INFO("n " << n << " nch " << nch << " count " << count << "\n" << show(r));
        REQUIRE_FALSE(s.steps.empty());
        REQUIRE(r.ok());
        REQUIRE(r.races_exact);
        REQUIRE(r.symbolic_checked);
      }
}
