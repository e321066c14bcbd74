#pragma once
// Command line of weft-bench: nccl-tests' flags where they apply, plus weft's own.
// Parsing never exits: it returns an error message, and main() exits with 2.
#include <weft/algorithm/algorithm.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/types.hpp>
#include <weft/proto/protocol.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// 1 in a weft-bench built with its MPI backend (bench_mpi_backend.cpp; CMake defines it where MPI is found).
#ifndef WEFT_BENCH_HAVE_MPI
#  define WEFT_BENCH_HAVE_MPI 0
#endif
// 1 in a weft-bench built with its CUDA backend (bench_cuda_backend.cu; CMake defines it with WEFT_ENABLE_CUDA).
#ifndef WEFT_BENCH_HAVE_CUDA
#  define WEFT_BENCH_HAVE_CUDA 0
#endif

namespace weft_bench {

namespace detail {
inline int env_int(char const* const* names, int fallback) {
  for (; *names; ++names)
    if (char const* v = std::getenv(*names); v && *v) {
      char* end = nullptr;
      long const x = std::strtol(v, &end, 10);
      if (end != v && *end == '\0' && x >= 0 && x <= 1 << 20) return int(x);
    }
  return fallback;
}
} // namespace detail

struct options;
namespace detail {
//! The command-line rules of one rank per process under mpirun (`np` processes;
//! `who` names the mode, `what` how a process maps to a rank): "" or the refusal.
inline std::string one_rank_per_process(options const& o, int np, char const* who, char const* what);
} // namespace detail

//! The job's process count when this process was started by mpirun (Open MPI's
//! OMPI_COMM_WORLD_SIZE) or a PMI launcher (MPICH's and Slurm's PMI_SIZE); 0 otherwise.
inline int launcher_size() {
  static constexpr char const* names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", nullptr};
  return detail::env_int(names, 0);
}
//! This process's rank in that job, or -1.
inline int launcher_rank() {
  static constexpr char const* names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", nullptr};
  return detail::env_int(names, -1);
}

//! The collectives weft-bench measures (the nccl-tests binaries all_reduce_perf, ...).
enum class coll { all_reduce, all_gather, reduce_scatter, broadcast, reduce, all_to_all };
inline constexpr coll all_colls[] = {coll::all_reduce, coll::all_gather, coll::reduce_scatter, coll::broadcast,
                                     coll::reduce,     coll::all_to_all};

//! Command-line name: "allreduce", "allgather", "reducescatter", "broadcast", "reduce", "alltoall".
inline char const* to_string(coll c) {
  switch (c) {
    case coll::all_reduce: return "allreduce";
    case coll::all_gather: return "allgather";
    case coll::reduce_scatter: return "reducescatter";
    case coll::broadcast: return "broadcast";
    case coll::reduce: return "reduce";
    case coll::all_to_all: return "alltoall";
  }
  return "unknown";
}

//! Whether weft has algorithm `a` for collective `c`: the ring (and its chains) for
//! every collective, a hierarchical algorithm (where the library has one) for
//! all-reduce, all-gather and reduce-scatter, every other algorithm for all-reduce only.
//! (Names, not enumerators, so that this compiles whichever algorithms the library lists.)
//! weft-bench's choices beyond weft::algorithm, kept in the same lists as values
//! past the library's enumerators: `auto` leaves algorithm, protocol and channels
//! to the library (weft::comm's built-in policy or its selector), and
//! `direct_one_shot`, `direct_two_shot`, `direct_ll` are the direct all-reduce
//! flavours over weft::comm's symmetric window. The cuda backend with -g runs them.
inline constexpr weft::algorithm algo_auto = weft::algorithm(200);
inline constexpr weft::algorithm algo_direct_first = weft::algorithm(201); //!< + int(direct_flavour)
inline bool is_bench_algo(weft::algorithm a) { return unsigned(a) >= 200u; }
//! The direct flavour a choice names (false for every other choice).
inline bool direct_flavour_of(weft::algorithm a, weft::direct_flavour& f) {
  unsigned const k = unsigned(a) - unsigned(algo_direct_first);
  if (unsigned(a) < unsigned(algo_direct_first) || k >= unsigned(weft::direct_flavour_count)) return false;
  f = weft::direct_flavour(k);
  return true;
}
//! A choice's name: weft's for its algorithms, "auto", "direct_one_shot", ...
inline std::string algo_name(weft::algorithm a) {
  weft::direct_flavour f{};
  if (a == algo_auto) return "auto";
  if (direct_flavour_of(a, f)) return std::string("direct_") + weft::to_string(f);
  return weft::to_string(a);
}
//! "auto" or a direct flavour's name ("direct_" and one_shot, two_shot or ll).
inline bool parse_bench_algo(std::string const& s, weft::algorithm& a) {
  weft::direct_flavour f{};
  if (s == "auto") return a = algo_auto, true;
  if (s.rfind("direct_", 0) == 0 && weft::parse_direct_flavour(s.c_str(), f))
    return a = weft::algorithm(unsigned(algo_direct_first) + unsigned(f)), true;
  return false;
}

inline bool has_algorithm(coll c, weft::algorithm a) {
  if (a == weft::algorithm::ring || a == algo_auto || c == coll::all_reduce) return true;
  return (std::strcmp(weft::to_string(a), "hierarchical") == 0 || std::strcmp(weft::to_string(a), "nvls") == 0) &&
         (c == coll::all_gather || c == coll::reduce_scatter);
}

//! Every choice of --algo all: the library's algorithms, then auto and the direct flavours.
inline std::vector<weft::algorithm> all_algorithms() {
  std::vector<weft::algorithm> v;
  for (int a = 0; a < weft::algorithm_count; ++a) v.push_back(weft::algorithm(a));
  v.push_back(algo_auto);
  for (int f = 0; f < weft::direct_flavour_count; ++f) v.push_back(weft::algorithm(unsigned(algo_direct_first) + unsigned(f)));
  return v;
}

//! "ring, recursive_doubling, ..., auto, direct_one_shot, ...": every choice of --algo.
inline std::string algorithm_names() {
  std::string s;
  for (weft::algorithm a : all_algorithms()) s += (s.empty() ? "" : ", ") + algo_name(a);
  return s;
}

inline bool reduces(coll c) { return c == coll::all_reduce || c == coll::reduce_scatter || c == coll::reduce; }
inline bool rooted(coll c) { return c == coll::broadcast || c == coll::reduce; }
//! For all-gather, reduce-scatter and all-to-all the size column counts every rank's part
//! (all-to-all: the count is what a rank sends to each peer).
inline bool size_is_total(coll c) {
  return c == coll::all_gather || c == coll::reduce_scatter || c == coll::all_to_all;
}

//! nccl-tests' bus bandwidth factor: busbw = algbw * factor.
inline double busbw_factor(coll c, int n) {
  double const dn = double(n);
  switch (c) {
    case coll::all_reduce: return 2.0 * (dn - 1.0) / dn;
    case coll::all_gather:
    case coll::reduce_scatter:
    case coll::all_to_all: return (dn - 1.0) / dn;
    case coll::broadcast:
    case coll::reduce: return 1.0;
  }
  return 1.0;
}

inline char const* busbw_formula(coll c) {
  switch (c) {
    case coll::all_reduce: return "2(n-1)/n";
    case coll::all_gather:
    case coll::reduce_scatter:
    case coll::all_to_all: return "(n-1)/n";
    default: return "1";
  }
}

//! Everything the command line sets.
struct options {
  // nccl-tests flags
  std::size_t min_bytes = 8;          // -b
  std::size_t max_bytes = 32u << 20;  // -e
  std::size_t step_bytes = 1u << 20;  // -i (used when the factor is 1)
  std::size_t step_factor = 2;        // -f
  int iters = 20;                     // -n
  int warmup = 5;                     // -w
  int check = 1;                      // -c (number of checked runs; 0 = no check)
  std::vector<weft::dtype> types{weft::dtype::f32}; // -d
  bool types_all = false;
  std::vector<weft::redop> ops{weft::redop::sum};   // -o
  bool ops_all = false;
  int root = 0;                       // -r (-1 or "all": every root)
  int blocking = 0;                   // -z
  int average = 3;                    // -a: 0 rank 0, 1 mean, 2 min, 3 max over ranks
  std::string json_path;              // -J
  int graph_iters = 0;                // -G (ignored on the CPU)
  int registration = 0;               // -R: 0 device memory, 1 registered, 2 symmetric memory (--backend cuda -g)
  int nthreads = 0;                   // -t (0: not given)
  int ngpus = 0;                      // -g (0: not given)
  // weft's own
  std::vector<coll> colls{coll::all_reduce};
  bool colls_all = false;
  std::vector<weft::algorithm> algos{weft::algorithm::ring};
  bool algos_all = false;
  std::vector<weft::protocol> protos{weft::protocol::simple};
  int nchannels = 1;
  std::string backend = "cpu";         // "cpu", "mpi" or "cuda"
  bool backend_given = false;
  bool processes = false;              // --backend cuda under mpirun: one weft::comm rank per process, one GPU each
  int nranks = 4;
  bool nranks_given = false;
  long timeout_ms = 10000;
  std::vector<std::string> peers;     // --peers: "mpi", "gloo"
  int rounds = 0;                     // --rounds (0: 1, or 5 with --peers)
  int nslots = 0;                     // --nslots: staging slots per connection (0: the communicator's default)
  std::size_t slot_bytes = 0;         // --slot-bytes: bytes per slot of the protocols in --proto (0: default)
  bool inject_error = false;          // hidden: perturb one output element before the check
  bool inject_failure = false;        // hidden: the last rank fails its first call
  bool help = false;
};

//! Bytes with an optional K/M/G suffix (powers of 1024, either case), as nccl-tests reads -b/-e.
//! Accepts decimals ("1.5M"). Returns false on anything else.
inline bool parse_size(char const* s, std::size_t& out) {
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
      default: return false;
    }
    ++end;
    if (*end == 'B' || *end == 'b') ++end; // "16MB", "4KiB" are not nccl-tests, but harmless
    if (*end != '\0') return false;
  }
  double const bytes = v * unit;
  if (bytes > 1.0e18) return false;
  out = std::size_t(bytes);
  return true;
}

