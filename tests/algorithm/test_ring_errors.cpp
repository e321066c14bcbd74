// Failure paths of the ring collectives on the CPU team:
//  - bad input gets its documented status on every rank, launches nothing
//    (buffers untouched, the communicator stays usable) and cpu_comm::last_error
//    names the collective;
//  - a rank that never arrives: every rank left waiting returns status::timeout
//    within the team's bound, and last_error names the collective, the rank, the
//    peer it waited for and the step; the communicator is then broken and the
//    next call returns status::aborted;
//  - a communicator configuration the prims cannot use is refused, not hung on.
#include "ring_cases.hpp"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <limits>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace ring_test;
using weft::protocol;
using weft::status;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

bool contains(std::string const& s, std::string const& part) {
  return s.find(part) != std::string::npos;
}

// ---- bad input ---------------------------------------------------------------------------------

enum class bad {
  null_send,
  null_recv,
  root_low,
  root_high,
  nchannels_zero,
  nchannels_high,
  direct_ll,
  direct_ll128,
  overflow
};
char const* name(bad b) {
  switch (b) {
  case bad::null_send:
    return "null send";
  case bad::null_recv:
    return "null recv";
  case bad::root_low:
    return "root -1";
  case bad::root_high:
    return "root nranks";
  case bad::nchannels_zero:
    return "nchannels 0";
  case bad::nchannels_high:
    return "nchannels > max_channels";
  case bad::direct_ll:
    return "direct with LL";
  case bad::direct_ll128:
    return "direct with LL128";
  case bad::overflow:
    return "count overflows size_t bytes";
  }
  return "?";
}

struct bad_result {
  status expected = status::invalid_argument;
  std::vector<status> got;
  std::vector<std::string> errors;
  bool buffers_untouched = true;
};

// Every rank makes the same bad call (so every rank must refuse it alone).
bad_result run_bad(weft::cpu_team& team, weft::cpu_comm& comm, coll cl, bad b) {
  int const n = comm.size();
  std::size_t const count = 64;
  std::vector<std::vector<float>> send(std::size_t(n), std::vector<float>(std::size_t(n) * count, 1.5f));
  std::vector<std::vector<float>> recv(std::size_t(n), std::vector<float>(std::size_t(n) * count, -7.25f));
  auto const send0 = send;
  auto const recv0 = recv;
  bad_result res;
  if (b == bad::direct_ll || b == bad::direct_ll128)
    res.expected = status::unsupported;
  weft::coll_options o;
  int root = 0;
  std::size_t cnt = count;
  switch (b) {
  case bad::root_low:
    root = -1;
    break;
  case bad::root_high:
    root = n;
    break;
  case bad::nchannels_zero:
    o.nchannels = 0;
    break;
  case bad::nchannels_high:
    o.nchannels = comm.config().max_channels + 1;
    break;
  case bad::direct_ll:
    o.direct = true, o.proto = protocol::ll;
    break;
  case bad::direct_ll128:
    o.direct = true, o.proto = protocol::ll128;
    break;
  case bad::overflow:
    cnt = std::numeric_limits<std::size_t>::max() / 2;
    break;
  default:
    break;
  }
  (void)team.run(
      [&](weft::team_rank& tr) -> status {
        std::size_t const R = std::size_t(tr.rank());
        float const* s = b == bad::null_send ? nullptr : send[R].data();
        float* d = b == bad::null_recv ? nullptr : recv[R].data();
        switch (cl) {
        case coll::all_reduce:
          return weft::all_reduce(comm, tr, s, d, cnt, weft::op::sum<float>{}, o);
        case coll::all_gather:
          return weft::all_gather(comm, tr, s, d, cnt, o);
        case coll::reduce_scatter:
          return weft::reduce_scatter(comm, tr, s, d, cnt, weft::op::sum<float>{}, o);
        case coll::broadcast:
          return weft::broadcast(comm, tr, s, d, cnt, root, o);
        case coll::reduce:
          return weft::reduce(comm, tr, s, d, cnt, root, weft::op::sum<float>{}, o);
        }
        return status::internal_error;
      },
      &res.got);
  for (int r = 0; r < n; ++r)
    res.errors.push_back(comm.last_error(r));
  res.buffers_untouched = send == send0 && recv == recv0;
  return res;
}

