// Schedule formats: JSON and MSCCL XML. Round trips of every traced
// algorithm, hand-written MSCCL algorithms that verify (a 4-GPU ring and an
// in-place all-pairs all-reduce with scratch, nop dependencies and local
// reductions), the examples in docs/schedules.md, and malformed input refused
// with a message that says what and where.
#include "msccl_fixtures.hpp"
#include "trace_test_util.hpp"

#include <weft/sim/msccl_xml.hpp>
#include <weft/sim/schedule_json.hpp>

#include <fstream>
#include <sstream>

using namespace trace_test;

namespace {

schedule import_xml(std::string const& xml, msccl_import_options const& o = {}) {
  schedule s;
  std::string err;
  INFO(err);
  bool const ok = read_msccl_xml(xml, s, &err, o);
  INFO(err);
  REQUIRE(ok);
  return s;
}

// Every field that defines a step (the link fields are derived).
void require_same_steps(schedule const& a, schedule const& b, bool same_post = true) {
  REQUIRE(a.steps.size() == b.steps.size());
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    step const &x = a.steps[i], &y = b.steps[i];
    INFO("step " << i);
    REQUIRE(x.rank == y.rank);
    REQUIRE(x.channel == y.channel);
    REQUIRE(x.program_id() == y.program_id());
    REQUIRE(x.op == y.op);
    REQUIRE(x.recv_peer == y.recv_peer);
    REQUIRE(x.send_peer == y.send_peer);
    REQUIRE(x.src == y.src);
    REQUIRE(x.src_offset == y.src_offset);
    REQUIRE(x.dst == y.dst);
    REQUIRE(x.dst_offset == y.dst_offset);
    REQUIRE(x.count == y.count);
    if (same_post) REQUIRE(x.post == y.post);
    REQUIRE(x.direct == y.direct);
    REQUIRE(x.peer_offset == y.peer_offset);
    REQUIRE(x.dep_program == y.dep_program);
    REQUIRE(x.dep_index == y.dep_index);
    REQUIRE(x.waits_data == y.waits_data);
    REQUIRE(x.waits_credit == y.waits_credit);
  }
}

// The first fenced block of `lang` after `marker` in docs/schedules.md.
std::string docs_block(char const* marker, char const* lang) {
  std::ifstream f(std::string(WEFT_SOURCE_DIR) + "/docs/schedules.md");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  std::string const doc = ss.str();
  std::size_t const m = doc.find(marker);
  REQUIRE(m != std::string::npos);
  std::string const open = std::string("```") + lang + "\n";
  std::size_t const b = doc.find(open, m);
  REQUIRE(b != std::string::npos);
  std::size_t const e = doc.find("```", b + open.size());
  REQUIRE(e != std::string::npos);
  return doc.substr(b + open.size(), e - b - open.size());
}

} // namespace

// ---- JSON ----

TEST_CASE("json: round trip of every traced algorithm", "[json]") {
  for (auto const& a : traced_algorithm_list)
    for (int n : {1, 3, 5}) {
      trace_options o;
      o.step_elems = 16;
      o.root = n - 1;
      schedule s = traced(a, n, 2, 150, o);
      std::string const text = write_json(s);
      schedule back;
      std::string err;
      INFO(to_string(a.coll) << " " << a.name << " n " << n);
      REQUIRE(read_json(text, back, &err));
      INFO(err);
      CHECK(back.name == s.name);
      CHECK(back.coll == s.coll);
      CHECK(back.nranks == s.nranks);
      CHECK(back.nchannels == s.nchannels);
      CHECK(back.nslots == s.nslots);
      CHECK(back.root == s.root);
      CHECK(back.count == s.count);
      CHECK(back.elem_bytes == s.elem_bytes);
      CHECK(back.proto == s.proto);
      CHECK(back.slot_bytes == s.slot_bytes);
      require_same_steps(s, back);
      CHECK(write_json(back) == text);
      CHECK(verify(back).ok());
      // linked on the way in
      for (std::size_t i = 0; i < s.steps.size(); ++i) CHECK(back.steps[i].matching_send == s.steps[i].matching_send);
    }
}

