#pragma once
// One test body for reduce_copy, two runners: the host (host_runner, below) and
// the GPU (tests/gpu). check_case builds seeded random inputs (never zeros) and
// guard-filled destinations, runs a problem, and compares against a reference
// computed in higher precision (double; exact modular arithmetic for integers).
#include <catch2/catch.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/group/group.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

namespace rc_test {


using all_types = std::tuple<double, float, weft::half_t, weft::bfloat16_t, weft::float8_e4m3_t, weft::float8_e5m2_t,
                             std::int8_t, std::uint8_t, std::int32_t, std::uint32_t, std::int64_t, std::uint64_t>;

enum class opk { sum, prod, min, max, avg, premul };
constexpr opk all_ops[] = {opk::sum, opk::prod, opk::min, opk::max, opk::avg, opk::premul};
inline char const* name(opk o) {
  switch (o) {
    case opk::sum: return "sum";
    case opk::prod: return "prod";
    case opk::min: return "min";
    case opk::max: return "max";
    case opk::avg: return "avg";
    case opk::premul: return "premul_sum";
  }
  return "?";
}

template <class T>
constexpr bool is_int = std::is_integral_v<T>;

// Exact value of a floating element, independent of weft's accumulator path.
template <class T>
double value_of(T x) {
  if constexpr (std::is_same_v<T, double> || std::is_same_v<T, float>) return double(x);
  else return double(x.to_float());
}

template <class T>
T make_float(double v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else if constexpr (std::is_same_v<T, float>) return float(v);
  else return T(float(v));
}

// Unit roundoff of the element type (the final rounding) -- narrow types are
// accumulated in fp32, so add fp32's per-source rounding too.
template <class T>
double type_eps() {
  if constexpr (std::is_same_v<T, double>) return 0x1p-52;
  if constexpr (std::is_same_v<T, float>) return 0x1p-23;
  if constexpr (std::is_same_v<T, weft::half_t>) return 0x1p-10;
  if constexpr (std::is_same_v<T, weft::bfloat16_t>) return 0x1p-7;
  if constexpr (std::is_same_v<T, weft::float8_e4m3_t>) return 0x1p-3;
  if constexpr (std::is_same_v<T, weft::float8_e5m2_t>) return 0x1p-2;
  return 0;
}

template <class T>
T random_element(std::mt19937_64& rng, opk o) {
  if constexpr (is_int<T>) {
    T v;
    do {
      std::uint64_t bits = rng();
      std::memcpy(&v, &bits, sizeof(T));
    } while (v == 0);
    return v;
  } else {
    std::uniform_real_distribution<double> mag(o == opk::prod ? 0.5 : 0.25, o == opk::prod ? 1.5 : 2.0);
    double v = mag(rng) * ((rng() & 1) ? -1.0 : 1.0);
    T t = make_float<T>(v);
    if (value_of(t) == 0.0) t = make_float<T>(1.0);
    return t;
  }
}

// Scalar of the premultiplied sum for this type.
template <class T>
weft::acc_t<T> premul_scale() {
  if constexpr (is_int<T>) return weft::acc_t<T>(3);
  else return weft::acc_t<T>(0.75);
}

struct outcome {
  bool value_ok = true, guard_ok = true, src_ok = true;
  std::string first_error;
};

// Calls f(op object) for the operator kind (avg over `nranks`, premul by premul_scale<T>()).
template <class T, class F>
void with_op(opk o, int nranks, F&& f) {
  switch (o) {
    case opk::sum: f(weft::op::sum<T>{}); break;
    case opk::prod: f(weft::op::prod<T>{}); break;
    case opk::min: f(weft::op::min<T>{}); break;
    case opk::max: f(weft::op::max<T>{}); break;
    case opk::avg: {
      weft::op::avg<T> a{};
      a.nranks = nranks;
      f(a);
      break;
    }
    case opk::premul: {
      weft::op::premul_sum<T> p{};
      p.scale = premul_scale<T>();
      f(p);
      break;
    }
  }
}

// A reduce_copy problem on host buffers: sources sb[k] + src_off[k], destinations
// db[j] + dst_off[j] (or sb[0] + src_off[0] for destination 0 when in place).
template <class T>
struct rc_problem {
  opk o;
  int nranks;
  std::vector<std::vector<T>>& sb;
  std::vector<int> const& src_off;
  std::vector<std::vector<T>>& db;
  std::vector<int> const& dst_off;
  bool in_place;
  std::size_t count;
  weft::reduce_copy_flags flags;
};

// Runs a problem on the host with weft::host_group.
struct host_runner {
  template <class T>
  void operator()(rc_problem<T> const& p) const {
    weft::ptr_list<T const, 8> sl{};
    weft::ptr_list<T, 8> dl{};
    sl.n = int(p.sb.size());
    dl.n = int(p.db.size());
    for (std::size_t i = 0; i < p.sb.size(); ++i) sl.ptr[i] = p.sb[i].data() + p.src_off[i];
    for (std::size_t i = 0; i < p.db.size(); ++i) dl.ptr[i] = p.db[i].data() + p.dst_off[i];
    if (p.in_place) dl.ptr[0] = p.sb[0].data() + p.src_off[0];
    weft::host_group g;
    with_op<T>(p.o, p.nranks, [&](auto const& op) { weft::reduce_copy(g, op, sl, dl, p.count, p.flags); });
  }
};

// Reference for integers: exact arithmetic modulo 2^bits, truncating division for avg.
template <class T>
T int_reference(opk o, std::vector<T> const& x, std::uint32_t pre_mask, bool post, int nranks) {
  using U = std::make_unsigned_t<T>;
  auto pre = [&](std::size_t s) -> U {
    U v = U(x[s]);
    if (o == opk::premul && ((pre_mask >> s) & 1u)) v = U(std::uint64_t(v) * std::uint64_t(U(premul_scale<T>())));
    return v;
  };
  U acc = pre(0);
  T m = x[0];
  for (std::size_t s = 1; s < x.size(); ++s) {
    switch (o) {
      case opk::sum: case opk::avg: case opk::premul: acc = U(std::uint64_t(acc) + std::uint64_t(pre(s))); break;
      case opk::prod: acc = U(std::uint64_t(acc) * std::uint64_t(pre(s))); break;
      case opk::min: m = x[s] < m ? x[s] : m; break;
      case opk::max: m = x[s] > m ? x[s] : m; break;
    }
  }
  if (o == opk::min || o == opk::max) return m;
  T r = T(acc);
  if (o == opk::avg && post) r = T(r / T(nranks));
  return r;
}

template <class T, class Runner>
outcome check_case(Runner const& runner, opk o, int nsrc, int ndst, std::size_t count, std::vector<int> const& src_off,
                   std::vector<int> const& dst_off, bool in_place, weft::reduce_copy_flags f, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::size_t const pad = 40;
  std::vector<std::vector<T>> sb(static_cast<std::size_t>(nsrc)), db(static_cast<std::size_t>(ndst));
  for (auto& b : sb) {
    b.resize(count + pad);
    for (auto& v : b) v = random_element<T>(rng, o);
  }
  for (auto& b : db) {
    b.resize(count + pad);
    for (auto& v : b) { std::uint64_t bits = rng(); std::memcpy(&v, &bits, sizeof(T)); } // guard pattern
  }
  std::vector<T const*> s(static_cast<std::size_t>(nsrc));
  std::vector<T*> d(static_cast<std::size_t>(ndst));
  for (int i = 0; i < nsrc; ++i) s[std::size_t(i)] = sb[std::size_t(i)].data() + src_off[std::size_t(i)];
  for (int i = 0; i < ndst; ++i) d[std::size_t(i)] = db[std::size_t(i)].data() + dst_off[std::size_t(i)];
  if (in_place) d[0] = sb[0].data() + src_off[0];
  auto const src_before = sb;
  auto const dst_before = db;
  int const nranks = nsrc;

  runner(rc_problem<T>{o, nranks, sb, src_off, db, dst_off, in_place, count, f});

  outcome out;
  auto fail = [&](bool& flag, std::string msg) {
    if (flag) out.first_error = msg;
    flag = false;
  };
  // Values.
  std::vector<T> xs(static_cast<std::size_t>(nsrc));
  for (std::size_t i = 0; i < count && out.value_ok; ++i) {
    for (int k = 0; k < nsrc; ++k) xs[std::size_t(k)] = src_before[std::size_t(k)][std::size_t(src_off[std::size_t(k)]) + i];
    for (int j = 0; j < ndst && out.value_ok; ++j) {
      T const got = d[std::size_t(j)][i];
      if constexpr (is_int<T>) {
        T const want = int_reference<T>(o, xs, f.pre_mask, f.apply_post, nranks);
        if (got != want)
          fail(out.value_ok, "elem " + std::to_string(i) + " dst " + std::to_string(j) + ": got " +
                                 std::to_string(got) + " want " + std::to_string(want));
      } else {
        double acc = 0, mag = 0;
        for (int k = 0; k < nsrc; ++k) {
          double x = value_of(xs[std::size_t(k)]);
          if (o == opk::premul && ((f.pre_mask >> k) & 1u)) x *= double(premul_scale<T>());
          if (k == 0) acc = x;
          else switch (o) {
              case opk::sum: case opk::avg: case opk::premul: acc += x; break;
              case opk::prod: acc *= x; break;
              case opk::min: acc = std::min(acc, x); break;
              case opk::max: acc = std::max(acc, x); break;
            }
          mag += std::fabs(x);
        }
        if (o == opk::avg && f.apply_post) { acc /= nranks; mag /= nranks; }
        if (o == opk::prod) mag = std::fabs(acc) * (nsrc + 1);
        double const g = value_of(got);
        double const tol = (o == opk::min || o == opk::max) ? 0.0 : (type_eps<T>() + nsrc * 0x1p-24) * mag + 1e-300;
        if (!(std::fabs(g - acc) <= tol))
          fail(out.value_ok, "elem " + std::to_string(i) + " dst " + std::to_string(j) + ": got " +
                                 std::to_string(g) + " want " + std::to_string(acc) + " tol " + std::to_string(tol));
      }
    }
  }
  // Guards: destination bytes outside [off, off+count) untouched.
  for (int j = 0; j < ndst; ++j) {
    if (in_place && j == 0) continue;
    auto const& b = db[std::size_t(j)];
    auto const& b0 = dst_before[std::size_t(j)];
    std::size_t const lo = std::size_t(dst_off[std::size_t(j)]), hi = lo + count;
    if (std::memcmp(b.data(), b0.data(), lo * sizeof(T)) != 0 ||
        std::memcmp(b.data() + hi, b0.data() + hi, (b.size() - hi) * sizeof(T)) != 0)
      fail(out.guard_ok, "dst " + std::to_string(j) + " written outside its range");
  }
  // Sources untouched (except the in-place destination's range).
  for (int k = 0; k < nsrc; ++k) {
    auto const& b = sb[std::size_t(k)];
    auto const& b0 = src_before[std::size_t(k)];
    if (in_place && k == 0) {
      std::size_t const lo = std::size_t(src_off[0]), hi = lo + count;
      if (std::memcmp(b.data(), b0.data(), lo * sizeof(T)) != 0 ||
          std::memcmp(b.data() + hi, b0.data() + hi, (b.size() - hi) * sizeof(T)) != 0)
        fail(out.src_ok, "in-place source written outside its range");
    } else if (std::memcmp(b.data(), b0.data(), b.size() * sizeof(T)) != 0) {
      fail(out.src_ok, "source " + std::to_string(k) + " modified");
    }
  }
  return out;
}

template <class T, class Runner = host_runner>
void require_ok(opk o, int nsrc, int ndst, std::size_t count, std::vector<int> const& so, std::vector<int> const& dof,
                bool in_place, weft::reduce_copy_flags f = {}, std::uint64_t seed = 1,
                Runner const& runner = {}) {
  outcome r = check_case<T>(runner, o, nsrc, ndst, count, so, dof, in_place, f, seed);
  INFO("op " << name(o) << " nsrc " << nsrc << " ndst " << ndst << " count " << count << " in_place " << in_place
             << " src_off0 " << so[0] << " dst_off0 " << dof[0] << " pre_mask " << f.pre_mask << " post "
             << f.apply_post << ": " << r.first_error);
  REQUIRE(r.value_ok);
  REQUIRE(r.guard_ok);
  REQUIRE(r.src_ok);
}

inline std::vector<int> offsets(int n, int kind) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[std::size_t(i)] = kind == 0 ? 0 : kind == 1 ? 3 : (i * 5 + 1) % 7; // aligned / same / mixed
  return v;
}

} // namespace rc_test
