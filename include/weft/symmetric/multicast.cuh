#pragma once
//! \file
//! `multicast_region`: a CUDA multicast object (NVLS, sm_90 with NVSwitch) over
//! one physical allocation per device, for the devices of one process (the
//! devices of a `comm_init_all` group). Each device gets
//!
//! - a unicast address: its own memory (`cuMemCreate`), mapped for it and, by
//!   default, for the other devices of the region (peer reads of a `sym_view`);
//! - a multicast address: the multicast object mapped for that device alone. A
//!   `multimem.st` there writes every device's memory at the same offset; a
//!   `multimem.ld_reduce` reads every device's memory and returns the sum.
//!
//! A device appears once: a multicast object cannot hold the same device twice,
//! so ranks that share a GPU are refused (`status::unsupported`). A device without
//! CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED, or a driver without the multicast
//! entry points, is refused the same way, with the reason in `last_error()`.
//! Sizes are rounded up to the multicast and allocation granularities.
//!
//! `multicast_region` serves one process: its handles are created exportable as
//! nothing (or, on request, as POSIX file descriptors) and are never exported.
//! Between processes of one host (one GPU each), `multicast_member` is one
//! process's part of a shared object: the root creates it and exports it as a
//! file descriptor, the others import it, and each binds memory of its own.
//! Across the nodes of an NVLink domain (NVL72, with IMEX) the object and the
//! memory are shared as fabric handles instead (`create_fabric`,
//! `import_fabric`): 64 bytes that any bootstrap carries.
//! The destructor unbinds, unmaps and releases, in that order; the caller must
//! make sure no kernel still uses the addresses (synchronise first). Every driver
//! function comes from `sym::driver()`.

#include <weft/core/status.hpp>
#include <weft/symmetric/driver.cuh>
#include <weft/symmetric/memory.cuh>

#include <cuda.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace weft::sym {

namespace detail {
//! Unmap (if mapped) and free a reserved range of `size` bytes; leaves `va` 0.
inline void unmap_range(CUdeviceptr& va, bool& mapped, std::size_t size) noexcept {
  driver_api const& d = driver();
  if (va) {
    if (mapped) d.mem_unmap(va, size);
    d.mem_address_free(va, size);
  }
  va = 0;
  mapped = false;
}

//! "cuX failed: CUDA_ERROR_Y (n)".
inline std::string describe_call(char const* call, CUresult r) {
  char const* name = nullptr;
  if (driver().get_error_name) driver().get_error_name(r, &name);
  return std::string(call) + " failed: " + (name ? name : "CUresult") + " (" + std::to_string(int(r)) + ")";
}

//! Pinned device memory on `ordinal`, exportable as `ht`.
inline CUmemAllocationProp allocation_prop(int ordinal, CUmemAllocationHandleType ht) {
  CUmemAllocationProp ap{};
  ap.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  ap.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  ap.location.id = ordinal;
  ap.requestedHandleTypes = ht;
  return ap;
}

//! The properties of a multicast object of `ndevices` devices, `size` bytes, exportable as `ht`.
inline CUmulticastObjectProp multicast_prop(int ndevices, std::size_t size, CUmemAllocationHandleType ht) {
  CUmulticastObjectProp mp{};
  mp.numDevices = static_cast<unsigned int>(ndevices);
  mp.size = size;
  mp.handleTypes = static_cast<unsigned long long>(ht);
  return mp;
}

//! What the size of a multicast object of `ndevices` devices (handles `ht`) is
//! rounded up to: the lcm of its granularity and the allocation granularity of
//! each of `ordinals`. `why` names a failed driver call.
inline status multicast_granularity(int ndevices, std::size_t bytes, CUmemAllocationHandleType ht,
                                    std::vector<int> const& ordinals, std::size_t& gran, std::string& why) {
  driver_api const& d = driver();
  CUmulticastObjectProp const mp = multicast_prop(ndevices, bytes, ht);
  gran = 0;
  if (CUresult r = d.multicast_get_granularity(&gran, &mp, CU_MULTICAST_GRANULARITY_MINIMUM); r != CUDA_SUCCESS) {
    why = describe_call("cuMulticastGetGranularity", r);
    return status::cuda_error;
  }
  if (gran == 0) {
    why = "cuMulticastGetGranularity returned 0";
    return status::cuda_error;
  }
  for (int o : ordinals) {
    CUmemAllocationProp const ap = allocation_prop(o, ht);
    std::size_t g = 0;
    if (CUresult r = d.mem_get_allocation_granularity(&g, &ap, CU_MEM_ALLOC_GRANULARITY_MINIMUM); r != CUDA_SUCCESS) {
      why = describe_call("cuMemGetAllocationGranularity", r);
      return status::cuda_error;
    }
    if (g == 0) {
      why = "cuMemGetAllocationGranularity returned 0";
      return status::cuda_error;
    }
    gran = std::lcm(gran, g);
  }
  if (bytes > SIZE_MAX - gran) {
    why = "multicast size overflows";
    return status::invalid_argument;
  }
  return status::success;
}
} // namespace detail

