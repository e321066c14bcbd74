// peer-gloo: Gloo's all-reduce measured the way weft-bench measures weft's.
//   peer-gloo --ranks 4 -b 64K -e 16M -f 4 --algo ring,halving_doubling
// Ranks are threads of this process, each with its own Gloo context and TCP
// device on 127.0.0.1 (so every byte goes through the loopback interface, as
// between Gloo processes on one host); they meet through an in-process store.
// gloo::AllreduceRing and gloo::AllreduceHalvingDoubling work in place on the
// buffer they were built with, so the out-of-place columns are N/A, and one
// algorithm object is built per buffer slice before the clock starts (at most
// 16 slices; weft-bench rotates over every slice of its buffers).
// weft-bench --peers gloo runs it and reads its table.
#include "bench_peer.hpp"
#include "bench_rank.hpp"

#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/config.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/hash_store.h>
#include <gloo/transport/tcp/device.h>

#include <condition_variable>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace weft_bench;

//! All ranks (threads) meet; reusable.
class thread_barrier {
public:
  explicit thread_barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    int const gen = gen_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, arrived_ = 0, gen_ = 0;
};

template <class T>
gloo::ReductionFunction<T> const* gloo_fn(weft::redop r) {
  switch (r) {
    case weft::redop::prod: return gloo::ReductionFunction<T>::product;
    case weft::redop::max: return gloo::ReductionFunction<T>::max;
    case weft::redop::min: return gloo::ReductionFunction<T>::min;
    default: return gloo::ReductionFunction<T>::sum;
  }
}

constexpr std::size_t max_gloo_slices = 16;

template <class T>
weft::status rank_run(peer_call const& pc, std::shared_ptr<gloo::Context> const& ctx, int me, int n,
                      rank_buffers& buf, std::size_t max_bytes, thread_barrier& bar, rank_result& res,
                      std::string& error) {
  coll_spec const& s = pc.spec;
  int const count = int(s.count);
  buf.touch();
  // One algorithm object per slice the timed loop will use (see measure_rank).
  std::map<T*, std::unique_ptr<gloo::Algorithm>> algs;
  std::size_t const total = s.count * sizeof(T);
  std::size_t steps = total ? (max_bytes / total > 0 ? max_bytes / total : 1) : 1;
  if (steps > max_gloo_slices) steps = max_gloo_slices;
  try {
    for (std::size_t k = 0; k < steps; ++k) {
      T* const p = reinterpret_cast<T*>(buf.recv() + k * total);
      std::vector<T*> ptrs{p};
      if (pc.algo == "halving_doubling")
        algs[p] = std::make_unique<gloo::AllreduceHalvingDoubling<T>>(ctx, ptrs, count, gloo_fn<T>(s.op.op));
      else
        algs[p] = std::make_unique<gloo::AllreduceRing<T>>(ctx, ptrs, count, gloo_fn<T>(s.op.op));
    }
  } catch (std::exception const& e) {
    error = e.what();
    return weft::status::internal_error;
  }
  auto call = [&](T const*, T* out) -> weft::status {
    auto it = algs.find(out);
    if (it == algs.end()) {
      error = "no Gloo algorithm object for this buffer";
      return weft::status::internal_error;
    }
    try {
      it->second->run();
    } catch (std::exception const& e) {
      error = e.what();
      return weft::status::internal_error;
    }
    return weft::status::success;
  };
  auto barrier = [&] {
    bar.wait();
    return weft::status::success;
  };
  return measure_rank<T>(s, pc.how, me, n, buf, max_bytes, call, barrier, res, steps);
}

int run(int argc, char** argv) {
  options o;
  std::vector<std::string> algos;
  std::string err = parse_peer_args(argc, argv, o, algos, {"ring", "halving_doubling"});
  if (err.empty() && !o.help)
    for (coll c : o.colls)
      if (c != coll::all_reduce) err = std::string("peer-gloo measures allreduce, not ") + to_string(c);
  if (o.help) {
    print_peer_usage(stdout, "peer-gloo", {"ring", "halving_doubling"}, "allreduce");
    return 0;
  }
  if (!err.empty()) {
    std::fprintf(stderr, "peer-gloo: %s\n", err.c_str());
    return 2;
  }
  int const n = o.nranks;

  // Every rank's context, connected to every other rank over TCP on 127.0.0.1.
  auto store = std::make_shared<gloo::rendezvous::HashStore>();
  std::vector<std::shared_ptr<gloo::Context>> ctxs(static_cast<std::size_t>(n));
  std::vector<std::string> errors(static_cast<std::size_t>(n));
  {
    std::vector<std::thread> ts;
    for (int r = 0; r < n; ++r)
      ts.emplace_back([&, r] {
        try {
          gloo::transport::tcp::attr attr("127.0.0.1");
          auto dev = gloo::transport::tcp::CreateDevice(attr);
          auto ctx = std::make_shared<gloo::rendezvous::Context>(r, n);
          ctx->connectFullMesh(*store, dev);
          ctxs[std::size_t(r)] = ctx;
        } catch (std::exception const& e) {
          errors[std::size_t(r)] = e.what();
        }
      });
    for (auto& t : ts) t.join();
  }
  for (int r = 0; r < n; ++r)
    if (!errors[std::size_t(r)].empty()) {
      std::fprintf(stderr, "peer-gloo: rank %d could not connect: %s\n", r, errors[std::size_t(r)].c_str());
      return 1;
    }

  std::vector<std::unique_ptr<rank_buffers>> bufs;
  for (int r = 0; r < n; ++r) bufs.push_back(std::make_unique<rank_buffers>(o.max_bytes));
  peer_info info{"peer-gloo", "gloo",
                 "Gloo " + std::to_string(GLOO_VERSION_MAJOR) + "." + std::to_string(GLOO_VERSION_MINOR) + "." +
                     std::to_string(GLOO_VERSION_PATCH),
                 "threads of one process, each with its own Gloo TCP device on 127.0.0.1"};
  std::vector<peer_table> tables;
  for (std::string const& a : algos) tables.push_back({coll::all_reduce, a});
  std::size_t const max_bytes = o.max_bytes;
  return peer_sweep(o, info, n, tables, true, [&](peer_call const& pc, measurement& m) {
    if (!pc.spec.in_place) return false; // Gloo's algorithms work in place only
    thread_barrier bar(n);
    std::vector<rank_result> res(static_cast<std::size_t>(n));
    std::vector<weft::status> st(static_cast<std::size_t>(n), weft::status::success);
    std::vector<std::string> why(static_cast<std::size_t>(n));
    std::vector<std::thread> ts;
    for (int r = 0; r < n; ++r)
      ts.emplace_back([&, r] {
        auto const i = std::size_t(r);
        st[i] = pc.spec.type == weft::dtype::f64
                    ? rank_run<double>(pc, ctxs[i], r, n, *bufs[i], max_bytes, bar, res[i], why[i])
                    : rank_run<float>(pc, ctxs[i], r, n, *bufs[i], max_bytes, bar, res[i], why[i]);
      });
    for (auto& t : ts) t.join();
    m.ok = true;
    m.checked = pc.how.check_runs > 0;
    for (int r = 0; r < n; ++r) {
      auto const i = std::size_t(r);
      m.rank_seconds.push_back(res[i].seconds);
      m.wrong += res[i].wrong;
      if (st[i] != weft::status::success && m.ok) {
        m.ok = false;
        m.error = "Gloo " + pc.algo + " all-reduce failed on rank " + std::to_string(r) + ": " + why[i];
      }
    }
    return true;
  });
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "peer-gloo: %s\n", e.what());
    return 1;
  }
}
