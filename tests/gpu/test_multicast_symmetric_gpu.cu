// Symmetric memory as multicast memory (symmetric_options::multicast) and the
// device-side API over it (symmetric/block_multicast.cuh), on one GPU.
//
// - Ranks sharing device 0 (comm_init_all({0, 0})): `require` is refused with
//   the reason; `prefer` gives plain symmetric memory (multicast null, the
//   reason in multicast_status), and block_all_reduce_multicast /
//   block_all_gather_multicast then run the plain algorithms: exact against a
//   host reference, 3 back-to-back rounds.
// - One rank on device 0, where it supports multicast: `require` gives a
//   multicast address; the all-reduce (fp32, bf16 sums, counts with and without
//   a tail past the last 16-byte vector) and the all-gather return the input
//   exactly (one rank: each sum is the value itself). Negative control: a handle
//   whose multicast address is shifted by one slot makes the all-gather's
//   multimem.st land in the next slot, so the output is that of an empty slot
//   (zeros) and the next slot holds the input -- the data really went through
//   the multicast address. Where device 0 lacks multicast, `require` must be
//   refused and the test says that the switch path did not run.
#include "gpu_check.hpp"

#include <weft/group/cuda_groups.cuh>
#include <weft/runtime/collectives.cuh>
#include <weft/runtime/comm.cuh>
#include <weft/symmetric/block_multicast.cuh>
#include <weft/symmetric/multicast.cuh>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../runtime/runtime_test_values.hpp"

using weft::status;