// Which bad inputs every rank of a collective sees as bad (a null send is only
// read on broadcast's root; a null recv is allowed on reduce's non-roots).
bool applies(coll cl, bad b) {
  if (b == bad::root_low || b == bad::root_high)
    return has_root(cl);
  if (cl == coll::broadcast && b == bad::null_send)
    return false;
  if (cl == coll::reduce && b == bad::null_recv)
    return false;
  return true;
}

} // namespace

TEST_CASE("ring: bad input is refused on every rank, changes nothing, and names the collective", "[ring][errors]") {
  int const n = 3;
  weft::cpu_team team(n);
  weft::cpu_comm comm(n);
  for (coll cl : all_colls)
    for (bad b : {bad::null_send, bad::null_recv, bad::root_low, bad::root_high, bad::nchannels_zero,
                  bad::nchannels_high, bad::direct_ll, bad::direct_ll128, bad::overflow}) {
      if (!applies(cl, b))
        continue;
      bad_result const r = run_bad(team, comm, cl, b);
      std::string ranks;
      bool status_ok = true, named = true;
      for (int k = 0; k < n; ++k) {
        ranks += "\n  rank " + std::to_string(k) + " returned " + weft::to_string(r.got[std::size_t(k)]) +
                 ", last_error \"" + r.errors[std::size_t(k)] + "\"";
        status_ok = status_ok && r.got[std::size_t(k)] == r.expected;
        named = named && contains(r.errors[std::size_t(k)], name(cl));
      }
      INFO(name(cl) << " with " << name(b) << " (expected " << weft::to_string(r.expected) << "):" << ranks);
      CHECK(status_ok);
      CHECK(named);
      CHECK(r.buffers_untouched);
      CHECK(comm.healthy());
    }
  // The refused calls launched nothing: the connections still work.
  ring_case c;
  c.nranks = n;
  c.count = 1000;
  for (coll cl : all_colls)
    for (protocol p : all_protocols) {
      c.c = cl;
      c.proto = p;
      outcome const o = check_ring<float, sum_only>(c, team, comm);
      INFO(describe(c) << ": " << o.error);
      CHECK(o.ok);
    }
}

TEST_CASE("ring: a broadcast root alone with a null send fails; the others stop, they do not hang", "[ring][errors]") {
  int const n = 4;
  weft::team_options opts;
  opts.timeout_ns = 2'000'000'000ull;
  weft::cpu_team team(n, opts);
  weft::cpu_comm comm(n);
  std::vector<float> recv(std::size_t(n) * 100, 0.f);
  std::vector<status> per_rank;
  auto const t0 = std::chrono::steady_clock::now();
  (void)team.run(
      [&](weft::team_rank& tr) {
        return weft::broadcast<float>(comm, tr, nullptr, recv.data() + std::size_t(tr.rank()) * 100, 100, 1);
      },
      &per_rank);
  double const took = seconds_since(t0);
  CHECK(per_rank[1] == status::invalid_argument);
  for (int r : {0, 2, 3}) {
    INFO("rank " << r << ": " << weft::to_string(per_rank[std::size_t(r)]) << " (" << comm.last_error(r) << ")");
    CHECK((per_rank[std::size_t(r)] == status::aborted || per_rank[std::size_t(r)] == status::success));
  }
  CHECK(per_rank[2] == status::aborted); // waits for the root's data: stopped by the team's abort
  CHECK(took < 1.5);                     // well before the 2 s bound
}

TEST_CASE("ring: a team whose size differs from the communicator's is refused", "[ring][errors]") {
  weft::cpu_team team(3);
  weft::cpu_comm comm(4);
  std::vector<float> buf(16, 1.f);
  std::vector<status> per_rank;
  (void)team.run(
      [&](weft::team_rank& tr) {
        return weft::all_reduce(comm, tr, buf.data(), buf.data(), 0, weft::op::sum<float>{});
      },
      &per_rank);
  for (status s : per_rank)
    CHECK(s == status::invalid_argument);
  CHECK(contains(comm.last_error(0), "all_reduce"));
}

