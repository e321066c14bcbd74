#!/usr/bin/env bash
# Checks weft-bench's output and exit codes (CTest label "bench").
#   check_weft_bench.sh <mode> <path to weft-bench> <scratch dir>
# modes:
#   table   several small runs: every row parses (13 columns, nccl-tests layout,
#           size = count * type size (* ranks for allgather/reducescatter)),
#           #wrong is 0 everywhere, the header and the footer are there
#   flags   bad command lines exit 2 with a message; --help exits 0
#   inject  --inject-error: every row with elements reports exactly 1 wrong
#           element per placement, the footer says FAILED, the exit code is 1;
#           --inject-failure: the table stops with a FAILED line naming the rank
#   mpi <mpirun> <np>       --backend mpi under mpirun -np <np>: only rank 0 prints, the
#           table parses with #wrong 0, one "Using devices" line per process, -J parses;
#           started by mpirun without --backend, the mpi backend is chosen; --ranks
#           that disagrees with -np exits 2; --backend cpu stays authoritative
#   mpi_fail <mpirun> <np>  --backend mpi: --inject-error's wrong elements (on the last
#           rank) reach rank 0's table and the exit code; --inject-failure (the last rank
#           fails) reaches rank 0's FAILED line and the exit code, without waiting out
#           the timeout
#   json    -J writes one JSON object whose rows match the table
#   alltoall --coll alltoall runs and checks clean where the library has all_to_all,
#           and otherwise exits 2 saying so
#   peers   --peers mpi,gloo --rounds 2: the side-by-side tables and JSON; a peer
#           that was not built gives exit 2 and a message naming it (then skipped, 77)
#   cuda    --backend cuda --ranks 2 -b 8 -e 1K: without a CUDA device, the one-line
#           error and exit 2 (prints "PATH no-gpu"); with one, the tables parse with
#           #wrong 0 and the header names virtual ranks of one GPU ("PATH gpu")
#   cuda_g  --backend cuda -g 1 --ranks 2 (weft::comm ranks on the GPUs of this process):
#           refusals checked before any device (--ranks not a multiple of -g) exit 2 with
#           their message; without a CUDA device, the one-line error of the -g backend and
#           exit 2 (prints "PATH no-gpu"); with one, the tables parse with #wrong 0 (every
#           collective and protocol, every all-reduce algorithm it runs, -G, -z), refused
#           algorithms are skipped up front, injected errors and failures are reported,
#           -g above the device count exits 2 naming the count ("PATH gpu")
#   plot    tools/plot_bench.py draws a PNG from weft-bench JSON and a weft-sim CSV
#           (skipped, 77, without python3-matplotlib)
set -u
mode=$1
bench=$2
dir=$3
mkdir -p "$dir"
fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

small=(-b 8 -e 64K -f 4 -n 2 -w 1 --ranks 3)
header='#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong'
units='#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)'

