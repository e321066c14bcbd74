#!/usr/bin/env bash
# Builds the GPU suite here (sm_90, the toolkit the GPU machine has too) and
# copies what tests/gpu/run.sh runs -- executables and CTest files, no objects --
# into .gpu-prebuilt/ so that a device call spends its time running, not
# compiling (gzipped: a device call carries at most 64 MiB). run.sh unpacks it
# when it finds it; without it, run.sh builds.
# Usage: tests/gpu/pack.sh [--no-build]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
preset=cuda-sm90
bdir=build/$preset
fdir=build/$preset-fast
odir=build/$preset-bench
if [ "${1:-}" != --no-build ]; then
  ./tests/gpu/prepare.sh
  prefix=(-DCMAKE_PREFIX_PATH="$PWD/.gpu-deps")
  cmake --preset $preset "${prefix[@]}" -DWEFT_HEADER_TESTS=OFF -DWEFT_BUILD_EXAMPLES=ON >/dev/null
  cmake --build $bdir -j"$(nproc)" --target weft_gpu_suite
  # No MPI or Gloo: the GPU machine has neither library to load.
  cmake --preset $preset "${prefix[@]}" -B $fdir -DWEFT_CUDA_FAST_COMPILE=ON -DWEFT_HEADER_TESTS=OFF \
    -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON -DCMAKE_DISABLE_FIND_PACKAGE_Gloo=ON >/dev/null
  cmake --build $fdir -j"$(nproc)" --target weft-bench
  # weft-bench at full optimisation (its CUDA translation unit alone takes
  # 10+ minutes here): run.sh measures the GPU tables with it.
  cmake --preset $preset "${prefix[@]}" -B $odir -DWEFT_HEADER_TESTS=OFF -DWEFT_BUILD_TESTS=OFF \
    -DWEFT_BUILD_EXAMPLES=OFF -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON -DCMAKE_DISABLE_FIND_PACKAGE_Gloo=ON >/dev/null
  cmake --build $odir -j"$(nproc)" --target weft-bench
  # The MPI weft-bench below comes from the `cuda` preset's build, where there is one.
  [ -f build/cuda/CMakeCache.txt ] && cmake --build build/cuda -j"$(nproc)" --target weft-bench
fi
stage=build/gpu-pack
rm -rf $stage .gpu-prebuilt && mkdir -p $stage .gpu-prebuilt
for d in $bdir $fdir; do
  # CTest files everywhere (ctest reads the whole tree), executables of the suite.
  find $d -name CTestTestfile.cmake -not -path '*/CMakeFiles/*' | while read -r f; do
    mkdir -p "$stage/$(dirname "$f")" && cp -p "$f" "$stage/$f"
  done
done
# The executables of every test labelled gpu, the GPU benchmarks, the example
# and weft-bench (fast compile).
exes=$(ctest --test-dir $bdir -N -V -L gpu 2>/dev/null | sed -n 's/^.*Test command: \([^ ]*\).*/\1/p' | sort -u)
for f in $exes $bdir/bench/*_gpu $bdir/examples/02_fused_allreduce_rmsnorm $fdir/bench/weft-bench; do
  f=${f#"$PWD/"}
  [ -x "$f" ] || { echo "pack: $f missing" >&2; exit 1; }
  mkdir -p "$stage/$(dirname "$f")" && cp -p "$f" "$stage/$f"
done
# The full-optimisation weft-bench is optional (run.sh skips its tables without it).
if [ -x $odir/bench/weft-bench ]; then
  mkdir -p $stage/$odir/bench && cp -p $odir/bench/weft-bench $stage/$odir/bench/
else
  echo "pack: no $odir/bench/weft-bench: the GPU check will skip the full-optimisation tables" >&2
fi
# weft-bench with MPI (the `cuda` preset's, as CI builds it), where one is
# built (with --no-build: as last built; rebuild it after changing weft-bench):
# run.sh runs it under the GPU machine's mpirun if that machine has one.
if [ -x build/cuda/bench/weft-bench ] && ldd build/cuda/bench/weft-bench | grep -q libmpi; then
  mkdir -p $stage/mpi && cp -p build/cuda/bench/weft-bench $stage/mpi/
fi
# The CUDA runtime they were linked against (run.sh puts it on LD_LIBRARY_PATH).
mkdir -p $stage/lib
cudart=$(ls /usr/local/cuda/lib64/libcudart.so.* /usr/local/cuda/lib/libcudart.so.* 2>/dev/null | head -1)
cp -L "$cudart" $stage/lib/
tar -C $stage -czf .gpu-prebuilt/suite.tgz .
du -sh .gpu-prebuilt/suite.tgz
