#!/usr/bin/env bash
# Installs what weft's build and tests need on Debian 12 (bookworm) with the
# CUDA toolkit already under /usr/local/cuda. A fast no-op when everything is
# present: it only runs `apt-get update` / `apt-get install` for what is missing.
#
#   ./scripts/deps.sh            install what is missing
#   ./scripts/deps.sh --check    only report; exit 1 if something is missing
set -euo pipefail

# ---------------------------------------------------------------------------
# Packages weft needs. ADD NEW DEPENDENCIES HERE (Debian package names).
#
# Each entry is "package" or "package:command": with a command, the
# requirement also counts as met when that command is on PATH (a cmake or
# python3 installed outside apt, say).
WEFT_APT_PACKAGES=(
  cmake:cmake            # >= 3.25 (CMakePresets.json version 6); bookworm has 3.25.1
  g++:g++                # host compiler (C++17)
  make:make              # generator used by CMakePresets.json (Unix Makefiles)
  catch2                 # Catch2 2.13 (tests/CMakeLists.txt: find_package(Catch2 2))
  python3:python3        # small test helpers
  python3-matplotlib     # tools/plot_busbw.py (weft-sim --plot) and its test
  openmpi-bin:mpirun     # MPI bootstrap, network leg, mpirun launch tests
  libopenmpi-dev         # MPI headers/libraries (find_package(MPI))
  libgloo-dev            # Gloo all-reduce as a peer in the benchmark
  clang:clang            # libFuzzer build of the bootstrap parser fuzzer
  libclang-rt-14-dev     # libFuzzer runtime for clang 14
)
# ---------------------------------------------------------------------------

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "deps.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

pkgs=() cmds=()
for entry in "${WEFT_APT_PACKAGES[@]}"; do
  pkgs+=("${entry%%:*}")
  if [[ "$entry" == *:* ]]; then cmds+=("${entry#*:}"); else cmds+=(""); fi
done

# One dpkg-query for all packages: "name status" per installed-or-known package.
declare -A installed=()
if command -v dpkg-query >/dev/null 2>&1; then
  while read -r name state; do
    [[ "$state" == "installed" ]] && installed["${name%%:*}"]=1
  done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>/dev/null || true)
fi

missing=()
for i in "${!pkgs[@]}"; do
  p="${pkgs[$i]}" c="${cmds[$i]}"
  if [[ -n "${installed[$p]:-}" ]]; then continue; fi
  if [[ -n "$c" ]] && command -v "$c" >/dev/null 2>&1; then continue; fi
  missing+=("$p")
done

# CMakePresets.json needs cmake >= 3.25, whoever installed it.
if command -v cmake >/dev/null 2>&1; then
  v="$(cmake --version | head -n1 | awk '{print $3}')"
  if [[ "$(printf '%s\n3.25.0\n' "$v" | sort -V | head -n1)" != "3.25.0" ]]; then
    echo "deps.sh: cmake $v is older than 3.25 (CMakePresets.json needs 3.25); install a newer cmake" >&2
    [[ " ${missing[*]} " == *" cmake "* ]] || missing+=(cmake)
  fi
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps.sh: all dependencies present"
  exit 0
fi
echo "deps.sh: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: no apt-get here; install these yourself: ${missing[*]}" >&2
  exit 1
fi
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps.sh: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps.sh: installed ${missing[*]}"
