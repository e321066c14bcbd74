#pragma once
//! \file
//! `weft::comm`: one rank of a GPU communicator -- one GPU per rank (several
//! ranks may share a GPU), created either all at once in one process
//! (`comm_init_all`, like ncclCommInitAll) or one per process or thread through
//! a bootstrap (`comm::init`).
//!
//! A communicator holds, and frees when destroyed:
//!  - its connection memory (ring connections for every protocol and channel,
//!    and point-to-point ones when `recursive_connections` is set), allocated as
//!    symmetric memory and mapped by the ranks that send into it;
//!  - the device copy of its connection descriptors and its error records;
//!  - the symmetric window of the direct all-reduce (`comm_config::direct_blocks`),
//!    mapped by every peer, and its cursors, LL staging and failure record;
//!  - the multicast window of the NVLS collectives (`comm_config::nvls_blocks`),
//!    where every rank has its own multicast-capable GPU on one host: one CUDA
//!    multicast object over one allocation per GPU -- in one process shared by
//!    the ranks of the `comm_init_all` group and released with the last of them,
//!    between processes made by rank 0 and passed as a file descriptor;
//!  - every symmetric allocation it made (`alloc_symmetric`) and every peer
//!    mapping of a registered buffer (`register_buffer`).
//! `scratch_bytes()` reports the first four (this rank's part of each). Creation
//! fails with `invalid_argument` if the first three would exceed
//! `comm_config::max_scratch_bytes` (64 MiB by default); a multicast window that
//! would exceed it is not made.
//!
//! Peers: within one process, ranks on different GPUs need peer access
//! (`cudaDeviceCanAccessPeer`). Where a pair lacks it, the connections fall
//! back to mapped, portable host memory (`transport() == "host_mapped"`, slow
//! but correct) and everything that needs peer pointers (registration,
//! symmetric memory, direct transfers, the device-side API) returns
//! `unsupported`. Between processes, memory travels as CUDA IPC, VMM file
//! descriptor or fabric handles (`symmetric/memory.cuh`). Without multicast
//! (no NVSwitch, ranks sharing a GPU, ranks on several hosts, an old driver)
//! creation still succeeds: `nvls_status()` says why there is no
//! multicast window, and `algorithm::nvls` calls return `unsupported`.
//!
//! Setup calls (creation, registration, symmetric allocation) are collective:
//! every rank makes them, in the same order. A comm created by
//! `comm_init_all` makes them through the `*_all` functions, from one thread.
//! None of them may run while a stream passed in `check_stream` is capturing a
//! CUDA graph: they allocate and exchange handles.

#include <weft/algorithm/direct.hpp>
#include <weft/algorithm/partition.hpp>
#include <weft/algorithm/ring.hpp>
#include <weft/core/flag.hpp>
#include <weft/core/status.hpp>
#include <weft/prims/describe.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/connection.hpp>
#include <weft/proto/protocol.hpp>
#include <weft/runtime/bootstrap.hpp>
#include <weft/runtime/call.hpp>
#include <weft/runtime/fd_exchange.hpp>
#include <weft/runtime/nvls_multimem.cuh>
#include <weft/runtime/registry.hpp>
#include <weft/symmetric/block.hpp>
#include <weft/symmetric/memory.cuh>
#include <weft/symmetric/multicast.cuh>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace weft {

//! How a communicator is built.
struct comm_config {
  int max_channels = 4;                      //!< channels a call may use (each a ring with its own connections)
  protocol_defaults slots{};                 //!< slot count and sizes per protocol
  int threads = 512;                         //!< threads per channel's CTA (32 .. 512, a multiple of 32)
  std::uint64_t timeout_ns = 10'000'000'000; //!< bound of every device-side wait
  std::size_t max_scratch_bytes = std::size_t(64) << 20; //!< creation fails above this
  bool recursive_connections = false;        //!< also make point-to-point connections (recursive all-reduce)
  //! The ring family's order: ranks per node of the rail-rotated ring (`ring_order`,
  //! channel c entering every node at local rank c mod ring_local, so channels cross
  //! node boundaries through different NICs); 0 or 1: the plain ring. Fixed at
  //! creation: each channel's ring connections are made to that channel's
  //! neighbours. The rank count must be a multiple of it; the direct all-gather
  //! is not served on a rotated ring.
  int ring_local = 0;
  sym::handle_request handles = sym::handle_request::automatic; //!< between processes
  //! The direct all-reduce's symmetric window (`call_options::flavour`, and the
  //! built-in policy's small all-reduces): block slots (the most CTAs a direct
  //! call may use; 0: no window), one staging area and the LL payload per sender
  //! and round (positive multiples of 64). Made only where every peer's memory
  //! is addressable (not over the host-mapped fallback); counted in scratch_bytes:
  //! about direct_blocks x (4 x area + 5 x nranks x ll) bytes (areas, LL slots, LL staging).
  int direct_blocks = 4;
  std::size_t direct_area_bytes = std::size_t(64) << 10;
  std::size_t direct_ll_bytes = std::size_t(1) << 10;
  //! Hierarchical all-reduce, all-gather and reduce-scatter (`call_options::algo =
  //! algorithm::hierarchical`, over the point-to-point connections): the levels
  //! when a call names none, e.g. {inner = GPUs per node}; inner 0: a call without
  //! a layout gets `hier_layout::automatic`, and a selector's hierarchical choice
  //! without one runs the ring.
  hier_layout hier{};
  //! The NVLS collectives (`call_options::algo = algorithm::nvls`: all-reduce,
  //! all-gather, reduce-scatter through multimem.ld_reduce / multimem.st, sm_90+):
  //! block slots of the multicast window (the most CTAs an NVLS call may use; 0:
  //! no window) and one staging area (a positive multiple of 64). Made at creation
  //! only where every rank has its own multicast-capable GPU, all on one host (in
  //! one process, or one per process with VMM file descriptors); otherwise
  //! skipped (see comm::nvls_status). Per GPU about
  //! nvls_blocks x 4 x nvls_area_bytes, rounded up to the multicast granularity
  //! (counted in scratch_bytes; skipped if it would exceed max_scratch_bytes).
  int nvls_blocks = 4;
  std::size_t nvls_area_bytes = std::size_t(256) << 10;
  plan_selector selector;                    //!< empty: the built-in policy (`default_plan`); see runtime/tuned.hpp
};

//! Whether a symmetric allocation is multicast memory (NVLS, sm_90 behind an NVSwitch).
enum class multicast_use : std::uint8_t {
  none,    //!< plain symmetric memory
  prefer,  //!< multicast memory where it can be made, else plain (`comm::multicast_status` says why)
  require, //!< multicast memory, or the allocation fails (`unsupported` or the driver's failure) with the reason
};

//! How `alloc_symmetric` allocates.
struct symmetric_options {
  int max_blocks = 64; //!< block slots of the device-side API (barrier flags)
  multicast_use multicast = multicast_use::none;
};

//! A buffer allocated by `alloc_symmetric`: the same size on every rank.
struct symmetric_buffer {
  std::uint64_t id = 0;
  void* local = nullptr; //!< this rank's part (device memory)
  std::size_t bytes = 0;
  //! This rank's multicast address of `local` (a `multimem.st` there writes every
  //! rank's part), or null where the buffer is plain symmetric memory.
  void* multicast = nullptr;
  explicit operator bool() const noexcept { return id != 0; }
};

class comm;

namespace detail {
//! A status with its reason, agreed by every rank of a setup call.
struct setup_status {
  std::int32_t st = 0;
  std::int32_t rank = -1;
};
struct peer_set {
  std::vector<sym::peer_map> peers; //!< indexed by rank; this rank's entry unused
  void release() {
    for (auto& p : peers) p.release();
    peers.clear();
  }
};
} // namespace detail

class comm {
public:
  comm() = default;
  comm(comm const&) = delete;
  comm& operator=(comm const&) = delete;
  ~comm() { destroy(); }

