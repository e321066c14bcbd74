#pragma once
//! \file
//! Symmetric memory on the CPU team: a window every rank can address.
//!
//! ```
//! weft::cpu_window win(4);          // shared by the team's ranks
//! team.run([&](weft::team_rank& r) {
//!   return weft::direct_all_reduce(win, r, send[r.rank()], recv[r.rank()], count, weft::op::sum<float>{});
//! });
//! ```
//! Registration is collective: on its first collective call each rank
//! allocates its own region, flag array and cursors (first touch by the rank
//! that uses them), and the ranks exchange the pointers with
//! `all_gather_ptr`. From then on `view(rank)` is a `sym_view` (see
//! weft/algorithm/direct.hpp): a trivially copyable value naming every rank's
//! region and flags, the same handle a GPU kernel takes with peer pointers.
//! Flags carry 64-bit epochs that only grow, so nothing is reset between calls.
//!
//! Symmetric buffers. `register_symmetric(tr, base, bytes)` (collective, every
//! rank with its own buffer of the same size) makes the ranks' buffers one
//! symmetric buffer, the CPU counterpart of multicast symmetric memory on a GPU:
//! NVLS calls whose buffer lies in it (the same offset on every rank) then run
//! zero-copy over it (`peer_multicast_buffer`, team/cpu_nvls.hpp).
//!
//! A call that fails (timeout, abort) leaves the window broken: flags of the
//! ranks disagree about the epoch, so later calls return `status::aborted`
//! and `last_error` says why; make a new window.

#include <weft/algorithm/direct.hpp>
#include <weft/core/status.hpp>
#include <cuda/atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace weft {

//! How a CPU window is laid out (per rank).
struct window_config {
  std::size_t area_bytes = 64 << 10; //!< one staging area (4 per block); larger messages take several rounds
  int nblocks = 4;                   //!< independent blocks (channels), each with its own areas and flags
  std::size_t ll_bytes = 1 << 10;    //!< LL payload per sender and round
};

class cpu_window {
public:
  explicit cpu_window(int nranks, window_config cfg = {}) : n_(nranks), cfg_(cfg) {
    if (n_ < 1 || cfg_.nblocks < 1 || cfg_.area_bytes < 64 || cfg_.area_bytes % 64 != 0 || cfg_.ll_bytes < 64 ||
        cfg_.ll_bytes % 64 != 0)
      return; // invalid: every call reports it
    ranks_.resize(std::size_t(n_));
    valid_ = true;
  }
  cpu_window(cpu_window const&) = delete;
  cpu_window& operator=(cpu_window const&) = delete;

  int size() const noexcept { return n_; }
  window_config const& config() const noexcept { return cfg_; }
  //! Offset in every rank's region of the NVLS counter barrier's counters (one
  //! 64-bit counter per block, after the areas and LL slots; see peer_multicast).
  std::size_t counter_offset() const noexcept {
    return (sym_view::region_bytes(n_, cfg_.nblocks, cfg_.area_bytes, cfg_.ll_bytes) + 63) / 64 * 64;
  }
  //! Bytes of region, flags and staging the attached ranks hold (call outside a collective).
  std::size_t scratch_bytes() const noexcept {
    std::size_t b = 0;
    for (auto const& r : ranks_)
      if (r.attached) b += r.bytes;
    return b;
  }
  bool healthy() const noexcept {
    return valid_ && cuda::atomic_ref<int const, cuda::thread_scope_system>(broken_).load(cuda::memory_order_acquire) == 0;
  }
  //! Why `rank`'s last call failed, or "no error".
  std::string last_error(int rank) const {
    if (!valid_) return "invalid window configuration";
    if (rank < 0 || rank >= n_) return "no such rank";
    std::string const& e = ranks_[std::size_t(rank)].error;
    return e.empty() ? "no error" : e;
  }

