#pragma once
//! \file
//! A schedule: what a collective does, step by step, on every rank -- the
//! third interpretation of an algorithm (after the GPU and the CPU team). It is
//! produced by running the algorithm source over `trace_prims` (no hand-written
//! description), exported/imported as JSON or MSCCL XML, checked by the
//! verifier, timed by the simulator and executed on the CPU team by the
//! schedule interpreter. docs/schedules.md describes the model in full.
//!
//! Model. Each (rank, program) is a sequential program of steps; a traced
//! schedule has one program per channel (`program == -1` means "the channel's
//! program"), an imported MSCCL schedule one per threadblock. A step moves
//! `count` elements: it may receive one slot from `recv_peer` (the k-th receive
//! on the connection recv_peer -> rank on `channel` takes the k-th send), combine
//! it with this rank's own data at `src`, write the result to `dst`, and send
//! it as the next slot to `send_peer`. Steps of one program run in order. Waits
//! (the schedule's dependencies):
//!  - data: a step that receives waits for the matching send (`waits_data`);
//!  - credit: a step that sends its k-th slot on a connection waits until the
//!    receiver consumed slot k - nslots (`waits_credit`);
//!  - dependency: a step may wait for a step of another program on its own rank
//!    (`dep_program`, `dep_index`: MSCCL's depid/deps).
//! Together with program order these edges form the schedule's DAG.
//!
//! Symmetric memory and multicast (direct and NVLS schedules) add one-sided
//! steps that touch another rank's buffers without a connection -- `get`,
//! `get_reduce` and `put` name that rank in `peer`; `mc_ld_reduce` reads every
//! rank's copy and `mc_st` writes every rank's copy -- and flag steps that
//! order them: `signal` (a count-0 send: a flag store to `send_peer`) and `wait`
//! (a count-0 receive: waits for the matching signal). Flags ride the same
//! connection numbering as slots, so the verifier's waits and happens-before
//! analysis cover them unchanged.

#include <weft/proto/protocol.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace weft::sim {

//! Buffers a step reads or writes (per rank).
enum class buf : std::uint8_t { none, input, output, scratch };

//! What a step does with the data (mirrors the prims; `reduce` and `nop` come from MSCCL).
enum class step_op : std::uint8_t {
  send,                  //!< own -> peer
  recv,                  //!< peer -> dst
  recv_reduce_send,      //!< peer (+) own -> peer
  recv_reduce_copy,      //!< peer (+) own -> dst
  recv_copy_send,        //!< peer -> dst, peer
  recv_reduce_copy_send, //!< peer (+) own -> dst, peer
  copy_send,             //!< own -> dst, peer
  local,                 //!< own -> dst (no peer; `reduce_local`, MSCCL `cpy`)
  reduce,                //!< dst (+) own -> dst (no peer; MSCCL `re`)
  nop,                   //!< nothing: only waits (its dependency)
  // symmetric memory and multicast (direct, NVLS):
  signal,                //!< flag store to send_peer (count 0)
  wait,                  //!< wait for the matching signal from recv_peer (count 0)
  get,                   //!< peer's src -> own dst
  get_reduce,            //!< own dst (+) peer's src -> own dst
  put,                   //!< own src -> peer's dst
  mc_ld_reduce,          //!< reduction over every rank's src (rank order) -> own dst (multimem.ld_reduce)
  mc_st,                 //!< own src -> every rank's dst (multimem.st)
};

inline constexpr int step_op_count = 17;

//! The collective a schedule implements.
enum class collective : std::uint8_t { all_reduce, all_gather, reduce_scatter, broadcast, reduce };

inline constexpr char const* to_string(buf b) noexcept {
  switch (b) {
    case buf::none: return "none";
    case buf::input: return "input";
    case buf::output: return "output";
    case buf::scratch: return "scratch";
  }
  return "unknown";
}

inline constexpr char const* to_string(step_op o) noexcept {
  switch (o) {
    case step_op::send: return "send";
    case step_op::recv: return "recv";
    case step_op::recv_reduce_send: return "recv_reduce_send";
    case step_op::recv_reduce_copy: return "recv_reduce_copy";
    case step_op::recv_copy_send: return "recv_copy_send";
    case step_op::recv_reduce_copy_send: return "recv_reduce_copy_send";
    case step_op::copy_send: return "copy_send";
    case step_op::local: return "local";
    case step_op::reduce: return "reduce";
    case step_op::nop: return "nop";
    case step_op::signal: return "signal";
    case step_op::wait: return "wait";
    case step_op::get: return "get";
    case step_op::get_reduce: return "get_reduce";
    case step_op::put: return "put";
    case step_op::mc_ld_reduce: return "mc_ld_reduce";
    case step_op::mc_st: return "mc_st";
  }
  return "unknown";
}