  //! One rank per process (or per thread): collective over `b`, which must
  //! outlive the communicator (later setup calls use it). `device` is this
  //! rank's CUDA device. On failure nothing is held and every rank returns a
  //! failure; `last_error()` says why.
  status init(comm_bootstrap& b, int device, comm_config cfg = {}) {
    destroy();
    if (check_bootstrap(b) != status::success) return fail_setup(status::invalid_argument, "bootstrap has a bad rank or size");
    boot_ = &b;
    rank_ = b.rank();
    n_ = b.size();
    std::vector<comm*> me{this};
    status s = setup(me, cfg, device);
    if (s != status::success) destroy_keep_error();
    return s;
  }

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return n_; }
  int device() const noexcept { return dev_; }
  bool initialized() const noexcept { return n_ > 0; }
  //! Whether this rank addresses every peer's memory directly (peer access, the same GPU, or IPC).
  bool peer_access() const noexcept { return peer_access_; }
  //! How connection memory reaches the peers: "process_local", "host_mapped", "cuda_ipc", "posix_fd" or "fabric".
  char const* transport() const noexcept { return sym::to_string(conn_kind_); }
  //! Device (or mapped host) bytes held for connections, descriptors and error records.
  std::size_t scratch_bytes() const noexcept { return scratch_; }
  //! Bytes held by symmetric allocations (not counted in scratch_bytes: the user asked for them).
  std::size_t symmetric_bytes() const noexcept { return sym_bytes_; }
  comm_config const& config() const noexcept { return cfg_; }
  std::string const& last_error() const noexcept { return last_error_; }
  //! Why the last collective on this rank returned what it did: "ok", or the reason
  //! a call was refused before launching (a static string, e.g. "buffer not aligned
  //! to its element size") or "the launch failed". Device-side failures are
  //! reported by check_errors().
  char const* last_call_error() const noexcept { return last_call_; }
  //! Records a call's outcome (the launch path, runtime/collectives.cuh).
  void record_call(char const* why) noexcept { last_call_ = why ? why : "ok"; }
  bool healthy() const noexcept { return healthy_; }

  //! After the stream of a collective is synchronised: the first failure its
  //! kernels recorded (success if none) and its description. A failure marks
  //! the communicator unhealthy: later collectives return `aborted`.
  status check_errors(std::string* text = nullptr) {
    if (!initialized()) return status::invalid_argument;
    std::vector<wait_error> e(std::size_t(cfg_.max_channels));
    if (cudaSetDevice(dev_) != cudaSuccess ||
        cudaMemcpy(e.data(), errors_, e.size() * sizeof(wait_error), cudaMemcpyDeviceToHost) != cudaSuccess) {
      if (text) *text = "could not read the error records";
      return status::cuda_error;
    }
    for (auto const& x : e)
      if (x.st != status::success) {
        healthy_ = false;
        last_error_ = describe(x);
        if (text) *text = last_error_;
        return x.st;
      }
    if (win_ready_)
      if (status const w = check_window(win_view_, win_status_, "direct all-reduce", "comm_config::direct_blocks", text);
          w != status::success)
        return w;
    if (nvls_ready_)
      if (status const w = check_window(nvls_view_, nvls_status_, "nvls", "comm_config::nvls_blocks", text);
          w != status::success)
        return w;
    if (text) *text = "no error";
    return status::success;
  }

  //! Collective: register [p, p + bytes) of this rank's device memory (cudaMalloc
  //! or VMM memory) so that peers can address it. Refused while `check_stream`
  //! is capturing. Every rank registers its own buffer of the same size.
  status register_buffer(void* p, std::size_t bytes, registered_buffer* out, cudaStream_t check_stream = nullptr) {
    if (clique_ && n_ > 1) return fail_local(status::invalid_argument, "a comm_init_all group registers with register_buffers_all");
    std::vector<comm*> me{this};
    std::vector<void*> ptrs{p};
    std::vector<registered_buffer*> outs{out};
    return register_impl(me, ptrs, bytes, outs, check_stream);
  }

  //! Forget a registration and unmap the peers' buffers. Every rank calls it for
  //! its own handle; afterwards the handle is invalid for every call (an unknown
  //! or already removed handle gives `invalid_argument`).
  status deregister_buffer(registered_buffer h) {
    detail::peer_set ps;
    if (reg_.remove(h, &ps) != status::success) return fail_local(status::invalid_argument, "unknown or already deregistered buffer");
    ps.release();
    return status::success;
  }

  //! The peer's address of a registered buffer, at the same offset as `p` in
  //! this rank's registration (null if `p` is not registered or `peer` is out of range).
  void* peer_address(void const* p, std::size_t bytes, int peer) const {
    auto const* e = reg_.covering(p, bytes);
    if (!e || peer < 0 || peer >= n_) return nullptr;
    std::uintptr_t const off = reinterpret_cast<std::uintptr_t>(p) - e->base;
    void* base = peer == rank_ ? reinterpret_cast<void*>(e->base) : e->payload.peers[std::size_t(peer)].ptr;
    return base ? static_cast<char*>(base) + off : nullptr;
  }
  //! The registration that covers [p, p + bytes), or an empty handle.
  registered_buffer find_registered(void const* p, std::size_t bytes) const {
    auto const* e = reg_.covering(p, bytes);
    return e ? registered_buffer{e->id} : registered_buffer{};
  }
  std::size_t registered_count() const noexcept { return reg_.size(); }

  //! Collective: allocate `bytes` on every rank, addressable by every rank, with
  //! barrier flags for `max_blocks` blocks of the device-side API. Freed by
  //! `free_symmetric` or by destroying the communicator.
  status alloc_symmetric(std::size_t bytes, symmetric_buffer* out, int max_blocks = 64, cudaStream_t check_stream = nullptr) {
    symmetric_options o;
    o.max_blocks = max_blocks;
    return alloc_symmetric(bytes, out, o, check_stream);
  }
  //! `alloc_symmetric` with options: `o.multicast` asks for multicast memory
  //! (one multicast object over every rank's part: each rank needs its own
  //! multicast-capable GPU behind one NVSwitch, on one host -- VMM file
  //! descriptors -- or across the nodes of an NVLink domain -- fabric handles).
  status alloc_symmetric(std::size_t bytes, symmetric_buffer* out, symmetric_options const& o,
                         cudaStream_t check_stream = nullptr) {
    if (clique_ && n_ > 1) return fail_local(status::invalid_argument, "a comm_init_all group allocates with alloc_symmetric_all");
    std::vector<comm*> me{this};
    std::vector<symmetric_buffer*> outs{out};
    return alloc_symmetric_impl(me, bytes, o, outs, check_stream);
  }
  //! Whether a symmetric buffer is multicast memory: success, or why not
  //! (`unsupported` and the reason, e.g. "not asked for" or "device 0 appears
  //! twice"); `invalid_argument` for an unknown buffer.
  status multicast_status(symmetric_buffer const& b, std::string* why = nullptr) const {
    auto it = syms_.find(b.id);
    if (it == syms_.end()) {
      if (why) *why = "unknown or freed symmetric buffer";
      return status::invalid_argument;
    }
    if (why) *why = it->second.mc.mc ? std::string("ready") : it->second.mc_why;
    return it->second.mc.mc ? status::success : status::unsupported;
  }
  //! Free a symmetric allocation (every rank, its own handle). Handles made from
  //! it must not be used afterwards; an unknown handle gives `invalid_argument`.
  status free_symmetric(symmetric_buffer& b) {
    auto it = syms_.find(b.id);
    if (it == syms_.end()) return fail_local(status::invalid_argument, "unknown or already freed symmetric buffer");
    sym_bytes_ -= it->second.mem.size + it->second.mc.size + it->second.flags.size;
    release_sym(it->second);
    syms_.erase(it);
    b = {};
    return status::success;
  }
  //! The trivially copyable view of a symmetric buffer that kernels take (see
  //! symmetric/block.hpp). `ok` is false for an unknown buffer.
  sym::device_handle device_view(symmetric_buffer const& b, bool* ok = nullptr) const {
    sym::device_handle h{};
    auto it = syms_.find(b.id);
    if (ok) *ok = it != syms_.end();
    if (it == syms_.end()) return h;
    h = it->second.handle;
    return h;
  }

  //! Free everything this communicator made (also done by the destructor).
  void destroy() {
    destroy_keep_error();
    last_error_.clear();
  }

  // ---- for the launch path (runtime/collectives.cuh) ----
  //! Facts for the host checks of a call.
  comm_facts facts() const {
    comm_facts f;
    f.initialized = initialized();
    f.healthy = healthy_;
    f.rank = rank_;
    f.nranks = n_;
    f.device = dev_;
    f.max_channels = cfg_.max_channels;
    f.recursive_ready = cfg_.recursive_connections && initialized();
    f.peer_access = peer_access_;
    f.ring_rotated = ring_order{cfg_.ring_local, 1}.rotated(n_);
    f.registered = [this](void const* p, std::size_t bytes) { return reg_.covering(p, bytes) != nullptr; };
    if (win_ready_) f.direct = {cfg_.direct_blocks, cfg_.direct_area_bytes, cfg_.direct_ll_bytes};
    if (nvls_ready_) f.nvls = {cfg_.nvls_blocks, cfg_.nvls_area_bytes};
    f.hier = cfg_.hier;
    return f;
  }
  //! Whether the direct all-reduce's window was made (see comm_config::direct_blocks).
  bool direct_ready() const noexcept { return win_ready_; }
  //! This rank's view of the direct window (device pointers; valid while direct_ready()).
  sym_view const& direct_view() const noexcept { return win_view_; }
  //! Where a direct kernel records a failed launch check (device memory).
  status* direct_status() const noexcept { return win_status_; }
  //! Whether the multicast window of the NVLS collectives was made (see comm_config::nvls_blocks).
  bool nvls_ready() const noexcept { return nvls_ready_; }
  //! Success when the multicast window was made; otherwise why not (`why` may be
  //! null): unsupported (no multicast here) or the failure that made creation skip it.
  status nvls_status(std::string* why = nullptr) const {
    if (why) *why = nvls_ready_ ? std::string("ready") : nvls_why_;
    return nvls_ready_ ? status::success : nvls_st_;
  }
  //! This rank's unicast view of the multicast window (valid while nvls_ready()).
  sym_view const& nvls_view() const noexcept { return nvls_view_; }
  //! The multicast object of the NVLS kernels: the view, the multicast address
  //! and the offset of the switch barrier's counters (valid while nvls_ready()).
  multimem_multicast nvls_object() const noexcept {
    return multimem_multicast{nvls_view_, nvls_part_.mc, nvls_ready_ ? nvls_counters_offset() : 0};
  }
  //! This rank's multicast address of [p, p + bytes) where that range lies in
  //! one multicast symmetric buffer of this communicator (its own part), else null.
  void* multicast_address(void const* p, std::size_t bytes) const {
    auto const a = reinterpret_cast<std::uintptr_t>(p);
    for (auto const& kv : syms_) {
      sym_entry const& e = kv.second;
      if (!e.mc.mc) continue;
      auto const base = reinterpret_cast<std::uintptr_t>(e.mc.bases[std::size_t(rank_)]);
      if (a >= base && bytes <= e.handle.bytes && a - base <= e.handle.bytes - bytes) return e.mc.mc + (a - base);
    }
    return nullptr;
  }
  //! Whether this rank's last NVLS collective ran zero-copy on multicast
  //! symmetric memory (true) or was staged through the multicast window.
  bool last_nvls_zero_copy() const noexcept { return nvls_zero_copy_; }
  //! Whether that zero-copy call was an out-of-place all-reduce whose send is not
  //! multicast memory, so send was first copied into recv (false otherwise).
  bool last_nvls_copied_in() const noexcept { return nvls_copy_in_; }
  //! Record the path of this rank's NVLS call (see last_nvls_zero_copy / last_nvls_copied_in).
  void note_nvls_path(bool zero_copy, bool copied_in = false) const noexcept {
    nvls_zero_copy_ = zero_copy;
    nvls_copy_in_ = copied_in;
  }
  //! This rank's multicast address of the window (same layout as its unicast region).
  unsigned char* nvls_multicast() const noexcept { return nvls_part_.mc; }
  //! Where an NVLS kernel records a failed launch check (device memory).
  status* nvls_launch_status() const noexcept { return nvls_status_; }
  //! Device descriptors: ring connections [protocol][channel][recv, send].
  connection const* ring_connections(protocol p) const noexcept {
    return dconns_ + std::size_t(int(p)) * std::size_t(cfg_.max_channels) * 2;
  }
  //! Device descriptors: point-to-point [protocol][channel][peer][recv, send] (null without them).
  connection const* pair_connections(protocol p) const noexcept {
    if (!cfg_.recursive_connections) return nullptr;
    std::size_t const ring = std::size_t(protocol_count) * std::size_t(cfg_.max_channels) * 2;
    return dconns_ + ring + std::size_t(int(p)) * std::size_t(cfg_.max_channels) * std::size_t(n_) * 2;
  }
  wait_error* error_records() const noexcept { return errors_; }
  wait_bound bound() const noexcept { return wait_bound{cfg_.timeout_ns, nullptr}; }

  // ---- group forms for communicators made by comm_init_all ----
  friend status comm_init_all(std::vector<int> const& devices, std::vector<std::unique_ptr<comm>>& out, comm_config cfg);
  friend status register_buffers_all(std::vector<comm*> const& comms, std::vector<void*> const& ptrs, std::size_t bytes,
                                     std::vector<registered_buffer>& out, cudaStream_t check_stream);
  friend status alloc_symmetric_all(std::vector<comm*> const& comms, std::size_t bytes, symmetric_options const& o,
                                    std::vector<symmetric_buffer>& out, cudaStream_t check_stream);

