// NVLS collectives on the CPU team (multicast emulated with peer reads and
// writes on a window): all-reduce, all-gather and reduce-scatter over ranks
// 1..16, counts 0, 1, odd and several rounds, one and three blocks, in place
// and out of place; staged through the window, and zero-copy over buffers
// registered with cpu_window::register_symmetric.
#include "test_direct_cases.hpp"

using namespace direct_test;


TEST_CASE("nvls all-reduce over ranks 1..16", "[nvls]") { sweep(kind::all_reduce, algo::nvls); }
TEST_CASE("nvls all-gather over ranks 1..16", "[nvls]") { sweep(kind::all_gather, algo::nvls); }
TEST_CASE("nvls reduce-scatter over ranks 1..16", "[nvls]") { sweep(kind::reduce_scatter, algo::nvls); }

TEST_CASE("nvls: counter barriers and direct flag barriers mixed on one window", "[nvls]") {
  // NVLS calls cross the switch's counter barrier (emulated: an atomic add to
  // every rank's counter); the direct ones cross flag barriers. Both advance the
  // same cursors (epoch, parity), so they interleave on one window.
  int const n = 5;
  weft::cpu_window w(n, small_window());
  algo const seq[] = {algo::one_shot, algo::nvls, algo::two_shot, algo::nvls, algo::nvls, algo::ll, algo::nvls};
  int k = 0;
  for (int it = 0; it < 60; ++it) {
    case_spec c;
    c.k = kind::all_reduce;
    c.a = seq[it % 7];
    if (c.a == algo::nvls && it % 3 == 1) c.k = kind::all_gather;
    if (c.a == algo::nvls && it % 3 == 2) c.k = kind::reduce_scatter;
    c.nranks = n;
    c.count = c.a == algo::ll ? 37 : 700 + std::size_t(it);
    c.iters = 2;
    c.nblocks = 1 + (k++ % 2);
    std::string const e = run_case<std::int64_t>(c, &w, nullptr, weft::op::sum<std::int64_t>{});
    INFO(describe(c));
    REQUIRE(e == "");
  }
  // Every rank's counter of each block: nranks additions per counter barrier crossed.
  std::vector<std::uint64_t> counters(std::size_t(n) * 2), arrivals(std::size_t(n) * 2), epochs(std::size_t(n) * 2);
  weft::cpu_team team(n);
  REQUIRE(team.run([&](weft::team_rank& tr) {
    if (weft::status s = w.admit(tr, "inspect", 1); s != weft::status::success) return s;
    weft::peer_multicast const mc{w.view(tr), w.counter_offset()};
    for (int b = 0; b < 2; ++b) {
      std::size_t const i = std::size_t(tr.rank()) * 2 + std::size_t(b);
      counters[i] = *mc.counter(tr.rank(), b);
      arrivals[i] = mc.v.cursors[b].arrivals;
      epochs[i] = mc.v.cursors[b].epoch;
    }
    return weft::status::success;
  }) == weft::status::success);
  for (std::size_t i = 0; i < counters.size(); ++i) {
    INFO("rank " << i / 2 << " block " << i % 2 << ": counter " << counters[i] << ", arrivals " << arrivals[i]
                 << ", epoch " << epochs[i]);
    CHECK(arrivals[i] > 0);
    CHECK(counters[i] == std::uint64_t(n) * arrivals[i]);
    CHECK(epochs[i] > arrivals[i]); // the direct calls' flag barriers advanced the epoch too
  }
}

TEST_CASE("nvls: a rank that never arrives at a counter barrier times out, named", "[nvls]") {
  weft::cpu_window w(3);
  // The first call crosses 2 counter barriers on block 0.
  std::vector<weft::status> const st = second_call_without_rank2(w, [](auto& win, auto& tr, float* x, float* y) {
    return weft::nvls_all_reduce(win, tr, x, y, 8, weft::op::sum<float>{});
  });
  CHECK(st[0] == weft::status::timeout);
  CHECK(st[1] == weft::status::timeout);
  CHECK(st[2] == weft::status::success);
  INFO(w.last_error(0));
  CHECK(w.last_error(0).find("nvls_all_reduce") != std::string::npos);
  CHECK(w.last_error(0).find("NVLS barrier counter") != std::string::npos);
  // The third barrier on block 0: target 3 ranks x 3; ranks 0 and 1 added, rank 2 did not.
  CHECK(w.last_error(0).find("target 9, last seen 8") != std::string::npos);
  CHECK_FALSE(w.healthy());
}

