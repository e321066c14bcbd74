// A user's program: includes weft, prints its version and a status name,
// and fails (nonzero exit) if either is not what the build said to expect.
#if __has_include(<weft/weft.hpp>)
#  include <weft/weft.hpp>
#else
#  include <weft/core/status.hpp>
#  include <weft/version.hpp>
#endif

#include <cstdio>
#include <cstring>

#ifndef WEFT_EXPECTED_VERSION
#  error "WEFT_EXPECTED_VERSION must be defined by the consumer's CMakeLists.txt"
#endif

static_assert(weft::to_string(weft::status::success) != nullptr, "to_string is constexpr");

int main() {
  int failures = 0;
  std::printf("weft version_string: %s\n", weft::version_string);
  std::printf("to_string(weft::status::timeout): %s\n", weft::to_string(weft::status::timeout));
  if (std::strcmp(weft::version_string, WEFT_EXPECTED_VERSION) != 0) {
    std::printf("FAIL: version_string is \"%s\", expected \"%s\"\n", weft::version_string, WEFT_EXPECTED_VERSION);
    ++failures;
  }
  if (std::strcmp(weft::to_string(weft::status::timeout), "timeout") != 0) {
    std::printf("FAIL: to_string(status::timeout) is \"%s\", expected \"timeout\"\n",
                weft::to_string(weft::status::timeout));
    ++failures;
  }
  std::printf("%s\n", failures == 0 ? "consumer OK" : "consumer FAILED");
  return failures;
}