inline bool parse_int(char const* s, long lo, long hi, long& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  long const v = std::strtol(s, &end, 0);
  if (*end != '\0' || errno != 0 || v < lo || v > hi) return false;
  out = v;
  return true;
}

namespace detail {

// Splits "a,b,c" into parts (empty parts are kept, so "a,,b" fails to parse).
inline std::vector<std::string> split_list(char const* s) {
  std::vector<std::string> parts;
  std::string cur;
  for (char const* p = s; *p; ++p) {
    if (*p == ',') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += *p;
    }
  }
  parts.push_back(cur);
  return parts;
}

inline bool parse_coll(std::string const& s, coll& out) {
  struct entry {
    char const* name;
    coll c;
  };
  static constexpr entry table[] = {
      {"allreduce", coll::all_reduce},         {"all_reduce", coll::all_reduce},
      {"allgather", coll::all_gather},         {"all_gather", coll::all_gather},
      {"reducescatter", coll::reduce_scatter}, {"reduce_scatter", coll::reduce_scatter},
      {"broadcast", coll::broadcast},          {"reduce", coll::reduce},
      {"alltoall", coll::all_to_all},          {"all_to_all", coll::all_to_all},
  };
  for (entry const& e : table)
    if (s == e.name) return out = e.c, true;
  return false;
}

} // namespace detail

