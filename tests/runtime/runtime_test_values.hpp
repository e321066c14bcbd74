#pragma once
// Float <-> element conversions shared by the runtime's host and GPU tests
// (fp32 and the narrow types; inputs are small integers, exact in every type).
#include <type_traits>

namespace runtime_test {

template <class T>
T make(float v) {
  if constexpr (std::is_same_v<T, float>) return v;
  else return T(v);
}
template <class T>
float val(T x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else return x.to_float();
}

} // namespace runtime_test
