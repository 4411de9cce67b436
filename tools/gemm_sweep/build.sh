#!/usr/bin/env bash
# Builds the fp8 GEMM sweep's candidates (sweep_kernel.cu, once per SWEEP_CONFIG) into one shared library,
# build/gemm_sweep/libsweep.so, for tools/gemm_sweep.py. Same nvcc flags as the library's CUTLASS TUs
# (library/CMakeLists.txt, Release): sm_90a only, -O3 -DNDEBUG -lineinfo, C++17, --expt-relaxed-constexpr, hidden
# visibility (the sweep's C entry points are exported explicitly), plus -Xptxas -v so every TU's register use and
# spills land in its log and in build/gemm_sweep/report.txt.
#
#   tools/gemm_sweep/build.sh [-j JOBS] [CONFIG ...]    (from anywhere; default: every config, JOBS = nproc)
#
# Environment: NVCC (else PATH, else $CUDA_HOME/bin, else /usr/local/cuda/bin), CUTLASS_DIR (the include folder;
# else the nvidia-cutlass wheel of $PYTHON, else python3), OUT_DIR (default <repo>/build/gemm_sweep), FORCE=1 to
# recompile objects that are newer than their sources. Each TU takes ~4 GB of memory in cicc: -j is capped by memory.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SRC=$HERE/sweep_kernel.cu
HEADER=$REPO/library/include/kernelkit/families/cutlass_scaled_gemm.cuh
OUT_DIR=${OUT_DIR:-$REPO/build/gemm_sweep}
JOBS=$(nproc)
while getopts "j:" opt; do
  case $opt in
    j) JOBS=$OPTARG ;;
    *) echo "usage: $0 [-j JOBS] [CONFIG ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

# The configs are the ones the source defines (`#if/#elif SWEEP_CONFIG == n`), unless named on the command line.
ALL_CONFIGS=$(grep -oE '^#(el)?if SWEEP_CONFIG == [0-9]+' "$SRC" | grep -oE '[0-9]+$' | tr '\n' ' ')
CONFIGS=${*:-$ALL_CONFIGS}

NVCC=${NVCC:-$(command -v nvcc || true)}
for cand in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
  if [[ -z "$NVCC" && -x "$cand" ]]; then NVCC=$cand; fi
done
if [[ -z "$NVCC" ]]; then
  echo "gemm_sweep/build.sh: no nvcc (set NVCC, put it on PATH, or set CUDA_HOME)" >&2
  exit 1
fi
if [[ -z "${CUTLASS_DIR:-}" ]]; then
  CUTLASS_DIR=$("${PYTHON:-python3}" -c \
    "import os, cutlass_library as c; print(os.path.join(os.path.dirname(c.__file__), 'source', 'include'))" \
    2>/dev/null || true)
fi
if [[ ! -f "$CUTLASS_DIR/cutlass/cutlass.h" ]]; then
  echo "gemm_sweep/build.sh: no CUTLASS headers (pip install nvidia-cutlass==4.2.0.0 or set CUTLASS_DIR);" \
    "or pass a prebuilt library to tools/gemm_sweep.py --lib" >&2
  exit 1
fi
# cicc takes ~4 GB per GEMM TU: more jobs than the memory holds would swap or be killed.
mem_jobs=$(awk '/MemAvailable/ {j = int($2 / 4500000); print (j < 1 ? 1 : j)}' /proc/meminfo)
if ((JOBS > mem_jobs)); then JOBS=$mem_jobs; fi

FLAGS=(-std=c++17 -O3 -DNDEBUG -lineinfo --expt-relaxed-constexpr -gencode=arch=compute_90a,code=sm_90a
  --threads=1 -Xcompiler=-fPIC -Xcompiler=-fvisibility=hidden -Xptxas=-v
  -I"$REPO/library/include" -I"$REPO/library/csrc" -isystem "$CUTLASS_DIR")
