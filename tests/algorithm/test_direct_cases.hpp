#pragma once
// One checker for the direct and NVLS collectives on the CPU team. `run_case`
// builds deterministic inputs for every rank (small nonzero integers, so every
// floating result is exact whatever the reduction order; full-range values for
// integer types, which wrap), guard-filled outputs, runs one collective (or
// `iters` back-to-back calls with different inputs, no barrier between them)
// and compares every rank's output with a host reference: the documented
// reduction x_0 (+) x_1 (+) ... in the accumulation type (weft/core/ops.hpp),
// bit-exact copies for all-gather and all-to-all. Guards around every buffer
// catch writes outside the output; an out-of-place input must be left intact.
#include <catch2/catch.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_direct.hpp>
#include <weft/team/cpu_nvls.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace direct_test {

enum class kind { all_reduce, all_gather, reduce_scatter, all_to_all };
enum class algo { one_shot, two_shot, ll, nvls, direct, pairwise };

inline char const* name(kind k) {
  switch (k) {
    case kind::all_reduce: return "all_reduce";
    case kind::all_gather: return "all_gather";
    case kind::reduce_scatter: return "reduce_scatter";
    case kind::all_to_all: return "all_to_all";
  }
  return "?";
}
inline char const* name(algo a) {
  switch (a) {
    case algo::one_shot: return "one_shot";
    case algo::two_shot: return "two_shot";
    case algo::ll: return "ll";
    case algo::nvls: return "nvls";
    case algo::direct: return "direct";
    case algo::pairwise: return "pairwise";
  }
  return "?";
}

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  std::uint64_t z = a * 0x9E3779B97F4A7C15ull + b * 0xC2B2AE3D27D4EB4Full + c * 0x165667B19E3779F9ull + 0x27d4eb2f;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Input element j of rank r in call `it`. Floating types: a nonzero integer in
// [-8, 8] (products: +-1, +-2), exact in every type and every partial sum.
template <class T, class Op>
T input(int r, int it, std::size_t j) {
  std::uint64_t const h = mix(std::uint64_t(r) + 1, std::uint64_t(it), j);
  if constexpr (std::is_integral_v<T>) {
    T v;
    std::memcpy(&v, &h, sizeof(T));
    return v == T(0) ? T(1) : v;
  } else {
    bool const prod = std::is_same_v<Op, weft::op::prod<T>>;
    double const mag = prod ? double(1 + h % 2) : double(1 + h % 8);
    double const v = (h & 256u) ? -mag : mag;
    if constexpr (std::is_same_v<T, double>) return v;
    else if constexpr (std::is_same_v<T, float>) return float(v);
    else return T(float(v));
  }
}

