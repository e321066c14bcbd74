// The schedule interpreter on a GPU (virtual ranks, one CTA per program, one
// cooperative launch): traced schedules of every protocol, a JSON round trip
// and an MSCCL-imported schedule give exactly the CPU-team interpreter's
// integer results, back-to-back runs reuse the connections, and a schedule the
// verifier rejects is refused before anything is allocated.
#include <catch2/catch.hpp>

#include "../trace/msccl_fixtures.hpp"
#include "dev_buffers.cuh" // Thrust device buffers and on-device comparisons

#include <weft/runtime/vrank_interpret.cuh>
#include <weft/sim/interpret.hpp>
#include <weft/sim/msccl_xml.hpp>
#include <weft/sim/schedule_json.hpp>
#include <weft/sim/trace.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

using namespace weft::sim;

namespace {

// Run `s` on the GPU `runs` times and on the CPU team once; every output element must agree.
void same_as_cpu(schedule const& s, int runs = 1) {
  std::size_t const ni = buffer_elems(s, buf::input), no = buffer_elems(s, buf::output);
  std::mt19937 rng(unsigned(s.nranks * 131 + int(s.count)));
  std::vector<std::vector<std::int32_t>> in(std::size_t(s.nranks), std::vector<std::int32_t>(ni)),
      ref(std::size_t(s.nranks), std::vector<std::int32_t>(no, -77));
  for (auto& v : in)
    for (auto& x : v) x = std::int32_t(rng() | 1u);
  // In place (all-reduce here): the input is the output buffer.
  bool const ip = s.in_place;
  REQUIRE((!ip || s.coll == collective::all_reduce));
  std::vector<std::int32_t const*> hs;
  std::vector<std::int32_t*> hr;
  for (std::size_t r = 0; r < in.size(); ++r) {
    if (ip) ref[r] = in[r];
    hs.push_back(ip ? ref[r].data() : in[r].data());
    hr.push_back(ref[r].data());
  }
  std::string why;
  REQUIRE(interpret(s, hs, hr, weft::op::sum<std::int32_t>{}, {}, &why) == weft::status::success);

  // Device buffers (at least one element, so every pointer is valid) and the CPU
  // run's outputs on the device, for comparing there.
  using weft_test::dvec;
  std::vector<dvec<std::int32_t>> din, dout, dref;
  for (std::size_t r = 0; r < in.size(); ++r) {
    din.emplace_back(ni ? ni : 1);
    dout.emplace_back(no ? no : 1);
    thrust::copy(in[r].begin(), in[r].end(), din.back().begin());
    dref.emplace_back(ref[r].begin(), ref[r].end());
  }
  std::vector<std::int32_t*> const outs = weft_test::raw_ptrs(dout);
  std::vector<std::int32_t const*> const ds = weft_test::const_ptrs(ip ? outs : weft_test::raw_ptrs(din));
  vrank_interpreter<std::int32_t> it;
  REQUIRE(it.prepare(s, &why) == weft::status::success);
  for (int k = 0; k < runs; ++k) {
    for (std::size_t r = 0; r < in.size(); ++r) {
      // Outputs start as the CPU run's did (-77), so elements a schedule leaves
      // alone (a reduce's non-root ranks) agree, and any it writes must match.
      if (ip) thrust::copy_n(din[r].begin(), std::ptrdiff_t(ni), dout[r].begin());
      else thrust::fill_n(dout[r].begin(), std::ptrdiff_t(no), std::int32_t(-77));
    }
    INFO("run " << k << ": " << why);
    REQUIRE(it.run(ds, outs, weft::op::sum<std::int32_t>{}, 0, &why) == weft::status::success);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(it.last_status(&why) == weft::status::success);
    for (std::size_t r = 0; r < in.size(); ++r) {
      INFO("rank " << r);
      REQUIRE(weft_test::count_mismatches(dout[r].begin(), dref[r].begin(), no) == 0);
    }
  }
}

} // namespace

TEST_CASE("gpu interpreter: traced schedules of every protocol", "[gpu][interpret]") {
  char const* const names[] = {"ring", "ring_direct", "chain", "recursive_doubling", "rabenseifner"};
  for (auto const& a : traced_algorithm_list) {
    bool known = false;
    for (char const* nm : names) known = known || std::string(a.name) == nm;
    if (!known) continue; // families added later run through the CPU-team interpreter's tests
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128})
      for (int n : {1, 3, 4})
        for (std::size_t count : {std::size_t(0), std::size_t(37), std::size_t(5000)}) {
          if (std::string(a.name) == "ring_direct" && p != weft::protocol::simple) continue;
          trace_options o;
          o.proto = p;
          o.nslots = 2;
          o.root = n - 1;
          std::string err;
          schedule const s = a.fn(n, 2, count, o, &err);
          INFO(to_string(a.coll) << " " << a.name << " " << weft::to_string(p) << " n " << n << " count " << count);
          REQUIRE(err.empty());
          same_as_cpu(s);
        }
  }
}

TEST_CASE("gpu interpreter: JSON round trip, MSCCL import, back-to-back runs", "[gpu][interpret]") {
  trace_options o;
  o.step_elems = 64;
  schedule back;
  std::string err;
  REQUIRE(read_json(write_json(trace_ring_all_reduce(4, 2, 10000, o)), back, &err));
  same_as_cpu(back, 20);
  schedule m;
  msccl_import_options io;
  io.chunk_elems = 24;
  INFO(err);
  REQUIRE(read_msccl_xml(msccl_fixture::allpairs_xml, m, &err, io)); // in place, scratch, dependencies
  same_as_cpu(m, 3);
  REQUIRE(read_msccl_xml(msccl_fixture::ring4_xml, m, &err, io));
  same_as_cpu(m, 3);
}

TEST_CASE("gpu interpreter: a schedule the verifier rejects is refused", "[gpu][interpret]") {
  trace_options o;
  o.step_elems = 16;
  schedule s = trace_ring_all_reduce(3, 1, 200, o);
  s.steps.pop_back(); // a receive goes missing: the sends no longer pair up
  vrank_interpreter<std::int32_t> it;
  std::string why;
  REQUIRE(it.prepare(s, &why) == weft::status::invalid_argument);
  CHECK(why.find("refused") != std::string::npos);
  CHECK(it.device_bytes() == 0);
}