//! How a `multicast_region` is made.
struct multicast_options {
  //! Exportable handle types of the multicast object and of the memory:
  //! CU_MEM_HANDLE_TYPE_NONE (one process) or CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
  //! (exportable, though weft does not export them yet). Nothing else is accepted.
  CUmemAllocationHandleType handle_type = CU_MEM_HANDLE_TYPE_NONE;
  //! Map each device's unicast memory for the other devices of the region too.
  bool peer_access = true;
};

//! A multicast object bound to one allocation per device (see the file comment).
class multicast_region {
public:
  static constexpr int max_devices = 64; //!< more devices are refused (invalid_argument)

  multicast_region() = default;
  multicast_region(multicast_region const&) = delete;
  multicast_region& operator=(multicast_region const&) = delete;
  multicast_region(multicast_region&& o) noexcept { swap(o); }
  multicast_region& operator=(multicast_region&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  ~multicast_region() { release(); }

  //! Whether `ordinal` can join a multicast object; `why` (may be null) gets the
  //! reason when not. A failed query counts as "no".
  static bool supported(int ordinal, std::string* why = nullptr) {
    std::string w;
    bool const ok = check_device(ordinal, w) == status::success;
    if (why) *why = w;
    return ok;
  }

  //! Make the region: `bytes` (> 0, rounded up) on each of `devices` (distinct
  //! ordinals), zero-filled. Replaces what this object held. On failure nothing
  //! is left allocated and `last_error()` says why (a driver failure names the call).
  status create(std::vector<int> const& devices, std::size_t bytes, multicast_options const& opt = {}) {
    release();
    error_.clear();
    if (devices.empty()) return fail(status::invalid_argument, "a multicast region needs at least one device");
    if (devices.size() > std::size_t(max_devices))
      return fail(status::invalid_argument, "a multicast region takes at most " + std::to_string(max_devices) + " devices");
    if (bytes == 0) return fail(status::invalid_argument, "a multicast region needs bytes > 0");
    if (opt.handle_type != CU_MEM_HANDLE_TYPE_NONE && opt.handle_type != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
      return fail(status::invalid_argument, "multicast handle type must be none or POSIX file descriptor");
    for (std::size_t i = 0; i < devices.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (devices[i] == devices[j])
          return fail(status::unsupported, "device " + std::to_string(devices[i]) +
                                               " appears twice: a multicast object holds each device once, so ranks "
                                               "sharing one GPU cannot use NVLS multicast");
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();
      return fail(status::cuda_error, "cudaGetDeviceCount failed");
    }
    for (int d : devices)
      if (d < 0 || d >= count)
        return fail(status::invalid_argument,
                    "device " + std::to_string(d) + " does not exist (" + std::to_string(count) + " devices)");
    for (int d : devices)
      if (status s = check_device(d, error_); s != status::success) return fail(s, error_);

    int prev = 0;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    status const s = build(devices, bytes, opt);
    if (prev >= 0) cudaSetDevice(prev);
    if (s != status::success) {
      std::string const why = std::move(error_);
      release();
      error_ = why;
    }
    return s;
  }

  //! Unbind, unmap and release everything (idempotent). The caller makes sure
  //! no kernel still uses the region.
  void release() noexcept {
    if (devs_.empty() && !mc_) return;
    driver_api const& d = driver();
    int prev = 0;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    for (per_device& p : devs_)
      if (p.bound) {
        d.multicast_unbind(mc_, p.dev, 0, size_);
        p.bound = false;
      }
    for (per_device& p : devs_) {
      cudaSetDevice(p.ordinal);
      unmap(p.uc, p.uc_mapped);
      if (p.mem) d.mem_release(p.mem);
      p.mem = 0;
      unmap(p.mc, p.mc_mapped);
    }
    if (mc_) d.mem_release(mc_);
    mc_ = 0;
    devs_.clear();
    size_ = requested_ = granularity_ = 0;
    if (prev >= 0) cudaSetDevice(prev);
  }

  bool empty() const noexcept { return devs_.empty(); }
  int ndevices() const noexcept { return int(devs_.size()); }
  //! The ordinal of the region's device `i` (in the order given to `create`).
  int device(int i) const noexcept { return devs_[std::size_t(i)].ordinal; }
  //! Device `i`'s multicast address (valid on device `i` only).
  void* multicast_address(int i) const noexcept { return reinterpret_cast<void*>(devs_[std::size_t(i)].mc); }
  //! Device `i`'s own memory (valid on device `i`, and on the others with `peer_access`).
  void* unicast_address(int i) const noexcept { return reinterpret_cast<void*>(devs_[std::size_t(i)].uc); }
  std::size_t size() const noexcept { return size_; }            //!< bytes per device, rounded
  std::size_t requested() const noexcept { return requested_; } //!< bytes asked for
  std::size_t granularity() const noexcept { return granularity_; } //!< what `size()` is a multiple of
  std::string const& last_error() const noexcept { return error_; }

private:
  struct per_device {
    int ordinal = 0;
    CUdevice dev = 0;
    CUmemGenericAllocationHandle mem = 0;
    CUdeviceptr uc = 0, mc = 0; // reserved ranges (0: none)
    bool uc_mapped = false, mc_mapped = false, bound = false;
  };

  CUmemGenericAllocationHandle mc_ = 0;
  std::vector<per_device> devs_;
  std::size_t size_ = 0, requested_ = 0, granularity_ = 0;
  std::string error_;

  void swap(multicast_region& o) noexcept {
    std::swap(mc_, o.mc_);
    devs_.swap(o.devs_);
    std::swap(size_, o.size_);
    std::swap(requested_, o.requested_);
    std::swap(granularity_, o.granularity_);
    error_.swap(o.error_);
  }

  status fail(status s, std::string why) {
    error_ = std::move(why);
    return s;
  }

  status driver_fail(char const* call, CUresult r, status s = status::cuda_error) {
    return fail(s, detail::describe_call(call, r));
  }

  void unmap(CUdeviceptr& va, bool& mapped) noexcept { detail::unmap_range(va, mapped, size_); }

  // Success, or unsupported / cuda_error with the reason in `why`.
  static status check_device(int ordinal, std::string& why) {
    driver_api const& d = driver();
    std::string const dev = "device " + std::to_string(ordinal);
    if (!d.loaded || !d.has_multicast()) {
      why = "the CUDA driver lacks the virtual memory or multicast entry points (cuMulticast*, CUDA 12.1+): "
            "no NVLS multicast";
      return status::unsupported;
    }
    int vmm = 0, mc = 0;
    if (!device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, vmm)) {
      why = dev + ": cuDeviceGetAttribute(VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED) failed";
      return status::cuda_error;
    }
    if (!vmm) {
      why = dev + " does not support virtual memory management, so no multicast objects";
      return status::unsupported;
    }
    if (!device_attribute(ordinal, CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED, mc)) {
      why = dev + ": cuDeviceGetAttribute(MULTICAST_SUPPORTED) failed";
      return status::cuda_error;
    }
    if (!mc) {
      why = dev + " does not support multicast (CU_DEVICE_ATTRIBUTE_MULTICAST_SUPPORTED = 0: NVLS needs sm_90+ "
                  "behind an NVSwitch, with the fabric manager running)";
      return status::unsupported;
    }
    return status::success;
  }

  status build(std::vector<int> const& devices, std::size_t bytes, multicast_options const& opt) {
    driver_api const& d = driver();
    std::size_t const n = devices.size();
    devs_.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      devs_[i].ordinal = devices[i];
      if (cudaSetDevice(devices[i]) != cudaSuccess || cudaFree(nullptr) != cudaSuccess) {
        cudaGetLastError();
        return fail(status::cuda_error, "cudaSetDevice(" + std::to_string(devices[i]) + ") failed");
      }
      if (CUresult r = d.device_get(&devs_[i].dev, devices[i]); r != CUDA_SUCCESS) return driver_fail("cuDeviceGet", r);
    }

    // Granularities: the multicast object's and every device's allocation's.
    std::size_t gran = 0;
    {
      std::string why;
      if (status const g = detail::multicast_granularity(int(n), bytes, opt.handle_type, devices, gran, why);
          g != status::success)
        return fail(g, why);
    }
    std::size_t const size = (bytes + gran - 1) / gran * gran;
    size_ = size;
    requested_ = bytes;
    granularity_ = gran;

    // The multicast object, then every device joins it (all before any binding).
    CUmulticastObjectProp const mp = detail::multicast_prop(int(n), size, opt.handle_type);
    if (CUresult r = d.multicast_create(&mc_, &mp); r != CUDA_SUCCESS) {
      mc_ = 0;
      return driver_fail("cuMulticastCreate", r);
    }
    for (per_device const& p : devs_)
      if (CUresult r = d.multicast_add_device(mc_, p.dev); r != CUDA_SUCCESS)
        return driver_fail("cuMulticastAddDevice", r);

    // Each device's memory: allocate, bind to the object, map (unicast).
    std::vector<CUmemAccessDesc> acc;
    for (per_device& p : devs_) {
      cudaSetDevice(p.ordinal);
      CUmemAllocationProp const ap = detail::allocation_prop(p.ordinal, opt.handle_type);
      if (CUresult r = d.mem_create(&p.mem, size, &ap, 0); r != CUDA_SUCCESS) {
        p.mem = 0;
        return driver_fail("cuMemCreate", r,
                           r == CUDA_ERROR_OUT_OF_MEMORY ? status::out_of_memory : status::cuda_error);
      }
      if (CUresult r = d.multicast_bind_mem(mc_, 0, p.mem, 0, size, 0); r != CUDA_SUCCESS)
        return driver_fail("cuMulticastBindMem", r);
      p.bound = true;
      if (CUresult r = d.mem_address_reserve(&p.uc, size, gran, 0, 0); r != CUDA_SUCCESS) {
        p.uc = 0;
        return driver_fail("cuMemAddressReserve (unicast)", r, status::out_of_memory);
      }
      if (CUresult r = d.mem_map(p.uc, size, 0, p.mem, 0); r != CUDA_SUCCESS) return driver_fail("cuMemMap (unicast)", r);
      p.uc_mapped = true;
      acc.clear();
      acc.push_back({{CU_MEM_LOCATION_TYPE_DEVICE, p.ordinal}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE});
      if (opt.peer_access)
        for (per_device const& q : devs_)
          if (q.ordinal != p.ordinal)
            acc.push_back({{CU_MEM_LOCATION_TYPE_DEVICE, q.ordinal}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE});
      if (CUresult r = d.mem_set_access(p.uc, size, acc.data(), acc.size()); r != CUDA_SUCCESS)
        return driver_fail("cuMemSetAccess (unicast)", r);
    }

    // The multicast object mapped once per device, for that device.
    for (per_device& p : devs_) {
      cudaSetDevice(p.ordinal);
      if (CUresult r = d.mem_address_reserve(&p.mc, size, gran, 0, 0); r != CUDA_SUCCESS) {
        p.mc = 0;
        return driver_fail("cuMemAddressReserve (multicast)", r, status::out_of_memory);
      }
      if (CUresult r = d.mem_map(p.mc, size, 0, mc_, 0); r != CUDA_SUCCESS) return driver_fail("cuMemMap (multicast)", r);
      p.mc_mapped = true;
      CUmemAccessDesc const a{{CU_MEM_LOCATION_TYPE_DEVICE, p.ordinal}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
      if (CUresult r = d.mem_set_access(p.mc, size, &a, 1); r != CUDA_SUCCESS)
        return driver_fail("cuMemSetAccess (multicast)", r);
    }

    // Zero every device's memory (a stream of our own: waits for the memset only).
    for (per_device& p : devs_) {
      cudaSetDevice(p.ordinal);
      cudaStream_t st = nullptr;
      if (cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) != cudaSuccess) {
        cudaGetLastError();
        return fail(status::cuda_error, "cudaStreamCreateWithFlags failed");
      }
      bool const ok = cudaMemsetAsync(reinterpret_cast<void*>(p.uc), 0, size, st) == cudaSuccess &&
                      cudaStreamSynchronize(st) == cudaSuccess;
      cudaStreamDestroy(st);
      if (!ok) {
        cudaGetLastError();
        return fail(status::cuda_error, "zero-filling device " + std::to_string(p.ordinal) + "'s memory failed");
      }
    }
    return status::success;
  }
};

