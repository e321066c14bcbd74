#pragma once
// The part the peer programs share (peer_mpi.cpp: OpenMPI; peer_gloo.cpp: Gloo).
// A peer program takes weft-bench's sweep flags (-b -e -f -i -n -w -c -d -o -a
// -J --ranks --coll) and --algo in the peer's own names, measures each
// collective with bench_rank.hpp's loop (the inputs, buffer rotation and check
// weft-bench uses), and prints nccl-tests' table under a title line
//   # allreduce, peer openmpi, algo MPI_Allreduce; busbw = algbw * 2(n-1)/n
// which weft-bench --peers reads back (parse_peer_output below).
#include "bench_args.hpp"
#include "bench_backend.hpp"
#include "bench_report.hpp"

#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace weft_bench {

//! One table of a peer: a collective and the peer's algorithm for it.
struct peer_table {
  coll c = coll::all_reduce;
  std::string algo;
};

//! What a peer program measures, for its header and JSON.
struct peer_info {
  std::string program;  // "peer-mpi"
  std::string library;  // "openmpi", the name in --peers and in the tables
  std::string version;  // "Open MPI v4.1.4"
  std::string ranks_as; // "processes under mpirun (one rank each)"
};

//! A peer's way of running one collective: fills `m` (per-rank seconds, wrong
//! elements) and returns false when the peer has no such placement.
struct peer_call {
  coll_spec spec;
  std::string algo;
  run_settings how;
};

namespace detail {

inline bool peer_type_ok(weft::dtype d) { return d == weft::dtype::f32 || d == weft::dtype::f64; }
inline bool peer_op_ok(weft::redop r) {
  return r == weft::redop::sum || r == weft::redop::prod || r == weft::redop::max || r == weft::redop::min;
}

} // namespace detail

//! Parses a peer's command line into `o` (weft-bench's flags) and `algos` (the
//! peer's own names for --algo, each one of `known`; empty: every algorithm).
//! Returns the reason on error.
inline std::string parse_peer_args(int argc, char** argv, options& o, std::vector<std::string>& algos,
                                   std::vector<std::string> const& known) {
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    std::string v;
    if (a == "--algo" && i + 1 < argc)
      v = argv[++i];
    else if (a.rfind("--algo=", 0) == 0)
      v = a.substr(7);
    else if (a == "--algo")
      return "flag --algo needs a value";
    else {
      rest.push_back(argv[i]);
      continue;
    }
    for (std::string const& s : detail::split_list(v.c_str())) {
      bool found = false;
      for (std::string const& k : known) found |= k == s;
      if (!found) {
        std::string list;
        for (std::string const& k : known) list += " " + k;
        return "unknown algorithm '" + s + "' (this peer has:" + list + ")";
      }
      algos.push_back(s);
    }
  }
  std::string err = parse_args(int(rest.size()), rest.data(), o);
  if (!err.empty() || o.help) return err;
  for (weft::dtype d : o.types)
    if (!detail::peer_type_ok(d))
      return std::string("type ") + weft::to_string(d) + " is not measured by the peer programs (float, double)";
  for (weft::redop r : o.ops)
    if (!detail::peer_op_ok(r))
      return std::string("op ") + weft::to_string(r) + " is not measured by the peer programs (sum prod max min)";
  if (algos.empty()) algos = known;
  return {};
}

inline void print_peer_usage(std::FILE* f, char const* prog, std::vector<std::string> const& algos,
                             char const* colls) {
  std::string list;
  for (std::string const& a : algos) list += " " + a;
  std::fprintf(f,
               "USAGE: %s [flags]\n"
               "Measures a peer library's collectives the way weft-bench measures weft's, for weft-bench --peers.\n"
               "Flags as weft-bench's: -b -e -f -i -n -w -c -a -J, --ranks, -d float|double, -o sum|prod|max|min,\n"
               "  --coll %s\n"
               "  --algo <a,...>   this peer's algorithms:%s (default: all)\n",
               prog, colls, list.c_str());
}

