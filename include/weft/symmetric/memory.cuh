#pragma once
//! \file
//! Memory every rank of a communicator can address: how one rank allocates or
//! exports a buffer, what it publishes about it (`export_blob`, a fixed-size
//! value sent through the bootstrap's all-gather), and how a peer maps it.
//!
//! | kind | allocation | travels as | peers are |
//! |---|---|---|---|
//! | `process_local` | cudaMalloc | the address | ranks of this process (peer access or the same device) |
//! | `host_mapped` | cudaHostAlloc (mapped, portable) | the address | ranks of this process without peer access (the fallback for connections) |
//! | `cuda_ipc` | cudaMalloc | a `cudaIpcMemHandle_t` | other processes on the node (legacy CUDA IPC) |
//! | `posix_fd` | cuMemCreate | a file descriptor (`exchange_fds`) | other processes on the node (VMM) |
//! | `fabric` | cuMemCreate | a `CUmemFabricHandle` | other nodes of an NVLink domain (NVL72; needs IMEX) |
//!
//! Every driver function comes from `sym::driver()` (run-time entry points).

#include <weft/core/status.hpp>
#include <weft/symmetric/driver.cuh>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

namespace weft::sym {

//! How a buffer is shared with peers (see the file comment).
enum class handle_kind : std::uint8_t { process_local, host_mapped, cuda_ipc, posix_fd, fabric };

inline char const* to_string(handle_kind k) noexcept {
  switch (k) {
    case handle_kind::process_local: return "process_local";
    case handle_kind::host_mapped: return "host_mapped";
    case handle_kind::cuda_ipc: return "cuda_ipc";
    case handle_kind::posix_fd: return "posix_fd";
    case handle_kind::fabric: return "fabric";
  }
  return "unknown";
}

//! What a communicator asks for between processes.
enum class handle_request : std::uint8_t {
  automatic, //!< fabric across nodes, else posix_fd where VMM supports it, else cuda_ipc
  cuda_ipc,
  posix_fd,
  fabric,
};

//! Who a rank is, as its peers need to know (fixed size: it travels in an all-gather).
struct rank_identity {
  std::uint64_t host = 0; //!< hash of the host name and boot id: equal on one machine
  std::int32_t pid = 0;
  std::int32_t device = 0;
  char bus_id[32] = {};   //!< PCI bus id of the device (finds it in a peer process)
};

inline std::uint64_t host_hash() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  std::string s = name;
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string boot;
  if (f >> boot) s += "/" + boot;
  std::uint64_t h = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

inline status identify(int device, rank_identity& id) {
  id = {};
  id.host = host_hash();
  id.pid = std::int32_t(::getpid());
  id.device = device;
  if (cudaDeviceGetPCIBusId(id.bus_id, int(sizeof id.bus_id), device) != cudaSuccess) return status::cuda_error;
  return status::success;
}

inline bool same_process(rank_identity const& a, rank_identity const& b) noexcept {
  return a.host == b.host && a.pid == b.pid;
}

//! The VMM handle type a kind exports as.
inline CUmemAllocationHandleType vmm_handle_type(handle_kind k) noexcept {
  return k == handle_kind::fabric ? CU_MEM_HANDLE_TYPE_FABRIC : CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
}

//! Whether device `ordinal` can export VMM memory as kind `k`.
inline bool vmm_supports(int ordinal, handle_kind k) {
  if (!driver().loaded) return false;
  int vmm = 0, h = 0;
  if (!device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, vmm) || !vmm) return false;
  CUdevice_attribute const a = k == handle_kind::fabric ? CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED
                                                        : CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED;
  return device_attribute(ordinal, a, h) && h != 0;
}

//! The kind used between processes for `req` on `device`; `multi_node` when
//! some peer is on another host.
inline status choose_kind(handle_request req, int device, bool multi_node, handle_kind& out) {
  switch (req) {
    case handle_request::cuda_ipc:
      if (multi_node) return status::unsupported;
      out = handle_kind::cuda_ipc;
      return status::success;
    case handle_request::posix_fd:
      if (multi_node || !vmm_supports(device, handle_kind::posix_fd)) return status::unsupported;
      out = handle_kind::posix_fd;
      return status::success;
    case handle_request::fabric:
      if (!vmm_supports(device, handle_kind::fabric)) return status::unsupported;
      out = handle_kind::fabric;
      return status::success;
    case handle_request::automatic: break;
  }
  if (multi_node) {
    if (!vmm_supports(device, handle_kind::fabric)) return status::unsupported;
    out = handle_kind::fabric;
  } else {
    out = vmm_supports(device, handle_kind::posix_fd) ? handle_kind::posix_fd : handle_kind::cuda_ipc;
  }
  return status::success;
}

//! One buffer this rank allocated (owned; `release` frees it).
struct local_alloc {
  handle_kind kind = handle_kind::process_local;
  void* ptr = nullptr;
  std::size_t bytes = 0; //!< asked for
  std::size_t size = 0;  //!< allocated (VMM granularity)
  int device = 0;
  CUmemGenericAllocationHandle vmm = 0;
  bool vmm_mapped = false;

