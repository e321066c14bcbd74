#!/usr/bin/env bash
# Runs weft's whole test suite: configure, build (-j2) and ctest for
#   1. the `cuda` preset when nvcc is at /usr/local/cuda/bin/nvcc, else `cpu`;
#   2. the `tsan` preset (ThreadSanitizer; its ctest preset runs label `team`).
# Prints one summary line per stage and exits nonzero if any stage failed.
# GPU tests skip (CTest "Skipped") on machines without a CUDA device.
#
#   ./scripts/test.sh                 the default stages above
#   ./scripts/test.sh cpu tsan        chosen presets only
#   WEFT_JOBS=8 ./scripts/test.sh     more parallelism (default 2)
#
# Full logs: build/logs/<preset>.log
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs="${WEFT_JOBS:-2}"
nvcc=/usr/local/cuda/bin/nvcc

./scripts/deps.sh || { echo "test.sh: scripts/deps.sh failed" >&2; exit 1; }

if [[ $# -gt 0 ]]; then
  presets=("$@")
elif [[ -x "$nvcc" ]]; then
  presets=(cuda tsan)
else
  echo "test.sh: no $nvcc, so the cpu preset instead of cuda"
  presets=(cpu tsan)
fi

mkdir -p build/logs
summary=()
failed=0

# ThreadSanitizer in GCC 12 cannot map its shadow memory on kernels with high
# ASLR entropy (vm.mmap_rnd_bits > 28); run the tsan tests with ASLR off.
tsan_wrap=()
if setarch "$(uname -m)" -R true >/dev/null 2>&1; then
  tsan_wrap=(setarch "$(uname -m)" -R)
fi

secs() { echo $(( $(date +%s) - $1 )); }

run_stage() {
  local p="$1" log="build/logs/$1.log" t0 t result detail="" rc
  : >"$log"
  t0=$(date +%s)
  echo "=== [$p] configure"
  t=$(date +%s)
  # Where no GPU is visible the device code only has to compile: nvcc's fast
  # mode (WEFT_CUDA_FAST_COMPILE, -Ofc=max) spends about a quarter of the time
  # in cicc and ptxas. Where a GPU is there, the GPU tests run fully optimised.
  local extra=()
  if [[ "$p" == cuda* ]]; then
    if nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
      extra=(-DWEFT_CUDA_FAST_COMPILE=OFF)
    else
      extra=(-DWEFT_CUDA_FAST_COMPILE=ON)
      echo "=== [$p] no GPU visible: device code compiled with nvcc -Ofc=max (compile check only)"
    fi
  fi
  if ! cmake --preset "$p" "${extra[@]}" 2>&1 | tee -a "$log"; then
    summary+=("FAIL  $p: configure failed ($(secs "$t0")s) -- see $log")
    failed=1
    return
  fi
  local t_conf; t_conf=$(secs "$t")

  echo "=== [$p] build (-j$jobs)"
  t=$(date +%s)
  # Keep going past a failing target so the tests that did build still run.
  local keep_going=(-k)
  grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja' "build/$p/CMakeCache.txt" 2>/dev/null && keep_going=(-k 0)
  local build_ok=1
  cmake --build --preset "$p" -j "$jobs" -- "${keep_going[@]}" 2>&1 | tee -a "$log" || build_ok=0
  local t_build; t_build=$(secs "$t")

  echo "=== [$p] test"
  t=$(date +%s)
  local wrap=()
  [[ "$p" == tsan* ]] && wrap=("${tsan_wrap[@]}")
  local ctest_out
  ctest_out=$(mktemp)
  "${wrap[@]}" ctest --preset "$p" --output-on-failure -j "$jobs" 2>&1 | tee -a "$log" "$ctest_out"
  rc=${PIPESTATUS[0]}
  local t_test; t_test=$(secs "$t")

  local line skipped
  line=$(grep -E '^[0-9]+% tests passed' "$ctest_out" | tail -n1)
  skipped=$(grep -cE '\(Skipped\)' "$ctest_out" || true)
  if grep -q 'No tests were found' "$ctest_out"; then line="no tests found"; fi
  local failed_names
  failed_names=$(sed -n '/The following tests FAILED:/,$p' "$ctest_out" |
    sed -nE 's/^[[:space:]]+[0-9]+ - ([^ ]+) \((.*)\)$/\1 (\2)/p' | paste -sd, - | sed 's/,/, /g')
  rm -f "$ctest_out"
  detail="${line:-ctest gave no summary}"
  [[ "$skipped" -gt 0 ]] && detail+=", $skipped skipped"
  [[ -n "$failed_names" ]] && detail+=" [failed: $failed_names]"
  if [[ $build_ok -eq 1 && $rc -eq 0 ]]; then
    result="PASS"
  else
    result="FAIL"
    failed=1
    [[ $build_ok -eq 0 ]] && detail="build FAILED; $detail"
  fi
  summary+=("$result  $p: $detail (configure ${t_conf}s, build ${t_build}s, test ${t_test}s, total $(secs "$t0")s)")
}

t_all=$(date +%s)
for p in "${presets[@]}"; do
  run_stage "$p"
done

echo
echo "=== test.sh summary ($(secs "$t_all")s; logs in build/logs/)"
printf '%s\n' "${summary[@]}"
exit $failed
