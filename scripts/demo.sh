#!/usr/bin/env bash
# Builds and runs weft's demo benchmark: the collectives on the CPU team
# (one host thread per rank), with nccl-tests style columns.
#   ./scripts/demo.sh [weft-bench arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/deps.sh
cmake --preset cpu
if ! cmake --build --preset cpu -j "${WEFT_JOBS:-2}" --target weft-bench; then
  echo "demo.sh: could not build target weft-bench (bench/ may not provide it yet)" >&2
  exit 1
fi
exec build/cpu/bench/weft-bench "$@"
