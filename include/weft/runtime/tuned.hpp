#pragma once
//! \file
//! A `plan_selector` backed by the tuner (`tune/tuner.hpp`): each call's
//! algorithm, protocol and channel count come from simulating the candidates on
//! a topology model, remembered per distinct (collective, ranks, bytes, element
//! size, root). Separate from `runtime/call.hpp` so that code which does not
//! tune does not compile the simulator.
//!
//! ```
//! weft::sim::topology t;
//! if (weft::sim::load_topology("dgx-h100", t)) cfg.selector = weft::tuner_selector(t);
//! ```
//! The first call of each size runs the simulation on the calling thread (do it
//! before capturing a CUDA graph, or warm it with `tuner_selector`'s result
//! once per size); later calls are a map lookup under a mutex.

#include <weft/algorithm/plan.hpp>
#include <weft/sim/trace_tree.hpp>
#include <weft/tune/tuner.hpp>

#include <memory>
#include <mutex>
#include <utility>

namespace weft {

//! The simulator's name of a runtime collective (false for one it does not model).
inline bool to_sim_collective(coll_kind c, sim::collective& out) noexcept {
  switch (c) {
    case coll_kind::all_reduce: out = sim::collective::all_reduce; return true;
    case coll_kind::all_gather: out = sim::collective::all_gather; return true;
    case coll_kind::reduce_scatter: out = sim::collective::reduce_scatter; return true;
    case coll_kind::broadcast: out = sim::collective::broadcast; return true;
    case coll_kind::reduce: out = sim::collective::reduce; return true;
    default: return false;
  }
}

//! A selector that asks a tuner over topology `t`. It declines (the built-in
//! policy then decides) when the tuner has no answer; `ring_direct` becomes the
//! ring with `direct` set (which the call then drops if the output is not
//! registered); `ring_rail` and `chain_rail` become the ring with `ring_local`
//! set to the topology's GPUs per node; `direct_one_shot`, `direct_two_shot` and
//! `direct_ll` become `launch_plan::flavour` (served by a GPU communicator with a
//! direct window, else the ring runs); the hierarchical entries become
//! `algorithm::hierarchical` with the layout the model traced
//! (`sim::traced_hier_layout`); other names map to `weft::algorithm` (a runtime that does not
//! serve the algorithm for that collective falls back to the ring). Serves the
//! GPU runtime (`comm_config::selector`) and the CPU communicators
//! (`cpu_comm_config::selector` with `coll_options::automatic`).
inline plan_selector tuner_selector(sim::topology t, tune::tune_options o = {}) {
  auto state = std::make_shared<std::pair<std::mutex, tune::tuner>>(std::piecewise_construct, std::forward_as_tuple(),
                                                                    std::forward_as_tuple(std::move(t), std::move(o)));
  return [state](coll_kind c, int nranks, std::size_t bytes, std::size_t elem_bytes, int root, launch_plan& out) {
    tune::request rq;
    if (!to_sim_collective(c, rq.coll)) return false;
    rq.nranks = nranks;
    rq.bytes = bytes;
    rq.elem_bytes = elem_bytes;
    rq.root = root;
    std::lock_guard<std::mutex> lk(state->first);
    tune::choice const& ch = state->second.choose(rq);
    if (!ch.ok) return false;
    out.direct = ch.best.algo == "ring_direct";
    // The rail-rotated family (ring_rail, chain_rail) is the ring over the topology's nodes.
    sim::traced_algorithm const* entry = tune::find_algorithm(rq.coll, ch.best.algo);
    out.ring_local = entry && entry->rail ? state->second.topology().gpus_per_node : 0;
    // The direct all-reduces (direct_one_shot, direct_two_shot, direct_ll) become a
    // flavour, which a communicator without a direct window drops (the ring runs).
    direct_flavour fl{};
    out.flavour.reset();
    if (rq.coll == sim::collective::all_reduce && ch.best.algo.rfind("direct_", 0) == 0 &&
        parse_direct_flavour(ch.best.algo.c_str(), fl))
      out.flavour = fl;
    // The tuner's algorithm by name; one weft::algorithm does not name (a traced
    // family no runtime runs yet) becomes the ring, which every runtime serves.
    // The hierarchical entries (hierarchical, hier_tree, hier_3level, hier_rd_tree)
    // carry the layout the model traced.
    out.hier = {};
    if (ch.best.algo.rfind("hier", 0) == 0) {
      out.algo = algorithm::hierarchical;
      out.hier = sim::traced_hier_layout(ch.best.algo, nranks);
    } else if (out.direct || !parse_algorithm(ch.best.algo.c_str(), out.algo)) {
      out.algo = algorithm::ring;
    }
    out.proto = ch.best.proto;
    out.nchannels = ch.best.nchannels;
    return true;
  };
}

} // namespace weft
