// The GPU communicator's public API where it must answer without launching:
// creation refusals, calls on a communicator that does not exist, unknown
// handles. On a machine without a device every assertion is about the exact
// status it returns (CI); with a device the same refusals are checked on a real
// communicator of two ranks on device 0, plus those only a live one can give.
//
// Reductions are compiled for no dtype here (WEFT_RUNTIME_DTYPES 0): this test
// launches nothing, so it instantiates nothing but the byte-moving collectives.
#define WEFT_RUNTIME_DTYPES 0u
#include <catch2/catch.hpp>

#include <weft/runtime/collectives.cuh>

#include <cuda_runtime_api.h>

using weft::status;

namespace {
bool have_device() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
} // namespace

TEST_CASE("runtime api: creation refusals need no device", "[runtime]") {
  std::vector<std::unique_ptr<weft::comm>> cs;
  CHECK(weft::comm_init_all({}, cs) == status::invalid_argument);
  CHECK(cs.empty());
  weft::comm_config bad;
  bad.threads = 33;
  CHECK(weft::comm_init_all({0, 0}, cs, bad) == status::invalid_argument);
  bad = {};
  bad.slots.ll128_slot_bytes = 100; // not whole 128-byte lines
  CHECK(weft::comm_init_all({0}, cs, bad) == status::invalid_argument);
  // The direct window: at most 64 blocks, areas and LL payloads positive multiples of 64.
  bad = {};
  bad.direct_blocks = 65;
  CHECK(weft::comm_init_all({0}, cs, bad) == status::invalid_argument);
  bad.direct_blocks = -1;
  CHECK(weft::comm_init_all({0}, cs, bad) == status::invalid_argument);
  bad = {};
  bad.direct_area_bytes = 100;
  CHECK(weft::comm_init_all({0}, cs, bad) == status::invalid_argument);
  bad = {};
  bad.direct_ll_bytes = 0;
  CHECK(weft::comm_init_all({0}, cs, bad) == status::invalid_argument);
  bad.direct_blocks = 0; // no window: its sizes are not looked at
  CHECK(weft::comm_init_all({0}, cs, bad) != status::invalid_argument);
  cs.clear();
  // Over the scratch budget: refused before any CUDA call, with the numbers in last_error.
  weft::comm_config big;
  big.max_channels = 32;
  big.recursive_connections = true;
  REQUIRE(weft::comm::planned_scratch_bytes(8, big) > big.max_scratch_bytes);
  CHECK(weft::comm_init_all(std::vector<int>(8, 0), cs, big) == status::invalid_argument);
  CHECK(cs.empty());
  auto g = std::make_shared<weft::local_bootstrap_group>(1);
  weft::local_bootstrap b(g, 0);
  weft::comm c;
  CHECK(c.init(b, 0, big) == status::invalid_argument);
  CHECK(c.last_error().find("max_scratch_bytes") != std::string::npos);
  CHECK_FALSE(c.initialized());
  CHECK(c.scratch_bytes() == 0);
}

TEST_CASE("runtime api: the default configuration stays within 64 MiB", "[runtime]") {
  weft::comm_config cfg;
  CHECK(cfg.max_scratch_bytes == std::size_t(64) << 20);
  for (int n : {1, 2, 8, 72}) CHECK(weft::comm::planned_scratch_bytes(n, cfg) <= cfg.max_scratch_bytes);
  // Without the direct window: 4 channels x (1 MiB Simple + 128 KiB LL + 512 KiB LL128)
  // plus counters and descriptors.
  weft::comm_config no_window = cfg;
  no_window.direct_blocks = 0;
  std::size_t const ring = weft::comm::planned_scratch_bytes(2, no_window);
  CHECK(ring > std::size_t(4) * (1664u << 10));
  CHECK(ring < std::size_t(4) * (1664u << 10) + (64u << 10));
  // The default window: 4 blocks x (4 areas of 64 KiB + 2 parities x 2 senders x 2 x 1 KiB of LL lines),
  // then flags, cursors, the private LL staging (4 blocks x 2 ranks x 1 KiB) and pointer tables.
  std::size_t const window = weft::comm::planned_scratch_bytes(2, cfg) - ring;
  std::size_t const region = std::size_t(4) * (4 * (64u << 10) + 2 * 2 * 2 * (1u << 10));
  CHECK(window > region + (8u << 10));
  CHECK(window < region + (12u << 10));
  // It grows with the rank count through the LL slots (and the LL staging).
  weft::comm_config no_window72 = no_window;
  CHECK(weft::comm::planned_scratch_bytes(72, cfg) - weft::comm::planned_scratch_bytes(72, no_window72) >
        std::size_t(4) * (4 * (64u << 10) + 2 * 72 * 2 * (1u << 10)));
  cfg.recursive_connections = true;
  no_window.recursive_connections = true;
  CHECK(weft::comm::planned_scratch_bytes(4, no_window) > 4 * ring); // ring + 4 incoming per channel
}

