// Registration bookkeeping, bootstraps and descriptor passing of the GPU
// runtime: plain host logic, run with threads (no device).
#include <catch2/catch.hpp>

#include <weft/runtime/bootstrap.hpp>
#include <weft/runtime/fd_exchange.hpp>
#include <weft/runtime/registry.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using weft::status;

TEST_CASE("runtime registry: ranges, handles and lifetime", "[runtime]") {
  std::vector<char> mem(1 << 12);
  weft::buffer_registry<int> reg;
  weft::registered_buffer a, b, c;
  REQUIRE(reg.add(mem.data(), 1024, 7, &a) == status::success);
  CHECK(a);
  CHECK(reg.find(a)->payload == 7);
  // Overlap on either side, null, empty and wrapping ranges are refused and leave nothing.
  CHECK(reg.add(mem.data() + 1023, 16, 0, &b) == status::invalid_argument);
  CHECK_FALSE(b);
  CHECK(reg.add(mem.data() - 0, 1, 0, &b) == status::invalid_argument);
  CHECK(reg.add(nullptr, 16, 0, &b) == status::invalid_argument);
  CHECK(reg.add(mem.data() + 2048, 0, 0, &b) == status::invalid_argument);
  CHECK(reg.add(reinterpret_cast<void*>(~std::uintptr_t(0) - 8), 64, 0, &b) == status::invalid_argument);
  CHECK(reg.size() == 1);
  // A range that swallows a registration overlaps it too.
  CHECK(reg.overlaps(mem.data() + 512, 2048));
  CHECK(reg.overlaps(mem.data(), 4096));
  CHECK_FALSE(reg.overlaps(mem.data() + 1024, 16));
  // Adjacent is fine.
  REQUIRE(reg.add(mem.data() + 1024, 1024, 8, &b) == status::success);
  CHECK(reg.covering(mem.data() + 100, 924) == reg.find(a));
  CHECK(reg.covering(mem.data() + 100, 925) == nullptr); // runs into b: not one registration
  CHECK(reg.covering(mem.data() + 1024, 1024) == reg.find(b));
  CHECK(reg.covering(mem.data() + 3000, 1) == nullptr);
  // A removed handle is dead for good, even when its range is registered again.
  int payload = 0;
  REQUIRE(reg.remove(a, &payload) == status::success);
  CHECK(payload == 7);
  CHECK(reg.find(a) == nullptr);
  CHECK(reg.covering(mem.data(), 16) == nullptr);
  CHECK(reg.remove(a) == status::invalid_argument);
  REQUIRE(reg.add(mem.data(), 1024, 9, &c) == status::success);
  CHECK(c.id != a.id);
  CHECK(reg.find(a) == nullptr);
  CHECK(reg.remove(weft::registered_buffer{}) == status::invalid_argument);
  int cleared = 0;
  reg.clear([&](auto const& e) { cleared += e.payload; });
  CHECK(cleared == 8 + 9);
  CHECK(reg.size() == 0);
  CHECK(reg.find(b) == nullptr);
}

namespace {
template <class F>
std::vector<status> on_threads(int n, F f) {
  std::vector<status> st(std::size_t(n), status::internal_error);
  std::vector<std::thread> t;
  for (int r = 0; r < n; ++r) t.emplace_back([&, r] { st[std::size_t(r)] = f(r); });
  for (auto& x : t) x.join();
  return st;
}
} // namespace

TEST_CASE("runtime bootstrap: local all-gather and barrier over threads", "[runtime]") {
  int const n = 5;
  auto g = std::make_shared<weft::local_bootstrap_group>(n);
  std::vector<std::vector<int>> got(n);
  auto st = on_threads(n, [&](int r) {
    weft::local_bootstrap b(g, r);
    if (weft::check_bootstrap(b) != status::success) return status::internal_error;
    for (int round = 0; round < 20; ++round) {
      int mine[2] = {r, round * 100 + r};
      std::vector<int> all(2 * n);
      if (status s = b.all_gather(mine, sizeof mine, all.data()); s != status::success) return s;
      for (int p = 0; p < n; ++p)
        if (all[std::size_t(2 * p)] != p || all[std::size_t(2 * p + 1)] != round * 100 + p) return status::internal_error;
      if (status s = b.barrier(); s != status::success) return s;
    }
    return status::success;
  });
  for (auto s : st) CHECK(s == status::success);
}