inline constexpr char const* to_string(collective c) noexcept {
  switch (c) {
    case collective::all_reduce: return "all_reduce";
    case collective::all_gather: return "all_gather";
    case collective::reduce_scatter: return "reduce_scatter";
    case collective::broadcast: return "broadcast";
    case collective::reduce: return "reduce";
  }
  return "unknown";
}

inline bool parse_buf(std::string_view s, buf& out) noexcept {
  for (int i = 0; i < 4; ++i)
    if (s == to_string(buf(i))) return out = buf(i), true;
  return false;
}

inline bool parse_step_op(std::string_view s, step_op& out) noexcept {
  for (int i = 0; i < step_op_count; ++i)
    if (s == to_string(step_op(i))) return out = step_op(i), true;
  return false;
}

inline bool parse_collective(std::string_view s, collective& out) noexcept {
  for (int i = 0; i < 5; ++i)
    if (s == to_string(collective(i))) return out = collective(i), true;
  return false;
}

//! What each op does (before the `direct` flag is taken into account).
inline constexpr bool op_receives(step_op o) noexcept {
  return o == step_op::recv || o == step_op::recv_reduce_send || o == step_op::recv_reduce_copy ||
         o == step_op::recv_copy_send || o == step_op::recv_reduce_copy_send || o == step_op::wait;
}
inline constexpr bool op_sends(step_op o) noexcept {
  return o == step_op::send || o == step_op::recv_reduce_send || o == step_op::recv_copy_send ||
         o == step_op::recv_reduce_copy_send || o == step_op::copy_send || o == step_op::signal;
}
//! Flag steps: a count-0 send or receive that moves no data.
inline constexpr bool op_is_flag(step_op o) noexcept { return o == step_op::signal || o == step_op::wait; }
//! One-sided steps on symmetric memory or a multicast object (read/write other ranks' buffers).
inline constexpr bool op_one_sided(step_op o) noexcept {
  return o == step_op::get || o == step_op::get_reduce || o == step_op::put || o == step_op::mc_ld_reduce ||
         o == step_op::mc_st;
}
//! One-sided steps that name one other rank in `peer`.
inline constexpr bool op_names_peer(step_op o) noexcept {
  return o == step_op::get || o == step_op::get_reduce || o == step_op::put;
}
//! Multicast steps (every rank's copy at once).
inline constexpr bool op_multicast(step_op o) noexcept { return o == step_op::mc_ld_reduce || o == step_op::mc_st; }
//! Reads this rank's own data at `src` (the op's `pre` applies to it).
inline constexpr bool op_reads_own(step_op o) noexcept {
  return o == step_op::send || o == step_op::recv_reduce_send || o == step_op::recv_reduce_copy ||
         o == step_op::recv_reduce_copy_send || o == step_op::copy_send || o == step_op::local ||
         o == step_op::reduce || o == step_op::put || o == step_op::mc_st;
}
//! Writes `dst` (of this rank; `put` writes the peer's, `mc_st` every rank's).
inline constexpr bool op_writes_dst(step_op o) noexcept {
  return o == step_op::recv || o == step_op::recv_reduce_copy || o == step_op::recv_copy_send ||
         o == step_op::recv_reduce_copy_send || o == step_op::copy_send || o == step_op::local ||
         o == step_op::reduce || op_one_sided(o);
}
//! Combines two values (received (+) own, or dst (+) own).
inline constexpr bool op_combines(step_op o) noexcept {
  return o == step_op::recv_reduce_send || o == step_op::recv_reduce_copy || o == step_op::recv_reduce_copy_send ||
         o == step_op::reduce || o == step_op::get_reduce || o == step_op::mc_ld_reduce;
}
//! Ops that may carry the `direct` flag (the direct prims).
inline constexpr bool op_may_be_direct(step_op o) noexcept {
  return o == step_op::send || o == step_op::recv || o == step_op::recv_copy_send || o == step_op::copy_send;
}

