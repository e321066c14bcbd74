#pragma once
//! \file
//! The schedule interpreter on a GPU: run any schedule (traced, read from
//! JSON or from MSCCL XML) with real data on one device, its ranks as virtual
//! ranks (partitions of the device). Each (rank, program) of the schedule is
//! one CTA of a single cooperative launch; every step is one `weft::prims`
//! call (the same `sim::run_step` the CPU-team interpreter uses) on device
//! connections made for the pairs the schedule uses, `nslots` slots sized so
//! that one step of the schedule is one step on the wire. Dependencies between
//! programs of a rank wait on per-program progress counters; every wait is
//! bounded by `vrank_interpret_options::timeout_ns`.
//!
//! ```
//! weft::sim::vrank_interpreter<float> it;
//! std::string why;
//! if (it.prepare(s, &why) == weft::status::success)            // checks, allocates
//!   st = it.run(d_send, d_recv, weft::op::sum<float>{}, stream, &why); // device pointers, one per rank
//! cudaStreamSynchronize(stream);
//! st = it.last_status(&why);                                     // failures recorded on the device
//! ```
//! `prepare` refuses what the host-side interpreter refuses (malformed steps,
//! unmatched sends and receives, deadlocks and races found by the verifier,
//! imported schedules that do not mark pre/post with an op that needs them) and
//! schedules with more programs than can be resident at once
//! (`status::unsupported`: the programs wait on each other, so all must run),
//! or more than `vrank_max_ranks` ranks.
//!
//! A run adds only kernels and memsets to its stream (the ranks' pointers travel
//! as a kernel argument), so runs can be captured in a CUDA graph and replayed;
//! `prepare` is a setup call (it allocates and copies) and must not be captured.

#include <weft/core/flag.hpp>
#include <weft/core/ops.hpp>
#include <weft/core/status.hpp>
#include <weft/group/cuda_groups.cuh>
#include <weft/prims/describe.hpp>
#include <weft/prims/prims.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/runtime/vrank_pointers.cuh>
#include <weft/sim/interpret.hpp>
#include <weft/sim/schedule.hpp>
#include <weft/sim/step_exec.hpp>
#include <weft/sim/trace_prims.hpp>
#include <weft/sim/verify.hpp>
#include <cuda/std/type_traits>
#include <cuda_runtime.h>
#include <climits>
#include <cstdint>
#include <string>
#include <vector>