TEST_CASE("json: every optional field survives", "[json]") {
  schedule s = trace_ring_all_reduce(3, 1, 48, [] {
    trace_options o;
    o.step_elems = 16;
    return o;
  }());
  s.name = "quote\" backslash\\ tab\t unicode \xc3\xa9";
  s.scratch_count = 5;
  s.in_place = true;
  s.marks_post = false;
  s.steps[0].program = 7;
  s.steps[1].waits_data = false;
  s.steps[2].waits_credit = false;
  s.steps[3].dep_program = 7;
  s.steps[3].dep_index = 0;
  schedule back;
  std::string err;
  REQUIRE(read_json(write_json(s), back, &err));
  CHECK(back.name == s.name);
  CHECK(back.scratch_count == 5);
  CHECK(back.in_place);
  CHECK_FALSE(back.marks_post);
  require_same_steps(s, back);
}

TEST_CASE("json: the example in docs/schedules.md verifies", "[json][docs]") {
  std::string const text = docs_block("<!-- tested: json-example -->", "json");
  schedule s;
  std::string err;
  INFO(err);
  REQUIRE(read_json(text, s, &err));
  REQUIRE(s.nranks == 2);
  verify_result const r = verify(s);
  INFO(show(r));
  REQUIRE(r.ok());
  require_same_steps(s, trace_ring_all_reduce(2, 1, 32, [] {
                       trace_options o;
                       o.step_elems = 16;
                       return o;
                     }()));
}

TEST_CASE("json: malformed input is refused with a message", "[json]") {
  std::string const head =
      R"({"format": "weft-schedule", "version": 1, "collective": "all_reduce", "nranks": 2, "count": 16, )";
  struct bad_case {
    std::string text;
    char const* why;
  };
  bad_case const cases[] = {
      {"", "expected '{'"},
      {"[1, 2]", "expected '{'"},
      {"{\"format\": \"nope\"}", "format is 'nope'"},
      {R"({"format": "weft-schedule", "version": 2})", "version 2 is not supported"},
      {head + R"("steps": []})" + " trailing", "text after the schedule"},
      {head + R"("steps": [], "steps": []})", "given twice"},
      {head + R"("colour": 1, "steps": []})", "unknown field 'colour'"},
      {R"({"format": "weft-schedule", "version": 1, "collective": "all_reduce", "nranks": 2, "steps": []})",
       "missing field 'count'"},
      {head + R"("nslots": 1.5, "steps": []})", "expected an integer, found a fraction"},
      {head + R"("nslots": 0, "steps": []})", "outside 1.."},
      {head + R"("nslots": 99999999999999999999999, "steps": []})", "integer out of range"},
      {head + R"("root": 3, "steps": []})", "root 3 outside"},
      {head + R"("collective": "all_to_all", "steps": []})", "given twice"},
      {R"({"format": "weft-schedule", "version": 1, "collective": "all_to_all", "nranks": 2, "count": 1, "steps": []})",
       "unknown collective 'all_to_all'"},
      {head + R"("protocol": "fast", "steps": []})", "unknown protocol 'fast'"},
      {head + R"("steps": [{"rank": 0, "op": "sned", "count": 16}]})", "steps[0]: unknown op 'sned'"},
      {head + R"("steps": [{"rank": 0, "count": 16}]})", "steps[0]: missing field 'op'"},
      {head + R"("steps": [{"rank": 0, "op": "send", "count": 16, "src": "inbox"}]})", "unknown buffer 'inbox'"},
      {head + R"("steps": [{"rank": 2, "op": "send", "count": 16}]})", "rank 2 out of range"},
      {head + R"("steps": [{"rank": 0, "op": "send", "count": -1}]})", "outside 0.."},
      {head + R"("steps": [{"rank": 0, "op": "send", "count": 16, "post": 1}]})", "expected true or false"},
      {head + R"("steps": [{"rank": 0, "op": "send", "count": 16}, ]})", "expected '{'"},
      {head + R"("name": "unterminated, "steps": []})", "expected ','"},
      {head + R"("name": "bad \q escape", "steps": []})", "invalid escape"},
      {head + R"("name": "\ud800", "steps": []})", "surrogate"},
      {head + R"("steps": [)", "expected '{'"},
      {head + R"("x-note": {"a": [1, 2.5e3, null, true]}, "steps": []})", ""}, // extensions are skipped: accepted
  };
  for (auto const& c : cases) {
    schedule s;
    s.name = "untouched";
    std::string err;
    bool const ok = read_json(c.text, s, &err);
    INFO("input: " << c.text << "\nerror: " << err);
    if (*c.why == 0) {
      CHECK(ok);
      continue;
    }
    CHECK_FALSE(ok);
    CHECK(err.find(c.why) != std::string::npos);
    CHECK(s.name == "untouched");
  }
  // positions are reported
  schedule s;
  std::string err;
  CHECK_FALSE(read_json("{\n  \"format\": \"weft-schedule\",\n  \"version\": x\n}", s, &err));
  CHECK(err.find("line 3, column 14") != std::string::npos);
  // a schedule that parses but does not link is read; verify says what is wrong
  CHECK(read_json(head + R"("steps": [{"rank": 0, "op": "send", "send_peer": 1, "src": "input", "count": 16}]})", s, &err));
  CHECK(verify(s).has(finding_kind::unmatched));
}