TEST_CASE("runtime api: without a device, creation says so and holds nothing", "[runtime]") {
  if (have_device()) {
    SUCCEED("a device is present: covered by the next test");
    return;
  }
  std::vector<std::unique_ptr<weft::comm>> cs;
  CHECK(weft::comm_init_all({0, 0}, cs) == status::unsupported);
  CHECK(cs.empty());
  auto g = std::make_shared<weft::local_bootstrap_group>(1);
  weft::local_bootstrap b(g, 0);
  weft::comm c;
  CHECK(c.init(b, 0) == status::unsupported);
  CHECK(c.last_error() == "no CUDA device");
  CHECK(c.scratch_bytes() == 0);
}

TEST_CASE("runtime api: calls on a communicator that was never made", "[runtime]") {
  weft::comm c;
  float buf[64] = {};
  // Every collective refuses before touching the stream (which is not even a stream).
  auto* bogus = reinterpret_cast<cudaStream_t>(std::uintptr_t(0x10));
  CHECK(weft::all_reduce(c, buf, buf, 64, weft::dtype::f32, {}, bogus) == status::invalid_argument);
  CHECK(weft::all_gather(c, buf, buf, 8, weft::dtype::f32, bogus) == status::invalid_argument);
  CHECK(weft::reduce_scatter(c, buf, buf, 8, weft::dtype::f32, {}, bogus) == status::invalid_argument);
  CHECK(weft::broadcast(c, buf, buf, 64, weft::dtype::f32, 0, bogus) == status::invalid_argument);
  CHECK(weft::reduce(c, buf, buf, 64, weft::dtype::f32, {}, 0, bogus) == status::invalid_argument);
  CHECK(weft::all_gather(c, buf, buf, std::size_t(8), bogus) == status::invalid_argument); // typed
  CHECK(std::string(c.last_call_error()) == "communicator not initialized");
  weft::registered_buffer rb;
  CHECK(c.register_buffer(buf, sizeof buf, &rb) == status::invalid_argument);
  CHECK_FALSE(rb);
  CHECK(c.deregister_buffer(rb) == status::invalid_argument);
  weft::symmetric_buffer sb;
  CHECK(c.alloc_symmetric(1024, &sb) == status::invalid_argument);
  CHECK(c.free_symmetric(sb) == status::invalid_argument);
  bool ok = true;
  (void)c.device_view(sb, &ok);
  CHECK_FALSE(ok);
  weft::symmetric_options mo;
  mo.multicast = weft::multicast_use::require;
  CHECK(c.alloc_symmetric(1024, &sb, mo) == status::invalid_argument);
  CHECK_FALSE(sb);
  CHECK(sb.multicast == nullptr);
  std::string why;
  CHECK(c.multicast_status(sb, &why) == status::invalid_argument);
  CHECK(why == "unknown or freed symmetric buffer");
  CHECK(c.check_errors() == status::invalid_argument);
}

