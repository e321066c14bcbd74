// 01_ring_all_reduce_team: five CPU-team ranks all-reduce bf16 data in place
// with weft's ring, then show what a collective reports when a rank is missing.
//
// No GPU is needed: the ranks are threads of this process (`weft::cpu_team`),
// and `weft::cpu_comm` holds the ring connections in host memory. The ring code
// the ranks run (algorithm/ring.hpp over prims/prims.hpp) is the same source
// the GPU runs.
//
//   1. Five ranks (not a power of two) each fill a buffer of bf16 values from a
//      seeded generator (nonzero, both signs).
//   2. Every rank calls `weft::all_reduce` in place (send == recv) with
//      `op::sum<bfloat16_t>`, the LL protocol and 2 channels: two independent
//      rings, each over its own half of the buffer.
//   3. Every element is checked against a reference summed in double from the
//      same bf16 inputs, with a tolerance derived from the ring's roundings.
//   4. A second team and communicator, with every wait bounded by 100 ms, runs
//      the same call while rank 3 never makes it. The other ranks time out
//      instead of hanging; rank 4, which receives from rank 3, reports a
//      timeout, and `cpu_comm::last_error(4)` names the collective, the rank,
//      the peer (rank 3), the channel and the step.
//
// Prints PASS or FAIL; exits nonzero on failure.
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/core/types.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/team/cpu_comm.hpp>
#include <weft/team/cpu_team.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace {

using bf16 = weft::bfloat16_t;

constexpr int nranks = 5;
// Not a multiple of the rank count, of 16 (the channel alignment) or of a step.
constexpr std::size_t count = 100'003;

// Rank r's input: seeded per rank, never zero, both signs, rounded to bf16.
std::vector<bf16> make_input(int rank) {
  std::mt19937 gen(4321u + unsigned(rank));
  std::uniform_real_distribution<float> magnitude(0.5f, 2.0f);
  std::bernoulli_distribution negative(0.5);
  std::vector<bf16> v(count);
  for (bf16& x : v)
    x = bf16(negative(gen) ? -magnitude(gen) : magnitude(gen));
  return v;
}

// example-begin ring-all-reduce-team
// Runs on every rank of the team; every rank makes the same call. In place:
// `data` is both the input and the output (count bf16 values).
weft::status sum_in_place(weft::cpu_comm& comm, weft::team_rank& r, weft::bfloat16_t* data) {
  weft::coll_options o;
  o.proto = weft::protocol::ll; // the caller picks the protocol: there is no tuner yet
  o.nchannels = 2;              // two independent rings, each over half of the elements
  return weft::all_reduce(comm, r, data, data, count, weft::op::sum<weft::bfloat16_t>{}, o);
}
// example-end ring-all-reduce-team

// Steps 1-3. Returns true on success.
bool all_reduce_and_check() {
  std::array<std::vector<bf16>, nranks> inputs; // kept for the reference
  std::array<std::vector<bf16>, nranks> data;   // rank r's in-place buffer
  for (int r = 0; r < nranks; ++r) {
    inputs[std::size_t(r)] = make_input(r);
    data[std::size_t(r)] = inputs[std::size_t(r)];
  }

  weft::cpu_team team(nranks); // default options: every wait is bounded by 10 s
  weft::cpu_comm comm(nranks); // default config: 8 slots per connection, up to 4 channels
  weft::status const st =
      team.run([&](weft::team_rank& r) { return sum_in_place(comm, r, data[std::size_t(r.rank())].data()); });

  // Reference in double from the same bf16 inputs. The ring rounds each partial
  // sum to bf16 once per hop of the reduce-scatter: nranks - 1 roundings, each
  // off by at most half a bf16 ulp (2^-8 relative) of a partial sum no larger
  // than sum |x_p|. The all-gather copies bits, so every rank gets the same value.
  double const half_ulp = std::ldexp(1.0, -8);
  std::size_t mismatches = 0, differing_ranks = 0;
  for (std::size_t i = 0; i < count && weft::ok(st); ++i) {
    double exact = 0.0, magnitude = 0.0;
    for (auto const& in : inputs) {
      exact += double(in[i].to_float());
      magnitude += std::fabs(double(in[i].to_float()));
    }
    double const tol = double(nranks - 1) * half_ulp * magnitude;
    double const got = double(data[0][i].to_float());
    if (!(std::fabs(got - exact) <= tol)) {
      if (mismatches < 5)
        std::printf("  rank 0: data[%zu] = %.6g, expected %.6g (tolerance %.3g)\n", i, got, exact, tol);
      ++mismatches;
    }
    for (int r = 1; r < nranks; ++r)
      if (data[std::size_t(r)][i].bits != data[0][i].bits)
        ++differing_ranks;
  }

  if (!weft::ok(st) || mismatches != 0 || differing_ranks != 0) {
    std::printf("FAIL: all_reduce status '%s' (%s), %zu elements out of tolerance, %zu differ between ranks\n",
                weft::to_string(st), comm.last_error(0).c_str(), mismatches, differing_ranks);
    return false;
  }
  std::printf("ok: %d ranks summed %zu bf16 in place (LL, 2 channels); communicator holds %zu bytes of connections\n",
              nranks, count, comm.scratch_bytes());
  return true;
}

// Step 4. Returns true when rank 4 reported the timeout as it should.
bool missing_rank_times_out() {
  std::array<std::vector<bf16>, nranks> data;
  for (int r = 0; r < nranks; ++r)
    data[std::size_t(r)] = make_input(r);

  // example-begin ring-timeout-team
  weft::team_options opts;
  opts.timeout_ns = 100'000'000; // every wait of this team is bounded by 100 ms
  weft::cpu_team team(nranks, opts);
  weft::cpu_comm comm(nranks);
  std::vector<weft::status> per_rank;
  team.run(
      [&](weft::team_rank& r) {
        if (r.rank() == 3)
          return weft::status::success; // rank 3 never calls the collective
        return sum_in_place(comm, r, data[std::size_t(r.rank())].data());
      },
      &per_rank);
  // Rank 4 receives from rank 3 on every channel's ring.
  weft::status const st4 = per_rank[4];
  std::string const why = comm.last_error(4);
  // example-end ring-timeout-team

  std::printf("rank 4: status '%s': %s\n", weft::to_string(st4), why.c_str());
  std::printf("communicator healthy after the failure: %s\n", comm.healthy() ? "yes" : "no");
  bool const good = st4 == weft::status::timeout && why.find("timed out") != std::string::npos &&
                    why.find("rank 3") != std::string::npos && !comm.healthy();
  if (!good)
    std::printf("FAIL: expected rank 4 to time out waiting for rank 3, and the communicator to be broken\n");
  return good;
}

} // namespace

int main() {
  bool const reduced = all_reduce_and_check();
  bool const timed_out = missing_rank_times_out();
  if (!reduced || !timed_out)
    return 1;
  std::printf("PASS: ring all-reduce of bf16 on %d CPU-team ranks, and a bounded wait that names the missing rank\n",
              nranks);
  return 0;
}
