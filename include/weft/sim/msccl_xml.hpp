#pragma once
//! \file
//! MSCCL XML: the algorithm format msccl-tools emits, the MSCCL runtime
//! executes and ASTRA-sim (through Chakra) reads.
//!
//! ```
//! <algo name="ring" proto="Simple" nchannels="1" nchunksperloop="4" ngpus="4" coll="allreduce" inplace="0">
//!   <gpu id="0" i_chunks="4" o_chunks="4" s_chunks="0">
//!     <tb id="0" send="1" recv="3" chan="0">
//!       <step s="0" type="s" srcbuf="i" srcoff="3" dstbuf="i" dstoff="3" cnt="1" depid="-1" deps="-1" hasdep="0"/>
//! ```
//! Mapping (docs/schedules.md has the full table): a gpu is a rank, a
//! threadblock (tb) a program, its `chan` the step's channel, its send/recv
//! peers the step's peers. Step types: s = send, r = recv, rrs, rrc, rcs,
//! rrcs = the prims of those names, cpy = local, re = reduce, nop = nop;
//! depid/deps = dep_program/dep_index. Offsets and counts are in chunks of
//! `chunk_elems` elements. weft's copy_send has no MSCCL type: it is written as
//! cpy followed by s, and read back as one copy_send. What MSCCL cannot say:
//! post flags (imported schedules have `marks_post = false`), direct transfers
//! (written as plain sends and receives that land in the same place), slot
//! counts and sizes (import options).

#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::sim {

struct msccl_import_options {
  std::size_t chunk_elems = 1; //!< elements per MSCCL chunk
  int nslots = 8;              //!< slots per connection (MSCCL does not say)
  std::size_t elem_bytes = 4;
  std::size_t slot_bytes = 0;  //!< 0: the protocol's default
  int root = 0;                //!< broadcast / reduce
  bool fuse_copy_send = true;  //!< read `cpy X->Y; s X` (same tb, same chunk) as one copy_send
  std::size_t max_bytes = std::size_t(1) << 30; //!< refuse larger inputs
};

struct msccl_export_options {
  std::size_t chunk_elems = 0; //!< 0: the largest that divides every offset, count and buffer size
};

namespace detail {

struct xml_attr {
  std::string name, value;
};

//! A small, strict, bounded XML reader (elements, attributes, comments,
//! processing instructions; no DTD). Calls `start(name, attrs, empty)` and
//! `end(name)`; either may return false (after calling `fail`) to stop.
class xml_reader {
public:
  explicit xml_reader(std::string_view t) : t_(t) {}
  std::string const& error() const noexcept { return err_; }

  bool fail(std::string const& m) {
    if (err_.empty()) err_ = location() + m;
    return false;
  }
  std::string location() const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < mark_ && i < t_.size(); ++i) {
      if (t_[i] == '\n') ++line, col = 1;
      else ++col;
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(col) + ": ";
  }

  template <class Start, class End>
  bool parse(Start&& start, End&& end) {
    if (t_.substr(0, 3) == "\xEF\xBB\xBF") p_ = 3;
    std::vector<std::string> open;
    bool seen_root = false;
    std::vector<xml_attr> attrs;
    std::string name;
    while (true) {
      std::size_t const text_start = p_;
      while (p_ < t_.size() && t_[p_] != '<') ++p_;
      if (open.empty())
        for (std::size_t i = text_start; i < p_; ++i)
          if (!is_space(t_[i])) return mark_ = i, fail("text outside the root element");
      if (p_ >= t_.size()) break;
      mark_ = p_;
      if (t_.substr(p_, 4) == "<!--") {
        std::size_t const e = t_.find("-->", p_ + 4);
        if (e == std::string_view::npos) return fail("unterminated comment");
        p_ = e + 3;
      } else if (t_.substr(p_, 2) == "<?") {
        std::size_t const e = t_.find("?>", p_ + 2);
        if (e == std::string_view::npos) return fail("unterminated processing instruction");
        p_ = e + 2;
      } else if (t_.substr(p_, 9) == "<![CDATA[") {
        if (open.empty()) return fail("CDATA outside the root element");
        std::size_t const e = t_.find("]]>", p_ + 9);
        if (e == std::string_view::npos) return fail("unterminated CDATA section");
        p_ = e + 3;
      } else if (t_.substr(p_, 2) == "<!") {
        return fail("DTDs and declarations are not supported");
      } else if (t_.substr(p_, 2) == "</") {
        p_ += 2;
        if (!read_name(name)) return false;
        skip_space();
        if (p_ >= t_.size() || t_[p_] != '>') return fail("expected '>' to end </" + name);
        ++p_;
        if (open.empty() || open.back() != name)
          return fail("closing tag </" + name + "> does not match " + (open.empty() ? std::string("any open element") : "<" + open.back() + ">"));
        open.pop_back();
        if (!end(name)) return false;
      } else {
        ++p_;
        if (!read_name(name)) return false;
        if (open.empty() && seen_root) return fail("a second root element <" + name + ">");
        attrs.clear();
        bool empty = false;
        while (true) {
          bool const spaced = skip_space();
          if (p_ >= t_.size()) return fail("unterminated tag <" + name);
          if (t_[p_] == '>') {
            ++p_;
            break;
          }
          if (t_.substr(p_, 2) == "/>") {
            p_ += 2;
            empty = true;
            break;
          }
          if (!spaced) return fail("expected whitespace between attributes of <" + name + ">");
          xml_attr a;
          if (!read_name(a.name)) return false;
          skip_space();
          if (p_ >= t_.size() || t_[p_] != '=') return fail("expected '=' after attribute " + a.name);
          ++p_;
          skip_space();
          if (!read_value(a.value)) return false;
          for (auto const& b : attrs)
            if (b.name == a.name) return fail("attribute " + a.name + " given twice in <" + name + ">");
          if (attrs.size() >= 64) return fail("too many attributes in <" + name + ">");
          attrs.push_back(std::move(a));
        }
        seen_root = true;
        if (!empty) {
          if (open.size() >= 32) return fail("elements nested deeper than 32");
          open.push_back(name);
        }
        if (!start(name, attrs, empty)) return false;
        if (empty && !end(name)) return false;
      }
    }
    mark_ = t_.size();
    if (!open.empty()) return fail("element <" + open.back() + "> is never closed");
    if (!seen_root) return fail("no root element");
    return true;
  }

private:
  std::string_view t_;
  std::size_t p_ = 0, mark_ = 0;
  std::string err_;

