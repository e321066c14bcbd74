#pragma once
// weft-bench --peers and --rounds: the peer programs run as child processes
// for the same sizes and rank count, every contender is measured in each of
// several rounds, and the tables side by side give the median busbw, its
// spread over the rounds, and weft/peer per size.
#include "bench_args.hpp"
#include "bench_peer.hpp"
#include "bench_report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tuple>
#include <unistd.h>
#include <vector>

#ifndef WEFT_BENCH_PEER_MPI
#  define WEFT_BENCH_PEER_MPI ""
#endif
#ifndef WEFT_BENCH_MPIRUN
#  define WEFT_BENCH_MPIRUN ""
#endif
#ifndef WEFT_BENCH_PEER_GLOO
#  define WEFT_BENCH_PEER_GLOO ""
#endif

namespace weft_bench {

//! A peer program weft-bench can run.
struct peer_program {
  std::string name;    // as in --peers: "mpi", "gloo"
  std::string library; // "openmpi", "gloo" (the name in its tables)
  std::string path;    // the program; empty when it was not built
  std::vector<coll> colls;
  std::string version; // from its header, once it ran
  std::string ranks_as;
};

inline bool executable(std::string const& p) { return !p.empty() && access(p.c_str(), X_OK) == 0; }

//! The program for `--peers name`, or an error saying why it cannot run.
inline std::string find_peer(std::string const& name, peer_program& p) {
  p.name = name;
  if (name == "mpi") {
    p.library = "openmpi";
    p.path = WEFT_BENCH_PEER_MPI;
    p.colls = {coll::all_reduce, coll::all_gather, coll::reduce_scatter, coll::all_to_all};
    if (p.path.empty())
      return "--peers mpi: this weft-bench was configured without MPI (CMake found no MPI; Debian: "
             "apt-get install libopenmpi-dev openmpi-bin, then reconfigure)";
    if (!executable(p.path))
      return "--peers mpi: " + p.path + " is not built (cmake --build <build dir> --target peer-mpi)";
    std::string const run = std::getenv("WEFT_MPIRUN") ? std::getenv("WEFT_MPIRUN") : WEFT_BENCH_MPIRUN;
    if (!executable(run)) return "--peers mpi: no mpirun (set WEFT_MPIRUN to its path)";
  } else if (name == "gloo") {
    p.library = "gloo";
    p.path = WEFT_BENCH_PEER_GLOO;
    p.colls = {coll::all_reduce};
    if (p.path.empty())
      return "--peers gloo: this weft-bench was configured without Gloo (CMake found no GlooConfig.cmake; "
             "Debian: apt-get install libgloo-dev, then reconfigure)";
    if (!executable(p.path))
      return "--peers gloo: " + p.path + " is not built (cmake --build <build dir> --target peer-gloo)";
  } else {
    return "unknown peer '" + name + "' (mpi, gloo)";
  }
  return {};
}

namespace detail {

inline std::string shell_quote(std::string const& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

} // namespace detail

//! The command line that runs peer `p` for this sweep on `n` ranks.
inline std::string peer_command(peer_program const& p, options const& o, int n, std::vector<coll> const& colls) {
  std::string cmd;
  if (p.name == "mpi") {
    std::string const run = std::getenv("WEFT_MPIRUN") ? std::getenv("WEFT_MPIRUN") : WEFT_BENCH_MPIRUN;
    cmd = detail::shell_quote(run);
    if (geteuid() == 0) cmd += " --allow-run-as-root";
    cmd += " --oversubscribe -np " + std::to_string(n);
    if (char const* extra = std::getenv("WEFT_MPIRUN_ARGS")) cmd += std::string(" ") + extra;
    cmd += " " + detail::shell_quote(p.path);
  } else {
    cmd = detail::shell_quote(p.path) + " --ranks " + std::to_string(n);
  }
  auto list = [](auto const& v, auto name) {
    std::string s;
    for (auto const& x : v) s += std::string(s.empty() ? "" : ",") + name(x);
    return s;
  };
  cmd += " -b " + std::to_string(o.min_bytes) + " -e " + std::to_string(o.max_bytes) + " -f " +
         std::to_string(o.step_factor) + " -i " + std::to_string(o.step_bytes) + " -n " + std::to_string(o.iters) +
         " -w " + std::to_string(o.warmup) + " -c " + std::to_string(o.check) + " -a " + std::to_string(o.average);
  std::vector<weft::dtype> types;
  for (weft::dtype d : o.types)
    if (d == weft::dtype::f32 || d == weft::dtype::f64) types.push_back(d);
  std::vector<weft::redop> ops;
  for (weft::redop r : o.ops)
    if (r == weft::redop::sum || r == weft::redop::prod || r == weft::redop::max || r == weft::redop::min)
      ops.push_back(r);
  cmd += " -d " + list(types, [](weft::dtype d) { return std::string(weft::to_string(d)); });
  cmd += " -o " + list(ops, [](weft::redop r) { return std::string(weft::to_string(r)); });
  cmd += " --coll " + list(colls, [](coll c) { return std::string(to_string(c)); });
  return cmd;
}

//! Runs `cmd`, returns its standard output; `rc` gets its exit status (-1 if it could not run).
inline std::string run_capture(std::string const& cmd, int& rc) {
  std::string out;
  std::FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    rc = -1;
    return out;
  }
  char buf[4096];
  std::size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, got);
  int const st = pclose(f);
  rc = st == -1 ? -1 : (WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0));
  return out;
}