namespace {

using runtime_test::make;
using runtime_test::val;
float input(int rank, int round, std::size_t i) {
  return float(int((i * 7 + std::size_t(rank) * 5 + std::size_t(round) * 3) % 17) - 8);
}

// Block r is rank r (one slot, `slot`): `rounds` all-reduces and all-gathers of
// rank r's row, each round's input offset by the round.
template <class T>
__global__ void mc_block_collectives(weft::sym::device_handle const* hs, int slot, T const* in, T* reduced, T* gathered,
                                     std::size_t count, int rounds, int* st) {
  int const rank = int(blockIdx.x);
  weft::sym::device_handle const h = hs[rank];
  weft::cuda_cta g;
  status worst = status::success;
  for (int k = 0; k < rounds && worst == status::success; ++k) {
    std::size_t const row = (std::size_t(k) * std::size_t(h.nranks) + std::size_t(rank)) * count;
    worst = weft::sym::block_all_reduce_multicast(g, h, slot, in + row, reduced + row, count, weft::op::sum<T>{});
    if (worst == status::success)
      worst = weft::sym::block_all_gather_multicast(g, h, slot, in + row, gathered + row * std::size_t(h.nranks), count);
  }
  if (g.thread_rank() == 0) st[blockIdx.x] = int(worst);
}

// The negative control's kernel: one all-gather only (an all-reduce before it
// would leave the input in this slot's staging).
__global__ void mc_gather_only(weft::sym::device_handle const* hs, float const* in, float* gathered, std::size_t count,
                               int* st) {
  weft::cuda_cta g;
  status const s = weft::sym::block_all_gather_multicast(g, hs[0], 0, in, gathered, count);
  if (g.thread_rank() == 0) st[0] = int(s);
}

template <class T>
struct dev_vec {
  T* p = nullptr;
  explicit dev_vec(std::size_t n) { WEFT_TEST_CUDA(cudaMalloc(&p, n * sizeof(T) + 16)); }
  ~dev_vec() { cudaFree(p); }
};

// Run the kernel over every rank of `cs` (one block each, cooperative) and check
// the results exactly against a host reference.
template <class T>
void run_checked(std::vector<std::unique_ptr<weft::comm>> const& cs, std::vector<weft::symmetric_buffer> const& sb,
                 std::size_t count, int slot, char const* label, std::size_t shift = 0) {
  int const n = int(cs.size());
  int const rounds = 3;
  INFO(label << ": n=" << n << " count=" << count << " T=" << sizeof(T));
  std::vector<weft::sym::device_handle> hs(std::size_t(n), weft::sym::device_handle{});
  for (int r = 0; r < n; ++r) {
    bool ok = false;
    hs[std::size_t(r)] = cs[std::size_t(r)]->device_view(sb[std::size_t(r)], &ok);
    REQUIRE(ok);
    REQUIRE(hs[std::size_t(r)].mc_data == sb[std::size_t(r)].multicast);
    REQUIRE(weft::sym::stage_elems<T>(hs[std::size_t(r)]) >= count * std::size_t(n));
  }
  std::size_t const rows = std::size_t(rounds) * std::size_t(n);
  std::vector<T> hin(rows * count);
  for (int k = 0; k < rounds; ++k)
    for (int r = 0; r < n; ++r)
      for (std::size_t i = 0; i < count; ++i)
        hin[(std::size_t(k) * std::size_t(n) + std::size_t(r)) * count + i] = make<T>(input(r, k, i));
  dev_vec<weft::sym::device_handle> dh(hs.size());
  dev_vec<T> din(hin.size()), dred(hin.size()), dgat(hin.size() * std::size_t(n));
  dev_vec<int> dst{std::size_t(n)};
  WEFT_TEST_CUDA(cudaMemset(dst.p, 0xff, std::size_t(n) * sizeof(int)));
  WEFT_TEST_CUDA(cudaMemcpy(dh.p, hs.data(), hs.size() * sizeof hs[0], cudaMemcpyHostToDevice));
  // `shift` elements into the allocation (16 spare bytes): an input that is not 16-byte aligned.
  T* inp = din.p + shift;
  WEFT_TEST_CUDA(cudaMemcpy(inp, hin.data(), hin.size() * sizeof(T), cudaMemcpyHostToDevice));
  int r_slot = slot, r_rounds = rounds;
  void* args[] = {&dh.p, &r_slot, &inp, &dred.p, &dgat.p, &count, &r_rounds, &dst.p};
  WEFT_TEST_CUDA(cudaLaunchCooperativeKernel(reinterpret_cast<void const*>(&mc_block_collectives<T>), dim3(unsigned(n)),
                                             dim3(256), args, 0, nullptr));
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  std::vector<int> st(static_cast<std::size_t>(n));
  WEFT_TEST_CUDA(cudaMemcpy(st.data(), dst.p, st.size() * sizeof(int), cudaMemcpyDeviceToHost));
  for (int x : st) CHECK(x == int(status::success));
  std::vector<T> red(hin.size()), gat(hin.size() * std::size_t(n));
  WEFT_TEST_CUDA(cudaMemcpy(red.data(), dred.p, red.size() * sizeof(T), cudaMemcpyDeviceToHost));
  WEFT_TEST_CUDA(cudaMemcpy(gat.data(), dgat.p, gat.size() * sizeof(T), cudaMemcpyDeviceToHost));
  std::size_t wrong = 0;
  for (int k = 0; k < rounds; ++k)
    for (int r = 0; r < n; ++r) {
      std::size_t const row = std::size_t(k) * std::size_t(n) + std::size_t(r);
      for (std::size_t i = 0; i < count; ++i) {
        float want = 0;
        for (int q = 0; q < n; ++q) want += input(q, k, i);
        wrong += val(red[row * count + i]) != want;
        for (int q = 0; q < n; ++q) wrong += val(gat[(row * std::size_t(n) + std::size_t(q)) * count + i]) != input(q, k, i);
      }
    }
  INFO(wrong << " wrong elements");
  CHECK(wrong == 0);
}

} // namespace