// ---- MSCCL XML ----

TEST_CASE("msccl: round trip of every traced algorithm", "[msccl]") {
  std::size_t refused = 0, exported = 0;
  for (auto const& a : traced_algorithm_list)
    // one-sided steps have no MSCCL form (their refusal: test_trace_direct.cpp)
    for (int n : a.symmetric ? std::vector<int>{} : std::vector<int>{1, 2, 4})
      for (int nch : {1, 2}) {
        trace_options o;
        o.step_elems = 16;
        o.root = n / 2;
        schedule s = traced(a, n, nch, 200, o);
        std::string xml, err;
        std::size_t ce = 0;
        INFO(to_string(a.coll) << " " << a.name << " n " << n << " nch " << nch);
        if (!write_msccl_xml(s, xml, &err, {}, &ce)) {
          // An MSCCL threadblock has one send and one receive peer; a program
          // that talks to several partners (the Net algorithms) is refused, saying so.
          INFO(err);
          REQUIRE(a.pairs);
          REQUIRE(err.find("an MSCCL threadblock has one") != std::string::npos);
          ++refused;
          continue;
        }
        INFO(err);
        REQUIRE(ce == (n == 1 && nch == 1 ? 200 : 8)); // 200 = 8 x 25; steps and offsets are multiples of 8
        msccl_import_options io;
        io.chunk_elems = ce;
        io.root = o.root;
        io.slot_bytes = s.slot_bytes;
        schedule back = import_xml(xml, io);
        CHECK(back.coll == s.coll);
        CHECK(back.count == s.count);
        CHECK(back.nranks == s.nranks);
        CHECK(back.nchannels == s.nchannels);
        CHECK_FALSE(back.marks_post);
        verify_result const r = verify(back);
        INFO(show(r));
        REQUIRE(r.ok());
        std::string xml2;
        REQUIRE(write_msccl_xml(back, xml2, &err));
        if (std::string(a.name) != "ring_direct" && !a.pairs) {
          CHECK(xml2 == xml);
          require_same_steps(s, back, /*same_post=*/false);
        } else {
          // Direct steps come back as plain ones that land in the same place, and a
          // local copy followed by a send of the same data comes back as one copy_send:
          // the same data (verified above), and stable from there on.
          schedule again = import_xml(xml2, io);
          std::string xml3;
          REQUIRE(write_msccl_xml(again, xml3, &err));
          CHECK(xml3 == xml2);
          for (auto const& t : back.steps) CHECK_FALSE(t.direct);
        }
        ++exported;
      }
  CHECK(exported > refused); // the ring family always exports; Net algorithms at 1 and 2 ranks do too
}

TEST_CASE("msccl: a hand-written 4-GPU ring all-reduce verifies", "[msccl]") {
  msccl_import_options io;
  io.chunk_elems = 32;
  schedule s = import_xml(msccl_fixture::ring4_xml, io);
  CHECK(s.name == "ring");
  CHECK(s.coll == collective::all_reduce);
  CHECK(s.count == 128);
  CHECK(s.steps.size() == 28);
  verify_result const r = verify(s);
  INFO(show(r));
  REQUIRE(r.ok());
  REQUIRE(r.symbolic_checked);
  // it is the same algorithm weft traces
  require_same_steps(trace_ring_all_reduce(4, 1, 128, [] {
                       trace_options o;
                       o.step_elems = 32;
                       return o;
                     }()),
                     s, false);
}