TEST_CASE("nvls: back-to-back calls keep flags and parities straight", "[nvls]") {
  weft::cpu_window w(6, small_window());
  for (kind k : {kind::all_reduce, kind::all_gather, kind::reduce_scatter}) {
    case_spec c;
    c.k = k;
    c.a = algo::nvls;
    c.nranks = 6;
    c.count = 700;
    c.iters = 200;
    c.nblocks = 2;
    std::string const e = run_case<std::int64_t>(c, &w, nullptr, weft::op::sum<std::int64_t>{});
    INFO(describe(c));
    REQUIRE(e == "");
  }
}

// ---- zero-copy NVLS over symmetric buffers (cpu_window::register_symmetric) ----

namespace {

// One zero-copy case: every rank's buffers registered; `expect` the path every call takes.
template <class T, class Op>
std::string zero_copy_case(weft::cpu_window& w, kind k, int n, std::size_t count, bool in_place, int nblocks,
                           bool expect, int iters = 1) {
  case_spec c;
  c.k = k;
  c.a = algo::nvls;
  c.nranks = n;
  c.count = count;
  c.in_place = in_place;
  c.nblocks = nblocks;
  c.iters = iters;
  c.symmetric = true;
  c.expect_zero_copy = expect ? 1 : 0;
  return run_case<T>(c, &w, nullptr, Op{});
}

} // namespace

TEST_CASE("nvls zero-copy over symmetric buffers, ranks 1..16", "[nvls][zero-copy]") {
  // Whole 16-byte vectors run zero-copy (4 floats); 0 and 17 elements are staged.
  // 4100 floats is more than a small window's area: zero-copy takes one pass
  // where the staged path takes several rounds.
  for (int n = 1; n <= 16; ++n) {
    weft::cpu_window w(n, small_window());
    for (kind k : {kind::all_reduce, kind::all_gather, kind::reduce_scatter})
      for (std::size_t count : {std::size_t(4), std::size_t(1000), std::size_t(4100), std::size_t(0), std::size_t(17)})
        for (int ip = 0; ip < 2; ++ip) {
          bool const zc = count > 0 && count % 4 == 0;
          std::string const e = zero_copy_case<float, weft::op::sum<float>>(w, k, n, count, ip == 1,
                                                                           1 + 2 * ((n + ip) % 2), zc);
          INFO(name(k) << " n=" << n << " count=" << count << (ip ? " in place" : " out of place"));
          REQUIRE(e == "");
        }
    REQUIRE(w.healthy());
  }
}

TEST_CASE("nvls zero-copy: the switch's types run zero-copy, other reductions are staged", "[nvls][zero-copy]") {
  weft::cpu_window w(5, small_window());
  for (kind k : {kind::all_reduce, kind::reduce_scatter}) {
    INFO(name(k));
    // bf16 and fp16 sums: 8 elements per vector.
    CHECK(zero_copy_case<weft::bfloat16_t, weft::op::sum<weft::bfloat16_t>>(w, k, 5, 1000, false, 2, true) == "");
    CHECK(zero_copy_case<weft::half_t, weft::op::sum<weft::half_t>>(w, k, 5, 64, true, 1, true) == "");
    CHECK(zero_copy_case<weft::bfloat16_t, weft::op::sum<weft::bfloat16_t>>(w, k, 5, 12, false, 1, false) == "");
    // The switch adds fp32/bf16/fp16 only: integer sums and other operators are staged.
    CHECK(zero_copy_case<std::int32_t, weft::op::sum<std::int32_t>>(w, k, 5, 1000, false, 2, false) == "");
    CHECK(zero_copy_case<float, weft::op::max<float>>(w, k, 5, 1000, true, 2, false) == "");
    CHECK(zero_copy_case<double, weft::op::sum<double>>(w, k, 5, 1000, false, 1, false) == "");
  }
  // An all-gather only copies: any type whose pieces are whole vectors.
  CHECK(zero_copy_case<std::int32_t, weft::op::sum<std::int32_t>>(w, kind::all_gather, 5, 1000, false, 2, true) == "");
  CHECK(zero_copy_case<std::uint8_t, weft::op::sum<std::uint8_t>>(w, kind::all_gather, 5, 48, true, 1, true) == "");
  CHECK(zero_copy_case<double, weft::op::sum<double>>(w, kind::all_gather, 5, 3, false, 1, false) == "");
  CHECK(w.healthy());
}

