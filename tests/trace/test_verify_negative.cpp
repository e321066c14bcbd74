// Deliberately broken schedules. Each starts from a correct traced schedule,
// breaks one thing, and checks that the verifier catches it with a finding
// whose message names the rank, the step and the slot (or connection, or
// element) involved.
#include "trace_test_util.hpp"

#include <algorithm>

using namespace trace_test;

namespace {

trace_options small_steps(int nslots = 8) {
  trace_options o;
  o.step_elems = 16;
  o.nslots = nslots;
  return o;
}

finding expect(verify_result const& r, finding_kind k) { // a copy: `r` is often a temporary
  INFO(show(r));
  REQUIRE_FALSE(r.ok());
  finding const* f = r.first(k);
  REQUIRE(f != nullptr);
  return *f;
}

// Swap steps a and b of every rank's channel-0 program.
void swap_in_every_rank(schedule& s, long long a, long long b) {
  for (int r = 0; r < s.nranks; ++r) std::swap(s.steps[step_at(s, r, 0, a)], s.steps[step_at(s, r, 0, b)]);
}

} // namespace

TEST_CASE("verify: the unbroken schedules pass", "[verify][negative]") {
  CHECK(verify(trace_ring_all_reduce(4, 1, 64, small_steps())).ok());
  CHECK(verify(trace_ring_all_gather(2, 1, 64, small_steps(1))).ok());
  CHECK(verify(trace_ring_all_gather(4, 1, 64, small_steps())).ok());
}

// 1. A missing step: rank 1 loses a receive, so a send on 0->1 is never received.
TEST_CASE("verify negative: missing step", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  s.steps.erase(s.steps.begin() + std::ptrdiff_t(step_at(s, 1, 0, 6))); // rank 1's last step: recv
  finding const f = expect(verify(s), finding_kind::unmatched);
  INFO(f.message);
  CHECK(f.rank == 0);
  CHECK(f.sender == 0);
  CHECK(f.receiver == 1);
  CHECK(f.slot >= 0);
  CHECK(mentions(f.message, {"rank 0 channel 0 step 5 (recv_copy_send)", "send #5", "connection 0->1 channel 0",
                             "slot 5", "no matching receive", "6 sends and 5 receives"}));
}

// 2. A double contribution: rank 2 reduces its own input into a chunk that is
//    already complete (recv_copy_send turned into recv_reduce_copy_send).
TEST_CASE("verify negative: double contribution", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  step& t = s.steps[step_at(s, 2, 0, 4)];
  REQUIRE(t.op == step_op::recv_copy_send);
  t.op = step_op::recv_reduce_copy_send;
  t.src = buf::input;
  t.src_offset = t.dst_offset;
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::wrong_result);
  INFO(f.message);
  CHECK(f.rank == 2);
  CHECK(f.step == 4);
  CHECK(mentions(f.message, {"rank 2 channel 0 step 4 (recv_reduce_copy_send)", "5 contributions",
                             "more than the 4 ranks", "counted twice"}));
  // the final outputs say the same, per element
  bool dup = false;
  for (auto const& g : r.findings) dup = dup || g.message.find("duplicated") != std::string::npos;
  CHECK(dup);
}

// 3. A wrong peer: rank 1 sends its first chunk to rank 3 instead of rank 2.
TEST_CASE("verify negative: wrong peer", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  step& t = s.steps[step_at(s, 1, 0, 0)];
  REQUIRE(t.send_peer == 2);
  t.send_peer = 3;
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::unmatched);
  INFO(show(r));
  bool named = false;
  for (auto const& g : r.findings)
    named = named || mentions(g.message, {"rank 1 channel 0 step 0 (send)", "send #0", "connection 1->3 channel 0",
                                          "slot 0", "no matching receive"});
  CHECK(named);
  CHECK(f.slot >= 0);
}

