#pragma once
// One checker for the ring family on the CPU team. check_ring builds seeded
// random inputs (never zeros) and guard-filled outputs for every rank, runs one
// collective through weft::cpu_team + weft::cpu_comm, and compares every rank's
// output with a host reference: double for floating types (tolerance scaled by
// the type's epsilon x nranks x magnitude, because the ring rounds to T after
// every hop), exact arithmetic modulo 2^bits for integers, bit-exact copies for
// all-gather and broadcast, exact min/max. It also checks that nothing outside
// the output range is written (guards around every buffer, the input of an
// out-of-place call, a non-root's recv for reduce) and that all-reduce gives
// bit-identical results on every rank.
//
// In-place conventions follow NCCL: all-reduce/broadcast/reduce when send ==
// recv; all-gather when send == recv + rank * count; reduce-scatter when
// send + rank * recvcount == recv.
//
// Instantiation is explicit and small: check_ring<T, op_list<...>, Colls> only
// compiles the operators in the list and the collectives in the mask, so each
// test TU chooses what it pays for in compile time.
#include <catch2/catch.hpp>
#include <weft/team/cpu_comm.hpp>

#include "reduce_copy_cases.hpp" // opk, value_of, make_float, type_eps, premul_scale

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace ring_test {

using rc_test::is_int;
using rc_test::make_float;
using rc_test::opk;
using rc_test::premul_scale;
using rc_test::type_eps;
using rc_test::value_of;

// ---- what is run -------------------------------------------------------------------------------

enum class coll : unsigned { all_reduce, all_gather, reduce_scatter, broadcast, reduce };
constexpr coll all_colls[] = {coll::all_reduce, coll::all_gather, coll::reduce_scatter, coll::broadcast, coll::reduce};
constexpr unsigned bit(coll c) {
  return 1u << unsigned(c);
}
constexpr unsigned every_coll = 0x1fu;
constexpr unsigned copy_colls = bit(coll::all_gather) | bit(coll::broadcast);

inline char const* name(coll c) {
  switch (c) {
  case coll::all_reduce:
    return "all_reduce";
  case coll::all_gather:
    return "all_gather";
  case coll::reduce_scatter:
    return "reduce_scatter";
  case coll::broadcast:
    return "broadcast";
  case coll::reduce:
    return "reduce";
  }
  return "?";
}
inline bool is_reducing(coll c) {
  return c == coll::all_reduce || c == coll::reduce_scatter || c == coll::reduce;
}
inline bool has_root(coll c) {
  return c == coll::broadcast || c == coll::reduce;
}

constexpr weft::protocol all_protocols[] = {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128};

//! The operators a check_ring instantiation compiles.
template <opk... Os>
struct op_list {};
using sum_only = op_list<opk::sum>;
using sum_max = op_list<opk::sum, opk::max>;
using every_op = op_list<opk::sum, opk::prod, opk::min, opk::max, opk::avg, opk::premul>;

struct ring_case {
  coll c = coll::all_reduce;
  opk o = opk::sum; //!< ignored by all_gather and broadcast
  int nranks = 2;
  std::size_t count = 0; //!< all_gather: sendcount; reduce_scatter: recvcount; others: count
  weft::protocol proto = weft::protocol::simple;
  int nchannels = 1;
  bool in_place = false;
  int root = 0;
  bool direct = false;
  int ring_local = 0;       //!< coll_options::ring_local (the rail-rotated ring over nodes of this many ranks)
  bool misalign = false;    //!< rank r's buffers start (r % 3 + 1) elements past a 16-byte boundary
  bool null_unused = false; //!< out of place: broadcast non-root send and reduce non-root recv are null
  std::uint64_t seed = 1;
};

inline std::string describe(ring_case const& c) {
  std::ostringstream s;
  s << name(c.c);
  if (is_reducing(c.c))
    s << " op " << rc_test::name(c.o);
  s << " nranks " << c.nranks << " count " << c.count << " proto " << weft::to_string(c.proto) << " nchannels "
    << c.nchannels << (c.in_place ? " in-place" : " out-of-place");
  if (has_root(c.c))
    s << " root " << c.root;
  if (c.direct)
    s << " direct";
  if (c.ring_local > 1)
    s << " ring_local " << c.ring_local;
  if (c.misalign)
    s << " misaligned";
  if (c.null_unused)
    s << " null-unused";
  s << " seed " << c.seed;
  return s.str();
}

struct outcome {
  bool ok = true;
  std::size_t mismatches = 0;
  std::string error; //!< the first problem found
  void fail(std::string const& why) {
    if (ok)
      error = why;
    ok = false;
  }
};

// ---- inputs ------------------------------------------------------------------------------------

//! splitmix64: fast and good enough for test data (the sweep draws millions of values).
struct rng64 {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

inline std::uint64_t mix_seed(std::uint64_t a, std::uint64_t b) {
  rng64 g{a * 0x100000001B3ull ^ b};
  return g.next();
}

template <class T>
T random_bits(rng64& g) {
  T v;
  std::uint64_t const b = g.next();
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

//! A nonzero input: random bits for integers; for floating types +-[0.25, 2) (prod: +-[0.5, 1.5), float: +-[0.5, 2)).
template <class T>
T random_value(rng64& g, opk o) {
  if constexpr (is_int<T>) {
    T v;
    do
      v = random_bits<T>(g);
    while (v == T(0));
    return v;
  } else if constexpr (std::is_same_v<T, float>) {
    // Straight from bits (the sweep draws millions): sign, exponent -2..0 (prod: -1..0), 23 random mantissa bits.
    std::uint64_t const b = g.next();
    std::uint32_t const e = o == opk::prod ? 126u + std::uint32_t(b & 1u) : 125u + std::uint32_t((b & 3u) * 3u / 4u);
    std::uint32_t const bits = std::uint32_t((b >> 2) & 1u) << 31 | e << 23 | std::uint32_t(b >> 40);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
  } else {
    std::uint64_t const b = g.next();
    double const u = double(b >> 11) * 0x1p-53;
    double const lo = o == opk::prod ? 0.5 : 0.25, hi = o == opk::prod ? 1.5 : 2.0;
    T t = make_float<T>((lo + u * (hi - lo)) * ((b & 1u) ? -1.0 : 1.0));
    if (value_of(t) == 0.0)
      t = make_float<T>(1.0);
    return t;
  }
}

// ---- reference ---------------------------------------------------------------------------------

//! Smallest positive subnormal of T (the absolute rounding step near zero).
template <class T>
double denorm_min() {
  if constexpr (std::is_same_v<T, double>)
    return std::numeric_limits<double>::denorm_min();
  else if constexpr (std::is_same_v<T, float>)
    return double(std::numeric_limits<float>::denorm_min());
  else if constexpr (std::is_same_v<T, weft::half_t>)
    return 0x1p-24;
  else if constexpr (std::is_same_v<T, weft::bfloat16_t>)
    return 0x1p-133;
  else if constexpr (std::is_same_v<T, weft::float8_e4m3_t>)
    return 0x1p-9;
  else if constexpr (std::is_same_v<T, weft::float8_e5m2_t>)
    return 0x1p-16;
  else
    return 0;
}

//! Rounding step per hop: T's epsilon, plus fp32's for the narrow types (accumulated in fp32).
template <class T>
double hop_eps() {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>)
    return type_eps<T>();
  else
    return type_eps<T>() + 0x1p-23;
}

//! Reference of one reduced element over the ranks' inputs x[0..n) (in ring order or not:
//! the tolerance covers any order, min/max are order-free).
template <class T>
struct reduced {
  T exact{};       // integers
  double want = 0; // floating types
  double tol = 0;
};

template <class T>
reduced<T> reference(opk o, T const* const* x, std::size_t idx, int n) {
  reduced<T> r;
  if constexpr (is_int<T>) {
    using U = std::make_unsigned_t<T>;
    U const scale = U(premul_scale<T>());
    auto pre = [&](T v) -> U { return o == opk::premul ? U(std::uint64_t(U(v)) * std::uint64_t(scale)) : U(v); };
    U acc = pre(x[0][idx]);
    T m = x[0][idx];
    for (int k = 1; k < n; ++k) {
      T const v = x[k][idx];
      switch (o) {
      case opk::sum:
      case opk::avg:
      case opk::premul:
        acc = U(std::uint64_t(acc) + std::uint64_t(pre(v)));
        break;
      case opk::prod:
        acc = U(std::uint64_t(acc) * std::uint64_t(U(v)));
        break;
      case opk::min:
        m = v < m ? v : m;
        break;
      case opk::max:
        m = v > m ? v : m;
        break;
      }
    }
    if (o == opk::min || o == opk::max)
      r.exact = m;
    else if (o == opk::avg) {
      if constexpr (std::is_signed_v<T>)
        r.exact = T(std::int64_t(T(acc)) / std::int64_t(n));
      else
        r.exact = T(std::uint64_t(acc) / std::uint64_t(n));
    } else
      r.exact = T(acc);
  } else {
    double acc = 0, mag = 0;
    for (int k = 0; k < n; ++k) {
      double v = value_of(x[k][idx]);
      if (o == opk::premul)
        v *= double(premul_scale<T>());
      if (k == 0)
        acc = v;
      else
        switch (o) {
        case opk::sum:
        case opk::avg:
        case opk::premul:
          acc += v;
          break;
        case opk::prod:
          acc *= v;
          break;
        case opk::min:
          acc = v < acc ? v : acc;
          break;
        case opk::max:
          acc = v > acc ? v : acc;
          break;
        }
      mag += std::fabs(v);
    }
    if (o == opk::avg) {
      acc /= n;
      mag /= n;
    }
    r.want = acc;
    double const e = hop_eps<T>() * double(n + 1);
    if (o == opk::min || o == opk::max)
      r.tol = 0;
    else if (o == opk::prod)
      r.tol = e * std::fabs(acc) + double(n + 1) * denorm_min<T>();
    else
      r.tol = e * mag + double(n + 1) * denorm_min<T>();
  }
  return r;
}

template <class T>
std::string show(T v) {
  if constexpr (is_int<T>) {
    if constexpr (std::is_signed_v<T>)
      return std::to_string(std::int64_t(v));
    else
      return std::to_string(std::uint64_t(v));
  } else {
    std::ostringstream s;
    s.precision(17);
    s << value_of(v);
    return s.str();
  }
}

// ---- operators ---------------------------------------------------------------------------------

template <class T, opk O>
auto make_op(int nranks) {
  if constexpr (O == opk::sum)
    return weft::op::sum<T>{};
  else if constexpr (O == opk::prod)
    return weft::op::prod<T>{};
  else if constexpr (O == opk::min)
    return weft::op::min<T>{};
  else if constexpr (O == opk::max)
    return weft::op::max<T>{};
  else if constexpr (O == opk::avg) {
    weft::op::avg<T> a{};
    a.nranks = nranks;
    return a;
  } else {
    weft::op::premul_sum<T> p{};
    p.scale = premul_scale<T>();
    return p;
  }
}

//! Calls f(op object) when `o` is in the list; returns false otherwise.
template <class T, opk... Os, class F>
bool dispatch_op(op_list<Os...>, opk o, int nranks, F&& f) {
  return ((o == Os ? (f(make_op<T, Os>(nranks)), true) : false) || ...);
}

template <opk... Os>
bool in_list(op_list<Os...>, opk o) {
  return ((o == Os) || ...);
}

// ---- teams and communicators -------------------------------------------------------------------

//! One team and one communicator per rank count, reused across cases (so the sweep
//! also runs many collectives back to back on the same connections); a
//! communicator broken by a failed case is replaced.
class comm_cache {
public:
  explicit comm_cache(weft::cpu_comm_config cfg = {}, weft::team_options opts = {}) : cfg_(cfg), opts_(opts) {}
  weft::cpu_comm& comm(int n) {
    grow(n);
    auto& c = comms_[std::size_t(n)];
    if (!c || !c->healthy())
      c = std::make_unique<weft::cpu_comm>(n, cfg_);
    return *c;
  }
  weft::cpu_team& team(int n) {
    grow(n);
    auto& t = teams_[std::size_t(n)];
    if (!t)
      t = std::make_unique<weft::cpu_team>(n, opts_);
    return *t;
  }

private:
  void grow(int n) {
    if (comms_.size() <= std::size_t(n)) {
      comms_.resize(std::size_t(n) + 1);
      teams_.resize(std::size_t(n) + 1);
    }
  }
  weft::cpu_comm_config cfg_;
  weft::team_options opts_;
  std::vector<std::unique_ptr<weft::cpu_comm>> comms_;
  std::vector<std::unique_ptr<weft::cpu_team>> teams_;
};

// ---- the checker -------------------------------------------------------------------------------

//! Per-rank buffers of one element type, kept between cases (single-threaded test code only).
template <class T>
struct ring_buffers {
  std::vector<std::vector<T>> in, sbuf, rbuf, sbefore, rbefore;
};
template <class T>
ring_buffers<T>& workspace() {
  static ring_buffers<T> w;
  return w;
}

//! Run one case on `team` and `comm` (both of c.nranks ranks) and compare with the reference.
template <class T, class Ops = sum_only, unsigned Colls = every_coll>
outcome check_ring(ring_case const& c, weft::cpu_team& team, weft::cpu_comm& comm) {
  outcome out;
  int const n = c.nranks;
  std::size_t const count = c.count, un = std::size_t(n);
  if ((Colls & bit(c.c)) == 0u || (is_reducing(c.c) && !in_list(Ops{}, c.o))) {
    out.fail("case not instantiated in this test (collective or operator missing from the lists)");
    return out;
  }
  if (team.size() != n || comm.size() != n) {
    out.fail("team/communicator size differs from the case's nranks");
    return out;
  }
  std::size_t const guard = 32; // elements on each side; a multiple of 16 keeps buffers 16-byte aligned
  std::size_t const in_n = c.c == coll::reduce_scatter ? un * count : count;
  std::size_t const out_n = c.c == coll::all_gather ? un * count : count;
  bool const inplace_whole = c.c == coll::all_gather || c.c == coll::reduce_scatter; // buffer holds n blocks

  rng64 g{mix_seed(c.seed, 0x5eed)};
  // Buffers live in a per-type workspace reused across cases (the sweep's large
  // cases would otherwise spend much of their time on fresh pages).
  auto& w = workspace<T>();
  auto& in = w.in;     // each rank's input values
  auto& sbuf = w.sbuf; // out of place: send buffers (with guards)
  auto& rbuf = w.rbuf; // recv buffers (in place: the only buffer)
  for (auto* v : {&in, &sbuf, &rbuf, &w.sbefore, &w.rbefore})
    if (v->size() < un)
      v->resize(un);
  std::vector<T const*> sptr(un);
  std::vector<T*> rptr(un);
  std::vector<std::size_t> lead(un), out_lo(un), out_len(un);
  auto fill_bits = [&](T* p, std::size_t k) {
    for (std::size_t i = 0; i < k; ++i)
      p[i] = random_bits<T>(g);
  };
  for (int r = 0; r < n; ++r) {
    std::size_t const R = std::size_t(r);
    lead[R] = guard + (c.misalign ? std::size_t(r % 3 + 1) : 0);
    in[R].resize(in_n);
    for (auto& v : in[R])
      v = random_value<T>(g, c.o);
    if (!c.in_place) {
      sbuf[R].resize(lead[R] + in_n + guard);
      fill_bits(sbuf[R].data(), lead[R]);
      fill_bits(sbuf[R].data() + lead[R] + in_n, guard);
      std::copy(in[R].begin(), in[R].end(), sbuf[R].begin() + std::ptrdiff_t(lead[R]));
      rbuf[R].resize(lead[R] + out_n + guard);
      fill_bits(rbuf[R].data(), rbuf[R].size());
      sptr[R] = sbuf[R].data() + lead[R];
      rptr[R] = rbuf[R].data() + lead[R];
      out_lo[R] = lead[R];
      if (c.null_unused && c.c == coll::broadcast && r != c.root)
        sptr[R] = nullptr;
      if (c.null_unused && c.c == coll::reduce && r != c.root)
        rptr[R] = nullptr;
    } else {
      sbuf[R].clear();
      std::size_t const whole = inplace_whole ? un * count : count;
      rbuf[R].resize(lead[R] + whole + guard);
      fill_bits(rbuf[R].data(), rbuf[R].size());
      T* const base = rbuf[R].data() + lead[R];
      if (c.c == coll::all_gather) {
        std::copy(in[R].begin(), in[R].end(), base + R * count);
        rptr[R] = base;
        sptr[R] = base + R * count;
        out_lo[R] = lead[R];
      } else if (c.c == coll::reduce_scatter) {
        std::copy(in[R].begin(), in[R].end(), base);
        sptr[R] = base;
        rptr[R] = base + R * count;
        out_lo[R] = lead[R] + R * count;
      } else {
        std::copy(in[R].begin(), in[R].end(), base);
        sptr[R] = base;
        rptr[R] = base;
        out_lo[R] = lead[R];
      }
    }
    out_len[R] = (c.c == coll::reduce && r != c.root) ? 0 : out_n;
    w.sbefore[R] = sbuf[R];
    w.rbefore[R] = rbuf[R];
  }
  auto const& sbefore = w.sbefore;
  auto const& rbefore = w.rbefore;

  weft::coll_options opt;
  opt.proto = c.proto;
  opt.nchannels = c.nchannels;
  opt.direct = c.direct;
  opt.ring_local = c.ring_local;
  std::vector<weft::status> per_rank;
  weft::status const st = team.run(
      [&](weft::team_rank& tr) -> weft::status {
        std::size_t const R = std::size_t(tr.rank());
        T const* s = sptr[R];
        T* d = rptr[R];
        if constexpr ((Colls & copy_colls) != 0u) {
          if (c.c == coll::all_gather)
            return weft::all_gather(comm, tr, s, d, count, opt);
          if (c.c == coll::broadcast)
            return weft::broadcast(comm, tr, s, d, count, c.root, opt);
        }
        weft::status res = weft::status::internal_error;
        dispatch_op<T>(Ops{}, c.o, n, [&](auto const& op) {
          if constexpr ((Colls & bit(coll::all_reduce)) != 0u)
            if (c.c == coll::all_reduce)
              res = weft::all_reduce(comm, tr, s, d, count, op, opt);
          if constexpr ((Colls & bit(coll::reduce_scatter)) != 0u)
            if (c.c == coll::reduce_scatter)
              res = weft::reduce_scatter(comm, tr, s, d, count, op, opt);
          if constexpr ((Colls & bit(coll::reduce)) != 0u)
            if (c.c == coll::reduce)
              res = weft::reduce(comm, tr, s, d, count, c.root, op, opt);
        });
        return res;
      },
      &per_rank);
  if (st != weft::status::success) {
    std::string why = std::string("run returned ") + weft::to_string(st) + ";";
    for (int r = 0; r < n; ++r)
      if (per_rank[std::size_t(r)] != weft::status::success)
        why += " rank " + std::to_string(r) + ": " + weft::to_string(per_rank[std::size_t(r)]) + " (" +
               comm.last_error(r) + ")";
    out.fail(why);
    return out;
  }

  // Values.
  std::vector<T const*> xs(un);
  for (int r = 0; r < n; ++r)
    xs[std::size_t(r)] = in[std::size_t(r)].data();
  auto mismatch = [&](int r, std::size_t i, std::string const& detail) {
    ++out.mismatches;
    out.fail("rank " + std::to_string(r) + " output element " + std::to_string(i) + ": " + detail);
  };
  if (c.c == coll::all_gather || c.c == coll::broadcast) {
    for (int r = 0; r < n; ++r) {
      T const* got = rbuf[std::size_t(r)].data() + out_lo[std::size_t(r)];
      for (std::size_t i = 0; i < out_n; ++i) {
        T const& want = c.c == coll::all_gather ? in[i / count][i % count] : in[std::size_t(c.root)][i];
        if (std::memcmp(&got[i], &want, sizeof(T)) != 0)
          mismatch(r, i, "got " + show(got[i]) + " want " + show(want));
      }
    }
  } else {
    // Reduced space: count elements, or n * count for reduce-scatter (block b goes to rank b).
    std::size_t const red_n = in_n;
    for (std::size_t j = 0; j < red_n; ++j) {
      reduced<T> const ref = reference<T>(c.o, xs.data(), j, n);
      for (int r = 0; r < n; ++r) {
        std::size_t const R = std::size_t(r);
        std::size_t i = j;
        if (c.c == coll::reduce_scatter) {
          if (j / count != R)
            continue;
          i = j % count;
        }
        if (c.c == coll::reduce && r != c.root)
          continue;
        T const got = rbuf[R][out_lo[R] + i];
        if constexpr (is_int<T>) {
          if (got != ref.exact)
            mismatch(r, i, "got " + show(got) + " want " + show(ref.exact));
        } else {
          double const gv = value_of(got);
          if (!(std::fabs(gv - ref.want) <= ref.tol))
            mismatch(r, i,
                     "got " + show(got) + " want " + std::to_string(ref.want) + " tol " + std::to_string(ref.tol));
        }
      }
    }
    // Deterministic: every rank of an all-reduce holds the same bits.
    if (c.c == coll::all_reduce)
      for (int r = 1; r < n; ++r)
        if (count > 0 && std::memcmp(rbuf[0].data() + out_lo[0], rbuf[std::size_t(r)].data() + out_lo[std::size_t(r)],
                                     count * sizeof(T)) != 0)
          out.fail("all_reduce: rank " + std::to_string(r) + "'s result differs in bits from rank 0's");
  }

  // Nothing outside the output range written.
  for (int r = 0; r < n; ++r) {
    std::size_t const R = std::size_t(r);
    auto const& b = rbuf[R];
    auto const& b0 = rbefore[R];
    std::size_t const lo = out_lo[R], hi = lo + out_len[R];
    if (std::memcmp(b.data(), b0.data(), lo * sizeof(T)) != 0 ||
        std::memcmp(b.data() + hi, b0.data() + hi, (b.size() - hi) * sizeof(T)) != 0)
      out.fail("rank " + std::to_string(r) + ": " + (c.in_place ? "buffer" : "recv buffer") +
               " written outside the output range" + (out_len[R] == 0 ? " (this rank has no output)" : ""));
    if (!c.in_place && std::memcmp(sbuf[R].data(), sbefore[R].data(), sbuf[R].size() * sizeof(T)) != 0)
      out.fail("rank " + std::to_string(r) + ": send buffer modified");
  }
  return out;
}

//! check_ring on a team and communicator of c.nranks ranks made for this case.
template <class T, class Ops = sum_only, unsigned Colls = every_coll>
outcome check_ring(ring_case const& c, weft::cpu_comm_config cfg = {}) {
  weft::cpu_team team(c.nranks);
  weft::cpu_comm comm(c.nranks, cfg);
  return check_ring<T, Ops, Colls>(c, team, comm);
}

//! Counts failures across a sweep and stops it after `limit` (a broken build would flood the log).
struct sweep_tally {
  int cases = 0, failures = 0, limit = 10;
};

template <class T, class Ops = sum_only, unsigned Colls = every_coll>
void require_ring(ring_case const& c, comm_cache& env, sweep_tally& t) {
  outcome const r = check_ring<T, Ops, Colls>(c, env.team(c.nranks), env.comm(c.nranks));
  ++t.cases;
  if (!r.ok) {
    ++t.failures;
    INFO(describe(c) << ": " << r.error << " (" << r.mismatches << " mismatching elements)");
    CHECK(r.ok);
    REQUIRE(t.failures < t.limit);
  }
}

} // namespace ring_test
