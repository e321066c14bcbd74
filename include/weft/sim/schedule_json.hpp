#pragma once
//! \file
//! Schedules as JSON (format "weft-schedule", version 1; docs/schedules.md
//! documents every field). `write_json` emits one step per line; `read_json`
//! parses strictly: unknown fields, duplicate fields, wrong types, fractions
//! where integers belong and out-of-range values are refused with a message
//! that says where ("line 12, column 5: ..."). Fields whose names start with
//! "x-" are extensions and are skipped.
//!
//! ```
//! std::string text = weft::sim::write_json(s);
//! weft::sim::schedule back;
//! std::string why;
//! if (!weft::sim::read_json(text, back, &why)) std::puts(why.c_str());
//! ```

#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

namespace weft::sim {

inline constexpr char const* schedule_json_format = "weft-schedule";
inline constexpr int schedule_json_version = 1;

//! Limits `read_json` enforces (input is untrusted).
struct json_limits {
  std::size_t max_steps = std::size_t(1) << 26;
  std::size_t max_string = 4096;
  int max_depth = 64; //!< nesting of skipped extension values
};

namespace detail {

inline void json_escape(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    unsigned char const u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          char buf[8];
          static char const hex[] = "0123456789abcdef";
          buf[0] = '\\', buf[1] = 'u', buf[2] = '0', buf[3] = '0', buf[4] = hex[u >> 4], buf[5] = hex[u & 15];
          out.append(buf, 6);
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

//! A strict, bounded JSON reader over a string (no DOM).
class json_reader {
public:
  json_reader(std::string_view text, json_limits const& lim) : t_(text), lim_(lim) {}

  std::string const& error() const noexcept { return err_; }
  bool failed() const noexcept { return !err_.empty(); }

  bool fail(std::string const& m) {
    if (err_.empty()) {
      std::size_t line = 1, col = 1;
      for (std::size_t i = 0; i < p_ && i < t_.size(); ++i) {
        if (t_[i] == '\n') ++line, col = 1;
        else ++col;
      }
      err_ = "line " + std::to_string(line) + ", column " + std::to_string(col) + ": " + m;
    }
    return false;
  }

  void ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r')) ++p_;
  }
  bool peek(char c) {
    ws();
    return p_ < t_.size() && t_[p_] == c;
  }
  bool expect(char c, char const* context) {
    ws();
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return fail(std::string("expected '") + c + "' " + context +
                (p_ < t_.size() ? std::string(", found '") + t_[p_] + "'" : std::string(", found the end of the input")));
  }
  bool at_end() {
    ws();
    return p_ >= t_.size();
  }

  bool string(std::string& out) {
    ws();
    if (p_ >= t_.size() || t_[p_] != '"') return fail("expected a string");
    ++p_;
    out.clear();
    while (true) {
      if (p_ >= t_.size()) return fail("unterminated string");
      char const c = t_[p_++];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in a string");
      if (out.size() >= lim_.max_string) return fail("string longer than " + std::to_string(lim_.max_string) + " bytes");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= t_.size()) return fail("unterminated escape");
      char const e = t_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {
            std::uint32_t lo = 0;
            if (p_ + 1 >= t_.size() || t_[p_] != '\\' || t_[p_ + 1] != 'u') return fail("unpaired surrogate in \\u escape");
            p_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xdc00 || lo >= 0xe000) return fail("invalid low surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return fail("unpaired surrogate in \\u escape");
          }
          utf8(out, cp);
          break;
        }
        default: return fail(std::string("invalid escape '\\") + e + "'");
      }
    }
    return true;
  }

  //! An integer in [lo, hi] (no fraction, no exponent).
  bool integer(long long& out, long long lo, long long hi) {
    ws();
    std::size_t const start = p_;
    bool neg = false;
    if (p_ < t_.size() && t_[p_] == '-') neg = true, ++p_;
    if (p_ >= t_.size() || t_[p_] < '0' || t_[p_] > '9') {
      p_ = start;
      return fail("expected an integer");
    }
    if (t_[p_] == '0' && p_ + 1 < t_.size() && t_[p_ + 1] >= '0' && t_[p_ + 1] <= '9') return fail("leading zero in a number");
    unsigned long long v = 0;
    bool overflow = false;
    while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') {
      unsigned const d = unsigned(t_[p_] - '0');
      if (v > (std::numeric_limits<unsigned long long>::max() - d) / 10) overflow = true;
      else v = v * 10 + d;
      ++p_;
    }
    if (p_ < t_.size() && (t_[p_] == '.' || t_[p_] == 'e' || t_[p_] == 'E')) return fail("expected an integer, found a fraction or exponent");
    unsigned long long const lim = neg ? (unsigned long long)(std::numeric_limits<long long>::max()) + 1ull
                                       : (unsigned long long)std::numeric_limits<long long>::max();
    if (overflow || v > lim) return p_ = start, fail("integer out of range");
    long long const x = neg ? (v == lim ? std::numeric_limits<long long>::min() : -(long long)v) : (long long)v;
    if (x < lo || x > hi) {
      p_ = start;
      return fail("value " + std::to_string(x) + " outside " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    out = x;
    return true;
  }

  bool boolean(bool& out) {
    ws();
    if (t_.substr(p_, 4) == "true") return p_ += 4, out = true, true;
    if (t_.substr(p_, 5) == "false") return p_ += 5, out = false, true;
    return fail("expected true or false");
  }

  //! Skip any JSON value (extension fields).
  bool skip(int depth = 0) {
    if (depth > lim_.max_depth) return fail("nesting deeper than " + std::to_string(lim_.max_depth));
    ws();
    if (p_ >= t_.size()) return fail("expected a value");
    char const c = t_[p_];
    std::string s;
    if (c == '"') return string(s);
    if (c == '{' || c == '[') {
      char const close = c == '{' ? '}' : ']';
      ++p_;
      if (peek(close)) return ++p_, true;
      while (true) {
        if (c == '{') {
          if (!string(s) || !expect(':', "after a field name")) return false;
        }
        if (!skip(depth + 1)) return false;
        if (peek(',')) {
          ++p_;
          continue;
        }
        return expect(close, c == '{' ? "to close an object" : "to close an array");
      }
    }
    if (c == 't' || c == 'f') {
      bool b;
      return boolean(b);
    }
    if (t_.substr(p_, 4) == "null") return p_ += 4, true;
    // a number: sign, digits, fraction, exponent
    std::size_t const start = p_;
    if (t_[p_] == '-') ++p_;
    std::size_t digits = 0;
    while (p_ < t_.size() && ((t_[p_] >= '0' && t_[p_] <= '9') || t_[p_] == '.' || t_[p_] == 'e' || t_[p_] == 'E' ||
                              t_[p_] == '+' || t_[p_] == '-'))
      ++p_, ++digits;
    if (digits == 0) return p_ = start, fail("expected a value");
    return true;
  }

private:
  std::string_view t_;
  json_limits lim_;
  std::size_t p_ = 0;
  std::string err_;

  bool hex4(std::uint32_t& cp) {
    if (p_ + 4 > t_.size()) return fail("truncated \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char const h = t_[p_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= std::uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= std::uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= std::uint32_t(h - 'A' + 10);
      else return fail("invalid hex digit in \\u escape");
    }
    return true;
  }
  static void utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) out += char(0xc0 | (cp >> 6)), out += char(0x80 | (cp & 0x3f));
    else if (cp < 0x10000)
      out += char(0xe0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3f)), out += char(0x80 | (cp & 0x3f));
    else
      out += char(0xf0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3f)), out += char(0x80 | ((cp >> 6) & 0x3f)),
          out += char(0x80 | (cp & 0x3f));
  }
};

