#pragma once
//! \file
//! Host-side text for a `wait_error`.

#include <weft/prims/wait_error.hpp>
#include <string>

namespace weft {

//! "all_reduce: rank 2 timed out on channel 0 waiting for data from rank 1 (step 17 of this call, 4113 on the connection)".
inline std::string describe(wait_error const& e) {
  if (e.st == status::success) return "no error";
  std::string s = std::string(to_string(e.coll)) + ": rank " + std::to_string(e.rank) + " ";
  s += e.st == status::timeout ? "timed out" : std::string("stopped (") + to_string(e.st) + ")";
  s += " on channel " + std::to_string(e.channel);
  if (e.what == wait_kind::data) s += " waiting for data from rank " + std::to_string(e.peer);
  else if (e.what == wait_kind::credit) s += " waiting for rank " + std::to_string(e.peer) + " to free a slot";
  s += " (step " + std::to_string(e.call_step) + " of this call, " + std::to_string(e.step) + " on the connection)";
  return s;
}

} // namespace weft
