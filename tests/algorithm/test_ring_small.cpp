// The ring family at small sizes on the CPU team: every collective x every
// protocol x 1-2 channels x 1, 2, 3, 5 ranks, in place and out of place, on a
// communicator with default slots and on one with two tiny slots per connection
// (so every case moves many steps and the sender waits for credit). Small
// enough to run under ThreadSanitizer, which checks the protocols' memory orders.
#include "ring_cases.hpp"

using namespace ring_test;

namespace {

// Two slots of a few hundred bytes: 128 floats per Simple step, 32 per LL step, 240 per LL128 step.
weft::cpu_comm_config tight_config() {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 2;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 512;
  cfg.ll_slot_bytes = 256;
  cfg.ll128_slot_bytes = 1024;
  return cfg;
}

// Case k of a sweep: sum, or max on odd k.
ring_case small_case(coll cl, std::size_t k, int n, std::size_t count, weft::protocol p, int nch) {
  ring_case c;
  c.c = cl;
  c.o = (k % 2 == 1) ? opk::max : opk::sum;
  c.nranks = n;
  c.count = count;
  c.proto = p;
  c.nchannels = nch;
  return c;
}

void small_sweep(weft::cpu_comm_config cfg, std::vector<std::size_t> const& extra_counts) {
  comm_cache env(cfg);
  sweep_tally t;
  std::uint64_t seed = 100;
  for (coll cl : all_colls)
    for (weft::protocol p : all_protocols)
      for (int nch : {1, 2})
        for (int n : {1, 2, 3, 5}) {
          std::vector<std::size_t> counts = {0, 1, 7, std::size_t(16 * n + 3)};
          counts.insert(counts.end(), extra_counts.begin(), extra_counts.end());
          for (std::size_t k = 0; k < counts.size(); ++k)
            for (bool ip : {false, true}) {
              ring_case c = small_case(cl, k, n, counts[k], p, nch);
              c.in_place = ip;
              c.root = int(k + std::size_t(nch)) % n;
              c.seed = ++seed;
              require_ring<float, sum_max>(c, env, t);
            }
        }
  CHECK(t.failures == 0);
}

} // namespace

TEST_CASE("ring: every collective and protocol at small sizes", "[ring][small]") {
  small_sweep(weft::cpu_comm_config{}, {1000});
}

TEST_CASE("ring: every collective and protocol with two tiny slots (many steps, credit waits)", "[ring][small]") {
  small_sweep(tight_config(), {1000});
}

TEST_CASE("ring: all-gather direct at small sizes", "[ring][small][direct]") {
  comm_cache env(tight_config());
  sweep_tally t;
  std::uint64_t seed = 7000;
  for (int nch : {1, 2})
    for (int n : {1, 2, 3, 5})
      for (std::size_t count :
           {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(16 * n + 3), std::size_t(700)})
        for (bool ip : {false, true}) {
          ring_case c;
          c.c = coll::all_gather;
          c.nranks = n;
          c.count = count;
          c.nchannels = nch;
          c.in_place = ip;
          c.direct = true;
          c.seed = ++seed;
          require_ring<float, sum_only>(c, env, t);
        }
  CHECK(t.failures == 0);
}

TEST_CASE("ring: misaligned buffers and null unused pointers", "[ring][small]") {
  comm_cache env(tight_config());
  sweep_tally t;
  std::uint64_t seed = 9000;
  for (coll cl : all_colls)
    for (weft::protocol p : all_protocols)
      for (int n : {2, 3}) {
        ring_case c;
        c.c = cl;
        c.nranks = n;
        c.count = 333;
        c.proto = p;
        c.nchannels = 2;
        c.root = n - 1;
        c.misalign = true;
        c.seed = ++seed;
        require_ring<float, sum_max>(c, env, t);
        if (has_root(cl)) {
          c.misalign = false;
          c.null_unused = true;
          c.seed = ++seed;
          require_ring<float, sum_max>(c, env, t);
        }
      }
  CHECK(t.failures == 0);
}

TEST_CASE("ring: broadcast and reduce from every root", "[ring][small][root]") {
  comm_cache env(tight_config());
  sweep_tally t;
  std::uint64_t seed = 11000;
  for (coll cl : {coll::broadcast, coll::reduce})
    for (weft::protocol p : all_protocols)
      for (int n : {2, 3, 4})
        for (int root = 0; root < n; ++root) {
          ring_case c;
          c.c = cl;
          c.nranks = n;
          c.count = 301;
          c.proto = p;
          c.nchannels = 1 + root % 2;
          c.in_place = root % 2 == 1;
          c.root = root;
          c.seed = ++seed;
          require_ring<float, sum_max>(c, env, t);
        }
  CHECK(t.failures == 0);
}

// The rail-rotated ring (coll_options::ring_local): nodes x local ranks with 1
// to local channels (so the channels' rings differ), every collective and
// protocol, two tiny slots; plain-ring calls are interleaved on the same
// communicator, so the connections serve both orders back to back.
TEST_CASE("ring: the rail-rotated ring at small sizes", "[ring][small][rail]") {
  weft::cpu_comm_config cfg = tight_config();
  cfg.max_channels = 4;
  comm_cache env(cfg);
  sweep_tally t;
  std::uint64_t seed = 9000;
  struct shape {
    int nodes, local;
  };
  for (shape const sh : {shape{2, 2}, shape{2, 3}, shape{3, 2}, shape{2, 4}})
    for (coll cl : all_colls)
      for (weft::protocol p : all_protocols)
        for (int nch : {2, sh.local}) {
          int const n = sh.nodes * sh.local;
          std::vector<std::size_t> const counts = {1, std::size_t(16 * n + 3), 300};
          for (std::size_t k = 0; k < counts.size(); ++k) {
            ring_case c = small_case(cl, k, n, counts[k], p, nch);
            c.in_place = (k + std::size_t(nch)) % 2 == 0;
            c.root = int(k * 3 + std::size_t(nch)) % n;
            c.ring_local = k == 1 ? 0 : sh.local; // one plain call between rotated ones
            c.seed = ++seed;
            require_ring<float, sum_max>(c, env, t);
          }
        }
  // The direct all-gather writes into each channel's own next rank.
  for (int nch : {1, 3})
    for (bool ip : {false, true}) {
      ring_case c;
      c.c = coll::all_gather;
      c.nranks = 6;
      c.count = 700;
      c.nchannels = nch;
      c.in_place = ip;
      c.direct = true;
      c.ring_local = 3;
      c.seed = ++seed;
      require_ring<float, sum_only>(c, env, t);
    }
  CHECK(t.failures == 0);
}

TEST_CASE("ring: a rail-rotated layout that is not whole nodes is refused", "[ring][small][rail]") {
  weft::cpu_team team(6);
  weft::cpu_comm comm(6);
  std::vector<std::vector<float>> buf(6, std::vector<float>(64, 1.0f));
  weft::coll_options o;
  o.ring_local = 4; // 6 ranks are not nodes of 4
  std::vector<weft::status> per_rank;
  weft::status const st = team.run(
      [&](weft::team_rank& tr) {
        auto& b = buf[std::size_t(tr.rank())];
        return weft::all_reduce(comm, tr, b.data(), b.data(), b.size(), weft::op::sum<float>{}, o);
      },
      &per_rank);
  CHECK(st == weft::status::invalid_argument);
  CHECK(comm.last_error(0).find("multiple of ring_local") != std::string::npos);
  CHECK(buf[0][0] == 1.0f); // nothing moved
  CHECK(comm.healthy());
}