template <class T>
bool same_bits(T const& a, T const& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <class T>
T sentinel() {
  T v;
  std::memset(&v, 0x5a, sizeof(T));
  return v;
}

// Reference reduction of x_0..x_{n-1} (ops.hpp's formula).
template <class T, class Op, class X>
T reference(Op const& op, int n, X const& x) {
  weft::acc_t<T> a = op.pre(weft::to_acc(x(0)));
  for (int q = 1; q < n; ++q) a = op(a, op.pre(weft::to_acc(x(q))));
  return weft::from_acc<T>(op.post(a));
}

struct case_spec {
  kind k = kind::all_reduce;
  algo a = algo::one_shot;
  int nranks = 1;
  std::size_t count = 0;
  bool in_place = false;
  int nblocks = 1;
  int iters = 1;
  bool symmetric = false; //!< register every rank's buffer with the window (NVLS zero-copy)
  int expect_zero_copy = -1; //!< NVLS: 1 or 0, the path every call must take; -1: not checked
};

inline std::string describe(case_spec const& c) {
  return std::string(name(c.k)) + " " + name(c.a) + " n=" + std::to_string(c.nranks) + " count=" +
         std::to_string(c.count) + (c.in_place ? " in-place" : " out-of-place") + " nblocks=" +
         std::to_string(c.nblocks) + (c.symmetric ? " symmetric" : "");
}

inline std::size_t in_elems(case_spec const& c) {
  return c.k == kind::all_reduce || c.k == kind::all_gather ? c.count : c.count * std::size_t(c.nranks);
}
inline std::size_t out_elems(case_spec const& c) {
  return c.k == kind::all_reduce || c.k == kind::reduce_scatter ? c.count : c.count * std::size_t(c.nranks);
}

// One collective call of rank `tr`.
template <class T, class Op>
weft::status call(case_spec const& c, weft::cpu_window* w, weft::cpu_comm* comm, weft::team_rank& tr, T const* send,
                  T* recv, Op const& op) {
  weft::direct_options o;
  o.nblocks = c.nblocks;
  switch (c.k) {
    case kind::all_reduce:
      if (c.a == algo::nvls) return weft::nvls_all_reduce(*w, tr, send, recv, c.count, op, o);
      o.flavour = c.a == algo::two_shot ? weft::direct_flavour::two_shot
                  : c.a == algo::ll     ? weft::direct_flavour::ll
                                        : weft::direct_flavour::one_shot;
      return weft::direct_all_reduce(*w, tr, send, recv, c.count, op, o);
    case kind::all_gather:
      if (c.a == algo::nvls) return weft::nvls_all_gather(*w, tr, send, recv, c.count, o);
      return weft::direct_all_gather(*w, tr, send, recv, c.count, o);
    case kind::reduce_scatter:
      if (c.a == algo::nvls) return weft::nvls_reduce_scatter(*w, tr, send, recv, c.count, op, o);
      return weft::direct_reduce_scatter(*w, tr, send, recv, c.count, op, o);
    case kind::all_to_all:
      if (c.a == algo::pairwise) {
        weft::coll_options co;
        co.nchannels = c.nblocks;
        return weft::all_to_all(*comm, tr, send, recv, c.count, co);
      }
      return weft::direct_all_to_all(*w, tr, send, recv, c.count, o);
  }
  return weft::status::internal_error;
}

constexpr std::size_t guard = 16;

// Run the case on a team and check every rank's output of every call. Returns "" or the first error.
template <class T, class Op>
std::string run_case(case_spec const& c, weft::cpu_window* w, weft::cpu_comm* comm, Op const& op) {
  int const n = c.nranks;
  std::size_t const ni = in_elems(c), no = out_elems(c);
  std::size_t const store = (c.in_place ? (ni > no ? ni : no) : ni + no) + 2 * guard;
  std::vector<std::vector<T>> mem(static_cast<std::size_t>(n), std::vector<T>(store));
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  std::size_t const rank_off = c.count; // in place: the rank's block offset unit
  auto layout = [&](int r, T*& send, T*& recv) {
    T* base = mem[std::size_t(r)].data() + guard;
    if (!c.in_place) {
      send = base;
      recv = base + ni;
      return;
    }
    send = recv = base;
    if (c.k == kind::all_gather) send = base + std::size_t(r) * rank_off;
    if (c.k == kind::reduce_scatter) recv = base + std::size_t(r) * rank_off;
  };
  weft::cpu_team team(n);
  weft::status const st = team.run([&](weft::team_rank& tr) -> weft::status {
    int const r = tr.rank();
    std::string& err = errors[std::size_t(r)];
    T *send, *recv;
    layout(r, send, recv);
    if (c.symmetric) {
      weft::status const s = w->register_symmetric(tr, mem[std::size_t(r)].data(), store * sizeof(T));
      if (s != weft::status::success) {
        err = "register_symmetric returned " + std::string(weft::to_string(s)) + ": " + w->last_error(r);
        return s;
      }
    }
    for (int it = 0; it < c.iters; ++it) {
      for (auto& v : mem[std::size_t(r)]) v = sentinel<T>();
      for (std::size_t j = 0; j < ni; ++j) send[j] = input<T, Op>(r, it, j);
      weft::status const s = call(c, w, comm, tr, send, recv, op);
      if (s != weft::status::success) {
        err = "call " + std::to_string(it) + " returned " + weft::to_string(s) + ": " +
              (w ? w->last_error(r) : comm->last_error(r));
        return s;
      }
      if (c.expect_zero_copy >= 0 && w->last_nvls_zero_copy(r) != (c.expect_zero_copy == 1)) {
        err = "call " + std::to_string(it) + " rank " + std::to_string(r) + ": ran " +
              (c.expect_zero_copy == 1 ? "staged, not zero-copy" : "zero-copy, not staged");
        return weft::status::internal_error;
      }
      auto expect = [&](std::size_t j) -> T {
        switch (c.k) {
          case kind::all_reduce: return reference<T>(op, n, [&](int q) { return input<T, Op>(q, it, j); });
          case kind::all_gather: return input<T, Op>(int(j / c.count), it, j % c.count);
          case kind::reduce_scatter:
            return reference<T>(op, n, [&](int q) { return input<T, Op>(q, it, std::size_t(r) * c.count + j); });
          case kind::all_to_all: return input<T, Op>(int(j / c.count), it, std::size_t(r) * c.count + j % c.count);
        }
        return T{};
      };
      for (std::size_t j = 0; j < no && err.empty(); ++j)
        if (!same_bits(recv[j], expect(j))) err = "call " + std::to_string(it) + ": wrong element " + std::to_string(j);
      // Guards, and an out-of-place input left intact.
      std::vector<T> const& m = mem[std::size_t(r)];
      for (std::size_t j = 0; j < guard && err.empty(); ++j)
        if (!same_bits(m[j], sentinel<T>()) || !same_bits(m[store - 1 - j], sentinel<T>())) err = "guard overwritten";
      if (!c.in_place)
        for (std::size_t j = 0; j < ni && err.empty(); ++j)
          if (!same_bits(send[j], input<T, Op>(r, it, j))) err = "input changed at " + std::to_string(j);
      if (!err.empty()) {
        err = "call " + std::to_string(it) + " rank " + std::to_string(r) + ": " + err;
        return weft::status::internal_error;
      }
    }
    if (c.symmetric) return w->deregister_symmetric(tr, mem[std::size_t(r)].data());
    return weft::status::success;
  });
  for (auto const& e : errors)
    if (!e.empty()) return describe(c) + ": " + e;
  if (st != weft::status::success) return describe(c) + ": team returned " + weft::to_string(st);
  return {};
}

// A small window, so that moderate counts already take several rounds.
inline weft::window_config small_window() {
  weft::window_config cfg;
  cfg.area_bytes = 4096;
  cfg.ll_bytes = 256;
  cfg.nblocks = 3;
  return cfg;
}

// Ranks 1..16 x counts x in place / out of place (1 or 3 blocks) of float sums on small windows.
inline void sweep(kind k, algo a, std::vector<std::size_t> const& counts = {0, 1, 17, 1000, 3001}) {
  for (int n = 1; n <= 16; ++n) {
    weft::cpu_window w(n, small_window());
    for (std::size_t count : counts)
      for (int ip = 0; ip < 2; ++ip) {
        case_spec c;
        c.k = k;
        c.a = a;
        c.nranks = n;
        c.count = count;
        c.in_place = ip == 1;
        c.nblocks = 1 + 2 * ((n + ip) % 2);
        std::string const e = run_case<float>(c, &w, nullptr, weft::op::sum<float>{});
        INFO(describe(c));
        REQUIRE(e == "");
      }
  }
}

//! On a 3-rank team with a 0.2 s bound: every rank makes `call(w, tr, x, y)`
//! once (which registers the window), then ranks 0 and 1 make it again while
//! rank 2 does not. Returns each rank's status.
template <class Call>
std::vector<weft::status> second_call_without_rank2(weft::cpu_window& w, Call call) {
  weft::team_options to;
  to.timeout_ns = 200'000'000; // 0.2 s
  weft::cpu_team team(3, to);
  std::vector<weft::status> st;
  team.run([&](weft::team_rank& tr) -> weft::status {
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {};
    WEFT_TRY(call(w, tr, x, y));                      // registers every rank
    if (tr.rank() == 2) return weft::status::success; // rank 2 skips the next call
    return call(w, tr, x, y);
  }, &st);
  return st;
}

} // namespace direct_test