//! One process's part of a multicast object shared by the processes of one host,
//! one GPU each (see the file comment). The steps are separate calls so that the
//! caller can agree with its peers between them -- every process must have added
//! its device before any binds memory:
//!
//!   round_size (every process; take the largest size and granularity of all)
//!   create (the root: exports a file descriptor) or import (the others)
//!   add_device
//!   -- every process has added its device --
//!   bind (own memory, exportable as a POSIX file descriptor: peers map it
//!        through `memory()`; unicast and multicast addresses for this device)
//!
//! Every failure names the driver call in `last_error()`. `release()` (and the
//! destructor) unbinds this device, unmaps, and releases this process's
//! references; the caller makes sure no kernel still uses the addresses.
class multicast_member {
public:
  multicast_member() = default;
  multicast_member(multicast_member const&) = delete;
  multicast_member& operator=(multicast_member const&) = delete;
  ~multicast_member() { release(); }

  //! `bytes` rounded up for an object of `ndevices` devices, of which `ordinal`
  //! is one (`size`), and the granularity that rounding used (`gran`).
  //! `ht` is the handle type the object and the memory are exported as: POSIX
  //! file descriptors (one host) or fabric handles (the nodes of an NVLink domain).
  static status round_size(int ordinal, int ndevices, std::size_t bytes, std::size_t& size, std::size_t& gran,
                           std::string& why, CUmemAllocationHandleType ht = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
    if (ndevices < 1 || bytes == 0) {
      why = "a multicast object needs a device and bytes > 0";
      return status::invalid_argument;
    }
    if (ht != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR && ht != CU_MEM_HANDLE_TYPE_FABRIC) {
      why = "a multicast member is shared as POSIX file descriptors or fabric handles";
      return status::invalid_argument;
    }
    std::string w;
    if (!multicast_region::supported(ordinal, &w)) {
      why = w;
      return status::unsupported;
    }
    if (ht == CU_MEM_HANDLE_TYPE_FABRIC && !vmm_supports(ordinal, handle_kind::fabric)) {
      why = "device " + std::to_string(ordinal) + " does not export fabric handles (an NVLink domain with IMEX is needed)";
      return status::unsupported;
    }
    if (status const g = detail::multicast_granularity(ndevices, bytes, ht, {ordinal}, gran, why);
        g != status::success)
      return g;
    size = (bytes + gran - 1) / gran * gran;
    return status::success;
  }