mkdir -p "$OUT_DIR/obj" "$OUT_DIR/logs"
echo "gemm_sweep: $NVCC ($("$NVCC" --version | grep -oE 'release [0-9.]+')), CUTLASS $CUTLASS_DIR"
echo "gemm_sweep: configs $CONFIGS, $JOBS at a time -> $OUT_DIR/libsweep.so"

# An object is reused when it is newer than the source and the family header and was compiled by the same nvcc
# with the same flags (its .flags stamp); FORCE=1 recompiles regardless.
STAMP="$("$NVCC" --version | tail -1) ${FLAGS[*]}"
compile() {  # compile N: one object, its log (ptxas -v) and its wall time
  local n=$1 obj=$OUT_DIR/obj/sweep_$1.o log=$OUT_DIR/logs/sweep_$1.log
  if [[ "${FORCE:-0}" != 1 && -f "$obj" && "$obj" -nt "$SRC" && "$obj" -nt "$HEADER" ]] &&
    [[ "$(cat "$obj.flags" 2>/dev/null)" == "$STAMP" ]]; then
    echo "config $n: up to date"
    return 0
  fi
  local t0=$SECONDS
  if "$NVCC" "${FLAGS[@]}" -DSWEEP_CONFIG="$n" -c "$SRC" -o "$obj.tmp" >"$log" 2>&1; then
    mv "$obj.tmp" "$obj"
    echo "$STAMP" >"$obj.flags"
    echo "$((SECONDS - t0))" >"$OUT_DIR/logs/sweep_$n.seconds"
    echo "config $n: compiled in $((SECONDS - t0)) s"
  else
    rm -f "$obj.tmp"
    echo "config $n: FAILED after $((SECONDS - t0)) s (log: $log)" >&2
    tail -30 "$log" >&2
    return 1
  fi
}
failed=0
running=0
for n in $CONFIGS; do
  compile "$n" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while ((running > 0)); do
  wait -n || failed=1
  running=$((running - 1))
done
if ((failed)); then
  echo "gemm_sweep: a config failed to compile; no library linked" >&2
  exit 1
fi

objs=()
for n in $CONFIGS; do objs+=("$OUT_DIR/obj/sweep_$n.o"); done
"$NVCC" -shared -gencode=arch=compute_90a,code=sm_90a -Xlinker=--no-undefined -o "$OUT_DIR/libsweep.so.tmp" "${objs[@]}"
mv "$OUT_DIR/libsweep.so.tmp" "$OUT_DIR/libsweep.so"

# The report: per config, its name, compile time, and ptxas's registers and spills for the GEMM kernel.
{
  printf '%-7s %-26s %8s  %s\n' config name compile ptxas
  for n in $CONFIGS; do
    name=$(awk -v n="$n" '$0 ~ "^#(el)?if SWEEP_CONFIG == " n "$" {hit = 1; next}
      hit && /^#define SWEEP_NAME/ {gsub(/"/, "", $3); print $3; exit}' "$SRC")
    secs=$(cat "$OUT_DIR/logs/sweep_$n.seconds" 2>/dev/null || echo "?")
    # ptxas's lines for the GEMM (cutlass::device_kernel), not the family's small fill kernel beside it
    gemm_info=$(awk '/Function properties for _ZN7cutlass13device_kernel/ {hit = 1; next}
      hit && /bytes stack frame/ {sub(/^ +/, ""); spill = $0}
      hit && /Used [0-9]+ registers/ {match($0, /Used [0-9]+ registers/); print substr($0, RSTART, RLENGTH) "; " spill; exit}' \
      "$OUT_DIR/logs/sweep_$n.log")
    printf '%-7s %-26s %7ss  %s\n' "$n" "$name" "$secs" "${gemm_info:-no ptxas report}"
  done
  echo "libsweep.so: $(stat -c %s "$OUT_DIR/libsweep.so") bytes"
} | tee "$OUT_DIR/report.txt"