  //! Allocate `bytes` of kind `k` on `dev`, zero-filled. VMM memory is made
  //! accessible to `dev` and to every device in `also` (peers in this process).
  status make(handle_kind k, int dev, std::size_t nbytes, std::vector<int> const& also = {}) {
    release();
    kind = k;
    device = dev;
    bytes = nbytes;
    if (cudaSetDevice(dev) != cudaSuccess) return status::cuda_error;
    if (k == handle_kind::host_mapped) {
      if (cudaHostAlloc(&ptr, nbytes, cudaHostAllocMapped | cudaHostAllocPortable) != cudaSuccess) return fail(status::out_of_memory);
      size = nbytes;
      std::memset(ptr, 0, nbytes);
      return status::success;
    }
    if (k == handle_kind::process_local || k == handle_kind::cuda_ipc) {
      if (cudaMalloc(&ptr, nbytes) != cudaSuccess) return fail(status::out_of_memory);
      size = nbytes;
      return cudaMemset(ptr, 0, nbytes) == cudaSuccess ? status::success : fail(status::cuda_error);
    }
    driver_api const& d = driver();
    if (!d.loaded) return status::unsupported;
    CUmemAllocationProp prop{};
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = dev;
    prop.requestedHandleTypes = vmm_handle_type(k);
    std::size_t gran = 0;
    if (d.mem_get_allocation_granularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) != CUDA_SUCCESS || !gran)
      return status::cuda_error;
    size = (nbytes + gran - 1) / gran * gran;
    if (d.mem_create(&vmm, size, &prop, 0) != CUDA_SUCCESS) return fail(status::out_of_memory);
    CUdeviceptr va = 0;
    if (d.mem_address_reserve(&va, size, gran, 0, 0) != CUDA_SUCCESS) return fail(status::out_of_memory);
    ptr = reinterpret_cast<void*>(va);
    if (d.mem_map(va, size, 0, vmm, 0) != CUDA_SUCCESS) return fail(status::cuda_error);
    vmm_mapped = true;
    std::vector<CUmemAccessDesc> acc;
    for (int x : also) {
      bool seen = x == dev;
      for (auto const& a : acc) seen = seen || a.location.id == x;
      if (!seen) acc.push_back({{CU_MEM_LOCATION_TYPE_DEVICE, x}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE});
    }
    acc.push_back({{CU_MEM_LOCATION_TYPE_DEVICE, dev}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE});
    if (d.mem_set_access(va, size, acc.data(), acc.size()) != CUDA_SUCCESS) return fail(status::cuda_error);
    return cudaMemset(ptr, 0, size) == cudaSuccess ? status::success : fail(status::cuda_error);
  }

  void release() {
    if (ptr) {
      cudaSetDevice(device);
      if (kind == handle_kind::host_mapped) cudaFreeHost(ptr);
      else if (kind == handle_kind::process_local || kind == handle_kind::cuda_ipc) cudaFree(ptr);
      else {
        driver_api const& d = driver();
        auto const va = reinterpret_cast<CUdeviceptr>(ptr);
        if (vmm_mapped) d.mem_unmap(va, size);
        d.mem_address_free(va, size);
      }
    }
    if (vmm) driver().mem_release(vmm);
    ptr = nullptr;
    vmm = 0;
    vmm_mapped = false;
    size = bytes = 0;
  }

private:
  status fail(status s) {
    release();
    return s;
  }
};

//! What a rank publishes about one buffer (trivially copyable, fixed size).
struct export_blob {
  handle_kind kind = handle_kind::process_local;
  rank_identity who{};
  std::uint64_t ptr = 0;    //!< the exporter's address (process_local, host_mapped)
  std::uint64_t offset = 0; //!< of the buffer inside the exported allocation
  std::uint64_t size = 0;   //!< of the exported allocation (VMM: what to map)
  std::uint64_t bytes = 0;  //!< of the buffer
  std::int32_t fd = -1;     //!< posix_fd: the exporter's descriptor (the number is meaningless elsewhere)
  unsigned char handle[64] = {}; //!< cudaIpcMemHandle_t or CUmemFabricHandle
};

