#pragma once
//! \file
//! The schedule verifier: structural and symbolic checks of a schedule, with
//! findings that name the rank, program/channel, step and slot or element.
//!
//! Structural checks (always):
//!  - well-formed steps: ranks, peers, channels, buffers and offsets in range,
//!    each op given exactly the peers and buffers it uses;
//!  - sends and receives pair up, in order, on every connection
//!    (sender -> receiver on a channel), with equal counts and direct flags,
//!    and each connection end belongs to one program;
//!  - an execution that honours every wait (data, credit with the schedule's
//!    `nslots`, dependencies) finishes: otherwise "deadlock", naming every
//!    blocked step and what it waits for;
//!  - no receive may read its slot before the send wrote it ("read before
//!    written") and no send may overwrite a slot before its previous occupant
//!    was consumed ("overwritten before consumed"), and no two accesses to one
//!    buffer element, one of them a write, are unordered ("buffer race"). These
//!    are exact (a happens-before analysis with vector clocks over the waits)
//!    when programs x steps fits `verify_options::max_clock_entries`; beyond
//!    that the slot races are checked in the executor's interleaving only and
//!    buffer races are not checked (`verify_result::races_exact` says which).
//!
//! Symbolic check (when the structure is sound): every element carries
//! (input element, number of contributions, sum of 64-bit hashes of the
//! contributing ranks, how often pre and post were applied). Combining values
//! of different input elements, or more contributions than ranks, is reported
//! at the step that does it; the final outputs are compared with the
//! collective's definition.

#include <weft/sim/schedule.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace weft::sim {

//! What a finding is about.
enum class finding_kind : std::uint8_t {
  malformed,                   //!< a step's fields are inconsistent or out of range
  unmatched,                   //!< a send without a receive on its connection, or the reverse
  mismatched,                  //!< a matched send and receive disagree (count, direct)
  shared_connection,           //!< one connection end used by two programs
  bad_dependency,              //!< a dependency names no step, or a later step of its own program
  deadlock,                    //!< a step can never run
  read_before_written,         //!< a receive may read its slot before the send wrote it
  overwritten_before_consumed, //!< a send may overwrite a slot its receiver has not consumed
  buffer_race,                 //!< unordered accesses to one element, one of them a write
  uninitialised_read,          //!< a step reads an element nothing wrote
  wrong_result,                //!< a value is not what the collective defines
};

inline constexpr char const* to_string(finding_kind k) noexcept {
  switch (k) {
    case finding_kind::malformed: return "malformed";
    case finding_kind::unmatched: return "unmatched";
    case finding_kind::mismatched: return "mismatched";
    case finding_kind::shared_connection: return "shared_connection";
    case finding_kind::bad_dependency: return "bad_dependency";
    case finding_kind::deadlock: return "deadlock";
    case finding_kind::read_before_written: return "read_before_written";
    case finding_kind::overwritten_before_consumed: return "overwritten_before_consumed";
    case finding_kind::buffer_race: return "buffer_race";
    case finding_kind::uninitialised_read: return "uninitialised_read";
    case finding_kind::wrong_result: return "wrong_result";
  }
  return "unknown";
}

//! One problem, located. Fields that do not apply are -1 / none.
struct finding {
  finding_kind kind = finding_kind::malformed;
  int rank = -1;
  int program = -1;
  int channel = -1;
  long long step = -1;       //!< position in its program
  long long step_index = -1; //!< index into `schedule::steps`
  int sender = -1;           //!< connection sender -> receiver on `channel`
  int receiver = -1;
  long long conn_step = -1;  //!< index of the send/receive on the connection
  long long slot = -1;       //!< conn_step % nslots
  buf buffer = buf::none;
  long long element = -1;
  std::string message;       //!< names all of the above that apply
};

struct verify_options {
  bool execute = true;                          //!< false: only well-formedness and send/receive matching
  bool symbolic = true;                         //!< run the symbolic data check
  std::size_t max_findings = 32;                //!< findings kept (the rest are counted in `omitted`)
  std::size_t max_result_reports = 8;           //!< wrong output elements reported one by one
  std::size_t max_clock_entries = std::size_t(1) << 24; //!< budget of the exact race analysis (programs x steps)
  std::size_t max_symbolic_elems = std::size_t(1) << 27; //!< budget of the symbolic state (elements over all ranks)
};

struct verify_result {
  std::vector<finding> findings;
  std::size_t omitted = 0;        //!< findings beyond `max_findings`
  bool races_exact = false;       //!< the happens-before analysis ran
  bool symbolic_checked = false;  //!< the final outputs were checked
  std::size_t programs = 0, connections = 0, steps = 0;
  std::vector<std::string> notes; //!< what was skipped and why

  bool ok() const noexcept { return findings.empty() && omitted == 0; }
  //! Whether some finding is of kind `k`.
  bool has(finding_kind k) const noexcept {
    for (auto const& f : findings)
      if (f.kind == k) return true;
    return false;
  }
  //! The first finding of kind `k`, or null.
  finding const* first(finding_kind k) const noexcept {
    for (auto const& f : findings)
      if (f.kind == k) return &f;
    return nullptr;
  }
  //! Every finding's message, one per line, then the notes.
  std::string report() const {
    std::string r;
    if (ok()) r = "schedule verified";
    for (auto const& f : findings) r += (r.empty() ? "" : "\n") + std::string(to_string(f.kind)) + ": " + f.message;
    if (omitted) r += "\n... and " + std::to_string(omitted) + " more findings";
    for (auto const& n : notes) r += "\nnote: " + n;
    return r;
  }
};

