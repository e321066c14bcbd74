#pragma once
//! \file
//! POSIX shared-memory segments: the host-memory transport between processes.
//!
//! A segment is named `/weft-<creator pid>-<sequence>-<random>` (so it shows as
//! `/dev/shm/weft-...`), created with mode 0600 and its pages reserved up front
//! (`posix_fallocate`: a full /dev/shm gives `out_of_memory` at creation, never a
//! SIGBUS later). Each process maps it at its own address, so nothing inside a
//! segment may hold a pointer; views (`make_connection`) are built per process
//! from offsets.
//!
//! Lifetime: the creator removes the name as soon as every peer has mapped the
//! segment (`unlink()`), so a segment outlives no process that could still use
//! it, whoever dies afterwards. Should a creator be killed before that point,
//! `shm_sweep_stale()` removes weft segments whose creator no longer exists.

#include <weft/core/status.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <atomic>
#include <utility>
#include <vector>

namespace weft {

//! Prefix of every weft segment name (after the leading slash, as listed in /dev/shm).
inline constexpr char shm_name_prefix[] = "weft-";
//! Longest segment name, including the leading slash.
inline constexpr std::size_t shm_name_max = 63;

//! One mapped POSIX shared-memory segment (move-only).
class shm_segment {
public:
  shm_segment() = default;
  shm_segment(shm_segment const&) = delete;
  shm_segment& operator=(shm_segment const&) = delete;
  shm_segment(shm_segment&& o) noexcept { swap(o); }
  shm_segment& operator=(shm_segment&& o) noexcept {
    if (this != &o) {
      reset();
      swap(o);
    }
    return *this;
  }
  ~shm_segment() { reset(); }

  //! Create a new zero-filled segment of `bytes` with a fresh weft name.
  [[nodiscard]] static status create(std::size_t bytes, shm_segment& out) {
    if (bytes == 0) return status::invalid_argument;
    static std::atomic<unsigned> sequence{0};
    unsigned rnd = 0;
    if (::getrandom(&rnd, sizeof rnd, 0) != sizeof rnd) rnd = unsigned(::getpid()) * 2654435761u;
    char name[shm_name_max + 1];
    std::snprintf(name, sizeof name, "/%s%ld-%u-%08x", shm_name_prefix, long(::getpid()),
                  sequence.fetch_add(1, std::memory_order_relaxed), rnd);
    int const fd = ::shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return status::system_error;
    shm_segment s;
    s.name_ = name;
    s.owner_ = true;
    s.linked_ = true;
    s.size_ = bytes;
    // Reserve the pages now: a full /dev/shm is reported here, not as a SIGBUS later.
    int const rc = ::posix_fallocate(fd, 0, off_t(bytes));
    if (rc != 0) {
      ::close(fd);
      return rc == ENOSPC ? status::out_of_memory : status::system_error;
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return status::out_of_memory;
    s.base_ = p;
    out = std::move(s);
    return status::success;
  }

  //! Map an existing segment; it must hold at least `bytes`.
  [[nodiscard]] static status open(std::string const& name, std::size_t bytes, shm_segment& out) {
    if (!valid_name(name)) return status::invalid_argument;
    int const fd = ::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) return errno == ENOENT ? status::peer_failure : status::system_error;
    struct stat st;
    if (::fstat(fd, &st) != 0 || std::size_t(st.st_size) < bytes || bytes == 0) {
      ::close(fd);
      return status::invalid_argument;
    }
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) return status::out_of_memory;
    out.reset();
    out.name_ = name;
    out.base_ = p;
    out.size_ = bytes;
    out.owner_ = false;
    out.linked_ = true;
    return status::success;
  }

  //! Whether `name` looks like a weft segment name ("/weft-" then [0-9a-f-], bounded length).
  static bool valid_name(std::string const& name) noexcept {
    std::size_t const pre = sizeof(shm_name_prefix) - 1;
    if (name.size() < pre + 2 || name.size() > shm_name_max || name[0] != '/') return false;
    if (name.compare(1, pre, shm_name_prefix) != 0) return false;
    for (std::size_t i = 1 + pre; i < name.size(); ++i) {
      char const c = name[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-')) return false;
    }
    return true;
  }

  //! Remove the name (the creator does this once every peer mapped it); the mapping stays.
  void unlink() noexcept {
    if (owner_ && linked_ && !name_.empty()) ::shm_unlink(name_.c_str());
    linked_ = false;
  }

  void* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }
  std::string const& name() const noexcept { return name_; }
  bool owner() const noexcept { return owner_; }
  bool linked() const noexcept { return linked_; }

  //! Unmap, and remove the name if this is the creator and it is still there.
  void reset() noexcept {
    unlink();
    if (base_) ::munmap(base_, size_);
    base_ = nullptr;
    size_ = 0;
    owner_ = false;
    name_.clear();
  }

private:
  void swap(shm_segment& o) noexcept {
    std::swap(base_, o.base_);
    std::swap(size_, o.size_);
    std::swap(owner_, o.owner_);
    std::swap(linked_, o.linked_);
    std::swap(name_, o.name_);
  }
  void* base_ = nullptr;
  std::size_t size_ = 0;
  bool owner_ = false;
  bool linked_ = false;
  std::string name_;
};

//! Names (without the slash) of the weft segments now in /dev/shm.
inline std::vector<std::string> shm_list() {
  std::vector<std::string> out;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d))
      if (std::strncmp(e->d_name, shm_name_prefix, sizeof(shm_name_prefix) - 1) == 0) out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

//! Pid of the process that created a weft segment, read from its name; -1 if none.
inline long shm_creator_pid(std::string const& name) noexcept {
  std::size_t const pre = sizeof(shm_name_prefix) - 1;
  std::size_t i = name.compare(0, 1, "/") == 0 ? 1 : 0;
  if (name.compare(i, pre, shm_name_prefix) != 0) return -1;
  i += pre;
  long pid = 0;
  std::size_t digits = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && digits < 10) pid = pid * 10 + (name[i++] - '0'), ++digits;
  return digits > 0 && i < name.size() && name[i] == '-' ? pid : -1;
}

//! Remove weft segments whose creator process no longer exists (in this pid
//! namespace); returns how many were removed.
inline int shm_sweep_stale() {
  int removed = 0;
  for (std::string const& n : shm_list()) {
    long const pid = shm_creator_pid(n);
    if (pid <= 0) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;
    if (::shm_unlink(("/" + n).c_str()) == 0) ++removed;
  }
  return removed;
}

} // namespace weft