namespace weft::sim {

struct vrank_interpret_options {
  std::uint64_t timeout_ns = 10'000'000'000ull; //!< bound of every device-side wait
  int threads = 256;                            //!< threads per CTA (one CTA per program)
  bool check = true;                            //!< verify deadlock- and race-freedom first
};

namespace detail {

//! A schedule step as the device reads it.
struct dev_step {
  step_call call;
  int recv_conn = -1, send_conn = -1; //!< index into the connection array (-1: none)
  buf src = buf::none, dst = buf::none;
  std::size_t src_offset = 0, dst_offset = 0;
  int dep_program = -1;               //!< index of the program depended on (-1: none)
  std::uint64_t dep_target = 0;       //!< its progress counter must reach this
};

struct dev_program {
  int rank = 0, channel = 0;
  int first = 0, nsteps = 0;          //!< range in the step array
};

template <class T>
struct interp_args {
  dev_step const* steps;
  dev_program const* programs;
  connection const* conns;
  T const* const* send; //!< per rank
  T* const* recv;       //!< per rank
  T* scratch;           //!< nranks * scratch_count
  std::size_t scratch_count;
  conn_counter* progress; //!< per program
  wait_error* errors;     //!< per program
  long long* failed_step; //!< per program: step that failed (-1: none)
  coll_kind coll;
  wait_bound bound;
};

template <class T>
WEFT_DEVICE T* interp_ptr(interp_args<T> const& a, buf b, int rank, std::size_t off) {
  switch (b) {
    case buf::input: return const_cast<T*>(a.send[rank]) + off;
    case buf::output: return a.recv[rank] + off;
    case buf::scratch: return a.scratch + std::size_t(rank) * a.scratch_count + off;
    default: return nullptr;
  }
}

template <protocol P, class Op>
__global__ void __launch_bounds__(512) vrank_interpret_kernel(Op op, interp_args<typename Op::value_type> a) {
  using T = typename Op::value_type;
  dev_program const pg = a.programs[blockIdx.x];
  cuda_cta g;
  for (int i = 0; i < pg.nsteps; ++i) {
    dev_step const t = a.steps[pg.first + i];
    if (t.dep_program >= 0) {
      status w = status::success;
      if (threadIdx.x == 0) w = wait_geq(&a.progress[t.dep_program].value, t.dep_target, a.bound);
      if (sync_any(g, w != status::success)) {
        if (threadIdx.x == 0) {
          wait_error& e = a.errors[blockIdx.x];
          e.st = w;
          e.coll = a.coll;
          e.rank = pg.rank;
          e.channel = pg.channel;
          e.step = t.dep_target; // the progress the dependency had to reach
          a.failed_step[blockIdx.x] = i;
        }
        return;
      }
    }
    prims_context ctx{pg.rank, pg.channel, a.coll, a.bound, &a.errors[blockIdx.x]};
    prims<Op, P, cuda_cta> pr(g, op, t.recv_conn >= 0 ? &a.conns[t.recv_conn] : nullptr,
                              t.send_conn >= 0 ? &a.conns[t.send_conn] : nullptr, ctx);
    status const st = run_step(pr, g, op, t.call, interp_ptr(a, t.src, pg.rank, t.src_offset),
                               interp_ptr(a, t.dst, pg.rank, t.dst_offset));
    pr.finish();
    if (st != status::success) {
      if (threadIdx.x == 0) {
        if (a.errors[blockIdx.x].st == status::success) a.errors[blockIdx.x].st = st;
        a.failed_step[blockIdx.x] = i;
      }
      return;
    }
    g.sync(); // every thread's writes of this step before the progress signal
    if (threadIdx.x == 0) signal(&a.progress[blockIdx.x].value, std::uint64_t(i + 1));
  }
}

} // namespace detail

//! Runs one schedule on the current device, as often as asked (connections and
//! scratch are made once by `prepare`; step counters carry on between runs).
template <class T>
class vrank_interpreter {
public:
  vrank_interpreter() = default;
  vrank_interpreter(vrank_interpreter const&) = delete;
  vrank_interpreter& operator=(vrank_interpreter const&) = delete;
  ~vrank_interpreter() { release(); }

