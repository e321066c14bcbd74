// The schedule interpreter on a GPU (virtual ranks, one CTA per program, one
// cooperative launch): traced schedules of every protocol, a JSON round trip
// and an MSCCL-imported schedule give exactly the CPU-team interpreter's
// integer results, back-to-back runs reuse the connections, and a schedule the
// verifier rejects is refused before anything is allocated.
#include <catch2/catch.hpp>

#include "../trace/msccl_fixtures.hpp"

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

struct device_buffers {
  std::vector<std::int32_t*> in, out;
  ~device_buffers() {
    for (auto* p : in) cudaFree(p);
    for (auto* p : out) cudaFree(p);
  }
};

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

  device_buffers d;
  std::vector<std::int32_t const*> ds;
  for (std::size_t r = 0; r < in.size(); ++r) {
    std::int32_t *a = nullptr, *b = nullptr;
    REQUIRE(cudaMalloc(&a, (ni ? ni : 1) * 4) == cudaSuccess);
    REQUIRE(cudaMalloc(&b, (no ? no : 1) * 4) == cudaSuccess);
    d.in.push_back(a);
    d.out.push_back(b);
    ds.push_back(ip ? b : a);
    REQUIRE(cudaMemcpy(a, in[r].data(), ni * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<std::int32_t> const fill(no, -77);
  vrank_interpreter<std::int32_t> it;
  REQUIRE(it.prepare(s, &why) == weft::status::success);
  for (int k = 0; k < runs; ++k) {
    for (std::size_t r = 0; r < in.size(); ++r)
      // Outputs start as the CPU run's did (-77), so elements a schedule leaves
      // alone (a reduce's non-root ranks) agree, and any it writes must match.
      REQUIRE((ip ? cudaMemcpy(d.out[r], d.in[r], ni * 4, cudaMemcpyDeviceToDevice)
                  : cudaMemcpy(d.out[r], fill.data(), no * 4, cudaMemcpyHostToDevice)) == cudaSuccess);
    INFO("run " << k << ": " << why);
    REQUIRE(it.run(ds, d.out, weft::op::sum<std::int32_t>{}, 0, &why) == weft::status::success);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(it.last_status(&why) == weft::status::success);
    std::vector<std::int32_t> got(no);
    for (std::size_t r = 0; r < in.size(); ++r) {
      REQUIRE(cudaMemcpy(got.data(), d.out[r], no * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      std::size_t wrong = 0;
      for (std::size_t i = 0; i < no; ++i) wrong += got[i] != ref[r][i];
      REQUIRE(wrong == 0);
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