//! One step of one (rank, program) program.
struct step {
  int rank = 0;
  int channel = 0;               //!< connection namespace: the step's connections are (peer, rank, channel)
  int program = -1;              //!< sequential program on `rank` (-1: the channel's program, as traced)
  step_op op = step_op::send;
  int recv_peer = -1;            //!< sender of the slot received (-1: none)
  int send_peer = -1;            //!< receiver of the slot sent (-1: none)
  buf src = buf::none;           //!< own data read (or, for a direct receive, where the data landed)
  std::size_t src_offset = 0;    //!< element offset into `src`
  buf dst = buf::none;           //!< buffer written
  std::size_t dst_offset = 0;    //!< element offset into `dst`
  std::size_t count = 0;         //!< elements moved
  bool post = false;             //!< op's post applied (the result is final)
  //! The op's pre applies to the own data read (false where the algorithm reads
  //! a partial result it made earlier, which already had pre applied).
  bool pre = true;
  //! Direct (Simple only): the send writes straight into the receiver's output
  //! buffer at `peer_offset` and the slot carries only the step; a direct
  //! receive carries no data (it waits until the data landed) and reads `src`.
  bool direct = false;
  std::size_t peer_offset = 0;   //!< direct sends: element offset into the receiver's output
  int peer = -1;                 //!< get, get_reduce, put: the rank whose buffer is read or written (-1: none)
  int dep_program = -1;          //!< wait for step `dep_index` of program `dep_program` on this rank (-1: none)
  long long dep_index = -1;
  // Waits the step performs (true for every traced algorithm; an imported or
  // hand-made schedule may omit them, which the verifier reports as races):
  bool waits_data = true;        //!< a receive waits for the matching send
  bool waits_credit = true;      //!< a send waits until its slot is free
  // Filled by `schedule::link()`:
  long long index = -1;          //!< position in its program
  std::uint64_t recv_index = 0;  //!< index of this receive on its connection
  std::uint64_t send_index = 0;  //!< index of this send on its connection
  long long matching_send = -1;  //!< step index (into `schedule::steps`) of the send this receive consumes
  long long matching_recv = -1;  //!< step index of the receive that consumes this send
  long long credit_recv = -1;    //!< step index of the receive that frees this send's slot (send_index - nslots)
  long long dep_step = -1;       //!< step index of the dependency

  //! The step's program id (`program`, or `channel` when `program` is -1).
  constexpr int program_id() const noexcept { return program < 0 ? channel : program; }
  constexpr bool receives() const noexcept { return op_receives(op); }
  constexpr bool sends() const noexcept { return op_sends(op); }
  //! Bytes the step moves for elements of `elem_bytes` bytes.
  constexpr std::size_t bytes(std::size_t elem_bytes) const noexcept { return count * elem_bytes; }
};

//! A whole schedule.
struct schedule {
  std::string name;                  //!< e.g. "ring"
  collective coll = collective::all_reduce;
  int nranks = 1;
  int nchannels = 1;
  int nslots = 8;                    //!< slots per connection (flow control)
  int root = 0;                      //!< broadcast / reduce
  std::size_t count = 0;             //!< elements per rank: all-reduce/broadcast/reduce count, all-gather send count, reduce-scatter recv count
  std::size_t elem_bytes = 4;
  protocol proto = protocol::simple; //!< wire protocol the steps were cut for
  std::size_t slot_bytes = 0;        //!< bytes of one slot (0: unknown)
  std::size_t scratch_count = 0;     //!< scratch elements per rank
  //! In place (NCCL convention): all-gather input = output + rank * count,
  //! reduce-scatter output = input + rank * count, otherwise input = output.
  bool in_place = false;
  //! Steps say where the op's post applies and read own data only where pre
  //! must apply (true for traces). Imported MSCCL schedules say neither: the
  //! verifier then skips the pre/post checks and the interpreter accepts only
  //! ops whose pre and post are the identity.
  bool marks_post = true;
  std::vector<step> steps;           //!< programs interleaved in any way; each program's steps in order

  //! Number each connection's sends and receives and match them; number each
  //! program's steps; resolve dependencies (fills the link fields). Returns
  //! false (with a message) when a step names a rank, peer or channel out of
  //! range, a connection has unequal numbers of sends and receives or is used
  //! by two programs, or a dependency names no step.
  bool link(std::string* why = nullptr);
};