// Field bookkeeping: which of up to 64 fields were seen (duplicates are refused).
struct seen_fields {
  std::uint64_t bits = 0;
  bool mark(int i) {
    std::uint64_t const b = std::uint64_t(1) << i;
    if (bits & b) return false;
    bits |= b;
    return true;
  }
  bool has(int i) const { return (bits >> i) & 1u; }
};

inline constexpr long long json_max_count = (long long)1 << 48;

inline bool json_read_step(json_reader& j, step& t, std::size_t index) {
  static constexpr char const* names[] = {"rank",       "channel",   "program",  "op",          "recv_peer",
                                          "send_peer",  "src",       "src_offset", "dst",       "dst_offset",
                                          "count",      "post",      "direct",   "peer_offset", "dep_program",
                                          "dep_index",  "waits_data", "waits_credit", "pre",     "peer"};
  constexpr int nnames = int(sizeof(names) / sizeof(names[0]));
  std::string const at = "steps[" + std::to_string(index) + "]";
  if (!j.expect('{', ("to open " + at).c_str())) return false;
  seen_fields seen;
  std::string key, sv;
  long long v = 0;
  bool first = true;
  while (!j.peek('}')) {
    if (!first && !j.expect(',', ("between the fields of " + at).c_str())) return false;
    first = false;
    if (!j.string(key) || !j.expect(':', "after a field name")) return false;
    if (key.size() > 2 && key[0] == 'x' && key[1] == '-') {
      if (!j.skip()) return false;
      continue;
    }
    int f = -1;
    for (int i = 0; i < nnames; ++i)
      if (key == names[i]) f = i;
    if (f < 0) return j.fail(at + ": unknown field '" + key + "'");
    if (!seen.mark(f)) return j.fail(at + ": field '" + key + "' given twice");
    bool ok = true;
    switch (f) {
      case 0: ok = j.integer(v, 0, max_ranks - 1), t.rank = int(v); break;
      case 1: ok = j.integer(v, 0, max_channels - 1), t.channel = int(v); break;
      case 2: ok = j.integer(v, -1, std::numeric_limits<int>::max()), t.program = int(v); break;
      case 3:
        ok = j.string(sv);
        if (ok && !parse_step_op(sv, t.op)) return j.fail(at + ": unknown op '" + sv + "'");
        break;
      case 4: ok = j.integer(v, -1, max_ranks - 1), t.recv_peer = int(v); break;
      case 5: ok = j.integer(v, -1, max_ranks - 1), t.send_peer = int(v); break;
      case 6:
      case 8: {
        ok = j.string(sv);
        buf b = buf::none;
        if (ok && !parse_buf(sv, b)) return j.fail(at + ": unknown buffer '" + sv + "' (input, output, scratch or none)");
        (f == 6 ? t.src : t.dst) = b;
        break;
      }
      case 7: ok = j.integer(v, 0, json_max_count), t.src_offset = std::size_t(v); break;
      case 9: ok = j.integer(v, 0, json_max_count), t.dst_offset = std::size_t(v); break;
      case 10: ok = j.integer(v, 0, json_max_count), t.count = std::size_t(v); break;
      case 11: ok = j.boolean(t.post); break;
      case 12: ok = j.boolean(t.direct); break;
      case 13: ok = j.integer(v, 0, json_max_count), t.peer_offset = std::size_t(v); break;
      case 14: ok = j.integer(v, -1, std::numeric_limits<int>::max()), t.dep_program = int(v); break;
      case 15: ok = j.integer(v, -1, json_max_count), t.dep_index = v; break;
      case 16: ok = j.boolean(t.waits_data); break;
      case 17: ok = j.boolean(t.waits_credit); break;
      case 18: ok = j.boolean(t.pre); break;
      case 19: ok = j.integer(v, -1, max_ranks - 1), t.peer = int(v); break;
      default: break;
    }
    if (!ok) return false;
  }
  j.expect('}', "");
  for (int req : {0, 3, 10})
    if (!seen.has(req)) return j.fail(at + ": missing field '" + std::string(names[req]) + "'");
  return true;
}

} // namespace detail