  //! Make every rank's [base, base + bytes) one symmetric buffer (collective:
  //! every rank calls it, each with its own buffer; the sizes must agree).
  //! Refused on every rank, and nothing registered, when any rank's buffer is
  //! null, empty or overlaps one it registered already, when the sizes differ,
  //! or when the bases are aligned differently (address mod 16). Call outside a
  //! collective.
  template <class Rank>
  status register_symmetric(Rank& tr, void* base, std::size_t bytes) {
    char const* what = "register_symmetric";
    if (!valid_) return status::invalid_argument;
    if (tr.size() != n_ || tr.rank() < 0 || tr.rank() >= n_) return status::invalid_argument;
    rank_state& me = ranks_[std::size_t(tr.rank())];
    me.error.clear();
    auto* const b = static_cast<unsigned char*>(base);
    bool ok = b && bytes > 0;
    auto const at = [](unsigned char const* p) { return reinterpret_cast<std::uintptr_t>(p); };
    for (auto const& r : me.symmetric)
      if (ok && at(b) < at(r.base) + r.bytes && at(r.base) < at(b) + bytes) ok = false;
    symmetric_entry const mine{ok ? b : nullptr, bytes};
    std::vector<symmetric_entry> all(static_cast<std::size_t>(n_));
    if (status s = tr.all_gather(&mine, sizeof mine, all.data()); s != status::success)
      return refuse(tr, what, s, "the exchange of buffer addresses failed");
    for (int q = 0; q < n_; ++q) {
      symmetric_entry const& e = all[std::size_t(q)];
      if (!e.base)
        return refuse(tr, what, status::invalid_argument,
                      "rank " + std::to_string(q) + " gave a null or empty buffer, or one overlapping a registered one");
      if (e.bytes != bytes)
        return refuse(tr, what, status::invalid_argument,
                      "rank " + std::to_string(q) + " registers " + std::to_string(e.bytes) + " bytes, rank " +
                          std::to_string(tr.rank()) + " " + std::to_string(bytes));
      // Zero-copy decides from the symmetric buffer's alignment: it must be every rank's.
      auto const mod16 = [](unsigned char const* p) { return reinterpret_cast<std::uintptr_t>(p) % 16; };
      if (mod16(e.base) != mod16(all[0].base))
        return refuse(tr, what, status::invalid_argument,
                      "rank " + std::to_string(q) + "'s buffer sits " + std::to_string(mod16(e.base)) +
                          " bytes past a 16-byte boundary, rank 0's " + std::to_string(mod16(all[0].base)) +
                          " (symmetric buffers must be aligned alike)");
    }
    registered_buffer r{b, bytes, std::vector<unsigned char*>(static_cast<std::size_t>(n_))};
    for (int q = 0; q < n_; ++q) r.bases[std::size_t(q)] = all[std::size_t(q)].base;
    me.symmetric.push_back(std::move(r));
    return status::success;
  }

  //! Undo `register_symmetric` (collective: every rank names its own base of
  //! the same registration). Nothing is removed unless every rank names its
  //! part of one registration; otherwise every rank refuses.
  template <class Rank>
  status deregister_symmetric(Rank& tr, void* base) {
    char const* what = "deregister_symmetric";
    if (!valid_) return status::invalid_argument;
    if (tr.size() != n_ || tr.rank() < 0 || tr.rank() >= n_) return status::invalid_argument;
    rank_state& me = ranks_[std::size_t(tr.rank())];
    me.error.clear();
    std::size_t i = 0;
    while (i < me.symmetric.size() && me.symmetric[i].base != base) ++i;
    unsigned char* const mine = i < me.symmetric.size() ? me.symmetric[i].base : nullptr;
    std::vector<unsigned char*> all(static_cast<std::size_t>(n_));
    if (status s = tr.all_gather_ptr(mine, all.data()); s != status::success)
      return refuse(tr, what, s, "the exchange failed");
    for (int q = 0; q < n_; ++q) {
      if (!all[std::size_t(q)])
        return refuse(tr, what, status::invalid_argument, "rank " + std::to_string(q) + " named a buffer it has not registered");
      // Every rank checks the names against its own copy of one registration's bases.
      if (!mine || all[std::size_t(q)] != me.symmetric[i].bases[std::size_t(q)])
        return refuse(tr, what, status::invalid_argument,
                      "the ranks named parts of different registrations (rank " + std::to_string(q) + ")");
    }
    me.symmetric.erase(me.symmetric.begin() + std::ptrdiff_t(i));
    return status::success;
  }