//! Who measured a series: weft (an algorithm, protocol, channel count) or a peer (an algorithm).
struct contender {
  std::string library; // "weft", "openmpi", "gloo"
  std::string algo;    // "ring simple", "MPI_Allreduce", "halving_doubling"
  std::string about;   // version and how ranks run
  std::string label() const { return library + " " + algo; }
};

//! busbw of every round, by contender, collective, type, op, placement and size.
class comparison {
public:
  //! Index of the contender (added when new).
  int contender_id(contender const& c) {
    for (std::size_t i = 0; i < who_.size(); ++i)
      if (who_[i].label() == c.label()) return int(i);
    who_.push_back(c);
    return int(who_.size() - 1);
  }
  void add(int who, coll c, std::string const& type, std::string const& redop, std::size_t size,
           placement_result const& oop, placement_result const& ip) {
    for (int p = 0; p < 2; ++p) {
      placement_result const& r = p ? ip : oop;
      if (r.measured) data_[key{who, c, type, redop, p}][size].push_back(r.busbw);
    }
  }

  struct stats {
    double median = 0, lo = 0, hi = 0;
    std::size_t rounds = 0;
  };
  static stats summarize(std::vector<double> v) {
    stats s;
    if (v.empty()) return s;
    std::sort(v.begin(), v.end());
    std::size_t const m = v.size();
    s.median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    s.lo = v.front();
    s.hi = v.back();
    s.rounds = m;
    return s;
  }