//! The schedule as JSON: a header object with one step per line.
inline std::string write_json(schedule const& s) {
  using detail::json_escape;
  std::string o;
  o.reserve(256 + s.steps.size() * 96);
  auto num = [&](char const* k, long long v) { o += std::string("  \"") + k + "\": " + std::to_string(v) + ",\n"; };
  auto str = [&](char const* k, std::string_view v) {
    o += std::string("  \"") + k + "\": ";
    json_escape(o, v);
    o += ",\n";
  };
  o += "{\n";
  str("format", schedule_json_format);
  num("version", schedule_json_version);
  str("name", s.name);
  str("collective", to_string(s.coll));
  num("nranks", s.nranks);
  num("nchannels", s.nchannels);
  num("nslots", s.nslots);
  num("root", s.root);
  num("count", (long long)s.count);
  num("elem_bytes", (long long)s.elem_bytes);
  str("protocol", to_string(s.proto));
  num("slot_bytes", (long long)s.slot_bytes);
  num("scratch_count", (long long)s.scratch_count);
  o += std::string("  \"in_place\": ") + (s.in_place ? "true" : "false") + ",\n";
  o += std::string("  \"marks_post\": ") + (s.marks_post ? "true" : "false") + ",\n";
  o += "  \"steps\": [";
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    step const& t = s.steps[i];
    o += i ? ",\n    {" : "\n    {";
    o += "\"rank\": " + std::to_string(t.rank) + ", \"channel\": " + std::to_string(t.channel);
    if (t.program >= 0) o += ", \"program\": " + std::to_string(t.program);
    o += std::string(", \"op\": \"") + to_string(t.op) + "\"";
    if (t.recv_peer >= 0) o += ", \"recv_peer\": " + std::to_string(t.recv_peer);
    if (t.send_peer >= 0) o += ", \"send_peer\": " + std::to_string(t.send_peer);
    if (t.peer >= 0) o += ", \"peer\": " + std::to_string(t.peer);
    if (t.src != buf::none)
      o += std::string(", \"src\": \"") + to_string(t.src) + "\", \"src_offset\": " + std::to_string(t.src_offset);
    if (t.dst != buf::none)
      o += std::string(", \"dst\": \"") + to_string(t.dst) + "\", \"dst_offset\": " + std::to_string(t.dst_offset);
    o += ", \"count\": " + std::to_string(t.count);
    if (t.post) o += ", \"post\": true";
    if (!t.pre) o += ", \"pre\": false";
    if (t.direct) o += ", \"direct\": true, \"peer_offset\": " + std::to_string(t.peer_offset);
    if (t.dep_program >= 0 || t.dep_index >= 0)
      o += ", \"dep_program\": " + std::to_string(t.dep_program) + ", \"dep_index\": " + std::to_string(t.dep_index);
    if (!t.waits_data) o += ", \"waits_data\": false";
    if (!t.waits_credit) o += ", \"waits_credit\": false";
    o += "}";
  }
  o += s.steps.empty() ? "]\n}\n" : "\n  ]\n}\n";
  return o;
}

