// The one translation unit that instantiates weft's host collectives for
// weft-bench: every algorithm, protocol and compiled-in type/op pair, on
// `any_comm` / `any_rank` (bench_colls.hpp), for both backends. The driver
// (weft_bench.cpp) and the MPI backend (bench_mpi_backend.cpp) compile in
// parallel with it.
#include "bench_colls.hpp"

#include "bench_rank.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/team/cpu_comm.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>

namespace weft_bench {
namespace {

//! Rank `tr`'s part of collective `s` on `c`: resolves the element type and the
//! operator, and hands the call to `measure(weft::type_tag<T>{}, call)`, where
//! `call(T const* in, T* out)` runs the collective once and returns its status.
template <class Measure>
weft::status run_collective(any_comm& c, any_rank& tr, coll_spec const& s, Measure&& measure) {
  weft::coll_options o;
  o.algo = s.algo;
  o.proto = s.proto;
  o.nchannels = s.nchannels;
  std::size_t const count = s.count;
  return weft::dispatch_dtype(s.type, [&](auto tag) -> weft::status {
    using T = typename decltype(tag)::type;
    // All-gather, broadcast and all-to-all only copy: they run on the unsigned integer
    // type of T's size (the same bytes and code path), which saves 8 of 12 instantiations.
    using C = typename detail::copy_type<sizeof(T)>::type;
    switch (s.kind) {
      case coll::all_gather:
        return measure(tag, [&](T const* in, T* out) {
          return weft::all_gather(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, o);
        });
      case coll::broadcast:
        return measure(tag, [&](T const* in, T* out) {
          return weft::broadcast(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, s.root, o);
        });
      case coll::all_to_all:
        if constexpr (detail::has_all_to_all<any_comm, any_rank, C>::value) {
          return measure(tag, [&](T const* in, T* out) {
            return all_to_all(c, tr, reinterpret_cast<C const*>(in), reinterpret_cast<C*>(out), count, o);
          });
        } else {
          return weft::status::unsupported; // supports() said so first
        }
      default:
        return detail::dispatch_compiled_op<T>(s.op, [&](auto op) -> weft::status {
          switch (s.kind) {
            case coll::reduce_scatter:
              return measure(tag, [&](T const* in, T* out) { return weft::reduce_scatter(c, tr, in, out, count, op, o); });
            case coll::reduce:
              return measure(tag, [&](T const* in, T* out) { return weft::reduce(c, tr, in, out, count, s.root, op, o); });
            default:
              return measure(tag, [&](T const* in, T* out) { return weft::all_reduce(c, tr, in, out, count, op, o); });
          }
        });
    }
  });
}

} // namespace

weft::status measure_collective(any_comm& c, any_rank& tr, coll_spec const& s, run_settings const& how, int r, int n,
                                rank_buffers& buf, std::size_t max_bytes, std::function<weft::status()> const& barrier,
                                rank_result& out) {
  return run_collective(c, tr, s, [&](auto tag, auto&& call) {
    using T = typename decltype(tag)::type;
    return measure_rank<T>(s, how, r, n, buf, max_bytes, call, barrier, out);
  });
}

weft::status collective_barrier(any_comm& c, any_rank& tr) {
  weft::coll_options o;
  o.proto = weft::protocol::ll;
  std::int32_t const one = 1;
  std::int32_t sum = 0;
  weft::status const s = weft::all_reduce(c, tr, &one, &sum, 1, weft::op::sum<std::int32_t>{}, o);
  if (s == weft::status::success && sum != tr.size()) return weft::status::internal_error;
  return s;
}

} // namespace weft_bench