//! The table title of a peer's table (parse_peer_output reads it back).
inline std::string peer_title(coll c, std::string const& peer, std::string const& algo) {
  return std::string("# ") + to_string(c) + ", peer " + peer + ", algo " + algo + "; busbw = algbw * " +
         busbw_formula(c);
}

//! The sweep of a peer program: every table, type, op and size, both placements.
//!   measure(peer_call const&, measurement& m) -> bool   runs one placement on every rank;
//!       false when the peer has no such placement (printed N/A). On MPI every
//!       process calls the sweep and `measure`; only `printer` prints.
//! Returns the exit status (0, or 1 on wrong results or a failure).
template <class Measure>
int peer_sweep(options const& o, peer_info const& info, int n, std::vector<peer_table> const& tables, bool printer,
               Measure&& measure) {
  std::vector<std::size_t> const size_list = sizes(o);
  if (printer) {
    std::string colls;
    for (peer_table const& t : tables) colls += std::string(colls.empty() ? "" : ",") + to_string(t.c);
    std::printf("# %s: %s with %s (%s), %d ranks as %s\n", info.program.c_str(), colls.c_str(), info.library.c_str(),
                info.version.c_str(), n, info.ranks_as.c_str());
    std::printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d agg iters: 1 "
                "validation: %d graph: 0\n",
                o.min_bytes, o.max_bytes, o.step_factor > 1 ? o.step_factor : o.step_bytes,
                o.step_factor > 1 ? "factor" : "bytes", o.warmup, o.iters, o.check);
    std::printf("# time: per iteration, over ranks by -a %d (as weft-bench)\n", o.average);
    std::printf("# hardware: %s\n", hardware_string().c_str());
    std::fflush(stdout);
  }
  std::vector<row> rows;
  int failed_tests = 0;
  double bw_sum = 0;
  int bw_count = 0;
  std::string fatal;
  std::uint64_t seed = 1;
  for (peer_table const& t : tables) {
    if (printer) {
      std::printf("#\n%s\n", peer_title(t.c, info.library, t.algo).c_str());
      print_column_header(stdout);
    }
    for (weft::dtype d : o.types) {
      std::vector<weft::redop> ops = o.ops;
      if (!reduces(t.c)) ops.assign(1, weft::redop::sum);
      for (weft::redop r : ops) {
        for (std::size_t bytes : size_list) {
          std::size_t const per = weft::dtype_size(d) * (size_is_total(t.c) ? std::size_t(n) : 1u);
          row rw;
          rw.kind = t.c;
          rw.peer = info.library;
          rw.algo_name = t.algo;
          rw.count = bytes / per;
          rw.size = rw.count * per;
          rw.type = weft::to_string(d);
          rw.redop = reduces(t.c) ? weft::to_string(r) : "none";
          peer_call pc;
          pc.spec.kind = t.c;
          pc.spec.type = d;
          pc.spec.op.op = r;
          pc.spec.op.nranks = n;
          pc.spec.count = rw.count;
          pc.algo = t.algo;
          pc.how.warmup = o.warmup;
          pc.how.iters = o.iters;
          pc.how.check_runs = o.check;
          for (int ip = 0; ip < 2 && fatal.empty(); ++ip) {
            pc.spec.in_place = ip == 1;
            pc.how.seed = seed;
            seed += std::uint64_t(o.check) + 1;
            measurement m;
            placement_result& pr = ip ? rw.ip : rw.oop;
            if (!measure(pc, m)) {
              pr.measured = false;
              continue;
            }
            if (!m.ok) {
              fatal = m.error;
              break;
            }
            set_placement(pr, m.rank_seconds, o.average, rw.size, t.c, n, m.checked, m.wrong);
            if (m.checked && m.wrong > 0) ++failed_tests;
            bw_sum += pr.busbw;
            ++bw_count;
          }
          if (!fatal.empty()) break;
          if (printer) {
            std::printf("%s\n", format_row(rw).c_str());
            std::fflush(stdout);
          }
          rows.push_back(rw);
        }
      }
    }
  }
  if (!printer) return (!fatal.empty() || failed_tests) ? 1 : 0;
  if (!fatal.empty()) {
    std::printf("# FAILED: %s\n", fatal.c_str());
    std::fprintf(stderr, "%s: %s\n", info.program.c_str(), fatal.c_str());
  }
  double const avg_bw = bw_count ? bw_sum / double(bw_count) : 0.0;
  std::printf("# Out of bounds values : %d %s\n", failed_tests, failed_tests ? "FAILED" : "OK");
  std::printf("# Avg bus bandwidth    : %g\n#\n", avg_bw);
  std::fflush(stdout);
  if (!o.json_path.empty()) {
    json_writer j;
    j.begin_object();
    j.field("benchmark", "weft-bench-peer").field("program", info.program).field("peer", info.library);
    j.field("peer_version", info.version).field("ranks", n).field("ranks_as", info.ranks_as);
    json_hardware(j);
    j.key("params").begin_object();
    json_sweep_params(j, o);
    j.end_object();
    j.key("rows").begin_array();
    for (row const& r : rows) json_row(j, r);
    j.end_array();
    j.field("out_of_bounds", failed_tests).field("avg_busbw", avg_bw);
    if (fatal.empty())
      j.key("error").null();
    else
      j.field("error", fatal);
    j.end_object();
    if (!write_text_file(o.json_path, j.str() + "\n")) {
      std::fprintf(stderr, "%s: cannot write %s\n", info.program.c_str(), o.json_path.c_str());
      return 1;
    }
  }
  return (!fatal.empty() || failed_tests) ? 1 : 0;
}

