#!/usr/bin/env bash
# Copies what the GPU machine lacks (it reaches no package registry) into
# .gpu-deps/ for tests/gpu/run.sh: Catch2 2.x headers and CMake package files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
./scripts/deps.sh >/dev/null
rm -rf .gpu-deps && mkdir -p .gpu-deps/include .gpu-deps/lib/cmake
cp -r /usr/include/catch2 .gpu-deps/include/
cp -r /usr/lib/cmake/Catch2 .gpu-deps/lib/cmake/
cp /usr/lib/libCatch2WithMain.a .gpu-deps/lib/ 2>/dev/null || true
echo "prepared .gpu-deps ($(du -sh .gpu-deps | cut -f1))"