namespace detail {

// ---- symbolic values ----

inline constexpr std::uint64_t fmix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
inline constexpr std::uint64_t mul_inverse(std::uint64_t a) noexcept { // a odd; Newton's iteration mod 2^64
  std::uint64_t x = a;
  for (int i = 0; i < 6; ++i) x *= 2 - a * x;
  return x;
}
inline constexpr std::uint64_t unxorshift(std::uint64_t z, int s) noexcept {
  std::uint64_t x = z;
  for (int i = s; i < 64; i += s) x = z ^ (x >> s);
  return x;
}
inline constexpr std::uint64_t fmix64_inverse(std::uint64_t z) noexcept {
  z = unxorshift(z, 31);
  z *= mul_inverse(0x94d049bb133111ebull);
  z = unxorshift(z, 27);
  z *= mul_inverse(0xbf58476d1ce4e5b9ull);
  return unxorshift(z, 30);
}
inline constexpr std::uint64_t rank_key_mul = 0x9e3779b97f4a7c15ull;
inline constexpr std::uint64_t rank_key_add = 0x632be59bd9b4e019ull;
//! The hash of one rank's contribution (invertible, so a single contribution names its rank).
inline constexpr std::uint64_t rank_hash(int r) noexcept { return fmix64(std::uint64_t(r) * rank_key_mul + rank_key_add); }
inline constexpr long long rank_of_hash(std::uint64_t h) noexcept {
  return (long long)((fmix64_inverse(h) - rank_key_add) * mul_inverse(rank_key_mul));
}
static_assert(rank_of_hash(rank_hash(575)) == 575, "rank hash must be invertible");

//! One element's symbolic value.
struct sval {
  std::uint64_t hash = 0; //!< sum of rank_hash over contributions
  std::uint32_t elem = 0; //!< input element the contributions belong to
  std::uint16_t n = 0;    //!< contributions (saturating)
  std::uint8_t pre = 0;   //!< low nibble: fewest pre applications of a contribution; high: most
  std::uint8_t bits = 0;  //!< post count (2 bits), then the flags below
  static constexpr std::uint8_t undefined = 4, mixed = 8, after_post = 16;
  int post_count() const noexcept { return bits & 3; }
  int pre_min() const noexcept { return pre & 15; }
  int pre_max() const noexcept { return pre >> 4; }
};

inline sval leaf(int rank, std::size_t index) noexcept {
  sval v;
  v.hash = rank_hash(rank);
  v.elem = std::uint32_t(index);
  v.n = 1;
  return v;
}
inline sval undefined_val() noexcept {
  sval v;
  v.bits = sval::undefined;
  return v;
}
inline void apply_pre(sval& v) noexcept {
  int const lo = v.pre_min() < 15 ? v.pre_min() + 1 : 15, hi = v.pre_max() < 15 ? v.pre_max() + 1 : 15;
  v.pre = std::uint8_t(lo | (hi << 4));
}
inline void apply_post(sval& v) noexcept {
  int const p = v.post_count() < 3 ? v.post_count() + 1 : 3;
  v.bits = std::uint8_t((v.bits & ~3) | p);
}
inline sval combine(sval const& a, sval const& b) noexcept {
  sval r;
  r.hash = a.hash + b.hash;
  r.elem = a.elem;
  unsigned const n = unsigned(a.n) + unsigned(b.n);
  r.n = std::uint16_t(n > 0xffffu ? 0xffffu : n);
  int const lo = std::min(a.pre_min(), b.pre_min()), hi = std::max(a.pre_max(), b.pre_max());
  r.pre = std::uint8_t(lo | (hi << 4));
  r.bits = std::uint8_t((a.bits | b.bits) & ~3);
  if (a.elem != b.elem) r.bits |= sval::mixed;
  if (a.post_count() || b.post_count()) r.bits |= sval::after_post;
  return r;
}

// ---- the verifier ----

class verifier {
public:
  verifier(schedule const& s, verify_options const& o, verify_result& res) : s_(s), o_(o), res_(res) {}

  void run() {
    res_.steps = s_.steps.size();
    if (std::string e = range_error(s_); !e.empty()) {
      finding f;
      f.kind = finding_kind::malformed;
      f.message = e;
      add(std::move(f));
      return;
    }
    L_ = build_links(s_);
    res_.programs = L_.programs.size();
    res_.connections = L_.conns.size();
    check_steps();
    check_connections();
    if (!res_.findings.empty() || res_.omitted || !o_.execute) return;
    execute();
  }

private:
  schedule const& s_;
  verify_options const& o_;
  verify_result& res_;
  link_table L_;
  std::size_t P_ = 0;
  // execution
  std::vector<long long> msend_;     // receive -> the send it consumes
  std::vector<long long> mrecv_;     // send -> the receive that consumes it
  std::vector<long long> credit_;    // send -> recv whose consumption frees its slot
  std::vector<long long> credit_next_; // recv -> send that waits for it
  std::vector<long long> dep_;       // step -> dependency step
  std::vector<std::size_t> dependents_start_, dependents_;
  std::vector<char> done_;
  std::vector<std::uint32_t> seq_;   // execution order (1-based; 0 = never ran)
  std::vector<std::uint32_t> clk_;   // steps x programs, when exact
  bool exact_ = false;
  // symbolic state
  bool symbolic_ = false;
  bool hazards_ = false;
  std::size_t main_elems_ = 0;       // per rank: output (or the in-place storage)
  std::vector<sval> main_, scratch_;
  std::vector<std::vector<sval>> inflight_;
  struct access_state {
    std::int32_t write = -1; //!< last writer step
    std::int32_t read = -1;  //!< a reader since that write (more in `extra_reads_`)
  };
  std::vector<access_state> main_acc_, scratch_acc_;
  // Out of place, the input is a leaf (its values are computed, not stored); its
  // accesses are tracked only when some step rewrites it in place (a caller's
  // touch between traced calls, trace_options::calls).
  std::vector<access_state> input_acc_;
  std::size_t input_elems_ = 0;
  std::unordered_map<std::uint64_t, std::vector<std::int32_t>> extra_reads_;
  std::vector<std::pair<std::int32_t, std::int32_t>> race_pairs_; // (step, other) already reported

  // ---- findings ----

  void add(finding f) {
    if (res_.findings.size() < o_.max_findings) res_.findings.push_back(std::move(f));
    else ++res_.omitted;
  }

