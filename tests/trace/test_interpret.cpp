// The schedule interpreter: schedules run on the CPU team with real data.
// A traced ring all-reduce exported to JSON and read back gives the same bits
// as the CPU communicator; every traced algorithm and protocol gives exact
// integer results; MSCCL-imported algorithms (a ring, an in-place all-pairs
// with scratch and dependencies) run; what cannot run is refused, and a
// deadlock is a bounded timeout that names the step.
#include "msccl_fixtures.hpp"
#include "trace_test_util.hpp"

#include <weft/sim/interpret.hpp>
#include <weft/sim/msccl_xml.hpp>
#include <weft/sim/schedule_json.hpp>
#include <weft/team/cpu_comm.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <type_traits>

using namespace trace_test;

namespace {

template <class T>
struct buffers {
  std::vector<std::vector<T>> in, out;
  std::vector<T const*> send;
  std::vector<T*> recv;
  buffers(schedule const& s, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::size_t const ni = buffer_elems(s, buf::input), no = buffer_elems(s, buf::output);
    for (int r = 0; r < s.nranks; ++r) {
      in.emplace_back(ni);
      for (auto& x : in.back()) {
        if constexpr (std::is_integral_v<T>) x = T(rng() | 1u); // never zero, wide: sums wrap
        else x = T(int(rng() % 2001) - 1000) / T(8) + T(1) / T(1024); // never zero
      }
      out.emplace_back(no, T(-77));
    }
    for (int r = 0; r < s.nranks; ++r) {
      send.push_back(in[std::size_t(r)].data());
      recv.push_back(out[std::size_t(r)].data());
    }
  }
};

schedule json_round_trip(schedule const& s) {
  schedule back;
  std::string err;
  INFO(err);
  REQUIRE(read_json(write_json(s), back, &err));
  return back;
}

// Exact expected output for integer data (sums wrap like the CPU does).
template <class T>
T expected(schedule const& s, buffers<T> const& b, int r, std::size_t i) {
  std::size_t const n = std::size_t(s.nranks);
  T acc = 0;
  switch (s.coll) {
    case collective::all_reduce:
      for (std::size_t q = 0; q < n; ++q) acc = T(acc + b.in[q][i]);
      return acc;
    case collective::reduce:
      if (r != s.root) return T(-77);
      for (std::size_t q = 0; q < n; ++q) acc = T(acc + b.in[q][i]);
      return acc;
    case collective::reduce_scatter:
      for (std::size_t q = 0; q < n; ++q) acc = T(acc + b.in[q][std::size_t(r) * s.count + i]);
      return acc;
    case collective::all_gather: return b.in[i / s.count][i % s.count];
    case collective::broadcast: return b.in[std::size_t(s.root)][i];
  }
  return acc;
}

} // namespace

TEST_CASE("interpret: a traced ring all-reduce, through JSON, matches the CPU communicator bit for bit", "[interpret]") {
  int const n = 6, nch = 2;
  std::size_t const count = 1000;
  trace_options o;
  o.step_elems = 32; // = the communicator's 128-byte Simple slots below
  o.nslots = 2;
  schedule const s = json_round_trip(trace_ring_all_reduce(n, nch, count, o));
  buffers<float> b(s, 11);
  std::string err;
  weft::status const st = interpret(s, b.send, b.recv, weft::op::sum<float>{}, {}, &err);
  INFO(err);
  REQUIRE(st == weft::status::success);

  weft::cpu_comm_config cfg;
  cfg.max_channels = nch;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 128;
  weft::cpu_comm comm(n, cfg);
  weft::cpu_team team(n);
  std::vector<std::vector<float>> ref(static_cast<std::size_t>(n), std::vector<float>(count));
  weft::coll_options co;
  co.nchannels = nch;
  REQUIRE(team.run([&](weft::team_rank& tr) {
    return weft::all_reduce(comm, tr, b.send[std::size_t(tr.rank())], ref[std::size_t(tr.rank())].data(), count,
                            weft::op::sum<float>{}, co);
  }) == weft::status::success);
  for (int r = 0; r < n; ++r)
    REQUIRE(std::memcmp(b.out[std::size_t(r)].data(), ref[std::size_t(r)].data(), count * sizeof(float)) == 0);
  // and the numbers are the sum (to rounding)
  for (std::size_t i = 0; i < count; ++i) {
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += double(b.in[std::size_t(r)][i]);
    REQUIRE(std::fabs(double(b.out[0][i]) - sum) <= 1e-4 * (1.0 + std::fabs(sum)));
  }
}

