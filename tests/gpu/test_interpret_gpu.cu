// The schedule interpreter on a GPU (virtual ranks, one CTA per program, one
// cooperative launch): traced schedules of every protocol, a JSON round trip
// and an MSCCL-imported schedule give exactly the CPU-team interpreter's
// integer results, back-to-back runs reuse the connections, runs captured in a
// CUDA graph replay, and a schedule the verifier rejects is refused before
// anything is allocated.
#include <catch2/catch.hpp>

#include "../trace/msccl_fixtures.hpp"
#include "dev_buffers.cuh" // Thrust device buffers and on-device comparisons

#include <weft/runtime/vrank_interpret.cuh>
#include <weft/sim/interpret.hpp>
#include <weft/sim/msccl_xml.hpp>
#include <weft/sim/schedule_json.hpp>
#include <weft/sim/trace.hpp>

#include <cstdint>
#include <memory>
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

TEST_CASE("gpu interpreter: runs captured in a CUDA graph replay 30 times", "[gpu][interpret]") {
  // A ring all-reduce with direct sends (each run points them at its outputs) and a
  // plain ring, captured together; the outputs are cleared between replays.
  trace_options o;
  o.step_elems = 64;
  std::string err;
  schedule direct;
  for (auto const& a : traced_algorithm_list)
    if (std::string(a.name) == "ring_direct" && a.coll == collective::all_gather) direct = a.fn(4, 2, 3000, o, &err);
  REQUIRE(err.empty());
  REQUIRE(direct.nranks == 4);
  schedule const ring = trace_ring_all_reduce(4, 2, 5000, o);
  struct job {
    schedule const* s;
    vrank_interpreter<std::int32_t> it;
    std::vector<std::vector<std::int32_t>> ref;
    std::vector<weft_test::dvec<std::int32_t>> din, dout;
  };
  std::vector<std::unique_ptr<job>> jobs;
  for (schedule const* s : std::vector<schedule const*>{&direct, &ring}) {
    auto j = std::make_unique<job>();
    j->s = s;
    std::size_t const ni = buffer_elems(*s, buf::input), no = buffer_elems(*s, buf::output);
    std::vector<std::vector<std::int32_t>> in(std::size_t(s->nranks), std::vector<std::int32_t>(ni));
    j->ref.assign(std::size_t(s->nranks), std::vector<std::int32_t>(no, 0));
    std::vector<std::int32_t const*> hs;
    std::vector<std::int32_t*> hr;
    for (std::size_t r = 0; r < in.size(); ++r) {
      for (std::size_t i = 0; i < ni; ++i) in[r][i] = std::int32_t(r * 1000003u + i * 7u);
      hs.push_back(in[r].data());
      hr.push_back(j->ref[r].data());
      j->din.emplace_back(ni);
      j->dout.emplace_back(no);
      thrust::copy(in[r].begin(), in[r].end(), j->din.back().begin());
    }
    REQUIRE(interpret(*s, hs, hr, weft::op::sum<std::int32_t>{}, {}, &err) == weft::status::success);
    REQUIRE(j->it.prepare(*s, &err) == weft::status::success);
    jobs.push_back(std::move(j));
  }
  cudaStream_t st = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  // Warm up outside the capture (first launches load the kernels).
  for (auto& j : jobs)
    REQUIRE(j->it.run(weft_test::const_ptrs(weft_test::raw_ptrs(j->din)), weft_test::raw_ptrs(j->dout),
                      weft::op::sum<std::int32_t>{}, st, &err) == weft::status::success);
  REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  weft::status cap = weft::status::success;
  for (auto& j : jobs)
    if (cap == weft::status::success)
      cap = j->it.run(weft_test::const_ptrs(weft_test::raw_ptrs(j->din)), weft_test::raw_ptrs(j->dout),
                      weft::op::sum<std::int32_t>{}, st, &err);
  cudaError_t const ec = cudaStreamEndCapture(st, &graph);
  INFO(err);
  REQUIRE(cap == weft::status::success);
  REQUIRE(ec == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  for (int replay = 0; replay < 30; ++replay) {
    for (auto& j : jobs)
      for (auto& d : j->dout) thrust::fill(d.begin(), d.end(), std::int32_t(-1));
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(cudaGraphLaunch(exec, st) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    for (auto& j : jobs) {
      REQUIRE(j->it.last_status(&err) == weft::status::success);
      for (std::size_t r = 0; r < j->dout.size(); ++r) {
        INFO("replay " << replay << " " << to_string(j->s->coll) << " rank " << r);
        weft_test::dvec<std::int32_t> want(j->ref[r].begin(), j->ref[r].end());
        REQUIRE(weft_test::count_mismatches(j->dout[r].begin(), want.begin(), j->ref[r].size()) == 0);
      }
    }
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
}