  std::string where(std::size_t g) const {
    step const& t = s_.steps[g];
    std::string w = "rank " + std::to_string(t.rank);
    if (t.program >= 0) // an explicit program (an MSCCL threadblock): name it and its channel
      w += " program " + std::to_string(t.program) + " (channel " + std::to_string(t.channel) + ")";
    else w += " channel " + std::to_string(t.channel);
    return w + " step " + std::to_string(L_.index[g]) + " (" + to_string(t.op) + ")";
  }
  std::string conn_name(int c) const {
    auto const& k = L_.conns[std::size_t(c)];
    return "connection " + std::to_string(k.sender) + "->" + std::to_string(k.receiver) + " channel " +
           std::to_string(k.channel);
  }
  static std::string counted(std::size_t n, char const* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
  }
  std::string slot_name(std::uint64_t index) const {
    return "slot " + std::to_string(index % std::uint64_t(s_.nslots));
  }
  finding at(finding_kind k, std::size_t g) const {
    finding f;
    step const& t = s_.steps[g];
    f.kind = k;
    f.rank = t.rank;
    f.program = t.program_id();
    f.channel = t.channel;
    f.step = L_.index[g];
    f.step_index = (long long)g;
    return f;
  }
  void set_conn(finding& f, int c, std::uint64_t index) const {
    auto const& k = L_.conns[std::size_t(c)];
    f.sender = k.sender;
    f.receiver = k.receiver;
    f.conn_step = (long long)index;
    f.slot = (long long)(index % std::uint64_t(s_.nslots));
  }

  // ---- well-formed steps ----

  void check_steps() {
    for (std::size_t g = 0; g < s_.steps.size(); ++g) {
      step const& t = s_.steps[g];
      auto bad = [&](std::string const& what) {
        finding f = at(finding_kind::malformed, g);
        f.message = where(g) + ": " + what;
        add(std::move(f));
      };
      bool const rx = t.receives(), tx = t.sends();
      if (rx != (t.recv_peer >= 0)) bad(rx ? "receives but names no recv_peer" : "names a recv_peer but does not receive");
      if (tx != (t.send_peer >= 0)) bad(tx ? "sends but names no send_peer" : "names a send_peer but does not send");
      if (rx && t.recv_peer == t.rank) bad("receives from its own rank");
      if (tx && t.send_peer == t.rank) bad("sends to its own rank");
      if (t.direct && !op_may_be_direct(t.op)) bad("has no direct form");
      if (t.direct && s_.proto != protocol::simple) bad("is direct, but direct transfers need the Simple protocol");
      bool const one_sided = op_one_sided(t.op);
      bool const needs_src = op_reads_own(t.op) || one_sided || (t.direct && t.op == step_op::recv_copy_send);
      bool const needs_dst = op_writes_dst(t.op) && !(t.direct && rx);
      if (op_names_peer(t.op) != (t.peer >= 0))
        bad(op_names_peer(t.op) ? "names no peer (whose buffer it reads or writes)" : "names a peer but is not a get or put");
      if (op_names_peer(t.op) && t.peer == t.rank) bad("names its own rank as peer (a local step does that)");
      if (needs_src != (t.src != buf::none)) bad(needs_src ? "reads no source buffer" : "names a source buffer it does not read");
      if (needs_dst != (t.dst != buf::none))
        bad(needs_dst ? "writes no destination buffer"
                      : (t.direct && rx ? "is a direct receive (the data lands where the sender put it) but names a destination"
                                        : "names a destination buffer it does not write"));
      if (t.count == 0 && t.op != step_op::nop && !op_is_flag(t.op)) bad("moves no elements");
      if (t.count != 0 && op_is_flag(t.op)) bad("is a flag step but moves elements");
      if (t.op == step_op::nop && (t.src != buf::none || t.dst != buf::none)) bad("is a nop but names buffers");
      auto in_range = [&](buf b, std::size_t off, int rank, char const* what) {
        if (b == buf::none) return;
        std::size_t const size = buffer_elems(s_, b, rank);
        if (off > size || t.count > size - off)
          bad(std::string(what) + " " + to_string(b) + "[" + std::to_string(off) + ".." + std::to_string(off + t.count) +
              ") of rank " + std::to_string(rank) + " is outside its " + std::to_string(size) + " elements");
      };
      bool const peer_ok = t.peer >= 0 && t.peer < s_.nranks;
      in_range(t.src, t.src_offset, (t.op == step_op::get || t.op == step_op::get_reduce) && peer_ok ? t.peer : t.rank,
               "reads");
      in_range(t.dst, t.dst_offset, t.op == step_op::put && peer_ok ? t.peer : t.rank, "writes");
      // A local step that rewrites a range of the input in place (identity: the
      // caller's touch between traced calls, trace_options::calls) changes no value.
      bool const identity = t.op == step_op::local && t.src == t.dst && t.src_offset == t.dst_offset;
      if (t.dst == buf::input && !s_.in_place && !identity)
        bad("writes its input buffer (only an in-place schedule may)");
      if (t.direct && tx && t.send_peer >= 0) in_range(buf::output, t.peer_offset, t.send_peer, "writes (direct)");
      if ((t.dep_program >= 0) != (t.dep_index >= 0)) bad("names half a dependency (dep_program and dep_index go together)");
      else if (t.dep_program >= 0) {
        long long const d = L_.find_step(t.rank, t.dep_program, t.dep_index);
        if (d < 0) {
          finding f = at(finding_kind::bad_dependency, g);
          f.message = where(g) + ": depends on step " + std::to_string(t.dep_index) + " of program " +
                      std::to_string(t.dep_program) + " of rank " + std::to_string(t.rank) + ", which does not exist";
          add(std::move(f));
        } else if (L_.prog[std::size_t(d)] == L_.prog[g] && L_.index[std::size_t(d)] >= L_.index[g]) {
          finding f = at(finding_kind::bad_dependency, g);
          f.message = where(g) + ": depends on step " + std::to_string(t.dep_index) + " of its own program, which runs after it";
          add(std::move(f));
        }
      }
    }
  }

  // ---- connections ----

