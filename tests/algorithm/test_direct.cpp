// Direct collectives over a CPU-team window: every all-reduce flavour
// (one-shot, two-shot, LL), all-gather and reduce-scatter over ranks 1..16,
// element counts 0, 1, odd and several rounds of the window, one and three
// blocks, in place and out of place; 1000 back-to-back calls mixing the
// flavours on one window; bad input, a window too small for the rank count, and
// a rank that never arrives (bounded wait naming the peer, then a broken window).
#include "test_direct_cases.hpp"

#include <chrono>
#include <thread>

using namespace direct_test;


TEST_CASE("direct all-reduce: one-shot over ranks 1..16", "[direct]") { sweep(kind::all_reduce, algo::one_shot); }
TEST_CASE("direct all-reduce: two-shot over ranks 1..16", "[direct]") { sweep(kind::all_reduce, algo::two_shot); }
TEST_CASE("direct all-reduce: LL over ranks 1..16", "[direct]") { sweep(kind::all_reduce, algo::ll); }
TEST_CASE("direct all-gather over ranks 1..16", "[direct]") { sweep(kind::all_gather, algo::direct); }
TEST_CASE("direct reduce-scatter over ranks 1..16", "[direct]") { sweep(kind::reduce_scatter, algo::direct); }

TEST_CASE("direct: 1000 back-to-back calls mixing flavours on one window", "[direct]") {
  int const n = 5;
  weft::cpu_window w(n, small_window());
  std::vector<std::string> errors(n);
  weft::cpu_team team(n);
  std::vector<std::vector<std::int32_t>> in(n), out(n);
  REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    for (int it = 0; it < 1000; ++it) {
      std::size_t const count = 1 + std::size_t(it * 7 % 1500); // up to two rounds of the small window
      in[r].resize(count);
      out[r].assign(count, -1);
      for (std::size_t j = 0; j < count; ++j) in[r][j] = input<std::int32_t, weft::op::sum<std::int32_t>>(r, it, j);
      weft::direct_options o;
      o.flavour = weft::direct_flavour(it % 3);
      o.nblocks = 1 + it % 2;
      weft::status s = it % 4 == 3 ? weft::nvls_all_reduce(w, tr, in[r].data(), out[r].data(), count,
                                                           weft::op::sum<std::int32_t>{}, o)
                                   : weft::direct_all_reduce(w, tr, in[r].data(), out[r].data(), count,
                                                             weft::op::sum<std::int32_t>{}, o);
      if (s != weft::status::success) {
        errors[r] = "call " + std::to_string(it) + ": " + w.last_error(r);
        return s;
      }
      for (std::size_t j = 0; j < count; ++j) {
        std::uint32_t sum = 0;
        for (int q = 0; q < n; ++q) sum += std::uint32_t(input<std::int32_t, weft::op::sum<std::int32_t>>(q, it, j));
        if (out[r][j] != std::int32_t(sum)) {
          errors[r] = "call " + std::to_string(it) + " element " + std::to_string(j) + " wrong";
          return weft::status::internal_error;
        }
      }
    }
    return weft::status::success;
  }) == weft::status::success);
  for (auto const& e : errors) CHECK(e == "");
  CHECK(w.healthy());
}