TEST_CASE("symmetric multicast memory: ranks sharing a GPU are refused or fall back", "[gpu][multicast][runtime]") {
  std::vector<std::unique_ptr<weft::comm>> cs;
  REQUIRE(weft::comm_init_all({0, 0}, cs) == status::success);
  std::vector<weft::symmetric_buffer> sb;
  weft::symmetric_options o;
  o.max_blocks = 2;
  o.multicast = weft::multicast_use::require;
  status const s = weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, o, sb);
  INFO("require: " << weft::to_string(s) << ": " << cs[0]->last_error());
  CHECK(s == status::unsupported);
  CHECK(cs[0]->last_error().find("multicast memory") != std::string::npos);
  CHECK_FALSE(sb[0]);
  CHECK(cs[0]->symmetric_bytes() == 0); // nothing held after the refusal

  o.multicast = weft::multicast_use::prefer;
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, o, sb) == status::success);
  std::string why;
  CHECK(cs[0]->multicast_status(sb[0], &why) == status::unsupported);
  std::printf("prefer on ranks sharing device 0: plain symmetric memory (%s)\n", why.c_str());
  CHECK(!why.empty());
  CHECK(sb[0].multicast == nullptr);
  CHECK(sb[1].multicast == nullptr);
  for (std::size_t count : {std::size_t(1), std::size_t(1000), std::size_t(4099)}) {
    run_checked<float>(cs, sb, count, 1, "fallback fp32");
    run_checked<weft::bfloat16_t>(cs, sb, count, 0, "fallback bf16");
  }

  std::vector<weft::symmetric_buffer> plain;
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), 4096, 1, plain) == status::success);
  CHECK(cs[1]->multicast_status(plain[1], &why) == status::unsupported);
  CHECK(why.find("not asked for") != std::string::npos);
  o.multicast = static_cast<weft::multicast_use>(7);
  CHECK(weft::alloc_symmetric_all(weft::pointers(cs), 4096, o, sb) == status::invalid_argument);
}