  static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
  bool skip_space() {
    std::size_t const s = p_;
    while (p_ < t_.size() && is_space(t_[p_])) ++p_;
    return p_ > s;
  }
  static bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':'; }
  static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.'; }
  bool read_name(std::string& out) {
    if (p_ >= t_.size() || !name_start(t_[p_])) return mark_ = p_, fail("expected a name");
    std::size_t const s = p_;
    while (p_ < t_.size() && name_char(t_[p_])) ++p_;
    if (p_ - s > 256) return fail("name longer than 256 characters");
    out.assign(t_.substr(s, p_ - s));
    return true;
  }
  bool read_value(std::string& out) {
    if (p_ >= t_.size() || (t_[p_] != '"' && t_[p_] != '\'')) return mark_ = p_, fail("expected a quoted attribute value");
    char const q = t_[p_++];
    out.clear();
    while (true) {
      if (p_ >= t_.size()) return fail("unterminated attribute value");
      char const c = t_[p_++];
      if (c == q) return true;
      if (c == '<') return mark_ = p_ - 1, fail("'<' in an attribute value");
      if (out.size() > 4096) return fail("attribute value longer than 4096 characters");
      if (c != '&') {
        out += c;
        continue;
      }
      std::size_t const e = t_.find(';', p_);
      if (e == std::string_view::npos || e - p_ > 10) return mark_ = p_ - 1, fail("malformed entity reference");
      std::string_view const ent = t_.substr(p_, e - p_);
      p_ = e + 1;
      if (ent == "lt") out += '<';
      else if (ent == "gt") out += '>';
      else if (ent == "amp") out += '&';
      else if (ent == "quot") out += '"';
      else if (ent == "apos") out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') {
        unsigned long v = 0;
        bool const hex = ent[1] == 'x';
        std::size_t i = hex ? 2 : 1;
        if (i >= ent.size()) return fail("malformed character reference");
        for (; i < ent.size(); ++i) {
          char const d = ent[i];
          int dv = -1;
          if (d >= '0' && d <= '9') dv = d - '0';
          else if (hex && d >= 'a' && d <= 'f') dv = d - 'a' + 10;
          else if (hex && d >= 'A' && d <= 'F') dv = d - 'A' + 10;
          if (dv < 0) return fail("malformed character reference");
          v = v * (hex ? 16ul : 10ul) + unsigned(dv);
          if (v > 0x10ffff) return fail("character reference out of range");
        }
        if (v >= 0x80) return fail("non-ASCII character references are not supported in MSCCL attributes");
        out += char(v);
      } else {
        return fail("unknown entity &" + std::string(ent) + ";");
      }
    }
  }
};

struct msccl_step {
  int s = 0;
  std::string type;
  char srcbuf = 'i', dstbuf = 'i';
  long long srcoff = 0, dstoff = 0, cnt = 0;
  int depid = -1;
  long long deps = -1;
  std::string where;
};
struct msccl_tb {
  int id = 0, send = -1, recv = -1, chan = 0;
  std::vector<msccl_step> steps;
};
struct msccl_gpu {
  int id = 0;
  long long i_chunks = 0, o_chunks = 0, s_chunks = 0;
  std::vector<msccl_tb> tbs;
};

inline std::string lower_alnum(std::string_view s) {
  std::string r;
  for (char c : s)
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) r += c;
    else if (c >= 'A' && c <= 'Z') r += char(c - 'A' + 'a');
  return r;
}