TEST_CASE("ring: an invalid communicator configuration refuses every call", "[ring][errors]") {
  for (int which = 0; which < 3; ++which) {
    weft::cpu_comm_config cfg;
    int n = 2;
    if (which == 0)
      cfg.nslots = 0;
    if (which == 1)
      cfg.max_channels = 0;
    if (which == 2)
      n = 0;
    weft::cpu_comm comm(n, cfg);
    INFO("configuration " << which);
    CHECK_FALSE(comm.healthy());
    if (n < 1)
      continue;
    weft::cpu_team team(n);
    std::vector<float> buf(4, 1.f);
    std::vector<status> per_rank;
    (void)team.run(
        [&](weft::team_rank& tr) {
          return weft::all_reduce(comm, tr, buf.data(), buf.data(), 4, weft::op::sum<float>{});
        },
        &per_rank);
    for (status s : per_rank)
      CHECK(s == status::invalid_argument);
    CHECK(contains(comm.last_error(0), "configuration"));
  }
}

// ---- a rank that never arrives ----------------------------------------------------------------

namespace {

struct timeout_run {
  std::vector<status> st;
  std::vector<double> took;
  std::vector<std::string> err;
  double total = 0;
};

// Every rank but `missing` calls the collective; `missing` returns at once.
timeout_run run_with_missing_rank(weft::cpu_team& team, weft::cpu_comm& comm, coll cl, protocol p, std::size_t count,
                                  int missing, int root) {
  int const n = comm.size();
  std::vector<std::vector<float>> send(std::size_t(n), std::vector<float>(std::size_t(n) * count, 1.f));
  std::vector<std::vector<float>> recv(std::size_t(n), std::vector<float>(std::size_t(n) * count, 0.f));
  timeout_run res;
  res.took.assign(std::size_t(n), 0.0);
  weft::coll_options o;
  o.proto = p;
  auto const t0 = std::chrono::steady_clock::now();
  (void)team.run(
      [&](weft::team_rank& tr) -> status {
        std::size_t const R = std::size_t(tr.rank());
        if (tr.rank() == missing)
          return status::success;
        auto const w0 = std::chrono::steady_clock::now();
        float const* s = send[R].data();
        float* d = recv[R].data();
        status st = status::internal_error;
        switch (cl) {
        case coll::all_reduce:
          st = weft::all_reduce(comm, tr, s, d, count, weft::op::sum<float>{}, o);
          break;
        case coll::all_gather:
          st = weft::all_gather(comm, tr, s, d, count, o);
          break;
        case coll::reduce_scatter:
          st = weft::reduce_scatter(comm, tr, s, d, count, weft::op::sum<float>{}, o);
          break;
        case coll::broadcast:
          st = weft::broadcast(comm, tr, s, d, count, root, o);
          break;
        case coll::reduce:
          st = weft::reduce(comm, tr, s, d, count, root, weft::op::sum<float>{}, o);
          break;
        }
        res.took[R] = seconds_since(w0);
        return st;
      },
      &res.st);
  res.total = seconds_since(t0);
  for (int r = 0; r < n; ++r)
    res.err.push_back(comm.last_error(r));
  return res;
}

// The message of a timed-out rank names the collective, the rank, the peer it waited for and the step.
void check_timeout_message(std::string const& e, coll cl, int r, int n) {
  INFO("rank " << r << " last_error: \"" << e << "\"");
  CHECK(contains(e, name(cl)));
  CHECK(contains(e, "rank " + std::to_string(r) + " "));
  CHECK(contains(e, "timed out"));
  CHECK(contains(e, "waiting"));
  CHECK(contains(e, "step"));
  bool const data_from_prev = contains(e, "waiting for data from rank " + std::to_string((r + n - 1) % n));
  bool const credit_from_next = contains(e, "waiting for rank " + std::to_string((r + 1) % n) + " to free a slot");
  CHECK((data_from_prev || credit_from_next));
}

void check_broken_afterwards(weft::cpu_team& team, weft::cpu_comm& comm) {
  CHECK_FALSE(comm.healthy());
  int const n = comm.size();
  std::vector<float> buf(std::size_t(n) * 8, 1.f);
  std::vector<status> per_rank;
  auto const t0 = std::chrono::steady_clock::now();
  (void)team.run(
      [&](weft::team_rank& tr) {
        float* b = buf.data() + std::size_t(tr.rank()) * 8;
        return weft::all_reduce(comm, tr, b, b, 8, weft::op::sum<float>{});
      },
      &per_rank);
  CHECK(seconds_since(t0) < 1.0);
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r << " after the failure: " << weft::to_string(per_rank[std::size_t(r)]));
    CHECK(per_rank[std::size_t(r)] == status::aborted);
  }
}