  //! The root: make the object (`size` bytes, `ndevices` devices) and export it;
  //! `fd` gets a descriptor the caller passes to the peers and then closes.
  status create(int ordinal, int ndevices, std::size_t size, int& fd) {
    fd = -1;
    if (status s = make(ordinal, ndevices, size, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR); s != status::success) return s;
    if (CUresult r = driver().mem_export(&fd, mc_, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0); r != CUDA_SUCCESS) {
      fd = -1;
      return fail("cuMemExportToShareableHandle (multicast)", r);
    }
    return status::success;
  }
  //! The root, across the nodes of an NVLink domain: `fh` gets a fabric handle
  //! (plain bytes: any bootstrap carries it) and the memory bound later is
  //! exportable as fabric handles too.
  status create_fabric(int ordinal, int ndevices, std::size_t size, CUmemFabricHandle& fh) {
    fh = {};
    if (status s = make(ordinal, ndevices, size, CU_MEM_HANDLE_TYPE_FABRIC); s != status::success) return s;
    if (CUresult r = driver().mem_export(&fh, mc_, CU_MEM_HANDLE_TYPE_FABRIC, 0); r != CUDA_SUCCESS)
      return fail("cuMemExportToShareableHandle (multicast, fabric)", r);
    return status::success;
  }