TEST_CASE("interpret: every traced algorithm on every protocol, exact", "[interpret]") {
  for (auto const& a : traced_algorithm_list)
    for (weft::protocol p : {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128})
      for (int n : {1, 2, 5})
        for (std::size_t count : {std::size_t(0), std::size_t(37), std::size_t(300)}) {
          if (std::string(a.name) == "ring_direct" && p != weft::protocol::simple) continue;
          if (!traces_under(a, p)) continue;
          trace_options o;
          o.proto = p;
          o.step_elems = p == weft::protocol::simple ? 16 : p == weft::protocol::ll ? (a.symmetric ? 8 : 6) : 30;
          o.nslots = 2;
          o.root = n / 2;
          schedule const s = json_round_trip(traced(a, n, 2, count, o));
          buffers<std::int32_t> b(s, std::uint64_t(n) * 1000 + count);
          std::string err;
          weft::status const st = interpret(s, b.send, b.recv, weft::op::sum<std::int32_t>{}, {}, &err);
          INFO(to_string(a.coll) << " " << a.name << " " << weft::to_string(p) << " n " << n << " count " << count
                                 << ": " << err);
          REQUIRE(st == weft::status::success);
          std::size_t wrong = 0;
          for (int r = 0; r < n; ++r)
            for (std::size_t i = 0; i < b.out[std::size_t(r)].size(); ++i)
              wrong += b.out[std::size_t(r)][i] != expected(s, b, r, i);
          REQUIRE(wrong == 0);
        }
}

TEST_CASE("interpret: post and pre apply once (avg, premul_sum)", "[interpret]") {
  int const n = 4;
  trace_options o;
  o.step_elems = 16;
  schedule const s = trace_ring_all_reduce(n, 1, 200, o);
  buffers<double> b(s, 5);
  REQUIRE(interpret(s, b.send, b.recv, weft::op::avg<double>{n}) == weft::status::success);
  for (std::size_t i = 0; i < 200; ++i) {
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += b.in[std::size_t(r)][i];
    for (int r = 0; r < n; ++r) REQUIRE(std::fabs(b.out[std::size_t(r)][i] - sum / n) < 1e-12);
  }
  weft::op::premul_sum<double> pm;
  pm.scale = 3.0;
  REQUIRE(interpret(s, b.send, b.recv, pm) == weft::status::success);
  for (std::size_t i = 0; i < 200; ++i) {
    double sum = 0;
    for (int r = 0; r < n; ++r) sum += 3.0 * b.in[std::size_t(r)][i];
    REQUIRE(std::fabs(b.out[2][i] - sum) < 1e-9);
  }
}

