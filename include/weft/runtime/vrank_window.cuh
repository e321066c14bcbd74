#pragma once
//! \file
//! Symmetric-memory windows for virtual ranks on one GPU: every rank's region,
//! barrier flags, block cursors, private LL staging and failure record live in
//! device memory of the current device, and rank r's `sym_view` addresses every
//! rank's region and flags directly (one device, so no peer mapping is needed).
//! For prototyping and testing the direct and NVLS kernels
//! (`runtime/nvls_multimem.cuh`) on a single GPU, the way `vrank_comm` serves the
//! ring family.
//!
//! ```
//! weft::vrank_window w;
//! std::string why;
//! if (w.init(4, &why) != weft::status::success) { /* why */ }
//! for (int r = 0; r < 4; ++r)   // each rank on its own stream, all launched before any sync
//!   weft::direct_all_reduce_kernel<<<blocks, 512, 0, stream[r]>>>(w.view(r), weft::direct_flavour::one_shot,
//!                                                                 op, in[r], out[r], count, status[r]);
//! ```
//! Load every kernel (`cudaFuncGetAttributes`) before the first launch: with
//! CUDA's lazy loading, a first launch may wait for the device to go idle while
//! another rank's kernel waits for it (see docs/runtime.md). Launch at most
//! `config::nblocks` CTAs per rank, and few enough that every rank's CTAs are
//! resident together.

#include <weft/algorithm/direct.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weft {

class vrank_window {
public:
  //! The layout of every rank's window.
  struct config {
    int nblocks = 4;                          //!< block slots (the most CTAs per rank a launch may use)
    std::size_t area_bytes = 64 << 10;        //!< one staging area (a multiple of 64)
    std::size_t ll_bytes = 1 << 10;           //!< LL payload per sender and round (a multiple of 64)
    std::uint64_t timeout_ns = 10'000'000'000ull; //!< bound of every wait
    std::uint32_t const* abort_flag = nullptr;    //!< device memory; nonzero stops every wait (may be null)
  };

  vrank_window() = default;
  vrank_window(vrank_window const&) = delete;
  vrank_window& operator=(vrank_window const&) = delete;
  ~vrank_window() { release(); }

  //! Allocate and zero the windows of `nranks` ranks on the current device (any
  //! earlier ones are released first, after a device synchronisation).
  status init(int nranks, std::string* why = nullptr) { return init(nranks, config{}, why); }
  status init(int nranks, config const& c, std::string* why = nullptr) {
    release();
    auto fail = [&](char const* what, cudaError_t e) {
      if (why) *why = std::string(what) + ": " + cudaGetErrorString(e);
      release();
      return status::cuda_error;
    };
    if (nranks < 1 || c.nblocks < 1 || c.area_bytes == 0 || c.area_bytes % 64 || c.ll_bytes == 0 || c.ll_bytes % 64) {
      if (why) *why = "vrank_window: nranks and nblocks >= 1; area_bytes and ll_bytes positive multiples of 64";
      return status::invalid_argument;
    }
    n_ = nranks;
    cfg_ = c;
    std::size_t const N = std::size_t(n_);
    for (auto* v : {&region_, &staging_}) v->assign(N, nullptr);
    flags_.assign(N, nullptr);
    cursors_.assign(N, nullptr);
    failure_.assign(N, nullptr);
    bufs_table_.assign(N, nullptr);
    flags_table_.assign(N, nullptr);
    std::size_t const region_b = sym_view::region_bytes(n_, c.nblocks, c.area_bytes, c.ll_bytes);
    std::size_t const flags_b = std::size_t(c.nblocks) * N * sizeof(std::uint64_t);
    std::size_t const cursors_b = std::size_t(c.nblocks) * sizeof(sym_cursor);
    std::size_t const staging_b = std::size_t(c.nblocks) * N * c.ll_bytes;
    sym_failure const no_failure{};
    cudaError_t e = cudaSuccess;
    for (std::size_t r = 0; r < N; ++r) {
      if ((e = alloc_zeroed(region_[r], region_b)) != cudaSuccess) return fail("region", e);
      if ((e = alloc_zeroed(flags_[r], flags_b)) != cudaSuccess) return fail("flags", e);
      if ((e = alloc_zeroed(cursors_[r], cursors_b)) != cudaSuccess) return fail("cursors", e);
      if ((e = alloc_zeroed(staging_[r], staging_b)) != cudaSuccess) return fail("staging", e);
      if ((e = cudaMalloc(&failure_[r], sizeof(sym_failure))) != cudaSuccess ||
          (e = cudaMemcpy(failure_[r], &no_failure, sizeof no_failure, cudaMemcpyHostToDevice)) != cudaSuccess)
        return fail("failure record", e);
    }
    // Each rank's own copy of the pointer tables (the kernels dereference them).
    for (std::size_t r = 0; r < N; ++r) {
      if ((e = cudaMalloc(&bufs_table_[r], N * sizeof(unsigned char*))) != cudaSuccess ||
          (e = cudaMemcpy(bufs_table_[r], region_.data(), N * sizeof(unsigned char*), cudaMemcpyHostToDevice)) != cudaSuccess)
        return fail("region table", e);
      if ((e = cudaMalloc(&flags_table_[r], N * sizeof(std::uint64_t*))) != cudaSuccess ||
          (e = cudaMemcpy(flags_table_[r], flags_.data(), N * sizeof(std::uint64_t*), cudaMemcpyHostToDevice)) != cudaSuccess)
        return fail("flag table", e);
    }
    if ((e = cudaDeviceSynchronize()) != cudaSuccess) return fail("cudaDeviceSynchronize", e);
    return status::success;
  }