  //! The others: the root's object from this process's descriptor `fd` (not closed here).
  status import(int ordinal, int fd, std::size_t size) {
    release();
    if (fd < 0) return fail_text(status::invalid_argument, "no descriptor for the multicast object");
    return take(ordinal, size, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, reinterpret_cast<void*>(std::intptr_t(fd)));
  }
  //! The others, across nodes: the root's object from its fabric handle.
  status import_fabric(int ordinal, CUmemFabricHandle const& fh, std::size_t size) {
    release();
    CUmemFabricHandle copy = fh;
    return take(ordinal, size, CU_MEM_HANDLE_TYPE_FABRIC, &copy);
  }

  //! This process's device joins the object.
  status add_device() {
    if (!mc_) return fail_text(status::invalid_argument, "no multicast object");
    if (CUresult r = driver().multicast_add_device(mc_, dev_); r != CUDA_SUCCESS) return fail("cuMulticastAddDevice", r);
    return status::success;
  }

  //! After every process added its device: this device's memory (zero-filled),
  //! bound to the object, mapped at a unicast and a multicast address.
  status bind(std::size_t gran) {
    if (!mc_) return fail_text(status::invalid_argument, "no multicast object");
    driver_api const& d = driver();
    if (cudaSetDevice(ordinal_) != cudaSuccess) return fail_text(status::cuda_error, "cudaSetDevice failed");
    CUmemAllocationProp const ap = detail::allocation_prop(ordinal_, ht_);
    if (CUresult r = d.mem_create(&mem_, size_, &ap, 0); r != CUDA_SUCCESS) {
      mem_ = 0;
      return fail("cuMemCreate", r, r == CUDA_ERROR_OUT_OF_MEMORY ? status::out_of_memory : status::cuda_error);
    }
    if (CUresult r = d.multicast_bind_mem(mc_, 0, mem_, 0, size_, 0); r != CUDA_SUCCESS) return fail("cuMulticastBindMem", r);
    bound_ = true;
    CUmemAccessDesc const acc{{CU_MEM_LOCATION_TYPE_DEVICE, ordinal_}, CU_MEM_ACCESS_FLAGS_PROT_READWRITE};
    for (auto [va, mapped, h, what] : {std::tuple{&uc_, &uc_mapped_, mem_, "unicast"}, std::tuple{&mc_va_, &mc_mapped_, mc_, "multicast"}}) {
      if (CUresult r = d.mem_address_reserve(va, size_, gran, 0, 0); r != CUDA_SUCCESS) {
        *va = 0;
        return fail((std::string("cuMemAddressReserve (") + what + ")").c_str(), r, status::out_of_memory);
      }
      if (CUresult r = d.mem_map(*va, size_, 0, h, 0); r != CUDA_SUCCESS)
        return fail((std::string("cuMemMap (") + what + ")").c_str(), r);
      *mapped = true;
      if (CUresult r = d.mem_set_access(*va, size_, &acc, 1); r != CUDA_SUCCESS)
        return fail((std::string("cuMemSetAccess (") + what + ")").c_str(), r);
    }
    if (cudaMemset(reinterpret_cast<void*>(uc_), 0, size_) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess) {
      (void)cudaGetLastError();
      return fail_text(status::cuda_error, "zero-filling the multicast memory failed");
    }
    return status::success;
  }

