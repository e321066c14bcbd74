#!/usr/bin/env bash
# Builds and runs weft's demo benchmark: the collectives on the CPU team
# (one host thread per rank), with nccl-tests style columns.
#   ./scripts/demo.sh [weft-bench arguments...]
#   ./scripts/demo.sh --peers mpi,gloo --ranks 2 -b 64K -e 16M -f 4   # OpenMPI and Gloo side by side
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./scripts/deps.sh
cmake --preset cpu
targets=(weft-bench)
# The peer programs are built only when asked for (and only where CMake found MPI / Gloo:
# weft-bench then names the missing one).
for a in "$@"; do
  case "$a" in
  --peers*) targets+=(peer-mpi peer-gloo) ;;
  esac
done
for t in "${targets[@]}"; do
  if ! cmake --build --preset cpu -j "${WEFT_JOBS:-2}" --target "$t"; then
    if [ "$t" = weft-bench ]; then
      echo "demo.sh: could not build target weft-bench (bench/ may not provide it yet)" >&2
      exit 1
    fi
    echo "demo.sh: target $t is not available in this configuration; weft-bench will say which peer is missing" >&2
  fi
done
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
exec build/cpu/bench/weft-bench "$@"