//! Parse a schedule written by `write_json` (or by hand, following docs/schedules.md).
//! On failure `out` is left unchanged and `*error` says what and where. The result is linked
//! when its sends and receives pair up (`verify` reports why they do not).
inline bool read_json(std::string_view text, schedule& out, std::string* error = nullptr, json_limits const& lim = {}) {
  detail::json_reader j(text, lim);
  schedule s;
  auto done = [&](bool ok) {
    if (!ok) {
      if (error) *error = j.failed() ? j.error() : std::string("invalid schedule");
      return false;
    }
    out = std::move(s);
    return true;
  };
  static constexpr char const* names[] = {"format",     "version",     "name",          "collective", "nranks",
                                          "nchannels",  "nslots",      "root",          "count",      "elem_bytes",
                                          "protocol",   "slot_bytes",  "scratch_count", "in_place",   "marks_post",
                                          "steps"};
  constexpr int nnames = int(sizeof(names) / sizeof(names[0]));
  detail::seen_fields seen;
  if (!j.expect('{', "at the start of a schedule")) return done(false);
  std::string key, sv;
  long long v = 0;
  bool first = true;
  while (!j.peek('}')) {
    if (!first && !j.expect(',', "between fields")) return done(false);
    first = false;
    if (!j.string(key) || !j.expect(':', "after a field name")) return done(false);
    if (key.size() > 2 && key[0] == 'x' && key[1] == '-') {
      if (!j.skip()) return done(false);
      continue;
    }
    int f = -1;
    for (int i = 0; i < nnames; ++i)
      if (key == names[i]) f = i;
    if (f < 0) return done(j.fail("unknown field '" + key + "'"));
    if (!seen.mark(f)) return done(j.fail("field '" + key + "' given twice"));
    bool ok = true;
    switch (f) {
      case 0:
        ok = j.string(sv);
        if (ok && sv != schedule_json_format)
          return done(j.fail("format is '" + sv + "', expected '" + schedule_json_format + "'"));
        break;
      case 1:
        ok = j.integer(v, 0, 1 << 30);
        if (ok && v != schedule_json_version)
          return done(j.fail("version " + std::to_string(v) + " is not supported (this reader knows version " +
                             std::to_string(schedule_json_version) + ")"));
        break;
      case 2: ok = j.string(s.name); break;
      case 3:
        ok = j.string(sv);
        if (ok && !parse_collective(sv, s.coll)) return done(j.fail("unknown collective '" + sv + "'"));
        break;
      case 4: ok = j.integer(v, 1, max_ranks), s.nranks = int(v); break;
      case 5: ok = j.integer(v, 1, max_channels), s.nchannels = int(v); break;
      case 6: ok = j.integer(v, 1, 1 << 20), s.nslots = int(v); break;
      case 7: ok = j.integer(v, 0, max_ranks - 1), s.root = int(v); break;
      case 8: ok = j.integer(v, 0, detail::json_max_count), s.count = std::size_t(v); break;
      case 9: ok = j.integer(v, 1, 1 << 10), s.elem_bytes = std::size_t(v); break;
      case 10:
        ok = j.string(sv);
        if (ok && !parse_protocol(sv.c_str(), s.proto)) return done(j.fail("unknown protocol '" + sv + "'"));
        break;
      case 11: ok = j.integer(v, 0, (long long)1 << 40), s.slot_bytes = std::size_t(v); break;
      case 12: ok = j.integer(v, 0, detail::json_max_count), s.scratch_count = std::size_t(v); break;
      case 13: ok = j.boolean(s.in_place); break;
      case 14: ok = j.boolean(s.marks_post); break;
      case 15: {
        ok = j.expect('[', "to open the steps");
        bool first_step = true;
        while (ok && !j.peek(']')) {
          if (!first_step && !j.expect(',', "between steps")) return done(false);
          first_step = false;
          if (s.steps.size() >= lim.max_steps)
            return done(j.fail("more than " + std::to_string(lim.max_steps) + " steps"));
          s.steps.emplace_back();
          ok = detail::json_read_step(j, s.steps.back(), s.steps.size() - 1);
        }
        if (ok) ok = j.expect(']', "to close the steps");
        break;
      }
      default: break;
    }
    if (!ok) return done(false);
  }
  if (!j.expect('}', "to close the schedule")) return done(false);
  if (!j.at_end()) return done(j.fail("text after the schedule"));
  for (int req : {0, 1, 3, 4, 8, 15})
    if (!seen.has(req)) return done(j.fail(std::string("missing field '") + names[req] + "'"));
  std::string why;
  if (s.root >= s.nranks) why = "root " + std::to_string(s.root) + " outside 0..nranks-1";
  else why = detail::range_error(s);
  if (!why.empty()) {
    if (error) *error = "invalid schedule: " + why;
    return false;
  }
  (void)s.link(); // a schedule that does not link is still read: verify() says what is wrong with it
  return done(true);
}

} // namespace weft::sim
