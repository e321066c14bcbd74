// The ring family in bf16 and int32 on one GPU with virtual ranks (one cooperative launch, one CTA per
// rank and channel): the same algorithm source as the CPU-team tests, checked
// against a host reference.
#include "ring_gpu_check.cuh"

using namespace ring_gpu_test;

TEST_CASE("gpu ring: bf16 sum and int32 max", "[gpu][ring]") {
  unsigned seed = 77;
  for (int n : {3, 4}) {
    weft::vrank_comm comm;
    REQUIRE(comm.init(n) == weft::status::success);
    for (coll c : colls)
      for (weft::protocol p : protos)
        for (std::size_t count : {std::size_t(5), std::size_t(70001)}) {
          weft::vrank_options o;
          o.proto = p;
          o.nchannels = 2;
          check<weft::bfloat16_t>(comm, c, n, count, o, false, 1, ++seed);
          check<std::int32_t>(comm, c, n, count, o, true, 2, ++seed);
        }
  }
}

