// Fused all-reduce + residual add + RMSNorm in bf16, the step that follows a
// tensor-parallel row-parallel layer: every rank holds a partial sum of the
// hidden states; the sum over ranks is added to the residual stream and
// normalised. One kernel per rank does all three: a block all-reduces one token
// row over symmetric memory (weft::sym::block_all_reduce), adds the residual and
// normalises with a CUB block reduction of the sum of squares.
//
// It is checked against the unfused path -- weft::all_reduce on a stream, then a
// separate residual-add + RMSNorm kernel -- and against a host reference in
// double. Ranks use one GPU each where the GPUs can address each other, else
// they share device 0. Without a CUDA device it prints SKIPPED and exits 77.
#define WEFT_RUNTIME_RECURSIVE 0 // the unfused reference uses the ring: compile nothing else
#include <weft/group/cuda_groups.cuh>
#include <weft/runtime/collectives.cuh>
#include <weft/symmetric/block.hpp>

#include <cub/block/block_reduce.cuh>

#include <cmath>
#include <cstdio>
#include <vector>

namespace {

using bf16 = weft::bfloat16_t;
constexpr int threads = 256;
constexpr float eps = 1e-6f;

// x = row + residual (written back as the new residual), out = x / rms(x) * gamma.
__device__ void residual_rmsnorm_row(bf16 const* row, bf16* residual, bf16 const* gamma, bf16* out, int hidden) {
  using reduce = cub::BlockReduce<float, threads>;
  __shared__ typename reduce::TempStorage tmp;
  __shared__ float inv_rms;
  float sumsq = 0;
  for (int i = int(threadIdx.x); i < hidden; i += threads) {
    float const x = row[i].to_float() + residual[i].to_float();
    residual[i] = bf16(x);
    float const xr = residual[i].to_float(); // normalise what the residual stream keeps
    sumsq += xr * xr;
  }
  float const total = reduce(tmp).Sum(sumsq);
  if (threadIdx.x == 0) inv_rms = rsqrtf(total / float(hidden) + eps);
  __syncthreads();
  for (int i = int(threadIdx.x); i < hidden; i += threads)
    out[i] = bf16(residual[i].to_float() * inv_rms * gamma[i].to_float());
  __syncthreads(); // tmp and inv_rms are reused by the next row
}

// example-begin fused-kernel
// One rank's kernel: block `slot` handles rows slot, slot + gridDim.x, ... Every
// rank launches the same grid, so block `slot` meets the same slot on every rank.
__global__ void __launch_bounds__(threads)
    fused_allreduce_rmsnorm(weft::sym::device_handle h, bf16 const* partial, bf16* residual, bf16 const* gamma, bf16* out,
                            int tokens, int hidden, int* status_out) {
  weft::cuda_cta g;
  int const slot = int(blockIdx.x);
  weft::status st = weft::status::success;
  for (int t = slot; t < tokens && st == weft::status::success; t += int(gridDim.x)) {
    std::size_t const row = std::size_t(t) * std::size_t(hidden);
    // The sum over ranks lands in out's row (fp32 accumulation, rank order: identical on every rank).
    st = weft::sym::block_all_reduce(g, h, slot, partial + row, out + row, std::size_t(hidden), weft::op::sum<bf16>{});
    if (st == weft::status::success) residual_rmsnorm_row(out + row, residual + row, gamma, out + row, hidden);
  }
  if (threadIdx.x == 0 && st != weft::status::success) atomicExch(status_out, int(st));
}
// example-end fused-kernel

__global__ void residual_rmsnorm(bf16 const* reduced, bf16* residual, bf16 const* gamma, bf16* out, int tokens, int hidden) {
  for (int t = int(blockIdx.x); t < tokens; t += int(gridDim.x)) {
    std::size_t const row = std::size_t(t) * std::size_t(hidden);
    residual_rmsnorm_row(reduced + row, residual + row, gamma, out + row, hidden);
  }
}

float value(int rank, int t, int i) { return float(((t * 131 + i * 7 + rank * 29) % 97) - 48) / 32.0f; }

#define CHECK_CUDA(x)                                                                              \
  do {                                                                                             \
    cudaError_t e_ = (x);                                                                          \
    if (e_ != cudaSuccess) {                                                                       \
      std::printf("FAILED: %s -> %s\n", #x, cudaGetErrorString(e_));                               \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

} // namespace

int main() {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    std::printf("SKIPPED: no CUDA device present; the fused all-reduce + RMSNorm example did not run\n");
    return 77;
  }
  int const tokens = 64, hidden = 4096, blocks = 8;
  int const nranks = ndev >= 2 ? (ndev < 4 ? ndev : 4) : 2;
  std::vector<int> devices(std::size_t(nranks), 0);
  if (ndev >= 2)
    for (int r = 0; r < nranks; ++r) devices[std::size_t(r)] = r;

  // example-begin setup
  std::vector<std::unique_ptr<weft::comm>> comms;
  weft::status s = weft::comm_init_all(devices, comms);
  if (s == weft::status::success && !comms[0]->peer_access()) { // no peer access: share one GPU instead
    devices.assign(devices.size(), 0);
    s = weft::comm_init_all(devices, comms);
  }
  if (s != weft::status::success) {
    std::printf("FAILED: comm_init_all: %s\n", weft::to_string(s));
    return 1;
  }
  // Staging for `blocks` slots of one bf16 row each, on every rank.
  std::vector<weft::symmetric_buffer> sym;
  s = weft::alloc_symmetric_all(weft::pointers(comms), std::size_t(blocks) * hidden * sizeof(bf16), blocks, sym);
  // example-end setup
  if (s != weft::status::success) {
    std::printf("FAILED: alloc_symmetric_all: %s (%s)\n", weft::to_string(s), comms[0]->last_error().c_str());
    return 1;
  }
  std::printf("%d ranks on devices", nranks);
  for (int d : devices) std::printf(" %d", d);
  std::printf("; scratch %zu bytes per communicator; transport %s\n", comms[0]->scratch_bytes(), comms[0]->transport());

  std::size_t const n = std::size_t(tokens) * std::size_t(hidden);
  std::vector<bf16> hres(n), hgamma(static_cast<std::size_t>(hidden));
  for (std::size_t i = 0; i < n; ++i) hres[i] = bf16(value(99, int(i / hidden), int(i % hidden)));
  for (int i = 0; i < hidden; ++i) hgamma[std::size_t(i)] = bf16(0.5f + float(i % 17) / 16.0f);
  struct rank_bufs {
    bf16 *partial, *res_fused, *res_unfused, *gamma, *out_fused, *reduced, *out_unfused;
    int* st;
    cudaStream_t stream;
  };
  std::vector<rank_bufs> rb(static_cast<std::size_t>(nranks));
  std::vector<std::vector<bf16>> hpart(static_cast<std::size_t>(nranks), std::vector<bf16>(n));
  for (int r = 0; r < nranks; ++r) {
    rank_bufs& b = rb[std::size_t(r)];
    CHECK_CUDA(cudaSetDevice(devices[std::size_t(r)]));
    for (bf16** p : {&b.partial, &b.res_fused, &b.res_unfused, &b.out_fused, &b.reduced, &b.out_unfused})
      CHECK_CUDA(cudaMalloc(p, n * sizeof(bf16)));
    CHECK_CUDA(cudaMalloc(&b.gamma, std::size_t(hidden) * sizeof(bf16)));
    CHECK_CUDA(cudaMalloc(&b.st, sizeof(int)));
    CHECK_CUDA(cudaMemset(b.st, 0, sizeof(int)));
    CHECK_CUDA(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
    for (std::size_t i = 0; i < n; ++i) hpart[std::size_t(r)][i] = bf16(value(r, int(i / hidden), int(i % hidden)));
    CHECK_CUDA(cudaMemcpy(b.partial, hpart[std::size_t(r)].data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.res_fused, hres.data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.res_unfused, hres.data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(b.gamma, hgamma.data(), std::size_t(hidden) * sizeof(bf16), cudaMemcpyHostToDevice));
  }
  // Ranks sharing one GPU: load every kernel before launching any. Under CUDA's
  // lazy loading (the default), a kernel's first launch may wait for the device
  // to go idle -- and a rank's collective kernel, already running, waits for the
  // next rank's, which is queued behind that launch: a hang until the timeout.
  cudaFuncAttributes fa{};
  CHECK_CUDA(cudaFuncGetAttributes(&fa, fused_allreduce_rmsnorm));
  CHECK_CUDA(cudaFuncGetAttributes(&fa, residual_rmsnorm));
  // Fused: one kernel per rank, each on its own stream (the ranks' blocks must run together).
  for (int r = 0; r < nranks; ++r) {
    rank_bufs& b = rb[std::size_t(r)];
    CHECK_CUDA(cudaSetDevice(devices[std::size_t(r)]));
    weft::sym::device_handle const h = comms[std::size_t(r)]->device_view(sym[std::size_t(r)]);
    fused_allreduce_rmsnorm<<<blocks, threads, 0, b.stream>>>(h, b.partial, b.res_fused, b.gamma, b.out_fused, tokens, hidden, b.st);
    CHECK_CUDA(cudaGetLastError());
  }
  // The fused kernels' own verdict first, so a failure names the right phase.
  for (int r = 0; r < nranks; ++r) {
    CHECK_CUDA(cudaSetDevice(devices[std::size_t(r)]));
    CHECK_CUDA(cudaStreamSynchronize(rb[std::size_t(r)].stream));
    int st = 0;
    CHECK_CUDA(cudaMemcpy(&st, rb[std::size_t(r)].st, sizeof(int), cudaMemcpyDeviceToHost));
    if (st != 0) {
      std::printf("FAILED: rank %d's fused kernel returned %s\n", r, weft::to_string(weft::status(st)));
      return 1;
    }
  }
  // Unfused: the stream-ordered all-reduce, then the same residual + RMSNorm in a second kernel.
  for (int r = 0; r < nranks; ++r) {
    rank_bufs& b = rb[std::size_t(r)];
    CHECK_CUDA(cudaSetDevice(devices[std::size_t(r)]));
    s = weft::all_reduce(*comms[std::size_t(r)], b.partial, b.reduced, n, weft::op::sum<bf16>{}, b.stream);
    if (s != weft::status::success) {
      std::printf("FAILED: weft::all_reduce: %s\n", weft::to_string(s));
      return 1;
    }
    residual_rmsnorm<<<blocks, threads, 0, b.stream>>>(b.reduced, b.res_unfused, b.gamma, b.out_unfused, tokens, hidden);
    CHECK_CUDA(cudaGetLastError());
  }
  for (int r = 0; r < nranks; ++r) {
    CHECK_CUDA(cudaSetDevice(devices[std::size_t(r)]));
    CHECK_CUDA(cudaStreamSynchronize(rb[std::size_t(r)].stream));
    std::string why;
    if (comms[std::size_t(r)]->check_errors(&why) != weft::status::success) {
      std::printf("FAILED: rank %d: %s\n", r, why.c_str());
      return 1;
    }
  }
  // Host reference in double (bf16 inputs; the residual rounded to bf16 as the kernels do).
  double worst_fused = 0, worst_unfused = 0, worst_between = 0;
  bool identical_across_ranks = true;
  std::vector<bf16> f0(n), f(n), u(n);
  CHECK_CUDA(cudaMemcpy(f0.data(), rb[0].out_fused, n * sizeof(bf16), cudaMemcpyDeviceToHost));
  for (int r = 0; r < nranks; ++r) {
    CHECK_CUDA(cudaMemcpy(f.data(), rb[std::size_t(r)].out_fused, n * sizeof(bf16), cudaMemcpyDeviceToHost));
    CHECK_CUDA(cudaMemcpy(u.data(), rb[std::size_t(r)].out_unfused, n * sizeof(bf16), cudaMemcpyDeviceToHost));
    for (std::size_t i = 0; i < n; ++i) identical_across_ranks = identical_across_ranks && f[i].bits == f0[i].bits;
    for (int t = 0; t < tokens; ++t) {
      std::vector<double> x(static_cast<std::size_t>(hidden));
      double ss = 0;
      for (int i = 0; i < hidden; ++i) {
        std::size_t const k = std::size_t(t) * std::size_t(hidden) + std::size_t(i);
        float sum = 0; // fp32, rank order, rounded to bf16: the all-reduce's result
        for (int q = 0; q < nranks; ++q) sum += hpart[std::size_t(q)][k].to_float();
        float const xr = bf16(bf16(sum).to_float() + hres[k].to_float()).to_float();
        x[std::size_t(i)] = xr;
        ss += double(xr) * xr;
      }
      double const inv = 1.0 / std::sqrt(ss / hidden + double(eps));
      for (int i = 0; i < hidden; ++i) {
        std::size_t const k = std::size_t(t) * std::size_t(hidden) + std::size_t(i);
        double const want = x[std::size_t(i)] * inv * hgamma[std::size_t(i)].to_float();
        double const tol = 1.0 / 64 * std::fabs(want) + 1e-2; // a few bf16 ulps
        worst_fused = std::fmax(worst_fused, std::fabs(f[k].to_float() - want) / tol);
        worst_unfused = std::fmax(worst_unfused, std::fabs(u[k].to_float() - want) / tol);
        worst_between = std::fmax(worst_between, std::fabs(f[k].to_float() - u[k].to_float()) / tol);
      }
    }
    int st = 0;
    CHECK_CUDA(cudaMemcpy(&st, rb[std::size_t(r)].st, sizeof(int), cudaMemcpyDeviceToHost));
    if (st != 0) {
      std::printf("FAILED: rank %d's fused kernel returned %s\n", r, weft::to_string(weft::status(st)));
      return 1;
    }
  }
  std::printf("worst error / tolerance: fused %.3f, unfused %.3f, fused vs unfused %.3f; fused identical on every rank: %s\n",
              worst_fused, worst_unfused, worst_between, identical_across_ranks ? "yes" : "no");
  bool const ok = worst_fused <= 1 && worst_unfused <= 1 && worst_between <= 2 && identical_across_ranks;
  for (auto& b : rb) {
    for (bf16* p : {b.partial, b.res_fused, b.res_unfused, b.gamma, b.out_fused, b.reduced, b.out_unfused}) cudaFree(p);
    cudaFree(b.st);
    cudaStreamDestroy(b.stream);
  }
  comms.clear(); // destroying the communicators frees their symmetric memory and connections
  std::printf(ok ? "PASSED\n" : "FAILED\n");
  return ok ? 0 : 1;
}
