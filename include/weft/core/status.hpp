#pragma once
//! \file
//! `weft::status`: the result of every host API call and every bounded wait.

#include <weft/core/config.hpp>

namespace weft {

//! Outcome of an operation. Zero is success; everything else says why not.
enum class status : int {
  success = 0,
  invalid_argument,   //!< null/misaligned pointer, bad count, bad rank, ...
  unsupported,        //!< a valid request this build or algorithm cannot serve
  timeout,            //!< a bounded wait ran out before its condition held
  aborted,            //!< the operation was cancelled (team or communicator abort)
  out_of_memory,      //!< an allocation the caller asked for failed
  internal_error,     //!< a broken invariant inside weft
  peer_failure,       //!< a peer rank is gone or reported an error
  cuda_error,         //!< a CUDA runtime/driver call failed
  system_error,       //!< an operating-system call failed
};

//! Human-readable name of a status, never null.
WEFT_HOST_DEVICE constexpr char const* to_string(status s) noexcept {
  switch (s) {
    case status::success: return "success";
    case status::invalid_argument: return "invalid argument";
    case status::unsupported: return "unsupported";
    case status::timeout: return "timeout";
    case status::aborted: return "aborted";
    case status::out_of_memory: return "out of memory";
    case status::internal_error: return "internal error";
    case status::peer_failure: return "peer failure";
    case status::cuda_error: return "CUDA error";
    case status::system_error: return "system error";
  }
  return "unknown status";
}

//! True when `s` is `status::success`.
WEFT_HOST_DEVICE constexpr bool ok(status s) noexcept { return s == status::success; }

} // namespace weft