//! Elements of `b` on `rank` (output of all-gather: nranks * count; input of reduce-scatter: nranks * count).
inline std::size_t buffer_elems(schedule const& s, buf b, int rank = 0) noexcept {
  (void)rank;
  std::size_t const n = std::size_t(s.nranks < 1 ? 1 : s.nranks);
  switch (b) {
    case buf::input: return s.coll == collective::reduce_scatter ? n * s.count : s.count;
    case buf::output: return s.coll == collective::all_gather ? n * s.count : s.count;
    case buf::scratch: return s.scratch_count;
    case buf::none: return 0;
  }
  return 0;
}

//! In place: element offset of `b` (input or output) inside the rank's one storage.
inline std::size_t in_place_offset(schedule const& s, buf b, int rank) noexcept {
  if (!s.in_place) return 0;
  std::size_t const r = std::size_t(rank < 0 ? 0 : rank) * s.count;
  if (s.coll == collective::all_gather && b == buf::input) return r;
  if (s.coll == collective::reduce_scatter && b == buf::output) return r;
  return 0;
}

//! Limits of the model (keep connection and program keys in 64 bits).
inline constexpr int max_ranks = 1 << 20;
inline constexpr int max_channels = 1 << 12;

namespace detail {

//! Programs, connections and matching of a schedule, computed without changing it.
//! Assumes ranks, peers and channels are in range (see `range_error`).
struct link_table {
  struct program {
    int rank = 0;
    int id = 0;                        //!< program id on its rank
    std::vector<std::size_t> steps;    //!< step indices in program order
  };
  struct connection {
    int sender = 0, receiver = 0, channel = 0;
    std::vector<std::size_t> sends, recvs; //!< step indices in connection order
    int send_program = -1, recv_program = -1;
    bool shared_send = false, shared_recv = false; //!< used by two programs
  };
  std::vector<program> programs;
  std::vector<connection> conns;
  std::vector<int> prog;               //!< step -> program (index into `programs`)
  std::vector<long long> index;        //!< step -> position in its program
  std::vector<int> send_conn, recv_conn; //!< step -> connection (-1: none)
  std::vector<std::uint64_t> send_index, recv_index;
  std::unordered_map<std::uint64_t, int> program_of_key; //!< (rank, id) -> program