  //! Check `s` and allocate what running it needs. Nothing is held on failure.
  status prepare(schedule const& s, std::string* error = nullptr, vrank_interpret_options o = {}) {
    release();
    opts_ = o;
    auto refuse = [&](status st, std::string const& m) {
      release();
      if (error) *error = m;
      return st;
    };
    if (o.threads < 32 || o.threads > 512 || o.threads % 32 != 0)
      return refuse(status::invalid_argument, "threads must be a multiple of 32 in 32..512");
    if (s.nranks > vrank_max_ranks)
      return refuse(status::unsupported, "the schedule has " + std::to_string(s.nranks) + " ranks; at most " +
                                             std::to_string(vrank_max_ranks) + " run as virtual ranks");
    verify_options vo;
    vo.execute = o.check;
    vo.max_clock_entries = std::size_t(1) << 22;
    verify_result const vr = verify(s, vo);
    for (auto const& f : vr.findings)
      if (f.kind != finding_kind::wrong_result && f.kind != finding_kind::uninitialised_read)
        return refuse(status::invalid_argument, "schedule refused: " + f.message);
    if (vr.omitted) return refuse(status::invalid_argument, "schedule refused: " + vr.report());
    for (auto const& t : s.steps)
      if (unsigned(t.op) >= unsigned(step_op_count))
        return refuse(status::unsupported, "a step op the GPU interpreter does not know");
    detail::link_table const L = detail::build_links(s);
    // ---- connections sized for the largest step, in one allocation ----
    std::size_t maxc = 1;
    for (auto const& t : s.steps) maxc = t.count > maxc ? t.count : maxc;
    std::size_t const elems = s.proto == protocol::simple ? (maxc + 15) / 16 * 16 : maxc;
    std::size_t const slot = (slot_bytes_for(s.proto, elems, sizeof(T)) + 127) / 128 * 128;
    if (slot > std::size_t(INT_MAX)) return refuse(status::invalid_argument, "a step is too large for one slot");
    std::size_t const cbytes = (connection_bytes(s.nslots, slot) + 255) / 256 * 256;
    std::size_t const nconn = L.conns.size();
    if (nconn && !alloc(&conn_mem_, cbytes * nconn)) return refuse(status::out_of_memory, "connection memory");
    host_conns_.clear();
    for (std::size_t k = 0; k < nconn; ++k)
      host_conns_.push_back(make_connection(static_cast<unsigned char*>(conn_mem_) + k * cbytes, s.proto, s.nslots, slot,
                                            L.conns[k].sender, L.conns[k].receiver));
    receiver_.clear();
    for (auto const& k : L.conns) receiver_.push_back(k.receiver);
    // ---- programs and steps ----
    std::vector<detail::dev_program> progs;
    std::vector<detail::dev_step> steps;
    for (auto const& pg : L.programs) {
      detail::dev_program d;
      d.rank = pg.rank;
      d.channel = pg.steps.empty() ? 0 : s.steps[pg.steps.front()].channel;
      d.first = int(steps.size());
      d.nsteps = int(pg.steps.size());
      for (std::size_t gi : pg.steps) {
        step const& t = s.steps[gi];
        detail::dev_step x;
        x.call = step_call{t.op, t.pre, t.post, t.direct, t.count, t.peer_offset};
        x.recv_conn = L.recv_conn[gi];
        x.send_conn = L.send_conn[gi];
        x.src = t.src;
        x.dst = t.dst;
        x.src_offset = t.src_offset;
        x.dst_offset = t.dst_offset;
        if (t.dep_program >= 0) {
          x.dep_program = L.find_program(t.rank, t.dep_program);
          x.dep_target = std::uint64_t(t.dep_index + 1);
        }
        steps.push_back(x);
      }
      progs.push_back(d);
    }
    nprog_ = int(progs.size());
    if (nprog_ == 0) {
      ready_ = true;
      s_ = &s;
      return status::success;
    }
    // ---- can every program be resident at once? ----
    int dev = 0, sms = 0, per_sm = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
      return refuse(status::cuda_error, "no CUDA device");
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &per_sm, reinterpret_cast<void const*>(&detail::vrank_interpret_kernel<protocol::simple, op::sum<T>>),
            o.threads, 0) != cudaSuccess)
      return refuse(status::cuda_error, "occupancy query failed");
    if (nprog_ > sms * per_sm)
      return refuse(status::unsupported, "the schedule has " + std::to_string(nprog_) + " programs; at most " +
                                             std::to_string(sms * per_sm) + " can be resident on this device");
    std::size_t const sc = s.scratch_count * std::size_t(s.nranks);
    if (!alloc(reinterpret_cast<void**>(&steps_), steps.size() * sizeof(detail::dev_step)) ||
        !alloc(reinterpret_cast<void**>(&progs_), progs.size() * sizeof(detail::dev_program)) ||
        !alloc(reinterpret_cast<void**>(&conns_), (nconn ? nconn : 1) * sizeof(connection)) ||
        !alloc(reinterpret_cast<void**>(&progress_), std::size_t(nprog_) * sizeof(conn_counter)) ||
        !alloc(reinterpret_cast<void**>(&errors_), std::size_t(nprog_) * sizeof(wait_error)) ||
        !alloc(reinterpret_cast<void**>(&failed_), std::size_t(nprog_) * sizeof(long long)) ||
        !alloc(reinterpret_cast<void**>(&ptrs_), 2 * std::size_t(s.nranks) * sizeof(void*)) ||
        !alloc(reinterpret_cast<void**>(&receivers_), (nconn ? nconn : 1) * sizeof(int)) ||
        (sc && !alloc(reinterpret_cast<void**>(&scratch_), sc * sizeof(T))))
      return refuse(status::out_of_memory, "device memory for the schedule");
    if (cudaMemcpy(steps_, steps.data(), steps.size() * sizeof(detail::dev_step), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(progs_, progs.data(), progs.size() * sizeof(detail::dev_program), cudaMemcpyHostToDevice) != cudaSuccess ||
        (nconn && cudaMemset(conn_mem_, 0, cbytes * nconn) != cudaSuccess) ||
        // The connections once (each run only points their direct buffers at its outputs).
        (nconn && cudaMemcpy(conns_, host_conns_.data(), nconn * sizeof(connection), cudaMemcpyHostToDevice) != cudaSuccess) ||
        (nconn && cudaMemcpy(receivers_, receiver_.data(), nconn * sizeof(int), cudaMemcpyHostToDevice) != cudaSuccess) ||
        // A copy from pageable memory may land after cudaMemcpy returns; runs go on other streams.
        cudaDeviceSynchronize() != cudaSuccess)
      return refuse(status::cuda_error, "copying the schedule to the device");
    s_ = &s;
    ready_ = true;
    return status::success;
  }