# check_table <output file> <ranks> <expected rows or -> <expected wrong: zero|inject>
# Prints the number of rows. Fails on any malformed line.
check_table() {
  local out=$1 n=$2 want_rows=$3 want_wrong=$4
  if ! grep -qxF -- "$header" "$out"; then fail "$out: column header missing or changed"; fi
  if ! grep -q -- "^$units *\$" "$out"; then fail "$out: unit line missing or changed"; fi
  if ! grep -qE '^# Out of bounds values : [0-9]+ (OK|FAILED)$' "$out"; then fail "$out: 'Out of bounds' footer missing"; fi
  if ! grep -qE '^# Avg bus bandwidth    : [0-9.e+-]+$' "$out"; then fail "$out: 'Avg bus bandwidth' footer missing"; fi
  if [ "$want_wrong" = zero ] && ! grep -qxF '# Out of bounds values : 0 OK' "$out"; then
    fail "$out: footer does not say 0 OK"
  fi
  if ! grep -q '^# busbw/memcpy at largest size: [0-9.]*' "$out"; then fail "$out: busbw/memcpy line missing"; fi
  # The reference copy is on the ranks' own memory: the GPU's for the cuda backends.
  local ref='one thread'
  if grep -q '^# weft-bench .* on the cuda backend' "$out"; then ref='cudaMemcpy device to device on device [0-9]+'; fi
  if ! grep -qE "^# memcpy reference \($ref, [0-9]+ bytes\):" "$out"; then fail "$out: memcpy reference ($ref) missing"; fi
  local result
  result=$(awk -v n="$n" -v want="$want_wrong" '
    BEGIN {
      ts["double"] = 8; ts["float"] = 4; ts["half"] = 2; ts["bfloat16"] = 2; ts["fp8_e4m3"] = 1; ts["fp8_e5m2"] = 1
      ts["int8"] = 1; ts["uint8"] = 1; ts["int32"] = 4; ts["uint32"] = 4; ts["int64"] = 8; ts["uint64"] = 8
      ops["sum"] = 1; ops["prod"] = 1; ops["max"] = 1; ops["min"] = 1; ops["avg"] = 1; ops["mulsum"] = 1; ops["none"] = 1
      rows = 0; bad = 0; failed = 0; coll = ""
    }
    # Table title: "# allreduce, algo ring, protocol simple, channels 1; busbw = ..."
    /^# (allreduce|allgather|reducescatter|broadcast|reduce|alltoall), algo / { coll = $2; sub(",", "", coll); next }
    /^#/ || /^$/ { next }
    {
      rows++
      if (NF != 13) { print "bad field count: " $0; bad++; next }
      if ($1 !~ /^[0-9]+$/ || $2 !~ /^[0-9]+$/) { print "bad size/count: " $0; bad++; next }
      if (!($3 in ts)) { print "bad type: " $0; bad++; next }
      if (!($4 in ops)) { print "bad redop: " $0; bad++; next }
      if ($5 !~ /^-?[0-9]+$/) { print "bad root: " $0; bad++; next }
      # A placement the collective does not have (in-place all-to-all) is N/A throughout.
      na_ip = (coll == "alltoall" && $10 == "N/A" && $11 == "N/A" && $12 == "N/A" && $13 == "N/A")
      for (i = 6; i <= 12; i++) {
        if (i == 9 || (na_ip && i >= 10)) continue
        if ($i !~ /^[0-9]+(\.[0-9]+)?(e[+-][0-9]+)?$/) { print "bad number in column " i ": " $0; bad++; next }
      }
      if ($9 !~ /^[0-9]+$/ || ($13 !~ /^[0-9]+$/ && !na_ip)) { print "bad #wrong: " $0; bad++; next }
      mult = (coll == "allgather" || coll == "reducescatter" || coll == "alltoall") ? n : 1
      if ($1 != $2 * ts[$3] * mult) { print "size != count * " ts[$3] " * " mult " (" coll "): " $0; bad++ }
      if ((coll == "allgather" || coll == "broadcast" || coll == "alltoall") && $4 != "none") { print "redop of a copy is not none: " $0; bad++ }
      if ((coll == "broadcast" || coll == "reduce") ? ($5 < 0) : ($5 != -1)) { print "bad root for " coll ": " $0; bad++ }
      if (want == "zero" && ($9 != 0 || (!na_ip && $13 != 0))) { print "wrong elements: " $0; bad++ }
      if (want == "inject") {
        expect = ($2 > 0) ? 1 : 0
        if ($9 != expect || (!na_ip && $13 != expect)) { print "injected error not counted exactly once: " $0; bad++ }
        failed += ($9 > 0) + (!na_ip && $13 > 0)
      }
    }
    END { print "ROWS " rows " BAD " bad " FAILED " failed }
  ' "$out")
  echo "$result" | grep -v '^ROWS' >&2
  local rows bad failed
  rows=$(echo "$result" | awk '/^ROWS/ {print $2}')
  bad=$(echo "$result" | awk '/^ROWS/ {print $4}')
  failed=$(echo "$result" | awk '/^ROWS/ {print $6}')
  if [ "$bad" != 0 ]; then fail "$out: $bad malformed or wrong rows"; fi
  if [ "$rows" = 0 ]; then fail "$out: no rows"; fi
  if [ "$want_rows" != - ] && [ "$rows" != "$want_rows" ]; then fail "$out: $rows rows, expected $want_rows"; fi
  if [ "$want_wrong" = inject ] && ! grep -qxF "# Out of bounds values : $failed FAILED" "$out"; then
    fail "$out: footer does not count the $failed failed results"
  fi
  echo "$rows"
}

# run <name> <expected exit code> <args...>: runs weft-bench, output in $dir/<name>.out/.err
run() {
  local name=$1 want=$2
  shift 2
  "$bench" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
  local rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$name: exit code $rc, expected $want ($bench $*)"
    cat "$dir/$name.err" >&2
  fi
}

case "$mode" in
table)
  # Every collective (all-to-all where the library has it) x 3 protocols x 7 sizes (8 B .. 32 KiB).
  run all_colls 0 "${small[@]}" --coll all --proto all
  ntab=$(grep -cE '^# (allreduce|allgather|reducescatter|broadcast|reduce|alltoall), algo ' "$dir/all_colls.out")
  [ "$ntab" -ge 15 ] || fail "all_colls: $ntab tables, expected 15 at least"
  check_table "$dir/all_colls.out" 3 $((ntab * 7)) zero >/dev/null
  # Every all-reduce algorithm the library has, with every protocol, on 3 ranks (not a
  # power of two): one table of 7 sizes per algorithm and protocol.
  # The choices only weft::comm runs (nvls, auto, direct_*) are skipped with a line.
  run algos 0 "${small[@]}" --coll allreduce --algo all --proto all
  ntab=$(grep -cE '^# allreduce, algo ' "$dir/algos.out")
  [ "$ntab" -ge 9 ] || fail "algos: $ntab tables, expected ring, rd, rhd x 3 protocols at least"
  check_table "$dir/algos.out" 3 $((ntab * 7)) zero >/dev/null
  for a in nvls auto direct_one_shot direct_two_shot direct_ll; do
    grep -q "^# skipped allreduce algo $a: " "$dir/algos.out" || fail "algos: $a is not skipped with a line"
  done
  # Every compiled type/op pair of the reductions (the header lists the others).
  run all_types 0 "${small[@]}" -e 4K -d all -o all --coll allreduce,reducescatter,reduce --proto simple,ll
  check_table "$dir/all_types.out" 3 - zero >/dev/null
  # Every root, two channels, nccl-tests flags the CPU accepts (-z -a -G -t -g).
  run roots 0 -b 8 -e 64K -f 4 -n 2 -w 1 -t 3 -g 1 --coll broadcast,reduce -r all --channels 2 --proto ll128 \
    -d int8,half -z 1 -a 1 -G 2
  check_table "$dir/roots.out" 3 84 zero >/dev/null
  grep -q 'CUDA graphs are ignored on the CPU backend' "$dir/roots.out" || fail "roots: no note about -G"
  # Linear steps (-i) and no check (-c 0: #wrong is N/A, so only the layout is checked here).
  run linear 0 -b 1K -e 4K -i 1K -n 2 -w 0 --ranks 2 -c 0
  grep -c '    N/A' "$dir/linear.out" | grep -qx 4 || fail "linear: expected 4 rows with N/A"
  grep -qE '^ +1024 +256 +float' "$dir/linear.out" || fail "linear: first size is not 1024"
  grep -qE '^ +4096 +1024 +float' "$dir/linear.out" || fail "linear: last size is not 4096"
  ;;
