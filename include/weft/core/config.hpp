#pragma once
//! \file
//! Compiler and target configuration shared by every weft header.
//!
//! weft headers are compiled by two kinds of compiler: a plain C++17 host
//! compiler (g++, clang++) and nvcc. The macros below expand to the CUDA
//! execution-space keywords under nvcc and to plain `inline` otherwise, so
//! the same function body serves a CUDA kernel and a CPU-team thread.

#if defined(__CUDACC__)
#  define WEFT_CUDA_COMPILER 1
#  define WEFT_HOST_DEVICE __host__ __device__ __forceinline__
#  define WEFT_DEVICE __device__ __forceinline__
#  define WEFT_HOST __host__ inline
#  define WEFT_GLOBAL __global__
#else
#  define WEFT_CUDA_COMPILER 0
#  define WEFT_HOST_DEVICE inline
#  define WEFT_DEVICE inline
#  define WEFT_HOST inline
#endif

//! True while nvcc compiles device code (any architecture).
#if defined(__CUDA_ARCH__)
#  define WEFT_DEVICE_PASS 1
#else
#  define WEFT_DEVICE_PASS 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#  define WEFT_RESTRICT __restrict__
#else
#  define WEFT_RESTRICT
#endif

//! Loop unrolling hint usable in both compilers.
//! Device code unrolls (register arrays must be indexed by constants); host
//! compilers are left to their own heuristics, which keeps host builds fast.
#if defined(__CUDA_ARCH__)
#  define WEFT_UNROLL _Pragma("unroll")
#else
#  define WEFT_UNROLL
#endif

//! Assertions are compiled only when WEFT_ENABLE_ASSERTIONS is defined.
#if defined(WEFT_ENABLE_ASSERTIONS)
#  include <cassert>
#  define WEFT_ASSERT(cond) assert(cond)
#else
#  define WEFT_ASSERT(cond) ((void)0)
#endif