//! One row read back from a peer's output (weft-bench --peers).
struct peer_row {
  coll c = coll::all_reduce;
  std::string peer, algo, type, redop;
  std::size_t size = 0;
  placement_result oop, ip;
};

namespace detail {

// "time algbw busbw #wrong" of one placement; N/A where the peer has none.
inline bool parse_placement(std::istringstream& in, placement_result& p) {
  std::string t, a, b, w;
  if (!(in >> t >> a >> b >> w)) return false;
  if (t == "N/A") {
    p.measured = false;
    return true;
  }
  char* end = nullptr;
  p.time_us = std::strtod(t.c_str(), &end);
  p.algbw = std::strtod(a.c_str(), nullptr);
  p.busbw = std::strtod(b.c_str(), nullptr);
  p.checked = w != "N/A";
  p.wrong = p.checked ? std::atoll(w.c_str()) : 0;
  return end && *end == '\0';
}

} // namespace detail

//! The rows of a peer program's output. `err` gets the first malformed line.
inline std::vector<peer_row> parse_peer_output(std::string const& text, std::string& err) {
  std::vector<peer_row> rows;
  std::istringstream lines(text);
  std::string line;
  peer_row cur;
  bool in_table = false;
  while (std::getline(lines, line)) {
    if (line.rfind("# ", 0) == 0 && line.find(", peer ") != std::string::npos) {
      // "# allreduce, peer openmpi, algo MPI_Allreduce; busbw = ..."
      std::size_t const c1 = line.find(','), p = line.find(", peer "), a = line.find(", algo "),
                        semi = line.find(';');
      if (a == std::string::npos || semi == std::string::npos || !detail::parse_coll(line.substr(2, c1 - 2), cur.c)) {
        err = "bad table title: " + line;
        return rows;
      }
      cur.peer = line.substr(p + 7, a - p - 7);
      cur.algo = line.substr(a + 7, semi - a - 7);
      in_table = true;
      continue;
    }
    if (line.empty() || line[0] == '#' || !in_table) continue;
    std::istringstream in(line);
    peer_row r = cur;
    std::string count, root;
    if (!(in >> r.size >> count >> r.type >> r.redop >> root) || !detail::parse_placement(in, r.oop) ||
        !detail::parse_placement(in, r.ip)) {
      err = "bad row: " + line;
      return rows;
    }
    rows.push_back(r);
  }
  return rows;
}

} // namespace weft_bench
