#pragma once
//! \file
//! A small JSON reader for the simulator's data files (topologies, cost
//! parameters). No dependency; errors name the line and column.
//!
//! It reads RFC 8259 JSON (objects, arrays, strings with escapes, numbers,
//! true/false/null) and, as a convenience for hand-edited data files, `//`
//! line comments. Numbers are doubles. Objects keep their keys in file order,
//! so a data file can be checked for unknown keys (typos).

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace weft::sim::data_json {

//! Kind of a JSON value.
enum class kind : unsigned char { null, boolean, number, string, array, object };

inline char const* to_string(kind k) noexcept {
  switch (k) {
    case kind::null: return "null";
    case kind::boolean: return "a boolean";
    case kind::number: return "a number";
    case kind::string: return "a string";
    case kind::array: return "an array";
    case kind::object: return "an object";
  }
  return "?";
}

//! A JSON value (a tree; objects keep key order).
struct value {
  kind k = kind::null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<value> items;                          //!< array elements
  std::vector<std::pair<std::string, value>> fields; //!< object members, in file order
  int line = 0;                                      //!< where the value starts (1-based)

  bool is(kind kk) const noexcept { return k == kk; }
  //! Member `key` of an object, or null when absent (or not an object).
  value const* find(std::string const& key) const noexcept {
    if (k != kind::object) return nullptr;
    for (auto const& f : fields)
      if (f.first == key) return &f.second;
    return nullptr;
  }
};

namespace detail {

struct parser {
  explicit parser(std::string const& text) : s(text) {}
  std::string const& s;
  std::size_t i = 0;
  int line = 1;
  std::size_t line_start = 0;
  std::string err;

  bool fail(std::string const& what) {
    if (err.empty())
      err = "line " + std::to_string(line) + ", column " + std::to_string(i - line_start + 1) + ": " + what;
    return false;
  }
  void skip_ws() {
    while (i < s.size()) {
      char const c = s[i];
      if (c == '\n') {
        ++line;
        line_start = ++i;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++i;
      } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
        while (i < s.size() && s[i] != '\n') ++i;
      } else {
        break;
      }
    }
  }
  bool literal(char const* word) {
    std::size_t j = 0;
    while (word[j]) {
      if (i + j >= s.size() || s[i + j] != word[j]) return fail(std::string("expected '") + word + "'");
      ++j;
    }
    i += j;
    return true;
  }
  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(unsigned& out) {
    if (i + 4 > s.size()) return fail("truncated \\u escape");
    out = 0;
    for (int j = 0; j < 4; ++j) {
      char const c = s[i++];
      unsigned d = 0;
      if (c >= '0' && c <= '9') d = unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') d = unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = unsigned(c - 'A' + 10);
      else return fail("bad hex digit in \\u escape");
      out = out * 16 + d;
    }
    return true;
  }
  bool string(std::string& out) {
    ++i; // opening quote
    while (true) {
      if (i >= s.size()) return fail("unterminated string");
      char const c = s[i];
      if (c == '"') {
        ++i;
        return true;
      }
      if (c == '\n') return fail("newline inside a string");
      if (c != '\\') {
        out += c;
        ++i;
        continue;
      }
      if (++i >= s.size()) return fail("unterminated escape");
      char const e = s[i++];
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
          unsigned cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && i + 1 < s.size() && s[i] == '\\' && s[i + 1] == 'u') {
            i += 2;
            unsigned lo = 0;
            if (!hex4(lo)) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: return fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }
  bool number(double& out) {
    std::size_t const b = i;
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size() || !(s[i] >= '0' && s[i] <= '9')) return fail("bad number");
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                            s[i] == '+' || s[i] == '-'))
      ++i;
    std::string const t = s.substr(b, i - b);
    char* end = nullptr;
    out = std::strtod(t.c_str(), &end);
    if (end == nullptr || *end != 0) {
      i = b;
      return fail("bad number '" + t + "'");
    }
    return true;
  }
  bool parse(value& v, int depth) {
    if (depth > 64) return fail("nesting deeper than 64");
    skip_ws();
    if (i >= s.size()) return fail("unexpected end of input");
    v.line = line;
    char const c = s[i];
    if (c == '{') {
      v.k = kind::object;
      ++i;
      skip_ws();
      if (i < s.size() && s[i] == '}') return ++i, true;
      while (true) {
        skip_ws();
        if (i >= s.size() || s[i] != '"') return fail("expected a member name in quotes");
        std::string key;
        if (!string(key)) return false;
        for (auto const& f : v.fields)
          if (f.first == key) return fail("duplicate member \"" + key + "\"");
        skip_ws();
        if (i >= s.size() || s[i] != ':') return fail("expected ':' after \"" + key + "\"");
        ++i;
        value m;
        if (!parse(m, depth + 1)) return false;
        v.fields.emplace_back(std::move(key), std::move(m));
        skip_ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}') return ++i, true;
        return fail("expected ',' or '}' in an object");
      }
    }
    if (c == '[') {
      v.k = kind::array;
      ++i;
      skip_ws();
      if (i < s.size() && s[i] == ']') return ++i, true;
      while (true) {
        value m;
        if (!parse(m, depth + 1)) return false;
        v.items.push_back(std::move(m));
        skip_ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']') return ++i, true;
        return fail("expected ',' or ']' in an array");
      }
    }
    if (c == '"') return v.k = kind::string, string(v.str);
    if (c == 't') return v.k = kind::boolean, v.b = true, literal("true");
    if (c == 'f') return v.k = kind::boolean, v.b = false, literal("false");
    if (c == 'n') return v.k = kind::null, literal("null");
    if (c == '-' || (c >= '0' && c <= '9')) return v.k = kind::number, number(v.num);
    return fail(std::string("unexpected character '") + c + "'");
  }
};

} // namespace detail

