#pragma once
//! \file
//! One directed connection (sender rank -> receiver rank, on one channel, for
//! one protocol) as both endpoints see it: a trivially copyable value that a
//! kernel or a CPU-team thread takes by value.
//!
//! ```
//!   sender                                   receiver's memory
//!   ------                                   -----------------
//!   send_step --(writes slot s = k % nslots)--> buf[s]: step k's bytes (+ flags for LL/LL128)
//!                                     tail <--- Simple: k+1 stored with release after the bytes
//!   head (sender's memory) <-- k+1 stored with release when the receiver has consumed step k
//! ```
//! The sender may write step k once `head >= k + 1 - nslots`; the receiver may
//! read it once `tail >= k + 1` (Simple) or the line flags equal k+1 (LL, LL128).
//! Step counters are 64-bit and persist across collectives (in `send_step` /
//! `recv_step`), so slots and flags are never confused after reuse.

#include <weft/core/config.hpp>
#include <weft/proto/protocol.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>

namespace weft {

//! Counter words of a connection, each in its own 64-byte line.
struct alignas(64) conn_counter {
  cuda::std::uint64_t value;
  unsigned char pad[56];
};

//! One directed connection.
struct connection {
  unsigned char* buf = nullptr;              //!< nslots * slot_bytes of staging (receiver's memory)
  cuda::std::uint64_t* tail = nullptr;       //!< Simple: steps filled (receiver's memory)
  cuda::std::uint64_t* head = nullptr;       //!< steps consumed (sender's memory)
  cuda::std::uint64_t* send_step = nullptr;  //!< sender's persistent step count
  cuda::std::uint64_t* recv_step = nullptr;  //!< receiver's persistent step count
  void* direct_buf = nullptr;                //!< receiver's user buffer for direct prims (per call), or null
  int nslots = 0;
  int slot_bytes = 0;
  int sender = -1;                           //!< sender rank (for error reports)
  int receiver = -1;                         //!< receiver rank (for error reports)
  protocol proto = protocol::simple;

  //! User-data bytes one slot carries.
  WEFT_HOST_DEVICE cuda::std::size_t payload_bytes() const noexcept {
    return slot_payload_bytes(proto, cuda::std::size_t(slot_bytes));
  }
  //! Staging and counter bytes this connection holds.
  WEFT_HOST_DEVICE cuda::std::size_t scratch_bytes() const noexcept {
    return cuda::std::size_t(nslots) * cuda::std::size_t(slot_bytes) + 4 * sizeof(conn_counter);
  }
};

//! Bytes of memory one connection needs: staging, then four counters.
WEFT_HOST_DEVICE constexpr cuda::std::size_t connection_bytes(int nslots, cuda::std::size_t slot_bytes) noexcept {
  return cuda::std::size_t(nslots) * slot_bytes + 4 * sizeof(conn_counter);
}

//! Lay out a connection over `mem` (connection_bytes(nslots, slot_bytes) bytes,
//! 64-byte aligned, zero-filled by the caller).
WEFT_HOST_DEVICE connection make_connection(void* mem, protocol p, int nslots, cuda::std::size_t slot_bytes,
                                                   int sender, int receiver) noexcept {
  connection c;
  auto* base = static_cast<unsigned char*>(mem);
  auto* counters = reinterpret_cast<conn_counter*>(base + cuda::std::size_t(nslots) * slot_bytes);
  c.buf = base;
  c.tail = &counters[0].value;
  c.head = &counters[1].value;
  c.send_step = &counters[2].value;
  c.recv_step = &counters[3].value;
  c.nslots = nslots;
  c.slot_bytes = int(slot_bytes);
  c.sender = sender;
  c.receiver = receiver;
  c.proto = p;
  return c;
}

} // namespace weft