flags)
  n=0
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    n=$((n + 1))
    # shellcheck disable=SC2086
    "$bench" $line >"$dir/flag$n.out" 2>"$dir/flag$n.err"
    rc=$?
    if [ "$rc" != 2 ]; then fail "'weft-bench $line' exited $rc, expected 2"; fi
    if ! grep -q '^weft-bench: ' "$dir/flag$n.err"; then fail "'weft-bench $line' printed no error message"; fi
    if grep -q 'size         count' "$dir/flag$n.out"; then fail "'weft-bench $line' printed a table"; fi
  done <<'EOF'
--bogus
-x 1
stray
-b
-b 12Q
-b 100 -e 10
-n 0
-w -1
-f 0
-d float17
-o xor
-r 3 --ranks 3
-a 4
-z 2
-c -1
--coll alltoall,spiral
--algo nvls
--algo spiral
--proto ll64
--backend mpi
--backend tpu
--ranks 0
--channels 0
--timeout-ms 0
-t 2 --ranks 3
-m 2
--coll allgather --algo rd
--peers bogus
--peers
--rounds 0
--slot-bytes 100 --proto ll
--nslots 1
-R 3
-R 2
--backend cuda -R 1
EOF
  "$bench" -R 2 >"$dir/reg_cpu.out" 2>"$dir/reg_cpu.err"
  grep -qF 'weft-bench: -R 2: buffer registration applies to weft::comm ranks (--backend cuda -g N); the cpu backend has no communicator to register with' \
    "$dir/reg_cpu.err" || fail "-R 2 on the CPU backend: no refusal naming --backend cuda -g"
  "$bench" --help >"$dir/help.out" 2>&1 || fail "--help did not exit 0"
  grep -q -- '-R,--local_register' "$dir/help.out" || fail "--help does not list -R"
  grep -q -- '--inject-error' "$dir/help.out" && fail "--help shows the hidden --inject-error"
  # Not built with CUDA, or no device: exit 2 with the reason. With a device it runs
  # (CUDA graphs included) and prints a table.
  "$bench" --backend cuda -G 1 -b 8 -e 8 -n 1 -w 1 >"$dir/cuda.out" 2>"$dir/cuda.err"
  rc=$?
  if [ $rc = 2 ]; then
    grep -qE 'not built with the CUDA backend|--backend cuda: no CUDA device' "$dir/cuda.err" ||
      fail "--backend cuda -G 1 exited 2 without saying 'not built with the CUDA backend' or 'no CUDA device'"
  elif [ $rc = 0 ]; then
    grep -q 'Avg bus bandwidth' "$dir/cuda.out" || fail "--backend cuda -G 1 exited 0 without a table"
  else
    fail "--backend cuda -G 1 exited $rc"
  fi
  ;;
inject)
  run inject 1 "${small[@]}" --coll all --proto simple,ll --inject-error
  ntab=$(grep -cE '^# (allreduce|allgather|reducescatter|broadcast|reduce|alltoall), algo ' "$dir/inject.out")
  [ "$ntab" -ge 10 ] || fail "inject: $ntab tables, expected 10 at least"
  check_table "$dir/inject.out" 3 $((ntab * 7)) inject >/dev/null
  # A failed call: the table stops, the FAILED line and stderr name the rank, exit 1.
  run failure 1 --ranks 3 -b 1K -e 4K -n 2 -w 1 --inject-failure
  want='allreduce float count 256 out-of-place algo ring proto simple failed on rank 2: internal error (failure injected by --inject-failure)'
  grep -qxF "# FAILED: $want" "$dir/failure.out" || fail "failure: no FAILED line naming rank 2"
  grep -qxF "weft-bench: $want" "$dir/failure.err" || fail "failure: stderr does not name rank 2"
  grep -qE '^# Out of bounds values : 0 OK$' "$dir/failure.out" || fail "failure: footer missing"
  ;;
json)
  run json 0 "${small[@]}" --coll allreduce,allgather -J "$dir/result.json"
  rows=$(check_table "$dir/json.out" 3 14 zero)
  [ -s "$dir/result.json" ] || fail "no JSON written"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$dir/result.json" "$rows" <<'PY' || fail "JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
rows = int(sys.argv[2])
assert d["benchmark"] == "weft-bench" and d["backend"] == "cpu" and d["ranks"] == 3, d
assert d["hardware"]["cpu_model"] and d["hardware"]["logical_cpus"] >= 1
assert d["memcpy"]["bytes"] == 32768 and d["memcpy"]["gbps"] > 0
assert d["params"]["iters"] == 2 and d["params"]["colls"] == ["allreduce", "allgather"]
assert d["params"]["registration"] == 0 and d["params"]["processes"] is False, d["params"]
assert "as threads" in d["backend_description"], d["backend_description"]
assert len(d["rows"]) == rows, (len(d["rows"]), rows)
for r in d["rows"]:
    for k in ("size", "count", "type", "redop", "root", "oop", "ip"):
        assert k in r, (k, r)
    for p in ("oop", "ip"):
        assert set(r[p]) == {"time_us", "algbw", "busbw", "wrong"}, r[p]
        assert r[p]["wrong"] == 0 and r[p]["time_us"] > 0
assert len(d["busbw_over_memcpy"]) == 2
assert d["out_of_bounds"] == 0 and d["error"] is None
PY
  else
    grep -q '"rows":\[' "$dir/result.json" || fail "JSON has no rows"
  fi
  ;;
alltoall)
  "$bench" "${small[@]}" --coll alltoall --proto all >"$dir/a2a.out" 2>"$dir/a2a.err"
  rc=$?
  if [ "$rc" = 2 ]; then
    grep -q 'all-to-all is not in this build of weft' "$dir/a2a.err" || fail "alltoall: exit 2 without saying why"
    echo "alltoall: the library has no all_to_all yet; weft-bench says so"
  elif [ "$rc" = 0 ]; then
    check_table "$dir/a2a.out" 3 21 zero >/dev/null
  else
    fail "alltoall: exit code $rc"
    cat "$dir/a2a.err" >&2
  fi
  ;;