TEST_CASE("symmetric multicast memory: one rank through the switch", "[gpu][multicast][runtime]") {
  std::vector<std::unique_ptr<weft::comm>> cs;
  REQUIRE(weft::comm_init_all({0}, cs) == status::success);
  std::vector<weft::symmetric_buffer> sb;
  weft::symmetric_options o;
  o.max_blocks = 2;
  o.multicast = weft::multicast_use::require;
  std::string support;
  bool const can = weft::sym::multicast_region::supported(0, &support);
  status const s = weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, o, sb);
  INFO("require on one rank: " << weft::to_string(s) << ": " << cs[0]->last_error());
  if (!can) {
    CHECK(s == status::unsupported);
    std::printf("SKIPPED (switch path of the device-side API NOT exercised): device 0: %s\n", support.c_str());
    return;
  }
  REQUIRE(s == status::success);
  REQUIRE(sb[0].multicast != nullptr);
  CHECK(cs[0]->multicast_status(sb[0]) == status::success);
  CHECK(cs[0]->symmetric_bytes() >= std::size_t(1) << 20);
  for (std::size_t count : {std::size_t(1), std::size_t(7), std::size_t(4096), std::size_t(8195), std::size_t(65536)}) {
    run_checked<float>(cs, sb, count, 0, "switch fp32");
    run_checked<weft::bfloat16_t>(cs, sb, count, 1, "switch bf16");
  }
  // Inputs that are not 16-byte aligned: the all-gather multicasts from its own staged piece.
  run_checked<float>(cs, sb, 4096, 0, "switch fp32, input 4 bytes off alignment", 1);
  run_checked<weft::bfloat16_t>(cs, sb, 4096, 1, "switch bf16, input 6 bytes off alignment", 3);
  std::printf("one-rank device-side all-reduce and all-gather through multicast memory: fp32 and bf16, exact "
              "(aligned and unaligned inputs)\n");

  // Negative control: a fresh buffer, the multicast address shifted by one slot.
  std::vector<weft::symmetric_buffer> fresh;
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, o, fresh) == status::success);
  weft::sym::device_handle h = cs[0]->device_view(fresh[0]);
  REQUIRE(h.mc_data != nullptr);
  std::size_t const count = 4096; // whole 16-byte vectors
  std::size_t const slot_bytes = weft::sym::stage_elems<float>(h) * sizeof(float);
  h.mc_data = static_cast<unsigned char*>(h.mc_data) + slot_bytes;
  std::vector<float> hin(count);
  for (std::size_t i = 0; i < count; ++i) hin[i] = input(0, 9, i) + 100.0f; // no zeros
  dev_vec<weft::sym::device_handle> dh(1);
  dev_vec<float> din(count), dgat(count);
  dev_vec<int> dst(1);
  WEFT_TEST_CUDA(cudaMemcpy(dh.p, &h, sizeof h, cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemcpy(din.p, hin.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemset(dgat.p, 0x7f, count * sizeof(float)));
  mc_gather_only<<<1, 256>>>(dh.p, din.p, dgat.p, count, dst.p);
  WEFT_TEST_CUDA(cudaGetLastError());
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  int st = -1;
  WEFT_TEST_CUDA(cudaMemcpy(&st, dst.p, sizeof st, cudaMemcpyDeviceToHost));
  CHECK(st == int(status::success));
  std::vector<float> gat(count), next(count);
  WEFT_TEST_CUDA(cudaMemcpy(gat.data(), dgat.p, count * sizeof(float), cudaMemcpyDeviceToHost));
  WEFT_TEST_CUDA(cudaMemcpy(next.data(), static_cast<unsigned char*>(fresh[0].local) + slot_bytes, count * sizeof(float),
                            cudaMemcpyDeviceToHost));
  std::size_t zeros = 0, landed = 0;
  for (std::size_t i = 0; i < count; ++i) {
    zeros += gat[i] == 0.0f;
    landed += std::memcmp(&next[i], &hin[i], sizeof(float)) == 0;
  }
  INFO("all-gather output zeros: " << zeros << "/" << count << ", input found in the next slot: " << landed);
  CHECK(zeros == count);  // this slot's own copy was never written through its unicast address
  CHECK(landed == count); // the multimem.st landed where the (shifted) multicast address points
  std::printf("negative control: the all-gather wrote through the multicast address (shifted address moved the data)\n");

  // An input 4 bytes off alignment, alone on a fresh (zero) buffer: the all-gather
  // must first copy it into its own piece, else it would multicast that piece's zeros.
  std::vector<weft::symmetric_buffer> fresh2;
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(cs), 1 << 20, o, fresh2) == status::success);
  weft::sym::device_handle const h2 = cs[0]->device_view(fresh2[0]);
  REQUIRE(h2.mc_data != nullptr);
  WEFT_TEST_CUDA(cudaMemcpy(dh.p, &h2, sizeof h2, cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemcpy(din.p + 1, hin.data(), (count - 1) * sizeof(float), cudaMemcpyHostToDevice));
  WEFT_TEST_CUDA(cudaMemset(dgat.p, 0x7f, count * sizeof(float)));
  mc_gather_only<<<1, 256>>>(dh.p, din.p + 1, dgat.p, count - 4, dst.p); // count - 4: whole vectors inside din
  WEFT_TEST_CUDA(cudaGetLastError());
  WEFT_TEST_CUDA(cudaDeviceSynchronize());
  WEFT_TEST_CUDA(cudaMemcpy(&st, dst.p, sizeof st, cudaMemcpyDeviceToHost));
  CHECK(st == int(status::success));
  WEFT_TEST_CUDA(cudaMemcpy(gat.data(), dgat.p, count * sizeof(float), cudaMemcpyDeviceToHost));
  std::size_t unaligned_wrong = 0;
  for (std::size_t i = 0; i < count - 4; ++i) unaligned_wrong += std::memcmp(&gat[i], &hin[i], sizeof(float)) != 0;
  INFO("unaligned input: " << unaligned_wrong << " wrong of " << count - 4);
  CHECK(unaligned_wrong == 0);
  REQUIRE(cs[0]->free_symmetric(fresh2[0]) == status::success);
  REQUIRE(cs[0]->free_symmetric(fresh[0]) == status::success);
  REQUIRE(cs[0]->free_symmetric(sb[0]) == status::success);
  CHECK(cs[0]->symmetric_bytes() == 0);
}

namespace {

// Every rank's input of the zero-copy checks: small integers, exact in fp32 and bf16 sums.
float zc_input(int rank, std::size_t i) { return float(int((i * 3 + std::size_t(rank) * 11) % 23) - 11); }

struct zc_group {
  std::vector<std::unique_ptr<weft::comm>> cs;
  std::vector<cudaStream_t> streams;
  explicit zc_group(std::vector<int> const& devs) {
    REQUIRE(weft::comm_init_all(devs, cs) == status::success);
    for (std::size_t r = 0; r < devs.size(); ++r) {
      WEFT_TEST_CUDA(cudaSetDevice(devs[r]));
      cudaStream_t s = nullptr;
      WEFT_TEST_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams.push_back(s);
    }
  }
  ~zc_group() {
    for (cudaStream_t s : streams) cudaStreamDestroy(s);
  }
  int size() const { return int(cs.size()); }
  void sync() {
    for (std::size_t r = 0; r < cs.size(); ++r) {
      WEFT_TEST_CUDA(cudaSetDevice(cs[r]->device()));
      WEFT_TEST_CUDA(cudaStreamSynchronize(streams[r]));
      std::string why;
      status const st = cs[r]->check_errors(&why);
      INFO("rank " << r << ": " << why);
      REQUIRE(st == status::success);
    }
  }
};

} // namespace