private:
  //! Memory bound to a multicast object on this rank's GPU (see make_multicast):
  //! what holds it, the peers' unicast parts mapped here, every rank's unicast
  //! part as this rank addresses it, and this rank's multicast address.
  struct mc_part {
    std::shared_ptr<sym::multicast_region> region; //!< one process: shared by the group
    std::unique_ptr<sym::multicast_member> member;  //!< one rank per process: this process's part
    detail::peer_set peers;
    std::vector<unsigned char*> bases;
    unsigned char* mc = nullptr;
    std::size_t size = 0; //!< bytes per GPU, rounded up to the granularity
    void release() {
      peers.release();
      member.reset();
      region.reset();
      bases.clear();
      mc = nullptr;
      size = 0;
    }
  };
  using mc_admit = std::function<bool(comm&, std::size_t, std::string&)>;

  struct sym_entry {
    sym::local_alloc mem, flags;
    detail::peer_set peers, peer_flags;
    mc_part mc; //!< the data, where it is multicast memory (mem is then unused)
    std::string mc_why = "not asked for (symmetric_options::multicast is none)";
    sym::device_handle handle{};
  };

  int rank_ = -1, n_ = 0, dev_ = -1;
  comm_config cfg_{};
  comm_bootstrap* boot_ = nullptr;
  bool clique_ = false; //!< made by comm_init_all: setup calls go through the *_all functions
  bool process_local_ = true;
  bool peer_access_ = true;
  bool healthy_ = true;
  sym::handle_kind conn_kind_ = sym::handle_kind::process_local;
  sym::handle_kind ipc_kind_ = sym::handle_kind::process_local; //!< for registration and symmetric memory
  std::vector<sym::rank_identity> ids_;
  sym::local_alloc conn_mem_;
  detail::peer_set conn_peers_;
  connection* dconns_ = nullptr;
  wait_error* errors_ = nullptr;
  std::size_t scratch_ = 0, sym_bytes_ = 0;
  // The direct window: region and flags shared with the peers, then this rank's
  // own cursors, LL staging, failure record, launch status and pointer tables.
  sym::local_alloc win_mem_;
  detail::peer_set win_peers_;
  unsigned char* win_local_ = nullptr;
  sym_view win_view_{};
  status* win_status_ = nullptr;
  bool win_ready_ = false;
  // The multicast window: the region (shared by the ranks of a comm_init_all
  // group), then this rank's own part and view, as for the direct window.
  mc_part nvls_part_;                                   // the multicast memory
  std::size_t nvls_counted_ = 0;                        // multicast bytes in scratch_
  unsigned char* nvls_local_ = nullptr;
  sym_view nvls_view_{};
  status* nvls_status_ = nullptr;
  bool nvls_ready_ = false;
  mutable bool nvls_zero_copy_ = false;
  mutable bool nvls_copy_in_ = false;
  status nvls_st_ = status::unsupported;
  std::string nvls_why_ = "not made";
  char const* last_call_ = "ok";
  buffer_registry<detail::peer_set> reg_;
  std::map<std::uint64_t, sym_entry> syms_;
  std::uint64_t next_sym_ = 1;
  std::string last_error_;

  status fail_local(status s, char const* why) {
    last_error_ = why;
    return s;
  }
  status fail_setup(status s, std::string why) {
    last_error_ = std::move(why);
    return s;
  }

  //! Frees the multicast window (the last rank of a group releases a shared
  //! region), takes what it held out of scratch_bytes, and records `st`/`why`.
  void release_nvls(status st, std::string why) {
    if (nvls_local_) {
      cudaSetDevice(dev_);
      cudaFree(nvls_local_);
      scratch_ -= window_local(cfg_.nvls_blocks, 0).total;
    }
    scratch_ -= nvls_counted_;
    nvls_counted_ = 0;
    nvls_local_ = nullptr;
    nvls_part_.release();
    nvls_view_ = {};
    nvls_status_ = nullptr;
    nvls_ready_ = false;
    nvls_st_ = st;
    nvls_why_ = std::move(why);
  }

  void release_sym(sym_entry& e) {
    e.peers.release();
    e.peer_flags.release();
    e.mc.release();
    e.mem.release();
    e.flags.release();
  }

  void destroy_keep_error() {
    if (dev_ >= 0) cudaSetDevice(dev_);
    reg_.clear([](auto& e) { e.payload.release(); });
    for (auto& kv : syms_) release_sym(kv.second);
    syms_.clear();
    conn_peers_.release();
    conn_mem_.release();
    win_peers_.release();
    win_mem_.release();
    if (win_local_) cudaFree(win_local_);
    win_local_ = nullptr;
    win_view_ = {};
    win_status_ = nullptr;
    win_ready_ = false;
    release_nvls(status::unsupported, "not made");
    if (dconns_) cudaFree(dconns_);
    if (errors_) cudaFree(errors_);
    dconns_ = nullptr;
    errors_ = nullptr;
    scratch_ = sym_bytes_ = 0;
    rank_ = -1;
    n_ = 0;
    dev_ = -1;
    boot_ = nullptr;
    clique_ = false;
    healthy_ = true;
    peer_access_ = true;
    ids_.clear();
  }

  // ---- the exchange every setup step goes through ----
  // `ranks`: the local ranks (all of them for a clique, this one otherwise).
  // ex(comm&, export_blob&) -> status;  im(comm&, blobs of every rank, fds by rank) -> status.
  // Every rank learns the first failure in rank order (statuses travel with the blobs).
  template <class Ex, class Im>
  static status exchange(std::vector<comm*> const& ranks, Ex&& ex, Im&& im, std::string& why) {
    struct packet {
      detail::setup_status st;
      sym::export_blob blob;
    };
    comm& c0 = *ranks[0];
    int const n = c0.n_;
    std::vector<packet> all(static_cast<std::size_t>(n));
    std::vector<packet> mine(ranks.size());
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      mine[i].st.rank = ranks[i]->rank_;
      mine[i].st.st = int(ex(*ranks[i], mine[i].blob));
    }
    auto close_exported = [&] {
      for (auto& m : mine)
        if (m.blob.fd >= 0) ::close(m.blob.fd), m.blob.fd = -1;
    };
    if (c0.boot_ && !c0.clique_) {
      if (status s = c0.boot_->all_gather(&mine[0], sizeof(packet), all.data()); s != status::success) {
        close_exported();
        why = "bootstrap all-gather failed";
        return s;
      }
    } else {
      for (std::size_t i = 0; i < ranks.size(); ++i) all[std::size_t(ranks[i]->rank_)] = mine[i];
    }
    for (auto const& p : all)
      if (p.st.st != 0) {
        close_exported();
        why = "rank " + std::to_string(p.st.rank) + " could not export its memory";
        return status(p.st.st);
      }
    // Descriptors of VMM exports from other processes travel over Unix sockets.
    std::vector<int> fds(static_cast<std::size_t>(n), -1);
    bool need_fds = false;
    for (auto const& p : all)
      need_fds = need_fds || (p.blob.kind == sym::handle_kind::posix_fd && !sym::same_process(p.blob.who, c0.ids_[std::size_t(c0.rank_)]));
    if (need_fds) {
      int give = mine[0].blob.fd;
      int dummy = -1;
      if (give < 0) give = dummy = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      status const s = exchange_fds(*c0.boot_, give, fds);
      if (dummy >= 0) ::close(dummy);
      if (s != status::success) {
        close_exported();
        why = "passing VMM file descriptors between processes failed";
        return s;
      }
    }
    close_exported();
    std::vector<sym::export_blob> blobs(static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) blobs[std::size_t(r)] = all[std::size_t(r)].blob;
    detail::setup_status local;
    for (auto* c : ranks) {
      status const s = im(*c, blobs, fds);
      if (s != status::success && local.st == 0) local = {int(s), c->rank_};
    }
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    return agree(ranks, local, why, "could not map a peer's memory");
  }

  //! Every rank learns the first failure in rank order.
  static status agree(std::vector<comm*> const& ranks, detail::setup_status local, std::string& why, char const* what) {
    comm& c0 = *ranks[0];
    std::vector<detail::setup_status> all(static_cast<std::size_t>(c0.n_));
    if (c0.boot_ && !c0.clique_) {
      if (status s = c0.boot_->all_gather(&local, sizeof local, all.data()); s != status::success) {
        why = "bootstrap all-gather failed";
        return s;
      }
    } else {
      all.assign(1, local);
    }
    for (auto const& x : all)
      if (x.st != 0) {
        why = "rank " + std::to_string(x.rank) + ": " + what;
        return status(x.st);
      }
    return status::success;
  }

  static status check_capture(cudaStream_t s, std::vector<comm*> const& ranks) {
    if (!s) return status::success;
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(s, &cs) != cudaSuccess) return status::cuda_error;
    stream_facts f;
    f.capturing = cs != cudaStreamCaptureStatusNone;
    call_result const r = check_not_capturing(f);
    if (r.st != status::success)
      for (auto* c : ranks) c->last_error_ = r.why;
    return r.st;
  }

  // ---- creation ----
  std::size_t conn_bytes(protocol p) const {
    return align_up(connection_bytes(cfg_.slots.nslots, cfg_.slots.slot_bytes(p)), std::size_t(256));
  }
  int conns_per_channel() const { return 1 + (cfg_.recursive_connections ? n_ : 0); }
  //! Offset in a rank's connection region of connection `k` (0: ring, 1 + s: from s) of (p, ch).
  std::size_t conn_offset(protocol p, int ch, int k) const {
    std::size_t off = 0;
    for (int q = 0; q < int(p); ++q) off += conn_bytes(protocol(q)) * std::size_t(cfg_.max_channels) * std::size_t(conns_per_channel());
    return off + (std::size_t(ch) * std::size_t(conns_per_channel()) + std::size_t(k)) * conn_bytes(p);
  }
  std::size_t region_bytes() const { return conn_offset(protocol(protocol_count), 0, 0); }