peers)
  # Two rounds, two sizes, 2 ranks: the side-by-side tables name every contender and
  # give a ratio per size; -J holds every series. Timing is not judged here.
  "$bench" --ranks 2 -b 64K -e 256K -f 4 -n 2 -w 1 --peers mpi,gloo --rounds 2 -J "$dir/peers.json" \
    >"$dir/peers.out" 2>"$dir/peers.err"
  rc=$?
  if [ "$rc" = 2 ] && grep -qE 'configured without|is not built|no mpirun' "$dir/peers.err"; then
    cat "$dir/peers.err"
    echo "peers: skipped, a peer program is missing (the message above names it)"
    exit 77
  fi
  if [ "$rc" != 0 ]; then
    fail "peers: exit code $rc"
    cat "$dir/peers.err" >&2
  fi
  check_table "$dir/peers.out" 2 2 zero >/dev/null
  grep -q '^# side by side: allreduce float sum, in-place, 2 ranks; busbw (GB/s) median of 2 round' "$dir/peers.out" ||
    fail "peers: no in-place side-by-side table"
  grep -q '^#  \[[0-9]\] openmpi MPI_Allreduce (Open MPI' "$dir/peers.out" || fail "peers: OpenMPI is not named"
  grep -q '^#  \[[0-9]\] gloo ring (Gloo ' "$dir/peers.out" || fail "peers: Gloo ring is not named"
  grep -q '^#  \[[0-9]\] gloo halving_doubling' "$dir/peers.out" || fail "peers: Gloo halving-doubling is not named"
  # In place: weft, openmpi, gloo ring, gloo halving-doubling: size, 2 for weft, 3 for each peer: 12 columns.
  n=$(awk '/^# side by side: allreduce float sum, in-place/ {t = 1; next} t && /^# +[0-9]+ / {print NF - 1; exit}' "$dir/peers.out")
  [ "$n" = 12 ] || fail "peers: in-place side-by-side row has $n columns, expected 12"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$dir/peers.json" <<'PY' || fail "peers: JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["side_by_side"]
assert s["rounds"] == 2
libs = {(x["library"], x["placement"]) for x in s["series"]}
for want in [("weft", "in-place"), ("weft", "out-of-place"), ("openmpi", "in-place"), ("openmpi", "out-of-place"),
             ("gloo", "in-place")]:
    assert want in libs, (want, libs)
assert ("gloo", "out-of-place") not in libs
for x in s["series"]:
    assert [p["size"] for p in x["points"]] == [65536, 262144], x
    for p in x["points"]:
        assert len(p["busbw_rounds"]) == 2 and p["busbw_min"] <= p["busbw_median"] <= p["busbw_max"], p
assert len(d["peer_commands"]) == 2
PY
  fi
  ;;
plot)
  # plot <python> <plot_bench.py>
  py=${4:-python3}
  script=${5:?path of plot_bench.py}
  "$bench" --ranks 2 -b 1K -e 64K -f 8 -n 2 -w 1 --proto simple,ll -J "$dir/run.json" >"$dir/run.out" 2>&1 ||
    fail "plot: weft-bench failed"
  # A small file in weft-sim's CSV layout (predicted rows).
  {
    echo "topology,collective,ranks,algo,proto,nchannels,size,count,type,time_us,algbw,busbw"
    for s in 1024 8192 65536; do
      echo "dgx-h100,allreduce,8,ring,simple,1,$s,$((s / 4)),float,10,$s.0e-5,$s.0e-5"
    done
  } >"$dir/sim.csv"
  rm -f "$dir/chart.png"
  "$py" "$script" --out "$dir/chart.png" "$dir/run.json" "$dir/sim.csv" >"$dir/plot.out" 2>&1
  rc=$?
  if [ "$rc" = 77 ]; then
    cat "$dir/plot.out"
    exit 77
  fi
  [ "$rc" = 0 ] || { fail "plot: exit code $rc"; cat "$dir/plot.out" >&2; }
  [ -s "$dir/chart.png" ] || fail "plot: no PNG written"
  head -c 8 "$dir/chart.png" | od -An -c | grep -q 'P   N   G' || fail "plot: not a PNG"
  # A file that is none of the inputs it knows is refused.
  echo '{"benchmark": "other"}' >"$dir/other.json"
  "$py" "$script" --out "$dir/bad.png" "$dir/other.json" >/dev/null 2>&1 && fail "plot: accepted foreign JSON"
  ;;
