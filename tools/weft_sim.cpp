// weft-sim: predicted collective performance from weft's simulator, in
// nccl-tests' table layout. Every number it prints is a PREDICTION of the
// model (docs/simulator.md), never a measurement.
//
//   weft-sim --topo gb200-nvl72 --coll allreduce --algo ring,nvls,direct_one_shot -b 8 -e 8G -f 2
//   weft-sim --topo gb200-nvl72x8-ib --ranks 576 -b 1G -e 1G -v
//   weft-sim --topo dgx-h100x4-eth --algo ring,ring_rail -b 1G -e 8G   plain vs rail-rotated ring
//   weft-sim --calibration            residuals against the published measurements
//   weft-sim --list                   topology presets
//
// Algorithms are the ones weft can trace (sim/trace.hpp): the ring family
// (with its rail-rotated form ring_rail / chain_rail across nodes),
// recursive, tree, direct (symmetric memory) and nvls (multicast); one weft does
// not have (collnet, ...) is reported as such and never predicted, and one the
// system cannot run (nvls without in-switch reduction, direct across NVLink
// domains) says why.
// Parsing never exits from a helper: errors return a message; main exits 2.
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/sim/simulator.hpp>
#include <weft/sim/topology.hpp>
#include <weft/sim/trace.hpp>
#include <weft/tune/calibration.hpp>
#include <weft/tune/tuner.hpp>
#include <weft/version.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#ifndef WEFT_PLOT_SCRIPT
#define WEFT_PLOT_SCRIPT "tools/plot_busbw.py"
#endif
#ifndef WEFT_PLOT_PYTHON
#define WEFT_PLOT_PYTHON "python3"
#endif

namespace {

struct options {
  std::string topo = "dgx-h100";
  std::string data_dir = weft::sim::default_data_dir();
  weft::sim::collective coll = weft::sim::collective::all_reduce;
  std::vector<std::string> algos{"auto"};
  int proto = -1;  // -1: the tuner chooses
  int nchannels = 0;
  int nranks = 0;  // 0: every GPU
  std::size_t min_bytes = 8, max_bytes = 32u << 20, step_bytes = 1u << 20, factor = 2;
  weft::dtype type = weft::dtype::f32;
  weft::redop op = weft::redop::sum;
  int root = 0;
  std::string csv, plot;
  bool list = false, calibration = false, verbose = false, help = false;
  bool zero_copy = false; // the buffers are multicast symmetric memory
};

char const* usage =
    "usage: weft-sim [options]    (every number printed is a model prediction)\n"
    "  --topo <spec>               topology: a preset (--list), <preset>x<N> for N NVLink domains,\n"
    "                              -ib/-eth for the fabric (gb200-nvl72x8-ib), or a .json file (default dgx-h100)\n"
    "  --coll <name>               allreduce allgather reducescatter broadcast reduce (default allreduce)\n"
    "  --algo <a,b,...>            algorithms to predict, or auto (the tuner's choice; default);\n"
    "                              an algorithm weft does not have is reported, not predicted\n"
    "  --proto <p>                 simple ll ll128 or auto (default: the tuner chooses per size)\n"
    "  --channels <n>              channel count or auto (default)\n"
    "  --ranks <n>                 ranks (default: every GPU of the topology)\n"
    "  -b,--minbytes <size>        smallest size, K/M/G suffixes (default 8)\n"
    "  -e,--maxbytes <size>        largest size (default 32M)\n"
    "  -f,--stepfactor <f>         size factor (default 2)\n"
    "  -i,--stepbytes <size>       size increment when the factor is 1 (default 1M)\n"
    "  -d,--datatype <type>        float double half bfloat16 fp8_e4m3 fp8_e5m2 int8 uint8 int32 uint32 int64 uint64\n"
    "  -o,--op <op>                sum prod max min avg mulsum (shown in the table; the model ignores it)\n"
    "  -r,--root <rank>            root of broadcast and reduce (default 0)\n"
    "  --zero-copy                 the buffers are multicast symmetric memory (weft-bench -R 2):\n"
    "                              zero-copy NVLS (nvls_zero_copy) becomes a candidate\n"
    "  --csv <file>                also write the rows as CSV (what tools/plot_busbw.py reads)\n"
    "  --plot <file.png>           plot predicted busbw against size per algorithm (python3 + matplotlib)\n"
    "  --data <dir>                topology data directory (default $WEFT_SIM_DATA or the source tree's)\n"
    "  --calibration               predict the published measurements and print the residuals\n"
    "  --list                      list the topology presets\n"
    "  -v,--verbose                show what each prediction simulated\n"
    "  -h,--help                   this text\n";

bool parse_size(char const* s, std::size_t& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s, &end);
  if (end == s || errno != 0 || !(v >= 0)) return false;
  double unit = 1;
  if (*end != '\0') {
    switch (*end) {
      case 'k': case 'K': unit = 1024.0; break;
      case 'm': case 'M': unit = 1024.0 * 1024.0; break;
      case 'g': case 'G': unit = 1024.0 * 1024.0 * 1024.0; break;
      case 't': case 'T': unit = 1024.0 * 1024.0 * 1024.0 * 1024.0; break;
      default: return false;
    }
    ++end;
    if (*end == 'B' || *end == 'b') ++end;
    if (*end != '\0') return false;
  }
  if (v * unit > 1e15) return false;
  out = std::size_t(v * unit);
  return true;
}

