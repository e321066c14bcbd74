#pragma once
//! \file
//! The CUDA driver functions weft's symmetric memory uses (virtual memory
//! management, shareable handles, multicast objects), obtained at run time
//! through the runtime's `cudaGetDriverEntryPointByVersion`. Nothing links
//! against libcuda: a program built with weft loads on a machine without a
//! driver, and `driver()` then reports the functions as missing.

#include <weft/core/status.hpp>

#include <cuda.h>
#include <cuda_runtime_api.h>

namespace weft::sym {

//! Driver entry points (null where the driver lacks one).
struct driver_api {
  decltype(&::cuDeviceGet) device_get = nullptr;
  decltype(&::cuDeviceGetAttribute) device_get_attribute = nullptr;
  decltype(&::cuMemGetAllocationGranularity) mem_get_allocation_granularity = nullptr;
  decltype(&::cuMemCreate) mem_create = nullptr;
  decltype(&::cuMemRelease) mem_release = nullptr;
  decltype(&::cuMemAddressReserve) mem_address_reserve = nullptr;
  decltype(&::cuMemAddressFree) mem_address_free = nullptr;
  decltype(&::cuMemMap) mem_map = nullptr;
  decltype(&::cuMemUnmap) mem_unmap = nullptr;
  decltype(&::cuMemSetAccess) mem_set_access = nullptr;
  decltype(&::cuMemExportToShareableHandle) mem_export = nullptr;
  decltype(&::cuMemImportFromShareableHandle) mem_import = nullptr;
  decltype(&::cuMemRetainAllocationHandle) mem_retain_allocation_handle = nullptr;
  decltype(&::cuMemGetAddressRange) mem_get_address_range = nullptr;
  decltype(&::cuMulticastCreate) multicast_create = nullptr;
  decltype(&::cuMulticastAddDevice) multicast_add_device = nullptr;
  decltype(&::cuMulticastBindMem) multicast_bind_mem = nullptr;
  decltype(&::cuMulticastUnbind) multicast_unbind = nullptr;
  decltype(&::cuMulticastGetGranularity) multicast_get_granularity = nullptr;
  decltype(&::cuGetErrorName) get_error_name = nullptr; //!< for messages only (may be null)
  bool loaded = false; //!< the VMM functions (all but multicast) were found

  bool has_multicast() const noexcept {
    return multicast_create && multicast_add_device && multicast_bind_mem && multicast_unbind &&
           multicast_get_granularity;
  }
};

namespace detail {
// `version`: the CUDA version whose form of the function is wanted. It must be at
// least the version that introduced the function (the multicast functions came
// with 12.1: asked for at 12000 they are reported "version not sufficient").
template <class F>
void load_entry(char const* name, F& fn, int version = 12000) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult q{};
  if (cudaGetDriverEntryPointByVersion(name, &p, version, cudaEnableDefault, &q) == cudaSuccess &&
      q == cudaDriverEntryPointSuccess)
    fn = reinterpret_cast<F>(p);
  else
    fn = nullptr;
}
} // namespace detail

//! The driver functions, looked up once per process (thread-safe).
inline driver_api const& driver() {
  static driver_api const api = [] {
    driver_api a;
    detail::load_entry("cuDeviceGet", a.device_get);
    detail::load_entry("cuDeviceGetAttribute", a.device_get_attribute);
    detail::load_entry("cuMemGetAllocationGranularity", a.mem_get_allocation_granularity);
    detail::load_entry("cuMemCreate", a.mem_create);
    detail::load_entry("cuMemRelease", a.mem_release);
    detail::load_entry("cuMemAddressReserve", a.mem_address_reserve);
    detail::load_entry("cuMemAddressFree", a.mem_address_free);
    detail::load_entry("cuMemMap", a.mem_map);
    detail::load_entry("cuMemUnmap", a.mem_unmap);
    detail::load_entry("cuMemSetAccess", a.mem_set_access);
    detail::load_entry("cuMemExportToShareableHandle", a.mem_export);
    detail::load_entry("cuMemImportFromShareableHandle", a.mem_import);
    detail::load_entry("cuMemRetainAllocationHandle", a.mem_retain_allocation_handle);
    detail::load_entry("cuMemGetAddressRange", a.mem_get_address_range);
    detail::load_entry("cuMulticastCreate", a.multicast_create, 12010);
    detail::load_entry("cuMulticastAddDevice", a.multicast_add_device, 12010);
    detail::load_entry("cuMulticastBindMem", a.multicast_bind_mem, 12010);
    detail::load_entry("cuMulticastUnbind", a.multicast_unbind, 12010);
    detail::load_entry("cuMulticastGetGranularity", a.multicast_get_granularity, 12010);
    detail::load_entry("cuGetErrorName", a.get_error_name);
    a.loaded = a.device_get && a.device_get_attribute && a.mem_get_allocation_granularity && a.mem_create &&
               a.mem_release && a.mem_address_reserve && a.mem_address_free && a.mem_map && a.mem_unmap &&
               a.mem_set_access && a.mem_export && a.mem_import && a.mem_retain_allocation_handle &&
               a.mem_get_address_range;
    return a;
  }();
  return api;
}

//! A device attribute through the driver (false when the driver or the call fails).
inline bool device_attribute(int ordinal, CUdevice_attribute attr, int& value) {
  driver_api const& d = driver();
  CUdevice dev{};
  if (!d.device_get || !d.device_get_attribute || d.device_get(&dev, ordinal) != CUDA_SUCCESS) return false;
  return d.device_get_attribute(&value, attr, dev) == CUDA_SUCCESS;
}

//! `status::cuda_error` for a failed driver call, success otherwise.
inline status check(CUresult r) noexcept { return r == CUDA_SUCCESS ? status::success : status::cuda_error; }

} // namespace weft::sym