inline void print_usage(std::FILE* f, char const* prog) {
  std::fprintf(f,
      "USAGE: %s [flags]\n"
      "nccl-tests flags:\n"
      "  -b,--minbytes <size>        smallest size in bytes, K/M/G suffixes (default 8)\n"
      "  -e,--maxbytes <size>        largest size (default 32M)\n"
      "  -f,--stepfactor <n>         multiply the size by n each step (default 2)\n"
      "  -i,--stepbytes <size>       add this many bytes each step (used when -f is 1; default 1M)\n"
      "  -n,--iters <n>              timed iterations per size (default 20)\n"
      "  -w,--warmup_iters <n>       untimed iterations before them (default 5)\n"
      "  -c,--check <n>              checked runs per size after timing, 0 = no check (default 1)\n"
      "  -d,--datatype <type|all>    double float half bfloat16 fp8_e4m3 fp8_e5m2 int8 uint8 int32 uint32\n"
      "                              int64 uint64, a comma list, or all (default float)\n"
      "  -o,--op <op|all>            sum prod max min avg mulsum, a comma list, or all (default sum)\n"
      "  -r,--root <rank|all>        root of broadcast and reduce; all (or -1) loops over every rank (default 0)\n"
      "  -z,--blocking <0/1>         1: barrier of all ranks after every collective (default 0)\n"
      "  -a,--average <0/1/2/3>      time reported: 0 rank 0, 1 mean, 2 min, 3 max over ranks (default 3)\n"
      "  -J,--json <file>            also write the results as JSON\n"
      "  -G,--cudagraph <n>          CUDA graph launches of the timed iterations (--backend cuda -g); ignored on\n"
      "                              the CPU backend, refused by the cuda backend's virtual ranks (no -g)\n"
      "  -t,--nthreads <n>           threads per process; with -g gives the rank count (t*g) if --ranks is not given\n"
      "  -g,--ngpus <n>              GPUs per thread; on the CPU backend each of them is one more rank thread;\n"
      "                              with --backend cuda: N GPUs driven by this process (weft::comm ranks,\n"
      "                              --ranks of them, a multiple of N, default t*N; rank r on GPU r/(ranks/N))\n"
      "  -T,--timeout <s>            same as --timeout-ms, in seconds\n"
      "  -R,--local_register <0/1/2> buffers of --backend cuda -g: 0 device memory, 1 registered with the\n"
      "                              communicator, 2 symmetric memory (multicast where every rank has its own\n"
      "                              NVSwitch GPU: --algo nvls then runs zero-copy) (default 0)\n"
      "weft flags:\n"
      "  --coll <c|all>              allreduce allgather reducescatter broadcast reduce alltoall, a comma list,\n"
      "                              or all (alltoall when the library has it)\n"
      "                              (default allreduce)\n"
      "  --algo <a|all>              %s;\n"
      "                              a comma list, or all (default ring; all but ring and auto are for\n"
      "                              allreduce, hierarchical and nvls also for allgather and reducescatter;\n"
      "                              auto: the library chooses algorithm, protocol and channels; auto and\n"
      "                              direct_*: weft::comm's, --backend cuda -g)\n"
      "  --proto <p|all>             simple ll ll128, a comma list, or all (default simple)\n"
      "  --channels <n>              channels (independent rings) per collective (default 1)\n"
      "  --backend <cpu|mpi|cuda>    cpu: ranks as threads in this process; mpi: one rank per process, under\n"
      "                              mpirun (the default when started by mpirun); cuda: virtual ranks as\n"
      "                              partitions of one GPU, or with -g N weft::comm ranks on N GPUs of this\n"
      "                              process (builds with WEFT_ENABLE_CUDA)\n"
      "  --ranks <n>                 number of ranks (default 4; with mpi: the process count)\n"
      "  --timeout-ms <ms>           bound of every wait of a collective (default 10000)\n"
      "  --nslots <n>                staging slots per connection (default: the communicator's, 8)\n"
      "  --slot-bytes <size>         bytes per slot for the protocols in --proto (default: the communicator's:\n"
      "                              simple 128K, or 32K under --backend mpi; ll 4K; ll128 16K)\n"
      "  --peers <mpi,gloo|all>      also measure OpenMPI (mpirun, one process per rank) and Gloo (TCP on\n"
      "                              127.0.0.1) for the same sizes and ranks; print them side by side with weft\n"
      "  --rounds <n>                measure every contender n times, interleaved; the side-by-side tables give\n"
      "                              the median and spread (default 1, or 5 with --peers)\n"
      "  -h,--help                   this text\n"
      "Exit status: 0 success, 1 wrong results or a failed collective, 2 bad command line.\n",
      prog, algorithm_names().c_str());
}

