#pragma once
// weft-bench's output: nccl-tests' table layout, the host description, and a
// small JSON writer (no dependency).
#include "bench_args.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>
#include <unistd.h>

namespace weft_bench {

// ---------------------------------------------------------------------------
// Host description
// ---------------------------------------------------------------------------

//! "model name" of the first CPU in /proc/cpuinfo ("unknown CPU" if there is none).
inline std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.compare(0, 10, "model name") == 0) {
      std::size_t const colon = line.find(':');
      if (colon != std::string::npos) {
        std::size_t b = line.find_first_not_of(" \t", colon + 1);
        if (b != std::string::npos) return line.substr(b);
      }
    }
  }
  return "unknown CPU";
}

//! Logical CPUs this process may run on.
inline int logical_cpus() {
  long const n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n > 0) return int(n);
  unsigned const h = std::thread::hardware_concurrency();
  return h ? int(h) : 1;
}

inline std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

//! "AMD EPYC 7B13, 16 logical CPUs"
inline std::string hardware_string() {
  return cpu_model() + ", " + std::to_string(logical_cpus()) + " logical CPUs";
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

//! One measured placement (out-of-place or in-place).
struct placement_result {
  double time_us = 0;
  double algbw = 0; // GB/s, GB = 1e9 bytes
  double busbw = 0;
  long long wrong = 0;
  bool checked = false;
  bool measured = true; // false: this placement does not exist for the contender (a peer without out-of-place)
};

//! One row of the table.
struct row {
  coll kind = coll::all_reduce;
  weft::algorithm algo = weft::algorithm::ring;
  weft::protocol proto = weft::protocol::simple;
  int nchannels = 1;
  std::size_t size = 0;  // bytes, the size column
  std::size_t count = 0; // elements, the count column
  std::string type, redop;
  int root = -1;
  placement_result oop, ip;
  std::string peer;      // a peer library's row: its name ("openmpi", "gloo"); empty for weft
  std::string algo_name; // a peer's algorithm ("MPI_Allreduce", "ring", ...), instead of `algo`
};

//! `value` in exactly `width` characters with as many decimals (2 at most) as fit.
inline std::string fit_number(double value, int width) {
  char buf[64];
  int digits = 1;
  for (double p = 10; std::fabs(value) >= p && digits < 40; p *= 10) ++digits;
  if (value < 0) ++digits;
  if (digits <= width - 3)
    std::snprintf(buf, sizeof buf, "%*.2f", width, value);
  else if (digits <= width - 2)
    std::snprintf(buf, sizeof buf, "%*.1f", width, value);
  else if (digits <= width)
    std::snprintf(buf, sizeof buf, "%*.0f", width, value);
  else
    std::snprintf(buf, sizeof buf, "%*.*e", width, width >= 8 ? 2 : 0, value);
  return buf;
}

//! The three header lines of nccl-tests' table.
inline void print_column_header(std::FILE* f) {
  std::fprintf(f, "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          \n", "",
               "", "", "", "");
  std::fprintf(f, "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s %6s  %7s  %6s  %6s %6s\n", "size", "count", "type",
               "redop", "root", "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
  std::fprintf(f, "# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %5s  %7s  %6s  %6s  %5s\n", "(B)", "(elements)", "", "",
               "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
}

inline std::string format_placement(placement_result const& p) {
  char buf[128];
  if (!p.measured)
    std::snprintf(buf, sizeof buf, "  %7s  %6s  %6s    N/A", "N/A", "N/A", "N/A");
  else if (p.checked)
    std::snprintf(buf, sizeof buf, "  %7s  %6s  %6s  %5lld", fit_number(p.time_us, 7).c_str(),
                  fit_number(p.algbw, 6).c_str(), fit_number(p.busbw, 6).c_str(), p.wrong);
  else
    std::snprintf(buf, sizeof buf, "  %7s  %6s  %6s    N/A", fit_number(p.time_us, 7).c_str(),
                  fit_number(p.algbw, 6).c_str(), fit_number(p.busbw, 6).c_str());
  return buf;
}

//! One table row, without the newline.
inline std::string format_row(row const& r) {
  char head[160];
  std::snprintf(head, sizeof head, "%12zu  %12zu  %8s  %6s  %6d", r.size, r.count, r.type.c_str(), r.redop.c_str(),
                r.root);
  return head + format_placement(r.oop) + format_placement(r.ip);
}

//! The time column from each rank's seconds per iteration (-a: 0 rank 0, 1 mean, 2 min, 3 max).
inline double reported_seconds(std::vector<double> const& per_rank, int average) {
  if (per_rank.empty()) return 0;
  double lo = per_rank[0], hi = per_rank[0], sum = 0;
  for (double v : per_rank) {
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    sum += v;
  }
  switch (average) {
    case 0: return per_rank[0];
    case 1: return sum / double(per_rank.size());
    case 2: return lo;
    default: return hi;
  }
}

//! Fills `p` from one measurement of `size` bytes of collective `c` on `n` ranks.
inline void set_placement(placement_result& p, std::vector<double> const& rank_seconds, int average, std::size_t size,
                          coll c, int n, bool checked, long long wrong) {
  double const sec = reported_seconds(rank_seconds, average);
  p.time_us = sec * 1e6;
  p.algbw = sec > 0 ? double(size) / sec / 1e9 : 0;
  p.busbw = p.algbw * busbw_factor(c, n);
  p.checked = checked;
  p.wrong = wrong;
  p.measured = true;
}

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

inline std::string json_string(std::string const& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

//! Minimal streaming JSON writer: objects, arrays, scalars; commas handled.
class json_writer {
public:
  std::string const& str() const { return out_; }

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }
  json_writer& key(char const* k) {
    comma();
    out_ += json_string(k) + ":";
    after_key_ = true;
    return *this;
  }
  json_writer& value(std::string const& s) { return raw(json_string(s)); }
  json_writer& value(char const* s) { return raw(json_string(s)); }
  json_writer& value(double v) { return raw(json_number(v)); }
  json_writer& value(int v) { return raw(std::to_string(v)); }
  json_writer& value(long v) { return raw(std::to_string(v)); }
  json_writer& value(long long v) { return raw(std::to_string(v)); }
  json_writer& value(std::size_t v) { return raw(std::to_string(v)); }
  json_writer& value(bool v) { return raw(v ? "true" : "false"); }
  json_writer& null() { return raw("null"); }
  template <class V>
  json_writer& field(char const* k, V const& v) {
    key(k);
    return value(v);
  }
  //! "k": [name(x) for x in v]
  template <class V, class Name>
  json_writer& list(char const* k, V const& v, Name&& name) {
    key(k).begin_array();
    for (auto const& x : v) value(name(x));
    return end_array();
  }

private:
  void comma() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ",";
      first_.back() = false;
    }
  }
  json_writer& open(char c) {
    comma();
    out_ += c;
    first_.push_back(true);
    return *this;
  }
  json_writer& close(char c) {
    out_ += c;
    first_.pop_back();
    return *this;
  }
  json_writer& raw(std::string const& s) {
    comma();
    out_ += s;
    return *this;
  }
  std::string out_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

inline void json_placement(json_writer& j, char const* k, placement_result const& p) {
  if (!p.measured) {
    j.key(k).null();
    return;
  }
  j.key(k).begin_object();
  j.field("time_us", p.time_us).field("algbw", p.algbw).field("busbw", p.busbw);
  j.key("wrong");
  if (p.checked)
    j.value(p.wrong);
  else
    j.null();
  j.end_object();
}

inline void json_row(json_writer& j, row const& r) {
  j.begin_object();
  if (r.peer.empty()) {
    j.field("coll", to_string(r.kind)).field("algo", algo_name(r.algo)).field("proto", weft::to_string(r.proto));
    j.field("channels", r.nchannels);
  } else {
    j.field("coll", to_string(r.kind)).field("peer", r.peer).field("algo", r.algo_name);
  }
  j.field("size", r.size).field("count", r.count).field("type", r.type).field("redop", r.redop).field("root", r.root);
  json_placement(j, "oop", r.oop);
  json_placement(j, "ip", r.ip);
  j.end_object();
}

//! "hardware": the host's CPU, its logical CPU count and name.
inline void json_hardware(json_writer& j) {
  j.key("hardware").begin_object();
  j.field("description", hardware_string()).field("cpu_model", cpu_model()).field("logical_cpus", logical_cpus());
  j.field("host", host_name());
  j.end_object();
}

//! The sweep's parameters every program of weft-bench shares (inside "params").
inline void json_sweep_params(json_writer& j, options const& o) {
  j.field("min_bytes", o.min_bytes).field("max_bytes", o.max_bytes);
  j.field("step_factor", o.step_factor).field("step_bytes", o.step_bytes);
  j.field("iters", o.iters).field("warmup_iters", o.warmup).field("check", o.check).field("average", o.average);
  j.list("colls", o.colls, [](coll c) { return to_string(c); });
  j.list("types", o.types, [](weft::dtype d) { return weft::to_string(d); });
  j.list("ops", o.ops, [](weft::redop r) { return weft::to_string(r); });
}

//! Writes `text` to `path`; false on any error.
inline bool write_text_file(std::string const& path, std::string const& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  bool const ok = std::fputs(text.c_str(), f) >= 0;
  return std::fclose(f) == 0 && ok;
}

} // namespace weft_bench