// 4. Swapped steps that deadlock with one slot: each rank of a 2-rank all-gather
//    sends two chunks before receiving any. With two slots this is fine; with
//    one, each rank's second send waits for a slot the other never frees.
TEST_CASE("verify negative: swapped order deadlocks with few slots", "[verify][negative]") {
  schedule ok2 = trace_ring_all_gather(2, 1, 64, small_steps(2));
  swap_in_every_rank(ok2, 1, 2);
  CHECK(verify(ok2).ok());

  schedule s = trace_ring_all_gather(2, 1, 64, small_steps(1));
  swap_in_every_rank(s, 1, 2);
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::deadlock);
  INFO(show(r));
  CHECK(f.rank == 0);
  CHECK(f.step == 1);
  CHECK(f.slot == 0);
  CHECK(mentions(f.message, {"rank 0 channel 0 step 1 (copy_send)", "waits for a free slot", "send #1",
                             "connection 0->1 channel 0", "slot 0", "rank 1 channel 0 step 2 (recv)"}));
  std::size_t blocked = 0;
  for (auto const& g : r.findings) blocked += g.kind == finding_kind::deadlock;
  CHECK(blocked == 2); // both ranks are stuck
}

// 5. Off by one chunk: rank 1 reduces the wrong chunk of its input into a partial sum.
TEST_CASE("verify negative: off-by-one chunk", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  step& t = s.steps[step_at(s, 1, 0, 2)];
  REQUIRE(t.op == step_op::recv_reduce_send);
  REQUIRE(t.src_offset == 32);
  t.src_offset += 16; // one chunk further
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::wrong_result);
  INFO(f.message);
  CHECK(f.rank == 1);
  CHECK(f.step == 2);
  CHECK(mentions(f.message, {"rank 1 channel 0 step 2 (recv_reduce_send)", "combines its own data for input element 48",
                             "with received data for input element 32"}));
}

// 5b. Off by one block in a copy: rank 2 stores the chunk it forwards one block too far.
TEST_CASE("verify negative: off-by-one block in an all-gather", "[verify][negative]") {
  schedule s = trace_ring_all_gather(4, 1, 16, small_steps());
  step& t = s.steps[step_at(s, 2, 0, 1)];
  REQUIRE(t.op == step_op::recv_copy_send);
  REQUIRE(t.dst_offset == 16); // rank 1's block ...
  t.dst_offset = 32;           // ... stored over rank 2's own block
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::wrong_result);
  INFO(show(r));
  CHECK(f.rank == 2);
  CHECK(f.element == 16);
  CHECK(mentions(f.message, {"rank 2 output[16..32)", "no defined value", "no step writes it"}));
  bool named = false;
  for (auto const& g : r.findings)
    named = named || mentions(g.message, {"rank 2 output[32..48)", "holds rank 1 input[0], expected rank 2 input[0]",
                                          "last written by rank 2 channel 0 step 1 (recv_copy_send)"});
  CHECK(named);
}

// 6. A slot overwritten before it is consumed: the deadlocking schedule of (4),
//    with rank 0's second send no longer waiting for credit.
TEST_CASE("verify negative: slot overwritten early", "[verify][negative]") {
  schedule s = trace_ring_all_gather(2, 1, 64, small_steps(1));
  swap_in_every_rank(s, 1, 2);
  s.steps[step_at(s, 0, 0, 1)].waits_credit = false;
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::overwritten_before_consumed);
  INFO(f.message);
  CHECK(f.rank == 0);
  CHECK(f.step == 1);
  CHECK(f.slot == 0);
  CHECK(mentions(f.message, {"rank 0 channel 0 step 1 (copy_send)", "send #1", "connection 0->1 channel 0",
                             "may overwrite slot 0", "rank 1 channel 0 step 2 (recv)", "receive #0"}));
}

// 7. A slot read before it is written: rank 1's first receive stops waiting for data.
TEST_CASE("verify negative: read before written", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  s.steps[step_at(s, 1, 0, 1)].waits_data = false;
  verify_result const r = verify(s);
  REQUIRE(r.races_exact);
  finding const f = expect(r, finding_kind::read_before_written);
  INFO(f.message);
  CHECK(f.rank == 1);
  CHECK(f.step == 1);
  CHECK(f.slot == 0);
  CHECK(mentions(f.message, {"rank 1 channel 0 step 1 (recv_reduce_send)", "may read slot 0",
                             "connection 0->1 channel 0", "receive #0", "rank 0 channel 0 step 0 (send)"}));
}