  void check_connections() {
    for (std::size_t c = 0; c < L_.conns.size(); ++c) {
      auto const& k = L_.conns[c];
      int const ci = int(c);
      if (k.shared_send || k.shared_recv) {
        auto const& list = k.shared_send ? k.sends : k.recvs;
        int const first = L_.prog[list.front()];
        for (std::size_t g : list)
          if (L_.prog[g] != first) {
            finding f = at(finding_kind::shared_connection, g);
            set_conn(f, ci, k.shared_send ? L_.send_index[g] : L_.recv_index[g]);
            f.message = where(g) + ": " + (k.shared_send ? "sends" : "receives") + " on " + conn_name(ci) +
                        ", which " + where(list.front()) + " of another program also uses (each connection end belongs to one program)";
            add(std::move(f));
            break;
          }
      }
      std::size_t const m = std::min(k.sends.size(), k.recvs.size());
      if (k.sends.size() != k.recvs.size()) {
        bool const extra_send = k.sends.size() > k.recvs.size();
        std::size_t const g = extra_send ? k.sends[m] : k.recvs[m];
        finding f = at(finding_kind::unmatched, g);
        set_conn(f, ci, m);
        f.message = where(g) + ": " + (extra_send ? "send #" : "receive #") + std::to_string(m) + " on " + conn_name(ci) +
                    " (" + slot_name(m) + ") has no matching " + (extra_send ? "receive" : "send") + " (the connection has " +
                    counted(k.sends.size(), "send") + " and " + counted(k.recvs.size(), "receive") + ")";
        add(std::move(f));
      }
      for (std::size_t i = 0; i < m; ++i) {
        step const& a = s_.steps[k.sends[i]];
        step const& b = s_.steps[k.recvs[i]];
        if (a.count == b.count && a.direct == b.direct) continue;
        finding f = at(finding_kind::mismatched, k.recvs[i]);
        set_conn(f, ci, i);
        f.message = where(k.recvs[i]) + ": receive #" + std::to_string(i) + " on " + conn_name(ci) + " (" + slot_name(i) +
                    ") " +
                    (a.count != b.count ? "expects " + std::to_string(b.count) + " elements, but its send " +
                                              where(k.sends[i]) + " carries " + std::to_string(a.count)
                                        : std::string(b.direct ? "is direct" : "is not direct") + ", but its send " +
                                              where(k.sends[i]) + (a.direct ? " is" : " is not"));
        add(std::move(f));
        break; // one per connection: later pairs usually follow from it
      }
    }
  }

  // ---- execution ----

  bool hb(std::size_t a, std::size_t g) const { // a happens before (or is) g; both executed, clocks exact
    if (a == g) return true;
    return clk_[g * P_ + std::size_t(L_.prog[a])] >= std::uint32_t(L_.index[a] + 1);
  }

  void prepare() {
    std::size_t const n = s_.steps.size();
    P_ = L_.programs.size();
    msend_.assign(n, -1);
    mrecv_.assign(n, -1);
    credit_.assign(n, -1);
    credit_next_.assign(n, -1);
    dep_.assign(n, -1);
    std::uint64_t const ns = std::uint64_t(s_.nslots);
    for (auto const& k : L_.conns)
      for (std::size_t i = 0; i < k.sends.size(); ++i) {
        mrecv_[k.sends[i]] = (long long)k.recvs[i];
        msend_[k.recvs[i]] = (long long)k.sends[i];
        if (i >= ns) {
          credit_[k.sends[i]] = (long long)k.recvs[i - ns];
          credit_next_[k.recvs[i - ns]] = (long long)k.sends[i];
        }
      }
    std::vector<std::size_t> cnt(n + 1, 0);
    for (std::size_t g = 0; g < n; ++g) {
      step const& t = s_.steps[g];
      if (t.dep_program >= 0) {
        dep_[g] = L_.find_step(t.rank, t.dep_program, t.dep_index);
        ++cnt[std::size_t(dep_[g])];
      }
    }
    dependents_start_.assign(n + 1, 0);
    for (std::size_t g = 0; g < n; ++g) dependents_start_[g + 1] = dependents_start_[g] + cnt[g];
    dependents_.assign(dependents_start_[n], 0);
    std::vector<std::size_t> fill(dependents_start_.begin(), dependents_start_.end() - 1);
    for (std::size_t g = 0; g < n; ++g)
      if (dep_[g] >= 0) dependents_[fill[std::size_t(dep_[g])]++] = g;
    done_.assign(n, 0);
    seq_.assign(n, 0);
    exact_ = P_ == 0 || n <= o_.max_clock_entries / P_;
    if (exact_) clk_.assign(n * P_, 0);
    else
      res_.notes.push_back("race analysis in one interleaving only: " + std::to_string(P_) + " programs x " +
                           std::to_string(n) + " steps exceed max_clock_entries; buffer races not checked");
    res_.races_exact = exact_;
    // symbolic state
    symbolic_ = o_.symbolic;
    std::size_t const in = buffer_elems(s_, buf::input), out = buffer_elems(s_, buf::output);
    main_elems_ = s_.in_place ? std::max(in, out) : out;
    std::size_t const nr = std::size_t(s_.nranks);
    if (symbolic_) {
      std::size_t const budget = o_.max_symbolic_elems / nr;
      if (s_.nranks > 0xffff) {
        symbolic_ = false;
        res_.notes.push_back("symbolic check skipped: more than 65535 ranks");
      } else if (main_elems_ > budget || s_.scratch_count > budget - main_elems_ || in > 0xffffffffull) {
        symbolic_ = false;
        res_.notes.push_back("symbolic check skipped: buffers exceed max_symbolic_elems");
      }
    }
    if (symbolic_) {
      main_.assign(nr * main_elems_, undefined_val());
      scratch_.assign(nr * s_.scratch_count, undefined_val());
      if (s_.in_place)
        for (int r = 0; r < s_.nranks; ++r) {
          std::size_t const base = std::size_t(r) * main_elems_ + in_place_offset(s_, buf::input, r);
          for (std::size_t i = 0; i < in; ++i) main_[base + i] = leaf(r, i);
        }
      inflight_.resize(n);
      hazards_ = exact_;
      if (hazards_) {
        main_acc_.assign(main_.size(), access_state{});
        scratch_acc_.assign(scratch_.size(), access_state{});
        bool const input_touched =
            !s_.in_place && std::any_of(s_.steps.begin(), s_.steps.end(), [](step const& t) { return t.dst == buf::input; });
        if (input_touched) {
          input_elems_ = in;
          input_acc_.assign(nr * in, access_state{});
        }
      }
    }
  }

