#pragma once
//! \file
//! The schedule interpreter: run any schedule (traced, read from JSON or from
//! MSCCL XML) with real data on the CPU team. Each (rank, program) is one team
//! thread; every step is one `weft::prims` call on host-memory connections
//! made for the pairs the schedule uses (one per sender -> receiver on a
//! channel, `nslots` slots sized to carry the schedule's largest step in one
//! slot), so a step of the schedule is exactly one step on the wire.
//! Dependencies between programs of a rank wait on per-program progress
//! counters; every wait is bounded (`interpret_options::team.timeout_ns`).
//!
//! ```
//! std::vector<float const*> in = ...;  // one per rank
//! std::vector<float*> out = ...;
//! std::string why;
//! weft::status st = weft::sim::interpret(s, in, out, weft::op::sum<float>{}, {}, &why);
//! ```
//! Before running, the schedule is checked (malformed steps, unmatched sends
//! and receives, and -- unless `check` is false -- deadlocks and races) and
//! refused with `status::invalid_argument` and the verifier's message.

#include <weft/algorithm/direct.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/reduce_copy.hpp>
#include <weft/core/status.hpp>
#include <weft/group/group.hpp>
#include <weft/prims/describe.hpp>
#include <weft/prims/prims.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/sim/schedule.hpp>
#include <weft/sim/step_exec.hpp>
#include <weft/sim/trace_prims.hpp>
#include <weft/sim/verify.hpp>
#include <weft/team/cpu_team.hpp>
#include <cuda/std/type_traits>
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace weft::sim {

struct interpret_options {
  team_options team{}; //!< bound of every wait (connection data/credit, dependencies)
  bool check = true;   //!< verify deadlock- and race-freedom before running (well-formedness is always checked)
};

namespace detail {

//! The i-th source of a gathered pointer list (a host-device callable).
template <class T>
struct source_list {
  T const* const* p;
  WEFT_HOST_DEVICE T const* operator()(int q) const noexcept { return p[q]; }
};


inline coll_kind to_coll_kind(collective c) noexcept {
  switch (c) {
    case collective::all_reduce: return coll_kind::all_reduce;
    case collective::all_gather: return coll_kind::all_gather;
    case collective::reduce_scatter: return coll_kind::reduce_scatter;
    case collective::broadcast: return coll_kind::broadcast;
    case collective::reduce: return coll_kind::reduce;
  }
  return coll_kind::all_reduce;
}

struct aligned_free {
  void operator()(unsigned char* p) const noexcept { std::free(p); }
};

template <class T, class Op>
class interpreter {
public:
  interpreter(schedule const& s, std::vector<T const*> const& send, std::vector<T*> const& recv, Op const& op,
              interpret_options const& o)
      : s_(s), send_(send), recv_(recv), op_(op), o_(o) {}

  status run(std::string* error) {
    auto refuse = [&](status st, std::string const& m) {
      if (error) *error = m;
      return st;
    };
    // ---- checks ----
    verify_options vo;
    vo.execute = o_.check; // deadlocks and races (buffer races need the symbolic pass); wrong results still run
    vo.max_clock_entries = std::size_t(1) << 22;
    verify_result const vr = verify(s_, vo);
    for (auto const& f : vr.findings)
      if (f.kind != finding_kind::wrong_result && f.kind != finding_kind::uninitialised_read)
        return refuse(status::invalid_argument, "schedule refused: " + f.message);
    if (vr.omitted) return refuse(status::invalid_argument, "schedule refused: " + vr.report());
    if (send_.size() != std::size_t(s_.nranks) || recv_.size() != std::size_t(s_.nranks))
      return refuse(status::invalid_argument, "one input and one output pointer per rank expected");
    std::size_t const in_elems = buffer_elems(s_, buf::input), out_elems = buffer_elems(s_, buf::output);
    for (int r = 0; r < s_.nranks; ++r) {
      std::size_t const rr = std::size_t(r);
      if ((in_elems && !send_[rr]) || (out_elems && !recv_[rr]))
        return refuse(status::invalid_argument, "rank " + std::to_string(r) + ": null buffer");
      if (s_.in_place && in_elems && out_elems &&
          send_[rr] + in_place_offset(s_, buf::output, r) != recv_[rr] + in_place_offset(s_, buf::input, r))
        return refuse(status::invalid_argument,
                      "rank " + std::to_string(r) + ": the schedule is in place, but the input is not where an in-place " +
                          to_string(s_.coll) + " puts it in the output");
    }
    bool const pre_id = weft::detail::pre_is_identity<Op>::value, post_id = weft::detail::post_is_identity<Op>::value;
    if (!s_.marks_post && !(pre_id && post_id))
      return refuse(status::unsupported, "the schedule does not mark where pre and post apply (imported); "
                                         "only ops whose pre and post are the identity can run it");
    for (auto const& t : s_.steps)
      if (t.op == step_op::mc_ld_reduce && !t.pre)
        return refuse(status::unsupported, "an mc_ld_reduce step without pre (the multicast reduction applies it)");
    if (!post_id)
      for (auto const& t : s_.steps)
        if (t.post && t.op != step_op::recv_reduce_copy && t.op != step_op::recv_reduce_copy_send &&
            t.op != step_op::local && t.op != step_op::reduce && !op_one_sided(t.op))
          return refuse(status::unsupported, std::string("a ") + to_string(t.op) + " step applies post, which its prim cannot");
    // ---- connections sized for the largest step ----
    links_ = build_links(s_);
    std::size_t maxc = 1;
    for (auto const& t : s_.steps) maxc = std::max(maxc, t.count);
    std::size_t const elems = s_.proto == protocol::simple ? (maxc + 15) / 16 * 16 : maxc;
    std::size_t const slot = (slot_bytes_for(s_.proto, elems, sizeof(T)) + 127) / 128 * 128;
    if (slot > std::size_t(INT_MAX)) return refuse(status::invalid_argument, "a step is too large for one slot");
    std::size_t const bytes = (connection_bytes(s_.nslots, slot) + 63) / 64 * 64;
    for (auto const& k : links_.conns) {
      void* mem = std::aligned_alloc(64, bytes);
      if (!mem) return refuse(status::out_of_memory, "connection memory could not be allocated");
      std::memset(mem, 0, bytes);
      blocks_.emplace_back(static_cast<unsigned char*>(mem));
      connection c = make_connection(mem, s_.proto, s_.nslots, slot, k.sender, k.receiver);
      c.direct_buf = recv_[std::size_t(k.receiver)];
      conns_.push_back(c);
    }
    scratch_.assign(std::size_t(s_.nranks), std::vector<T>(s_.scratch_count));
    flags_.reset(new conn_counter[links_.conns.size() + 1]);
    for (std::size_t c = 0; c < links_.conns.size(); ++c) flags_[c].value = 0;
    std::size_t const P = links_.programs.size();
    progress_.reset(new conn_counter[P == 0 ? 1 : P]);
    for (std::size_t p = 0; p < P; ++p) progress_[p].value = 0;
    errs_.assign(P, wait_error{});
    failed_at_.assign(P, -1);
    dep_msg_.assign(P, std::string());
    if (P == 0) return status::success;
    // ---- run: one team thread per program ----
    cpu_team team(int(P), o_.team);
    std::vector<status> per;
    status const st = team.run([&](team_rank& tr) { return run_program(tr); }, &per);
    if (st == status::success) return st;
    for (std::size_t p = 0; p < P; ++p) {
      if (per[p] == status::success || per[p] == status::aborted) continue;
      std::string m = failed_at_[p] >= 0 ? where(std::size_t(failed_at_[p])) + ": " : std::string();
      if (!dep_msg_[p].empty()) m += dep_msg_[p];
      else if (errs_[p].st != status::success) m += describe(errs_[p]);
      else m += to_string(per[p]);
      return refuse(per[p], m);
    }
    return refuse(st, std::string("interpreting the schedule failed: ") + to_string(st));
  }

private:
  schedule const& s_;
  std::vector<T const*> const& send_;
  std::vector<T*> const& recv_;
  Op op_;
  interpret_options const& o_;
  link_table links_;
  std::vector<std::unique_ptr<unsigned char, aligned_free>> blocks_;
  std::vector<connection> conns_;
  std::vector<std::vector<T>> scratch_;
  std::unique_ptr<conn_counter[]> progress_;
  std::unique_ptr<conn_counter[]> flags_; //!< per connection: signals given (flag steps)
  std::vector<wait_error> errs_;
  std::vector<long long> failed_at_;
  std::vector<std::string> dep_msg_;

  std::string where(std::size_t g) const {
    step const& t = s_.steps[g];
    return "rank " + std::to_string(t.rank) + " program " + std::to_string(t.program_id()) + " step " +
           std::to_string(links_.index[g]) + " (" + to_string(t.op) + ")";
  }

  T* ptr(buf b, int rank, std::size_t off) {
    switch (b) {
      case buf::input: return const_cast<T*>(send_[std::size_t(rank)]) + off; // written only in place (into recv memory)
      case buf::output: return recv_[std::size_t(rank)] + off;
      case buf::scratch: return scratch_[std::size_t(rank)].data() + off;
      case buf::none: return nullptr;
    }
    return nullptr;
  }

  // Flag and one-sided steps: flags are per-connection counters; data moves between any ranks' buffers.
  status run_one_sided(step const& t, std::size_t g_i, team_rank& tr) {
    host_group g;
    std::size_t const n = t.count;
    T* const src = ptr(t.src, t.op == step_op::get || t.op == step_op::get_reduce ? t.peer : t.rank, t.src_offset);
    reduce_copy_flags const one{t.pre ? 1u : 0u, t.post};
    switch (t.op) {
      case step_op::signal: signal_add(&flags_[std::size_t(links_.send_conn[g_i])].value, cuda::std::uint64_t(1)); break;
      case step_op::wait:
        return wait_geq(&flags_[std::size_t(links_.recv_conn[g_i])].value,
                        cuda::std::uint64_t(links_.recv_index[g_i] + 1), tr.bound());
      case step_op::get:
      case step_op::put: {
        T* const dst = ptr(t.dst, t.op == step_op::put ? t.peer : t.rank, t.dst_offset);
        reduce_copy(g, op_, ptr_list<T const, 1>{{src}, 1}, ptr_list<T, 1>{{dst}, 1}, n, one);
        break;
      }
      case step_op::get_reduce: {
        T* const dst = ptr(t.dst, t.rank, t.dst_offset);
        reduce_copy(g, op_, ptr_list<T const, 2>{{dst, src}, 2}, ptr_list<T, 1>{{dst}, 1}, n,
                    reduce_copy_flags{t.pre ? 2u : 0u, t.post});
        break;
      }
      case step_op::mc_ld_reduce: {
        // Every rank's source, gathered first: reduce_sources is host-device and
        // takes a host-device callable (nvcc warns about a host lambda there).
        std::vector<T const*> srcs(std::size_t(s_.nranks));
        T* const dst = ptr(t.dst, t.rank, t.dst_offset);
        bool aliased = false; // zero-copy NVLS reduces a range of every rank's buffer into this rank's own
        for (int q = 0; q < s_.nranks; ++q) {
          srcs[std::size_t(q)] = ptr(t.src, q, t.src_offset);
          aliased = aliased || srcs[std::size_t(q)] == dst;
        }
        if (!aliased) {
          weft::detail::reduce_sources(g, op_, s_.nranks, source_list<T>{srcs.data()}, dst, n, t.post);
          break;
        }
        // Past the first pass of sources, reduce_sources reads the partial sum in dst,
        // which must not be one of the sources: reduce into a copy first.
        std::vector<T> tmp(n);
        weft::detail::reduce_sources(g, op_, s_.nranks, source_list<T>{srcs.data()}, tmp.data(), n, t.post);
        weft::detail::copy_to(g, static_cast<T const*>(tmp.data()), dst, n);
        break;
      }
      case step_op::mc_st:
        for (int q = 0; q < s_.nranks; ++q)
          reduce_copy(g, op_, ptr_list<T const, 1>{{src}, 1}, ptr_list<T, 1>{{ptr(t.dst, q, t.dst_offset)}, 1}, n, one);
        break;
      default: return status::internal_error;
    }
    return status::success;
  }

  status run_program(team_rank& tr) {
    std::size_t const p = std::size_t(tr.rank());
    switch (s_.proto) {
      case protocol::ll: return run_steps<protocol::ll>(p, tr);
      case protocol::ll128: return run_steps<protocol::ll128>(p, tr);
      default: return run_steps<protocol::simple>(p, tr);
    }
  }

  template <protocol P>
  status run_steps(std::size_t p, team_rank& tr) {
    host_group g;
    for (std::size_t g_i : links_.programs[p].steps) {
      step const& t = s_.steps[g_i];
      failed_at_[p] = (long long)g_i;
      if (t.dep_program >= 0) {
        int const dp = links_.find_program(t.rank, t.dep_program);
        cuda::std::uint64_t const target = cuda::std::uint64_t(t.dep_index + 1);
        status const w = wait_geq(&progress_[std::size_t(dp)].value, target, tr.bound());
        if (w != status::success) {
          dep_msg_[p] = std::string(to_string(w)) + " waiting for its dependency, step " + std::to_string(t.dep_index) +
                        " of program " + std::to_string(t.dep_program);
          return w;
        }
      }
      if (op_is_flag(t.op) || op_one_sided(t.op)) {
        if (status const st = run_one_sided(t, g_i, tr); st != status::success) {
          if (dep_msg_[p].empty()) dep_msg_[p] = std::string(to_string(st)) + " waiting for the matching signal";
          return st;
        }
        signal(&progress_[p].value, cuda::std::uint64_t(links_.index[g_i] + 1));
        continue;
      }
      connection const* rc = links_.recv_conn[g_i] >= 0 ? &conns_[std::size_t(links_.recv_conn[g_i])] : nullptr;
      connection const* sc = links_.send_conn[g_i] >= 0 ? &conns_[std::size_t(links_.send_conn[g_i])] : nullptr;
      prims_context ctx{t.rank, t.channel, to_coll_kind(s_.coll), tr.bound(), &errs_[p]};
      prims<Op, P, host_group> pr(g, op_, rc, sc, ctx);
      T* const src = ptr(t.src, t.rank, t.src_offset);
      T* const dst = ptr(t.dst, t.rank, t.dst_offset);
      // The same step executor as the GPU interpreter (one-sided and multicast
      // steps were handled above; anything else unknown was refused before the run).
      status const st = run_step(pr, g, op_, step_call{t.op, t.pre, t.post, t.direct, t.count, t.peer_offset}, src, dst);
      pr.finish();
      if (st != status::success) return st;
      signal(&progress_[p].value, cuda::std::uint64_t(links_.index[g_i] + 1));
    }
    failed_at_[p] = -1;
    return status::success;
  }
};

} // namespace detail

//! Run schedule `s` on the CPU team with real data: rank r reads `send[r]` and
//! writes `recv[r]` (sizes as the collective defines them; in place when the
//! schedule is, with NCCL's pointer convention). Scratch is allocated here.
//! Returns the first failure; `*error` then says which rank, program and step.
template <class T, class Op>
[[nodiscard]] status interpret(schedule const& s, std::vector<T const*> const& send, std::vector<T*> const& recv,
                               Op const& op, interpret_options const& o = {}, std::string* error = nullptr) {
  static_assert(cuda::std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
  detail::interpreter<T, Op> it(s, send, recv, op, o);
  return it.run(error);
}

} // namespace weft::sim
