// 00_reduce_copy_team: four CPU-team ranks sum their buffers with reduce_copy.
//
// The smallest complete use of weft's building blocks; no GPU is needed.
//
//   1. `weft::cpu_team` starts 4 ranks as threads of this process.
//   2. Each rank fills its own std::vector<float> with seeded, nonzero values.
//   3. The ranks exchange buffer pointers with `team_rank::all_gather_ptr`
//      (one process, so a pointer is valid on every rank, as an NVLink peer
//      pointer is valid on every GPU that mapped it).
//   4. Rank r reduces the r-th quarter of the elements of *all* the buffers
//      with `weft::reduce_copy` (`weft::op::sum<float>`, one host thread as the
//      execution group) straight into a shared output array: a naive "direct"
//      reduce-scatter whose pieces land side by side in one array (a gather).
//   5. A barrier orders every rank's writes before anyone reads the output;
//      then the result is checked against a serial reference.
//
// Prints PASS or FAIL; exits nonzero on failure.
#include <weft/core/reduce_copy.hpp>
#include <weft/group/group.hpp>
#include <weft/team/cpu_team.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <random>
#include <vector>

namespace {

constexpr int nranks = 4;
// Not a multiple of 4 (the quarters differ by one element) nor of a 16-byte pack.
constexpr std::size_t count = 100'003;

// Rank r's input: seeded per rank, never zero, both signs.
std::vector<float> make_input(int rank) {
  std::mt19937 gen(1234u + unsigned(rank));
  std::uniform_real_distribution<float> magnitude(0.5f, 2.0f);
  std::bernoulli_distribution negative(0.5);
  std::vector<float> v(count);
  for (float& x : v)
    x = negative(gen) ? -magnitude(gen) : magnitude(gen);
  return v;
}

// example-begin reduce-copy-team
// Runs on every rank of the team. `mine` is this rank's input (count floats);
// `out` is one array of count floats shared by all ranks.
weft::status reduce_my_quarter(weft::team_rank& r, float* mine, float* out) {
  // Every rank learns every rank's buffer address. Like every team wait this
  // is bounded: it returns timeout or aborted instead of hanging.
  std::array<float*, nranks> all{};
  if (weft::status s = r.all_gather_ptr(mine, all.data()); !weft::ok(s))
    return s;

  // This rank's quarter of the elements: [lo, hi).
  std::size_t const lo = count * std::size_t(r.rank()) / nranks;
  std::size_t const hi = count * std::size_t(r.rank() + 1) / nranks;

  // Sources: that quarter of every rank's buffer, read in place (as a GPU reads
  // its peers' memory over NVLink). Destination: that quarter of the output.
  weft::ptr_list<float const, nranks> src{};
  for (int p = 0; p < nranks; ++p)
    src.ptr[p] = all[std::size_t(p)] + lo;
  src.n = nranks;

  // One host thread is this rank's execution group. reduce_copy splits the
  // elements over the group's threads and never synchronises by itself.
  weft::host_group g = r.group();
  weft::reduce_copy(g, weft::op::sum<float>{}, src, weft::dsts(out + lo), hi - lo);

  // Publish this quarter (release) and wait for the other three (acquire). It
  // also keeps every input in use until no rank reads it any more.
  return r.barrier();
}
// example-end reduce-copy-team

} // namespace

int main() {
  std::array<std::vector<float>, nranks> inputs; // rank r owns inputs[r]
  std::vector<float> out(count, 0.0f);           // shared: each rank writes one quarter

  weft::cpu_team team(nranks); // default options: every team wait is bounded by 10 s
  weft::status const st = team.run([&](weft::team_rank& r) -> weft::status {
    std::vector<float>& mine = inputs[std::size_t(r.rank())];
    mine = make_input(r.rank());
    return reduce_my_quarter(r, mine.data(), out.data());
  });

  // Serial reference in double. A float sum of 4 terms is rounded 3 times, each
  // time by at most half an ulp of a partial sum no larger than sum |x_p|.
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < count && weft::ok(st); ++i) {
    double exact = 0.0, magnitude = 0.0;
    for (auto const& in : inputs) {
      exact += double(in[i]);
      magnitude += std::fabs(double(in[i]));
    }
    double const tol = 3.0 * double(std::numeric_limits<float>::epsilon()) * magnitude;
    if (!(std::fabs(double(out[i]) - exact) <= tol)) {
      if (mismatches < 5)
        std::printf("  out[%zu] = %.9g, expected %.9g\n", i, double(out[i]), exact);
      ++mismatches;
    }
  }

  if (!weft::ok(st) || mismatches != 0) {
    std::printf("FAIL: team status '%s', %zu mismatching elements\n", weft::to_string(st), mismatches);
    return 1;
  }
  std::printf("PASS: %d ranks reduced %zu floats each with weft::reduce_copy\n", nranks, count);
  return 0;
}
