#!/usr/bin/env bash
# The prepared GPU check: builds weft's CUDA targets for sm_90 and runs every GPU
# test (CTest label `gpu`) and the GPU benchmarks in one call, writing logs under
# $OUT (default build/gpu-out) and printing a short table last.
#
# On a machine without network access, Catch2 comes from .gpu-deps/ (made here by
# tests/gpu/prepare.sh, carried along). Usage: OUT=/some/dir tests/gpu/run.sh
#
# WEFT_BUDGET_S bounds the whole run (default 500 s): set it to the device call's
# time limit minus ~40 s. Each phase gets what is left; weft-bench's fast-compile
# build runs in the background while the GPU tests run; if the run is killed
# (TERM), the table of what finished is still printed and kept in
# $OUT/summary.txt.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
OUT=${OUT:-build/gpu-out}
mkdir -p "$OUT"
jobs=${WEFT_JOBS:-$(nproc)}
t_start=$(date +%s)
# Every phase gets min(its own limit, what is left of WEFT_BUDGET_S), so the whole
# check ends inside one device call even when something hangs.
deadline=$(( t_start + ${WEFT_BUDGET_S:-500} ))
lim() { local left=$(( deadline - $(date +%s) )); [ "$left" -lt "$1" ] && echo $(( left > 5 ? left : 5 )) || echo "$1"; }
preset=cuda-sm90
bdir=build/$preset

{ nvidia-smi; nvcc --version; cmake --version; } >"$OUT/device.txt" 2>&1
card=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)