TEST_CASE("msccl: a hand-written in-place all-pairs all-reduce verifies", "[msccl]") {
  schedule s = import_xml(msccl_fixture::allpairs_xml);
  CHECK(s.in_place);
  CHECK(s.scratch_count == 16);
  CHECK(s.steps.size() == 4 * (7 + 2 + 2));
  verify_result const r = verify(s);
  INFO(show(r));
  REQUIRE(r.ok());
  REQUIRE(r.races_exact);

  // Without the nop that waits for tb 2's receive, tb 0 reduces a scratch block
  // that tb 2 may still be writing: a buffer race.
  std::string broken = msccl_fixture::allpairs_xml;
  std::string const nop =
      R"(<step s="3" type="nop" srcbuf="i" srcoff="0" dstbuf="i" dstoff="0" cnt="0" depid="2" deps="1" hasdep="0"/>)";
  std::size_t const at = broken.find(nop);
  REQUIRE(at != std::string::npos);
  broken.replace(at, nop.size(),
                 R"(<step s="3" type="nop" srcbuf="i" srcoff="0" dstbuf="i" dstoff="0" cnt="0" depid="-1" deps="-1" hasdep="0"/>)");
  verify_result const rb = verify(import_xml(broken));
  INFO(show(rb));
  REQUIRE(rb.has(finding_kind::buffer_race));
  bool scratch = false, input = false;
  for (auto const& f : rb.findings) {
    if (f.kind != finding_kind::buffer_race) continue;
    CHECK(f.rank == 0);
    scratch = scratch || mentions(f.message, {"rank 0 program 2 (channel 0) step 1 (recv)", "scratch[12]",
                                              "rank 0 program 0 (channel 0) step 6 (reduce)"});
    input = input || mentions(f.message, {"rank 0 program 2 (channel 0) step 0 (send)", "input[0]",
                                          "rank 0 program 0 (channel 0) step 4 (reduce)"});
  }
  CHECK(scratch); // tb 0 reduces the block tb 2 receives into
  CHECK(input);   // tb 0 overwrites the input tb 2 is sending
}

TEST_CASE("msccl: the example in docs/schedules.md verifies", "[msccl][docs]") {
  std::string const xml = docs_block("<!-- tested: msccl-example -->", "xml");
  schedule s = import_xml(xml);
  verify_result const r = verify(s);
  INFO(show(r));
  REQUIRE(r.ok());
  require_same_steps(trace_ring_all_reduce(2, 1, 2 * 16, [] {
                       trace_options o;
                       o.step_elems = 16;
                       return o;
                     }()),
                     import_xml(xml, [] {
                       msccl_import_options o;
                       o.chunk_elems = 16;
                       return o;
                     }()),
                     false);
}