mpi_cuda)
  # --backend cuda under mpirun: one weft::comm rank per process on one GPU each.
  mpirun=${4:?path of mpirun}
  np=${5:?number of processes}
  mpi=("$mpirun" --allow-run-as-root --oversubscribe --mca btl self,vader -np "$np")
  mrun() { # mrun <name> <args...>: sets rc
    local name=$1
    shift
    "${mpi[@]}" "$bench" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
    rc=$?
  }
  # Refused by the command line, once (rank 0 speaks), exit 2:
  mrun mc_g --backend cuda -g 2
  [ "$rc" != 0 ] || fail "mpi_cuda -g 2: exit code 0"
  [ "$(grep -cF -- '-t/-g: under mpirun each process is one rank on one GPU (-g 1)' "$dir/mc_g.err")" = 1 ] ||
    fail "mpi_cuda -g 2: no single refusal"
  mrun mc_ranks --backend cuda --ranks $((np + 1))
  [ "$(grep -cF "but mpirun started $np processes" "$dir/mc_ranks.err")" = 1 ] || fail "mpi_cuda --ranks: no single refusal"
  mrun mc_peers --backend cuda --peers mpi
  grep -qF -- '--peers starts the peers from one weft-bench process' "$dir/mc_peers.err" || fail "mpi_cuda --peers: not refused"
  mrun mc -b 8 -e 4K -f 8 -n 2 -w 1 --backend cuda --coll allreduce,allgather --proto simple,ll
  if grep -q -- '--backend cuda: no CUDA device' "$dir/mc.err"; then
    echo "mpi_cuda: PATH no-gpu (no CUDA device: checked the refusals and the one-line error, said once, exit 2)"
    [ "$rc" != 0 ] || fail "mpi_cuda no device: exit code 0"
    [ "$(grep -c 'no CUDA device' "$dir/mc.err")" = 1 ] || fail "mpi_cuda no device: not said exactly once"
    grep -qF 'under mpirun runs one weft::comm rank per process on a CUDA device' "$dir/mc.err" ||
      fail "mpi_cuda no device: the message is not the process backend's"
    grep -q 'size         count' "$dir/mc.out" && fail "mpi_cuda no device: printed a table"
  else
    echo "mpi_cuda: PATH gpu (a CUDA device: checked the header, rank lines and #wrong 0)"
    [ "$rc" = 0 ] || { fail "mpi_cuda: exit code $rc"; cat "$dir/mc.err" >&2; }
    [ "$(grep -c '^# weft-bench ' "$dir/mc.out")" = 1 ] || fail "mpi_cuda: not one header (rank 0 prints alone)"
    grep -qF "on the cuda backend, $np ranks as processes under mpirun, one GPU each" "$dir/mc.out" ||
      fail "mpi_cuda: the header does not say $np processes, one GPU each"
    [ "$(grep -cE '^#  Rank +[0-9]+ Group +0 Pid +[0-9]+ on .* weft::comm rank [0-9]+ of '"$np"', process' "$dir/mc.out")" = "$np" ] ||
      fail "mpi_cuda: not $np process rank lines"
    check_table "$dir/mc.out" "$np" 16 zero >/dev/null
    mrun mc_r2 -b 8 -e 64K -f 8 -n 2 -w 1 --backend cuda -R 2 --coll all -G 1
    [ "$rc" = 0 ] || { fail "mpi_cuda -R 2: exit code $rc"; cat "$dir/mc_r2.err" >&2; }
    grep -qF 'symmetric memory (-R 2)' "$dir/mc_r2.out" || fail "mpi_cuda -R 2: the header does not say so"
    check_table "$dir/mc_r2.out" "$np" - zero >/dev/null
    mrun mc_fail -b 1K -e 4K -n 2 -w 1 --backend cuda --inject-failure
    grep -qF "failed on rank $((np - 1))" "$dir/mc_fail.out" || fail "mpi_cuda --inject-failure: no FAILED line naming the last rank"
  fi
  ;;
mpi | mpi_fail)
  mpirun=${4:?path of mpirun}
  np=${5:?number of processes}
  mpi=("$mpirun" --allow-run-as-root --oversubscribe --mca btl self,vader -np "$np")
  # mpirun_bench <name> <expected exit code: 0 or nonzero> <args...>
  mpirun_bench() {
    local name=$1 want=$2
    shift 2
    "${mpi[@]}" "$bench" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
    local rc=$?
    if { [ "$want" = 0 ] && [ "$rc" != 0 ]; } || { [ "$want" != 0 ] && [ "$rc" = 0 ]; }; then
      fail "$name: exit code $rc, expected $want (mpirun -np $np $bench $*)"
      cat "$dir/$name.err" >&2
    fi
  }
  # only_rank0 <name>: one header, one footer: the other processes printed nothing.
  only_rank0() {
    local h f
    h=$(grep -c '^# weft-bench ' "$dir/$1.out")
    f=$(grep -c '^# Out of bounds values' "$dir/$1.out")
    [ "$h" = 1 ] && [ "$f" = 1 ] || fail "$1: $h headers and $f footers, expected one each (rank 0 prints alone)"
  }
  if [ "$mode" = mpi ]; then
    # All-reduce and all-gather, Simple and LL, 8 B .. 4 KiB: 4 tables of 4 sizes.
    mpirun_bench mpi 0 --backend mpi -b 8 -e 4K -f 8 -n 2 -w 1 --coll allreduce,allgather --proto simple,ll \
      -J "$dir/mpi.json"
    only_rank0 mpi
    check_table "$dir/mpi.out" "$np" 16 zero >/dev/null
    grep -qE "^# weft-bench [^ ]+: allreduce,allgather on the mpi backend, $np ranks as processes under mpirun" \
      "$dir/mpi.out" || fail "mpi: the header does not name the mpi backend and $np processes"
    grep -qE "^# nThread 1 nGpus 1 " "$dir/mpi.out" || fail "mpi: header is not 'nThread 1 nGpus 1'"
    devs=$(grep -cE '^#  Rank +[0-9]+ Group +0 Pid +[0-9]+ on .* device +[0-9]+ \[cpu\] host process, ' "$dir/mpi.out")
    pids=$(sed -n 's/^#  Rank .* Pid *\([0-9]*\) on .*/\1/p' "$dir/mpi.out" | sort -u | grep -c .)
    [ "$devs" = "$np" ] && [ "$pids" = "$np" ] || fail "mpi: $devs device lines with $pids pids, expected $np each"
    if command -v python3 >/dev/null 2>&1; then
      python3 - "$dir/mpi.json" "$np" <<'PY' || fail "mpi: JSON check failed"
import json, sys
d = json.load(open(sys.argv[1]))
np = int(sys.argv[2])
assert d["backend"] == "mpi" and d["ranks"] == np, (d["backend"], d["ranks"])
assert d["params"]["colls"] == ["allreduce", "allgather"] and d["params"]["protos"] == ["simple", "ll"]
assert len(d["rows"]) == 16, len(d["rows"])
for r in d["rows"]:
    for p in ("oop", "ip"):
        assert r[p]["wrong"] == 0 and r[p]["time_us"] > 0, r
