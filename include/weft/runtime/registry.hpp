#pragma once
//! \file
//! Bookkeeping of registered buffers: which byte ranges of this rank are
//! registered, under which handle, with what payload (peer addresses, ...).
//!
//! Handles are never reused: a handle names one registration for the life of
//! the registry, so a deregistered handle stays invalid even when the same
//! range is registered again (it gets a new handle). Registered ranges never
//! overlap. Plain C++ (no CUDA): the communicator stores its peer mappings in
//! `Payload`, and the tests check the rules on their own.

#include <weft/core/status.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

namespace weft {

//! A registered buffer as the user sees it. `id == 0` is "no buffer".
struct registered_buffer {
  std::uint64_t id = 0;
  explicit operator bool() const noexcept { return id != 0; }
};

template <class Payload>
class buffer_registry {
public:
  struct entry {
    std::uint64_t id = 0;
    std::uintptr_t base = 0;
    std::size_t bytes = 0;
    Payload payload{};
    bool contains(std::uintptr_t p, std::size_t n) const noexcept {
      return p >= base && n <= bytes && p - base <= bytes - n;
    }
  };

  //! Register [p, p + bytes). Null, empty, wrapping or overlapping ranges give
  //! `invalid_argument` and change nothing.
  status add(void const* p, std::size_t bytes, Payload payload, registered_buffer* out) {
    if (!out) return status::invalid_argument;
    *out = {};
    auto const b = reinterpret_cast<std::uintptr_t>(p);
    if (!p || bytes == 0 || b + bytes < b) return status::invalid_argument;
    if (overlaps(p, bytes)) return status::invalid_argument;
    entry e;
    e.id = next_id_++;
    e.base = b;
    e.bytes = bytes;
    e.payload = std::move(payload);
    by_base_.emplace(b, e.id);
    out->id = e.id;
    entries_.emplace(e.id, std::move(e));
    return status::success;
  }

  //! Forget a registration. An unknown or already removed handle gives
  //! `invalid_argument`. `removed` (if given) receives the payload to release.
  status remove(registered_buffer h, Payload* removed = nullptr) {
    auto it = entries_.find(h.id);
    if (it == entries_.end()) return status::invalid_argument;
    if (removed) *removed = std::move(it->second.payload);
    by_base_.erase(it->second.base);
    entries_.erase(it);
    return status::success;
  }

  //! Whether [p, p + bytes) overlaps a live registration (what `add` would refuse for).
  bool overlaps(void const* p, std::size_t bytes) const noexcept {
    auto const b = reinterpret_cast<std::uintptr_t>(p);
    if (!p || bytes == 0 || b + bytes < b) return false;
    auto it = by_base_.lower_bound(b + bytes);
    if (it == by_base_.begin()) return false;
    auto const& prev = entries_.at(std::prev(it)->second);
    return prev.base + prev.bytes > b;
  }

  //! The live registration named by `h`, or null.
  entry const* find(registered_buffer h) const noexcept {
    auto it = entries_.find(h.id);
    return it == entries_.end() ? nullptr : &it->second;
  }

  //! The live registration that contains all of [p, p + bytes), or null.
  entry const* covering(void const* p, std::size_t bytes) const noexcept {
    auto const b = reinterpret_cast<std::uintptr_t>(p);
    if (!p) return nullptr;
    auto it = by_base_.upper_bound(b);
    if (it == by_base_.begin()) return nullptr;
    auto const& e = entries_.at(std::prev(it)->second);
    return e.contains(b, bytes) ? &e : nullptr;
  }

  std::size_t size() const noexcept { return entries_.size(); }

  //! Call `f(entry&)` for every live registration, then forget them all.
  template <class F>
  void clear(F&& f) {
    for (auto& kv : entries_) f(kv.second);
    entries_.clear();
    by_base_.clear();
  }

private:
  std::map<std::uint64_t, entry> entries_;
  std::map<std::uintptr_t, std::uint64_t> by_base_;
  std::uint64_t next_id_ = 1;
};

} // namespace weft