constexpr std::uint64_t bound_ns = 200'000'000ull; // 200 ms
constexpr double bound_s = 0.2;

} // namespace

TEST_CASE("ring: a rank that never arrives -- all-reduce times out on every other rank, every protocol",
          "[ring][errors][timeout]") {
  weft::team_options opts;
  opts.timeout_ns = bound_ns;
  int const n = 4, missing = 2;
  for (protocol p : all_protocols) {
    INFO("protocol " << weft::to_string(p));
    weft::cpu_team team(n, opts);
    weft::cpu_comm comm(n);
    timeout_run const t = run_with_missing_rank(team, comm, coll::all_reduce, p, 1000, missing, 0);
    CHECK(t.st[std::size_t(missing)] == status::success);
    CHECK(comm.last_error(missing) == "no error");
    for (int r = 0; r < n; ++r) {
      if (r == missing)
        continue;
      INFO("rank " << r << " returned " << weft::to_string(t.st[std::size_t(r)]) << " after " << t.took[std::size_t(r)]
                   << " s");
      CHECK(t.st[std::size_t(r)] == status::timeout);
      CHECK(t.took[std::size_t(r)] >= bound_s * 0.95);
      CHECK(t.took[std::size_t(r)] < 3.0);
      check_timeout_message(t.err[std::size_t(r)], coll::all_reduce, r, n);
    }
    // The rank right after the missing one waits for its data.
    CHECK(contains(t.err[3], "waiting for data from rank 2"));
    CHECK(t.total < 3.0);
    check_broken_afterwards(team, comm);
  }
}

TEST_CASE("ring: a rank that never arrives while its sender waits for credit (two slots)", "[ring][errors][timeout]") {
  weft::team_options opts;
  opts.timeout_ns = bound_ns;
  weft::cpu_comm_config cfg;
  cfg.nslots = 2;
  int const n = 4, missing = 2;
  for (protocol p : all_protocols) {
    INFO("protocol " << weft::to_string(p));
    weft::cpu_team team(n, opts);
    weft::cpu_comm comm(n, cfg);
    // Each rank's chunk spans several steps, so a send needs the receiver to free a slot.
    std::size_t const step_floats = weft::slot_payload_bytes(p, cfg.slot_bytes(p)) / sizeof(float);
    std::size_t const count = std::size_t(n) * step_floats * 3;
    timeout_run const t = run_with_missing_rank(team, comm, coll::all_reduce, p, count, missing, 0);
    for (int r = 0; r < n; ++r) {
      if (r == missing)
        continue;
      INFO("rank " << r << " returned " << weft::to_string(t.st[std::size_t(r)]) << " after " << t.took[std::size_t(r)]
                   << " s");
      CHECK(t.st[std::size_t(r)] == status::timeout);
      CHECK(t.took[std::size_t(r)] < 3.0);
      check_timeout_message(t.err[std::size_t(r)], coll::all_reduce, r, n);
    }
    INFO("rank 1: " << t.err[1]);
    CHECK(contains(t.err[1], "waiting for rank 2 to free a slot"));
    check_broken_afterwards(team, comm);
  }
}

TEST_CASE("ring: a rank that never arrives -- every collective reports its own name", "[ring][errors][timeout]") {
  weft::team_options opts;
  opts.timeout_ns = bound_ns;
  int const n = 4, missing = 2, root = 0;
  for (coll cl : all_colls) {
    INFO(name(cl));
    weft::cpu_team team(n, opts);
    weft::cpu_comm comm(n);
    timeout_run const t = run_with_missing_rank(team, comm, cl, protocol::simple, 100, missing, root);
    int timed_out = 0;
    for (int r = 0; r < n; ++r) {
      if (r == missing)
        continue;
      INFO("rank " << r << " returned " << weft::to_string(t.st[std::size_t(r)]) << " after " << t.took[std::size_t(r)]
                   << " s");
      // Ranks upstream of the missing one in a chain may finish (their sends do not block).
      bool const may_finish = has_root(cl) && (r == root || r == 1) && !(cl == coll::reduce && r == root);
      if (may_finish && t.st[std::size_t(r)] == status::success)
        continue;
      CHECK(t.st[std::size_t(r)] == status::timeout);
      CHECK(t.took[std::size_t(r)] < 3.0);
      check_timeout_message(t.err[std::size_t(r)], cl, r, n);
      ++timed_out;
    }
    CHECK(timed_out >= 1);
    CHECK(contains(t.err[3], "waiting for data from rank 2"));
    check_broken_afterwards(team, comm);
  }
}

