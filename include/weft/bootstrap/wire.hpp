#pragma once
//! \file
//! The TCP bootstrap's wire format, as pure functions over bytes.
//!
//! Nothing here touches a socket, a clock or the heap beyond the reader's own
//! buffer, so every function can be fed arbitrary bytes (the fuzz target in
//! tests/fuzz does exactly that). Integers travel little-endian, whatever the host.
//!
//! ```
//!   hello (64 bytes, member -> root, once, first thing on a connection)
//!     0  magic   "WFTH"          4  version u16   6  kind u16 (= 1)
//!     8  rank    i32            12  size    i32  16  secret[32]   48  reserved[16] (zero)
//!
//!   frame header (24 bytes), followed by `length` payload bytes
//!     0  magic   "WFTF"          4  kind u16 (gather, result, error, bye)   6  flags u16 (zero)
//!     8  seq     u64            16  length  u64
//! ```
//! A frame whose length exceeds the receiver's bound is refused before any of
//! its payload is read; so is anything with a wrong magic, version, kind or a
//! nonzero reserved field.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace weft {

//! Bytes of the shared secret carried by a TCP unique id and every hello.
inline constexpr int bootstrap_secret_bytes = 32;

namespace wire {

inline constexpr std::uint32_t hello_magic = 0x48544657u; // "WFTH" little-endian
inline constexpr std::uint32_t frame_magic = 0x46544657u; // "WFTF"
inline constexpr std::uint16_t version = 1;
inline constexpr std::size_t hello_bytes = 64;
inline constexpr std::size_t frame_header_bytes = 24;
//! Largest world a bootstrap accepts (bounds every allocation made from a size field).
inline constexpr int max_world = 1 << 16;

enum class frame_kind : std::uint16_t { gather = 1, result = 2, error = 3, bye = 4 };

//! Outcome of parsing: `ok`, `need_more` (a prefix of something valid), or why it was refused.
enum class parse : int { ok, need_more, bad_magic, bad_version, bad_kind, bad_field, too_large, bad_secret, bad_rank };

inline char const* to_string(parse p) noexcept {
  switch (p) {
    case parse::ok: return "ok";
    case parse::need_more: return "truncated";
    case parse::bad_magic: return "bad magic";
    case parse::bad_version: return "unsupported version";
    case parse::bad_kind: return "unknown message kind";
    case parse::bad_field: return "malformed field";
    case parse::too_large: return "message larger than the bound";
    case parse::bad_secret: return "wrong secret";
    case parse::bad_rank: return "rank or size out of range";
  }
  return "unknown";
}

inline void put_u16(unsigned char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<unsigned char>(v & 0xffu);
  p[1] = static_cast<unsigned char>(v >> 8);
}
inline void put_u32(unsigned char* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xffu);
}
inline void put_u64(unsigned char* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>((v >> (8 * i)) & 0xffu);
}
inline std::uint16_t get_u16(unsigned char const* p) noexcept {
  return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
inline std::uint32_t get_u32(unsigned char const* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t get_u64(unsigned char const* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

//! A member's introduction.
struct hello {
  int rank = -1;
  int size = 0;
  unsigned char secret[bootstrap_secret_bytes] = {};
};

inline void encode_hello(hello const& h, unsigned char (&out)[hello_bytes]) noexcept {
  std::memset(out, 0, hello_bytes);
  put_u32(out, hello_magic);
  put_u16(out + 4, version);
  put_u16(out + 6, 1);
  put_u32(out + 8, static_cast<std::uint32_t>(h.rank));
  put_u32(out + 12, static_cast<std::uint32_t>(h.size));
  std::memcpy(out + 16, h.secret, bootstrap_secret_bytes);
}

//! Parse the first `n` bytes received on a connection as a hello (format only: the
//! secret and the rank are checked by `admit_hello`).
inline parse parse_hello(unsigned char const* p, std::size_t n, hello& out) noexcept {
  // Reject a wrong magic as soon as its bytes are in, so a stranger is cut off early.
  unsigned char magic[4];
  put_u32(magic, hello_magic);
  for (std::size_t i = 0; i < n && i < 4; ++i)
    if (p[i] != magic[i]) return parse::bad_magic;
  if (n < hello_bytes) return parse::need_more;
  if (get_u16(p + 4) != version) return parse::bad_version;
  if (get_u16(p + 6) != 1) return parse::bad_kind;
  for (std::size_t i = 48; i < hello_bytes; ++i)
    if (p[i] != 0) return parse::bad_field;
  out.rank = static_cast<int>(get_u32(p + 8));
  out.size = static_cast<int>(get_u32(p + 12));
  std::memcpy(out.secret, p + 16, bootstrap_secret_bytes);
  return parse::ok;
}

//! Compare secrets in time independent of where they differ.
inline bool same_secret(unsigned char const* a, unsigned char const* b) noexcept {
  unsigned diff = 0;
  for (int i = 0; i < bootstrap_secret_bytes; ++i) diff |= unsigned(a[i] ^ b[i]);
  return diff == 0;
}

//! Whether a parsed hello may join a job of `world` ranks guarded by `secret`.
inline parse admit_hello(hello const& h, unsigned char const* secret, int world) noexcept {
  if (!same_secret(h.secret, secret)) return parse::bad_secret;
  if (h.size != world || h.rank < 0 || h.rank >= world) return parse::bad_rank;
  return parse::ok;
}

struct frame_header {
  frame_kind kind = frame_kind::gather;
  std::uint64_t seq = 0;
  std::uint64_t length = 0;
};

inline void encode_frame_header(frame_header const& f, unsigned char (&out)[frame_header_bytes]) noexcept {
  put_u32(out, frame_magic);
  put_u16(out + 4, static_cast<std::uint16_t>(f.kind));
  put_u16(out + 6, 0);
  put_u64(out + 8, f.seq);
  put_u64(out + 16, f.length);
}

//! Parse a frame header from `n` bytes; refuse lengths over `max_payload`.
inline parse parse_frame_header(unsigned char const* p, std::size_t n, std::uint64_t max_payload,
                                frame_header& out) noexcept {
  unsigned char magic[4];
  put_u32(magic, frame_magic);
  for (std::size_t i = 0; i < n && i < 4; ++i)
    if (p[i] != magic[i]) return parse::bad_magic;
  if (n < frame_header_bytes) return parse::need_more;
  std::uint16_t const k = get_u16(p + 4);
  if (k < 1 || k > 4) return parse::bad_kind;
  if (get_u16(p + 6) != 0) return parse::bad_field;
  out.kind = static_cast<frame_kind>(k);
  out.seq = get_u64(p + 8);
  out.length = get_u64(p + 16);
  if (out.length > max_payload) return parse::too_large;
  return parse::ok;
}

//! Incremental reader of frames from a byte stream: feed it whatever arrived,
//! take complete frames out. A refused header stops it for good (`failed()`).
class frame_reader {
public:
  explicit frame_reader(std::uint64_t max_payload) noexcept : max_(max_payload) {}

  //! Consume up to `n` bytes; returns how many were used (stops after one complete
  //! frame, or at the first error). Call again with the rest.
  std::size_t feed(unsigned char const* p, std::size_t n) {
    std::size_t used = 0;
    while (used < n && state_ == parse::need_more && !complete_) {
      if (have_ < frame_header_bytes) {
        std::size_t const take = frame_header_bytes - have_ < n - used ? frame_header_bytes - have_ : n - used;
        std::memcpy(head_ + have_, p + used, take);
        have_ += take;
        used += take;
        parse const r = parse_frame_header(head_, have_, max_, hdr_);
        if (r == parse::need_more) continue;
        if (r != parse::ok) {
          state_ = r;
          break;
        }
        payload_.clear();
        payload_.reserve(static_cast<std::size_t>(hdr_.length));
        if (hdr_.length == 0) complete_ = true;
      } else {
        std::size_t const left = static_cast<std::size_t>(hdr_.length) - payload_.size();
        std::size_t const take = left < n - used ? left : n - used;
        payload_.insert(payload_.end(), p + used, p + used + take);
        used += take;
        if (payload_.size() == hdr_.length) complete_ = true;
      }
    }
    return used;
  }
  //! A whole frame is ready: `header()` and `payload()` describe it until `next()`.
  bool complete() const noexcept { return complete_; }
  //! The reason the stream was refused, or `need_more` while it is healthy.
  parse error() const noexcept { return state_; }
  bool failed() const noexcept { return state_ != parse::need_more; }
  //! Bytes of the current frame received so far (0 between frames).
  std::size_t partial() const noexcept { return have_ + payload_.size(); }
  frame_header const& header() const noexcept { return hdr_; }
  std::vector<unsigned char>& payload() noexcept { return payload_; }
  void next() noexcept {
    complete_ = false;
    have_ = 0;
    payload_.clear();
  }

private:
  std::uint64_t max_;
  unsigned char head_[frame_header_bytes] = {};
  std::size_t have_ = 0;
  frame_header hdr_{};
  std::vector<unsigned char> payload_;
  bool complete_ = false;
  parse state_ = parse::need_more;
};

//! Bytes of a TCP unique id: magic, version, family, port, address, secret, zeros.
inline constexpr std::size_t unique_id_bytes = 128;
inline constexpr std::uint32_t unique_id_magic = 0x55544657u; // "WFTU"

//! The fields of a unique id.
struct id_fields {
  std::uint16_t family = 0; //!< 4 or 6
  std::uint16_t port = 0;
  unsigned char addr[16] = {}; //!< IPv4 uses the first 4 bytes
  unsigned char secret[bootstrap_secret_bytes] = {};
};

inline void encode_id(id_fields const& f, unsigned char* out) noexcept {
  std::memset(out, 0, unique_id_bytes);
  put_u32(out, unique_id_magic);
  put_u16(out + 4, version);
  put_u16(out + 6, f.family);
  put_u16(out + 8, f.port);
  std::memcpy(out + 12, f.addr, 16);
  std::memcpy(out + 28, f.secret, bootstrap_secret_bytes);
}

//! Parse `n` bytes as a unique id: exact size, magic, version, family 4 or 6, a port, zero padding.
inline parse parse_id(unsigned char const* p, std::size_t n, id_fields& out) noexcept {
  if (n < unique_id_bytes) return parse::need_more;
  if (n > unique_id_bytes) return parse::too_large;
  if (get_u32(p) != unique_id_magic) return parse::bad_magic;
  if (get_u16(p + 4) != version) return parse::bad_version;
  if (p[10] != 0 || p[11] != 0) return parse::bad_field; // padding
  for (std::size_t i = 28 + bootstrap_secret_bytes; i < unique_id_bytes; ++i)
    if (p[i] != 0) return parse::bad_field;
  std::uint16_t const fam = get_u16(p + 6);
  if (fam != 4 && fam != 6) return parse::bad_field;
  if (fam == 4)
    for (int i = 4; i < 16; ++i)
      if (p[12 + i] != 0) return parse::bad_field;
  id_fields f;
  f.family = fam;
  f.port = get_u16(p + 8);
  if (f.port == 0) return parse::bad_field;
  std::memcpy(f.addr, p + 12, 16);
  std::memcpy(f.secret, p + 28, bootstrap_secret_bytes);
  out = f;
  return parse::ok;
}

//! Hex text of `n` bytes (lower case).
inline void to_hex(unsigned char const* p, std::size_t n, char* out) noexcept {
  char const* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
}
//! Parse exactly `2n` hex digits into `n` bytes; false on any other character.
inline bool from_hex(char const* s, std::size_t len, unsigned char* out, std::size_t n) noexcept {
  if (s == nullptr || len != 2 * n) return false;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < n; ++i) {
    int const hi = val(s[2 * i]), lo = val(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return true;
}

} // namespace wire
} // namespace weft