TEST_CASE("nvls zero-copy: 1000 back-to-back calls mixed with staged and direct ones on one window",
          "[nvls][zero-copy]") {
  int const n = 4;
  weft::cpu_window w(n, small_window());
  int calls = 0;
  for (int round = 0; round < 10; ++round) {
    kind const k = round % 3 == 0 ? kind::all_reduce : round % 3 == 1 ? kind::all_gather : kind::reduce_scatter;
    REQUIRE(zero_copy_case<float, weft::op::sum<float>>(w, k, n, 256, round % 2 == 1, 1 + round % 3, true, 60) == "");
    REQUIRE(zero_copy_case<float, weft::op::sum<float>>(w, k, n, 257, false, 2, false, 20) == "");
    case_spec d;
    d.k = kind::all_reduce;
    d.a = round % 2 ? algo::two_shot : algo::ll;
    d.nranks = n;
    d.count = 37;
    d.iters = 20;
    d.nblocks = 1 + round % 2;
    REQUIRE(run_case<float>(d, &w, nullptr, weft::op::sum<float>{}) == "");
    calls += 100;
  }
  CHECK(calls == 1000);
  CHECK(w.healthy());
}

TEST_CASE("nvls zero-copy: a buffer outside the registered one is staged; a send outside is copied in", "[nvls][zero-copy]") {
  int const n = 3;
  weft::cpu_window w(n);
  std::vector<std::vector<float>> mem(n, std::vector<float>(128));
  std::vector<int> paths(n, -1), right(n, 0);
  weft::cpu_team team(n);
  REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    float* base = mem[std::size_t(r)].data();
    // Only the first 64 floats are registered.
    WEFT_TRY(w.register_symmetric(tr, base, 64 * sizeof(float)));
    for (int i = 0; i < 128; ++i) base[i] = float(r + 1);
    // [48, 80) crosses the end of the registered buffer: staged, and still right.
    WEFT_TRY(weft::nvls_all_reduce(w, tr, base + 48, base + 48, 32, weft::op::sum<float>{}));
    paths[std::size_t(r)] = w.last_nvls_zero_copy(r) ? 1 : 0;
    bool ok = true;
    for (int i = 48; i < 80; ++i) ok = ok && base[i] == float(n * (n + 1) / 2);
    // [16, 48) lies inside: zero-copy.
    WEFT_TRY(weft::nvls_all_reduce(w, tr, base + 16, base + 16, 32, weft::op::sum<float>{}));
    ok = ok && w.last_nvls_zero_copy(r);
    for (int i = 16; i < 48; ++i) ok = ok && base[i] == float(n * (n + 1) / 2);
    // Out of place from [96, 128) (not registered) into [0, 16): zero-copy, the send copied in first.
    for (int i = 96; i < 128; ++i) base[i] = float((r + 1) * (i - 95));
    WEFT_TRY(weft::nvls_all_reduce(w, tr, base + 96, base, 16, weft::op::sum<float>{}));
    ok = ok && w.last_nvls_zero_copy(r) && w.last_nvls_copied_in(r);
    for (int i = 0; i < 16; ++i) ok = ok && base[i] == float(n * (n + 1) / 2 * (i + 1));
    for (int i = 96; i < 128; ++i) ok = ok && base[i] == float((r + 1) * (i - 95)); // the send is left alone
    // Out of place from [32, 48) (registered) into [0, 16): read from the sends, nothing copied.
    for (int i = 32; i < 48; ++i) base[i] = float((r + 1) * (i - 31));
    WEFT_TRY(weft::nvls_all_reduce(w, tr, base + 32, base, 16, weft::op::sum<float>{}));
    ok = ok && w.last_nvls_zero_copy(r) && !w.last_nvls_copied_in(r);
    for (int i = 0; i < 16; ++i) ok = ok && base[i] == float(n * (n + 1) / 2 * (i + 1));
    right[std::size_t(r)] = ok;
    return w.deregister_symmetric(tr, base);
  }) == weft::status::success);
  for (int r = 0; r < n; ++r) {
    CHECK(paths[std::size_t(r)] == 0);
    CHECK(right[std::size_t(r)] == 1);
  }
}