public:
  //! Scratch bytes a communicator of this size and configuration holds (before VMM
  //! granularity rounding): what creation checks against `max_scratch_bytes`.
  static std::size_t planned_scratch_bytes(int nranks, comm_config const& cfg) {
    comm c;
    c.n_ = nranks;
    c.cfg_ = cfg;
    std::size_t const r = c.planned_scratch_bytes();
    c.n_ = 0;
    return r;
  }

private:
  std::size_t planned_scratch_bytes() const {
    return region_bytes() + descriptor_count() * sizeof(connection) + std::size_t(cfg_.max_channels) * sizeof(wait_error) +
           (cfg_.direct_blocks > 0 ? window_shared_bytes() + window_local_bytes() : 0);
  }
  // ---- the windows' layouts (direct: blocks, area and LL bytes of comm_config;
  // NVLS: its blocks and area, no LL) ----
  std::size_t window_flags_offset(int blocks, std::size_t area, std::size_t ll) const {
    return align_up(sym_view::region_bytes(n_, blocks, area, ll), std::size_t(256));
  }
  std::size_t window_shared_bytes(int blocks, std::size_t area, std::size_t ll) const {
    return window_flags_offset(blocks, area, ll) + std::size_t(blocks) * std::size_t(n_) * sizeof(std::uint64_t);
  }
  std::size_t window_flags_offset() const {
    return window_flags_offset(cfg_.direct_blocks, cfg_.direct_area_bytes, cfg_.direct_ll_bytes);
  }
  std::size_t window_shared_bytes() const {
    return window_shared_bytes(cfg_.direct_blocks, cfg_.direct_area_bytes, cfg_.direct_ll_bytes);
  }
  //! The multicast window: a direct window without LL slots, then one 64-bit
  //! barrier counter per block (multimem_multicast::counters).
  std::size_t nvls_counters_offset() const { return window_shared_bytes(cfg_.nvls_blocks, cfg_.nvls_area_bytes, 0); }
  std::size_t nvls_shared_bytes() const {
    return nvls_counters_offset() + std::size_t(cfg_.nvls_blocks) * sizeof(std::uint64_t);
  }
  //! This rank's own part: [cursors][staging][failure][status][region table][flag table], 256-aligned pieces.
  struct window_local_layout {
    std::size_t cursors = 0, staging = 0, failure = 0, status_at = 0, bufs = 0, flags = 0, total = 0;
  };
  window_local_layout window_local(int blocks, std::size_t ll) const {
    window_local_layout l;
    std::size_t at = 0;
    auto take = [&](std::size_t bytes) {
      std::size_t const here = at;
      at = align_up(at + bytes, std::size_t(256));
      return here;
    };
    l.cursors = take(std::size_t(blocks) * sizeof(sym_cursor));
    l.staging = take(std::size_t(blocks) * std::size_t(n_) * ll);
    l.failure = take(sizeof(sym_failure));
    l.status_at = take(sizeof(status));
    l.bufs = take(std::size_t(n_) * sizeof(unsigned char*));
    l.flags = take(std::size_t(n_) * sizeof(std::uint64_t*));
    l.total = at;
    return l;
  }
  std::size_t window_local_bytes() const { return window_local(cfg_.direct_blocks, cfg_.direct_ll_bytes).total; }

  //! A window's local part (`local`, counted in scratch_bytes) and this rank's
  //! view `v` over the ranks' regions `bases` (each addressable here), with its
  //! flags at `flags_off` in each region; `st` gets the launch-status word.
  status build_view(int blocks, std::size_t area, std::size_t ll, std::vector<unsigned char*> const& bases,
                    std::size_t flags_off, unsigned char*& local, sym_view& v, status*& st) {
    window_local_layout const l = window_local(blocks, ll);
    if (cudaSetDevice(dev_) != cudaSuccess) return status::cuda_error;
    if (cudaMalloc(&local, l.total) != cudaSuccess) {
      local = nullptr;
      return status::out_of_memory;
    }
    scratch_ += l.total;
    std::vector<std::uint64_t*> flags(std::size_t(n_), nullptr);
    for (int p = 0; p < n_; ++p) {
      if (!bases[std::size_t(p)]) return status::internal_error;
      flags[std::size_t(p)] = reinterpret_cast<std::uint64_t*>(bases[std::size_t(p)] + flags_off);
    }
    if (cudaMemset(local, 0, l.total) != cudaSuccess ||
        cudaMemcpy(local + l.bufs, bases.data(), bases.size() * sizeof bases[0], cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(local + l.flags, flags.data(), flags.size() * sizeof flags[0], cudaMemcpyHostToDevice) != cudaSuccess)
      return status::cuda_error;
    static_assert(int(status::success) == 0, "the memset above leaves the launch status at success");
    sym_failure const none{}; // not all zero (peer and block are -1)
    if (cudaMemcpy(local + l.failure, &none, sizeof none, cudaMemcpyHostToDevice) != cudaSuccess)
      return status::cuda_error;
    v.bufs = reinterpret_cast<unsigned char* const*>(local + l.bufs);
    v.flags = reinterpret_cast<cuda::std::uint64_t* const*>(local + l.flags);
    v.cursors = reinterpret_cast<sym_cursor*>(local + l.cursors);
    v.staging = local + l.staging;
    v.failure = reinterpret_cast<sym_failure*>(local + l.failure);
    v.rank = rank_;
    v.nranks = n_;
    v.nblocks = blocks;
    v.area_bytes = area;
    v.ll_bytes = ll;
    v.bound = wait_bound{cfg_.timeout_ns, nullptr};
    st = reinterpret_cast<status*>(local + l.status_at);
    return status::success;
  }

  //! The direct window's local part and this rank's view, once every peer's region is mapped.
  status build_window() {
    std::vector<unsigned char*> bases(std::size_t(n_), nullptr);
    for (int p = 0; p < n_; ++p)
      bases[std::size_t(p)] = static_cast<unsigned char*>(p == rank_ ? win_mem_.ptr : win_peers_.peers[std::size_t(p)].ptr);
    status const s = build_view(cfg_.direct_blocks, cfg_.direct_area_bytes, cfg_.direct_ll_bytes, bases,
                                window_flags_offset(), win_local_, win_view_, win_status_);
    win_ready_ = s == status::success;
    return s;
  }

  //! The multicast window of the NVLS collectives, for the local `ranks` (a whole
  //! comm_init_all group, or this process's rank): made where every rank has its
  //! own multicast-capable GPU, else skipped. Never fails creation: a failure
  //! releases what it made on every rank and leaves its reason in nvls_status().
  static void build_nvls(std::vector<comm*> const& ranks, std::vector<int> const& devs) {
    comm& c0 = *ranks[0];
    auto skip = [&](status s, std::string const& why) {
      for (auto* c : ranks) c->release_nvls(s, why);
    };
    if (c0.cfg_.nvls_blocks < 1) return skip(status::unsupported, "comm_config::nvls_blocks is 0");
    std::vector<mc_part*> parts;
    for (auto* c : ranks) parts.push_back(&c->nvls_part_);
    std::string why;
    status s = make_multicast(ranks, devs, c0.nvls_shared_bytes(), parts,
                              [](comm& c, std::size_t size, std::string& w) { return c.count_nvls(size, w); }, why);
    for (std::size_t i = 0; i < ranks.size() && s == status::success; ++i) {
      comm& c = *ranks[i];
      std::string view_why;
      status const v = c.make_nvls_view(view_why);
      s = c.clique_ ? v : c.agree_step(v, view_why, "could not set up its view of the multicast window", why);
      if (c.clique_ && s != status::success) why = view_why;
    }
    if (s != status::success) return skip(s, why);
    for (auto* c : ranks) {
      c->nvls_ready_ = true;
      c->nvls_st_ = status::success;
      c->nvls_why_ = "ready";
    }
  }

  //! Counts `bytes` of multicast memory in scratch_bytes; false (with the reason)
  //! when that and the window's local part would exceed max_scratch_bytes.
  bool count_nvls(std::size_t bytes, std::string& why) {
    scratch_ += bytes;
    nvls_counted_ += bytes;
    if (scratch_ + window_local(cfg_.nvls_blocks, 0).total <= cfg_.max_scratch_bytes) return true;
    why = "the multicast window (" + std::to_string(bytes) +
          " bytes per GPU after rounding to the multicast granularity) would exceed max_scratch_bytes";
    return false;
  }

  //! This rank's view of the window over the ranks' unicast parts (nvls_part_).
  status make_nvls_view(std::string& why) {
    status const s = build_view(cfg_.nvls_blocks, cfg_.nvls_area_bytes, 0, nvls_part_.bases,
                                window_flags_offset(cfg_.nvls_blocks, cfg_.nvls_area_bytes, 0), nvls_local_, nvls_view_,
                                nvls_status_);
    if (s != status::success) why = "setting up rank " + std::to_string(rank_) + "'s view of the multicast window failed";
    return s;
  }

  //! One step of a cross-process setup, agreed by every rank: every rank learns
  //! the first failure; the failing rank keeps its own reason (`local_why`).
  status agree_step(status local, std::string const& local_why, char const* what, std::string& why) {
    std::vector<comm*> const me{this};
    std::string agreed;
    status const s = agree(me, {int(local), rank_}, agreed, what);
    if (s != status::success) why = local != status::success ? local_why : agreed;
    return s;
  }

  //! Memory bound to one multicast object, `bytes` (rounded up) on the GPU of
  //! every rank of `ranks` (a whole comm_init_all group, or this process's rank),
  //! into `parts[i]` for ranks[i]. `admit(c, size, why)` is asked on each rank
  //! before memory is bound (false refuses, with the reason). All or nothing:
  //! on failure every part is released and `why` says why.
  static status make_multicast(std::vector<comm*> const& ranks, std::vector<int> const& devs, std::size_t bytes,
                               std::vector<mc_part*> const& parts, mc_admit const& admit, std::string& why) {
    comm& c0 = *ranks[0];
    status s = status::success;
    if (!c0.peer_access_) {
      why = "the GPUs lack peer access, so the multicast memory's barriers and fallbacks cannot run";
      s = status::unsupported;
    } else {
      s = c0.clique_ ? multicast_in_process(ranks, devs, bytes, parts, admit, why)
                     : c0.multicast_across_processes(bytes, *parts[0], admit, why);
    }
    if (s != status::success)
      for (auto* p : parts) p->release();
    return s;
  }

  //! One process, one rank per GPU: one multicast_region shared by the group.
  static status multicast_in_process(std::vector<comm*> const& ranks, std::vector<int> const& devs, std::size_t bytes,
                                     std::vector<mc_part*> const& parts, mc_admit const& admit, std::string& why) {
    auto region = std::make_shared<sym::multicast_region>();
    if (status const s = region->create(devs, bytes); s != status::success) {
      why = region->last_error();
      if (s != status::cuda_error) return s;
      // A driver that refuses objects with no exportable handle type may take
      // POSIX file descriptors (what the cross-process path uses).
      sym::multicast_options fd;
      fd.handle_type = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
      if (status const s2 = region->create(devs, bytes, fd); s2 != status::success) {
        why = "handle type none: " + why + "; POSIX file descriptor: " + region->last_error();
        return s2;
      }
    }
    std::vector<unsigned char*> bases;
    for (int i = 0; i < region->ndevices(); ++i) bases.push_back(static_cast<unsigned char*>(region->unicast_address(i)));
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      mc_part& p = *parts[i];
      p.region = region;
      p.size = region->size();
      p.bases = bases;
      p.mc = static_cast<unsigned char*>(region->multicast_address(int(i)));
      if (!admit(*ranks[i], p.size, why)) return status::unsupported;
    }
    return status::success;
  }

  //! One rank per process, one GPU each: rank 0 makes the object and shares it
  //! (a file descriptor on one host, a fabric handle across the nodes of an
  //! NVLink domain); every rank adds its GPU, then (after all have) binds memory
  //! of its own; the unicast parts are mapped by every peer (VMM file
  //! descriptors or fabric handles, the communicator's handle kind). Each step
  //! is agreed by every rank before the next.
  status multicast_across_processes(std::size_t bytes, mc_part& part, mc_admit const& admit, std::string& why) {
    std::vector<comm*> const me{this};
    {
      sym::rank_identity const& mine = ids_[std::size_t(rank_)];
      bool several_hosts = false;
      for (int p = 0; p < n_; ++p) {
        sym::rank_identity const& id = ids_[std::size_t(p)];
        several_hosts = several_hosts || id.host != mine.host;
        for (int q = 0; q < p; ++q)
          if (ids_[std::size_t(q)].host == id.host && std::string(ids_[std::size_t(q)].bus_id) == id.bus_id) {
            why = "ranks " + std::to_string(q) + " and " + std::to_string(p) + " share GPU " + id.bus_id +
                  ": a multicast object holds each device once";
            return status::unsupported;
          }
      }
      if (several_hosts && ipc_kind_ != sym::handle_kind::fabric) {
        why = "ranks on several hosts: multicast across nodes needs fabric handles (comm_config::handles = fabric, "
              "on the nodes of one NVLink domain with IMEX); this communicator uses " +
              std::string(sym::to_string(ipc_kind_));
        return status::unsupported;
      }
      if (n_ > 1 && ipc_kind_ != sym::handle_kind::posix_fd && ipc_kind_ != sym::handle_kind::fabric) {
        why = "the processes share memory as " + std::string(sym::to_string(ipc_kind_)) +
              " handles: multicast memory needs VMM file descriptors or fabric handles "
              "(comm_config::handles = posix_fd or fabric, on a driver and device that export them)";
        return status::unsupported;
      }
    }
    bool const fabric = ipc_kind_ == sym::handle_kind::fabric;
    CUmemAllocationHandleType const ht = fabric ? CU_MEM_HANDLE_TYPE_FABRIC : CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    // Sizes (and this GPU's support), agreed: the largest size, rounded to a multiple of every granularity.
    struct sizing {
      std::int32_t st = 0, rank = 0;
      std::uint64_t size = 0, gran = 0;
    };
    sizing mine;
    mine.rank = rank_;
    {
      std::size_t size = 0, gran = 0;
      mine.st = int(sym::multicast_member::round_size(dev_, n_, bytes, size, gran, why, ht));
      mine.size = size;
      mine.gran = gran;
    }
    std::vector<sizing> all(static_cast<std::size_t>(n_));
    if (boot_->all_gather(&mine, sizeof mine, all.data()) != status::success) {
      why = "bootstrap all-gather failed";
      return status::internal_error;
    }
    std::size_t size = 0, gran = 0;
    for (auto const& x : all) {
      if (x.st != 0) {
        if (x.rank != rank_) why = "rank " + std::to_string(x.rank) + "'s GPU cannot join a multicast object";
        return status(x.st);
      }
      size = std::max<std::size_t>(size, x.size);
      gran = gran == 0 ? std::size_t(x.gran) : std::lcm(gran, std::size_t(x.gran)); // a multiple of every GPU's
    }
    size = (size + gran - 1) / gran * gran;
    part.member = std::make_unique<sym::multicast_member>();
    sym::multicast_member& m = *part.member;
    auto step = [&](status local, std::string const& local_why, char const* what) {
      return agree_step(local, local_why, what, why);
    };
    // The object: made by rank 0, shared with every rank, imported.
    status st = status::success;
    if (fabric) {
      CUmemFabricHandle fh{};
      st = rank_ == 0 ? m.create_fabric(dev_, n_, size, fh) : status::success;
      if (status const s = step(st, m.last_error(), "could not make the multicast object"); s != status::success) return s;
      std::vector<CUmemFabricHandle> fhs(static_cast<std::size_t>(n_));
      if (boot_->all_gather(&fh, sizeof fh, fhs.data()) != status::success) {
        why = "bootstrap all-gather of the multicast object's fabric handle failed";
        return status::internal_error;
      }
      st = rank_ == 0 ? status::success : m.import_fabric(dev_, fhs[0], size);
    } else {
      int fd = -1;
      st = rank_ == 0 ? m.create(dev_, n_, size, fd) : status::success;
      if (status const s = step(st, m.last_error(), "could not make the multicast object"); s != status::success) {
        if (fd >= 0) ::close(fd);
        return s;
      }
      std::vector<int> fds;
      if (n_ > 1) {
        int dummy = fd < 0 ? ::open("/dev/null", O_RDONLY | O_CLOEXEC) : -1;
        st = exchange_fds(*boot_, fd >= 0 ? fd : dummy, fds);
        if (dummy >= 0) ::close(dummy);
        if (st != status::success) {
          if (fd >= 0) ::close(fd);
          why = "passing the multicast object's file descriptor failed";
          return st;
        }
      }
      if (fd >= 0) ::close(fd);
      st = rank_ == 0 ? status::success : m.import(dev_, fds[0], size);
      for (int f : fds)
        if (f >= 0) ::close(f);
    }
    if (status const s = step(st, m.last_error(), "could not import the multicast object"); s != status::success) return s;
    st = m.add_device();
    if (status const s = step(st, m.last_error(), "could not add its GPU to the multicast object"); s != status::success)
      return s;
    std::string bind_why;
    part.size = size;
    st = admit(*this, size, bind_why) ? m.bind(gran) : status::unsupported;
    if (st != status::success && bind_why.empty()) bind_why = m.last_error();
    if (status const s = step(st, bind_why, "could not bind memory to the multicast object"); s != status::success)
      return s;
    // Every peer maps every rank's unicast part.
    status const ex = exchange(
        me,
        [&](comm& c, sym::export_blob& b) {
          sym::local_alloc view; // describes the bound memory for the export (owns nothing)
          view.kind = c.ipc_kind_;
          view.ptr = m.unicast();
          view.size = view.bytes = m.size();
          view.device = c.dev_;
          view.vmm = m.memory();
          return sym::export_buffer(c.ipc_kind_, view.ptr, view.size, &view, c.ids_[std::size_t(c.rank_)], b);
        },
        [&](comm& c, std::vector<sym::export_blob> const& blobs, std::vector<int> const& pfds) {
          return c.map_peers(blobs, pfds, part.peers, [](int) { return true; });
        },
        why);
    if (ex != status::success) return ex;
    part.bases.assign(std::size_t(n_), nullptr);
    for (int p = 0; p < n_; ++p)
      part.bases[std::size_t(p)] = static_cast<unsigned char*>(p == rank_ ? m.unicast() : part.peers.peers[std::size_t(p)].ptr);
    part.mc = static_cast<unsigned char*>(m.multicast());
    return status::success;
  }

  //! check_errors() for one window: its failure record and launch status.
  status check_window(sym_view const& v, status const* launch, char const* what, char const* blocks, std::string* text) {
    sym_failure f{};
    status launch_st = status::success;
    if (cudaMemcpy(&f, v.failure, sizeof f, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(&launch_st, launch, sizeof launch_st, cudaMemcpyDeviceToHost) != cudaSuccess) {
      if (text) *text = std::string("could not read the failure record of the ") + what + " window";
      return status::cuda_error;
    }
    if (f.st == status::success && launch_st == status::success) return status::success;
    healthy_ = false;
    last_error_ = describe_window(what, f, launch_st, blocks);
    if (text) *text = last_error_;
    return f.st != status::success ? f.st : launch_st;
  }

  static std::string describe_window(char const* what, sym_failure const& f, status launch_st, char const* blocks) {
    if (f.st == status::success)
      return std::string(what) + ": " + to_string(launch_st) + " (a launch wider than " + blocks +
             ", or a window too small for one element per rank)";
    std::string const who = f.peer < 0 ? std::string(" waiting for every rank (multicast barrier counter)")
                                       : " waiting for rank " + std::to_string(f.peer) +
                                             (f.ll ? " (LL line)" : " (barrier flag)");
    return std::string(what) + ": " + to_string(f.st) + who + ", block " + std::to_string(f.block) + ", " +
           (f.peer < 0 ? "target " : "epoch ") + std::to_string(f.epoch) + ", last seen " + std::to_string(f.seen);
  }
  std::size_t descriptor_count() const {
    return std::size_t(protocol_count) * std::size_t(cfg_.max_channels) * 2 *
           (1 + (cfg_.recursive_connections ? std::size_t(n_) : 0));
  }

  static status check_config(comm_config const& cfg) {
    if (cfg.max_channels < 1 || cfg.max_channels > 64 || cfg.slots.nslots < 2 || cfg.threads < 32 ||
        cfg.threads > 512 || cfg.threads % 32 != 0 || cfg.timeout_ns == 0)
      return status::invalid_argument;
    if (cfg.nvls_blocks < 0 || cfg.nvls_blocks > 64 || (cfg.nvls_blocks > 0 && (cfg.nvls_area_bytes == 0 || cfg.nvls_area_bytes % 64 != 0)))
      return status::invalid_argument;
    if (cfg.direct_blocks < 0 || cfg.direct_blocks > 64 ||
        (cfg.direct_blocks > 0 && (cfg.direct_area_bytes == 0 || cfg.direct_area_bytes % 64 != 0 ||
                                   cfg.direct_ll_bytes == 0 || cfg.direct_ll_bytes % 64 != 0)))
      return status::invalid_argument;
    for (int pi = 0; pi < protocol_count; ++pi)
      if (!valid_slot_bytes(protocol(pi), cfg.slots.slot_bytes(protocol(pi)))) return status::invalid_argument;
    return status::success;
  }

  //! Creation for the local `ranks` (rank_, n_, boot_/clique_ set); devices by local index.
  static status setup_all(std::vector<comm*> const& ranks, comm_config const& cfg, std::vector<int> const& devices) {
    std::string why;
    auto fail_all = [&](status s, std::string const& w) {
      for (auto* c : ranks) {
        c->destroy_keep_error();
        c->last_error_ = w;
      }
      return s;
    };
    if (check_config(cfg) != status::success) return fail_all(status::invalid_argument, "bad comm_config");
    if (char const* w = ring_local_problem(cfg.ring_local, ranks[0]->n_))
      return fail_all(status::invalid_argument, std::string("bad comm_config: ") + w);
    for (std::size_t i = 0; i < ranks.size(); ++i) ranks[i]->cfg_ = cfg;
    // Budget first (before any CUDA call): nothing is allocated for a configuration over it.
    detail::setup_status local;
    comm& c0 = *ranks[0];
    std::size_t const need = c0.planned_scratch_bytes();
    if (need > cfg.max_scratch_bytes) {
      local = {int(status::invalid_argument), c0.rank_};
      why = "connections need " + std::to_string(need) + " bytes, over max_scratch_bytes " +
            std::to_string(cfg.max_scratch_bytes) + " (lower max_channels or the slot sizes)";
    }
    int ndev = 0;
    cudaError_t const de = local.st == 0 ? cudaGetDeviceCount(&ndev) : cudaSuccess;
    for (std::size_t i = 0; i < ranks.size() && local.st == 0; ++i) {
      comm& c = *ranks[i];
      c.dev_ = devices[i];
      if (de != cudaSuccess || ndev == 0) {
        local = {int(status::unsupported), c.rank_};
        why = "no CUDA device";
      } else if (c.dev_ < 0 || c.dev_ >= ndev) {
        local = {int(status::invalid_argument), c.rank_};
        why = "device ordinal out of range";
      }
    }
    std::string agreed;
    if (status s = agree(ranks, local, agreed, "creation refused"); s != status::success)
      return fail_all(s, why.empty() ? agreed : why);
    // Identities.
    {
      detail::setup_status st;
      std::vector<sym::rank_identity> mine(ranks.size());
      for (std::size_t i = 0; i < ranks.size(); ++i) {
        if (cudaSetDevice(ranks[i]->dev_) != cudaSuccess || cudaFree(nullptr) != cudaSuccess ||
            sym::identify(ranks[i]->dev_, mine[i]) != status::success)
          st = {int(status::cuda_error), ranks[i]->rank_};
      }
      std::vector<sym::rank_identity> ids(static_cast<std::size_t>(c0.n_));
      if (c0.boot_ && !c0.clique_) {
        if (status s = c0.boot_->all_gather(mine.data(), sizeof(sym::rank_identity), ids.data()); s != status::success)
          return fail_all(s, "bootstrap all-gather failed");
      } else {
        for (std::size_t i = 0; i < ranks.size(); ++i) ids[std::size_t(ranks[i]->rank_)] = mine[i];
      }
      if (status s = agree(ranks, st, why, "CUDA initialisation failed"); s != status::success) return fail_all(s, why);
      for (auto* c : ranks) c->ids_ = ids;
    }
    // Peer access and the kinds of memory.
    detail::setup_status st;
    for (auto* c : ranks) {
      if (status s = c->choose_transport(); s != status::success && st.st == 0) st = {int(s), c->rank_};
    }
    if (status s = agree(ranks, st, why, "no way to share memory with a peer (see last_error)"); s != status::success)
      return fail_all(s, why);
    // Every rank must use the fallback if any does (both ends of a connection share its memory).
    {
      int host = 0;
      for (auto* c : ranks) host |= c->conn_kind_ == sym::handle_kind::host_mapped;
      std::vector<int> all(static_cast<std::size_t>(c0.n_), 0);
      if (c0.boot_ && !c0.clique_) {
        if (status s = c0.boot_->all_gather(&host, sizeof host, all.data()); s != status::success)
          return fail_all(s, "bootstrap all-gather failed");
      } else {
        all.assign(1, host);
      }
      for (int h : all) host |= h;
      if (host)
        for (auto* c : ranks) {
          if (!c->process_local_) return fail_all(status::unsupported, "no peer access between processes");
          c->conn_kind_ = sym::handle_kind::host_mapped;
          c->peer_access_ = false;
        }
    }
    // Connection memory: each rank's incoming connections, mapped by the senders.
    std::vector<int> devs;
    for (auto* c : ranks) devs.push_back(c->dev_);
    status s = share_scratch(
        ranks, devs, &comm::conn_mem_, &comm::conn_peers_, &comm::region_bytes,
        [](comm const& c, int p) { return c.needs_peer(p); }, [](comm& c) { return c.build_descriptors(); }, why);
    if (s != status::success) return fail_all(s, why);
    // The direct window: every rank's region and flags, mapped by every peer.
    if (cfg.direct_blocks > 0 && c0.peer_access_) {
      s = share_scratch(
          ranks, devs, &comm::win_mem_, &comm::win_peers_, &comm::window_shared_bytes,
          [](comm const&, int) { return true; }, [](comm& c) { return c.build_window(); }, why);
      if (s != status::success) return fail_all(s, "direct window: " + why);
    }
    // The multicast window, where the ranks' GPUs allow one (never fails creation).
    build_nvls(ranks, devs);
    // A cudaMemcpy from pageable memory may return before its data reached the
    // device, and collectives run on the caller's streams, which may not wait
    // for the legacy stream: let every copy and memset of creation land first.
    for (auto* c : ranks)
      if (cudaSetDevice(c->dev_) != cudaSuccess || cudaDeviceSynchronize() != cudaSuccess)
        return fail_all(status::cuda_error, "cudaDeviceSynchronize after creation failed");
    return status::success;
  }

  //! Maps every peer p's exported buffer (`blobs[p]`, `fds[p]`) for which
  //! `wanted(p)` into `ps` (indexed by rank; this rank's entry stays empty).
  template <class Wanted>
  status map_peers(std::vector<sym::export_blob> const& blobs, std::vector<int> const& fds, detail::peer_set& ps,
                   Wanted&& wanted) const {
    ps.peers.assign(std::size_t(n_), {});
    for (int p = 0; p < n_; ++p) {
      if (p == rank_ || !wanted(p)) continue;
      if (status const x = sym::import_buffer(blobs[std::size_t(p)], ids_[std::size_t(rank_)], fds[std::size_t(p)],
                                              ps.peers[std::size_t(p)]);
          x != status::success)
        return x;
    }
    return status::success;
  }

  //! A collective step of creation: every local rank makes `(c.*bytes)()` of its
  //! connection memory kind into `c.*mem` (counted in scratch_bytes) and exports
  //! it; then maps each peer p's for which `wanted(c, p)` into `c.*peers`, and
  //! finishes with `done(c)`. Every rank learns the first failure (`why`).
  template <class Wanted, class Done>
  static status share_scratch(std::vector<comm*> const& ranks, std::vector<int> const& devs, sym::local_alloc comm::*mem,
                              detail::peer_set comm::*peers, std::size_t (comm::*bytes)() const, Wanted&& wanted,
                              Done&& done, std::string& why) {
    return exchange(
        ranks,
        [&](comm& c, sym::export_blob& b) {
          sym::local_alloc& m = c.*mem;
          std::size_t const nb = (c.*bytes)();
          if (status const a = m.make(c.conn_kind_, c.dev_, nb, devs); a != status::success) return a;
          c.scratch_ += m.size;
          return sym::export_buffer(c.conn_kind_, m.ptr, nb, &m, c.ids_[std::size_t(c.rank_)], b);
        },
        [&](comm& c, std::vector<sym::export_blob> const& blobs, std::vector<int> const& fds) {
          if (status const x = c.map_peers(blobs, fds, c.*peers, [&](int p) { return wanted(c, p); }); x != status::success)
            return x;
          return done(c);
        },
        why);
  }

  status setup(std::vector<comm*> const& ranks, comm_config const& cfg, int device) {
    return setup_all(ranks, cfg, std::vector<int>{device});
  }

  //! Whether this rank maps peer p's connection memory (it sends to p).
  bool needs_peer(int p) const {
    if (cfg_.recursive_connections) return true;
    for (int ch = 0; ch < cfg_.max_channels; ++ch)
      if (p == ring_order{cfg_.ring_local, ch}.next(rank_, n_)) return true;
    return false;
  }

  status choose_transport() {
    sym::rank_identity const& me = ids_[std::size_t(rank_)];
    process_local_ = true;
    bool multi_node = false;
    for (auto const& id : ids_) {
      process_local_ = process_local_ && sym::same_process(id, me);
      multi_node = multi_node || id.host != me.host;
    }
    peer_access_ = true;
    if (process_local_) {
      for (int p = 0; p < n_; ++p) {
        int const pd = ids_[std::size_t(p)].device;
        if (pd == dev_) continue;
        int can = 0;
        if (cudaDeviceCanAccessPeer(&can, dev_, pd) != cudaSuccess || !can) {
          peer_access_ = false;
          continue;
        }
        cudaSetDevice(dev_);
        cudaError_t const e = cudaDeviceEnablePeerAccess(pd, 0);
        if (e == cudaErrorPeerAccessAlreadyEnabled) (void)cudaGetLastError();
        else if (e != cudaSuccess) peer_access_ = false;
      }
      conn_kind_ = peer_access_ ? sym::handle_kind::process_local : sym::handle_kind::host_mapped;
      ipc_kind_ = sym::handle_kind::process_local;
      return status::success;
    }
    sym::handle_kind k{};
    if (sym::choose_kind(cfg_.handles, dev_, multi_node, k) != status::success) {
      last_error_ = "the requested handle type is not supported between these processes";
      return status::unsupported;
    }
    conn_kind_ = ipc_kind_ = k;
    return status::success;
  }

  status build_descriptors() {
    int const n = n_, me = rank_;
    auto region = [&](int r) -> unsigned char* {
      return static_cast<unsigned char*>(r == me ? conn_mem_.ptr : conn_peers_.peers[std::size_t(r)].ptr);
    };
    std::vector<connection> host(descriptor_count());
    for (int pi = 0; pi < protocol_count; ++pi) {
      protocol const p = protocol(pi);
      std::size_t const sb = cfg_.slots.slot_bytes(p);
      for (int ch = 0; ch < cfg_.max_channels; ++ch) {
        connection* ring = &host[(std::size_t(pi) * std::size_t(cfg_.max_channels) + std::size_t(ch)) * 2];
        // Each channel's ring connection 0 of a rank is its incoming one, from that channel's previous rank.
        ring_order const ord{cfg_.ring_local, ch};
        int const next = ord.next(me, n), prev = ord.prev(me, n);
        ring[0] = make_connection(region(me) + conn_offset(p, ch, 0), p, cfg_.slots.nslots, sb, prev, me);
        ring[1] = make_connection(region(next) + conn_offset(p, ch, 0), p, cfg_.slots.nslots, sb, me, next);
        if (!cfg_.recursive_connections) continue;
        std::size_t const base = std::size_t(protocol_count) * std::size_t(cfg_.max_channels) * 2;
        for (int q = 0; q < n; ++q) {
          if (q == me) continue;
          connection* pr =
              &host[base + ((std::size_t(pi) * std::size_t(cfg_.max_channels) + std::size_t(ch)) * std::size_t(n) + std::size_t(q)) * 2];
          pr[0] = make_connection(region(me) + conn_offset(p, ch, 1 + q), p, cfg_.slots.nslots, sb, q, me);
          pr[1] = make_connection(region(q) + conn_offset(p, ch, 1 + me), p, cfg_.slots.nslots, sb, me, q);
        }
      }
    }
    if (cudaSetDevice(dev_) != cudaSuccess) return status::cuda_error;
    std::size_t const cbytes = host.size() * sizeof(connection);
    std::size_t const ebytes = std::size_t(cfg_.max_channels) * sizeof(wait_error);
    if (cudaMalloc(&dconns_, cbytes) != cudaSuccess || cudaMalloc(&errors_, ebytes) != cudaSuccess)
      return status::out_of_memory;
    scratch_ += cbytes + ebytes;
    if (cudaMemcpy(dconns_, host.data(), cbytes, cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemset(errors_, 0, ebytes) != cudaSuccess)
      return status::cuda_error;
    return status::success;
  }

  // ---- registration and symmetric memory (shared by the single and group forms) ----
  static status setup_precheck(std::vector<comm*> const& ranks, cudaStream_t check_stream) {
    for (auto* c : ranks) {
      if (!c->initialized()) return status::invalid_argument;
      if (!c->peer_access_) {
        c->last_error_ = "peer memory is not addressable (no peer access): registration and symmetric memory are unsupported";
        return status::unsupported;
      }
    }
    return check_capture(check_stream, ranks);
  }

  static status register_impl(std::vector<comm*> const& ranks, std::vector<void*> const& ptrs, std::size_t bytes,
                              std::vector<registered_buffer*> const& outs, cudaStream_t check_stream) {
    for (auto* o : outs)
      if (!o) return status::invalid_argument;
    for (auto* o : outs) *o = {};
    if (status s = setup_precheck(ranks, check_stream); s != status::success) return s;
    // Local refusals (null, empty, overlapping) before anything is exchanged; agreed by all ranks.
    detail::setup_status local;
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      comm& c = *ranks[i];
      if (!ptrs[i] || bytes == 0 || c.reg_.overlaps(ptrs[i], bytes)) local = {int(status::invalid_argument), c.rank_};
    }
    std::string why;
    if (status s = agree(ranks, local, why, "bad buffer to register (null, empty or overlapping a registration)");
        s != status::success) {
      for (auto* c : ranks) c->last_error_ = why;
      return s;
    }
    std::vector<detail::peer_set> maps(ranks.size());
    status s = exchange(
        ranks,
        [&](comm& c, sym::export_blob& b) {
          std::size_t const i = index_of(ranks, &c);
          status x = sym::export_buffer(c.ipc_kind_, ptrs[i], bytes, nullptr, c.ids_[std::size_t(c.rank_)], b);
          // cudaMalloc memory has no VMM handle: it travels as CUDA IPC whatever the communicator's kind.
          if (x == status::unsupported && c.ipc_kind_ == sym::handle_kind::posix_fd)
            x = sym::export_buffer(sym::handle_kind::cuda_ipc, ptrs[i], bytes, nullptr, c.ids_[std::size_t(c.rank_)], b);
          return x;
        },
        [&](comm& c, std::vector<sym::export_blob> const& blobs, std::vector<int> const& fds) {
          std::size_t const i = index_of(ranks, &c);
          maps[i].peers.assign(std::size_t(c.n_), {});
          for (int p = 0; p < c.n_; ++p) {
            if (p == c.rank_) continue;
            if (blobs[std::size_t(p)].bytes != bytes) return status::invalid_argument; // sizes differ across ranks
            if (status x = sym::import_buffer(blobs[std::size_t(p)], c.ids_[std::size_t(c.rank_)], fds[std::size_t(p)],
                                              maps[i].peers[std::size_t(p)]);
                x != status::success)
              return x;
          }
          return status::success;
        },
        why);
    if (s != status::success) {
      for (auto& m : maps) m.release();
      for (auto* c : ranks) c->last_error_ = why;
      return s;
    }
    for (std::size_t i = 0; i < ranks.size(); ++i)
      if (ranks[i]->reg_.add(ptrs[i], bytes, std::move(maps[i]), outs[i]) != status::success) return status::internal_error;
    return status::success;
  }

  static std::size_t index_of(std::vector<comm*> const& ranks, comm const* c) {
    for (std::size_t i = 0; i < ranks.size(); ++i)
      if (ranks[i] == c) return i;
    return 0;
  }

  static status alloc_symmetric_impl(std::vector<comm*> const& ranks, std::size_t bytes, symmetric_options const& o,
                                     std::vector<symmetric_buffer*> const& outs, cudaStream_t check_stream) {
    for (auto* x : outs)
      if (!x) return status::invalid_argument;
    for (auto* x : outs) *x = {};
    int const max_blocks = o.max_blocks;
    if (bytes == 0 || max_blocks < 1 || max_blocks > sym::max_blocks || o.multicast > multicast_use::require)
      return status::invalid_argument;
    if (ranks[0]->n_ > sym::max_ranks) {
      for (auto* c : ranks) c->last_error_ = "symmetric memory serves at most sym::max_ranks ranks";
      return status::unsupported;
    }
    if (status s = setup_precheck(ranks, check_stream); s != status::success) return s;
    std::vector<int> devs;
    for (auto* c : ranks) devs.push_back(c->dev_);
    std::vector<sym_entry> es(ranks.size());
    std::size_t const flag_bytes = sym::flag_bytes(ranks[0]->n_, max_blocks);
    std::string why;
    // The data as multicast memory, where asked for and possible (agreed by every rank).
    bool mc = false;
    if (o.multicast != multicast_use::none) {
      std::vector<mc_part*> parts;
      for (auto& e : es) parts.push_back(&e.mc);
      std::string mc_why;
      status const m = make_multicast(ranks, devs, bytes, parts, [](comm&, std::size_t, std::string&) { return true; }, mc_why);
      mc = m == status::success;
      if (!mc && o.multicast == multicast_use::require) {
        for (auto* c : ranks) c->last_error_ = "symmetric memory as multicast memory: " + mc_why;
        return m;
      }
      if (!mc)
        for (auto& e : es) e.mc_why = mc_why;
    }
    // Exchanges: the data (unless multicast memory), then the barrier flags.
    auto run = [&](bool flags) {
      return exchange(
          ranks,
          [&](comm& c, sym::export_blob& b) {
            sym_entry& e = es[index_of(ranks, &c)];
            sym::local_alloc& m = flags ? e.flags : e.mem;
            std::size_t const nb = flags ? flag_bytes : bytes;
            if (status a = m.make(c.ipc_kind_, c.dev_, nb, devs); a != status::success) return a;
            return sym::export_buffer(c.ipc_kind_, m.ptr, nb, &m, c.ids_[std::size_t(c.rank_)], b);
          },
          [&](comm& c, std::vector<sym::export_blob> const& blobs, std::vector<int> const& fds) {
            sym_entry& e = es[index_of(ranks, &c)];
            return c.map_peers(blobs, fds, flags ? e.peer_flags : e.peers, [](int) { return true; });
          },
          why);
    };
    status s = mc ? status::success : run(false);
    if (s == status::success) s = run(true);
    if (s != status::success) {
      for (std::size_t i = 0; i < es.size(); ++i) {
        ranks[i]->release_sym(es[i]);
        ranks[i]->last_error_ = why;
      }
      return s;
    }
    for (std::size_t i = 0; i < ranks.size(); ++i) {
      comm& c = *ranks[i];
      sym_entry& e = es[i];
      sym::device_handle& h = e.handle;
      h.rank = c.rank_;
      h.nranks = c.n_;
      h.bytes = bytes;
      h.max_blocks = max_blocks;
      h.timeout_ns = c.cfg_.timeout_ns;
      h.mc_data = mc ? e.mc.mc : nullptr;
      for (int p = 0; p < c.n_; ++p) {
        h.data[p] = mc ? static_cast<void*>(e.mc.bases[std::size_t(p)])
                       : p == c.rank_ ? e.mem.ptr : e.peers.peers[std::size_t(p)].ptr;
        h.flags[p] = static_cast<cuda::std::uint64_t*>(p == c.rank_ ? e.flags.ptr : e.peer_flags.peers[std::size_t(p)].ptr);
      }
      std::uint64_t const id = c.next_sym_++;
      *outs[i] = symmetric_buffer{id, h.data[c.rank_], bytes, h.mc_data};
      c.sym_bytes_ += e.mem.size + e.mc.size + e.flags.size;
      c.syms_.emplace(id, std::move(e));
    }
    return status::success;
  }
};

