#!/usr/bin/env bash
# PTX check for reduce_copy (sm_90): every checked kernel uses 16-byte global
# loads and stores (ld.global.v4 / st.global.v4), no local memory, and ptxas
# reports 0 bytes of spill stores and loads. Fails (exit 1) otherwise.
# usage: check_ptx.sh <nvcc> <kernels.cu> <workdir> <include dir>...
set -euo pipefail
nvcc=$1 src=$2 work=$3
shift 3
incs=()
for d in "$@"; do incs+=("-I$d"); done
mkdir -p "$work"
"$nvcc" -std=c++17 -O3 -arch=sm_90 "${incs[@]}" -ptx "$src" -o "$work/k.ptx"
"$nvcc" -std=c++17 -O3 -arch=sm_90 "${incs[@]}" -cubin -Xptxas -v "$src" -o "$work/k.cubin" 2> "$work/ptxas.txt"
fail=0
for k in rc_f32_sum2 rc_bf16_sum2 rc_bf16_sum8_dst8 rc_f32_copy; do
  body=$(awk -v k="$k" '/^\.(visible )?\.entry /{on = ($0 ~ ("entry " k "\\("))} on' "$work/k.ptx")
  if [ -z "$body" ]; then echo "FAIL $k: kernel not found in PTX"; fail=1; continue; fi
  ld=$(grep -cE 'ld\.global(\.nc)?\.v4\.(u32|b32|f32)' <<<"$body" || true)
  st=$(grep -cE 'st\.global\.v4\.(u32|b32|f32)' <<<"$body" || true)
  loc=$(grep -cE '(ld|st)\.local' <<<"$body" || true)
  line=$(awk -v k="$k" '$0 ~ ("Compiling entry function .?" k ".? for") {on=1} on && /spill stores/ {print; exit}' "$work/ptxas.txt")
  regs=$(awk -v k="$k" '$0 ~ ("Compiling entry function .?" k ".? for") {on=1} on && /Used [0-9]+ registers/ {print; exit}' "$work/ptxas.txt" | grep -oE 'Used [0-9]+ registers' || true)
  spills=$(grep -oE '[0-9]+ bytes spill stores, [0-9]+ bytes spill loads' <<<"$line" || true)
  echo "$k: ld.global.v4=$ld st.global.v4=$st local=$loc | $regs | ${spills:-no ptxas line}"
  if [ "$ld" -lt 1 ] || [ "$st" -lt 1 ]; then echo "FAIL $k: no 16-byte global load/store"; fail=1; fi
  if [ "$loc" -ne 0 ]; then echo "FAIL $k: local memory used"; fail=1; fi
  if [ -z "$spills" ] || [ "$spills" != "0 bytes spill stores, 0 bytes spill loads" ]; then echo "FAIL $k: spills or no report"; fail=1; fi
done
[ $fail -eq 0 ] && echo "PTX check passed"
exit $fail
