#pragma once
// Device buffers for the GPU tests and benchmarks, through Thrust: allocation,
// fills, host<->device copies and element-wise comparisons on the device.
// RAII (a failed REQUIRE frees what the test made); Thrust reports CUDA errors
// as exceptions, which Catch2 turns into failures naming the call.
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/functional.h>
#include <thrust/inner_product.h>

#include <cuda/std/iterator>

#include <cstddef>
#include <cstring>
#include <vector>

namespace weft_test {

template <class T>
using dvec = thrust::device_vector<T>;

template <class T>
T* raw(dvec<T>& v) {
  return thrust::raw_pointer_cast(v.data());
}
template <class T>
T const* raw(dvec<T> const& v) {
  return thrust::raw_pointer_cast(v.data());
}

//! The device pointers of a set of buffers, `off` elements in (one per rank).
template <class T>
std::vector<T*> raw_ptrs(std::vector<dvec<T>>& vs, std::size_t off = 0) {
  std::vector<T*> p;
  p.reserve(vs.size());
  for (auto& v : vs) p.push_back(raw(v) + off);
  return p;
}
template <class T>
std::vector<T const*> const_ptrs(std::vector<T*> const& p) {
  return std::vector<T const*>(p.begin(), p.end());
}

//! A host copy of a device buffer.
template <class T>
std::vector<T> to_host(dvec<T> const& v) {
  std::vector<T> h(v.size());
  thrust::copy(v.begin(), v.end(), h.begin());
  return h;
}

//! `n` device buffers of `count` elements, each filled with `value` on the device.
template <class T>
std::vector<dvec<T>> filled_buffers(std::size_t n, std::size_t count, T value) {
  std::vector<dvec<T>> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) v.emplace_back(count, value);
  return v;
}

namespace detail {
//! 1 where two elements differ in any bit (NaN payloads and signed zeros included).
template <class T>
struct bits_differ {
  __host__ __device__ std::size_t operator()(T const& a, T const& b) const {
    unsigned char const* x = reinterpret_cast<unsigned char const*>(&a);
    unsigned char const* y = reinterpret_cast<unsigned char const*>(&b);
    for (std::size_t i = 0; i < sizeof(T); ++i)
      if (x[i] != y[i]) return 1;
    return 0;
  }
};
//! 1 where two elements compare unequal.
template <class T>
struct differ {
  __host__ __device__ std::size_t operator()(T const& a, T const& b) const { return a != b ? 1 : 0; }
};
//! 1 where an element differs from `want` in any bit.
template <class T>
struct bits_differ_from {
  T want;
  __host__ __device__ bool operator()(T const& a) const { return bits_differ<T>{}(a, want) != 0; }
};
} // namespace detail

//! Elements of [a, a + n) and [b, b + n) that differ bitwise, counted on the device.
template <class It1, class It2>
std::size_t count_bit_mismatches(It1 a, It2 b, std::size_t n) {
  using T = cuda::std::iter_value_t<It1>;
  return thrust::inner_product(a, a + std::ptrdiff_t(n), b, std::size_t(0), thrust::plus<std::size_t>(),
                               detail::bits_differ<T>());
}

//! Elements of [a, a + n) and [b, b + n) that compare unequal (operator!=), counted on the device.
template <class It1, class It2>
std::size_t count_mismatches(It1 a, It2 b, std::size_t n) {
  using T = cuda::std::iter_value_t<It1>;
  return thrust::inner_product(a, a + std::ptrdiff_t(n), b, std::size_t(0), thrust::plus<std::size_t>(),
                               detail::differ<T>());
}

//! Elements of [a, a + n) that are not bitwise `want`, counted on the device.
template <class It, class T>
std::size_t count_not(It a, std::size_t n, T want) {
  return std::size_t(thrust::count_if(a, a + std::ptrdiff_t(n), detail::bits_differ_from<T>{want}));
}

} // namespace weft_test