  bool can_run(std::size_t g) const {
    step const& t = s_.steps[g];
    if (t.receives() && t.waits_data && !done_[std::size_t(msend_[g])]) return false;
    if (t.sends() && t.waits_credit && credit_[g] >= 0 && !done_[std::size_t(credit_[g])]) return false;
    if (dep_[g] >= 0 && !done_[std::size_t(dep_[g])]) return false;
    return true;
  }

  void execute() {
    prepare();
    std::vector<std::size_t> pos(P_, 0);
    std::vector<char> queued(P_, 1);
    std::deque<int> ready;
    for (std::size_t p = 0; p < P_; ++p) ready.push_back(int(p));
    std::uint32_t seq = 0;
    auto wake = [&](long long g) {
      if (g < 0) return;
      int const p = L_.prog[std::size_t(g)];
      if (!queued[std::size_t(p)]) {
        queued[std::size_t(p)] = 1;
        ready.push_back(p);
      }
    };
    while (!ready.empty()) {
      int const p = ready.front();
      ready.pop_front();
      queued[std::size_t(p)] = 0;
      auto const& prog = L_.programs[std::size_t(p)].steps;
      while (pos[std::size_t(p)] < prog.size()) {
        std::size_t const g = prog[pos[std::size_t(p)]];
        if (!can_run(g)) break;
        run_step(g, pos[std::size_t(p)] > 0 ? (long long)prog[pos[std::size_t(p)] - 1] : -1);
        done_[g] = 1;
        seq_[g] = ++seq;
        ++pos[std::size_t(p)];
        step const& t = s_.steps[g];
        if (t.sends()) wake(mrecv_[g]);
        if (t.receives()) wake(credit_next_[g]);
        for (std::size_t d = dependents_start_[g]; d < dependents_start_[g + 1]; ++d) wake((long long)dependents_[d]);
      }
    }
    bool stuck = false;
    for (std::size_t p = 0; p < P_; ++p)
      if (pos[p] < L_.programs[p].steps.size()) {
        stuck = true;
        report_blocked(L_.programs[p].steps[pos[p]]);
      }
    bool const raced = res_.has(finding_kind::read_before_written) || res_.has(finding_kind::overwritten_before_consumed) ||
                       res_.has(finding_kind::buffer_race);
    if (!symbolic_) return;
    if (stuck || raced) {
      res_.notes.push_back("final outputs not checked: the schedule does not run to completion without races");
      return;
    }
    check_final();
  }

  void report_blocked(std::size_t g) {
    step const& t = s_.steps[g];
    finding f = at(finding_kind::deadlock, g);
    std::string why;
    if (t.receives() && t.waits_data && !done_[std::size_t(msend_[g])]) {
      std::size_t const m = std::size_t(msend_[g]);
      set_conn(f, L_.recv_conn[g], L_.recv_index[g]);
      why = "waits for data: receive #" + std::to_string(L_.recv_index[g]) + " on " + conn_name(L_.recv_conn[g]) + " (" +
            slot_name(L_.recv_index[g]) + ") needs " + where(m) + ", which never runs";
    } else if (t.sends() && t.waits_credit && credit_[g] >= 0 && !done_[std::size_t(credit_[g])]) {
      std::size_t const c = std::size_t(credit_[g]);
      set_conn(f, L_.send_conn[g], L_.send_index[g]);
      why = "waits for a free slot: send #" + std::to_string(L_.send_index[g]) + " on " + conn_name(L_.send_conn[g]) +
            " reuses " + slot_name(L_.send_index[g]) + " (nslots " + std::to_string(s_.nslots) +
            "), freed only when receive #" + std::to_string(L_.recv_index[c]) + " is consumed by " + where(c) +
            ", which never runs";
    } else if (dep_[g] >= 0) {
      why = "waits for its dependency " + where(std::size_t(dep_[g])) + ", which never runs";
    }
    f.message = where(g) + " " + why;
    add(std::move(f));
  }

  // ---- one step ----

  std::uint32_t* clock(std::size_t g) { return &clk_[g * P_]; }

  void join(std::size_t g, long long other) {
    if (other < 0 || !done_[std::size_t(other)]) return;
    std::uint32_t* c = clock(g);
    std::uint32_t const* o = clock(std::size_t(other));
    for (std::size_t p = 0; p < P_; ++p) c[p] = std::max(c[p], o[p]);
  }

  void run_step(std::size_t g, long long prev) {
    step const& t = s_.steps[g];
    if (exact_) {
      if (prev >= 0) std::copy(clock(std::size_t(prev)), clock(std::size_t(prev)) + P_, clock(g));
      if (t.receives() && t.waits_data) join(g, msend_[g]);
      if (t.sends() && t.waits_credit) join(g, credit_[g]);
      join(g, dep_[g]);
      clock(g)[std::size_t(L_.prog[g])] = std::uint32_t(L_.index[g] + 1);
    }
    if (t.receives() && !t.waits_data) {
      std::size_t const m = std::size_t(msend_[g]);
      if (!done_[m] || (exact_ && !hb(m, g))) {
        finding f = at(finding_kind::read_before_written, g);
        set_conn(f, L_.recv_conn[g], L_.recv_index[g]);
        f.message = where(g) + " may read " + slot_name(L_.recv_index[g]) + " of " + conn_name(L_.recv_conn[g]) +
                    " (receive #" + std::to_string(L_.recv_index[g]) + ") before " + where(m) +
                    " writes it: the receive does not wait for data and nothing else orders them";
        add(std::move(f));
      }
    }
    if (t.sends() && !t.waits_credit && credit_[g] >= 0) {
      std::size_t const c = std::size_t(credit_[g]);
      if (!done_[c] || (exact_ && !hb(c, g))) {
        finding f = at(finding_kind::overwritten_before_consumed, g);
        set_conn(f, L_.send_conn[g], L_.send_index[g]);
        f.message = where(g) + ": send #" + std::to_string(L_.send_index[g]) + " on " + conn_name(L_.send_conn[g]) +
                    " may overwrite " + slot_name(L_.send_index[g]) + " before " + where(c) + " consumed receive #" +
                    std::to_string(L_.recv_index[c]) + " from it: the send does not wait for credit and nothing else orders them";
        add(std::move(f));
      }
    }
    if (symbolic_) run_data(g);
  }