TEST_CASE("interpret: MSCCL-imported algorithms run", "[interpret][msccl]") {
  SECTION("4-GPU ring, out of place") {
    schedule s;
    std::string err;
    msccl_import_options io;
    io.chunk_elems = 50;
    REQUIRE(read_msccl_xml(msccl_fixture::ring4_xml, s, &err, io));
    buffers<std::int64_t> b(s, 3);
    REQUIRE(interpret(s, b.send, b.recv, weft::op::sum<std::int64_t>{}, {}, &err) == weft::status::success);
    for (int r = 0; r < 4; ++r)
      for (std::size_t i = 0; i < s.count; ++i) REQUIRE(b.out[std::size_t(r)][i] == expected(s, b, r, i));
  }
  SECTION("4-GPU all-pairs, in place, with scratch and dependencies") {
    schedule s;
    std::string err;
    msccl_import_options io;
    io.chunk_elems = 24;
    REQUIRE(read_msccl_xml(msccl_fixture::allpairs_xml, s, &err, io));
    REQUIRE(s.in_place);
    buffers<std::int32_t> b(s, 4);
    // in place: the input is the output buffer
    for (std::size_t r = 0; r < 4; ++r) {
      b.out[r] = b.in[r];
      b.send[r] = b.out[r].data();
    }
    REQUIRE(interpret(s, b.send, b.recv, weft::op::sum<std::int32_t>{}, {}, &err) == weft::status::success);
    for (int r = 0; r < 4; ++r)
      for (std::size_t i = 0; i < s.count; ++i) REQUIRE(b.out[std::size_t(r)][i] == expected(s, b, r, i));
    // an imported schedule does not say where pre/post apply: avg is refused
    CHECK(interpret(s, b.send, b.recv, weft::op::avg<std::int32_t>{4}, {}, &err) == weft::status::unsupported);
    CHECK(err.find("pre and post") != std::string::npos);
    // in place, but the input pointer is not the output
    std::vector<std::int32_t const*> elsewhere = {b.in[0].data(), b.in[1].data(), b.in[2].data(), b.in[3].data()};
    CHECK(interpret(s, elsewhere, b.recv, weft::op::sum<std::int32_t>{}, {}, &err) == weft::status::invalid_argument);
    CHECK(err.find("in place") != std::string::npos);
    // without tb 0's wait for tb 2's receive the schedule races: refused before it runs
    std::string broken = msccl_fixture::allpairs_xml;
    std::string const dep = R"(depid="2" deps="1")";
    broken.replace(broken.find(dep), dep.size(), R"(depid="-1" deps="-1")");
    schedule racy;
    REQUIRE(read_msccl_xml(broken, racy, &err, io));
    CHECK(interpret(racy, b.send, b.recv, weft::op::sum<std::int32_t>{}, {}, &err) == weft::status::invalid_argument);
    CHECK(mentions(err, {"schedule refused", "rank 0 program", "no wait orders the two"}));
  }
}

TEST_CASE("interpret: what cannot run is refused, a deadlock times out", "[interpret]") {
  trace_options o;
  o.step_elems = 16;
  o.nslots = 1;
  schedule s = trace_ring_all_gather(2, 1, 64, o);
  buffers<float> b(s, 9);
  std::string err;
  // wrong number of buffers
  std::vector<float const*> one = {b.send[0]};
  CHECK(interpret(s, one, b.recv, weft::op::sum<float>{}, {}, &err) == weft::status::invalid_argument);
  // a malformed schedule is refused with the verifier's message, before anything runs
  schedule bad = s;
  bad.steps[step_at(bad, 1, 0, 1)].dst_offset = 1000;
  CHECK(interpret(bad, b.send, b.recv, weft::op::sum<float>{}, {}, &err) == weft::status::invalid_argument);
  CHECK(mentions(err, {"schedule refused", "rank 1 channel 0 step 1 (recv)", "outside its 128 elements"}));
  // the deadlocking schedule of the negative tests: refused when checked ...
  schedule dead = s;
  for (int r = 0; r < 2; ++r) std::swap(dead.steps[step_at(dead, r, 0, 1)], dead.steps[step_at(dead, r, 0, 2)]);
  CHECK(interpret(dead, b.send, b.recv, weft::op::sum<float>{}, {}, &err) == weft::status::invalid_argument);
  CHECK(mentions(err, {"schedule refused", "rank 0 channel 0 step 1 (copy_send) waits for a free slot"}));
  // ... and a bounded timeout naming the step when run unchecked
  interpret_options io;
  io.check = false;
  io.team.timeout_ns = 200'000'000; // 0.2 s
  weft::status const st = interpret(dead, b.send, b.recv, weft::op::sum<float>{}, io, &err);
  INFO(err);
  CHECK(st == weft::status::timeout);
  CHECK(mentions(err, {"program 0 step 1 (copy_send)", "timed out", "free a slot"}));
}
