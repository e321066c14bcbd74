#pragma once
//! \file
//! What a collective call resolves to (algorithm, protocol, channels, direct),
//! and the hook through which a chooser -- the tuner, or the user's own policy
//! -- picks it. Shared by the GPU runtime (`runtime/call.hpp`) and the CPU
//! communicators (`team/cpu_comm.hpp`, `coll_options::automatic`); host code.
//!
//! ```
//! weft::plan_selector pick = [](weft::coll_kind c, int n, std::size_t bytes, std::size_t, int, weft::launch_plan& p) {
//!   if (c != weft::coll_kind::all_reduce || bytes > (64u << 10)) return false; // let the default decide
//!   p.algo = weft::algorithm::recursive_doubling;
//!   p.proto = weft::protocol::ll;
//!   return true;
//! };
//! ```

#include <weft/algorithm/algorithm.hpp>
#include <weft/prims/wait_error.hpp>
#include <weft/proto/protocol.hpp>

#include <cstddef>
#include <functional>
#include <optional>

namespace weft {

//! The launch a call resolves to.
struct launch_plan {
  algorithm algo = algorithm::ring;
  protocol proto = protocol::simple;
  int nchannels = 1;
  bool direct = false;
  //! The ring family: ranks per node of the rail-rotated ring (`ring_order`); 0: the plain ring.
  //! The CPU communicators honour it per call; the GPU communicator's ring order
  //! is fixed at creation (`comm_config::ring_local`).
  int ring_local = 0;
  //! All-reduce: run the direct algorithm of this flavour over the communicator's
  //! symmetric window instead of `algo` (the GPU communicator, `comm_config::direct_blocks`).
  std::optional<direct_flavour> flavour;
  //! algo == hierarchical: the levels (inner 0: the communicator's layout, else automatic).
  hier_layout hier{};
};

//! Chooses a plan for (collective, ranks, bytes, element size, root); returns
//! false to leave the choice to the built-in policy. `bytes` is nccl-tests' size
//! (per rank; the total for all-gather and reduce-scatter).
using plan_selector = std::function<bool(coll_kind, int nranks, std::size_t bytes, std::size_t elem_bytes, int root,
                                         launch_plan& out)>;

} // namespace weft