assert d["out_of_bounds"] == 0 and d["error"] is None and d["scratch_bytes"] > 0
PY
    else
      grep -q '"backend":"mpi"' "$dir/mpi.json" || fail "mpi: JSON does not name the mpi backend"
    fi
    # Started by mpirun, no --backend: one rank per process. Every root of broadcast,
    # reduce-scatter with LL128: np + 1 rows.
    mpirun_bench auto 0 -b 1K -e 1K -n 2 -w 1 --coll broadcast,reducescatter -r all --proto ll128
    only_rank0 auto
    grep -q "on the mpi backend, $np ranks as processes" "$dir/auto.out" || fail "auto: mpirun did not select the mpi backend"
    check_table "$dir/auto.out" "$np" $((np + 1)) zero >/dev/null
    # --ranks that disagrees with mpirun: a bad command line, said once.
    mpirun_bench ranks 2 --backend mpi --ranks $((np + 1))
    [ "$(grep -c 'but mpirun started' "$dir/ranks.err")" = 1 ] || fail "ranks: no single message about --ranks"
    # An explicit --backend cpu under mpirun is obeyed: every process runs its own threads.
    mpirun_bench cpu 0 --backend cpu --ranks 2 -b 64 -e 64 -n 1 -w 0
    [ "$(grep -c '^# weft-bench .* on the cpu backend, 2 ranks as threads' "$dir/cpu.out")" = "$np" ] ||
      fail "cpu: --backend cpu under mpirun did not run $np CPU-team benchmarks"
  else
    # Wrong elements on the last rank reach rank 0's table: exactly 1 per placement and row.
    mpirun_bench inject 1 --backend mpi -b 8 -e 4K -f 8 -n 1 -w 0 --coll allreduce,allgather,reduce --inject-error
    only_rank0 inject
    check_table "$dir/inject.out" "$np" 12 inject >/dev/null
    # A failed call on the last rank: rank 0 names it, every process stops at once
    # (well before the 20 s timeout), the exit code says so.
    t0=$(date +%s)
    mpirun_bench failure 1 --backend mpi -b 1K -e 4K -n 2 -w 1 --timeout-ms 20000 --inject-failure
    t1=$(date +%s)
    only_rank0 failure
    want="allreduce float count 256 out-of-place algo ring proto simple failed on rank $((np - 1)): internal error (failure injected by --inject-failure)"
    grep -qxF "# FAILED: $want" "$dir/failure.out" || fail "failure: no FAILED line naming rank $((np - 1))"
    [ "$(grep -cxF "weft-bench: $want" "$dir/failure.err")" = 1 ] || fail "failure: stderr does not name rank $((np - 1)) once"
    grep -qE '^ +[0-9]+ ' "$dir/failure.out" && fail "failure: a row was printed after the failure"
    [ $((t1 - t0)) -lt 15 ] || fail "failure: took $((t1 - t0)) s; the ranks waited out the timeout"
  fi
  ;;
cuda)
  # --backend cuda (a weft-bench built with WEFT_ENABLE_CUDA): virtual ranks on one GPU.
  # Without a CUDA device: one clear line on stderr, nothing on stdout, exit 2.
  # With one: every row parses in nccl-tests' layout with #wrong 0, the header
  # says the ranks are partitions of one GPU, and -G runs the timed iterations as a CUDA graph.
  "$bench" --backend cuda --ranks 2 -b 8 -e 1K >"$dir/cuda.out" 2>"$dir/cuda.err"
  rc=$?
  if grep -q -- '--backend cuda: no CUDA device' "$dir/cuda.err"; then
    echo "cuda: PATH no-gpu (no CUDA device here: checked the one-line error and exit 2)"
    [ "$rc" = 2 ] || fail "no CUDA device: exit code $rc, expected 2"
    [ "$(wc -l <"$dir/cuda.err")" = 1 ] || fail "no CUDA device: stderr is not one line"
    [ -s "$dir/cuda.out" ] && fail "no CUDA device: something was printed on stdout"
  else
    echo "cuda: PATH gpu (a CUDA device: checked the table and #wrong 0)"
    [ "$rc" = 0 ] || { fail "--backend cuda --ranks 2: exit code $rc, expected 0"; cat "$dir/cuda.err" >&2; }
    grep -q '^# weft-bench .* on the cuda backend, 2 virtual ranks as partitions of one GPU' "$dir/cuda.out" ||
      fail "cuda: the description does not say the ranks are partitions of one GPU"
    [ "$(grep -cE '^#  Rank  [01] Group  0 Pid .* device  0 \[cuda\] .*, virtual rank [01] of 2$' "$dir/cuda.out")" = 2 ] ||
      fail "cuda: not two 'device 0 [cuda] ..., virtual rank k of 2' rank lines"
    # 8 B .. 1 KiB, factor 2 (the default -f): 8 sizes of allreduce.
    check_table "$dir/cuda.out" 2 8 zero >/dev/null
    run cuda_all 0 --backend cuda --ranks 3 -b 8 -e 4K -f 4 -n 2 -w 1 --coll all --proto all -d float
    check_table "$dir/cuda_all.out" 3 - zero >/dev/null
    run cuda_algos 0 --backend cuda --ranks 4 -b 8 -e 4K -f 4 -n 2 -w 1 --algo all --proto all -d half
    check_table "$dir/cuda_algos.out" 4 - zero >/dev/null
    run cuda_inject 1 --backend cuda --ranks 2 -b 8 -e 64 -f 2 -n 1 -w 1 --inject-error
    check_table "$dir/cuda_inject.out" 2 - inject >/dev/null
    # -G: the timed iterations as one CUDA graph, launched twice (the tree's connections are made in the warm-up).
    run cuda_graph 0 --backend cuda --ranks 3 -b 8 -e 64K -f 8 -n 3 -w 1 -G 2 --algo ring,tree
    grep -q '^# nThread 1 nGpus 1 .* graph: 2$' "$dir/cuda_graph.out" || fail "cuda_graph: the header does not say graph: 2"
    grep -q '^# -G 2: the 3 timed iterations' "$dir/cuda_graph.out" || fail "cuda_graph: no -G line"
    check_table "$dir/cuda_graph.out" 3 - zero >/dev/null
    run cuda_graph_colls 0 --backend cuda --ranks 2 -b 8 -e 4K -f 8 -n 2 -w 1 -G 1 --coll allgather,reducescatter,broadcast
    check_table "$dir/cuda_graph_colls.out" 2 - zero >/dev/null
  fi
  ;;