//! Parse `text`. On failure returns false and sets `*why` to "line L, column C: ...".
inline bool parse(std::string const& text, value& out, std::string* why = nullptr) {
  detail::parser p(text);
  out = value{};
  if (!p.parse(out, 0)) {
    if (why) *why = p.err;
    return false;
  }
  p.skip_ws();
  if (p.i != text.size()) {
    p.fail("text after the end of the document");
    if (why) *why = p.err;
    return false;
  }
  return true;
}

//! Read and parse the file at `path`; errors are prefixed with the path.
inline bool parse_file(std::string const& path, value& out, std::string* why = nullptr) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (why) *why = path + ": cannot open";
    return false;
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string err;
  if (!parse(ss.str(), out, &err)) {
    if (why) *why = path + ": " + err;
    return false;
  }
  return true;
}

//! Reads typed members of one object and collects the first error, naming the
//! member by its path (`nvlink.GBps`) and line. Unknown members are errors
//! (`finish()`), so a misspelt key is never silently ignored.
class object_reader {
public:
  object_reader(value const& v, std::string path, std::string* err) : v_(v), path_(std::move(path)), err_(err) {
    if (!v.is(kind::object)) fail(v, "must be an object, not " + std::string(to_string(v.k)));
  }

  bool ok() const noexcept { return err_ == nullptr || err_->empty(); }
  std::string const& path() const noexcept { return path_; }
  std::string member_path(std::string const& key) const { return path_.empty() ? key : path_ + "." + key; }

  //! The member `key` (marked as used), or null when absent.
  value const* get(std::string const& key) {
    used_.push_back(key);
    return v_.find(key);
  }

  bool number(std::string const& key, double& out, bool required, double lo, double hi) {
    value const* m = get(key);
    if (m == nullptr) return required ? missing(key) : true;
    if (!m->is(kind::number)) return wrong(*m, key, "a number");
    if (!(m->num >= lo && m->num <= hi)) {
      std::ostringstream os;
      os << member_path(key) << " = " << m->num << " is out of range [" << lo << ", " << hi << "]";
      return fail(*m, os.str());
    }
    out = m->num;
    return true;
  }
  bool integer(std::string const& key, int& out, bool required, int lo, int hi) {
    double d = out;
    value const* m = v_.find(key);
    if (!number(key, d, required, lo, hi)) return false;
    if (m != nullptr && double(static_cast<long long>(d)) != d)
      return fail(*m, member_path(key) + " must be a whole number");
    out = static_cast<int>(d);
    return true;
  }
  bool boolean(std::string const& key, bool& out, bool required) {
    value const* m = get(key);
    if (m == nullptr) return required ? missing(key) : true;
    if (!m->is(kind::boolean)) return wrong(*m, key, "true or false");
    out = m->b;
    return true;
  }
  bool string(std::string const& key, std::string& out, bool required) {
    value const* m = get(key);
    if (m == nullptr) return required ? missing(key) : true;
    if (!m->is(kind::string)) return wrong(*m, key, "a string");
    out = m->str;
    return true;
  }
  //! Mark `key` as known without reading it (documentation members such as "sources").
  void ignore(std::string const& key) { used_.push_back(key); }

  //! Fails on the first member that was never read.
  bool finish() {
    if (!ok() || !v_.is(kind::object)) return false;
    for (auto const& f : v_.fields) {
      bool known = false;
      for (auto const& u : used_)
        if (u == f.first) known = true;
      if (!known) return fail(f.second, "unknown member \"" + member_path(f.first) + "\"");
    }
    return true;
  }

  bool fail(value const& at, std::string const& what) {
    if (err_ && err_->empty()) *err_ = "line " + std::to_string(at.line) + ": " + what;
    return false;
  }

private:
  bool missing(std::string const& key) { return fail(v_, "missing member \"" + member_path(key) + "\""); }
  bool wrong(value const& m, std::string const& key, char const* want) {
    return fail(m, member_path(key) + " must be " + want + ", not " + to_string(m.k));
  }

  value const& v_;
  std::string path_;
  std::string* err_;
  std::vector<std::string> used_;
};

} // namespace weft::sim::data_json