//! Export a buffer: `p` of `bytes` on `who.device`, inside an allocation made
//! by `local_alloc` (pass it) or by the user (pass null; the allocation is
//! found through the driver). Where `kind` is process_local or host_mapped the
//! address travels as is. A posix_fd export opens a descriptor the caller
//! closes after the exchange.
inline status export_buffer(handle_kind kind, void* p, std::size_t bytes, local_alloc const* own, rank_identity const& who,
                            export_blob& out) {
  out = {};
  out.kind = kind;
  out.who = who;
  out.ptr = reinterpret_cast<std::uintptr_t>(p);
  out.bytes = bytes;
  if (kind == handle_kind::process_local || kind == handle_kind::host_mapped) return status::success;
  driver_api const& d = driver();
  void* base = p;
  std::size_t size = bytes;
  if (!own) {
    if (!d.loaded) return status::unsupported;
    CUdeviceptr b = 0;
    std::size_t s = 0;
    if (d.mem_get_address_range(&b, &s, reinterpret_cast<CUdeviceptr>(p)) != CUDA_SUCCESS) return status::invalid_argument;
    base = reinterpret_cast<void*>(b);
    size = s;
  } else {
    base = own->ptr;
    size = own->size;
  }
  out.offset = std::uint64_t(static_cast<char*>(p) - static_cast<char*>(base));
  out.size = size;
  if (kind == handle_kind::cuda_ipc) {
    cudaIpcMemHandle_t h;
    if (cudaIpcGetMemHandle(&h, base) != cudaSuccess) return status::unsupported; // not cudaMalloc memory
    static_assert(sizeof h <= sizeof out.handle, "IPC handle size");
    std::memcpy(out.handle, &h, sizeof h);
    return status::success;
  }
  CUmemGenericAllocationHandle h = own ? own->vmm : 0;
  bool retained = false;
  if (!h) {
    if (d.mem_retain_allocation_handle(&h, base) != CUDA_SUCCESS) return status::unsupported; // not VMM memory
    retained = true;
  }
  CUresult r;
  if (kind == handle_kind::fabric) {
    CUmemFabricHandle fh;
    r = d.mem_export(&fh, h, CU_MEM_HANDLE_TYPE_FABRIC, 0);
    static_assert(sizeof fh <= sizeof out.handle, "fabric handle size");
    if (r == CUDA_SUCCESS) std::memcpy(out.handle, &fh, sizeof fh);
  } else {
    int fd = -1;
    r = d.mem_export(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0);
    out.fd = fd;
  }
  if (retained) d.mem_release(h);
  return r == CUDA_SUCCESS ? status::success : status::unsupported; // allocated without that handle type
}

//! A peer's buffer as this rank addresses it (owned; `release` unmaps it).
struct peer_map {
  void* ptr = nullptr;  //!< the peer's buffer in this process
  void* base = nullptr; //!< what was opened or mapped (null: nothing to undo)
  std::size_t size = 0;
  CUmemGenericAllocationHandle vmm = 0;
  handle_kind kind = handle_kind::process_local;
  int device = 0;

  void release() {
    if (base) {
      cudaSetDevice(device);
      if (kind == handle_kind::cuda_ipc) cudaIpcCloseMemHandle(base);
      else {
        driver_api const& d = driver();
        d.mem_unmap(reinterpret_cast<CUdeviceptr>(base), size);
        d.mem_address_free(reinterpret_cast<CUdeviceptr>(base), size);
      }
    }
    if (vmm) driver().mem_release(vmm);
    *this = {};
  }
};

//! Map peer buffer `b` for this rank (`me`); `fd` is this process's descriptor
//! for a posix_fd export (from `exchange_fds`), else ignored.
inline status import_buffer(export_blob const& b, rank_identity const& me, int fd, peer_map& out) {
  out = {};
  out.kind = b.kind;
  out.device = me.device;
  if (b.kind == handle_kind::process_local || b.kind == handle_kind::host_mapped || same_process(b.who, me)) {
    if (!same_process(b.who, me)) return status::invalid_argument; // an address from another process
    out.ptr = reinterpret_cast<void*>(std::uintptr_t(b.ptr));
    return status::success;
  }
  if (cudaSetDevice(me.device) != cudaSuccess) return status::cuda_error;
  if (b.kind == handle_kind::cuda_ipc) {
    cudaIpcMemHandle_t h;
    std::memcpy(&h, b.handle, sizeof h);
    if (cudaIpcOpenMemHandle(&out.base, h, cudaIpcMemLazyEnablePeerAccess) != cudaSuccess) return status::cuda_error;
    out.ptr = static_cast<char*>(out.base) + b.offset;
    return status::success;
  }
  driver_api const& d = driver();
  if (!d.loaded) return status::unsupported;
  CUresult r;
  if (b.kind == handle_kind::fabric) {
    CUmemFabricHandle fh;
    std::memcpy(&fh, b.handle, sizeof fh);
    r = d.mem_import(&out.vmm, &fh, CU_MEM_HANDLE_TYPE_FABRIC);
  } else {
    if (fd < 0) return status::invalid_argument;
    r = d.mem_import(&out.vmm, reinterpret_cast<void*>(std::intptr_t(fd)), CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  }
  if (r != CUDA_SUCCESS) return status::cuda_error;
  CUdeviceptr va = 0;
  if (d.mem_address_reserve(&va, b.size, 0, 0, 0) != CUDA_SUCCESS) {
    out.release();
    return status::out_of_memory;
  }
  out.base = reinterpret_cast<void*>(va);
  out.size = b.size;
  if (d.mem_map(va, b.size, 0, out.vmm, 0) != CUDA_SUCCESS) {
    d.mem_address_free(va, b.size);
    out.base = nullptr;
    out.release();
    return status::cuda_error;
  }
  CUmemAccessDesc acc{{CU_MEM_LOCATION_TYPE_DEVICE, me.device}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
  if (d.mem_set_access(va, b.size, &acc, 1) != CUDA_SUCCESS) {
    out.release();
    return status::cuda_error;
  }
  out.ptr = reinterpret_cast<void*>(va + b.offset);
  return status::success;
}

} // namespace weft::sym