  // Storage of (rank, buffer): the flat array, its base, and whether it is the implicit input.
  struct region {
    std::vector<sval>* vals = nullptr;
    std::vector<access_state>* acc = nullptr;
    std::size_t base = 0;
    bool leaf_input = false;
  };
  region map(int rank, buf b) {
    region r;
    std::size_t const rk = std::size_t(rank);
    if (b == buf::scratch) {
      r.vals = &scratch_;
      r.acc = &scratch_acc_;
      r.base = rk * s_.scratch_count;
    } else if (b == buf::input && !s_.in_place) {
      r.leaf_input = true;
      if (!input_acc_.empty()) {
        r.acc = &input_acc_;
        r.base = rk * input_elems_;
      }
    } else {
      r.vals = &main_;
      r.acc = &main_acc_;
      r.base = rk * main_elems_ + in_place_offset(s_, b, rank);
    }
    return r;
  }

  std::string elem_name(buf b, std::size_t i) const { return std::string(to_string(b)) + "[" + std::to_string(i) + "]"; }

  void race(std::size_t g, std::size_t other, bool other_writes, bool this_writes, int rank, buf b, std::size_t i) {
    // A race repeats over every element the two steps share: report each pair of steps once.
    std::pair<std::int32_t, std::int32_t> const key{std::int32_t(g), std::int32_t(other)};
    if (race_pairs_.size() >= 64 || std::find(race_pairs_.begin(), race_pairs_.end(), key) != race_pairs_.end()) return;
    race_pairs_.push_back(key);
    finding f = at(finding_kind::buffer_race, g);
    f.buffer = b;
    f.element = (long long)i;
    f.message = where(g) + (this_writes ? " writes " : " reads ") + "rank " + std::to_string(rank) + " " +
                elem_name(b, i) + ", which " + where(other) + (other_writes ? " writes" : " reads") +
                ", and no wait orders the two";
    add(std::move(f));
  }

  // Which access table an element key belongs to (the extra readers' map is shared).
  std::uint64_t acc_key(region const& r, std::size_t e) const {
    std::uint64_t const space = r.acc == &scratch_acc_ ? 1u : r.acc == &input_acc_ ? 2u : 0u;
    return (space << 62) | e;
  }

  void track_read(std::size_t g, region const& r, std::size_t i, int rank, buf b) {
    if (!hazards_ || !r.acc) return;
    std::size_t const e = r.base + i;
    access_state& a = (*r.acc)[e];
    std::int32_t const me = std::int32_t(g);
    if (a.write >= 0 && !hb(std::size_t(a.write), g)) race(g, std::size_t(a.write), true, false, rank, b, i);
    if (a.read < 0 || hb(std::size_t(a.read), g)) a.read = me;
    else if (a.read != me) {
      auto& extra = extra_reads_[acc_key(r, e)];
      if (std::find(extra.begin(), extra.end(), me) == extra.end()) extra.push_back(me);
    }
  }

  void track_write(std::size_t g, region const& r, std::size_t i, int rank, buf b) {
    if (!hazards_ || !r.acc) return;
    std::size_t const e = r.base + i;
    access_state& a = (*r.acc)[e];
    if (a.write >= 0 && !hb(std::size_t(a.write), g)) race(g, std::size_t(a.write), true, true, rank, b, i);
    if (a.read >= 0 && !hb(std::size_t(a.read), g)) race(g, std::size_t(a.read), false, true, rank, b, i);
    if (auto it = extra_reads_.find(acc_key(r, e)); it != extra_reads_.end()) {
      for (std::int32_t rd : it->second)
        if (!hb(std::size_t(rd), g)) race(g, std::size_t(rd), false, true, rank, b, i);
      extra_reads_.erase(it);
    }
    a.write = std::int32_t(g);
    a.read = -1;
  }

  std::vector<sval> read(std::size_t g, int rank, buf b, std::size_t off, std::size_t n) {
    std::vector<sval> v(n);
    region const r = map(rank, b);
    bool reported = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (r.leaf_input) {
        v[i] = leaf(rank, off + i);
        track_read(g, r, off + i, rank, b);
        continue;
      }
      v[i] = (*r.vals)[r.base + off + i];
      track_read(g, r, off + i, rank, b);
      if ((v[i].bits & sval::undefined) && !reported) {
        reported = true;
        finding f = at(finding_kind::uninitialised_read, g);
        f.buffer = b;
        f.element = (long long)(off + i);
        f.message = where(g) + " reads rank " + std::to_string(rank) + " " + elem_name(b, off + i) +
                    " before anything was written there";
        add(std::move(f));
      }
    }
    return v;
  }

  void write(std::size_t g, int rank, buf b, std::size_t off, std::vector<sval> const& v) {
    region const r = map(rank, b);
    for (std::size_t i = 0; i < v.size(); ++i) {
      track_write(g, r, off + i, rank, b);
      // An out-of-place input is only ever rewritten in place (the structural
      // check refuses anything else): its leaf values stand.
      if (!r.leaf_input) (*r.vals)[r.base + off + i] = v[i];
    }
  }

