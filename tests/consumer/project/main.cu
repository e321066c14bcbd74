// The same user program compiled by nvcc, with a kernel that uses weft in
// device code. The kernel is never launched, so this runs without a GPU.
#if __has_include(<weft/weft.hpp>)
#  include <weft/weft.hpp>
#else
#  include <weft/core/status.hpp>
#  include <weft/version.hpp>
#endif

#include <cstdio>
#include <cstring>

__global__ void consumer_kernel(int* out) { *out = weft::ok(weft::status::success) ? 1 : 0; }

int main() {
  std::printf("weft version_string (nvcc): %s\n", weft::version_string);
  std::printf("to_string(weft::status::timeout) (nvcc): %s\n", weft::to_string(weft::status::timeout));
  bool ok = std::strcmp(weft::version_string, WEFT_EXPECTED_VERSION) == 0 &&
            std::strcmp(weft::to_string(weft::status::timeout), "timeout") == 0;
  std::printf("%s\n", ok ? "CUDA consumer OK" : "CUDA consumer FAILED");
  return ok ? 0 : 1;
}