  //! The symmetric buffer of `rank` that holds [p, p + bytes): every rank's
  //! base (`bases`) and p's offset in it. False where none does.
  bool find_symmetric(int rank, void const* p, std::size_t bytes, unsigned char* const*& bases,
                      std::size_t& offset) const noexcept {
    if (!valid_ || rank < 0 || rank >= n_ || !p) return false;
    auto const c = reinterpret_cast<std::uintptr_t>(p);
    for (auto const& r : ranks_[std::size_t(rank)].symmetric) {
      auto const lo = reinterpret_cast<std::uintptr_t>(r.base);
      if (c >= lo && bytes <= r.bytes && c - lo <= r.bytes - bytes) {
        bases = r.bases.data();
        offset = std::size_t(c - lo);
        return true;
      }
    }
    return false;
  }

  //! Whether the last NVLS call `rank` ran went zero-copy over a symmetric buffer.
  bool last_nvls_zero_copy(int rank) const noexcept {
    return valid_ && rank >= 0 && rank < n_ && ranks_[std::size_t(rank)].zero_copy;
  }
  //! Whether that call was an out-of-place zero-copy all-reduce whose send is not
  //! symmetric, so send was first copied into recv.
  bool last_nvls_copied_in(int rank) const noexcept {
    return last_nvls_zero_copy(rank) && ranks_[std::size_t(rank)].copied_in;
  }

  // ---- used by the collective entry points ----

  //! Record which path `rank`'s NVLS call takes (see last_nvls_zero_copy).
  void note_nvls_path(int rank, bool zero_copy, bool copied_in = false) noexcept {
    if (!valid_ || rank < 0 || rank >= n_) return;
    ranks_[std::size_t(rank)].zero_copy = zero_copy;
    ranks_[std::size_t(rank)].copied_in = copied_in;
  }

  //! Check a call of `what` on `nblocks` blocks; register the rank on its first call.
  template <class Rank>
  status admit(Rank& tr, char const* what, int nblocks) {
    if (!valid_) return status::invalid_argument;
    if (tr.size() != n_ || tr.rank() < 0 || tr.rank() >= n_) return status::invalid_argument;
    rank_state& me = ranks_[std::size_t(tr.rank())];
    me.error.clear();
    if (!healthy()) return refuse(tr, what, status::aborted, "window is broken by an earlier failed collective");
    if (!me.attached)
      if (status s = attach(tr); s != status::success) {
        mark_broken();
        return refuse(tr, what, s, s == status::out_of_memory ? "window memory could not be allocated"
                                                                : "registration (pointer exchange) failed");
      }
    if (nblocks < 1 || nblocks > cfg_.nblocks) return refuse(tr, what, status::invalid_argument, "nblocks outside 1..config().nblocks");
    return status::success;
  }

  //! This rank's view (valid after `admit` succeeded).
  template <class Rank>
  sym_view view(Rank& tr) {
    rank_state& me = ranks_[std::size_t(tr.rank())];
    me.failure = sym_failure{};
    sym_view v;
    v.bufs = me.bufs.data();
    v.flags = me.flags.data();
    v.cursors = me.cursors.get();
    v.staging = me.staging.get();
    v.failure = &me.failure;
    v.rank = tr.rank();
    v.nranks = n_;
    v.nblocks = cfg_.nblocks;
    v.area_bytes = cfg_.area_bytes;
    v.ll_bytes = cfg_.ll_bytes;
    v.bound = tr.bound();
    return v;
  }

  //! Record why `tr`'s call of `what` is refused and return `s`.
  template <class Rank>
  status refuse(Rank& tr, char const* what, status s, std::string const& why) {
    if (tr.rank() >= 0 && tr.rank() < n_) ranks_[std::size_t(tr.rank())].error = std::string(what) + ": " + why;
    return s;
  }