inline bool msccl_collective(std::string_view name, collective& c) {
  std::string const n = lower_alnum(name);
  if (n == "allreduce") return c = collective::all_reduce, true;
  if (n == "allgather") return c = collective::all_gather, true;
  if (n == "reducescatter") return c = collective::reduce_scatter, true;
  if (n == "broadcast") return c = collective::broadcast, true;
  if (n == "reduce") return c = collective::reduce, true;
  return false;
}

inline char const* msccl_collective_name(collective c) {
  switch (c) {
    case collective::all_reduce: return "allreduce";
    case collective::all_gather: return "allgather";
    case collective::reduce_scatter: return "reduce_scatter";
    case collective::broadcast: return "broadcast";
    case collective::reduce: return "reduce";
  }
  return "custom";
}

inline bool msccl_type(std::string_view t, step_op& op) {
  if (t == "s") return op = step_op::send, true;
  if (t == "r") return op = step_op::recv, true;
  if (t == "rrs") return op = step_op::recv_reduce_send, true;
  if (t == "rrc") return op = step_op::recv_reduce_copy, true;
  if (t == "rcs") return op = step_op::recv_copy_send, true;
  if (t == "rrcs") return op = step_op::recv_reduce_copy_send, true;
  if (t == "cpy") return op = step_op::local, true;
  if (t == "re") return op = step_op::reduce, true;
  if (t == "nop") return op = step_op::nop, true;
  return false;
}

inline char const* msccl_type_name(step_op op) {
  switch (op) {
    case step_op::send: return "s";
    case step_op::recv: return "r";
    case step_op::recv_reduce_send: return "rrs";
    case step_op::recv_reduce_copy: return "rrc";
    case step_op::recv_copy_send: return "rcs";
    case step_op::recv_reduce_copy_send: return "rrcs";
    case step_op::copy_send: return "s"; // preceded by a cpy
    case step_op::local: return "cpy";
    case step_op::reduce: return "re";
    case step_op::nop: return "nop";
    default: return "nop"; // flag and one-sided steps: refused by write_msccl_xml
  }
}

inline char msccl_buf_char(buf b) { return b == buf::output ? 'o' : b == buf::scratch ? 's' : 'i'; }