TEST_CASE("msccl: copy_send is written as cpy + s and read back as one step", "[msccl]") {
  schedule s = trace_ring_all_gather(3, 1, 16, [] {
    trace_options o;
    o.step_elems = 16;
    return o;
  }());
  std::string xml;
  REQUIRE(write_msccl_xml(s, xml));
  CHECK(xml.find(R"(type="cpy" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0")") != std::string::npos);
  schedule fused = import_xml(xml);
  CHECK(fused.steps.size() == s.steps.size());
  msccl_import_options plain;
  plain.fuse_copy_send = false;
  schedule split = import_xml(xml, plain);
  CHECK(split.steps.size() == s.steps.size() + 3);
  CHECK(verify(split).ok());
}

TEST_CASE("msccl: malformed input is refused with a message", "[msccl]") {
  std::string const ok_head = R"(<algo name="x" proto="Simple" nchannels="1" nchunksperloop="2" ngpus="2" coll="allreduce" inplace="0">)";
  std::string const gpu0 = R"(<gpu id="0" i_chunks="2" o_chunks="2" s_chunks="0">)";
  std::string const gpu1 = R"(<gpu id="1" i_chunks="2" o_chunks="2" s_chunks="0"></gpu>)";
  auto one_step = [&](std::string const& step, std::string const& tb = R"(<tb id="0" send="1" recv="1" chan="0">)") {
    return ok_head + gpu0 + tb + step + "</tb></gpu>" + gpu1 + "</algo>";
  };
  struct bad_case {
    std::string text;
    char const* why;
  };
  bad_case const cases[] = {
      {"", "no root element"},
      {"junk", "text outside the root element"},
      {"<algo", "unterminated tag <algo"},
      {"<algo></gpu>", "closing tag </gpu> does not match <algo>"},
      {"<algo>", "element <algo> is never closed"},
      {"<!DOCTYPE algo><algo/>", "DTDs"},
      {"<algo a=\"1\" a=\"2\"/>", "attribute a given twice"},
      {"<algo a=1/>", "expected a quoted attribute value"},
      {"<algo a=\"&bogus;\"/>", "unknown entity &bogus;"},
      {"<algo/><algo/>", "a second root element"},
      {"<graph/>", "the root element is <graph>, expected <algo>"},
      {one_step(R"(<step s="0" type="s" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1"><x/></step>)"),
       "unexpected <x> inside <step>"},
      {R"(<algo coll="allreduce"/>)", "missing attribute ngpus"},
      {R"(<algo ngpus="2" coll="alltoall"/>)", "collective 'alltoall' is not supported"},
      {R"(<algo ngpus="2" coll="allreduce" proto="Fast"/>)", "unknown proto 'Fast'"},
      {R"(<algo ngpus="2" coll="allreduce"/>)", "has 0 <gpu> elements"},
      {ok_head + gpu0 + "</gpu>" + R"(<gpu id="1" i_chunks="3" o_chunks="3"></gpu></algo>)", "i_chunks/o_chunks differ"},
      {ok_head + R"(<gpu id="0" i_chunks="2" o_chunks="4"></gpu><gpu id="1" i_chunks="2" o_chunks="4"></gpu></algo>)",
       "do not fit all_reduce"},
      {ok_head + gpu0 + "</gpu>" + R"(<gpu id="0" i_chunks="2" o_chunks="2"></gpu></algo>)", "gpu 0 given twice"},
      {one_step(R"(<step s="0" type="xyz" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1"/>)"),
       "gpu 0 tb 0 step 0: unsupported step type 'xyz'"},
      {one_step(R"(<step s="1" type="s" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1"/>)"),
       "s=1, expected 0"},
      {one_step(R"(<step s="0" type="s" srcbuf="q" srcoff="0" dstbuf="o" dstoff="0" cnt="1"/>)"),
       "srcbuf=\"q\" is not i, o or s"},
      {one_step(R"(<step s="0" type="s" srcbuf="i" srcoff="zero" dstbuf="o" dstoff="0" cnt="1"/>)"),
       "attribute srcoff=\"zero\" is not an integer"},
      {one_step(R"(<step s="0" type="s" srcbuf="i" dstbuf="o" dstoff="0" cnt="1"/>)"), "missing attribute srcoff"},
      {one_step(R"(<step s="0" type="r" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1"/>)",
                R"(<tb id="0" send="1" recv="-1" chan="0">)"),
       "type r receives, but its tb has recv=\"-1\""},
      {one_step(R"(<step s="0" type="s" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1" depid="4" deps="0"/>)"),
       "depends on tb 4 step 0, which does not exist"},
      {one_step(R"(<step s="0" type="s" srcbuf="i" srcoff="0" dstbuf="o" dstoff="0" cnt="1"/>)",
                R"(<tb id="0" send="1" recv="1" chan="3">)"),
       "but a tb uses chan 3"},
  };
  for (auto const& c : cases) {
    schedule s;
    s.name = "untouched";
    std::string err;
    bool const ok = read_msccl_xml(c.text, s, &err);
    INFO("input: " << c.text << "\nerror: " << err);
    CHECK_FALSE(ok);
    CHECK(err.find(c.why) != std::string::npos);
    CHECK(s.name == "untouched");
  }
  // positions are reported
  schedule s;
  std::string err;
  CHECK_FALSE(read_msccl_xml("<algo>\n  <gpu id=\"0\" i_chunks=\"1\" o_chunks=\"1\">\n  </tb>\n</algo>", s, &err));
  CHECK(err.find("line 3, column 3") != std::string::npos);
}

TEST_CASE("msccl: what MSCCL cannot say is refused on export", "[msccl]") {
  // a program that sends to two peers
  schedule s;
  s.coll = collective::all_gather;
  s.nranks = 3;
  s.count = 16;
  step a;
  a.rank = 0;
  a.op = step_op::send;
  a.send_peer = 1;
  a.src = buf::input;
  a.count = 16;
  step b = a;
  b.send_peer = 2;
  s.steps = {a, b};
  std::string xml, err;
  CHECK_FALSE(write_msccl_xml(s, xml, &err));
  CHECK(err.find("rank 0 program 0 sends to ranks 1 and 2") != std::string::npos);
  // a chunk size that does not divide the offsets
  schedule t = trace_ring_all_reduce(2, 1, 40, [] {
    trace_options o;
    o.step_elems = 16;
    return o;
  }());
  msccl_export_options eo;
  eo.chunk_elems = 16;
  CHECK_FALSE(write_msccl_xml(t, xml, &err, eo));
  CHECK(err.find("chunk_elems 16 does not divide") != std::string::npos);
}
