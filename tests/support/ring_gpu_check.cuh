#pragma once
// The GPU ring/recursive test body: runs one collective on n virtual ranks and
// compares every rank's output with a host reference (fp32/bf16 sum, int32 max).
#include "dev_buffers.cuh"
#include "gpu_check.hpp"

#include <weft/runtime/vrank_comm.cuh>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace ring_gpu_test {

enum class coll { all_reduce, all_gather, reduce_scatter, broadcast, reduce };
inline char const* name(coll c) {
  switch (c) {
    case coll::all_reduce: return "all_reduce";
    case coll::all_gather: return "all_gather";
    case coll::reduce_scatter: return "reduce_scatter";
    case coll::broadcast: return "broadcast";
    case coll::reduce: return "reduce";
  }
  return "?";
}

template <class T>
double val(T x) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, std::int32_t>) return double(x);
  else return double(x.to_float());
}

template <class T>
T make(std::mt19937& rng) {
  if constexpr (std::is_same_v<T, std::int32_t>) return std::int32_t(rng() % 2001) - 1000;
  else {
    float v = float(int(rng() % 200) - 100) / 16.0f;
    if (v == 0.0f) v = 0.5f;
    if constexpr (std::is_same_v<T, float>) return v;
    else return T(v);
  }
}

// Runs one collective on `n` virtual ranks and compares every rank's output with a host reference.
// Sum for floating types (tolerance scaled by n), max for int32 (exact).
template <class T>
void check(weft::vrank_comm& comm, coll c, int n, std::size_t count, weft::vrank_options o, bool in_place, int root,
           unsigned seed) {
  INFO(name(c) << " T=" << sizeof(T) << "B n=" << n << " count=" << count << " proto=" << weft::to_string(o.proto)
               << " nch=" << o.nchannels << " in_place=" << in_place << " root=" << root << " direct=" << o.direct);
  std::mt19937 rng(seed);
  bool const gathers = c == coll::all_gather, scatters = c == coll::reduce_scatter;
  std::size_t const in_count = scatters ? count * std::size_t(n) : count;
  std::size_t const out_count = gathers ? count * std::size_t(n) : count;
  std::vector<std::vector<T>> hin(static_cast<std::size_t>(n), std::vector<T>(in_count));
  for (auto& v : hin)
    for (auto& x : v) x = make<T>(rng);
  T guard;
  std::memset(&guard, 0x5a, sizeof(T));
  // Outputs carry one element past the end, a guard the collective must leave alone.
  auto out = weft_test::filled_buffers<T>(std::size_t(n), out_count + 1, guard);
  std::vector<T*> dout = weft_test::raw_ptrs(out);
  std::vector<T const*> din(static_cast<std::size_t>(n));
  std::vector<weft_test::dvec<T>> ins; // inputs of their own (out of place; reduce-scatter always)
  ins.reserve(std::size_t(n));
  for (int r = 0; r < n; ++r) {
    auto const& h = hin[std::size_t(r)];
    if (in_place && !scatters) {
      std::size_t const at = gathers ? std::size_t(r) * count : 0;
      thrust::copy(h.begin(), h.end(), out[std::size_t(r)].begin() + std::ptrdiff_t(at));
      din[std::size_t(r)] = dout[std::size_t(r)] + at;
    } else {
      ins.emplace_back(h.begin(), h.end());
      din[std::size_t(r)] = weft_test::raw(ins.back());
    }
  }
  constexpr bool is_int = std::is_same_v<T, std::int32_t>;
  weft::status s;
  auto run = [&](auto const& op) {
    switch (c) {
      case coll::all_reduce: return comm.all_reduce(din, dout, count, op, o);
      case coll::all_gather: return comm.all_gather(din, dout, count, o);
      case coll::reduce_scatter: return comm.reduce_scatter(din, dout, count, op, o);
      case coll::broadcast: return comm.broadcast(din, dout, count, root, o);
      case coll::reduce: return comm.reduce(din, dout, count, root, op, o);
    }
    return weft::status::internal_error;
  };
  if constexpr (is_int) s = run(weft::op::max<T>{});
  else s = run(weft::op::sum<T>{});
  REQUIRE(s == weft::status::success);
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::string why;
  REQUIRE(comm.last_status(&why) == weft::status::success);
  double const eps = std::is_same_v<T, float> ? 1e-6 : std::is_same_v<T, weft::bfloat16_t> ? 1.0 / 64 : 0.0;
  std::size_t wrong = 0;
  for (int r = 0; r < n; ++r) {
    std::vector<T> const h = weft_test::to_host(out[std::size_t(r)]);
    CHECK(std::memcmp(&h[out_count], &guard, sizeof(T)) == 0);
    if (c == coll::reduce && r != root) continue; // untouched elsewhere (guard checked above for the tail)
    for (std::size_t i = 0; i < out_count; ++i) {
      double want = 0, mag = 0;
      if (c == coll::all_gather) want = val(hin[i / count][i % count]);
      else if (c == coll::broadcast) want = val(hin[std::size_t(root)][i]);
      else {
        std::size_t const at = scatters ? std::size_t(r) * count + i : i;
        for (int q = 0; q < n; ++q) {
          double const x = val(hin[std::size_t(q)][at]);
          want = q == 0 ? x : (is_int ? std::max(want, x) : want + x);
          mag += std::fabs(x);
        }
      }
      double const got = val(h[i]);
      if (!(std::fabs(got - want) <= eps * mag * n)) {
        if (wrong < 3) UNSCOPED_INFO("rank " << r << " elem " << i << ": got " << got << " want " << want);
        ++wrong;
      }
    }
  }
  CHECK(wrong == 0);
}

constexpr weft::protocol protos[] = {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128};
constexpr coll colls[] = {coll::all_reduce, coll::all_gather, coll::reduce_scatter, coll::broadcast, coll::reduce};

} // namespace ring_gpu_test