inline std::size_t gcd(std::size_t a, std::size_t b) {
  while (b) {
    std::size_t const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

} // namespace detail

//! Read an MSCCL XML algorithm into a schedule (linked when its sends and
//! receives pair up). On failure `out` is unchanged and `*error` says what and where.
inline bool read_msccl_xml(std::string_view text, schedule& out, std::string* error = nullptr,
                           msccl_import_options const& o = {}) {
  using namespace detail;
  auto fail = [&](std::string const& m) {
    if (error) *error = m;
    return false;
  };
  if (text.size() > o.max_bytes) return fail("input larger than max_bytes");
  if (o.chunk_elems < 1 || o.chunk_elems > (std::size_t(1) << 24)) return fail("chunk_elems must be in 1..2^24");
  if (o.nslots < 1) return fail("nslots must be at least 1");

  xml_reader x(text);
  std::map<std::string, std::string> algo;
  std::vector<msccl_gpu> gpus;
  int depth = 0;
  auto attr_map = [](std::vector<xml_attr> const& a) {
    std::map<std::string, std::string> m;
    for (auto const& kv : a) m[kv.name] = kv.value;
    return m;
  };
  // Integer attribute in [lo, hi]; `def` when absent and not required.
  auto get_int = [&](std::map<std::string, std::string> const& m, char const* key, bool required, long long def,
                     long long lo, long long hi, std::string const& what, long long& v) {
    auto it = m.find(key);
    if (it == m.end()) {
      if (required) return x.fail(what + ": missing attribute " + key);
      v = def;
      return true;
    }
    std::string const& s = it->second;
    std::size_t i = 0;
    bool neg = false;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i] == '-', ++i;
    if (i >= s.size()) return x.fail(what + ": attribute " + key + "=\"" + s + "\" is not an integer");
    long long r = 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return x.fail(what + ": attribute " + key + "=\"" + s + "\" is not an integer");
      if (r > (hi + 1) / 10 + 1) return x.fail(what + ": attribute " + key + "=\"" + s + "\" is out of range");
      r = r * 10 + (s[i] - '0');
    }
    if (neg) r = -r;
    if (r < lo || r > hi)
      return x.fail(what + ": attribute " + key + "=" + s + " outside " + std::to_string(lo) + ".." + std::to_string(hi));
    v = r;
    return true;
  };
  long long const max_chunks = (long long)1 << 31;
  bool const parsed = x.parse(
      [&](std::string const& name, std::vector<xml_attr> const& attrs, bool) {
        auto m = attr_map(attrs);
        long long v = 0;
        if (depth == 0) {
          if (name != "algo") return x.fail("the root element is <" + name + ">, expected <algo>");
          algo = m;
        } else if (depth == 1) {
          if (name != "gpu") return x.fail("unexpected <" + name + "> in <algo> (expected <gpu>)");
          msccl_gpu g;
          if (!get_int(m, "id", true, 0, 0, max_ranks - 1, "<gpu>", v)) return false;
          g.id = int(v);
          std::string const w = "gpu " + std::to_string(g.id);
          if (!get_int(m, "i_chunks", true, 0, 0, max_chunks, w, g.i_chunks) ||
              !get_int(m, "o_chunks", true, 0, 0, max_chunks, w, g.o_chunks) ||
              !get_int(m, "s_chunks", false, 0, 0, max_chunks, w, g.s_chunks))
            return false;
          gpus.push_back(std::move(g));
        } else if (depth == 2) {
          std::string const w = "gpu " + std::to_string(gpus.back().id);
          if (name != "tb") return x.fail(w + ": unexpected <" + name + "> (expected <tb>)");
          msccl_tb tb;
          if (!get_int(m, "id", true, 0, 0, 1 << 20, w + " <tb>", v)) return false;
          tb.id = int(v);
          std::string const wt = w + " tb " + std::to_string(tb.id);
          if (!get_int(m, "send", true, -1, -1, max_ranks - 1, wt, v)) return false;
          tb.send = int(v);
          if (!get_int(m, "recv", true, -1, -1, max_ranks - 1, wt, v)) return false;
          tb.recv = int(v);
          if (!get_int(m, "chan", false, 0, 0, max_channels - 1, wt, v)) return false;
          tb.chan = int(v);
          gpus.back().tbs.push_back(std::move(tb));
        } else if (depth == 3) {
          auto& tb = gpus.back().tbs.back();
          std::string const wt = "gpu " + std::to_string(gpus.back().id) + " tb " + std::to_string(tb.id);
          if (name != "step") return x.fail(wt + ": unexpected <" + name + "> (expected <step>)");
          msccl_step st;
          st.where = wt + " step " + std::to_string(tb.steps.size());
          if (!get_int(m, "s", true, 0, 0, 1 << 24, st.where, v)) return false;
          st.s = int(v);
          if (st.s != int(tb.steps.size()))
            return x.fail(st.where + ": s=" + std::to_string(st.s) + ", expected " + std::to_string(tb.steps.size()) +
                          " (steps must be numbered in order from 0)");
          auto t = m.find("type");
          if (t == m.end()) return x.fail(st.where + ": missing attribute type");
          st.type = t->second;
          step_op op;
          if (!msccl_type(st.type, op)) return x.fail(st.where + ": unsupported step type '" + st.type + "'");
          for (char const* key : {"srcbuf", "dstbuf"}) {
            auto b = m.find(key);
            char c = 'i';
            if (b != m.end()) {
              if (b->second.size() != 1 || (b->second[0] != 'i' && b->second[0] != 'o' && b->second[0] != 's'))
                return x.fail(st.where + ": " + key + "=\"" + b->second + "\" is not i, o or s");
              c = b->second[0];
            } else if (op != step_op::nop) {
              return x.fail(st.where + ": missing attribute " + key);
            }
            (key[0] == 's' ? st.srcbuf : st.dstbuf) = c;
          }
          bool const nop = op == step_op::nop;
          if (!get_int(m, "srcoff", !nop, 0, nop ? -1 : 0, max_chunks, st.where, st.srcoff) ||
              !get_int(m, "dstoff", !nop, 0, nop ? -1 : 0, max_chunks, st.where, st.dstoff) ||
              !get_int(m, "cnt", !nop, 0, 0, max_chunks, st.where, st.cnt) ||
              !get_int(m, "depid", false, -1, -1, 1 << 20, st.where, v))
            return false;
          st.depid = int(v);
          if (!get_int(m, "deps", false, -1, -1, 1 << 24, st.where, st.deps)) return false;
          if (!get_int(m, "hasdep", false, 0, 0, 1, st.where, v)) return false;
          tb.steps.push_back(std::move(st));
        } else {
          return x.fail("unexpected <" + name + "> inside <step>");
        }
        ++depth;
        return true;
      },
      [&](std::string const&) {
        --depth;
        return true;
      });
  if (!parsed) return fail(x.error());

  // ---- the algorithm ----
  schedule s;
  auto it = algo.find("name");
  s.name = it != algo.end() ? it->second : std::string("msccl");
  it = algo.find("coll");
  if (it == algo.end()) return fail("<algo>: missing attribute coll");
  if (!msccl_collective(it->second, s.coll))
    return fail("<algo>: collective '" + it->second + "' is not supported (allreduce, allgather, reduce_scatter, broadcast, reduce)");
  s.proto = protocol::simple;
  if ((it = algo.find("proto")) != algo.end() && !parse_protocol(it->second.c_str(), s.proto))
    return fail("<algo>: unknown proto '" + it->second + "' (Simple, LL or LL128)");
  auto algo_int = [&](char const* key, bool required, long long def, long long lo, long long hi, long long& v) {
    auto a = algo.find(key);
    if (a == algo.end()) {
      if (required) return fail(std::string("<algo>: missing attribute ") + key);
      v = def;
      return true;
    }
    char* end = nullptr;
    long long const r = std::strtoll(a->second.c_str(), &end, 10);
    if (a->second.empty() || *end != 0 || r < lo || r > hi)
      return fail(std::string("<algo>: attribute ") + key + "=\"" + a->second + "\" is not an integer in " +
                  std::to_string(lo) + ".." + std::to_string(hi));
    v = r;
    return true;
  };
  long long ngpus = 0, nch = 0, inplace = 0, nchunks = 0;
  if (!algo_int("ngpus", true, 0, 1, max_ranks, ngpus) || !algo_int("nchannels", false, 0, 0, max_channels, nch) ||
      !algo_int("inplace", false, 0, 0, 1, inplace) || !algo_int("nchunksperloop", false, 0, 0, max_chunks, nchunks))
    return false;
  s.nranks = int(ngpus);
  s.in_place = inplace != 0;
  s.marks_post = false;
  s.nslots = o.nslots;
  s.elem_bytes = o.elem_bytes;
  s.root = o.root;
  if (s.root < 0 || s.root >= s.nranks) return fail("root outside 0..ngpus-1");
  s.slot_bytes = o.slot_bytes ? o.slot_bytes : protocol_defaults{}.slot_bytes(s.proto);
  if (gpus.size() != std::size_t(ngpus))
    return fail("<algo ngpus=\"" + std::to_string(ngpus) + "\"> has " + std::to_string(gpus.size()) + " <gpu> elements");
  std::vector<int> by_id(std::size_t(ngpus), -1);
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    if (gpus[i].id >= ngpus) return fail("gpu " + std::to_string(gpus[i].id) + ": id outside 0..ngpus-1");
    if (by_id[std::size_t(gpus[i].id)] >= 0) return fail("gpu " + std::to_string(gpus[i].id) + " given twice");
    by_id[std::size_t(gpus[i].id)] = int(i);
  }

  // Buffer sizes: every gpu the same; consistent with the collective (in place, one side may be 0).
  long long const n = ngpus, ic = gpus[0].i_chunks, oc = gpus[0].o_chunks;
  long long sc = 0;
  for (auto const& g : gpus) {
    if (g.i_chunks != ic || g.o_chunks != oc)
      return fail("gpu " + std::to_string(g.id) + ": i_chunks/o_chunks differ from gpu " + std::to_string(gpus[0].id) +
                  "'s (weft schedules have one buffer size per collective)");
    sc = std::max(sc, g.s_chunks);
  }
  long long count_chunks = -1;
  auto want = [&](long long in_c, long long out_c) {
    bool const in_ok = ic == in_c || (s.in_place && ic == 0), out_ok = oc == out_c || (s.in_place && oc == 0);
    return in_ok && out_ok;
  };
  switch (s.coll) {
    case collective::all_gather: {
      long long const c = ic ? ic : oc / n;
      if (want(c, c * n)) count_chunks = c;
      break;
    }
    case collective::reduce_scatter: {
      long long const c = oc ? oc : ic / n;
      if (want(c * n, c)) count_chunks = c;
      break;
    }
    default: {
      long long const c = ic ? ic : oc;
      if (want(c, c)) count_chunks = c;
      break;
    }
  }
  if (count_chunks < 0)
    return fail(std::string("i_chunks=") + std::to_string(ic) + " and o_chunks=" + std::to_string(oc) + " do not fit " +
                to_string(s.coll) + " on " + std::to_string(n) + " gpus");
  std::size_t const ce = o.chunk_elems;
  s.count = std::size_t(count_chunks) * ce;
  s.scratch_count = std::size_t(sc) * ce;

  // ---- steps, gpu by gpu, tb by tb ----
  long long maxchan = 0;
  for (int gi : by_id) {
    msccl_gpu const& g = gpus[std::size_t(gi)];
    // tb ids unique; dependencies resolved through the (possibly fused) step numbering
    std::map<int, std::size_t> tb_of;
    for (std::size_t i = 0; i < g.tbs.size(); ++i)
      if (!tb_of.emplace(g.tbs[i].id, i).second)
        return fail("gpu " + std::to_string(g.id) + ": tb " + std::to_string(g.tbs[i].id) + " given twice");
    for (auto const& tb : g.tbs)
      for (auto const& st : tb.steps) {
        if (st.depid < 0 || st.deps < 0) continue;
        auto d = tb_of.find(st.depid);
        if (d == tb_of.end() || std::size_t(st.deps) >= g.tbs[d->second].steps.size())
          return fail(st.where + ": depends on tb " + std::to_string(st.depid) + " step " + std::to_string(st.deps) +
                      ", which does not exist");
      }
    // fusion and renumbering: new_index[tb][s] (a dependency on either half of a fused pair is one on the copy_send)
    std::vector<std::vector<long long>> new_index(g.tbs.size());
    std::vector<std::vector<char>> fused(g.tbs.size());
    for (std::size_t ti = 0; ti < g.tbs.size(); ++ti) {
      auto const& steps = g.tbs[ti].steps;
      new_index[ti].assign(steps.size(), -1);
      fused[ti].assign(steps.size(), 0);
      long long k = 0;
      for (std::size_t si = 0; si < steps.size(); ++si) {
        msccl_step const& a = steps[si];
        bool fuse = false;
        if (o.fuse_copy_send && a.type == "cpy" && si + 1 < steps.size()) {
          msccl_step const& b = steps[si + 1];
          fuse = b.type == "s" && b.srcbuf == a.srcbuf && b.srcoff == a.srcoff && b.cnt == a.cnt && b.depid < 0;
        }
        new_index[ti][si] = k;
        if (fuse) {
          fused[ti][si] = 1;
          new_index[ti][si + 1] = k;
          ++si;
        }
        ++k;
      }
    }
    for (std::size_t ti = 0; ti < g.tbs.size(); ++ti) {
      msccl_tb const& tb = g.tbs[ti];
      maxchan = std::max(maxchan, (long long)tb.chan);
      for (std::size_t si = 0; si < tb.steps.size(); ++si) {
        msccl_step const& st = tb.steps[si];
        step t;
        t.rank = g.id;
        t.program = tb.id;
        t.channel = tb.chan;
        msccl_type(st.type, t.op);
        bool const f = fused[ti][si] != 0;
        if (f) t.op = step_op::copy_send;
        if (t.receives()) {
          if (tb.recv < 0) return fail(st.where + ": type " + st.type + " receives, but its tb has recv=\"-1\"");
          t.recv_peer = tb.recv;
        }
        if (t.sends()) {
          if (tb.send < 0) return fail(st.where + ": type " + st.type + " sends, but its tb has send=\"-1\"");
          t.send_peer = tb.send;
        }
        auto to_buf = [](char c) { return c == 'o' ? buf::output : c == 's' ? buf::scratch : buf::input; };
        if (op_reads_own(t.op)) {
          t.src = to_buf(st.srcbuf);
          t.src_offset = std::size_t(st.srcoff) * ce;
        }
        if (op_writes_dst(t.op)) {
          t.dst = to_buf(st.dstbuf);
          t.dst_offset = std::size_t(st.dstoff) * ce;
        }
        t.count = t.op == step_op::nop ? 0 : std::size_t(st.cnt) * ce;
        if (st.depid >= 0 && st.deps >= 0) {
          std::size_t const dt = tb_of[st.depid];
          t.dep_program = st.depid;
          t.dep_index = new_index[dt][std::size_t(st.deps)];
        }
        if (f) ++si; // the fused `s` is part of this step
        s.steps.push_back(t);
      }
    }
  }
  if (nch == 0) nch = maxchan + 1;
  if (maxchan >= nch) return fail("<algo nchannels=\"" + std::to_string(nch) + "\"> but a tb uses chan " + std::to_string(maxchan));
  s.nchannels = int(nch);
  if (std::string e = range_error(s); !e.empty()) return fail(e);
  (void)s.link();
  out = std::move(s);
  return true;
}