TEST_CASE("nvls zero-copy: each rank's own buffers may be aligned differently", "[nvls][zero-copy]") {
  // The path is decided from what every rank shares (count, type, operator, the
  // symmetric buffer's place). The ranks' own buffers -- an all-reduce's plain
  // send, an all-gather's send, a reduce-scatter's recv -- sit 4 bytes off a
  // 16-byte boundary on odd ranks: every rank still runs zero-copy, and the
  // results are exact.
  int const n = 4;
  std::size_t const count = 1000; // per rank: whole 16-byte vectors
  weft::cpu_window w(n, small_window());
  std::vector<std::vector<float>> sym(n, std::vector<float>(count * n)), own(n, std::vector<float>(count * n + 4));
  std::vector<std::string> errors(n);
  weft::cpu_team team(n);
  REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    std::string& err = errors[std::size_t(r)];
    float* const s = sym[std::size_t(r)].data();
    float* const mine = own[std::size_t(r)].data() + (r % 2); // 4 bytes off on odd ranks
    WEFT_TRY(w.register_symmetric(tr, s, count * std::size_t(n) * sizeof(float)));
    weft::direct_options two;
    two.nblocks = 2;
    auto x = [](int q, std::size_t j) { return float(int((j * 5 + std::size_t(q) * 3) % 17) - 8); };
    auto check_path = [&](char const* what) {
      if (err.empty() && !w.last_nvls_zero_copy(r)) err = std::string(what) + ": staged, not zero-copy";
    };
    // all-reduce: plain send (copied in) -> symmetric recv
    for (std::size_t j = 0; j < count; ++j) mine[j] = x(r, j);
    WEFT_TRY(weft::nvls_all_reduce(w, tr, mine, s, count, weft::op::sum<float>{}, two));
    check_path("all-reduce");
    for (std::size_t j = 0; j < count && err.empty(); ++j) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += x(q, j);
      if (s[j] != want) err = "all-reduce: wrong element " + std::to_string(j);
    }
    // all-gather: plain send -> symmetric recv
    for (std::size_t j = 0; j < count; ++j) mine[j] = x(r, j) + 100.0f;
    WEFT_TRY(weft::nvls_all_gather(w, tr, mine, s, count, two));
    check_path("all-gather");
    for (std::size_t j = 0; j < count * std::size_t(n) && err.empty(); ++j)
      if (s[j] != x(int(j / count), j % count) + 100.0f) err = "all-gather: wrong element " + std::to_string(j);
    // reduce-scatter: symmetric send -> plain recv
    WEFT_TRY(tr.barrier()); // every rank has read the all-gather's result before the sends are refilled
    for (std::size_t j = 0; j < count * std::size_t(n); ++j) s[j] = x(r, j);
    WEFT_TRY(weft::nvls_reduce_scatter(w, tr, s, mine, count, weft::op::sum<float>{}, two));
    check_path("reduce-scatter");
    for (std::size_t j = 0; j < count && err.empty(); ++j) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += x(q, std::size_t(r) * count + j);
      if (mine[j] != want) err = "reduce-scatter: wrong element " + std::to_string(j);
    }
    WEFT_TRY(tr.barrier());
    return w.deregister_symmetric(tr, s);
  }) == weft::status::success);
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r);
    CHECK(errors[std::size_t(r)] == "");
  }
}