TEST_CASE("runtime api: a multicast member refuses handle types it cannot share", "[runtime][multicast]") {
  std::size_t size = 0, gran = 0;
  std::string why;
  // Checked before any device is asked, so these hold with or without a GPU.
  CHECK(weft::sym::multicast_member::round_size(0, 0, 4096, size, gran, why) == status::invalid_argument);
  CHECK(weft::sym::multicast_member::round_size(0, 2, 0, size, gran, why) == status::invalid_argument);
  CHECK(weft::sym::multicast_member::round_size(0, 2, 4096, size, gran, why, CU_MEM_HANDLE_TYPE_NONE) ==
        status::invalid_argument);
  CHECK(why.find("POSIX file descriptors or fabric handles") != std::string::npos);
  // Without a multicast-capable device (CI), a fabric or fd request is refused as unsupported.
  if (!weft::sym::multicast_region::supported(0)) {
    CHECK(weft::sym::multicast_member::round_size(0, 2, 4096, size, gran, why, CU_MEM_HANDLE_TYPE_FABRIC) ==
          status::unsupported);
    CHECK_FALSE(why.empty());
  }
  weft::sym::multicast_member m;
  CHECK(m.import(0, -1, 4096) == status::invalid_argument); // no descriptor
  CHECK(m.add_device() == status::invalid_argument);        // no object
  CHECK(m.bind(4096) == status::invalid_argument);
  CHECK(m.handle_type() == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
}

TEST_CASE("runtime api: refusals on a live communicator", "[runtime]") {
  if (!have_device()) {
    WARN("SKIPPED part: no CUDA device; the refusals above were checked without one");
    return;
  }
  std::vector<std::unique_ptr<weft::comm>> cs;
  REQUIRE(weft::comm_init_all({0, 0}, cs) == status::success);
  weft::comm& c = *cs[0];
  CHECK(c.scratch_bytes() > 0);
  CHECK(c.scratch_bytes() <= c.config().max_scratch_bytes);
  CHECK(c.direct_ready()); // two ranks on one device address each other: the window is made
  CHECK(c.scratch_bytes() >= weft::comm::planned_scratch_bytes(2, c.config()));
  float* d = nullptr;
  REQUIRE(cudaMalloc(&d, 1 << 20) == cudaSuccess);
  cudaStream_t s;
  REQUIRE(cudaStreamCreate(&s) == cudaSuccess);
  // Reductions are compiled out here: a valid call says unsupported, and launches nothing.
  CHECK(weft::all_reduce(c, d, d, 64, weft::dtype::f32, {}, s) == status::unsupported);
  CHECK(weft::all_reduce(c, nullptr, d, 64, weft::dtype::f32, {}, s) == status::invalid_argument);
  CHECK(std::string(c.last_call_error()) == "null buffer");
  CHECK(weft::all_gather(c, d, d, std::size_t(1) << 62, weft::dtype::f32, s) == status::invalid_argument);
  CHECK(weft::broadcast(c, d, d, 64, weft::dtype::f32, 2, s) == status::invalid_argument);
  weft::call_options o;
  o.direct = true;
  o.proto = weft::protocol::simple;
  CHECK(weft::all_gather(c, d + 64, d, 64, weft::dtype::f32, s, o) == status::invalid_argument); // not registered
  // Single-rank setup calls on a comm_init_all group are refused (they are collective).
  weft::registered_buffer rb;
  CHECK(c.register_buffer(d, 4096, &rb) == status::invalid_argument);
  // Graph capture: registration refuses a capturing stream, and holds nothing.
  std::vector<float*> bufs(2);
  for (auto& b : bufs) REQUIRE(cudaMalloc(&b, 4096) == cudaSuccess);
  std::vector<weft::registered_buffer> regs;
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed) == cudaSuccess);
  status const during = weft::register_buffers_all(weft::pointers(cs), {bufs[0], bufs[1]}, 4096, regs, s);
  cudaGraph_t graph;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  cudaGraphDestroy(graph);
  CHECK(during == status::unsupported);
  CHECK(c.registered_count() == 0);
  // Outside capture it works; deregistered handles are dead.
  REQUIRE(weft::register_buffers_all(weft::pointers(cs), {bufs[0], bufs[1]}, 4096, regs, s) == status::success);
  CHECK(c.peer_address(bufs[0], 4096, 1) != nullptr);
  CHECK(c.deregister_buffer(regs[0]) == status::success);
  CHECK(c.deregister_buffer(regs[0]) == status::invalid_argument);
  CHECK(c.peer_address(bufs[0], 4096, 1) == nullptr);
  CHECK(cs[1]->deregister_buffer(regs[1]) == status::success);
  for (auto& b : bufs) cudaFree(b);
  cudaStreamDestroy(s);
  cudaFree(d);
}