prefix=()
[ -d .gpu-deps ] && prefix=(-DCMAKE_PREFIX_PATH="$PWD/.gpu-deps")
fdir=build/$preset-fast
build_rc=0
prebuilt=0
if [ -f .gpu-prebuilt/suite.tgz ]; then
  # Binaries built elsewhere with the same toolkit (tests/gpu/pack.sh): unpack
  # them and let their absolute paths (CTest files) resolve to this tree.
  prebuilt=1
  tar -C .gpu-prebuilt -xzf .gpu-prebuilt/suite.tgz
  mkdir -p build && cp -a .gpu-prebuilt/build/. build/
  src=$(sed -n 's/^# Source directory: //p' $bdir/CTestTestfile.cmake)
  if [ -n "$src" ] && [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then
    mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
  fi
  export LD_LIBRARY_PATH="$PWD/.gpu-prebuilt/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "prebuilt binaries from .gpu-prebuilt (source directory $src)" >"$OUT/build.txt"
else
  cmake --preset $preset "${prefix[@]}" -DWEFT_HEADER_TESTS=OFF -DWEFT_BUILD_EXAMPLES=ON >"$OUT/build.txt" 2>&1
  # Only the GPU suite (tests labelled gpu, the GPU example and benchmarks).
  timeout $(lim 330) cmake --build $bdir -j"$jobs" --target weft_gpu_suite >>"$OUT/build.txt" 2>&1 || build_rc=$?
fi
t_build=$(( $(date +%s) - t_start ))

# The table printed last (also on TERM, with what finished so far).
test_rc=unrun san_rc=skipped rt_san_rc=skipped race_rc=skipped bench_cuda_rc=skipped
summary() {
  local t_total=$(( $(date +%s) - t_start ))
  {
    echo
    echo "================ weft GPU check ================"
    echo "card:   ${card:-unknown}"
    echo "build:  rc=$build_rc (${t_build:-?}s$( [ "${prebuilt:-0}" = 1 ] && echo ", prebuilt"))   tests: rc=$test_rc   memcheck: rc=$san_rc   runtime memcheck: rc=$rt_san_rc   racecheck: rc=$race_rc   total ${t_total}s"
    echo "weft-bench --backend cuda (fast compile): rc=$bench_cuda_rc"
    grep -E 'PATH (gpu|no-gpu)|Test +#[0-9]+: bench_(cuda|mpi_cuda)|FAIL:|^[0-9]+% tests passed' "$OUT/bench_cuda.txt" 2>/dev/null
    echo "weft-bench --backend cuda under mpirun (2 processes): rc=${mpi_rc:-unrun}"
    grep -E 'PATH|FAIL' "$OUT/mpi_cuda.txt" 2>/dev/null
    [ -f "$OUT/weft_bench_gpu.txt" ] && echo "weft-bench (full optimisation): rc=${bench_full_rc:-unfinished}" &&
      grep -E '^### weft-bench|^### exit|Avg bus bandwidth|Out of bounds|FAIL' "$OUT/weft_bench_gpu.txt"
    grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.txt" "$OUT/sanitizer_runtime.txt" "$OUT/racecheck.txt" 2>/dev/null
    grep -E 'worst error|PASSED|FAILED|SKIPPED|^exit' "$OUT/example_02.txt" 2>/dev/null
    grep -E '^\s*[0-9]+/[0-9]+ Test' "$OUT/tests.txt" 2>/dev/null | sed -E 's/ +/ /g'
    # ctest's own count (the tests' "All tests passed (...)" lines come below).
    grep -E '^[0-9]+% tests passed' "$OUT/tests.txt" 2>/dev/null
    # The tests' own report lines (ctest -V prefixes them with the test number):
    # what the device offered, what was skipped and why, assertion counts.
    grep -iE '^[0-9]+: .*(multicast|skipped|not exercised|NOTE|checked|exact|zero-copy|negative control|assertions|failed)' \
      "$OUT/tests.txt" 2>/dev/null | grep -v 'Test command' | head -60
    grep -E '^# (worst|reduce_copy|summary|total)|^#   [0-9]+ ranks|^###|target|rows with wrong|wrong over|checked on the device' "$OUT/bench.txt" 2>/dev/null
    if [ "${build_rc:-0}" != 0 ]; then echo "--- build errors:"; grep -E 'error' "$OUT/build.txt" | head -20; fi
  } >"$OUT/summary.txt"
}
# Refreshed after every phase, so a run killed outright still leaves its table.
trap 'echo "### killed (TERM) after $(( $(date +%s) - t_start ))s"; summary; cat "$OUT/summary.txt"; exit 124' TERM
summary

# weft-bench's CUDA backends (--backend cuda: virtual ranks through vrank_comm;
# -g: weft::comm ranks) in fast-compile mode (its CUDA translation unit takes
# minutes at full optimisation), built in the background while the GPU tests
# run; these runs check tables and #wrong, their timings are not figures.
if [ $prebuilt = 1 ] && [ -x $fdir/bench/weft-bench ]; then
  true &
else
( cmake --preset $preset "${prefix[@]}" -B $fdir -DWEFT_CUDA_FAST_COMPILE=ON -DWEFT_HEADER_TESTS=OFF &&
  timeout $(lim 400) nice -n 10 cmake --build $fdir -j"$jobs" --target weft-bench ) >"$OUT/bench_cuda_build.txt" 2>&1 &
fi
fast_pid=$!

# -V: the tests' own SKIPPED / NOTE lines (what a device could not run) reach the log.
timeout $(lim 240) ctest --test-dir $bdir -L gpu -V --timeout $(lim 150) >"$OUT/tests.txt" 2>&1
test_rc=$?
summary

# The GPU benchmarks before the sanitizers, so a slow sanitizer cannot crowd them out.
: >"$OUT/bench.txt"
for b in $bdir/bench/*_gpu; do
  [ -x "$b" ] || continue
  echo "### $(basename "$b")" >>"$OUT/bench.txt"
  timeout $(lim 120) "$b" >>"$OUT/bench.txt" 2>&1 || echo "### $(basename "$b") exited with $?" >>"$OUT/bench.txt"
done
summary
# compute-sanitizer memcheck on a small configuration (direct all-gather moves
# data straight between ranks' buffers: the likeliest place for a stray write).
san_rc=skipped
if command -v compute-sanitizer >/dev/null 2>&1 && [ -x $bdir/tests/gpu/test_ring_gpu ]; then
  timeout $(lim 90) compute-sanitizer --tool memcheck --error-exitcode 9 $bdir/tests/gpu/test_ring_gpu \
    "gpu ring: direct all-gather" >"$OUT/sanitizer.txt" 2>&1
  san_rc=$?
fi

# The runtime: the fused all-reduce + RMSNorm example's own report, and memcheck
# over the device-side block API (one cooperative launch per case: safe to
# serialise). Its ranks-on-streams tests are left out of the sanitizer: they need
# the ranks' kernels to run concurrently.
if [ -x $bdir/examples/02_fused_allreduce_rmsnorm ]; then
  timeout $(lim 120) $bdir/examples/02_fused_allreduce_rmsnorm >"$OUT/example_02.txt" 2>&1
  echo "exit $?" >>"$OUT/example_02.txt"
fi
rt_san_rc=skipped
race_rc=skipped
if command -v compute-sanitizer >/dev/null 2>&1 && [ -x $bdir/tests/gpu/test_runtime_gpu ]; then
  timeout $(lim 90) compute-sanitizer --tool memcheck --error-exitcode 9 $bdir/tests/gpu/test_runtime_gpu \
    "runtime gpu device api: block all-reduce and all-gather in a user kernel" >"$OUT/sanitizer_runtime.txt" 2>&1
  rt_san_rc=$?
  # racecheck: shared-memory hazards in the block API's kernels (the fused
  # example's CUB block reduction included), same small configuration.
  timeout $(lim 90) compute-sanitizer --tool racecheck --error-exitcode 9 $bdir/tests/gpu/test_runtime_gpu \
    "runtime gpu device api: block all-reduce and all-gather in a user kernel" >"$OUT/racecheck.txt" 2>&1
  race_rc=$?
fi

summary
# weft-bench's runs, last so that they cannot crowd out the rest (its build ran
# in the background). -FC weft_shm: the shared-memory leak check belongs to the
# full suite, not to these runs.
if wait $fast_pid; then
  if [ "$(lim 400)" -gt 30 ]; then
    timeout $(lim 150) ctest --test-dir $fdir -R '^bench_(cuda|mpi_cuda)' -FC weft_shm -V --timeout $(lim 140) \
      >"$OUT/bench_cuda.txt" 2>&1
    bench_cuda_rc=$?
  fi
else
  bench_cuda_rc=build-failed
fi

# weft-bench --backend cuda under mpirun, one weft::comm rank per process (two
# processes sharing the GPU), where this machine has mpirun and the pack brought
# an MPI build of weft-bench whose libraries load here.
mb=.gpu-prebuilt/mpi/weft-bench
mpi_rc=skipped
if [ -x $mb ] && command -v mpirun >/dev/null 2>&1 && ! ldd $mb | grep -q 'not found' && [ "$(lim 400)" -gt 40 ]; then
  mkdir -p build/mpi-cuda
  timeout $(lim 90) bash tests/bench/check_weft_bench.sh mpi_cuda $mb build/mpi-cuda "$(command -v mpirun)" 2 \
    >"$OUT/mpi_cuda.txt" 2>&1
  mpi_rc=$?
fi
{ command -v mpirun; mpirun --version; ldd $mb; } >>"$OUT/mpi_cuda.txt" 2>&1
summary

# weft-bench tables at full optimisation, where tests/gpu/pack.sh brought one
# (compiling its CUDA translation unit takes longer than a device call should):
# the figures of docs/benchmarks.md's GPU section. Virtual ranks and weft::comm
# ranks all share device 0.
wb=build/$preset-bench/bench/weft-bench
if [ -x $wb ] && [ "$(lim 400)" -gt 30 ]; then
  wb_rc=0
  wbrun() { # wbrun <name> <args...>
    local name=$1 rc
    shift
    echo "### weft-bench $*" >>"$OUT/weft_bench_gpu.txt"
    timeout $(lim 100) $wb "$@" -J "$OUT/wb_$name.json" >>"$OUT/weft_bench_gpu.txt" 2>&1
    rc=$?
    echo "### exit $rc" >>"$OUT/weft_bench_gpu.txt"
    [ $rc = 0 ] || wb_rc=$rc
  }
  : >"$OUT/weft_bench_gpu.txt"
  # Sized to end inside 100 s each on an H200 (the host-side check of 8 ranks is the slow part).
  wbrun ar8 --backend cuda --ranks 8 -b 8 -e 32M -f 4 --channels 16
  wbrun algos8 --backend cuda --ranks 8 --algo all -b 8 -e 16M -f 8 --channels 8
  wbrun colls4 --backend cuda --ranks 4 --coll all -b 8 -e 64M -f 8 --channels 8
  wbrun comm4 --backend cuda -g 1 --ranks 4 --algo auto,direct_one_shot,direct_two_shot,direct_ll -b 8 -e 64M -f 8
  wbrun comm4g --backend cuda -g 1 --ranks 4 -R 2 --algo auto -b 8 -e 16M -f 16 -G 10
  bench_full_rc=$wb_rc
  summary
fi

trap - TERM
summary
cat "$OUT/summary.txt"
exit $(( build_rc != 0 || test_rc != 0 ))