TEST_CASE("nvls through weft::comm, zero-copy on multicast symmetric memory", "[gpu][multicast][runtime]") {
  int ndev = 0;
  WEFT_TEST_CUDA(cudaGetDeviceCount(&ndev));
  std::vector<int> devs;
  for (int d = 0; d < ndev; ++d) devs.push_back(d);
  zc_group g(devs);
  int const n = g.size();
  std::string why;
  if (g.cs[0]->nvls_status(&why) != status::success) {
    std::printf("SKIPPED (zero-copy NVLS NOT exercised) on %d GPU(s): %s\n", n, why.c_str());
    return;
  }
  std::size_t const max_count = std::size_t(1) << 18; // per rank
  std::vector<weft::symmetric_buffer> sb;
  weft::symmetric_options o;
  o.max_blocks = 1;
  o.multicast = weft::multicast_use::require;
  INFO("alloc: " << g.cs[0]->last_error());
  REQUIRE(weft::alloc_symmetric_all(weft::pointers(g.cs), max_count * std::size_t(n) * sizeof(float), o, sb) ==
          status::success);
  std::vector<float*> plain(std::size_t(n), nullptr);
  for (int r = 0; r < n; ++r) {
    WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
    WEFT_TEST_CUDA(cudaMalloc(&plain[std::size_t(r)], max_count * std::size_t(n) * sizeof(float)));
  }
  weft::call_options co;
  co.algo = weft::algorithm::nvls;
  auto fill = [&](float* p, int r, std::size_t elems) {
    std::vector<float> h(elems);
    for (std::size_t i = 0; i < elems; ++i) h[i] = zc_input(r, i);
    WEFT_TEST_CUDA(cudaMemcpy(p, h.data(), elems * sizeof(float), cudaMemcpyHostToDevice));
  };
  auto read = [&](float const* p, std::size_t elems) {
    std::vector<float> h(elems);
    WEFT_TEST_CUDA(cudaMemcpy(h.data(), p, elems * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
  };
  // count 4 * k: whole 16-byte vectors (zero-copy); 7: staged through the window.
  for (std::size_t count : {std::size_t(4), std::size_t(7), std::size_t(4096), std::size_t(70004), max_count}) {
    bool const zero_copy = count * sizeof(float) % 16 == 0;
    INFO("count " << count << (zero_copy ? " (zero-copy)" : " (staged)"));
    // Variant 4's send lies in the same multicast buffer, after recv: the sums are read
    // from the sends through the switch and nothing is copied.
    std::size_t const send_off = (count + 3) / 4 * 4;
    for (int variant = 0; variant < 5; ++variant) { // all-reduce in place, out of place, all-gather, reduce-scatter,
                                                    // all-reduce out of place with send and recv multicast
      if (variant == 4 && send_off + count > max_count * std::size_t(n)) continue;
      for (int r = 0; r < n; ++r) {
        WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
        auto* mine = static_cast<float*>(sb[std::size_t(r)].local);
        if (variant == 0) fill(mine, r, count);
        if (variant == 1 || variant == 2) fill(plain[std::size_t(r)], r, count);
        if (variant == 3) fill(mine, r, count * std::size_t(n));
        if (variant == 4) fill(mine + send_off, r, count);
      }
      WEFT_TEST_CUDA(cudaDeviceSynchronize());
      for (int r = 0; r < n; ++r) {
        weft::comm& c = *g.cs[std::size_t(r)];
        auto* mine = static_cast<float*>(sb[std::size_t(r)].local);
        float* pl = plain[std::size_t(r)];
        cudaStream_t s = g.streams[std::size_t(r)];
        status st = status::internal_error;
        if (variant == 0) st = weft::all_reduce(c, mine, mine, count, weft::op::sum<float>{}, s, co);
        if (variant == 1) st = weft::all_reduce(c, pl, mine, count, weft::op::sum<float>{}, s, co);
        if (variant == 2) st = weft::all_gather(c, pl, mine, count, s, co);
        if (variant == 3) st = weft::reduce_scatter(c, mine, pl, count, weft::op::sum<float>{}, s, co);
        if (variant == 4) st = weft::all_reduce(c, mine + send_off, mine, count, weft::op::sum<float>{}, s, co);
        INFO("variant " << variant << ": " << c.last_call_error());
        REQUIRE(st == status::success);
        CHECK(c.last_nvls_zero_copy() == zero_copy);
        // Out of place from plain memory the send is copied in; from multicast memory it is not.
        CHECK(c.last_nvls_copied_in() == (zero_copy && variant == 1));
      }
      g.sync();
      std::size_t wrong = 0;
      for (int r = 0; r < n; ++r) {
        WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
        auto const* mine = static_cast<float const*>(sb[std::size_t(r)].local);
        if (variant <= 1 || variant == 4) {
          std::vector<float> h = read(mine, count);
          for (std::size_t i = 0; i < count; ++i) {
            float want = 0;
            for (int q = 0; q < n; ++q) want += zc_input(q, i);
            wrong += h[i] != want;
          }
        } else if (variant == 2) {
          std::vector<float> h = read(mine, count * std::size_t(n));
          for (std::size_t i = 0; i < h.size(); ++i) wrong += h[i] != zc_input(int(i / count), i % count);
        } else {
          std::vector<float> h = read(plain[std::size_t(r)], count);
          for (std::size_t i = 0; i < count; ++i) {
            float want = 0;
            for (int q = 0; q < n; ++q) want += zc_input(q, std::size_t(r) * count + i);
            wrong += h[i] != want;
          }
        }
      }
      INFO("variant " << variant << ": " << wrong << " wrong");
      CHECK(wrong == 0);
    }
  }
  // Captured in a CUDA graph (out of place: each replay computes the same sums), replayed 20 times.
  std::size_t const count = 65536;
  std::vector<cudaGraphExec_t> execs(std::size_t(n), nullptr);
  for (int r = 0; r < n; ++r) {
    WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
    fill(plain[std::size_t(r)], r, count);
    WEFT_TEST_CUDA(cudaDeviceSynchronize());
    cudaStream_t s = g.streams[std::size_t(r)];
    cudaGraph_t graph = nullptr;
    WEFT_TEST_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    status const st = weft::all_reduce(*g.cs[std::size_t(r)], plain[std::size_t(r)],
                                       static_cast<float*>(sb[std::size_t(r)].local), count, weft::op::sum<float>{}, s, co);
    WEFT_TEST_CUDA(cudaStreamEndCapture(s, &graph));
    REQUIRE(st == status::success);
    CHECK(g.cs[std::size_t(r)]->last_nvls_zero_copy());
    WEFT_TEST_CUDA(cudaGraphInstantiate(&execs[std::size_t(r)], graph, 0));
    WEFT_TEST_CUDA(cudaGraphDestroy(graph));
  }
  for (int rep = 0; rep < 20; ++rep)
    for (int r = 0; r < n; ++r) {
      WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
      WEFT_TEST_CUDA(cudaGraphLaunch(execs[std::size_t(r)], g.streams[std::size_t(r)]));
    }
  g.sync();
  std::size_t wrong = 0;
  for (int r = 0; r < n; ++r) {
    WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
    std::vector<float> h = read(static_cast<float const*>(sb[std::size_t(r)].local), count);
    for (std::size_t i = 0; i < count; ++i) {
      float want = 0;
      for (int q = 0; q < n; ++q) want += zc_input(q, i);
      wrong += h[i] != want;
    }
    cudaGraphExecDestroy(execs[std::size_t(r)]);
  }
  CHECK(wrong == 0);
  std::printf("zero-copy NVLS on %d GPU(s): all-reduce (in place, out of place from plain and from multicast memory), "
              "all-gather, reduce-scatter and 20 graph replays exact; unaligned counts staged\n", n);
  for (int r = 0; r < n; ++r) {
    WEFT_TEST_CUDA(cudaSetDevice(devs[std::size_t(r)]));
    cudaFree(plain[std::size_t(r)]);
    REQUIRE(g.cs[std::size_t(r)]->free_symmetric(sb[std::size_t(r)]) == status::success);
  }
}
