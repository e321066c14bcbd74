// weft-bench: nccl-tests compatible benchmark of weft's collectives.
//
// Same flags as nccl-tests where they apply (-b -e -f -i -n -w -c -d -o -r -z -a
// -J -G -g -t), same table (size count type redop root, then time algbw busbw
// #wrong out of place and in place), same bus-bandwidth factors, same footer.
// The driver here is backend-neutral; bench_cpu_backend.hpp runs the ranks as
// threads of this process, bench_mpi_backend.cpp (where MPI is found) one rank
// per process under mpirun, every process running this driver and rank 0
// printing; with WEFT_ENABLE_CUDA, bench_cuda_backend.cu runs virtual ranks on
// one GPU and bench_comm_backend.cu (-g) weft::comm ranks on the GPUs of this
// process. See docs/benchmarks.md.
#include "bench_args.hpp"
#include "bench_backend.hpp"
#include "bench_compare.hpp"
#include "bench_cpu_backend.hpp"
#include "bench_cuda_backend.hpp"
#include "bench_mpi_backend.hpp"
#include "bench_report.hpp"

#include <weft/team/shm_comm.hpp>
#include <weft/version.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <fcntl.h>
#include <unistd.h>

namespace {

using namespace weft_bench;

// One thread copying `bytes`: median of 5 batches of about 20 ms (at least one copy each).
copy_reference measure_memcpy(std::size_t bytes) {
  copy_reference m;
  m.bytes = bytes;
  m.what = "one thread";
  if (bytes == 0) return m;
  // Page-aligned, like the ranks' buffers (glibc's memcpy can be several times
  // slower between buffers whose distance is not a multiple of the page size).
  std::size_t const cap = (bytes + 4095) / 4096 * 4096;
  std::unique_ptr<unsigned char, void (*)(void*)> pa(static_cast<unsigned char*>(std::aligned_alloc(4096, cap)),
                                                     std::free);
  std::unique_ptr<unsigned char, void (*)(void*)> pb(static_cast<unsigned char*>(std::aligned_alloc(4096, cap)),
                                                     std::free);
  if (!pa || !pb) return m;
  unsigned char* const a = pa.get();
  unsigned char* const b = pb.get();
  for (std::size_t i = 0; i < bytes; ++i) a[i] = static_cast<unsigned char>(i * 131u + 7u);
  std::memcpy(b, a, bytes); // touch both
  using clock = std::chrono::steady_clock;
  auto const p0 = clock::now();
  std::memcpy(b, a, bytes);
  double const probe = std::max(std::chrono::duration<double>(clock::now() - p0).count(), 1e-7);
  int const reps = std::clamp(int(0.02 / probe), 1, 100000);
  std::vector<double> t;
  for (int k = 0; k < 5; ++k) {
    auto const t0 = clock::now();
    for (int i = 0; i < reps; ++i) {
      std::memcpy(b, a, bytes);
      asm volatile("" : : "r"(b) : "memory"); // keep the copy

    }
    t.push_back(std::chrono::duration<double>(clock::now() - t0).count() / reps);
  }
  std::sort(t.begin(), t.end());
  m.time_us = t[2] * 1e6;
  m.gbps = double(bytes) / t[2] / 1e9;
  return m;
}

char const* average_name(int a) {
  switch (a) {
    case 0: return "rank 0's";
    case 1: return "the mean over ranks of each rank's";
    case 2: return "the minimum over ranks of each rank's";
    default: return "the maximum over ranks of each rank's";
  }
}

struct ratio_line {
  row r;
  double ratio;
};

// Every process of an mpirun job but rank 0 runs the driver silently.
void silence_stdout() {
  std::fflush(stdout);
  int const fd = ::open("/dev/null", O_WRONLY);
  if (fd < 0) return;
  ::dup2(fd, STDOUT_FILENO);
  ::close(fd);
}

int run(int argc, char** argv) {
  // Under mpirun every process parses the same flags: rank 0 speaks for them until
  // the backend knows the ranks.
  bool const speaks = launcher_rank() <= 0;
  // A refusal before the ranks meet: every process finds it, rank 0 says it. The
  // others give rank 0 a moment (bounded) to say it, because mpirun aborts the
  // whole job, rank 0 included, as soon as one process exits with an error.
  auto refuse = [speaks](int code) {
    if (!speaks) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return code;
  };
  options o;
  std::string const err = parse_args(argc, argv, o);
  if (!err.empty()) {
    if (speaks) std::fprintf(stderr, "weft-bench: %s\nweft-bench: see weft-bench --help\n", err.c_str());
    return refuse(2);
  }
  if (o.help) {
    if (speaks) print_usage(stdout, "weft-bench");
    return 0;
  }
  int const n = o.nranks;
  std::vector<std::size_t> const size_list = sizes(o);
  std::vector<int> roots;
  if (o.root < 0)
    for (int r = 0; r < n; ++r) roots.push_back(r);
  else
    roots.push_back(o.root);

  // Peers: every one asked for must be there, and measure one of the collectives asked for.
  std::vector<peer_program> peer_progs;
  for (std::string const& name : o.peers) {
    peer_program p;
    if (std::string const why = find_peer(name, p); !why.empty()) {
      if (speaks) std::fprintf(stderr, "weft-bench: %s\n", why.c_str());
      return refuse(2);
    }
    bool any = false;
    for (coll c : o.colls) any |= std::find(p.colls.begin(), p.colls.end(), c) != p.colls.end();
    if (!any) {
      std::string has;
      for (coll c : p.colls) has += std::string(has.empty() ? "" : ", ") + to_string(c);
      if (speaks)
        std::fprintf(stderr, "weft-bench: --peers %s measures %s; none of them is in --coll\n", name.c_str(),
                     has.c_str());
      return refuse(2);
    }
    peer_progs.push_back(p);
  }
  int const rounds = o.rounds > 0 ? o.rounds : (peer_progs.empty() ? 1 : 5);
  // The communicator's defaults: the CPU team's, or the shared-memory communicator's under --backend mpi.
  weft::cpu_comm_config const cfg =
      comm_config(o, o.backend == "mpi" ? weft::shm_comm_config{}.conn : weft::cpu_comm_config{});
  for (int pi = 0; pi < weft::protocol_count; ++pi)
    if (!weft::valid_slot_bytes(weft::protocol(pi), cfg.slot_bytes(weft::protocol(pi)))) {
      if (speaks)
        std::fprintf(stderr, "weft-bench: --slot-bytes %zu is not a whole number of %s lines\n", o.slot_bytes,
                     weft::to_string(weft::protocol(pi)));
      return refuse(2);
    }

  // "cpu", or "mpi" in a build with MPI, or "cuda" in a build with CUDA (parse_args refuses them elsewhere).
  std::unique_ptr<backend> be;
#if WEFT_BENCH_HAVE_MPI
  if (o.backend == "mpi") {
    std::string why;
    be = make_mpi_backend(o, why);
    if (!be) {
      if (speaks) std::fprintf(stderr, "weft-bench: --backend mpi: %s\n", why.c_str());
      return refuse(1);
    }
  }
#endif
#if WEFT_BENCH_HAVE_CUDA
  if (o.backend == "cuda") {
    std::string why;
    // Under mpirun: one weft::comm rank per process; -g: weft::comm ranks on the GPUs
    // of this process; else virtual ranks on device 0.
#if WEFT_BENCH_HAVE_MPI
    if (o.processes)
      be = make_mpi_cuda_backend(o, why);
    else
#endif
      be = o.ngpus > 0 ? make_comm_backend(o, why) : make_cuda_backend(o, why);
    if (!be) {
      if (speaks) std::fprintf(stderr, "weft-bench: --backend cuda: %s\n", why.c_str());
      return refuse(2);
    }
  }
#endif
  if (!be) {
    try {
      be = std::make_unique<cpu_backend>(n, cfg, o.timeout_ms, o.max_bytes);
    } catch (std::bad_alloc const&) {
      std::fprintf(stderr, "weft-bench: cannot allocate 2 x %zu bytes for each of %d ranks (reduce -e or --ranks)\n",
                   o.max_bytes, n);
      return 1;
    }
  }
  bool const printer = be->prints();
  if (!printer) silence_stdout();

  // A type/op pair that is not compiled in: an error when asked for by name,
  // skipped with a note when it comes from "all".
  std::vector<std::pair<weft::dtype, std::string>> skipped; // type -> ops not compiled in
  std::vector<std::string> skipped_colls;                     // collectives this build lacks
  for (coll c : std::vector<coll>(o.colls)) {
    if (!reduces(c)) {
      coll_spec s;
      s.kind = c;
      std::string why;
      if (be->supports(s, why)) continue;
      if (!o.colls_all) {
        if (printer) std::fprintf(stderr, "weft-bench: %s\n", why.c_str());
        return 2;
      }
      skipped_colls.push_back(to_string(c) + std::string(": ") + why);
      o.colls.erase(std::find(o.colls.begin(), o.colls.end(), c));
      continue;
    }
    for (weft::dtype d : o.types)
      for (weft::redop r : o.ops) {
        coll_spec s;
        s.kind = c;
        s.type = d;
        s.op.op = r;
        std::string why;
        if (be->supports(s, why)) continue;
        if (!o.types_all && !o.ops_all) {
          if (printer) std::fprintf(stderr, "weft-bench: %s\n", why.c_str());
          return 2;
        }
        auto it = std::find_if(skipped.begin(), skipped.end(), [&](auto const& e) { return e.first == d; });
        if (it == skipped.end()) it = skipped.insert(skipped.end(), {d, std::string()});
        std::string const op = weft::to_string(r);
        if ((" " + it->second + " ").find(" " + op + " ") == std::string::npos)
          it->second += (it->second.empty() ? "" : " ") + op;
      }
  }

  // One table per (collective, algorithm, protocol), in that order. A table the
  // backend refuses for every compiled type (an algorithm it does not run) is an
  // error when named, and skipped with a header line under --algo all.
  struct table_key {
    coll c;
    weft::algorithm a;
    weft::protocol p;
  };
  std::vector<table_key> tables;
  std::vector<std::string> skipped_tables;
  for (coll c : o.colls)
    for (weft::algorithm a : o.algos) {
      if (!has_algorithm(c, a)) continue; // "--algo all": only the collectives that have it
      for (weft::protocol p : o.protos) {
        // auto and the direct flavours choose their own protocol: one table, not one per --proto.
        if (is_bench_algo(a) && p != o.protos.front()) continue;
        coll_spec s;
        s.kind = c;
        s.algo = a;
        s.proto = p;
        s.nchannels = o.nchannels;
        std::string why, first_why;
        bool any = false, any_type = false;
        for (weft::dtype d : o.types)
          for (weft::redop r : o.ops) {
            s.type = d;
            s.op.op = r;
            coll_spec ring = s;
            ring.algo = weft::algorithm::ring;
            if (!be->supports(ring, why)) continue; // a type/op pair: listed above
            any_type = true;
            if (be->supports(s, why)) any = true;
            else if (first_why.empty()) first_why = why;
          }
        if (any || !any_type) {
          tables.push_back({c, a, p});
          continue;
        }
        if (!o.algos_all) {
          if (printer) std::fprintf(stderr, "weft-bench: %s\n", first_why.c_str());
          return 2;
        }
        std::string const line = to_string(c) + std::string(" algo ") + algo_name(a) + ": " + first_why;
        if (std::find(skipped_tables.begin(), skipped_tables.end(), line) == skipped_tables.end())
          skipped_tables.push_back(line);
      }
    }

  // The largest size of the sweep, measured by the printing process alone (the others wait).
  // On the ranks' own memory: a host thread's memcpy, or the GPU's device-to-device copy.
  copy_reference mref;
  if (printer && !be->reference_copy(size_list.back(), mref)) mref = measure_memcpy(size_list.back());
  if (!printer) mref.bytes = size_list.back();
  if (be->sync() != weft::status::success) {
    if (printer) std::fprintf(stderr, "weft-bench: the ranks did not meet after setup (a wait ran out)\n");
    return 1;
  }
  std::string const hw = hardware_string();

  // ---- header ----
  std::string protos, colls, algos;
  for (weft::algorithm a : o.algos) algos += std::string(algos.empty() ? "" : ",") + algo_name(a);
  for (weft::protocol p : o.protos) protos += std::string(protos.empty() ? "" : ",") + weft::to_string(p);
  for (coll c : o.colls) colls += std::string(colls.empty() ? "" : ",") + to_string(c);
  bool const threads = o.backend == "cpu"; // else one rank per process
  int const nthreads = o.nthreads ? o.nthreads : (o.ngpus || !threads ? 1 : n);
  int const ngpus = o.ngpus ? o.ngpus : 1;
  std::printf("# weft-bench %s: %s on the %s backend, %s\n", weft::version_string, colls.c_str(), be->name(),
              be->description().c_str());
  std::printf("# algo %s  protocol %s  channels %d  ranks %d\n", algos.c_str(), protos.c_str(), o.nchannels, n);
  int const graph_iters = be->runs_graphs() ? o.graph_iters : 0;
  std::printf("# nThread %d nGpus %d minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d agg iters: 1 "
              "validation: %d graph: %d\n",
              nthreads, ngpus, o.min_bytes, o.max_bytes, o.step_factor > 1 ? o.step_factor : o.step_bytes,
              o.step_factor > 1 ? "factor" : "bytes", o.warmup, o.iters, o.check, graph_iters);
  if (o.blocking) std::printf("# Blocking Enabled: wait for completion and barrier after each collective \n");
  if ((o.nthreads || o.ngpus) && threads)
    std::printf("# -t %d -g %d: %d ranks (nThread x nGpus); on the CPU backend every rank is a thread\n", nthreads,
                ngpus, n);
  if (o.graph_iters > 0 && threads)
    std::printf("# -G %d: CUDA graphs are ignored on the CPU backend\n", o.graph_iters);
  if (graph_iters > 0)
    std::printf("# -G %d: the %d timed iterations of every stream captured in one CUDA graph, each graph "
                "launched %d times\n",
                graph_iters, o.iters, graph_iters);
  if (std::string const tn = be->time_note(average_name(o.average)); !tn.empty())
    std::printf("# time: %s (-a %d)\n", tn.c_str(), o.average);
  else
    std::printf("# time: %s mean wall-clock time per iteration, after a barrier (-a %d)\n", average_name(o.average),
                o.average);
  std::printf("# hardware: %s\n", hw.c_str());
  std::printf("# communicator scratch memory: %zu bytes\n", be->scratch_bytes());
  if (o.check > 0 && std::find(o.ops.begin(), o.ops.end(), weft::redop::premul_sum) != o.ops.end())
    std::printf("# mulsum scalar: 0.5 (floating types), 3 (integer types)\n");
  for (std::string const& c : skipped_colls) std::printf("# skipped %s\n", c.c_str());
  for (std::string const& t : skipped_tables) std::printf("# skipped %s\n", t.c_str());
  if (o.nslots > 0 || o.slot_bytes > 0)
    std::printf("# communicator: %d slots per connection; slot bytes simple %zu, ll %zu, ll128 %zu\n", cfg.nslots,
                cfg.simple_slot_bytes, cfg.ll_slot_bytes, cfg.ll128_slot_bytes);
  if (!peer_progs.empty() || rounds > 1) {
    std::string names;
    for (peer_program const& p : peer_progs) names += " " + p.library;
    std::printf("# side by side: weft%s, %d rounds (contenders take turns going first); the tables below are "
                "round 1\n",
                names.c_str(), rounds);
  }
  if (!skipped.empty()) {
    // One line per distinct op list: "prod max min avg mulsum for double half ...".
    std::vector<std::pair<std::string, std::string>> groups; // ops -> types
    for (auto const& [d, ops] : skipped) {
      auto it = std::find_if(groups.begin(), groups.end(), [&](auto const& g) { return g.first == ops; });
      if (it == groups.end()) it = groups.insert(groups.end(), {ops, std::string()});
      it->second += std::string(it->second.empty() ? "" : " ") + weft::to_string(d);
    }
    for (auto const& [ops, types] : groups)
      std::printf("# skipped, not compiled in (configure with -DWEFT_BENCH_ALL_OPS=ON): %s for %s\n", ops.c_str(),
                  types.c_str());
  }
  std::printf("#\n# Using devices\n");
  for (std::string const& l : be->rank_lines()) std::printf("%s\n", l.c_str());
  std::printf("#\n# memcpy reference (%s, %zu bytes): %s us, %s GB/s\n", mref.what.c_str(), mref.bytes,
              fit_number(mref.time_us, 7).c_str(), fit_number(mref.gbps, 6).c_str());
  std::fflush(stdout);

  // ---- tables ----
  std::vector<row> rows;
  std::vector<ratio_line> ratios;
  int failed_tests = 0; // nccl-tests' "Out of bounds values": results with #wrong > 0
  double bw_sum = 0;
  int bw_count = 0;
  std::string fatal;
  std::uint64_t seed = 1;

  // Both placements of one size; false when a collective failed (`fatal` says why).
  auto measure_row = [&](coll_spec& s, row& rw, int round) -> bool {
    for (int ip = 0; ip < 2; ++ip) {
      s.in_place = ip == 1;
      run_settings how;
      how.warmup = o.warmup;
      how.iters = o.iters;
      how.blocking = o.blocking != 0;
      how.check_runs = o.check;
      how.inject_error = o.inject_error;
      how.inject_failure = o.inject_failure;
      how.seed = seed;
      how.graph_iters = graph_iters;
      seed += std::uint64_t(o.check) + 1;
      measurement const m = be->run(s, how);
      if (!m.ok) {
        fatal = m.error;
        return false;
      }
      placement_result& pr = ip ? rw.ip : rw.oop;
      if (!m.measured) {
        pr.measured = false;
        continue;
      }
      set_placement(pr, m.rank_seconds, o.average, rw.size, s.kind, n, m.checked, m.wrong);
      if (m.checked && m.wrong > 0) ++failed_tests; // in every round
      if (round > 0) continue;
      bw_sum += pr.busbw;
      ++bw_count;
    }
    return true;
  };

  // Side by side (--peers, --rounds): every round's busbw of every contender.
  comparison cmp;
  std::string const ranks_about = be->ranks_about();

  // Every type, op, root and size of one table; false when a collective failed.
  // Round 1 prints the table; later rounds only feed `cmp`.
  auto run_table = [&](table_key const& t, int round) -> bool {
    bool const print = round == 0;
    char const* const proto = t.a == algo_auto ? "auto" : is_bench_algo(t.a) ? "own" : weft::to_string(t.p);
    std::string algo = algo_name(t.a) + " " + proto;
    // auto leaves the channel count to the communicator too.
    std::string const channels = t.a == algo_auto ? std::string("auto") : std::to_string(o.nchannels);
    if (o.nchannels > 1 && t.a != algo_auto) algo += " x" + std::to_string(o.nchannels);
    int const who = cmp.contender_id({"weft", algo, ranks_about});
    if (print) {
      std::printf("#\n# %s, algo %s, protocol %s, channels %s; busbw = algbw * %s\n", to_string(t.c),
                  algo_name(t.a).c_str(), proto, channels.c_str(), busbw_formula(t.c));
      print_column_header(stdout);
      std::fflush(stdout);
    }
    std::size_t const first_ratio = ratios.size();
    for (weft::dtype d : o.types) {
      std::vector<weft::redop> ops = o.ops;
      if (!reduces(t.c)) ops.assign(1, weft::redop::sum);
      for (weft::redop r : ops) {
        coll_spec s;
        s.kind = t.c;
        s.type = d;
        s.op.op = r;
        s.op.nranks = n;
        s.op.scalar = mulsum_scalar(d);
        s.algo = t.a;
        s.proto = t.p;
        s.nchannels = o.nchannels;
        std::string why;
        if (!be->supports(s, why)) continue; // listed in the header
        for (int root : rooted(t.c) ? roots : std::vector<int>{-1}) {
          s.root = root < 0 ? 0 : root;
          row rw;
          for (std::size_t bytes : size_list) {
            std::size_t const per = weft::dtype_size(d) * (size_is_total(t.c) ? std::size_t(n) : 1u);
            s.count = bytes / per;
            rw = row{};
            rw.kind = t.c;
            rw.algo = t.a;
            rw.proto = t.p;
            rw.nchannels = o.nchannels;
            rw.size = s.count * per;
            rw.count = s.count;
            rw.type = weft::to_string(d);
            rw.redop = reduces(t.c) ? weft::to_string(r) : "none";
            rw.root = root;
            if (!measure_row(s, rw, round)) return false;
            if (root == roots[0] || root < 0) cmp.add(who, t.c, rw.type, rw.redop, rw.size, rw.oop, rw.ip);
            if (!print) continue;
            std::printf("%s\n", format_row(rw).c_str());
            std::fflush(stdout);
            rows.push_back(rw);
          }
          if (print && mref.gbps > 0) ratios.push_back({rw, rw.oop.busbw / mref.gbps});
        }
      }
    }
    // Against memcpy at the largest size (out-of-place busbw), one line per type/op/root.
    for (std::size_t i = first_ratio; i < ratios.size(); ++i) {
      row const& r = ratios[i].r;
      std::string const root = rooted(t.c) ? " root " + std::to_string(r.root) : "";
      std::printf("# busbw/memcpy at largest size: %.3f (%s %s %s%s, %zu B: busbw %.2f GB/s, memcpy %.2f GB/s)\n",
                  ratios[i].ratio, to_string(t.c), r.type.c_str(), r.redop.c_str(), root.c_str(), r.size,
                  r.oop.busbw, mref.gbps);
    }
    return true;
  };

  // A peer's sweep: its rows go to `cmp`; false (and `peer_error`) when it fails.
  std::string peer_error;
  std::vector<std::string> peer_cmds;
  auto run_peer = [&](peer_program& p) -> bool {
    std::vector<coll> pc;
    for (coll c : o.colls)
      if (std::find(p.colls.begin(), p.colls.end(), c) != p.colls.end()) pc.push_back(c);
    std::string const cmd = peer_command(p, o, n, pc);
    if (std::find(peer_cmds.begin(), peer_cmds.end(), cmd) == peer_cmds.end()) peer_cmds.push_back(cmd);
    int rc = 0;
    std::string const out = run_capture(cmd, rc);
    std::string perr;
    std::vector<peer_row> const prs = parse_peer_output(out, perr);
    if (rc != 0 || !perr.empty() || prs.empty()) {
      peer_error = "peer " + p.name + " (" + cmd + ") " +
                   (rc != 0 ? "exited with status " + std::to_string(rc) : perr.empty() ? "printed no rows" : perr);
      return false;
    }
    if (p.version.empty()) { // "# peer-mpi: allreduce with openmpi (Open MPI v4.1.4), 4 ranks as processes ..."
      std::size_t const a = out.find(" ("), b = out.find("), "), c = out.find(" ranks as ");
      if (a != std::string::npos && b != std::string::npos && b > a) p.version = out.substr(a + 2, b - a - 2);
      if (c != std::string::npos) p.ranks_as = out.substr(c + 10, out.find('\n', c) - c - 10);
    }
    for (peer_row const& r : prs) {
      if (r.oop.checked && r.oop.wrong > 0) ++failed_tests;
      if (r.ip.checked && r.ip.wrong > 0) ++failed_tests;
      int const who = cmp.contender_id({r.peer, r.algo, p.version + ", " + std::to_string(n) + " " + p.ranks_as});
      cmp.add(who, r.c, r.type, r.redop, r.size, r.oop, r.ip);
    }
    return true;
  };

  // Every round, the contenders take turns going first.
  std::size_t const ncont = 1 + peer_progs.size();
  for (int round = 0; round < rounds && fatal.empty() && peer_error.empty(); ++round)
    for (std::size_t k = 0; k < ncont && fatal.empty() && peer_error.empty(); ++k) {
      std::size_t const who = (std::size_t(round) + k) % ncont;
      if (who == 0) {
        for (table_key const& t : tables)
          if (!run_table(t, round)) break;
      } else {
        run_peer(peer_progs[who - 1]);
      }
    }
  if (fatal.empty() && (rounds > 1 || !peer_progs.empty())) {
    if (!peer_error.empty()) std::printf("#\n# peer FAILED: %s\n", peer_error.c_str());
    std::printf("#\n");
    for (std::string const& c : peer_cmds) std::printf("# peer command: %s\n", c.c_str());
    cmp.print(stdout, n, rounds);
    std::printf("#\n");
  }
  if (!peer_error.empty()) std::fprintf(stderr, "weft-bench: %s\n", peer_error.c_str());

  if (!fatal.empty()) { // in the log too, before the footer: the table stops here
    std::printf("# FAILED: %s\n", fatal.c_str());
    if (printer) std::fprintf(stderr, "weft-bench: %s\n", fatal.c_str());
  }
  double const avg_bw = bw_count ? bw_sum / double(bw_count) : 0.0;
  std::printf("# Out of bounds values : %d %s\n", failed_tests, failed_tests ? "FAILED" : "OK");
  std::printf("# Avg bus bandwidth    : %g\n", avg_bw);
  std::printf("#\n");
  std::fflush(stdout);

  // ---- JSON ----
  if (!o.json_path.empty() && printer) {
    json_writer j;
    j.begin_object();
    j.field("benchmark", "weft-bench").field("weft_version", weft::version_string);
    j.key("args").begin_array();
    for (int i = 0; i < argc; ++i) j.value(argv[i]);
    j.end_array();
    j.field("backend", be->name()).field("ranks", n).field("backend_description", be->description());
    json_hardware(j);
    j.key("params").begin_object();
    json_sweep_params(j, o);
    j.field("blocking", o.blocking).field("graph_iters_ignored", o.graph_iters - graph_iters);
    j.field("graph_iters", graph_iters);
    j.field("channels", o.nchannels).field("timeout_ms", o.timeout_ms);
    j.list("algos", o.algos, [](weft::algorithm a) { return algo_name(a); });
    j.list("protos", o.protos, [](weft::protocol p) { return weft::to_string(p); });
    j.field("root", o.root);
    j.field("registration", o.registration).field("processes", o.processes);
    j.end_object();
    j.field("scratch_bytes", be->scratch_bytes());
    j.key("memcpy").begin_object();
    j.field("bytes", mref.bytes).field("time_us", mref.time_us).field("gbps", mref.gbps).field("what", mref.what);
    j.end_object();
    j.key("rows").begin_array();
    for (row const& r : rows) json_row(j, r);
    j.end_array();
    j.key("busbw_over_memcpy").begin_array();
    for (ratio_line const& rl : ratios) {
      j.begin_object();
      j.field("coll", to_string(rl.r.kind)).field("algo", algo_name(rl.r.algo));
      j.field("proto", weft::to_string(rl.r.proto));
      j.field("type", rl.r.type).field("redop", rl.r.redop).field("root", rl.r.root).field("size", rl.r.size);
      j.field("ratio", rl.ratio);
      j.end_object();
    }
    j.end_array();
    if (rounds > 1 || !peer_progs.empty()) {
      cmp.json(j, rounds);
      j.key("peer_commands").begin_array();
      for (std::string const& c : peer_cmds) j.value(c);
      j.end_array();
    }
    j.field("out_of_bounds", failed_tests).field("avg_busbw", avg_bw);
    if (!fatal.empty())
      j.field("error", fatal);
    else
      j.key("error").null();
    j.end_object();
    if (!write_text_file(o.json_path, j.str() + "\n")) {
      std::fprintf(stderr, "weft-bench: cannot write %s\n", o.json_path.c_str());
      return 1;
    }
  }
  return (!fatal.empty() || !peer_error.empty() || failed_tests > 0) ? 1 : 0;
}

} // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "weft-bench: %s\n", e.what());
    return 1;
  }
}