cuda_g)
  # --backend cuda -g N: N GPUs driven by this process, --ranks weft::comm ranks on them.
  # Refused by the command line, before any device is looked at (every CUDA build):
  run g_multiple 2 --backend cuda -g 2 --ranks 3
  grep -qxF 'weft-bench: --ranks 3 is not a multiple of -g 2 (under --backend cuda -g every GPU gets the same number of ranks)' \
    "$dir/g_multiple.err" || fail "--ranks 3 -g 2: no 'not a multiple of -g' message"
  [ -s "$dir/g_multiple.out" ] && fail "--ranks 3 -g 2: something was printed on stdout"
  run g_tg 2 --backend cuda -t 2 -g 2 --ranks 5
  grep -qF -- '--ranks 5 is not a multiple of -g 2' "$dir/g_tg.err" || fail "-t 2 -g 2 --ranks 5: not refused as not a multiple"
  # On the CPU backend -t/-g still give the rank count (t*g), so --ranks 4 with -g 1 is refused there:
  run g_cpu 2 -g 1 --ranks 4
  grep -qF -- '-t/-g give 1 ranks but --ranks says 4' "$dir/g_cpu.err" || fail "--backend cpu -g 1 --ranks 4: not refused"

  "$bench" --backend cuda -g 1 --ranks 2 -b 8 -e 1K >"$dir/cuda_g.out" 2>"$dir/cuda_g.err"
  rc=$?
  if grep -q -- '--backend cuda: no CUDA device' "$dir/cuda_g.err"; then
    echo "cuda_g: PATH no-gpu (no CUDA device here: checked the refusals, the one-line error and exit 2)"
    [ "$rc" = 2 ] || fail "no CUDA device: exit code $rc, expected 2"
    [ "$(wc -l <"$dir/cuda_g.err")" = 1 ] || fail "no CUDA device: stderr is not one line"
    grep -qF -- '-g runs weft::comm ranks on CUDA devices' "$dir/cuda_g.err" ||
      fail "no CUDA device: the message is not the -g backend's (was -g ignored?)"
    [ -s "$dir/cuda_g.out" ] && fail "no CUDA device: something was printed on stdout"
    run g_many_nodev 2 --backend cuda -g 4096 --ranks 4096
    grep -q -- '--backend cuda: no CUDA device' "$dir/g_many_nodev.err" || fail "-g 4096 without a device: no 'no CUDA device' line"
  else
    echo "cuda_g: PATH gpu (a CUDA device: checked the tables, #wrong 0, -G, -z and the refusals)"
    [ "$rc" = 0 ] || { fail "--backend cuda -g 1 --ranks 2: exit code $rc, expected 0"; cat "$dir/cuda_g.err" >&2; }
    grep -qF 'on the cuda backend, 2 ranks on 1 GPU(s) in one process, weft::comm stream-ordered API (ranks share a GPU: partitions of one device' \
      "$dir/cuda_g.out" || fail "cuda_g: the description does not say 2 weft::comm ranks share 1 GPU"
    [ "$(grep -cE '^#  Rank  [01] Group  0 Pid .* device  0 \[0x[0-9a-f]+\] .*, weft::comm rank [01] of 2, 2 ranks share this GPU$' "$dir/cuda_g.out")" = 2 ] ||
      fail "cuda_g: not two 'device 0 [0x..] ..., weft::comm rank k of 2' rank lines"
    grep -q '^# nThread 1 nGpus 1 .* graph: 0$' "$dir/cuda_g.out" || fail "cuda_g: nccl-tests' nThread/nGpus line"
    grep -q "^# time: .*CUDA events on the rank's own stream" "$dir/cuda_g.out" || fail "cuda_g: the time line does not say CUDA events per rank"
    check_table "$dir/cuda_g.out" 2 8 zero >/dev/null
    # Every collective (all-to-all included) with every protocol, 3 ranks on one GPU.
    run g_all 0 --backend cuda -g 1 --ranks 3 -b 8 -e 4K -f 4 -n 2 -w 1 --coll all --proto all -d float
    ntab=$(grep -cE '^# (allreduce|allgather|reducescatter|broadcast|reduce|alltoall), algo ' "$dir/g_all.out")
    [ "$ntab" = 18 ] || fail "g_all: $ntab tables, expected 18 (6 collectives x 3 protocols)"
    check_table "$dir/g_all.out" 3 $((ntab * 5)) zero >/dev/null
    # Every all-reduce algorithm weft::comm runs (ring, recursive_doubling, rabenseifner, tree); the others
    # are skipped up front with a header line, never a FAILED line.
    run g_algos 0 --backend cuda -g 1 --ranks 4 -b 8 -e 4K -f 4 -n 2 -w 1 --algo all --proto all -d half
    ntab=$(grep -cE '^# allreduce, algo (ring|recursive_doubling|rabenseifner|tree), ' "$dir/g_algos.out")
    [ "$ntab" = 12 ] || fail "g_algos: $ntab allreduce tables of ring/rd/rhd/tree, expected 12 (4 algorithms x 3 protocols)"
    check_table "$dir/g_algos.out" 4 - zero >/dev/null
    grep -q '^# skipped allreduce algo rank_order: ' "$dir/g_algos.out" || fail "g_algos: rank_order is not skipped with a line"
    run g_coll_algo 0 --backend cuda -g 1 --ranks 2 -b 8 -e 256 -f 4 -n 1 -w 1 --coll all --algo all
    grep -q '^# FAILED' "$dir/g_coll_algo.out" && fail "g_coll_algo: --coll all --algo all has a FAILED line"
    grep -q '^# skipped allgather algo hierarchical: ' "$dir/g_coll_algo.out" || fail "g_coll_algo: hierarchical allgather not skipped with a line"
    check_table "$dir/g_coll_algo.out" 2 - zero >/dev/null
    # An algorithm named on the command line that weft::comm does not run: exit 2 before the table.
    run g_refused 2 --backend cuda -g 1 --ranks 2 --algo rank_order
    grep -qF 'rank_order allreduce is not in weft::comm' "$dir/g_refused.err" || fail "--algo rank_order: no refusal message"
    grep -q 'size         count' "$dir/g_refused.out" && fail "--algo rank_order: printed a table"
    # auto (the communicator's own policy) and the direct flavours over its window, one table each.
    run g_auto 0 --backend cuda -g 1 --ranks 2 -b 8 -e 32K -f 16 -n 2 -w 1 --proto all \
      --algo auto,direct_one_shot,direct_two_shot,direct_ll
    ntab=$(grep -cE '^# allreduce, algo (auto, protocol auto|direct_(one_shot|two_shot|ll), protocol own), ' "$dir/g_auto.out")
    [ "$ntab" = 4 ] || fail "g_auto: $ntab tables, expected 4 (auto and three direct flavours, one per --proto list)"
    grep -q '^# allreduce, algo auto, protocol auto, channels auto; ' "$dir/g_auto.out" || fail "g_auto: auto's title does not say channels auto"
    check_table "$dir/g_auto.out" 2 $((ntab * 4)) zero >/dev/null
    # -R 1: buffers registered with the communicators; -R 2: symmetric memory (no multicast on a shared GPU, named).
    run g_reg1 0 --backend cuda -g 1 --ranks 2 -b 8 -e 64K -f 8 -n 2 -w 1 -R 1 --coll allreduce,allgather,reducescatter
    grep -qF 'device memory registered with the communicators (-R 1)' "$dir/g_reg1.out" || fail "g_reg1: the header does not say -R 1"
    check_table "$dir/g_reg1.out" 2 - zero >/dev/null
    run g_reg2 0 --backend cuda -g 1 --ranks 2 -b 8 -e 64K -f 8 -n 2 -w 1 -R 2 --coll all -G 1
    grep -qF 'symmetric memory (-R 2), no multicast (' "$dir/g_reg2.out" || fail "g_reg2: the header does not say -R 2 without multicast"
    check_table "$dir/g_reg2.out" 2 - zero >/dev/null
    # nvls needs one rank per GPU behind an NVSwitch: ranks sharing a GPU are refused up front.
    run g_nvls 2 --backend cuda -g 1 --ranks 2 --algo nvls
    grep -qF 'nvls: no multicast window' "$dir/g_nvls.err" || fail "--algo nvls: no refusal naming the multicast window"
    # -G: each rank's timed iterations as a CUDA graph, launched twice; -z: every stream synchronised after each.
    run g_graph 0 --backend cuda -g 1 --ranks 2 -b 8 -e 64K -f 8 -n 3 -w 1 -G 2 --coll allreduce,allgather,alltoall --algo ring
    grep -q '^# nThread 1 nGpus 1 .* graph: 2$' "$dir/g_graph.out" || fail "g_graph: the header does not say graph: 2"
    grep -q '^# -G 2: the 3 timed iterations' "$dir/g_graph.out" || fail "g_graph: no -G line"
    check_table "$dir/g_graph.out" 2 - zero >/dev/null
    run g_graph_algos 0 --backend cuda -g 1 --ranks 4 -b 8 -e 4K -f 8 -n 2 -w 1 -G 1 --algo all --proto ll,simple -d bfloat16
    check_table "$dir/g_graph_algos.out" 4 - zero >/dev/null
    run g_block 0 --backend cuda -g 1 --ranks 2 -b 8 -e 4K -f 8 -n 2 -w 1 -z 1 --coll reducescatter,broadcast,reduce -r all
    check_table "$dir/g_block.out" 2 - zero >/dev/null
    # An injected wrong element is counted; an injected failure stops the table naming the rank.
    run g_inject 1 --backend cuda -g 1 --ranks 2 -b 8 -e 64 -f 2 -n 1 -w 1 --coll allreduce,allgather --inject-error
    check_table "$dir/g_inject.out" 2 - inject >/dev/null
    run g_fail 1 --backend cuda -g 1 --ranks 3 -b 1K -e 4K -n 2 -w 1 --inject-failure
    grep -qxF '# FAILED: allreduce float count 256 out-of-place algo ring proto simple failed on rank 2: internal error (failure injected by --inject-failure)' \
      "$dir/g_fail.out" || fail "g_fail: no FAILED line naming rank 2"
    # More GPUs than this machine has: one line naming how many it has, exit 2.
    run g_many 2 --backend cuda -g 4096 --ranks 4096
    grep -qE -- '^weft-bench: --backend cuda: -g 4096: this machine has [0-9]+ CUDA devices? ' "$dir/g_many.err" ||
      fail "-g 4096: no line naming the device count"
    [ "$(wc -l <"$dir/g_many.err")" = 1 ] || fail "-g 4096: stderr is not one line"
  fi
  ;;
*)
  echo "unknown mode $mode" >&2
  exit 2
  ;;
esac

if [ "$fails" != 0 ]; then
  echo "$mode: $fails check(s) failed" >&2
  exit 1
fi
echo "$mode: ok"