// ---- configurations the prims cannot use --------------------------------------------------------

namespace {

// Runs `f` in a child process (this process has no other threads here) and waits up to
// `seconds`: returns the child's exit code, or -1 when it had to be killed (it hung).
int run_isolated(std::function<int()> const& f, double seconds) {
  pid_t const pid = fork();
  if (pid == 0)
    std::_Exit(f());
  if (pid < 0)
    return -2;
  auto const t0 = std::chrono::steady_clock::now();
  for (;;) {
    int wst = 0;
    pid_t const w = waitpid(pid, &wst, WNOHANG);
    if (w == pid)
      return WIFEXITED(wst) ? WEXITSTATUS(wst) : -3;
    if (seconds_since(t0) > seconds) {
      kill(pid, SIGKILL);
      waitpid(pid, &wst, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

} // namespace

// A slot too small for one step of the element type (Simple keeps steps at
// multiples of 16 elements; an LL slot under 16 bytes or an LL128 slot under 128
// bytes carries no data) must be refused -- by the communicator or the call --
// not run as a loop that never advances.
TEST_CASE("ring: a slot too small to carry one step is refused, not hung on", "[ring][errors][config]") {
  for (protocol p : all_protocols) {
    weft::cpu_comm_config cfg;
    if (p == protocol::simple)
      cfg.simple_slot_bytes = 32; // 8 floats: under one 16-element step
    if (p == protocol::ll)
      cfg.ll_slot_bytes = 8; // less than one 16-byte line
    if (p == protocol::ll128)
      cfg.ll128_slot_bytes = 64; // less than one 128-byte line
    int const code = run_isolated(
        [&] {
          weft::team_options opts;
          opts.timeout_ns = 1'000'000'000ull;
          weft::cpu_team team(2, opts);
          weft::cpu_comm comm(2, cfg);
          std::vector<float> buf(256, 1.f);
          weft::coll_options o;
          o.proto = p;
          status const s = team.run([&](weft::team_rank& tr) {
            float* b = buf.data() + std::size_t(tr.rank()) * 128;
            return weft::all_reduce(comm, tr, b, b, 128, weft::op::sum<float>{}, o);
          });
          return int(s);
        },
        1.0);
    INFO("protocol " << weft::to_string(p) << ": child "
                     << (code == -1 ? std::string("hung (killed after 1 s)")
                                    : "returned " + (code >= 0 ? std::string(weft::to_string(status(code)))
                                                               : std::to_string(code))));
    CHECK(code != -1);
    CHECK((code == int(status::invalid_argument) || code == int(status::unsupported)));
  }
}

// One slot per connection cannot work for a ring: every rank holds the slot its
// predecessor filled while it waits for its successor to free the slot it wants
// to send into (recv_reduce_send reduces from the incoming slot straight into
// the outgoing one). The communicator must refuse nslots = 1 instead of letting
// every all-reduce of more than one step time out.
TEST_CASE("ring: one slot per connection is refused, not a deadlock", "[ring][errors][config]") {
  weft::cpu_comm_config cfg;
  cfg.nslots = 1;
  weft::team_options opts;
  opts.timeout_ns = 500'000'000ull;
  int const n = 3;
  for (protocol p : all_protocols) {
    weft::cpu_team team(n, opts);
    weft::cpu_comm comm(n, cfg);
    std::size_t const step_floats = weft::slot_payload_bytes(p, cfg.slot_bytes(p)) / sizeof(float);
    std::size_t const count = std::size_t(n) * step_floats * 2;
    std::vector<float> buf(std::size_t(n) * count, 1.f);
    weft::coll_options o;
    o.proto = p;
    std::vector<status> per_rank;
    status const s = team.run(
        [&](weft::team_rank& tr) {
          float* b = buf.data() + std::size_t(tr.rank()) * count;
          return weft::all_reduce(comm, tr, b, b, count, weft::op::sum<float>{}, o);
        },
        &per_rank);
    INFO("protocol " << weft::to_string(p) << ": " << weft::to_string(s) << "; rank 0: " << comm.last_error(0));
    CHECK((s == status::success || s == status::invalid_argument));
  }
}
