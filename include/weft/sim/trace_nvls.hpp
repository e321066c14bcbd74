#pragma once
//! \file
//! Trace functions of the NVLS (multicast) schedules and their registry entries
//! (`WEFT_TRACED_NVLS`, spliced into `traced_algorithm_list` in trace.hpp).

#include <weft/sim/trace_core.hpp>

namespace weft::sim {} // namespace weft::sim

//! Registry entries of this family, each followed by a comma.
#define WEFT_TRACED_NVLS
