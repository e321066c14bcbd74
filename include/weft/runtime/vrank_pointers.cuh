#pragma once
//! \file
//! How the virtual-rank harnesses (`vrank_comm`, `vrank_interpreter`) hand every
//! rank's buffer pointers to a kernel: one kernel argument carries them and a
//! small kernel writes the device tables the collective reads. Stream-ordered
//! and capturable in a CUDA graph, unlike a copy from pageable host memory.
//! (The kernels are templates so that every translation unit including this
//! header shares one definition.)

#include <weft/proto/connection.hpp>

#include <cuda_runtime_api.h>

#include <vector>

namespace weft {

//! The most ranks a virtual-rank harness serves (their pointers are one kernel argument).
inline constexpr int vrank_max_ranks = 128;

namespace detail {

//! Every rank's send and recv pointer, as one kernel argument: send of rank r at
//! p[r], recv at p[nranks + r].
struct vrank_ptr_block {
  void* p[2 * vrank_max_ranks];
};

//! Writes `table` (`count` entries) and points every connection k's direct
//! buffer at its receiver's output (`b.p[nranks + receivers[k]]`; none when
//! `nconns` is 0).
template <class Unused = void>
__global__ void vrank_bind_pointers(void** table, int count, connection* conns, int const* receivers, int nconns,
                                    vrank_ptr_block b, int nranks) {
  for (int i = int(threadIdx.x); i < count; i += int(blockDim.x)) table[i] = b.p[i];
  for (int k = int(threadIdx.x); k < nconns; k += int(blockDim.x)) conns[k].direct_buf = b.p[nranks + receivers[k]];
}

//! Launches `vrank_bind_pointers` on `stream`: `table` gets every rank's send
//! pointer, then every rank's recv pointer (2 x send.size() entries, at most
//! vrank_max_ranks ranks, which the caller checks).
template <class T>
cudaError_t bind_vrank_pointers(void** table, std::vector<T const*> const& send, std::vector<T*> const& recv,
                                connection* conns, int const* receivers, int nconns, cudaStream_t stream) {
  vrank_ptr_block b{};
  int nranks = int(send.size());
  for (int r = 0; r < nranks; ++r) {
    b.p[r] = const_cast<T*>(send[std::size_t(r)]);
    b.p[nranks + r] = recv[std::size_t(r)];
  }
  int count = 2 * nranks;
  void* args[] = {&table, &count, &conns, &receivers, &nconns, &b, &nranks};
  return cudaLaunchKernel(reinterpret_cast<void const*>(&vrank_bind_pointers<>), dim3(1), dim3(256), args, 0, stream);
}

} // namespace detail
} // namespace weft