TEST_CASE("runtime bootstrap: a missing rank times out, bounded, and breaks the group", "[runtime]") {
  auto g = std::make_shared<weft::local_bootstrap_group>(3, std::chrono::milliseconds(50));
  auto st = on_threads(2, [&](int r) { // rank 2 never comes
    weft::local_bootstrap b(g, r);
    return b.barrier();
  });
  CHECK(st[0] == status::timeout);
  CHECK(st[1] == status::timeout);
  weft::local_bootstrap late(g, 2);
  CHECK(late.barrier() == status::timeout);
}

TEST_CASE("runtime bootstrap: ranks disagreeing on the size fail", "[runtime]") {
  auto g = std::make_shared<weft::local_bootstrap_group>(2, std::chrono::milliseconds(200));
  auto st = on_threads(2, [&](int r) {
    weft::local_bootstrap b(g, r);
    std::vector<char> mine(std::size_t(4 + r)), all(16);
    return b.all_gather(mine.data(), mine.size(), all.data());
  });
  CHECK((st[0] == status::invalid_argument || st[1] == status::invalid_argument));
  CHECK(st[0] != status::success);
  CHECK(st[1] != status::success);
}

TEST_CASE("runtime bootstrap: any object with the four members adapts", "[runtime]") {
  struct user_group { // statuses
    int gathers = 0;
    int rank() const { return 0; }
    int size() const { return 1; }
    status all_gather(void const* mine, std::size_t bytes, void* all) {
      ++gathers;
      std::memcpy(all, mine, bytes);
      return status::success;
    }
    status barrier() { return status::timeout; }
  } ug;
  weft::bootstrap_ref<user_group> ref(ug);
  int x = 42, y = 0;
  CHECK(weft::check_bootstrap(ref) == status::success);
  CHECK(ref.all_gather(&x, sizeof x, &y) == status::success);
  CHECK(y == 42);
  CHECK(ug.gathers == 1);
  CHECK(ref.barrier() == status::timeout);

  struct bool_group { // bool results; a bad rank
    int rank() const { return 3; }
    int size() const { return 2; }
    bool all_gather(void const*, std::size_t, void*) { return false; }
    bool barrier() { return true; }
  } bg;
  weft::bootstrap_ref<bool_group> bref(bg);
  CHECK(bref.barrier() == status::success);
  CHECK(bref.all_gather(&x, 4, &y) == status::peer_failure);
  CHECK(weft::check_bootstrap(bref) == status::invalid_argument);
}

TEST_CASE("runtime fd exchange: every rank receives every peer's open file", "[runtime]") {
  int const n = 4;
  auto g = std::make_shared<weft::local_bootstrap_group>(n);
  std::vector<ino_t> inode(n);
  std::vector<std::vector<int>> got(n);
  auto st = on_threads(n, [&](int r) {
    weft::local_bootstrap b(g, r);
    std::string const name = "weft-test-" + std::to_string(r);
    int const fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
    if (fd < 0) return status::system_error;
    struct stat s {};
    ::fstat(fd, &s);
    inode[std::size_t(r)] = s.st_ino;
    status const x = weft::exchange_fds(b, fd, got[std::size_t(r)], std::chrono::seconds(10));
    ::close(fd);
    return x;
  });
  for (int r = 0; r < n; ++r) {
    INFO("rank " << r);
    REQUIRE(st[std::size_t(r)] == status::success);
    auto const& v = got[std::size_t(r)];
    REQUIRE(v.size() == std::size_t(n));
    CHECK(v[std::size_t(r)] == -1);
    for (int p = 0; p < n; ++p) {
      if (p == r) continue;
      struct stat s {};
      REQUIRE(::fstat(v[std::size_t(p)], &s) == 0);
      CHECK(s.st_ino == inode[std::size_t(p)]); // the same open file as rank p's
      ::close(v[std::size_t(p)]);
    }
  }
}

TEST_CASE("runtime fd exchange: a bad descriptor fails every rank, bounded", "[runtime]") {
  int const n = 3;
  auto g = std::make_shared<weft::local_bootstrap_group>(n);
  std::vector<std::vector<int>> got(n);
  auto st = on_threads(n, [&](int r) {
    weft::local_bootstrap b(g, r);
    int const fd = r == 1 ? -1 : ::memfd_create("weft-test", MFD_CLOEXEC);
    status const x = weft::exchange_fds(b, fd, got[std::size_t(r)], std::chrono::seconds(5));
    if (fd >= 0) ::close(fd);
    return x;
  });
  for (int r = 0; r < n; ++r) {
    CHECK(st[std::size_t(r)] == status::invalid_argument);
    for (int fd : got[std::size_t(r)]) CHECK(fd == -1);
  }
}
