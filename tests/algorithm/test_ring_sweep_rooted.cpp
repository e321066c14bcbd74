// Full sweeps of the chain broadcast and reduce (see ring_sweep.hpp), and every
// root at 1..6 ranks.
#include "ring_sweep.hpp"

using namespace ring_test;

namespace {
constexpr unsigned rooted = bit(coll::broadcast) | bit(coll::reduce);
}

TEST_CASE("ring sweep: broadcast", "[ring][sweep]") {
  full_sweep<rooted>(coll::broadcast);
}

TEST_CASE("ring sweep: reduce", "[ring][sweep]") {
  full_sweep<rooted>(coll::reduce);
}

TEST_CASE("ring sweep: broadcast and reduce from every root, 1..6 ranks", "[ring][sweep][root]") {
  comm_cache env;
  sweep_tally t;
  std::uint64_t seed = 90000;
  for (coll cl : {coll::broadcast, coll::reduce})
    for (int n = 1; n <= 6; ++n)
      for (int root = 0; root < n; ++root)
        for (weft::protocol p : all_protocols)
          for (std::size_t count : {std::size_t(1), std::size_t(16 * n + 3), std::size_t(4099)})
            for (bool ip : {false, true}) {
              ring_case c;
              c.c = cl;
              c.nranks = n;
              c.count = count;
              c.proto = p;
              c.nchannels = 1 + int(count % 3);
              c.in_place = ip;
              c.root = root;
              c.null_unused = !ip && count == 1;
              c.o = count == 4099 ? opk::max : opk::sum;
              c.seed = ++seed;
              require_ring<float, sum_max, rooted>(c, env, t);
            }
  INFO(t.cases << " cases");
  CHECK(t.failures == 0);
}

// The rail-rotated ring on 4 nodes x 8 ranks (32 threads; not in the
// ThreadSanitizer build): 8 and 11 channels, so every channel's ring differs
// and channels 8..10 repeat rings 0..2; every collective, every root class.
TEST_CASE("ring sweep: the rail-rotated ring on 4 nodes x 8", "[ring][sweep][rail]") {
  weft::cpu_comm_config cfg;
  cfg.max_channels = 11;
  cfg.nslots = 2;
  cfg.simple_slot_bytes = 1024;
  cfg.ll_slot_bytes = 256;
  cfg.ll128_slot_bytes = 1024;
  comm_cache env(cfg);
  sweep_tally t;
  std::uint64_t seed = 95000;
  for (coll cl : all_colls)
    for (int nch : {8, 11})
      for (weft::protocol p : all_protocols) {
        ring_case c;
        c.c = cl;
        c.nranks = 32;
        c.count = 16 * 32 + 5 + std::size_t(nch) * 100;
        c.proto = p;
        c.nchannels = nch;
        c.in_place = nch == 8;
        c.root = (nch * 7 + int(p)) % 32;
        c.ring_local = 8;
        c.seed = ++seed;
        require_ring<float, sum_max>(c, env, t);
      }
  CHECK(t.failures == 0);
}