  // acc (+)= other: `acc` is the received data (or, for `reduce`, the destination's), `other` the step's own data.
  void combine_into(std::size_t g, std::vector<sval>& acc, std::vector<sval> const& other, char const* acc_name) {
    bool mixed = false, excess = false;
    for (std::size_t i = 0; i < acc.size(); ++i) {
      sval const c = combine(acc[i], other[i]);
      bool const undef = (acc[i].bits | other[i].bits) & sval::undefined;
      if (!undef && !mixed && acc[i].elem != other[i].elem) {
        mixed = true;
        finding f = at(finding_kind::wrong_result, g);
        f.element = (long long)i;
        f.message = where(g) + " combines its own data for input element " + std::to_string(other[i].elem) + " with " +
                    acc_name + " data for input element " + std::to_string(acc[i].elem) + " (at element " +
                    std::to_string(i) + " of the step)";
        add(std::move(f));
      }
      if (!undef && !excess && c.n > s_.nranks) {
        excess = true;
        finding f = at(finding_kind::wrong_result, g);
        f.element = (long long)i;
        f.message = where(g) + " makes " + std::to_string(c.n) + " contributions to input element " +
                    std::to_string(c.elem) + ", more than the " + std::to_string(s_.nranks) +
                    " ranks: a contribution is counted twice";
        add(std::move(f));
      }
      acc[i] = c;
    }
  }

  // One-sided steps: gets, puts and multicast reads/writes of other ranks' buffers.
  void run_one_sided(std::size_t g) {
    step const& t = s_.steps[g];
    std::size_t const n = t.count;
    auto fetch = [&](int rank) {
      std::vector<sval> v = read(g, rank, t.src, t.src_offset, n);
      if (t.pre)
        for (auto& x : v) apply_pre(x);
      return v;
    };
    std::vector<sval> v;
    switch (t.op) {
      case step_op::get: v = fetch(t.peer); break;
      case step_op::get_reduce:
        v = read(g, t.rank, t.dst, t.dst_offset, n);
        combine_into(g, v, fetch(t.peer), "the destination's");
        break;
      case step_op::mc_ld_reduce:
        v = fetch(0);
        for (int q = 1; q < s_.nranks; ++q) combine_into(g, v, fetch(q), "the multicast reduction's");
        break;
      default: v = fetch(t.rank); break; // put, mc_st
    }
    if (t.post)
      for (auto& x : v) apply_post(x);
    if (t.op == step_op::put) write(g, t.peer, t.dst, t.dst_offset, v);
    else if (t.op == step_op::mc_st)
      for (int q = 0; q < s_.nranks; ++q) write(g, q, t.dst, t.dst_offset, v);
    else write(g, t.rank, t.dst, t.dst_offset, v);
  }

  void run_data(std::size_t g) {
    step const& t = s_.steps[g];
    if (t.op == step_op::nop || op_is_flag(t.op)) return;
    if (op_one_sided(t.op)) return run_one_sided(g);
    std::size_t const n = t.count;
    std::vector<sval> recv_v;
    if (t.receives() && !t.direct) {
      std::size_t const m = std::size_t(msend_[g]);
      if (done_[m]) recv_v.swap(inflight_[m]);
      if (recv_v.size() != n) recv_v.assign(n, undefined_val());
      std::vector<sval>().swap(inflight_[m]);
    }
    std::vector<sval> v;
    if (t.direct && t.receives()) {
      if (t.op == step_op::recv_copy_send) v = read(g, t.rank, t.src, t.src_offset, n); // landed data, no pre
    } else if (op_reads_own(t.op)) {
      std::vector<sval> own = read(g, t.rank, t.src, t.src_offset, n);
      if (!t.direct && t.pre)
        for (auto& x : own) apply_pre(x);
      if (t.op == step_op::reduce) {
        v = read(g, t.rank, t.dst, t.dst_offset, n);
        combine_into(g, v, own, "the destination's");
      } else if (t.receives()) {
        v = std::move(recv_v);
        combine_into(g, v, own, "received");
      } else {
        v = std::move(own);
      }
    } else {
      v = std::move(recv_v); // recv, recv_copy_send
    }
    if (t.post)
      for (auto& x : v) apply_post(x);
    if (t.dst != buf::none && !v.empty()) write(g, t.rank, t.dst, t.dst_offset, v);
    if (t.sends() && !v.empty()) {
      if (t.direct) write(g, t.send_peer, buf::output, t.peer_offset, v);
      else inflight_[g] = std::move(v);
    }
  }

  // ---- final outputs ----

  // The step that last wrote element `i` of `b` on `rank` (by execution order), or -1.
  long long last_writer(int rank, buf b, std::size_t i) const {
    auto covers = [&](int r2, buf b2, std::size_t off, std::size_t cnt) {
      if (r2 != rank || b2 == buf::none) return false;
      if (b2 == buf::scratch || b == buf::scratch) {
        if (b2 != b) return false;
        return i >= off && i - off < cnt;
      }
      // input/output share one storage when in place
      std::size_t const a = in_place_offset(s_, b2, r2) + off, x = in_place_offset(s_, b, rank) + i;
      if (!s_.in_place && b2 != b) return false;
      return x >= a && x - a < cnt;
    };
    long long best = -1;
    std::uint32_t best_seq = 0;
    for (std::size_t g = 0; g < s_.steps.size(); ++g) {
      step const& t = s_.steps[g];
      if (!seq_[g] || seq_[g] < best_seq) continue;
      bool hit = covers(t.op == step_op::put ? t.peer : t.rank, t.dst, t.dst_offset, t.count);
      if (!hit && t.op == step_op::mc_st) hit = covers(rank, t.dst, t.dst_offset, t.count);
      if (!hit && t.direct && t.sends()) hit = covers(t.send_peer, buf::output, t.peer_offset, t.count);
      if (hit) {
        best = (long long)g;
        best_seq = seq_[g];
      }
    }
    return best;
  }