  //! Launch one run: rank r reads `send[r]` and writes `recv[r]` (device pointers;
  //! sizes as the collective defines them). Stream-ordered; failures inside the
  //! kernel are read back by `last_status` after the stream is synchronised.
  template <class Op>
  status run(std::vector<T const*> const& send, std::vector<T*> const& recv, Op const& op, cudaStream_t stream = 0,
             std::string* error = nullptr) {
    static_assert(cuda::std::is_same_v<typename Op::value_type, T>, "op's value type must match the buffers");
    auto refuse = [&](status st, char const* m) {
      if (error) *error = m;
      return st;
    };
    if (!ready_) return refuse(status::invalid_argument, "prepare() has not succeeded");
    if (broken_) return refuse(status::aborted, "an earlier run failed: prepare the schedule again");
    schedule const& s = *s_;
    if (send.size() != std::size_t(s.nranks) || recv.size() != std::size_t(s.nranks))
      return refuse(status::invalid_argument, "one input and one output pointer per rank expected");
    bool const pre_id = weft::detail::pre_is_identity<Op>::value, post_id = weft::detail::post_is_identity<Op>::value;
    if (!s.marks_post && !(pre_id && post_id))
      return refuse(status::unsupported, "the schedule does not mark where pre and post apply (imported); only ops "
                                         "whose pre and post are the identity can run it");
    std::size_t const in_elems = buffer_elems(s, buf::input), out_elems = buffer_elems(s, buf::output);
    for (int r = 0; r < s.nranks; ++r)
      if ((in_elems && !send[std::size_t(r)]) || (out_elems && !recv[std::size_t(r)]))
        return refuse(status::invalid_argument, "null buffer");
    if (nprog_ == 0) return status::success;
    // This run's pointers, and the direct sends' targets: each connection's receiver's output.
    if (weft::detail::bind_vrank_pointers(ptrs_, send, recv, conns_, receivers_, int(host_conns_.size()), stream) !=
            cudaSuccess ||
        cudaMemsetAsync(progress_, 0, std::size_t(nprog_) * sizeof(conn_counter), stream) != cudaSuccess ||
        cudaMemsetAsync(errors_, 0, std::size_t(nprog_) * sizeof(wait_error), stream) != cudaSuccess ||
        cudaMemsetAsync(failed_, 0xff, std::size_t(nprog_) * sizeof(long long), stream) != cudaSuccess)
      return refuse(status::cuda_error, "staging the run's arguments");
    detail::interp_args<T> a{steps_, progs_, conns_, reinterpret_cast<T const* const*>(ptrs_),
                             reinterpret_cast<T* const*>(ptrs_ + s.nranks), scratch_, s.scratch_count, progress_,
                             errors_, failed_, detail::to_coll_kind(s.coll), wait_bound{opts_.timeout_ns, nullptr}};
    Op op_copy = op;
    void* args[] = {&op_copy, &a};
    void const* fn = nullptr;
    switch (s.proto) {
      case protocol::ll: fn = reinterpret_cast<void const*>(&detail::vrank_interpret_kernel<protocol::ll, Op>); break;
      case protocol::ll128: fn = reinterpret_cast<void const*>(&detail::vrank_interpret_kernel<protocol::ll128, Op>); break;
      default: fn = reinterpret_cast<void const*>(&detail::vrank_interpret_kernel<protocol::simple, Op>); break;
    }
    cudaError_t const e = cudaLaunchCooperativeKernel(fn, dim3(unsigned(nprog_)), dim3(unsigned(opts_.threads)), args, 0, stream);
    if (e == cudaErrorCooperativeLaunchTooLarge) return refuse(status::unsupported, "too many programs to be resident");
    return e == cudaSuccess ? status::success : refuse(status::cuda_error, cudaGetErrorString(e));
  }