  //! Free everything (after a device synchronisation: kernels may still use it).
  void release() noexcept {
    if (n_ == 0) return;
    cudaDeviceSynchronize();
    for (std::size_t i = 0; i < region_.size(); ++i) {
      cudaFree(region_[i]);
      cudaFree(staging_[i]);
      cudaFree(flags_[i]);
      cudaFree(cursors_[i]);
      cudaFree(failure_[i]);
      cudaFree(bufs_table_[i]);
      cudaFree(flags_table_[i]);
    }
    region_.clear();
    staging_.clear();
    flags_.clear();
    cursors_.clear();
    failure_.clear();
    bufs_table_.clear();
    flags_table_.clear();
    n_ = 0;
  }

  int size() const noexcept { return n_; }
  config const& layout() const noexcept { return cfg_; }

  //! Rank r's view (trivially copyable: a kernel argument).
  sym_view view(int r) const noexcept {
    std::size_t const i = std::size_t(r);
    sym_view v;
    v.bufs = bufs_table_[i];
    v.flags = flags_table_[i];
    v.cursors = cursors_[i];
    v.staging = staging_[i];
    v.failure = failure_[i];
    v.rank = r;
    v.nranks = n_;
    v.nblocks = cfg_.nblocks;
    v.area_bytes = cfg_.area_bytes;
    v.ll_bytes = cfg_.ll_bytes;
    v.bound = wait_bound{cfg_.timeout_ns, cfg_.abort_flag};
    return v;
  }

  //! The failed wait rank r recorded, as text ("" when none).
  std::string failure_of(int r) const {
    sym_failure f{};
    if (cudaMemcpy(&f, failure_[std::size_t(r)], sizeof f, cudaMemcpyDeviceToHost) != cudaSuccess)
      return " (failure record unreadable)";
    if (f.st == status::success) return "";
    return std::string(" (") + to_string(f.st) + " waiting for rank " + std::to_string(f.peer) +
           (f.ll ? ", LL line" : ", flag") + ", block " + std::to_string(f.block) + ", epoch " +
           std::to_string(f.epoch) + ", last seen " + std::to_string(f.seen) + ")";
  }

private:
  template <class T>
  static cudaError_t alloc_zeroed(T*& p, std::size_t bytes) {
    cudaError_t e = cudaMalloc(&p, bytes);
    return e != cudaSuccess ? e : cudaMemset(p, 0, bytes);
  }

  int n_ = 0;
  config cfg_{};
  std::vector<unsigned char*> region_, staging_;
  std::vector<std::uint64_t*> flags_;
  std::vector<sym_cursor*> cursors_;
  std::vector<sym_failure*> failure_;
  std::vector<unsigned char**> bufs_table_;
  std::vector<std::uint64_t**> flags_table_;
};

} // namespace weft
