#pragma once
// Helpers shared by the trace/verify/format/interpreter tests.
#include <catch2/catch.hpp>
#include <weft/sim/schedule.hpp>
#include <weft/sim/trace.hpp>
#include <weft/sim/verify.hpp>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace trace_test {

using namespace weft::sim;

//! Index into s.steps of position `pos` of (rank, program); fails the test when absent.
inline std::size_t step_at(schedule const& s, int rank, int program, long long pos) {
  long long k = 0;
  for (std::size_t i = 0; i < s.steps.size(); ++i)
    if (s.steps[i].rank == rank && s.steps[i].program_id() == program && k++ == pos) return i;
  FAIL("no step " << pos << " in rank " << rank << " program " << program);
  return 0;
}

//! Trace by registry entry, failing the test on a trace error.
inline schedule traced(traced_algorithm const& a, int nranks, int nchannels, std::size_t count, trace_options const& o) {
  std::string err;
  schedule s = a.fn(nranks, nchannels, count, o, &err);
  INFO(to_string(a.coll) << " " << a.name << " nranks " << nranks << " nchannels " << nchannels << " count " << count);
  REQUIRE(err.empty());
  return s;
}

//! The report of a verification, for test messages.
inline std::string show(verify_result const& r) { return r.report(); }

//! Whether `text` contains every one of `parts`.
inline bool mentions(std::string const& text, std::vector<std::string> const& parts) {
  for (auto const& p : parts)
    if (text.find(p) == std::string::npos) return false;
  return true;
}

} // namespace trace_test
