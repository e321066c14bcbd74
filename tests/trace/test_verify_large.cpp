// Every traced algorithm verified at 72 ranks (an NVL72 rack) and 576 ranks
// (eight racks). At 72 ranks the race analysis is exact (vector clocks); at
// 576 it runs in the executor's interleaving (waits are all on in a trace, so
// no race is possible) and the symbolic check covers every output element.
#include "trace_test_util.hpp"

#include <chrono>

using namespace trace_test;

namespace {

// A count that gives every ring position at least one chunk (so every rank works).
std::size_t count_for(traced_algorithm const& a, int n, std::size_t extra) {
  collective const c = a.coll;
  // Symmetric-memory schedules: two rounds of the areas (each round is O(n^2) flag steps).
  if (a.symmetric) return 16 + extra;
  // Recursive doubling moves the whole vector at every level: one step's worth is enough.
  if (a.algo == weft::algorithm::recursive_doubling) return 16 + extra;
  // The tree and the rank-order chain reach every rank with any count: 32 steps pipeline them.
  if (a.algo == weft::algorithm::tree || a.algo == weft::algorithm::rank_order) return 32 * 16 + extra;
  if (c == collective::all_gather || c == collective::reduce_scatter) return 16 + extra;
  if (c == collective::all_reduce) return std::size_t(n) * 16 + extra;
  return 64 * 16 + extra; // chains: 64 pipelined steps
}

void verify_all(int n, std::vector<int> const& channels, std::vector<std::size_t> const& extras, bool exact,
                bool symmetric = true) {
  for (auto const& a : traced_algorithm_list)
    for (int nch : a.symmetric && !symmetric ? std::vector<int>{} : channels)
      for (std::size_t extra : extras) {
        auto const t0 = std::chrono::steady_clock::now();
        trace_options o;
        o.step_elems = 16;
        o.nslots = 4;
        o.root = n / 3;
        if (a.rail) o.ring_local = n % 8 == 0 ? 8 : 0; // nodes of 8 (72 and 576 ranks: 9 and 72 nodes)
        std::size_t const count = count_for(a, n, extra);
        schedule s = traced(a, n, nch, count, o);
        verify_result const r = verify(s);
        double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        INFO(to_string(a.coll) << " " << a.name << " n " << n << " nch " << nch << " count " << count << " steps "
                               << s.steps.size() << " (" << secs << " s)\n"
                               << show(r));
        REQUIRE(r.ok());
        REQUIRE(r.symbolic_checked);
        if (exact) REQUIRE(r.races_exact); // at 576 ranks only small schedules get the exact analysis
        REQUIRE(r.programs >= std::size_t(n)); // every rank works (a channel may get no data)
      }
}

} // namespace

TEST_CASE("verify: every traced algorithm at 72 ranks", "[verify][large]") {
  verify_all(72, {1, 2}, {0, 7}, true);
}

TEST_CASE("verify: every traced algorithm at 576 ranks", "[verify][large]") {
  verify_all(576, {1}, {0}, false, /*symmetric=*/false); // direct/NVLS at 576: test_trace_direct.cpp
}
