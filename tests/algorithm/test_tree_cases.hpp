#pragma once
// A checker for the algorithms chosen through coll_options (tree, hierarchical,
// rank-order / deterministic) on the CPU team: seeded nonzero inputs for every
// rank, guard-filled outputs, one collective with the given options, and the
// host reference of ring_cases.hpp (tolerance for any reduction order; exact for
// integers, min/max and copies). Every rank of an all-reduce must hold the same
// bits, and nothing outside the output range (nor an out-of-place input) may change.
#include "ring_cases.hpp"

#include <functional>
#include <numeric>
#include <string>
#include <vector>

namespace tree_test {

using namespace ring_test;

struct algo_case {
  coll c = coll::all_reduce;
  opk o = opk::sum;
  int nranks = 2;
  std::size_t count = 0; //!< all_gather: sendcount; reduce_scatter: recvcount
  weft::protocol proto = weft::protocol::simple;
  int nchannels = 1;
  bool in_place = false;
  weft::algorithm algo = weft::algorithm::tree;
  weft::hier_layout hier{};
  bool deterministic = false;
  std::uint64_t seed = 1;
};

inline std::string describe(algo_case const& c) {
  std::string s = std::string(name(c.c)) + " " + weft::to_string(c.algo);
  if (c.algo == weft::algorithm::hierarchical)
    s += " (inner " + std::to_string(c.hier.inner) + " middle " + std::to_string(c.hier.middle) + " outer " +
         weft::to_string(c.hier.outer) + " within " + weft::to_string(c.hier.within) + ")";
  if (c.deterministic) s += " deterministic";
  if (is_reducing(c.c)) s += std::string(" op ") + rc_test::name(c.o);
  s += " nranks " + std::to_string(c.nranks) + " count " + std::to_string(c.count) + " proto " +
       weft::to_string(c.proto) + " nchannels " + std::to_string(c.nchannels) +
       (c.in_place ? " in-place" : " out-of-place") + " seed " + std::to_string(c.seed);
  return s;
}

inline weft::coll_options options_of(algo_case const& c) {
  weft::coll_options o;
  o.algo = c.algo;
  o.proto = c.proto;
  o.nchannels = c.nchannels;
  o.hier = c.hier;
  o.deterministic = c.deterministic;
  return o;
}

//! Per-rank results of the last check (so tests can compare bits across runs).
template <class T>
std::vector<std::vector<T>>& last_results() {
  static std::vector<std::vector<T>> r;
  return r;
}

template <class T, class Ops = sum_only>
outcome check_algo(algo_case const& c, weft::cpu_team& team, weft::cpu_comm& comm) {
  outcome out;
  int const n = c.nranks;
  std::size_t const un = std::size_t(n), count = c.count, guard = 32;
  std::size_t const in_n = c.c == coll::reduce_scatter ? un * count : count;
  std::size_t const out_n = c.c == coll::all_gather ? un * count : count;
  std::size_t const whole = in_n > out_n ? in_n : out_n; // in place: one buffer holds both
  rng64 g{mix_seed(c.seed, 0x7ee)};
  std::vector<std::vector<T>> in(un), sbuf(un), rbuf(un), rbefore(un);
  std::vector<std::size_t> out_lo(un);
  for (std::size_t r = 0; r < un; ++r) {
    in[r].resize(in_n);
    for (auto& x : in[r]) x = random_value<T>(g, c.o);
    rbuf[r].resize(guard + (c.in_place ? whole : out_n) + guard);
    for (auto& x : rbuf[r]) x = random_value<T>(g, c.o);
    out_lo[r] = guard + (c.in_place && c.c == coll::reduce_scatter ? r * count : 0);
    std::size_t const in_at = guard + (c.in_place && c.c == coll::all_gather ? r * count : 0);
    if (c.in_place)
      std::copy(in[r].begin(), in[r].end(), rbuf[r].begin() + std::ptrdiff_t(in_at));
    else
      sbuf[r] = in[r];
    rbefore[r] = rbuf[r];
  }
  weft::coll_options const opt = options_of(c);
  std::vector<weft::status> per_rank;
  weft::status const st = team.run(
      [&](weft::team_rank& tr) -> weft::status {
        std::size_t const R = std::size_t(tr.rank());
        T* const base = rbuf[R].data() + guard;
        T const* s = c.in_place ? (c.c == coll::all_gather ? base + R * count : base) : sbuf[R].data();
        T* d = c.in_place && c.c == coll::reduce_scatter ? base + R * count : base;
        if (c.c == coll::all_gather) return weft::all_gather(comm, tr, s, d, count, opt);
        weft::status res = weft::status::internal_error;
        dispatch_op<T>(Ops{}, c.o, n, [&](auto const& op) {
          if (c.c == coll::all_reduce) res = weft::all_reduce(comm, tr, s, d, count, op, opt);
          if (c.c == coll::reduce_scatter) res = weft::reduce_scatter(comm, tr, s, d, count, op, opt);
        });
        return res;
      },
      &per_rank);
  if (st != weft::status::success) {
    int bad = 0;
    while (bad + 1 < n && per_rank[std::size_t(bad)] == weft::status::success) ++bad;
    out.fail(std::string("run returned ") + weft::to_string(st) + "; first failing rank " + std::to_string(bad) +
             ": " + comm.last_error(bad));
    return out;
  }
  std::vector<T const*> xs(un);
  for (std::size_t r = 0; r < un; ++r) xs[r] = in[r].data();
  auto mismatch = [&](std::size_t r, std::size_t i, std::string const& d) {
    ++out.mismatches;
    out.fail("rank " + std::to_string(r) + " output element " + std::to_string(i) + ": " + d);
  };
  for (std::size_t r = 0; r < un; ++r) {
    T const* got = rbuf[r].data() + out_lo[r];
    for (std::size_t i = 0; i < out_n; ++i) {
      if (c.c == coll::all_gather) {
        if (std::memcmp(&got[i], &in[i / count][i % count], sizeof(T)) != 0)
          mismatch(r, i, "got " + show(got[i]) + " want " + show(in[i / count][i % count]));
        continue;
      }
      std::size_t const j = c.c == coll::reduce_scatter ? r * count + i : i;
      reduced<T> const ref = reference<T>(c.o, xs.data(), j, n);
      if constexpr (is_int<T>) {
        if (got[i] != ref.exact) mismatch(r, i, "got " + show(got[i]) + " want " + show(ref.exact));
      } else if (!(std::fabs(value_of(got[i]) - ref.want) <= ref.tol)) {
        mismatch(r, i, "got " + show(got[i]) + " want " + std::to_string(ref.want));
      }
    }
    if (c.c == coll::all_reduce && r > 0 && count > 0 &&
        std::memcmp(got, rbuf[0].data() + out_lo[0], count * sizeof(T)) != 0)
      out.fail("all_reduce: rank " + std::to_string(r) + "'s result differs in bits from rank 0's");
    std::size_t const lo = out_lo[r], hi = lo + out_n;
    if (std::memcmp(rbuf[r].data(), rbefore[r].data(), lo * sizeof(T)) != 0 ||
        std::memcmp(rbuf[r].data() + hi, rbefore[r].data() + hi, (rbuf[r].size() - hi) * sizeof(T)) != 0)
      out.fail("rank " + std::to_string(r) + ": written outside the output range");
    if (!c.in_place && std::memcmp(sbuf[r].data(), in[r].data(), in_n * sizeof(T)) != 0)
      out.fail("rank " + std::to_string(r) + ": send buffer modified");
  }
  auto& keep = last_results<T>();
  keep.assign(un, {});
  for (std::size_t r = 0; r < un; ++r)
    keep[r].assign(rbuf[r].begin() + std::ptrdiff_t(out_lo[r]), rbuf[r].begin() + std::ptrdiff_t(out_lo[r] + out_n));
  return out;
}

template <class T, class Ops = sum_only>
void require_algo(algo_case const& c, comm_cache& env, sweep_tally& t) {
  outcome const r = check_algo<T, Ops>(c, env.team(c.nranks), env.comm(c.nranks));
  ++t.cases;
  if (!r.ok) {
    ++t.failures;
    INFO(describe(c) << ": " << r.error << " (" << r.mismatches << " mismatching elements)");
    CHECK(r.ok);
    REQUIRE(t.failures < t.limit);
  }
}

//! A layout rule for any rank count: team sizes gcd(inner, n), then gcd(middle, n / inner).
inline std::function<weft::hier_layout(int)> fitted(int inner, int middle = 1,
                                                    weft::algorithm outer = weft::algorithm::ring,
                                                    weft::algorithm within = weft::algorithm::ring) {
  return [=](int n) {
    weft::hier_layout l;
    l.inner = std::gcd(inner, n);
    l.middle = std::gcd(middle, n / l.inner);
    l.outer = outer;
    l.within = within;
    return l;
  };
}

//! Ranks 1..9, 12, 13, 16 x counts {0, 7, 16n+3, 1000} x protocols x 1 and 3 channels, in and out
//! of place (alternating), float sum (max for count 7): the sweep of one algorithm choice.
//! (Count 1 and every rank count 1..16 are in the verifier's sweep of the traced schedules.)
inline void sweep(coll cl, weft::algorithm algo, std::function<weft::hier_layout(int)> const& layout,
                  bool deterministic = false,
                  std::vector<int> const& ranks = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16}) {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 7000 + 100 * unsigned(cl) + 10 * unsigned(algo);
  for (int n : ranks)
    for (std::size_t count : {std::size_t(0), std::size_t(7), std::size_t(16 * n + 3), std::size_t(1000)})
      for (weft::protocol p : all_protocols)
        for (int nch : {1, 3}) {
          algo_case c;
          c.c = cl;
          c.nranks = n;
          c.count = count;
          c.proto = p;
          c.nchannels = nch;
          c.in_place = (n + nch + int(p) + int(count % 5)) % 2 == 1;
          c.algo = algo;
          c.deterministic = deterministic;
          if (layout) c.hier = layout(n);
          c.o = (count == 7 && cl != coll::all_gather) ? opk::max : opk::sum;
          c.seed = ++seed;
          require_algo<float, sum_max>(c, env, t);
        }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}

} // namespace tree_test