TEST_CASE("nvls zero-copy: register_symmetric refuses on every rank and registers nothing", "[nvls][zero-copy]") {
  int const n = 3;
  weft::cpu_window w(n);
  std::vector<std::vector<float>> mem(n, std::vector<float>(256));
  auto run = [&](auto body) {
    std::vector<weft::status> st;
    weft::cpu_team team(n);
    team.run([&](weft::team_rank& tr) { return body(tr, mem[std::size_t(tr.rank())].data()); }, &st);
    return st;
  };
  SECTION("sizes that differ") {
    auto const st = run([&](weft::team_rank& tr, float* b) {
      return w.register_symmetric(tr, b, (tr.rank() == 1 ? 128 : 256) * sizeof(float));
    });
    for (int r = 0; r < n; ++r) CHECK(st[std::size_t(r)] == weft::status::invalid_argument);
    INFO(w.last_error(0));
    CHECK(w.last_error(0).find("rank 1 registers 512 bytes") != std::string::npos);
  }
  SECTION("a null buffer on one rank") {
    auto const st = run([&](weft::team_rank& tr, float* b) {
      return w.register_symmetric(tr, tr.rank() == 2 ? nullptr : b, 1024);
    });
    for (int r = 0; r < n; ++r) CHECK(st[std::size_t(r)] == weft::status::invalid_argument);
    CHECK(w.last_error(1).find("rank 2 gave a null or empty buffer") != std::string::npos);
  }
  SECTION("buffers aligned differently (address mod 16)") {
    auto const st = run([&](weft::team_rank& tr, float* b) {
      return w.register_symmetric(tr, b + (tr.rank() == 1 ? 1 : 0), 512);
    });
    for (int r = 0; r < n; ++r) CHECK(st[std::size_t(r)] == weft::status::invalid_argument);
    INFO(w.last_error(2));
    CHECK(w.last_error(2).find("rank 1's buffer sits 4 bytes past a 16-byte boundary, rank 0's 0") != std::string::npos);
  }
  SECTION("deregistering parts of different registrations") {
    auto const st = run([&](weft::team_rank& tr, float* b) -> weft::status {
      WEFT_TRY(w.register_symmetric(tr, b, 256));       // A: floats [0, 64)
      WEFT_TRY(w.register_symmetric(tr, b + 128, 256)); // B: floats [128, 192)
      // Rank 0 names A, the others B: refused everywhere, both stay registered.
      weft::status const mixed = w.deregister_symmetric(tr, tr.rank() == 0 ? b : b + 128);
      if (mixed != weft::status::invalid_argument) return weft::status::internal_error;
      WEFT_TRY(w.deregister_symmetric(tr, b));
      return w.deregister_symmetric(tr, b + 128);
    });
    for (int r = 0; r < n; ++r) CHECK(st[std::size_t(r)] == weft::status::success);
    CHECK(w.last_error(1).find("no error") != std::string::npos);
  }
  SECTION("overlap with a registered buffer; then deregistering a buffer some rank never registered") {
    auto const st = run([&](weft::team_rank& tr, float* b) -> weft::status {
      WEFT_TRY(w.register_symmetric(tr, b, 512));
      weft::status const overlap = w.register_symmetric(tr, b + 64, 512); // bytes [256, 768): overlaps on every rank
      if (overlap != weft::status::invalid_argument) return weft::status::internal_error;
      weft::status const wrong = w.deregister_symmetric(tr, tr.rank() == 0 ? static_cast<void*>(b + 1) : b);
      if (wrong != weft::status::invalid_argument) return weft::status::internal_error;
      return w.deregister_symmetric(tr, b); // still registered on every rank
    });
    for (int r = 0; r < n; ++r) CHECK(st[std::size_t(r)] == weft::status::success);
  }
  // Nothing stays registered: a zero-copy-shaped call is staged.
  weft::cpu_team team(n);
  std::vector<int> zc(n, -1);
  REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
    float* b = mem[std::size_t(tr.rank())].data();
    WEFT_TRY(weft::nvls_all_reduce(w, tr, b, b, 64, weft::op::sum<float>{}));
    zc[std::size_t(tr.rank())] = w.last_nvls_zero_copy(tr.rank()) ? 1 : 0;
    return weft::status::success;
  }) == weft::status::success);
  for (int r = 0; r < n; ++r) CHECK(zc[std::size_t(r)] == 0);
}

TEST_CASE("nvls zero-copy: a rank that never arrives times out at the counter barrier, named", "[nvls][zero-copy]") {
  int const n = 3;
  weft::cpu_window w(n);
  std::vector<std::vector<float>> mem(n, std::vector<float>(64, 1.0f));
  weft::team_options to;
  to.timeout_ns = 200'000'000; // 0.2 s
  weft::cpu_team team(n, to);
  std::vector<weft::status> st;
  std::vector<int> zc(n, 0);
  team.run([&](weft::team_rank& tr) -> weft::status {
    float* b = mem[std::size_t(tr.rank())].data();
    WEFT_TRY(w.register_symmetric(tr, b, 64 * sizeof(float)));
    WEFT_TRY(weft::nvls_all_reduce(w, tr, b, b, 64, weft::op::sum<float>{}));
    zc[std::size_t(tr.rank())] = w.last_nvls_zero_copy(tr.rank());
    if (tr.rank() == 2) return weft::status::success; // rank 2 skips the next call
    return weft::nvls_all_reduce(w, tr, b, b, 64, weft::op::sum<float>{});
  }, &st);
  CHECK(zc == std::vector<int>{1, 1, 1});
  CHECK(st[0] == weft::status::timeout);
  CHECK(st[1] == weft::status::timeout);
  CHECK(st[2] == weft::status::success);
  INFO(w.last_error(0));
  CHECK(w.last_error(0).find("nvls_all_reduce") != std::string::npos);
  // The first call crossed 2 counter barriers on block 0; the third: target 3 x 3, rank 2 missing.
  CHECK(w.last_error(0).find("NVLS barrier counter, block 0, target 9, last seen 8") != std::string::npos);
  CHECK_FALSE(w.healthy());
}
