// One rank of a multi-process test job. Started by mpirun or by a test.
//
//   proc_worker <boot> <scenario>
//     boot:     mpi  (MPI_COMM_WORLD; only when built with MPI)
//               tcp  (WEFT_TEST_ID = unique id text, WEFT_TEST_RANK, WEFT_TEST_SIZE)
//               env  (torchrun variables: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
//                     WEFT_BOOTSTRAP_SECRET; rank 0 runs the root)
//     scenario: matrix  every collective, protocol, channel count and algorithm, checked
//               quick   one checked round per protocol
//               hier    (mpi only) hierarchical all-reduce / all-gather / reduce-scatter, the inner team in
//                       shared memory and the outer over MPI; argv[3] = ranks per "node"
//               fault   all-reduce in a loop until it fails (a peer is killed by the test);
//                       prints "RESULT rank=<r> status=<s> call_ms=<t> lost=<k> error=<text>"
// Exit code: 0 passed, 1 a check failed, 2 setup failed.
#include "proc_cases.hpp"

#include <weft/bootstrap/tcp.hpp>
#if WEFT_TEST_WITH_MPI
#  include <weft/bootstrap/mpi.hpp>
#  include <weft/team/two_level_comm.hpp>
#  include <weft/transport/mpi_net.hpp>
#endif

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

int env_int(char const* name, int fallback) {
  char const* s = std::getenv(name);
  return s && *s ? std::atoi(s) : fallback;
}

int run_scenario(weft::bootstrap& boot, std::string const& scenario) {
  int const me = boot.rank();
  weft::shm_comm_config cfg = proc_test::small_config();
  if (scenario == "fault") cfg.timeout_ns = std::uint64_t(env_int("WEFT_TEST_TIMEOUT_MS", 2000)) * 1'000'000ull;
  // example-begin shm-create
  std::unique_ptr<weft::shm_comm> comm;
  std::string why;
  if (auto s = weft::shm_comm::create(boot, cfg, comm, &why); s != weft::status::success) {
    std::fprintf(stderr, "rank %d: shm_comm::create: %s: %s\n", me, to_string(s), why.c_str());
    return 2;
  }
  weft::proc_rank r = comm->rank_handle();
  // example-end shm-create
  if (scenario == "matrix" || scenario == "quick") {
    proc_test::checker c;
    bool ok = true;
    if (scenario == "matrix") {
      ok = proc_test::run_matrix(*comm, r, c);
    } else {
      for (int pi = 0; pi < weft::protocol_count && ok; ++pi) {
        weft::coll_options o;
        o.proto = weft::protocol(pi);
        ok = proc_test::run_round(*comm, r, o, 5000, c);
      }
    }
    // The direct all-gather exchanges pointers: refused between processes, and nothing is broken by it.
    if (ok) {
      std::vector<int> a(4, 1), b(4 * std::size_t(comm->size()), 0);
      weft::coll_options o;
      o.direct = true;
      if (weft::all_gather(*comm, r, a.data(), b.data(), 4, o) != weft::status::unsupported || !comm->healthy())
        ok = c.fail("direct all_gather was not refused with unsupported");
    }
    if (!ok) {
      std::fprintf(stderr, "rank %d: FAILED: %s\n", me, c.why.c_str());
      return 1;
    }
    if (auto s = boot.barrier(); s != weft::status::success) {
      std::fprintf(stderr, "rank %d: final barrier: %s\n", me, to_string(s));
      return 1;
    }
    std::printf("rank %d of %d: passed\n", me, comm->size());
    return 0;
  }
  if (scenario == "fault") {
    std::size_t const count = 1 << 16;
    std::vector<float> send(count, float(me + 1)), recv(count);
    weft::status s = weft::status::success;
    double call_ms = 0;
    auto const end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (long it = 0; std::chrono::steady_clock::now() < end; ++it) {
      auto const t0 = std::chrono::steady_clock::now();
      s = weft::all_reduce(*comm, r, send.data(), recv.data(), count, weft::op::sum<float>{});
      call_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (s != weft::status::success) break;
      if (it == 10) {
        std::printf("LOOPING rank=%d\n", me);
        std::fflush(stdout);
      }
    }
    // example-begin fault-report
    std::string const err = comm->last_error();
    int const lost = comm->lost_peer();
    comm->abort();
    comm.reset(); // destroy after the failure: must not hang
    // example-end fault-report
    std::printf("RESULT rank=%d status=%s call_ms=%.0f lost=%d error=%s\n", me, to_string(s), call_ms, lost,
                err.c_str());
    std::fflush(stdout);
    return 0;
  }
  std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
  return 2;
}

