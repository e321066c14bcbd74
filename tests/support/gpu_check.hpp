#pragma once
// CUDA return-code checks for tests: a failed call fails the test with its name.
#include <catch2/catch.hpp>
#include <cuda_runtime_api.h>

#define WEFT_TEST_CUDA(call)                                                                      \
  do {                                                                                            \
    cudaError_t weft_test_err_ = (call);                                                          \
    INFO(#call << " -> " << cudaGetErrorString(weft_test_err_));                                  \
    REQUIRE(weft_test_err_ == cudaSuccess);                                                       \
  } while (0)
