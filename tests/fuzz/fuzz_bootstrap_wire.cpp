// libFuzzer target: the TCP bootstrap's wire parsers (weft/bootstrap/wire.hpp)
// on arbitrary bytes. The first byte picks how the rest is cut into reads, so
// the incremental frame reader sees every split; every parser must stay in
// bounds, terminate, and keep its invariants (checked below with __builtin_trap).
#include <weft/bootstrap/wire.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace wire = weft::wire;

namespace {
void require(bool ok) {
  if (!ok) __builtin_trap();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t const chunk = std::size_t(data[0] % 31) + 1;
  std::uint64_t const bound = std::uint64_t(data[0]) * 8; // 0 .. 2040 bytes per frame
  unsigned char const* p = data + 1;
  std::size_t const n = size - 1;

  // Hello: parse, then check against a fixed secret; an accepted hello must re-encode to the same bytes.
  wire::hello h;
  wire::parse const ph = wire::parse_hello(p, n, h);
  if (ph == wire::parse::ok) {
    unsigned char again[wire::hello_bytes];
    wire::encode_hello(h, again);
    require(std::memcmp(again, p, wire::hello_bytes) == 0);
    unsigned char secret[weft::bootstrap_secret_bytes] = {};
    wire::parse const a = wire::admit_hello(h, secret, 4);
    require(a == wire::parse::ok || a == wire::parse::bad_secret || a == wire::parse::bad_rank);
    if (a == wire::parse::ok) require(h.rank >= 0 && h.rank < 4 && h.size == 4);
  } else {
    require(ph != wire::parse::need_more || n < wire::hello_bytes);
  }

  // Frame header: an accepted length never exceeds the bound.
  wire::frame_header fh;
  if (wire::parse_frame_header(p, n, bound, fh) == wire::parse::ok) require(fh.length <= bound);

  // The incremental reader over the whole stream in chunks.
  wire::frame_reader rd(bound);
  std::size_t off = 0, frames = 0, bytes = 0;
  while (off < n && !rd.failed()) {
    std::size_t const len = chunk < n - off ? chunk : n - off;
    std::size_t used = 0;
    while (used < len && !rd.failed()) {
      std::size_t const u = rd.feed(p + off + used, len - used);
      if (rd.complete()) {
        require(rd.payload().size() == rd.header().length && rd.header().length <= bound);
        bytes += wire::frame_header_bytes + rd.payload().size();
        ++frames;
        rd.next();
      } else {
        require(u > 0 || rd.failed()); // progress, or a refusal
      }
      used += u;
    }
    off += len;
  }
  require(bytes <= n && frames <= n / wire::frame_header_bytes);

  // Unique id fields and hex text.
  wire::id_fields f;
  if (wire::parse_id(p, n, f) == wire::parse::ok) {
    unsigned char again[wire::unique_id_bytes];
    wire::encode_id(f, again);
    require(std::memcmp(again, p, wire::unique_id_bytes) == 0);
  }
  unsigned char out[64];
  if (n % 2 == 0 && n / 2 <= sizeof out && wire::from_hex(reinterpret_cast<char const*>(p), n, out, n / 2)) {
    char text[128];
    wire::to_hex(out, n / 2, text);
    for (std::size_t i = 0; i < n; ++i) {
      char c = char(p[i]);
      if (c >= 'A' && c <= 'F') c = char(c - 'A' + 'a');
      require(text[i] == c);
    }
  }
  return 0;
}
