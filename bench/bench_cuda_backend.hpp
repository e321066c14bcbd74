#pragma once
// weft-bench's CUDA backends: virtual ranks on one GPU (--backend cuda), and
// weft::comm ranks on one or more GPUs of this process (--backend cuda -g N).
//
//   weft-bench --backend cuda --ranks 4 -b 8 -e 64M -f 2
//
// The N ranks are partitions of device 0, not N GPUs: weft::vrank_comm runs
// every rank's part of a collective in one cooperative launch (CTAs per rank
// and channel), so every rank gets the same time (CUDA events around the timed
// iterations on one stream). Buffers are device memory; the check fills the
// inputs with the CPU backend's pattern (bench_check.hpp), copies the outputs
// back and counts #wrong with the same host reference.
//
// Implemented in bench_cuda_backend.cu, which CMake compiles into weft-bench
// (with WEFT_BENCH_HAVE_CUDA=1) only when WEFT_ENABLE_CUDA is ON; this header
// needs no CUDA. Compiled in: float, half and bfloat16 sum for the reductions;
// copies (all-gather, broadcast) on one unsigned type per element size.
#include "bench_args.hpp"
#include "bench_backend.hpp"

#include <weft/runtime/bootstrap.hpp>

#include <memory>
#include <string>

namespace weft_bench {

#if WEFT_BENCH_HAVE_CUDA
//! A CUDA backend of `o.nranks` virtual ranks on device 0, or null with `why`
//! (no CUDA device, an allocation or communicator that failed).
std::unique_ptr<backend> make_cuda_backend(options const& o, std::string& why);

//! --backend cuda -g N (nccl-tests' single-process multi-GPU mode), in
//! bench_comm_backend.cu: `o.nranks` ranks of weft::comm made by
//! weft::comm_init_all in this process, on `o.ngpus` GPUs (devices 0 .. N-1),
//! rank r on device r / (nranks / N): contiguous, nranks / N ranks per GPU (they
//! share it as partitions when more than one). Each rank has its own stream;
//! the stream-ordered collectives (weft/runtime/collectives.cuh) run one kernel
//! per rank and call; CUDA events time each rank on its stream; -G captures each
//! rank's timed iterations in a CUDA graph. Null with `why`: no CUDA device,
//! fewer devices than N, an allocation or communicator that failed.
std::unique_ptr<backend> make_comm_backend(options const& o, std::string& why);

//! --backend cuda under mpirun: this process is one weft::comm rank (comm::init
//! over `boot`, the launcher's bootstrap) on the GPU given by its rank among
//! the processes of its host, modulo the host's devices. Every process makes
//! the same bootstrap calls; every process gets the same outcome. Null with
//! `why`: a process without a CUDA device, an allocation or communicator that
//! failed (on any rank: named).
std::unique_ptr<backend> make_comm_process_backend(options const& o, std::unique_ptr<weft::comm_bootstrap> boot,
                                                  std::string& why);
#endif

} // namespace weft_bench