  void check_final() {
    res_.symbolic_checked = true;
    bool const reducing = s_.coll == collective::all_reduce || s_.coll == collective::reduce_scatter ||
                          s_.coll == collective::reduce;
    std::uint64_t all = 0;
    for (int r = 0; r < s_.nranks; ++r) all += rank_hash(r);
    std::size_t const out = buffer_elems(s_, buf::output);
    std::size_t wrong = 0, groups = 0;
    // Consecutive elements of one rank with the same kind of problem form one finding.
    auto report = [&](int r, std::size_t lo, std::size_t hi, std::string const& what, bool untouched) {
      ++groups;
      if (groups > o_.max_result_reports) return;
      finding f;
      f.kind = finding_kind::wrong_result;
      f.rank = r;
      f.buffer = buf::output;
      f.element = (long long)lo;
      long long const w = last_writer(r, buf::output, lo);
      f.message = "rank " + std::to_string(r) + " " +
                  (hi - lo == 1 ? elem_name(buf::output, lo)
                                : "output[" + std::to_string(lo) + ".." + std::to_string(hi) + ") (" +
                                      std::to_string(hi - lo) + " elements; the first shown)") +
                  ": " + what;
      if (w >= 0) {
        step const& t = s_.steps[std::size_t(w)];
        f.program = t.program_id();
        f.channel = t.channel;
        f.step = L_.index[std::size_t(w)];
        f.step_index = w;
        f.message += "; last written by " + where(std::size_t(w));
      } else if (!untouched) {
        f.message += "; no step writes it";
      }
      add(std::move(f));
    };
    for (int r = 0; r < s_.nranks; ++r) {
      region const reg = map(r, buf::output);
      bool const untouched = s_.coll == collective::reduce && r != s_.root;
      int run_code = 0;
      std::size_t run_lo = 0;
      std::string run_what;
      for (std::size_t i = 0; i <= out; ++i) {
        int code = 0;
        std::string what;
        if (i < out) {
          sval const& v = main_[reg.base + i];
          if (untouched) {
            if (!(v.bits & sval::undefined) && !s_.in_place) {
              code = 100;
              what = "was written, but reduce leaves non-root outputs untouched";
            }
          } else {
            std::uint32_t exp_elem = std::uint32_t(i);
            std::uint64_t exp_hash = all;
            int exp_n = s_.nranks, src_rank = -1;
            if (s_.coll == collective::reduce_scatter) exp_elem = std::uint32_t(std::size_t(r) * s_.count + i);
            if (s_.coll == collective::all_gather) {
              src_rank = int(i / (s_.count ? s_.count : 1));
              exp_elem = std::uint32_t(i % (s_.count ? s_.count : 1));
            }
            if (s_.coll == collective::broadcast) src_rank = s_.root;
            if (!reducing) {
              exp_n = 1;
              exp_hash = rank_hash(src_rank);
            }
            code = judge(v, exp_elem, exp_hash, exp_n, src_rank, reducing, what);
          }
        }
        if (code != run_code) {
          if (run_code != 0) report(r, run_lo, i, run_what, untouched);
          run_code = code;
          run_lo = i;
          run_what = what;
        }
        if (code != 0) ++wrong;
      }
    }
    if (groups > o_.max_result_reports) {
      finding f;
      f.kind = finding_kind::wrong_result;
      f.message = std::to_string(wrong) + " output elements are wrong in all, in " + std::to_string(groups) +
                  " ranges (" + std::to_string(o_.max_result_reports) + " shown)";
      add(std::move(f));
    }
  }

  //! 0 when `v` is right; else a code for the kind of problem and `what` describes it.
  int judge(sval const& v, std::uint32_t exp_elem, std::uint64_t exp_hash, int exp_n, int src_rank, bool reducing,
            std::string& what) const {
    auto say = [&](int code, std::string m) {
      what = std::move(m);
      return code;
    };
    if (v.bits & sval::undefined) return say(1, "holds no defined value (never written, or computed from unwritten data)");
    if (v.bits & sval::mixed) return say(2, "mixes contributions to different input elements");
    if (!reducing) {
      if (v.n == 1 && (v.hash != exp_hash || v.elem != exp_elem))
        return say(3, "holds rank " + std::to_string(rank_of_hash(v.hash)) + " input[" + std::to_string(v.elem) +
                          "], expected rank " + std::to_string(src_rank) + " input[" + std::to_string(exp_elem) + "]");
      if (v.n != 1)
        return say(4, "holds a reduction of " + std::to_string(v.n) + " contributions, expected a copy of rank " +
                          std::to_string(src_rank) + " input[" + std::to_string(exp_elem) + "]");
      return 0;
    }
    if (v.n < exp_n)
      return say(5, "holds " + std::to_string(v.n) + " of " + std::to_string(exp_n) + " contributions (" +
                        std::to_string(exp_n - v.n) + " missing)");
    if (v.n > exp_n)
      return say(6, "holds " + std::to_string(v.n) + " contributions, " + std::to_string(exp_n) + " expected (" +
                        std::to_string(v.n - exp_n) + " duplicated)");
    if (v.elem != exp_elem)
      return say(7, "holds contributions to input element " + std::to_string(v.elem) + ", expected element " +
                        std::to_string(exp_elem) + " (wrong offset)");
    if (v.hash != exp_hash) return say(8, "holds " + std::to_string(v.n) + " contributions, but not one from each rank");
    if (s_.marks_post) {
      if (v.pre_min() != 1 || v.pre_max() != 1)
        return say(9, "the op's pre was applied " + std::to_string(v.pre_min() == 1 ? v.pre_max() : v.pre_min()) +
                          " times to a contribution (once expected)");
      if (v.bits & sval::after_post) return say(10, "was reduced further after the op's post was applied");
      if (v.post_count() != 1)
        return say(11, "the op's post was applied " + std::to_string(v.post_count()) + " times (once expected)");
    }
    return 0;
  }
};

} // namespace detail

//! Verify a schedule: structure, races, deadlock freedom and (when those pass)
//! the symbolic result. The schedule need not be linked.
inline verify_result verify(schedule const& s, verify_options const& o = {}) {
  verify_result res;
  detail::verifier v(s, o, res);
  v.run();
  return res;
}

} // namespace weft::sim