  void release() noexcept {
    driver_api const& d = driver();
    if (ordinal_ >= 0) cudaSetDevice(ordinal_);
    if (bound_) d.multicast_unbind(mc_, dev_, 0, size_);
    bound_ = false;
    unmap(uc_, uc_mapped_);
    unmap(mc_va_, mc_mapped_);
    if (mem_) d.mem_release(mem_);
    if (mc_) d.mem_release(mc_);
    mem_ = mc_ = 0;
    ordinal_ = -1;
  }

  void* unicast() const noexcept { return reinterpret_cast<void*>(uc_); }
  void* multicast() const noexcept { return reinterpret_cast<void*>(mc_va_); }
  CUmemGenericAllocationHandle memory() const noexcept { return mem_; }
  //! How the object and the memory are exported (POSIX file descriptors or fabric handles).
  CUmemAllocationHandleType handle_type() const noexcept { return ht_; }
  std::size_t size() const noexcept { return size_; }
  std::string const& last_error() const noexcept { return error_; }

private:
  int ordinal_ = -1;
  CUdevice dev_ = 0;
  CUmemGenericAllocationHandle mc_ = 0, mem_ = 0;
  CUdeviceptr uc_ = 0, mc_va_ = 0;
  bool uc_mapped_ = false, mc_mapped_ = false, bound_ = false;
  std::size_t size_ = 0;
  CUmemAllocationHandleType ht_ = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  std::string error_;

