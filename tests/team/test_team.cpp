// The CPU team: barrier correctness (also under ThreadSanitizer), all_gather,
// bounded waits when a rank never arrives, abort propagation.
#include <catch2/catch.hpp>
#include <weft/team/cpu_team.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <vector>

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

TEST_CASE("team barrier orders plain writes between phases", "[team]") {
  for (int n : {1, 2, 3, 5, 8}) {
    weft::cpu_team team(n);
    std::vector<int> board(std::size_t(n), -1); // plain ints: the barrier must order them
    std::atomic<int> mismatches{0};
    int const rounds = 200;
    weft::status s = team.run([&](weft::team_rank& r) -> weft::status {
      for (int k = 0; k < rounds; ++k) {
        board[std::size_t(r.rank())] = k;
        if (auto st = r.barrier(); !weft::ok(st)) return st;
        for (int p = 0; p < n; ++p)
          if (board[std::size_t(p)] != k) ++mismatches;
        if (auto st = r.barrier(); !weft::ok(st)) return st;
      }
      return weft::status::success;
    });
    INFO("n = " << n);
    CHECK(s == weft::status::success);
    CHECK(mismatches.load() == 0);
  }
}

TEST_CASE("team ranks see each other's memory through all_gather", "[team]") {
  int const n = 6;
  weft::cpu_team team(n);
  std::vector<std::vector<long>> buffers(n);
  std::atomic<int> bad{0};
  weft::status s = team.run([&](weft::team_rank& r) -> weft::status {
    auto& mine = buffers[std::size_t(r.rank())];
    mine.assign(100, 1000L * r.rank());
    std::vector<long*> all(n);
    if (auto st = r.all_gather_ptr(mine.data(), all.data()); !weft::ok(st)) return st;
    // Read every peer's buffer directly, as the prims will.
    for (int p = 0; p < n; ++p)
      for (long v : std::vector<long>(all[std::size_t(p)], all[std::size_t(p)] + 100))
        if (v != 1000L * p) ++bad;
    // Byte all-gather of a small struct.
    struct info { int rank; double x; } me{r.rank(), r.rank() * 0.5}, got[n];
    if (auto st = r.all_gather(&me, sizeof(me), got); !weft::ok(st)) return st;
    for (int p = 0; p < n; ++p)
      if (got[p].rank != p || got[p].x != p * 0.5) ++bad;
    return r.barrier();
  });
  CHECK(s == weft::status::success);
  CHECK(bad.load() == 0);
}

TEST_CASE("a rank that never arrives: the others time out within the bound", "[team]") {
  weft::team_options opts;
  opts.timeout_ns = 100'000'000; // 100 ms
  weft::cpu_team team(4, opts);
  std::vector<weft::status> per_rank;
  std::vector<double> waited(4, 0.0);
  auto const t0 = std::chrono::steady_clock::now();
  weft::status s = team.run(
      [&](weft::team_rank& r) -> weft::status {
        if (r.rank() == 2) return weft::status::success; // leaves without arriving
        auto const w0 = std::chrono::steady_clock::now();
        weft::status st = r.barrier();
        waited[std::size_t(r.rank())] = seconds_since(w0);
        return st;
      },
      &per_rank);
  CHECK(s == weft::status::timeout);
  REQUIRE(per_rank.size() == 4);
  for (int r : {0, 1, 3}) {
    CHECK(per_rank[std::size_t(r)] == weft::status::timeout);
    CHECK(waited[std::size_t(r)] >= 0.099);
    CHECK(waited[std::size_t(r)] < 2.0);
  }
  CHECK(per_rank[2] == weft::status::success);
  CHECK(seconds_since(t0) < 3.0);
}

TEST_CASE("a failing rank aborts the others promptly", "[team]") {
  weft::team_options opts;
  opts.timeout_ns = 30'000'000'000ull; // long: the abort, not the timeout, must end the waits
  weft::cpu_team team(3, opts);
  std::vector<weft::status> per_rank;
  auto const t0 = std::chrono::steady_clock::now();
  weft::status s = team.run(
      [&](weft::team_rank& r) -> weft::status {
        if (r.rank() == 1) return weft::status::invalid_argument;
        return r.barrier();
      },
      &per_rank);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(s == weft::status::invalid_argument); // the cause, not the consequence
  CHECK(per_rank[0] == weft::status::aborted);
  CHECK(per_rank[2] == weft::status::aborted);
}

TEST_CASE("an exception in a rank becomes internal_error and aborts the team", "[team]") {
  weft::cpu_team team(2);
  weft::status s = team.run([&](weft::team_rank& r) -> weft::status {
    if (r.rank() == 0) throw std::runtime_error("boom");
    return r.barrier();
  });
  CHECK(s == weft::status::internal_error);
}

TEST_CASE("a team is reusable across runs and rejects a bad size", "[team]") {
  weft::cpu_team team(3);
  for (int k = 0; k < 5; ++k) {
    std::atomic<int> count{0};
    CHECK(team.run([&](weft::team_rank& r) {
      ++count;
      (void)r.barrier();
    }) == weft::status::success);
    CHECK(count.load() == 3);
  }
  weft::cpu_team bad(0);
  CHECK(bad.run([](weft::team_rank&) {}) == weft::status::invalid_argument);
}