  //! After the stream is synchronised: the first failure of the last run, and where.
  status last_status(std::string* text = nullptr) {
    if (nprog_ == 0 || !errors_) {
      if (text) *text = "no error";
      return status::success;
    }
    std::vector<wait_error> e(static_cast<std::size_t>(nprog_));
    std::vector<long long> at(static_cast<std::size_t>(nprog_));
    if (cudaMemcpy(e.data(), errors_, e.size() * sizeof(wait_error), cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(at.data(), failed_, at.size() * sizeof(long long), cudaMemcpyDeviceToHost) != cudaSuccess) {
      if (text) *text = "could not read the error records";
      return status::cuda_error;
    }
    for (std::size_t p = 0; p < e.size(); ++p)
      if (e[p].st != status::success) {
        broken_ = true; // step counters may now disagree between programs
        if (text) *text = "program " + std::to_string(p) + " step " + std::to_string(at[p]) + ": " + describe(e[p]);
        return e[p].st;
      }
    if (text) *text = "no error";
    return status::success;
  }

  //! Device bytes held (connections, steps, counters, scratch).
  std::size_t device_bytes() const noexcept { return bytes_; }

private:
  schedule const* s_ = nullptr;
  vrank_interpret_options opts_{};
  bool ready_ = false, broken_ = false;
  int nprog_ = 0;
  std::size_t bytes_ = 0;
  std::vector<connection> host_conns_;
  std::vector<int> receiver_;
  std::vector<void*> owned_;
  void* conn_mem_ = nullptr;
  detail::dev_step* steps_ = nullptr;
  detail::dev_program* progs_ = nullptr;
  connection* conns_ = nullptr;
  conn_counter* progress_ = nullptr;
  wait_error* errors_ = nullptr;
  long long* failed_ = nullptr;
  void** ptrs_ = nullptr;
  int* receivers_ = nullptr; //!< [connection]: its receiver (the run's direct buffer is that rank's output)
  T* scratch_ = nullptr;

  bool alloc(void** p, std::size_t bytes) {
    if (cudaMalloc(p, bytes) != cudaSuccess) {
      *p = nullptr;
      return false;
    }
    owned_.push_back(*p);
    bytes_ += bytes;
    return true;
  }
  void release() {
    for (void* p : owned_) cudaFree(p);
    owned_.clear();
    conn_mem_ = nullptr;
    steps_ = nullptr;
    progs_ = nullptr;
    conns_ = nullptr;
    progress_ = nullptr;
    errors_ = nullptr;
    failed_ = nullptr;
    ptrs_ = nullptr;
    receivers_ = nullptr;
    scratch_ = nullptr;
    bytes_ = 0;
    nprog_ = 0;
    ready_ = broken_ = false;
    s_ = nullptr;
  }
};

} // namespace weft::sim