  //! One table per weft series that has a peer series of the same collective, type, op
  //! and placement (or, without peers, every weft series): median busbw, spread
  //! (max - min) / median over the rounds, and weft/peer per size. Its lines start
  //! with '#', like every line of weft-bench that is not an nccl-tests row, so log
  //! readers see weft's rows only.
  void print(std::FILE* f, int nranks, int rounds) const {
    for (auto const& [wk, wpoints] : data_) {
      if (who_[std::size_t(wk.who)].library != "weft") continue;
      std::vector<key> peers;
      for (auto const& [pk, pp] : data_)
        if (who_[std::size_t(pk.who)].library != "weft" && pk.c == wk.c && pk.type == wk.type &&
            pk.redop == wk.redop && pk.placement == wk.placement)
          peers.push_back(pk);
      if (peers.empty() && has_peers()) continue;
      std::fprintf(f, "#\n# side by side: %s %s %s, %s, %d ranks; busbw (GB/s) median of %d round(s), spread = "
                      "(max - min) / median\n",
                   to_string(wk.c), wk.type.c_str(), wk.redop.c_str(), wk.placement ? "in-place" : "out-of-place",
                   nranks, rounds);
      contender const& w = who_[std::size_t(wk.who)];
      std::fprintf(f, "#  [w] %s (%s)\n", w.label().c_str(), w.about.c_str());
      for (std::size_t i = 0; i < peers.size(); ++i) {
        contender const& c = who_[std::size_t(peers[i].who)];
        std::fprintf(f, "#  [%zu] %s (%s)\n", i + 1, c.label().c_str(), c.about.c_str());
      }
      std::fprintf(f, "# %10s  %8s  %6s", "size", "busbw[w]", "spread");
      for (std::size_t i = 0; i < peers.size(); ++i)
        std::fprintf(f, "  %8s  %6s  %8s", ("busbw[" + std::to_string(i + 1) + "]").c_str(), "spread",
                     ("[w]/[" + std::to_string(i + 1) + "]").c_str());
      std::fprintf(f, "\n");
      std::vector<double> min_ratio(peers.size(), 1e300);
      std::vector<std::size_t> min_at(peers.size(), 0);
      for (auto const& [size, wv] : wpoints) {
        stats const ws = summarize(wv);
        std::fprintf(f, "# %10zu  %8s  %5s%%", size, fit_number(ws.median, 8).c_str(), fit_number(spread(ws), 5).c_str());
        for (std::size_t i = 0; i < peers.size(); ++i) {
          auto const& pp = data_.at(peers[i]);
          auto it = pp.find(size);
          if (it == pp.end()) {
            std::fprintf(f, "  %8s  %6s  %8s", "-", "-", "-");
            continue;
          }
          stats const ps = summarize(it->second);
          double const ratio = ps.median > 0 ? ws.median / ps.median : 0;
          std::fprintf(f, "  %8s  %5s%%  %8s", fit_number(ps.median, 8).c_str(), fit_number(spread(ps), 5).c_str(),
                       fit_number(ratio, 8).c_str());
          if (size >= target_bytes && ratio < min_ratio[i]) {
            min_ratio[i] = ratio;
            min_at[i] = size;
          }
        }
        std::fprintf(f, "\n");
      }
      for (std::size_t i = 0; i < peers.size(); ++i)
        if (min_at[i] > 0)
          std::fprintf(f, "# [w]/[%zu] from %zu B up: lowest %.2f at %zu B: weft %s\n", i + 1, target_bytes,
                       min_ratio[i], min_at[i], min_ratio[i] >= 1.0 ? ">= peer at every size" : "BELOW the peer");
    }
  }

  //! "side_by_side": every series with its per-round values, and the ratios.
  void json(json_writer& j, int rounds) const {
    j.key("side_by_side").begin_object();
    j.field("rounds", rounds);
    j.key("series").begin_array();
    for (auto const& [k, points] : data_) {
      contender const& c = who_[std::size_t(k.who)];
      j.begin_object();
      j.field("library", c.library).field("algo", c.algo).field("label", c.label()).field("about", c.about);
      j.field("coll", to_string(k.c)).field("type", k.type).field("redop", k.redop);
      j.field("placement", k.placement ? "in-place" : "out-of-place");
      j.key("points").begin_array();
      for (auto const& [size, v] : points) {
        stats const s = summarize(v);
        j.begin_object();
        j.field("size", size).field("busbw_median", s.median).field("busbw_min", s.lo).field("busbw_max", s.hi);
        j.key("busbw_rounds").begin_array();
        for (double x : v) j.value(x);
        j.end_array();
        j.end_object();
      }
      j.end_array();
      j.end_object();
    }
    j.end_array();
    j.end_object();
  }

  //! Sizes from which the target (weft >= peer) is judged.
  static constexpr std::size_t target_bytes = 64 * 1024;

private:
  struct key {
    int who;
    coll c;
    std::string type, redop;
    int placement; // 0 out of place, 1 in place
    bool operator<(key const& o) const {
      return std::tie(who, c, type, redop, placement) < std::tie(o.who, o.c, o.type, o.redop, o.placement);
    }
  };
  bool has_peers() const {
    for (contender const& c : who_)
      if (c.library != "weft") return true;
    return false;
  }
  static double spread(stats const& s) { return s.median > 0 ? 100.0 * (s.hi - s.lo) / s.median : 0.0; }

  std::vector<contender> who_;
  std::map<key, std::map<std::size_t, std::vector<double>>> data_;
};

} // namespace weft_bench