  static std::uint64_t key(int rank, int id) noexcept { return (std::uint64_t(std::uint32_t(rank)) << 32) | std::uint32_t(id); }
  //! Program index of (rank, id), or -1.
  int find_program(int rank, int id) const {
    auto it = program_of_key.find(key(rank, id));
    return it == program_of_key.end() ? -1 : it->second;
  }
  //! Step index of position `pos` of program (rank, id), or -1.
  long long find_step(int rank, int id, long long pos) const {
    int const p = find_program(rank, id);
    if (p < 0 || pos < 0 || std::size_t(pos) >= programs[std::size_t(p)].steps.size()) return -1;
    return (long long)programs[std::size_t(p)].steps[std::size_t(pos)];
  }
};

//! First step that names a rank, peer, channel or program out of range ("" when none).
inline std::string range_error(schedule const& s) {
  if (s.nranks < 1 || s.nranks > max_ranks) return "nranks must be in 1.." + std::to_string(max_ranks);
  if (s.nchannels < 1 || s.nchannels > max_channels) return "nchannels must be in 1.." + std::to_string(max_channels);
  if (s.nslots < 1) return "nslots must be at least 1";
  for (std::size_t i = 0; i < s.steps.size(); ++i) {
    step const& t = s.steps[i];
    auto bad = [&](char const* what, long long v) {
      return "step " + std::to_string(i) + ": " + what + " " + std::to_string(v) + " out of range";
    };
    if (t.rank < 0 || t.rank >= s.nranks) return bad("rank", t.rank);
    if (t.channel < 0 || t.channel >= s.nchannels) return bad("channel", t.channel);
    if (t.program < -1) return bad("program", t.program);
    if (t.recv_peer < -1 || t.recv_peer >= s.nranks) return bad("recv_peer", t.recv_peer);
    if (t.send_peer < -1 || t.send_peer >= s.nranks) return bad("send_peer", t.send_peer);
    if (t.peer < -1 || t.peer >= s.nranks) return bad("peer", t.peer);
    if (unsigned(t.op) >= unsigned(step_op_count)) return bad("op", int(t.op));
  }
  return {};
}

inline link_table build_links(schedule const& s) {
  link_table L;
  std::size_t const n = s.steps.size();
  L.prog.assign(n, -1);
  L.index.assign(n, -1);
  L.send_conn.assign(n, -1);
  L.recv_conn.assign(n, -1);
  L.send_index.assign(n, 0);
  L.recv_index.assign(n, 0);
  std::unordered_map<std::uint64_t, int> conn_of;
  auto conn_key = [&](int from, int to, int ch) {
    return (std::uint64_t(std::uint32_t(from)) * std::uint64_t(std::uint32_t(s.nranks)) + std::uint32_t(to)) *
               std::uint64_t(std::uint32_t(s.nchannels)) +
           std::uint32_t(ch);
  };
  auto conn = [&](int from, int to, int ch) {
    auto [it, fresh] = conn_of.emplace(conn_key(from, to, ch), int(L.conns.size()));
    if (fresh) {
      link_table::connection c;
      c.sender = from;
      c.receiver = to;
      c.channel = ch;
      L.conns.push_back(std::move(c));
    }
    return it->second;
  };
  for (std::size_t i = 0; i < n; ++i) {
    step const& t = s.steps[i];
    auto [it, fresh] = L.program_of_key.emplace(link_table::key(t.rank, t.program_id()), int(L.programs.size()));
    if (fresh) L.programs.push_back({t.rank, t.program_id(), {}});
    int const p = it->second;
    L.prog[i] = p;
    L.index[i] = (long long)L.programs[std::size_t(p)].steps.size();
    L.programs[std::size_t(p)].steps.push_back(i);
    if (t.receives() && t.recv_peer >= 0) {
      int const c = conn(t.recv_peer, t.rank, t.channel);
      auto& cc = L.conns[std::size_t(c)];
      L.recv_conn[i] = c;
      L.recv_index[i] = cc.recvs.size();
      cc.recvs.push_back(i);
      if (cc.recv_program < 0) cc.recv_program = p;
      else if (cc.recv_program != p) cc.shared_recv = true;
    }
    if (t.sends() && t.send_peer >= 0) {
      int const c = conn(t.rank, t.send_peer, t.channel);
      auto& cc = L.conns[std::size_t(c)];
      L.send_conn[i] = c;
      L.send_index[i] = cc.sends.size();
      cc.sends.push_back(i);
      if (cc.send_program < 0) cc.send_program = p;
      else if (cc.send_program != p) cc.shared_send = true;
    }
  }
  return L;
}

} // namespace detail

inline bool schedule::link(std::string* why) {
  auto fail = [&](std::string m) {
    if (why) *why = std::move(m);
    return false;
  };
  if (std::string e = detail::range_error(*this); !e.empty()) return fail(e);
  detail::link_table const L = detail::build_links(*this);
  for (auto const& c : L.conns) {
    std::string const conn_name =
        "connection " + std::to_string(c.sender) + "->" + std::to_string(c.receiver) + " channel " + std::to_string(c.channel);
    if (c.sends.size() != c.recvs.size())
      return fail(conn_name + ": " + std::to_string(c.sends.size()) + " sends, " + std::to_string(c.recvs.size()) + " receives");
    if (c.shared_send || c.shared_recv) return fail(conn_name + " is used by two programs of one rank");
  }
  for (std::size_t i = 0; i < steps.size(); ++i) {
    step& t = steps[i];
    t.index = L.index[i];
    t.send_index = L.send_index[i];
    t.recv_index = L.recv_index[i];
    t.matching_send = t.matching_recv = t.credit_recv = t.dep_step = -1;
    if (L.recv_conn[i] >= 0) t.matching_send = (long long)L.conns[std::size_t(L.recv_conn[i])].sends[t.recv_index];
    if (L.send_conn[i] >= 0) {
      auto const& c = L.conns[std::size_t(L.send_conn[i])];
      t.matching_recv = (long long)c.recvs[t.send_index];
      if (t.send_index >= std::uint64_t(nslots)) t.credit_recv = (long long)c.recvs[t.send_index - std::uint64_t(nslots)];
    }
    if (t.dep_program >= 0 || t.dep_index >= 0) {
      t.dep_step = L.find_step(t.rank, t.dep_program, t.dep_index);
      if (t.dep_step < 0)
        return fail("step " + std::to_string(i) + " (rank " + std::to_string(t.rank) + ") depends on step " +
                    std::to_string(t.dep_index) + " of program " + std::to_string(t.dep_program) + ", which does not exist");
    }
  }
  return true;
}

} // namespace weft::sim
