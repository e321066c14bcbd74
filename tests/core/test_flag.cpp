// Bounded waits: a wait that is never satisfied returns timeout within its
// bound; one satisfied by another thread returns success; an abort ends it.
#include <catch2/catch.hpp>
#include <weft/core/flag.hpp>

#include <chrono>
#include <cstdint>
#include <thread>

using namespace std::chrono_literals;

namespace {
double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
} // namespace

TEST_CASE("status names", "[flag]") {
  CHECK(std::string(weft::to_string(weft::status::success)) == "success");
  CHECK(std::string(weft::to_string(weft::status::timeout)) == "timeout");
  CHECK(std::string(weft::to_string(static_cast<weft::status>(999))) == "unknown status");
  CHECK(weft::ok(weft::status::success));
  CHECK_FALSE(weft::ok(weft::status::aborted));
}

TEST_CASE("a wait that is never satisfied times out within its bound", "[flag]") {
  std::uint64_t flag = 0;
  for (std::uint64_t bound_ms : {1u, 20u, 100u}) {
    auto const t0 = std::chrono::steady_clock::now();
    std::uint64_t seen = 99;
    weft::status s = weft::wait_geq(&flag, std::uint64_t{1}, weft::wait_bound{bound_ms * 1'000'000ull},
                                    cuda::memory_order_acquire, &seen);
    double const dt = seconds_since(t0);
    CHECK(s == weft::status::timeout);
    CHECK(seen == 0);
    CHECK(dt >= double(bound_ms) * 1e-3 * 0.99);
    CHECK(dt < double(bound_ms) * 1e-3 + 0.5); // returns promptly after the bound
  }
  std::uint32_t word = 5;
  CHECK(weft::wait_eq(&word, 6u, weft::wait_bound{5'000'000}) == weft::status::timeout);
  CHECK(weft::wait_eq(&word, 5u, weft::wait_bound{0}) == weft::status::success);
}

TEST_CASE("a wait satisfied by another thread succeeds and sees the data", "[flag]") {
  std::uint64_t flag = 0;
  int payload = 0;
  std::thread producer([&] {
    std::this_thread::sleep_for(10ms);
    payload = 42;                                   // plain write ...
    weft::signal(&flag, std::uint64_t{3});          // ... published by release
  });
  std::uint64_t seen = 0;
  weft::status s = weft::wait_geq(&flag, std::uint64_t{2}, weft::wait_bound{5'000'000'000ull},
                                  cuda::memory_order_acquire, &seen);
  producer.join();
  CHECK(s == weft::status::success);
  CHECK(seen == 3);
  CHECK(payload == 42);
}

TEST_CASE("raising the abort flag ends a wait early", "[flag]") {
  std::uint64_t flag = 0;
  std::uint32_t abort_word = 0;
  std::thread aborter([&] {
    std::this_thread::sleep_for(10ms);
    weft::signal(&abort_word, 1u);
  });
  auto const t0 = std::chrono::steady_clock::now();
  weft::status s = weft::wait_geq(&flag, std::uint64_t{1}, weft::wait_bound{30'000'000'000ull, &abort_word});
  aborter.join();
  CHECK(s == weft::status::aborted);
  CHECK(seconds_since(t0) < 5.0);
}

TEST_CASE("signal_add counts", "[flag]") {
  std::uint64_t flag = 0;
  std::thread a([&] { for (int i = 0; i < 1000; ++i) weft::signal_add(&flag, std::uint64_t{1}); });
  std::thread b([&] { for (int i = 0; i < 1000; ++i) weft::signal_add(&flag, std::uint64_t{1}); });
  a.join();
  b.join();
  CHECK(weft::load_flag(&flag) == 2000);
}