//! Parses argv into `o`. Returns an empty string on success, else the reason.
inline std::string parse_args(int argc, char** argv, options& o) {
  bool factor_given = false, step_given = false;
  std::string err;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name, value;
    bool has_value = false;
    if (arg.size() > 2 && arg[0] == '-' && arg[1] == '-') {
      std::size_t const eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        has_value = true;
      } else {
        name = arg;
      }
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      name = arg.substr(0, 2);
      if (arg.size() > 2) { // "-b8", like getopt
        value = arg.substr(2);
        has_value = true;
      }
    } else {
      return "unexpected argument '" + arg + "'";
    }

    // Flags without a value.
    if (name == "-h" || name == "--help") {
      o.help = true;
      continue;
    }
    if (name == "--inject-error") {
      o.inject_error = true;
      continue;
    }
    if (name == "--inject-failure") {
      o.inject_failure = true;
      continue;
    }

    // Canonical name of a flag that takes a value.
    struct alias {
      char const* s;
      char const* l;
    };
    static constexpr alias aliases[] = {
        {"-b", "--minbytes"},    {"-e", "--maxbytes"},      {"-i", "--stepbytes"}, {"-f", "--stepfactor"},
        {"-n", "--iters"},       {"-w", "--warmup_iters"},  {"-c", "--check"},     {"-d", "--datatype"},
        {"-o", "--op"},          {"-r", "--root"},          {"-z", "--blocking"},  {"-a", "--average"},
        {"-J", "--json"},        {"-G", "--cudagraph"},     {"-t", "--nthreads"},  {"-g", "--ngpus"},
        {"-T", "--timeout"},     {"", "--coll"},            {"", "--algo"},        {"", "--proto"},
        {"-R", "--local_register"},
        {"", "--channels"},      {"", "--backend"},         {"", "--ranks"},       {"", "--timeout-ms"},
        {"", "--peers"},         {"", "--rounds"},          {"", "--nslots"},      {"", "--slot-bytes"},
    };
    // nccl-tests flags weft-bench does not implement: say so rather than "unknown".
    static constexpr alias unsupported[] = {
        {"-m", "--agg_iters"}, {"-p", "--parallel_init"}, {"-y", "--stream_null"},
        {"-C", "--report_cputime"}, {"-F", "--output_file"},
    };
    std::string key;
    for (alias const& a : aliases)
      if (name == a.s || name == a.l) key = a.l;
    if (key.empty()) {
      for (alias const& a : unsupported)
        if (name == a.s || name == a.l)
          return "nccl-tests flag " + std::string(a.s) + " (" + a.l + ") is not supported by weft-bench";
      return "unknown flag '" + name + "'";
    }
    if (!has_value) {
      if (i + 1 >= argc) return "flag " + name + " needs a value";
      value = argv[++i];
    }
    char const* v = value.c_str();
    auto bad = [&](char const* what) { return "bad value '" + value + "' for " + name + " (" + what + ")"; };
    long n = 0;

    if (key == "--minbytes") {
      if (!parse_size(v, o.min_bytes)) return bad("bytes, with an optional K, M or G suffix");
    } else if (key == "--maxbytes") {
      if (!parse_size(v, o.max_bytes)) return bad("bytes, with an optional K, M or G suffix");
    } else if (key == "--stepbytes") {
      if (!parse_size(v, o.step_bytes) || o.step_bytes == 0) return bad("bytes > 0, with an optional K, M or G suffix");
      step_given = true;
    } else if (key == "--stepfactor") {
      if (!parse_int(v, 1, 1 << 20, n)) return bad("integer >= 1");
      o.step_factor = std::size_t(n);
      factor_given = true;
    } else if (key == "--iters") {
      if (!parse_int(v, 1, 1 << 30, n)) return bad("integer >= 1");
      o.iters = int(n);
    } else if (key == "--warmup_iters") {
      if (!parse_int(v, 0, 1 << 30, n)) return bad("integer >= 0");
      o.warmup = int(n);
    } else if (key == "--check") {
      if (!parse_int(v, 0, 1 << 20, n)) return bad("integer >= 0");
      o.check = int(n);
    } else if (key == "--datatype") {
      o.types.clear();
      o.types_all = value == "all";
      if (o.types_all) {
        for (int d = 0; d < weft::dtype_count; ++d) o.types.push_back(weft::dtype(d));
      } else {
        for (std::string const& s : detail::split_list(v)) {
          weft::dtype d{};
          if (!weft::parse_dtype(s.c_str(), d))
            return bad("double float half bfloat16 fp8_e4m3 fp8_e5m2 int8 uint8 int32 uint32 int64 uint64 or all");
          o.types.push_back(d);
        }
      }
    } else if (key == "--op") {
      o.ops.clear();
      o.ops_all = value == "all";
      if (o.ops_all) {
        // nccl-tests' order.
        o.ops = {weft::redop::sum, weft::redop::prod, weft::redop::max, weft::redop::min, weft::redop::avg,
                 weft::redop::premul_sum};
      } else {
        for (std::string const& s : detail::split_list(v)) {
          weft::redop r{};
          if (!weft::parse_redop(s.c_str(), r)) return bad("sum prod max min avg mulsum or all");
          o.ops.push_back(r);
        }
      }
    } else if (key == "--root") {
      if (value == "all") {
        o.root = -1;
      } else if (!parse_int(v, -1, 1 << 20, n)) {
        return bad("rank >= 0, or all / -1 for every rank");
      } else {
        o.root = int(n);
      }
    } else if (key == "--blocking") {
      if (!parse_int(v, 0, 1, n)) return bad("0 or 1");
      o.blocking = int(n);
    } else if (key == "--average") {
      if (!parse_int(v, 0, 3, n)) return bad("0 rank 0, 1 mean, 2 min, 3 max");
      o.average = int(n);
    } else if (key == "--json") {
      if (value.empty()) return bad("a file name");
      o.json_path = value;
    } else if (key == "--local_register") {
      if (!parse_int(v, 0, 2, n)) return bad("0 device memory, 1 registered, 2 symmetric memory");
      o.registration = int(n);
    } else if (key == "--cudagraph") {
      if (!parse_int(v, 0, 1 << 20, n)) return bad("integer >= 0");
      o.graph_iters = int(n);
    } else if (key == "--nthreads") {
      if (!parse_int(v, 1, 4096, n)) return bad("integer >= 1");
      o.nthreads = int(n);
    } else if (key == "--ngpus") {
      if (!parse_int(v, 1, 4096, n)) return bad("integer >= 1");
      o.ngpus = int(n);
    } else if (key == "--timeout") {
      if (!parse_int(v, 1, 1 << 20, n)) return bad("seconds >= 1");
      o.timeout_ms = n * 1000;
    } else if (key == "--timeout-ms") {
      if (!parse_int(v, 1, 1L << 40, n)) return bad("milliseconds >= 1");
      o.timeout_ms = n;
    } else if (key == "--coll") {
      o.colls.clear();
      o.colls_all = value == "all";
      if (o.colls_all) {
        o.colls.assign(std::begin(all_colls), std::end(all_colls));
      } else {
        for (std::string const& s : detail::split_list(v)) {
          coll c{};
          if (!detail::parse_coll(s, c))
            return bad("allreduce allgather reducescatter broadcast reduce alltoall or all");
          o.colls.push_back(c);
        }
      }
    } else if (key == "--algo") {
      o.algos.clear();
      o.algos_all = value == "all";
      if (o.algos_all) {
        o.algos = all_algorithms();
      } else {
        for (std::string const& s : detail::split_list(v)) {
          weft::algorithm a{};
          if (weft::parse_algorithm(s.c_str(), a) || parse_bench_algo(s, a)) {
            o.algos.push_back(a);
          } else if (s == "tree" || s == "nvls" || s == "nvlstree" || s == "collnet" || s == "collnetdirect" ||
                     s == "collnetchain" || s == "pat") {
            return "algorithm '" + s + "' is not available yet (weft has " + algorithm_names() + ")";
          } else {
            return bad((algorithm_names() + ", or all").c_str());
          }
        }
      }
    } else if (key == "--proto") {
      o.protos.clear();
      if (value == "all") {
        o.protos = {weft::protocol::simple, weft::protocol::ll, weft::protocol::ll128};
      } else {
        for (std::string const& s : detail::split_list(v)) {
          weft::protocol p{};
          if (!weft::parse_protocol(s.c_str(), p)) return bad("simple ll ll128 or all");
          o.protos.push_back(p);
        }
      }
    } else if (key == "--channels") {
      if (!parse_int(v, 1, 64, n)) return bad("integer 1..64");
      o.nchannels = int(n);
    } else if (key == "--backend") {
      if (value == "cpu" || value == "mpi" || (WEFT_BENCH_HAVE_CUDA && value == "cuda")) {
        o.backend = value;
        o.backend_given = true;
      } else if (value == "cuda" || value == "gpu") {
        return "backend '" + value + "': this weft-bench was not built with the CUDA backend (weft's GPU runtime "
               "is not available yet); use --backend cpu";
      } else {
        return bad("cpu or mpi");
      }
    } else if (key == "--peers") {
      o.peers.clear();
      for (std::string const& s : detail::split_list(v)) {
        if (s == "all") {
          o.peers = {"mpi", "gloo"};
        } else if (s == "mpi" || s == "gloo") {
          o.peers.push_back(s);
        } else {
          return bad("mpi, gloo, a comma list, or all");
        }
      }
    } else if (key == "--rounds") {
      if (!parse_int(v, 1, 1000, n)) return bad("integer 1..1000");
      o.rounds = int(n);
    } else if (key == "--nslots") {
      if (!parse_int(v, 2, 1 << 16, n)) return bad("integer >= 2");
      o.nslots = int(n);
    } else if (key == "--slot-bytes") {
      if (!parse_size(v, o.slot_bytes) || o.slot_bytes == 0) return bad("bytes > 0, with an optional K or M suffix");
    } else if (key == "--ranks") {
      if (!parse_int(v, 1, 4096, n)) return bad("integer 1..4096");
      o.nranks = int(n);
      o.nranks_given = true;
    }
  }

  // Cross-checks.
  if (o.min_bytes > o.max_bytes)
    return "minbytes (" + std::to_string(o.min_bytes) + ") is larger than maxbytes (" + std::to_string(o.max_bytes) +
           ")";
  if (step_given && !factor_given) o.step_factor = 1; // -i alone: linear steps, as nccl-tests' default factor 1 means
  // Started by mpirun: one rank per process, unless --backend says otherwise.
  if (!o.backend_given && WEFT_BENCH_HAVE_MPI && launcher_size() > 0) o.backend = "mpi";
  if (o.backend == "mpi") {
    if (!WEFT_BENCH_HAVE_MPI)
      return "backend 'mpi' (one rank per process under mpirun): this weft-bench was built without MPI (CMake "
             "found no MPI C++ library; Debian: libopenmpi-dev openmpi-bin); use --backend cpu";
    int const np = launcher_size();
    if (np <= 0)
      return "backend 'mpi' runs one rank per process: start weft-bench under mpirun "
             "(mpirun -np 4 weft-bench --backend mpi ...), or use --backend cpu for ranks as threads";
    if (std::string const e = detail::one_rank_per_process(o, np, "--backend mpi", "every process is one rank (one thread)");
        !e.empty())
      return e;
    o.nranks = np;
    o.nthreads = o.ngpus = 0;
  }
  if (o.backend == "cuda" && launcher_size() > 0) {
    // Under mpirun: every process is one weft::comm rank on one GPU (nccl-tests' mpirun mode with -g 1).
    if (!WEFT_BENCH_HAVE_MPI)
      return "--backend cuda under mpirun: this weft-bench was built without MPI (CMake found no MPI C++ library; "
             "Debian: libopenmpi-dev openmpi-bin), so its processes cannot meet; use -g N in one process instead";
    int const np = launcher_size();
    if (std::string const e = detail::one_rank_per_process(o, np, "mpirun", "each process is one rank on one GPU (-g 1)");
        !e.empty())
      return e;
    o.nranks = np;
    o.ngpus = 1;
    o.nthreads = 0;
    o.processes = true;
  } else if (o.backend == "cuda" && o.ngpus != 0) {
    // -g N GPUs of this process: --ranks of them (several ranks may share a GPU), else t * N.
    if (!o.nranks_given) o.nranks = (o.nthreads ? o.nthreads : 1) * o.ngpus;
    if (o.nranks % o.ngpus != 0)
      return "--ranks " + std::to_string(o.nranks) + " is not a multiple of -g " + std::to_string(o.ngpus) +
             " (under --backend cuda -g every GPU gets the same number of ranks)";
  } else if (o.nthreads != 0 || o.ngpus != 0) {
    int const tg = (o.nthreads ? o.nthreads : 1) * (o.ngpus ? o.ngpus : 1);
    if (o.nranks_given && tg != o.nranks)
      return "-t/-g give " + std::to_string(tg) + " ranks but --ranks says " + std::to_string(o.nranks);
    o.nranks = tg;
  }
  if (o.registration != 0 && !(o.backend == "cuda" && o.ngpus != 0))
    return "-R " + std::to_string(o.registration) +
           ": buffer registration applies to weft::comm ranks (--backend cuda -g N); " +
           (o.backend == "cuda" ? std::string("without -g the cuda backend runs virtual ranks, which have")
                                : "the " + o.backend + " backend has") +
           " no communicator to register with";
  if (!o.algos_all)
    for (coll c : o.colls)
      for (weft::algorithm a : o.algos)
        if (!has_algorithm(c, a))
          return "algorithm " + algo_name(a) + " is not an algorithm of " + to_string(c) +
                 " in weft-bench";
  if (o.root >= o.nranks) return "root " + std::to_string(o.root) + " is not a rank (0.." + std::to_string(o.nranks - 1) + ")";
  return err;
}

namespace detail {
inline std::string one_rank_per_process(options const& o, int np, char const* who, char const* what) {
  if (o.nranks_given && o.nranks != np)
    return "--ranks " + std::to_string(o.nranks) + " but mpirun started " + std::to_string(np) + " processes (under " +
           who + " every process is one rank)";
  if (o.nthreads > 1 || o.ngpus > 1) return "-t/-g: under " + std::string(who) + " " + what + "; use mpirun -np for more ranks";
  if (!o.peers.empty())
    return "--peers starts the peers from one weft-bench process: use it with --backend cpu, not under mpirun";
  return {};
}
} // namespace detail

//! The sizes -b/-e/-f/-i select, in nccl-tests' order.
inline std::vector<std::size_t> sizes(options const& o) {
  std::vector<std::size_t> v;
  for (std::size_t s = o.min_bytes; s <= o.max_bytes;) {
    v.push_back(s);
    std::size_t const next = o.step_factor > 1 ? s * o.step_factor : s + o.step_bytes;
    if (next <= s) break; // 0 * factor, or overflow
    s = next;
  }
  return v;
}

} // namespace weft_bench
