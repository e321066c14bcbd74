// Recursive doubling and Rabenseifner all-reduce on one GPU with virtual ranks (one cooperative launch, one CTA per
// rank and channel): the same algorithm source as the CPU-team tests, checked
// against a host reference.
#include "ring_gpu_check.cuh"

using namespace ring_gpu_test;

TEST_CASE("gpu recursive doubling and Rabenseifner all-reduce (fp32 sum)", "[gpu][recursive]") {
  unsigned seed = 500;
  for (int n : {1, 2, 3, 4, 5, 8}) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(n) == weft::status::success);
    for (weft::algorithm a : {weft::algorithm::recursive_doubling, weft::algorithm::rabenseifner})
      for (weft::protocol p : protos)
        for (std::size_t count : {std::size_t(0), std::size_t(1), std::size_t(4099), std::size_t(300001)})
          for (bool ip : {false, true}) {
            weft::vrank_options o;
            o.algo = a;
            o.proto = p;
            o.nchannels = 2;
            INFO("algo " << weft::to_string(a));
            check<float>(comm, coll::all_reduce, n, count, o, ip, 0, ++seed);
          }
  }
}