// 8. The op's post applied twice: a forwarded, finished chunk is marked final again.
TEST_CASE("verify negative: post applied twice", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(3, 1, 48, small_steps());
  s.steps[step_at(s, 1, 0, 3)].post = true; // a recv_copy_send of a finished chunk
  verify_result const r = verify(s);
  finding const f = expect(r, finding_kind::wrong_result);
  CHECK(mentions(f.message, {"post was applied 2 times", "rank 1 channel 0 step 3"}));
}

// 9. Count mismatch between a send and its receive, and malformed steps.
TEST_CASE("verify negative: mismatched and malformed steps", "[verify][negative]") {
  schedule s = trace_ring_all_reduce(4, 1, 64, small_steps());
  s.steps[step_at(s, 2, 0, 1)].count = 8;
  finding const f = expect(verify(s), finding_kind::mismatched);
  CHECK(mentions(f.message, {"rank 2 channel 0 step 1", "receive #0", "connection 1->2 channel 0", "slot 0",
                             "expects 8 elements", "rank 1 channel 0 step 0 (send) carries 16"}));

  schedule b = trace_ring_all_reduce(4, 1, 64, small_steps());
  b.steps[step_at(b, 3, 0, 3)].dst_offset = 60; // 60 + 16 > 64
  finding const g = expect(verify(b), finding_kind::malformed);
  CHECK(mentions(g.message, {"rank 3 channel 0 step 3", "writes output[60..76)", "outside its 64 elements"}));

  schedule c = trace_ring_all_reduce(4, 1, 64, small_steps());
  c.steps[step_at(c, 0, 0, 0)].recv_peer = 3; // a send that names a receive peer
  finding const h = expect(verify(c), finding_kind::malformed);
  CHECK(mentions(h.message, {"rank 0 channel 0 step 0 (send)", "recv_peer"}));

  schedule d = trace_ring_all_reduce(4, 1, 64, small_steps());
  d.steps[0].rank = 9;
  finding const k = expect(verify(d), finding_kind::malformed);
  CHECK(mentions(k.message, {"rank 9 out of range"}));
}

// 10. A dependency on nothing, and a buffer race between two programs of one rank.
TEST_CASE("verify negative: dependencies and buffer races", "[verify][negative]") {
  // rank 0 program 1 copies output to scratch while program 0 (the ring) writes that output
  schedule s = trace_ring_all_reduce(2, 1, 32, small_steps());
  step cp;
  cp.rank = 0;
  cp.program = 1;
  cp.channel = 0;
  cp.op = step_op::local;
  cp.src = buf::output;
  cp.src_offset = 0;
  cp.dst = buf::scratch;
  cp.count = 16;
  s.scratch_count = 16;
  s.steps.push_back(cp);
  verify_result const r = verify(s);
  finding const f = expect(r, r.has(finding_kind::buffer_race) ? finding_kind::buffer_race : finding_kind::uninitialised_read);
  CHECK(mentions(f.message, {"rank 0 program 1 (channel 0) step 0 (local)", "output[0]"}));

  // ordered by a dependency on the step that completes output[0..16): no race, no finding
  long long last = 0;
  for (auto const& t : s.steps)
    if (t.rank == 0 && t.program_id() == 0) ++last;
  s.steps.back().dep_program = 0;
  s.steps.back().dep_index = last - 1;
  verify_result const r2 = verify(s);
  INFO(show(r2));
  CHECK(r2.ok());

  s.steps.back().dep_index = 99;
  finding const d = expect(verify(s), finding_kind::bad_dependency);
  CHECK(mentions(d.message, {"rank 0 program 1 (channel 0) step 0", "step 99 of program 0", "does not exist"}));
}