//! Create `devices.size()` ranks in this process, rank r on CUDA device
//! `devices[r]` (a device may repeat: several ranks share it). On failure `out`
//! is empty and the status says why (no CUDA device: `unsupported`).
inline status comm_init_all(std::vector<int> const& devices, std::vector<std::unique_ptr<comm>>& out, comm_config cfg = {}) {
  out.clear();
  if (devices.empty()) return status::invalid_argument;
  std::vector<std::unique_ptr<comm>> cs;
  std::vector<comm*> raw;
  for (std::size_t i = 0; i < devices.size(); ++i) {
    cs.push_back(std::make_unique<comm>());
    cs.back()->rank_ = int(i);
    cs.back()->n_ = int(devices.size());
    cs.back()->clique_ = true;
    raw.push_back(cs.back().get());
  }
  status const s = comm::setup_all(raw, cfg, devices);
  if (s != status::success) return s;
  out = std::move(cs);
  return status::success;
}

//! `comm::register_buffer` for every rank of a `comm_init_all` group, from one thread.
inline status register_buffers_all(std::vector<comm*> const& comms, std::vector<void*> const& ptrs, std::size_t bytes,
                                   std::vector<registered_buffer>& out, cudaStream_t check_stream = nullptr) {
  out.assign(comms.size(), {});
  if (comms.empty() || ptrs.size() != comms.size() || int(comms.size()) != comms[0]->size()) return status::invalid_argument;
  for (std::size_t i = 0; i < comms.size(); ++i)
    if (!comms[i] || !comms[i]->clique_ || comms[i]->rank() != int(i)) return status::invalid_argument;
  std::vector<registered_buffer*> outs;
  for (auto& o : out) outs.push_back(&o);
  return comm::register_impl(comms, ptrs, bytes, outs, check_stream);
}