#if WEFT_TEST_WITH_MPI
// Hierarchical collectives: world split into "nodes" of `per_node` consecutive ranks.
int run_hier(int per_node) {
  int wr = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &wr);
  // example-begin two-level-split
  MPI_Comm node = MPI_COMM_NULL, rail = MPI_COMM_NULL;
  if (auto s = weft::mpi_node_rail_split(MPI_COMM_WORLD, per_node, &node, &rail); s != weft::status::success) {
    std::fprintf(stderr, "rank %d: mpi_node_rail_split: %s\n", wr, to_string(s));
    return 2;
  }
  // example-end two-level-split
  int rc = 0;
  {
    weft::mpi_bootstrap nb(node);
    std::unique_ptr<weft::shm_comm> inner;
    std::string why;
    if (auto s = weft::shm_comm::create(nb, proc_test::small_config(), inner, &why); s != weft::status::success) {
      std::fprintf(stderr, "rank %d: shm_comm::create: %s\n", wr, why.c_str());
      rc = 2;
    } else {
      // example-begin two-level-comm
      weft::mpi_net net(rail, 20'000'000'000ull, inner->bound().abort_flag);
      weft::two_level_comm<weft::mpi_net> h(*inner, net);
      // example-end two-level-comm
      rc = proc_test::run_two_level_checks(h, wr) ? 0 : 1;
    }
  }
  MPI_Comm_free(&node);
  MPI_Comm_free(&rail);
  return rc;
}
#endif

} // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s mpi|tcp|env matrix|quick|fault\n", argv[0]);
    return 2;
  }
  std::string const how = argv[1], scenario = argv[2];
  if (how == "tcp" || how == "env") {
    weft::tcp_options o;
    o.timeout_ns = 60'000'000'000ull;
    std::unique_ptr<weft::tcp_bootstrap> boot;
    weft::status s;
    std::string why;
    if (how == "tcp") {
      // example-begin tcp-join
      weft::tcp_unique_id id;
      char const* text = std::getenv("WEFT_TEST_ID");
      if (!text || weft::parse_unique_id(text, id) != weft::status::success) {
        std::fprintf(stderr, "WEFT_TEST_ID missing or not a unique id\n");
        return 2;
      }
      s = weft::tcp_bootstrap::connect(id, env_int("WEFT_TEST_RANK", -1), env_int("WEFT_TEST_SIZE", 0), o, boot);
      // example-end tcp-join
    } else {
      // example-begin torchrun-join
      int local = -1;
      s = weft::tcp_bootstrap::from_env(o, boot, &local, false, &why);
      // example-end torchrun-join
      if (s == weft::status::success && local != env_int("LOCAL_RANK", -2)) {
        std::fprintf(stderr, "LOCAL_RANK not read back\n");
        return 1;
      }
    }
    if (s != weft::status::success) {
      std::fprintf(stderr, "bootstrap: %s %s\n", to_string(s), why.c_str());
      return 2;
    }
    return run_scenario(*boot, scenario);
  }
#if WEFT_TEST_WITH_MPI
  if (how == "mpi") {
    MPI_Init(&argc, &argv);
    int rc;
    {
      // example-begin mpi-boot
      weft::mpi_bootstrap boot(MPI_COMM_WORLD); // borrows the communicator; MPI_Init has run
      // example-end mpi-boot
      rc = scenario == "hier" ? run_hier(argc > 3 ? std::atoi(argv[3]) : 0) : run_scenario(boot, scenario);
      // Every rank learns whether all passed, so mpirun's status is the job's.
      int worst = 0;
      MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
      rc = worst;
    }
    MPI_Finalize();
    return rc;
  }
#endif
  std::fprintf(stderr, "bootstrap %s is not available in this build\n", how.c_str());
  return 2;
}
