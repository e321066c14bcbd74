#pragma once
//! \file
//! Wire protocols: how the bytes of one step reach a peer's staging slot and how
//! the peer learns they are there.
//!
//! | protocol | slot holds | peer learns it by | data per slot byte |
//! |---|---|---|---|
//! | `simple` | raw data | a `tail` step counter stored with release after the data | 1 |
//! | `ll` | 16-byte lines: 2 x (4 data bytes + 4-byte flag) | each 8-byte half carries its flag (= step + 1); 8-byte stores are single-copy atomic, so no fence | 1/2 |
//! | `ll128` | 128-byte lines: 120 data bytes + 8-byte flag word | the line's flag word | 15/16 |
//!
//! Every protocol returns a slot to its sender through a `head` step counter.

#include <weft/core/config.hpp>
#include <cuda/std/cstddef>
#include <cuda/std/cstdint>

namespace weft {

//! Wire protocol of a connection.
enum class protocol : cuda::std::uint8_t { simple, ll, ll128 };

inline constexpr int protocol_count = 3;

WEFT_HOST_DEVICE constexpr char const* to_string(protocol p) noexcept {
  switch (p) {
    case protocol::simple: return "simple";
    case protocol::ll: return "ll";
    case protocol::ll128: return "ll128";
  }
  return "unknown";
}

//! Parse "simple", "ll" or "ll128" (case-sensitive, also "LL", "LL128", "Simple").
inline bool parse_protocol(char const* s, protocol& out) noexcept {
  if (s == nullptr) return false;
  auto eq = [](char const* a, char const* b) {
    while (*a && *b && *a == *b) ++a, ++b;
    return *a == 0 && *b == 0;
  };
  if (eq(s, "simple") || eq(s, "Simple") || eq(s, "SIMPLE")) return out = protocol::simple, true;
  if (eq(s, "ll") || eq(s, "LL")) return out = protocol::ll, true;
  if (eq(s, "ll128") || eq(s, "LL128")) return out = protocol::ll128, true;
  return false;
}

//! Bytes of one LL line, and the user-data bytes it carries.
inline constexpr int ll_line_bytes = 16;
inline constexpr int ll_data_bytes = 8;
//! Bytes of one LL128 line, and the user-data bytes it carries (the last 8 are the flag).
inline constexpr int ll128_line_bytes = 128;
inline constexpr int ll128_data_bytes = 120;

//! User-data bytes one slot of `slot_bytes` carries under protocol `p`.
WEFT_HOST_DEVICE constexpr cuda::std::size_t slot_payload_bytes(protocol p, cuda::std::size_t slot_bytes) noexcept {
  switch (p) {
    case protocol::simple: return slot_bytes;
    case protocol::ll: return slot_bytes / ll_line_bytes * ll_data_bytes;
    case protocol::ll128: return slot_bytes / ll128_line_bytes * ll128_data_bytes;
  }
  return 0;
}

//! Whether a slot of `slot_bytes` is well formed under `p`: whole 16-byte packs
//! (Simple) or whole lines (LL, LL128). Simple steps are also multiples of 16
//! elements, so a slot under 16 elements of the call's type makes the call
//! return `invalid_argument` (128 bytes serve every type).
WEFT_HOST_DEVICE constexpr bool valid_slot_bytes(protocol p, cuda::std::size_t slot_bytes) noexcept {
  switch (p) {
    case protocol::simple: return slot_bytes >= 16 && slot_bytes % 16 == 0;
    case protocol::ll: return slot_bytes >= cuda::std::size_t(ll_line_bytes) && slot_bytes % ll_line_bytes == 0;
    case protocol::ll128: return slot_bytes >= cuda::std::size_t(ll128_line_bytes) && slot_bytes % ll128_line_bytes == 0;
  }
  return false;
}

//! Default slot count and slot size per protocol (each configurable per communicator).
struct protocol_defaults {
  int nslots = 8;
  cuda::std::size_t simple_slot_bytes = 128 << 10; //!< 8 x 128 KiB = 1 MiB per connection
  cuda::std::size_t ll_slot_bytes = 16 << 10;      //!< 8 x 16 KiB (64 KiB of data in flight)
  cuda::std::size_t ll128_slot_bytes = 64 << 10;   //!< 8 x 64 KiB
  WEFT_HOST_DEVICE constexpr cuda::std::size_t slot_bytes(protocol p) const noexcept {
    return p == protocol::simple ? simple_slot_bytes : p == protocol::ll ? ll_slot_bytes : ll128_slot_bytes;
  }
};

} // namespace weft