TEST_CASE("direct: bad input and unsupported shapes get a clear status", "[direct]") {
  int const n = 4;
  weft::cpu_team team(n);
  SECTION("null buffer") {
    weft::cpu_window w(n);
    std::vector<weft::status> st;
    team.run([&](weft::team_rank& tr) {
      float x[4] = {1, 2, 3, 4};
      return weft::direct_all_reduce(w, tr, x, static_cast<float*>(nullptr), 4, weft::op::sum<float>{});
    }, &st);
    for (auto s : st) CHECK(s == weft::status::invalid_argument);
    CHECK(w.last_error(0).find("null buffer") != std::string::npos);
    CHECK(w.healthy());
  }
  SECTION("nblocks out of range") {
    weft::cpu_window w(n);
    std::vector<weft::status> st;
    team.run([&](weft::team_rank& tr) {
      float x[4] = {1, 2, 3, 4};
      weft::direct_options o;
      o.nblocks = 9;
      return weft::direct_all_gather(w, tr, x, x, 1, o);
    }, &st);
    for (auto s : st) CHECK(s == weft::status::invalid_argument);
    CHECK(w.last_error(2).find("nblocks") != std::string::npos);
  }
  SECTION("a window too small for one piece per rank") {
    weft::window_config cfg;
    cfg.area_bytes = 64; // 16 floats: no 16-element piece for 4 ranks
    weft::cpu_window w(n, cfg);
    std::vector<weft::status> st;
    team.run([&](weft::team_rank& tr) {
      std::vector<float> in(4 * 8, 1.0f), out(8);
      return weft::direct_reduce_scatter(w, tr, in.data(), out.data(), 8, weft::op::sum<float>{});
    }, &st);
    for (auto s : st) CHECK(s == weft::status::unsupported);
    CHECK(w.last_error(1).find("area_bytes") != std::string::npos);
    CHECK(w.healthy()); // refused before any flag moved
  }
  SECTION("invalid window configuration") {
    weft::window_config cfg;
    cfg.area_bytes = 100; // not a multiple of 64
    weft::cpu_window w(n, cfg);
    std::vector<weft::status> st;
    team.run([&](weft::team_rank& tr) {
      float x = 1, y = 0;
      return weft::direct_all_reduce(w, tr, &x, &y, 1, weft::op::sum<float>{});
    }, &st);
    for (auto s : st) CHECK(s == weft::status::invalid_argument);
    CHECK(w.last_error(0) == "invalid window configuration");
  }
}

TEST_CASE("direct: a rank that never arrives times out with the peer named; the window is then broken", "[direct]") {
  int const n = 3;
  weft::cpu_window w(n);
  weft::direct_options o;
  o.flavour = weft::direct_flavour::two_shot;
  std::vector<weft::status> const st = second_call_without_rank2(w, [&](auto& win, auto& tr, float* x, float* y) {
    return weft::direct_all_reduce(win, tr, x, y, 8, weft::op::sum<float>{}, o);
  });
  weft::team_options to;
  to.timeout_ns = 200'000'000;
  weft::cpu_team team(n, to);
  CHECK(st[0] == weft::status::timeout);
  CHECK(st[1] == weft::status::timeout);
  CHECK(st[2] == weft::status::success);
  CHECK(w.last_error(0).find("waiting for rank 2") != std::string::npos);
  CHECK(w.last_error(0).find("direct_all_reduce") != std::string::npos);
  CHECK_FALSE(w.healthy());
  std::vector<weft::status> again;
  team.run([&](weft::team_rank& tr) {
    float x = 1, y = 0;
    return weft::direct_all_reduce(w, tr, &x, &y, 1, weft::op::sum<float>{});
  }, &again);
  for (auto s : again) CHECK(s == weft::status::aborted);
  CHECK(w.last_error(1).find("broken") != std::string::npos);
}

TEST_CASE("direct: an LL wait that times out names the sender", "[direct]") {
  int const n = 2;
  weft::team_options to;
  to.timeout_ns = 200'000'000;
  weft::cpu_team team(n, to);
  weft::cpu_window w(n);
  std::vector<weft::status> st;
  team.run([&](weft::team_rank& tr) -> weft::status {
    float x[4] = {1, 2, 3, 4}, y[4] = {};
    weft::direct_options o;
    o.flavour = weft::direct_flavour::ll;
    WEFT_TRY(weft::direct_all_reduce(w, tr, x, y, 4, weft::op::sum<float>{}, o));
    if (tr.rank() == 1) return weft::status::success;
    return weft::direct_all_reduce(w, tr, x, y, 4, weft::op::sum<float>{}, o);
  }, &st);
  CHECK(st[0] == weft::status::timeout);
  CHECK(w.last_error(0).find("LL line") != std::string::npos);
  CHECK(w.last_error(0).find("rank 1") != std::string::npos);
}

TEST_CASE("direct: scratch memory is accounted for", "[direct]") {
  weft::cpu_window w(4, small_window());
  CHECK(w.scratch_bytes() == 0); // nothing until the ranks register
  weft::cpu_team team(4);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    float x = 1, y = 0;
    return weft::direct_all_reduce(w, tr, &x, &y, 1, weft::op::sum<float>{});
  }) == weft::status::success);
  weft::window_config const c = small_window();
  std::size_t const region = weft::sym_view::region_bytes(4, c.nblocks, c.area_bytes, c.ll_bytes);
  CHECK(w.scratch_bytes() >= 4 * region);
  CHECK(w.scratch_bytes() < 4 * (region + 64 << 10));
}