//! Write a schedule as MSCCL XML. Fails (with a message) when the schedule
//! cannot be said in MSCCL: a program with two send peers, two receive peers
//! or two channels, two threadblocks of one gpu on one connection end, or a
//! chunk size that does not divide every offset. `*chunk_elems_used` receives
//! the chunk size (pass it to `read_msccl_xml` to read the file back).
inline bool write_msccl_xml(schedule const& s, std::string& out, std::string* error = nullptr,
                            msccl_export_options const& o = {}, std::size_t* chunk_elems_used = nullptr) {
  using namespace detail;
  auto fail = [&](std::string const& m) {
    if (error) *error = m;
    return false;
  };
  if (std::string e = range_error(s); !e.empty()) return fail(e);
  for (auto const& t : s.steps)
    if (op_is_flag(t.op) || op_one_sided(t.op))
      return fail(std::string("MSCCL XML has no ") + to_string(t.op) +
                  " step (symmetric-memory and multicast schedules export to JSON only)");
  link_table const L = build_links(s);
  // chunk size
  std::size_t ce = o.chunk_elems;
  std::vector<std::size_t> sizes = {buffer_elems(s, buf::input), buffer_elems(s, buf::output), s.scratch_count};
  for (auto const& t : s.steps) {
    sizes.push_back(t.count);
    if (t.src != buf::none) sizes.push_back(t.src_offset);
    if (t.dst != buf::none) sizes.push_back(t.dst_offset);
    if (t.direct) sizes.push_back(t.peer_offset);
  }
  if (ce == 0) {
    for (std::size_t v : sizes) ce = gcd(ce, v);
    if (ce == 0) ce = 1;
  } else {
    for (std::size_t v : sizes)
      if (v % ce) return fail("chunk_elems " + std::to_string(ce) + " does not divide " + std::to_string(v));
  }
  if (chunk_elems_used) *chunk_elems_used = ce;
  auto linked_send = [&](std::size_t g) -> long long { // the send a receive consumes
    int const c = L.recv_conn[g];
    if (c < 0) return -1;
    auto const& k = L.conns[std::size_t(c)];
    return L.recv_index[g] < k.sends.size() ? (long long)k.sends[L.recv_index[g]] : -1;
  };
  auto linked_recv = [&](std::size_t g) -> long long {
    int const c = L.send_conn[g];
    if (c < 0) return -1;
    auto const& k = L.conns[std::size_t(c)];
    return L.send_index[g] < k.recvs.size() ? (long long)k.recvs[L.send_index[g]] : -1;
  };

  // programs of each rank, by id -> tb ids 0..k-1
  std::vector<std::vector<int>> progs(std::size_t(s.nranks));
  for (std::size_t p = 0; p < L.programs.size(); ++p) progs[std::size_t(L.programs[p].rank)].push_back(int(p));
  std::vector<int> tb_id(L.programs.size(), 0);
  struct tb_info {
    int send = -1, recv = -1, chan = -1;
  };
  std::vector<tb_info> info(L.programs.size());
  for (auto& list : progs) {
    std::sort(list.begin(), list.end(), [&](int a, int b) { return L.programs[std::size_t(a)].id < L.programs[std::size_t(b)].id; });
    for (std::size_t i = 0; i < list.size(); ++i) tb_id[std::size_t(list[i])] = int(i);
  }
  for (std::size_t p = 0; p < L.programs.size(); ++p) {
    tb_info& ti = info[p];
    std::string const w =
        "rank " + std::to_string(L.programs[p].rank) + " program " + std::to_string(L.programs[p].id);
    for (std::size_t g : L.programs[p].steps) {
      step const& t = s.steps[g];
      if (t.send_peer >= 0) {
        if (ti.send >= 0 && ti.send != t.send_peer)
          return fail(w + " sends to ranks " + std::to_string(ti.send) + " and " + std::to_string(t.send_peer) +
                      "; an MSCCL threadblock has one send peer");
        ti.send = t.send_peer;
      }
      if (t.recv_peer >= 0) {
        if (ti.recv >= 0 && ti.recv != t.recv_peer)
          return fail(w + " receives from ranks " + std::to_string(ti.recv) + " and " + std::to_string(t.recv_peer) +
                      "; an MSCCL threadblock has one receive peer");
        ti.recv = t.recv_peer;
      }
      if (ti.chan >= 0 && ti.chan != t.channel)
        return fail(w + " uses channels " + std::to_string(ti.chan) + " and " + std::to_string(t.channel) +
                    "; an MSCCL threadblock has one channel");
      ti.chan = t.channel;
    }
  }
  for (auto const& list : progs)
    for (std::size_t a = 0; a < list.size(); ++a)
      for (std::size_t b = a + 1; b < list.size(); ++b) {
        tb_info const &x = info[std::size_t(list[a])], &y = info[std::size_t(list[b])];
        if (x.chan != y.chan) continue;
        if ((x.send >= 0 && x.send == y.send) || (x.recv >= 0 && x.recv == y.recv))
          return fail("rank " + std::to_string(L.programs[std::size_t(list[a])].rank) + ": programs " +
                      std::to_string(L.programs[std::size_t(list[a])].id) + " and " +
                      std::to_string(L.programs[std::size_t(list[b])].id) + " share a connection on channel " +
                      std::to_string(x.chan) + "; MSCCL gives each connection end one threadblock");
      }
  // MSCCL step numbers: copy_send takes two (cpy, s); a dependency on it points at the s.
  std::vector<long long> first_s(s.steps.size(), 0), last_s(s.steps.size(), 0);
  std::vector<char> hasdep(s.steps.size(), 0);
  for (auto const& pr : L.programs) {
    long long k = 0;
    for (std::size_t g : pr.steps) {
      first_s[g] = k;
      k += s.steps[g].op == step_op::copy_send ? 2 : 1;
      last_s[g] = k - 1;
    }
  }
  for (std::size_t g = 0; g < s.steps.size(); ++g) {
    step const& t = s.steps[g];
    if (t.dep_program < 0) continue;
    long long const d = L.find_step(t.rank, t.dep_program, t.dep_index);
    if (d < 0)
      return fail("rank " + std::to_string(t.rank) + " program " + std::to_string(t.program_id()) +
                  ": a step depends on a missing step " + std::to_string(t.dep_index) + " of program " +
                  std::to_string(t.dep_program));
    hasdep[std::size_t(d)] = 1;
  }
  std::size_t const ic = buffer_elems(s, buf::input) / ce, oc = buffer_elems(s, buf::output) / ce,
                    sc = s.scratch_count / ce;
  std::string x;
  x.reserve(256 + s.steps.size() * 140);
  auto q = [](std::string const& v) {
    std::string r;
    for (char c : v) {
      if (c == '&') r += "&amp;";
      else if (c == '<') r += "&lt;";
      else if (c == '>') r += "&gt;";
      else if (c == '"') r += "&quot;";
      else if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x80) r += c;
    }
    return r;
  };
  char const* proto = s.proto == protocol::ll ? "LL" : s.proto == protocol::ll128 ? "LL128" : "Simple";
  x += "<algo name=\"" + q(s.name.empty() ? std::string("weft") : s.name) + "\" proto=\"" + proto + "\" nchannels=\"" +
       std::to_string(s.nchannels) + "\" nchunksperloop=\"" + std::to_string(std::max(ic, oc)) + "\" ngpus=\"" +
       std::to_string(s.nranks) + "\" coll=\"" + msccl_collective_name(s.coll) + "\" inplace=\"" + (s.in_place ? "1" : "0") +
       "\">\n";
  auto emit = [&](long long sn, char const* type, buf sb, std::size_t so, buf db, std::size_t dof, std::size_t cnt,
                  int depid, long long deps, bool hd) {
    x += "      <step s=\"" + std::to_string(sn) + "\" type=\"" + type + "\" srcbuf=\"" + msccl_buf_char(sb) +
         "\" srcoff=\"" + std::to_string(so / ce) + "\" dstbuf=\"" + msccl_buf_char(db) + "\" dstoff=\"" +
         std::to_string(dof / ce) + "\" cnt=\"" + std::to_string(cnt / ce) + "\" depid=\"" + std::to_string(depid) +
         "\" deps=\"" + std::to_string(deps) + "\" hasdep=\"" + (hd ? "1" : "0") + "\"/>\n";
  };
  for (int r = 0; r < s.nranks; ++r) {
    x += "  <gpu id=\"" + std::to_string(r) + "\" i_chunks=\"" + std::to_string(ic) + "\" o_chunks=\"" +
         std::to_string(oc) + "\" s_chunks=\"" + std::to_string(sc) + "\">\n";
    for (int p : progs[std::size_t(r)]) {
      tb_info const& ti = info[std::size_t(p)];
      x += "    <tb id=\"" + std::to_string(tb_id[std::size_t(p)]) + "\" send=\"" + std::to_string(ti.send) +
           "\" recv=\"" + std::to_string(ti.recv) + "\" chan=\"" + std::to_string(ti.chan < 0 ? 0 : ti.chan) + "\">\n";
      for (std::size_t g : L.programs[std::size_t(p)].steps) {
        step const& t = s.steps[g];
        int depid = -1;
        long long deps = -1;
        if (t.dep_program >= 0) {
          long long const d = L.find_step(t.rank, t.dep_program, t.dep_index);
          depid = tb_id[std::size_t(L.prog[std::size_t(d)])];
          deps = last_s[std::size_t(d)];
        }
        bool const hd = hasdep[g] != 0;
        // Where the data comes from / goes to on the peer (informational in MSCCL).
        buf sb = t.src, db = t.dst;
        std::size_t so = t.src_offset, dof = t.dst_offset;
        if (t.receives() && t.direct) { // the data landed in the output: name where
          long long const m = linked_send(g);
          db = buf::output;
          dof = t.op == step_op::recv_copy_send ? t.src_offset : (m >= 0 ? s.steps[std::size_t(m)].peer_offset : 0);
        }
        if (t.receives() && sb == buf::none) {
          long long const m = linked_send(g);
          if (m >= 0 && s.steps[std::size_t(m)].src != buf::none) sb = s.steps[std::size_t(m)].src, so = s.steps[std::size_t(m)].src_offset;
          else sb = db, so = dof;
        }
        if (t.sends() && t.op != step_op::copy_send && db == buf::none) {
          long long const m = linked_recv(g);
          if (t.direct) db = buf::output, dof = t.peer_offset;
          else if (m >= 0 && s.steps[std::size_t(m)].dst != buf::none) db = s.steps[std::size_t(m)].dst, dof = s.steps[std::size_t(m)].dst_offset;
          else db = sb, dof = so;
        }
        if (t.op == step_op::nop) {
          emit(first_s[g], "nop", buf::input, 0, buf::input, 0, 0, depid, deps, hd);
        } else if (t.op == step_op::copy_send) {
          emit(first_s[g], "cpy", t.src, t.src_offset, t.dst, t.dst_offset, t.count, depid, deps, false);
          buf pb = buf::output;
          std::size_t po = t.peer_offset;
          if (!t.direct) {
            long long const m = linked_recv(g);
            if (m >= 0 && s.steps[std::size_t(m)].dst != buf::none) pb = s.steps[std::size_t(m)].dst, po = s.steps[std::size_t(m)].dst_offset;
            else pb = t.src, po = t.src_offset;
          }
          emit(last_s[g], "s", t.src, t.src_offset, pb, po, t.count, -1, -1, hd);
        } else {
          if (sb == buf::none) sb = db, so = dof;
          if (db == buf::none) db = sb, dof = so;
          emit(first_s[g], msccl_type_name(t.op), sb, so, db, dof, t.count, depid, deps, hd);
        }
      }
      x += "    </tb>\n";
    }
    x += "  </gpu>\n";
  }
  x += "</algo>\n";
  out = std::move(x);
  return true;
}

} // namespace weft::sim
