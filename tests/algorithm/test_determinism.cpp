// The deterministic mode: all-reduce results are the same bits on every rank,
// for every algorithm the caller names, every channel count, protocol and slot
// size, on every run -- and they equal a host reduction in rank order. Inputs
// span many magnitudes, so a different order would change the bits (checked).
#include "test_tree_cases.hpp"

#include <weft/core/types.hpp>

#include <map>
#include <memory>

using namespace tree_test;

namespace {

template <class T>
constexpr bool is_narrow_v = !std::is_same_v<T, float> && !std::is_same_v<T, double>;

// Values whose sum depends on the order: magnitudes 2^-20 .. 2^20, both signs.
template <class T>
std::vector<std::vector<T>> order_sensitive(int n, std::size_t count, std::uint64_t seed) {
  rng64 g{seed};
  std::vector<std::vector<T>> x(static_cast<std::size_t>(n), std::vector<T>(count));
  for (auto& v : x)
    for (auto& e : v) {
      std::uint64_t const b = g.next();
      double const m = std::ldexp(1.0 + double(b >> 12) * 0x1p-52, int(b % 41) - 20) * ((b >> 6) & 1 ? -1 : 1);
      e = make_float<T>(is_narrow_v<T> ? m / 1024.0 : m);
    }
  return x;
}

// The host reduction in rank order, rounding to T after each step the way the prims do.
template <class T>
std::vector<T> rank_order_reference(std::vector<std::vector<T>> const& x) {
  std::vector<T> acc = x[0];
  for (std::size_t r = 1; r < x.size(); ++r)
    for (std::size_t i = 0; i < acc.size(); ++i) {
      if constexpr (is_narrow_v<T>) acc[i] = make_float<T>(double(float(value_of(acc[i])) + float(value_of(x[r][i]))));
      else acc[i] = T(acc[i] + x[r][i]);
    }
  return acc;
}

template <class T>
std::vector<std::vector<T>> run(std::vector<std::vector<T>> const& x, weft::coll_options const& o,
                                weft::cpu_comm_config cfg = {}) {
  int const n = int(x.size());
  std::size_t const count = x[0].size();
  static std::map<int, std::unique_ptr<weft::cpu_team>> teams; // one team per size: threads are not free
  auto& team_ptr = teams[n];
  if (!team_ptr) team_ptr = std::make_unique<weft::cpu_team>(n);
  weft::cpu_team& team = *team_ptr;
  weft::cpu_comm comm(n, cfg);
  std::vector<std::vector<T>> y(static_cast<std::size_t>(n), std::vector<T>(count));
  weft::status const st = team.run([&](weft::team_rank& tr) {
    std::size_t const R = std::size_t(tr.rank());
    return weft::all_reduce(comm, tr, x[R].data(), y[R].data(), count, weft::op::sum<T>{}, o);
  });
  REQUIRE(st == weft::status::success);
  return y;
}

template <class T>
void bit_identity(int n, std::size_t count) {
  auto const x = order_sensitive<T>(n, count, 99 + std::uint64_t(n));
  std::vector<T> const want = rank_order_reference(x);
  std::size_t variants = 0;
  for (weft::algorithm a : {weft::algorithm::ring, weft::algorithm::tree, weft::algorithm::recursive_doubling,
                            weft::algorithm::rabenseifner, weft::algorithm::hierarchical, weft::algorithm::rank_order})
    for (weft::protocol p : all_protocols)
      for (int nch : {1, 3}) {
        weft::coll_options o;
        o.algo = a;
        o.proto = p;
        o.nchannels = nch;
        o.deterministic = true;
        weft::cpu_comm_config cfg;
        cfg.simple_slot_bytes = a == weft::algorithm::tree || a == weft::algorithm::ring ? 1024 : 32 << 10; // steps too
        auto const y = run(x, o, cfg);
        for (int r = 0; r < n; ++r) {
          INFO(weft::to_string(a) << " " << weft::to_string(p) << " nch " << nch << " rank " << r << " n " << n
                                  << " count " << count);
          REQUIRE(std::memcmp(y[std::size_t(r)].data(), want.data(), count * sizeof(T)) == 0);
        }
        ++variants;
      }
  REQUIRE(variants == 6 * 3 * 2);
}

} // namespace

TEST_CASE("deterministic: same bits for every algorithm, protocol, channel count and step", "[determinism]") {
  bit_identity<float>(2, 1);
  bit_identity<float>(3, 5000);
  bit_identity<float>(8, 333);
  bit_identity<double>(7, 777);
  bit_identity<weft::half_t>(6, 1001);
}

TEST_CASE("deterministic: the order matters for these inputs (without the mode, bits differ)", "[determinism]") {
  // The check above would be empty if any order gave the same bits: show that the
  // ring (a rotated order per chunk) and the tree disagree with the rank order.
  int const n = 8;
  std::size_t const count = 5000;
  auto const x = order_sensitive<float>(n, count, 5);
  std::vector<float> const want = rank_order_reference(x);
  for (weft::algorithm a : {weft::algorithm::ring, weft::algorithm::tree}) {
    weft::coll_options o;
    o.algo = a;
    auto const y = run(x, o);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < count; ++i) differ += std::memcmp(&y[0][i], &want[i], sizeof(float)) != 0;
    INFO(weft::to_string(a));
    CHECK(differ > 0);
  }
}

TEST_CASE("deterministic: repeated runs and message sizes", "[determinism]") {
  int const n = 5;
  auto const x = order_sensitive<float>(n, 4099, 17);
  weft::coll_options o;
  o.deterministic = true;
  o.algo = weft::algorithm::tree; // ignored by the mode
  auto const first = run(x, o);
  for (int k = 0; k < 5; ++k) REQUIRE(run(x, o) == first);
  // A prefix of the message reduces to a prefix of the result: the bits of an element
  // do not depend on the message size.
  for (std::size_t count : {std::size_t(1), std::size_t(17), std::size_t(1000)}) {
    std::vector<std::vector<float>> part(static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) part[std::size_t(r)].assign(x[std::size_t(r)].begin(), x[std::size_t(r)].begin() + std::ptrdiff_t(count));
    auto const y = run(part, o);
    REQUIRE(std::memcmp(y[2].data(), first[2].data(), count * sizeof(float)) == 0);
  }
}

