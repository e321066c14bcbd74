// All-to-all on the CPU team: the pairwise exchange over a communicator's
// point-to-point connections (weft::all_to_all, every protocol, 1..3 channels)
// and the direct all-to-all over a window, ranks 1..16, counts 0, 1, odd and
// several rounds; back-to-back calls; overlapping buffers refused over the
// communicator; bad input.
#include "test_direct_cases.hpp"

using namespace direct_test;

TEST_CASE("all_to_all over a communicator's connections, ranks 1..16", "[all_to_all]") {
  for (int n = 1; n <= 16; ++n) {
    weft::cpu_comm comm(n);
    for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(33), std::size_t(5000)}) {
      case_spec c;
      c.k = kind::all_to_all;
      c.a = algo::pairwise;
      c.nranks = n;
      c.count = count;
      c.nblocks = 1 + n % 3;
      std::string const e = run_case<float>(c, nullptr, &comm, weft::op::sum<float>{});
      INFO(describe(c));
      REQUIRE(e == "");
    }
  }
}

TEST_CASE("all_to_all over a communicator: every protocol, back to back", "[all_to_all]") {
  for (int pi = 0; pi < weft::protocol_count; ++pi) {
    int const n = 5;
    weft::cpu_comm comm(n);
    weft::cpu_team team(n);
    std::vector<std::string> err(n);
    REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
      int const r = tr.rank();
      std::size_t const cpp = 301;
      std::vector<std::uint16_t> in(cpp * n), out(cpp * n);
      for (int it = 0; it < 50; ++it) {
        for (std::size_t j = 0; j < in.size(); ++j) in[j] = std::uint16_t(mix(r, it, j));
        weft::coll_options o;
        o.proto = weft::protocol(pi);
        o.nchannels = 2;
        WEFT_TRY(weft::all_to_all(comm, tr, in.data(), out.data(), cpp, o));
        for (int q = 0; q < n; ++q)
          for (std::size_t j = 0; j < cpp; ++j)
            if (out[q * cpp + j] != std::uint16_t(mix(q, it, r * cpp + j))) {
              err[r] = "call " + std::to_string(it) + " block " + std::to_string(q) + " wrong";
              return weft::status::internal_error;
            }
      }
      return weft::status::success;
    }) == weft::status::success);
    for (auto const& e : err) CHECK(e == "");
  }
}

TEST_CASE("all_to_all over a window, ranks 1..16, in place and out of place", "[all_to_all]") {
  for (int n = 1; n <= 16; ++n) {
    weft::cpu_window w(n, small_window());
    for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(33), std::size_t(700)})
      for (int ip = 0; ip < 2; ++ip) {
        case_spec c;
        c.k = kind::all_to_all;
        c.a = algo::direct;
        c.nranks = n;
        c.count = count;
        c.in_place = ip == 1;
        c.nblocks = 1 + (n + ip) % 3;
        std::string const e = run_case<double>(c, &w, nullptr, weft::op::sum<double>{});
        INFO(describe(c));
        REQUIRE(e == "");
      }
  }
}

TEST_CASE("all_to_all: overlapping buffers and bad input are refused", "[all_to_all]") {
  int const n = 3;
  weft::cpu_comm comm(n);
  weft::cpu_team team(n);
  std::vector<weft::status> st;
  team.run([&](weft::team_rank& tr) {
    std::vector<int> buf(3 * 4);
    return weft::all_to_all(comm, tr, buf.data(), buf.data(), 4);
  }, &st);
  for (auto s : st) CHECK(s == weft::status::unsupported);
  CHECK(comm.last_error(0).find("in-place") != std::string::npos);
  CHECK(comm.healthy());
  team.run([&](weft::team_rank& tr) {
    std::vector<int> buf(3 * 4);
    return weft::all_to_all(comm, tr, buf.data(), static_cast<int*>(nullptr), 4);
  }, &st);
  for (auto s : st) CHECK(s == weft::status::invalid_argument);
  // A valid call still works after the refusals.
  REQUIRE(team.run([&](weft::team_rank& tr) -> weft::status {
    std::vector<int> in(3 * 2), out(3 * 2, -1);
    for (int j = 0; j < 6; ++j) in[j] = 10 * tr.rank() + j;
    WEFT_TRY(weft::all_to_all(comm, tr, in.data(), out.data(), 2));
    for (int q = 0; q < 3; ++q)
      for (int j = 0; j < 2; ++j)
        if (out[q * 2 + j] != 10 * q + tr.rank() * 2 + j) return weft::status::internal_error;
    return weft::status::success;
  }) == weft::status::success);
}