//! `comm::alloc_symmetric` (with options) for every rank of a `comm_init_all` group, from one thread.
inline status alloc_symmetric_all(std::vector<comm*> const& comms, std::size_t bytes, symmetric_options const& o,
                                  std::vector<symmetric_buffer>& out, cudaStream_t check_stream = nullptr) {
  out.assign(comms.size(), {});
  if (comms.empty() || int(comms.size()) != comms[0]->size()) return status::invalid_argument;
  for (std::size_t i = 0; i < comms.size(); ++i)
    if (!comms[i] || !comms[i]->clique_ || comms[i]->rank() != int(i)) return status::invalid_argument;
  std::vector<symmetric_buffer*> outs;
  for (auto& b : out) outs.push_back(&b);
  return comm::alloc_symmetric_impl(comms, bytes, o, outs, check_stream);
}

//! `comm::alloc_symmetric` for every rank of a `comm_init_all` group, from one thread.
inline status alloc_symmetric_all(std::vector<comm*> const& comms, std::size_t bytes, int max_blocks,
                                  std::vector<symmetric_buffer>& out, cudaStream_t check_stream = nullptr) {
  symmetric_options o;
  o.max_blocks = max_blocks;
  return alloc_symmetric_all(comms, bytes, o, out, check_stream);
}

//! Raw pointers of a group made by `comm_init_all`.
inline std::vector<comm*> pointers(std::vector<std::unique_ptr<comm>> const& cs) {
  std::vector<comm*> v;
  for (auto const& c : cs) v.push_back(c.get());
  return v;
}

} // namespace weft