  status make(int ordinal, int ndevices, std::size_t size, CUmemAllocationHandleType ht) {
    release();
    if (status s = begin(ordinal, size); s != status::success) return s;
    ht_ = ht;
    CUmulticastObjectProp const mp = detail::multicast_prop(ndevices, size, ht);
    if (CUresult r = driver().multicast_create(&mc_, &mp); r != CUDA_SUCCESS) {
      mc_ = 0;
      return fail("cuMulticastCreate", r);
    }
    return status::success;
  }
  status take(int ordinal, std::size_t size, CUmemAllocationHandleType ht, void* shareable) {
    if (status s = begin(ordinal, size); s != status::success) return s;
    ht_ = ht;
    if (CUresult r = driver().mem_import(&mc_, shareable, ht); r != CUDA_SUCCESS) {
      mc_ = 0;
      return fail("cuMemImportFromShareableHandle (multicast)", r);
    }
    return status::success;
  }
  status begin(int ordinal, std::size_t size) {
    error_.clear();
    driver_api const& d = driver();
    if (!d.loaded || !d.has_multicast())
      return fail_text(status::unsupported, "the CUDA driver lacks the multicast entry points");
    if (cudaSetDevice(ordinal) != cudaSuccess) return fail_text(status::cuda_error, "cudaSetDevice failed");
    if (CUresult r = d.device_get(&dev_, ordinal); r != CUDA_SUCCESS) return fail("cuDeviceGet", r);
    ordinal_ = ordinal;
    size_ = size;
    return status::success;
  }
  void unmap(CUdeviceptr& va, bool& mapped) noexcept { detail::unmap_range(va, mapped, size_); }
  status fail_text(status s, std::string why) {
    error_ = std::move(why);
    return s;
  }
  status fail(char const* call, CUresult r, status s = status::cuda_error) {
    return fail_text(s, detail::describe_call(call, r));
  }
};

} // namespace weft::sym