  //! Finish a call: on failure, describe the failed wait and break the window.
  template <class Rank>
  status finish(Rank& tr, char const* what, status s) {
    if (s == status::success) return s;
    mark_broken();
    sym_failure const& f = ranks_[std::size_t(tr.rank())].failure;
    std::string why = to_string(s);
    if (f.st != status::success && f.peer < 0)
      why += " waiting for every rank (NVLS barrier counter, block " + std::to_string(f.block) + ", target " +
             std::to_string(f.epoch) + ", last seen " + std::to_string(f.seen) + ")";
    else if (f.st != status::success)
      why += std::string(" waiting for rank ") + std::to_string(f.peer) + (f.ll ? " (LL line" : " (flag") +
             ", block " + std::to_string(f.block) + ", epoch " + std::to_string(f.epoch) + ", last seen " +
             std::to_string(f.seen) + ")";
    return refuse(tr, what, s, "rank " + std::to_string(tr.rank()) + " " + why);
  }

  void mark_broken() noexcept {
    cuda::atomic_ref<int, cuda::thread_scope_system>(broken_).store(1, cuda::memory_order_release);
  }

private:
  struct free_deleter {
    void operator()(void* p) const noexcept { std::free(p); }
  };
  template <class T>
  using owned = std::unique_ptr<T, free_deleter>;

  struct symmetric_entry {
    unsigned char* base;
    std::size_t bytes;
  };
  struct registered_buffer {
    unsigned char* base = nullptr;    //!< this rank's
    std::size_t bytes = 0;
    std::vector<unsigned char*> bases; //!< every rank's
  };

  struct rank_state {
    owned<unsigned char> region;
    owned<cuda::std::uint64_t> flag_array;
    owned<sym_cursor> cursors;
    owned<unsigned char> staging;
    std::vector<unsigned char*> bufs;          //!< every rank's region (this rank's copy of the table)
    std::vector<cuda::std::uint64_t*> flags;   //!< every rank's flag array
    sym_failure failure;
    std::string error;
    std::vector<registered_buffer> symmetric;  //!< register_symmetric
    std::size_t bytes = 0;
    bool attached = false;
    bool zero_copy = false; //!< the last NVLS call's path
    bool copied_in = false; //!< ... and whether its send was copied into recv first
  };

  static void* alloc_zero(std::size_t bytes) {
    std::size_t const b = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, b == 0 ? 64 : b);
    if (p) std::memset(p, 0, b == 0 ? 64 : b);
    return p;
  }

  // Collective: every rank allocates its own memory, then the ranks exchange pointers.
  template <class Rank>
  status attach(Rank& tr) {
    rank_state& me = ranks_[std::size_t(tr.rank())];
    std::size_t const nb = std::size_t(cfg_.nblocks);
    std::size_t const region = counter_offset() + (nb * sizeof(cuda::std::uint64_t) + 63) / 64 * 64;
    std::size_t const flags = nb * std::size_t(n_) * sizeof(cuda::std::uint64_t);
    std::size_t const staging = nb * std::size_t(n_) * cfg_.ll_bytes;
    me.region.reset(static_cast<unsigned char*>(alloc_zero(region)));
    me.flag_array.reset(static_cast<cuda::std::uint64_t*>(alloc_zero(flags)));
    me.cursors.reset(static_cast<sym_cursor*>(alloc_zero(nb * sizeof(sym_cursor))));
    me.staging.reset(static_cast<unsigned char*>(alloc_zero(staging)));
    // Every rank takes part in the exchange even when its allocation failed (a null
    // pointer tells the others), so no rank is left waiting.
    bool const ok = me.region && me.flag_array && me.cursors && me.staging;
    me.bufs.assign(std::size_t(n_), nullptr);
    me.flags.assign(std::size_t(n_), nullptr);
    if (status s = tr.all_gather_ptr(ok ? me.region.get() : nullptr, me.bufs.data()); s != status::success) return s;
    if (status s = tr.all_gather_ptr(ok ? me.flag_array.get() : nullptr, me.flags.data()); s != status::success)
      return s;
    for (int q = 0; q < n_; ++q)
      if (!me.bufs[std::size_t(q)] || !me.flags[std::size_t(q)]) return status::out_of_memory;
    me.bytes = region + flags + staging + nb * sizeof(sym_cursor);
    me.attached = true;
    return status::success;
  }

  int n_;
  window_config cfg_;
  bool valid_ = false;
  std::vector<rank_state> ranks_; // rank r touches only ranks_[r] during a collective
  int broken_ = 0;
};

} // namespace weft