bool parse_int(char const* s, long lo, long hi, long& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long const v = std::strtol(s, &end, 10);
  if (*end != '\0' || errno != 0 || v < lo || v > hi) return false;
  out = v;
  return true;
}

std::vector<std::string> split(std::string const& s) {
  std::vector<std::string> v;
  std::size_t b = 0;
  while (b <= s.size()) {
    std::size_t const e = s.find(',', b);
    std::string const part = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
    if (!part.empty()) v.push_back(part);
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return v;
}

//! "" on success, else the error.
std::string parse_args(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string value;
    bool has_value = false;
    if (std::size_t const eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    auto flag = [&](char const* s, char const* l) { return a == l || (s[0] && a == s); };
    auto need = [&]() -> char const* {
      if (has_value) return value.c_str();
      if (i + 1 >= argc) return nullptr;
      return argv[++i];
    };
    auto bad = [&](std::string const& what) { return "weft-sim: " + a + ": expected " + what; };
    char const* v = nullptr;
    long n = 0;
    if (flag("-h", "--help")) o.help = true;
    else if (flag("", "--list")) o.list = true;
    else if (flag("", "--calibration")) o.calibration = true;
    else if (flag("-v", "--verbose")) o.verbose = true;
    else if (flag("", "--zero-copy")) o.zero_copy = true;
    else if (flag("", "--topo")) {
      if (!(v = need())) return bad("a topology");
      o.topo = v;
    } else if (flag("", "--data")) {
      if (!(v = need())) return bad("a directory");
      o.data_dir = v;
    } else if (flag("", "--coll")) {
      if (!(v = need()) || !weft::sim::parse_cli_collective(v, o.coll))
        return bad("allreduce, allgather, reducescatter, broadcast or reduce");
    } else if (flag("", "--algo")) {
      if (!(v = need())) return bad("algorithm names");
      o.algos = split(v);
      if (o.algos.empty()) return bad("algorithm names");
    } else if (flag("", "--proto")) {
      if (!(v = need())) return bad("simple, ll, ll128 or auto");
      weft::protocol p;
      if (std::string(v) == "auto") o.proto = -1;
      else if (weft::parse_protocol(v, p)) o.proto = int(p);
      else return bad("simple, ll, ll128 or auto");
    } else if (flag("", "--channels")) {
      if (!(v = need())) return bad("a channel count or auto");
      if (std::string(v) == "auto") o.nchannels = 0;
      else if (parse_int(v, 1, weft::sim::max_channels, n)) o.nchannels = int(n);
      else return bad("a channel count in 1.." + std::to_string(weft::sim::max_channels) + " or auto");
    } else if (flag("", "--ranks")) {
      if (!(v = need()) || !parse_int(v, 1, weft::sim::max_ranks, n)) return bad("a rank count");
      o.nranks = int(n);
    } else if (flag("-b", "--minbytes")) {
      if (!(v = need()) || !parse_size(v, o.min_bytes)) return bad("bytes, with an optional K, M or G suffix");
    } else if (flag("-e", "--maxbytes")) {
      if (!(v = need()) || !parse_size(v, o.max_bytes)) return bad("bytes, with an optional K, M or G suffix");
    } else if (flag("-i", "--stepbytes")) {
      if (!(v = need()) || !parse_size(v, o.step_bytes) || o.step_bytes == 0) return bad("bytes > 0");
    } else if (flag("-f", "--stepfactor")) {
      if (!(v = need()) || !parse_int(v, 1, 1 << 20, n)) return bad("an integer >= 1");
      o.factor = std::size_t(n);
    } else if (flag("-d", "--datatype")) {
      if (!(v = need()) || !weft::parse_dtype(v, o.type))
        return bad("double float half bfloat16 fp8_e4m3 fp8_e5m2 int8 uint8 int32 uint32 int64 uint64");
    } else if (flag("-o", "--op")) {
      if (!(v = need()) || !weft::parse_redop(v, o.op)) return bad("sum prod max min avg mulsum");
    } else if (flag("-r", "--root")) {
      if (!(v = need()) || !parse_int(v, 0, weft::sim::max_ranks - 1, n)) return bad("a rank");
      o.root = int(n);
    } else if (flag("", "--csv")) {
      if (!(v = need())) return bad("a file name");
      o.csv = v;
    } else if (flag("", "--plot")) {
      if (!(v = need())) return bad("a file name");
      o.plot = v;
    } else {
      return "weft-sim: unknown option '" + a + "' (try --help)";
    }
  }
  if (o.min_bytes > o.max_bytes) return "weft-sim: -b is larger than -e";
  return {};
}

std::string human_bytes(double b) {
  char buf[64];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%g GiB", b / (1024.0 * 1024 * 1024));
  else if (b >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%g MiB", b / (1024.0 * 1024));
  else if (b >= 1024.0) std::snprintf(buf, sizeof buf, "%g KiB", b / 1024.0);
  else std::snprintf(buf, sizeof buf, "%g B", b);
  return buf;
}

void print_topology(weft::sim::topology const& t, int nranks) {
  std::printf("# topology %s: %s\n", t.name.c_str(), t.description.c_str());
  std::printf("#   %d GPUs (%s, %s) = %d domain(s) x %d node(s) x %d; NVLink %.0f GB/s per direction (x%.3f achieved)%s\n",
              t.ngpus(), t.gpu.model.c_str(), t.gpu.arch.c_str(), t.domains, t.nodes_per_domain, t.gpus_per_node,
              t.nvlink.GBps, t.cost.nvlink_efficiency, t.nvlink.in_switch_reduction ? ", in-switch reduction" : "");
  if (t.domains > 1 || t.nic.Gbps_per_gpu > 0)
    std::printf("#   NIC %.0f Gb/s per GPU on %d rails, fabric %s (%s, x%.2f achieved); cost model %s\n",
                t.nic.Gbps_per_gpu, t.nic.rails, t.fabric.name.c_str(), weft::sim::to_string(t.fabric.type),
                t.fabric.efficiency, t.cost.name.c_str());
  std::printf("#   %d ranks, rank r on GPU r\n", nranks);
}

int run_calibration(options const& o) {
  std::string const path = o.data_dir + "/calibration-published.json";
  std::vector<weft::tune::calibration_row> rows;
  std::string why;
  if (!weft::tune::load_calibration_rows(path, rows, &why)) {
    std::fprintf(stderr, "weft-sim: %s\n", why.c_str());
    return 2;
  }
  std::printf("# weft-sim %s calibration: PREDICTED vs published (%s)\n", weft::version_string, path.c_str());
  std::printf("# %-17s %-12s %6s %10s %-16s %10s %9s  %-5s  %s\n", "row", "topology", "ranks", "size", "measured",
              "predicted", "residual", "ok", "weft choice");
  int failed = 0;
  for (auto const& row : rows) {
    weft::tune::calibration_result const r = weft::tune::run_calibration_row(row, o.data_dir);
    char meas[64];
    if (row.lo == row.hi) std::snprintf(meas, sizeof meas, "%g", row.lo);
    else std::snprintf(meas, sizeof meas, "%g-%g", row.lo, row.hi);
    std::string const unit = row.metric == "busbw" ? " GB/s" : " us";
    std::string status, choice;
    char pred[32] = "-", resid[32] = "-";
    if (r.predicted) {
      std::snprintf(pred, sizeof pred, "%.1f", r.value);
      if (row.checked) std::snprintf(resid, sizeof resid, "%+.1f%%", 100 * r.residual);
      choice = r.chosen.algo + " " + weft::to_string(r.chosen.proto) + " x" + std::to_string(r.chosen.nchannels);
    }
    if (row.checked) {
      status = r.pass ? "PASS" : "FAIL";
      if (!r.pass) ++failed;
      if (!r.error.empty()) choice = r.error;
    } else {
      status = "n/a";
      choice = "not checkable: needs " + row.needs + (r.predicted ? "; predicted is weft's " + choice : "");
    }
    std::printf("  %-17s %-12s %6d %10s %-16s %10s %9s  %-5s  %s\n", row.id.c_str(), row.topology.c_str(), row.nranks,
                human_bytes(double(row.bytes)).c_str(), (meas + unit).c_str(), pred, resid, status.c_str(),
                choice.c_str());
  }
  std::printf("# %d checked row(s) outside their tolerance\n", failed);
  return failed ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (std::string const err = parse_args(argc, argv, o); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 2;
  }
  if (o.help) {
    std::fputs(usage, stdout);
    return 0;
  }
  if (o.list) {
    std::printf("# topology presets in %s (add xN for N domains, -ib or -eth for the fabric)\n", o.data_dir.c_str());
    for (auto const& p : weft::sim::list_presets(o.data_dir)) {
      weft::sim::topology t;
      std::string why;
      if (weft::sim::load_topology(p, t, &why, o.data_dir))
        std::printf("%-14s %4d GPUs  %s\n", p.c_str(), t.ngpus(), t.description.c_str());
      else
        std::printf("%-14s invalid: %s\n", p.c_str(), why.c_str());
    }
    return 0;
  }
  if (o.calibration) return run_calibration(o);

  weft::sim::topology t;
  std::string why;
  if (!weft::sim::load_topology(o.topo, t, &why, o.data_dir)) {
    std::fprintf(stderr, "weft-sim: %s\n", why.c_str());
    return 2;
  }
  int const n = o.nranks > 0 ? o.nranks : t.ngpus();
  if (n > t.ngpus()) {
    std::fprintf(stderr, "weft-sim: %d ranks, but topology %s has %d GPUs\n", n, t.name.c_str(), t.ngpus());
    return 2;
  }
  if ((o.coll == weft::sim::collective::broadcast || o.coll == weft::sim::collective::reduce) && o.root >= n) {
    std::fprintf(stderr, "weft-sim: root %d outside 0..%d\n", o.root, n - 1);
    return 2;
  }

  std::vector<std::size_t> sizes;
  for (std::size_t b = o.min_bytes; b <= o.max_bytes;) {
    sizes.push_back(b);
    std::size_t const next = o.factor > 1 ? b * o.factor : b + o.step_bytes;
    if (next <= b) break;
    b = next;
  }

  std::printf("# weft-sim %s: PREDICTED performance from weft's simulator (a model, not a measurement)\n",
              weft::version_string);
  print_topology(t, n);
  std::string const busf = o.coll == weft::sim::collective::all_reduce ? "2(n-1)/n"
                           : weft::sim::size_is_total(o.coll)          ? "(n-1)/n"
                                                                       : "1";
  std::printf("# collective %s, type %s, op %s; busbw = algbw * %s\n#\n", weft::sim::cli_name(o.coll),
              weft::to_string(o.type), weft::to_string(o.op), busf.c_str());

  std::FILE* csv = nullptr;
  std::string csv_path = o.csv;
  if (csv_path.empty() && !o.plot.empty()) csv_path = o.plot + ".csv";
  if (!csv_path.empty()) {
    csv = std::fopen(csv_path.c_str(), "w");
    if (!csv) {
      std::fprintf(stderr, "weft-sim: cannot write %s\n", csv_path.c_str());
      return 2;
    }
    std::fprintf(csv, "topology,collective,ranks,algo,proto,nchannels,size,count,type,time_us,algbw,busbw\n");
  }

  std::vector<weft::sim::traced_algorithm> const have = weft::sim::traced_algorithms(o.coll);
  std::string known;
  for (auto const& a : have) known += (known.empty() ? "" : ", ") + std::string(a.name);
  bool any_error = false;
  for (auto const& algo : o.algos) {
    bool exists = algo == "auto";
    for (auto const& a : have) exists = exists || algo == a.name;
    if (!exists) {
      std::printf("# algo %s: weft has no %s algorithm named '%s' (weft has: %s) -- no prediction\n#\n", algo.c_str(),
                  weft::sim::cli_name(o.coll), algo.c_str(), known.empty() ? "none" : known.c_str());
      continue;
    }
    std::printf("# algo %s, protocol %s, channels %s\n", algo == "auto" ? "auto (tuner)" : algo.c_str(),
                o.proto < 0 ? "auto (tuner)" : weft::to_string(weft::protocol(o.proto)),
                o.nchannels == 0 ? "auto (tuner)" : std::to_string(o.nchannels).c_str());
    std::fputs(weft::sim::predicted_table_header().c_str(), stdout);
    double bw_sum = 0;
    int bw_n = 0;
    auto const t0 = std::chrono::steady_clock::now();
    for (std::size_t bytes : sizes) {
      weft::tune::request rq;
      rq.coll = o.coll;
      rq.nranks = n;
      rq.bytes = bytes;
      rq.elem_bytes = weft::dtype_size(o.type);
      rq.root = o.root;
      rq.switch_sum = o.op == weft::redop::sum &&
                      (o.type == weft::dtype::f32 || o.type == weft::dtype::bf16 || o.type == weft::dtype::f16);
      std::size_t const count = weft::tune::count_for(rq, n);
      if (count == 0) continue; // nccl-tests skips sizes below one element per rank
      rq.bytes = count * rq.elem_bytes * (weft::sim::size_is_total(o.coll) ? std::size_t(n) : 1u);
      weft::tune::overrides ov;
      ov.algo = algo == "auto" ? "" : algo;
      ov.proto = o.proto;
      ov.nchannels = o.nchannels;
      weft::tune::tune_options to;
      to.zero_copy = o.zero_copy;
      weft::tune::choice const c = weft::tune::choose(t, rq, ov, to);
      if (!c.ok) {
        std::printf("# %zu B: %s\n", rq.bytes, c.error.c_str());
        any_error = true;
        continue;
      }
      weft::sim::predicted_row r;
      r.size = rq.bytes;
      r.count = count;
      r.type = weft::to_string(o.type);
      r.redop = weft::to_string(o.op);
      bool const rooted = o.coll == weft::sim::collective::broadcast || o.coll == weft::sim::collective::reduce;
      r.root = rooted ? o.root : -1;
      r.algo = c.best.algo;
      r.proto = weft::to_string(c.best.proto);
      r.nchannels = c.best.nchannels;
      weft::sim::set_bandwidths(r, o.coll, n, c.best.time_us);
      std::printf("%s\n", weft::sim::format_predicted_row(r).c_str());
      if (o.verbose)
        std::printf("#   %zu steps simulated (%d channels per program), %zu events; busiest %s at %.0f%%; base latency %.1f us\n",
                    c.best.sim.simulated_steps, c.best.sim.fold, c.best.sim.events, c.best.sim.busiest.c_str(),
                    100 * c.best.sim.busiest_utilization, c.best.sim.base_latency_us);
      bw_sum += r.busbw;
      ++bw_n;
      if (csv)
        std::fprintf(csv, "%s,%s,%d,%s,%s,%d,%zu,%zu,%s,%.6g,%.6g,%.6g\n", t.name.c_str(), weft::sim::cli_name(o.coll), n,
                     algo == "auto" ? "auto" : r.algo.c_str(), r.proto.c_str(), r.nchannels, r.size, r.count,
                     r.type.c_str(), r.time_us, r.algbw, r.busbw);
    }
    double const secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("# Avg bus bandwidth (predicted) : %g\n", bw_n ? bw_sum / bw_n : 0.0);
    std::printf("# simulated in %.2f s\n#\n", secs);
  }
  if (csv) std::fclose(csv);
  if (!o.plot.empty()) {
    std::string const cmd = std::string("'") + WEFT_PLOT_PYTHON + "' '" + WEFT_PLOT_SCRIPT + "' --out '" + o.plot + "' '" + csv_path + "'";
    std::fflush(stdout);
    int const rc = std::system(cmd.c_str());
    if (rc != 0) {
      std::fprintf(stderr, "weft-sim: plotting failed (%s); the rows are in %s\n", cmd.c_str(), csv_path.c_str());
      return 1;
    }
  }
  return any_error ? 1 : 0;
}
