#!/usr/bin/env bash
# On the GPU machine (device tool), in one call:
#   0. (focus) FOCUS_TESTS first, one process, with tracebacks;
#   1. the .so built on the CPU machine (torch 2.13 CPU build) passes the GPU tests (ops and sgl-kernel compat)
#      under torch 2.11+cu130;
#   2. `make build` and `make test` from scratch there (the README's two commands, no network);
#   3. each `kernelkit new` template, unedited, builds and passes its generated GPU tests (in a copy);
#   4. `kernelkit init` + one op per template: make test passes in the new project;
#   5. the FP4 build (kernelkit build --fp4) and the FP4 ops' GPU tests (what follows then has FP4);
#   6. kernelkit bench --save --plot of the library's ops against the committed results, then again
#      compared to the first run;
#   5b. (archguard) a copy built for sm_100a refuses to import on the H100 with the arch guard's message;
#   5c. (wheel) the kernelkit-ops wheel (carried in dist/, else built) installed alone with torch runs ops;
#   6b. (benchnew) kernelkit bench --save of only the ops in BENCH_OPS;
#   6b'. (benchgroups) the same per group of BENCH_GROUPS, one results file and a time bound each;
#   6b''. (awaiting) the same for the ops listed as awaiting their first device run;
#   6c. (peer) FlashInfer's kernels side by side (.peer/ carried; PEER_ARGS e.g. --ops rope);
#   7. eager host time per call (tools/eager_overhead.py), and of a carried earlier build in .ab/old-python.
#   7'. (sweep) fp8_scaled_mm's large-M tile/cluster/schedule candidates and scheduler knobs side by side
#      (tools/gemm_sweep.py; carry build/gemm_sweep/libsweep.so from tools/gemm_sweep/build.sh, else it is built here,
#      which needs the CUTLASS headers; SWEEP_ARGS narrows it, e.g. "--m 4096 --no-knobs"); runs before `build`,
#      which deletes build/;
#   7a. (upstream) sgl-kernel's own test files (.upstream/sgl-kernel-tests, carried) with `sgl_kernel` aliased to us;
#   7b. (overlap) a KV transfer over PCIe while the GPU computes: bandwidth and the compute's slowdown (issue 25);
#   7c. (allreduce-multi) issue 27's table: the custom all-reduce against NCCL inside CUDA graphs, one rank per GPU
#      (tools/allreduce_bench.py), for 2 GPUs and 4 / 8 where visible, each bounded, JSON + table in $OUT
#      (allreduce-w<N>.json/.md); skipped with a message on fewer than 2 GPUs. ALLREDUCE_BUDGET_S (default 80) is each
#      world's measuring budget, ALLREDUCE_ARGS adds options (e.g. "--sizes 8K,64K");
#   8. (profile) kernelkit profile --save of a norm and a quant op (PROFILE_OPS), reports under $OUT/profiles;
#   9. (sanitize) kernelkit sanitize --tool memcheck over every op (SANITIZE_JOBS at a time with SANITIZE_TEST_WORKERS
#      xdist workers each, SANITIZE_OP_TIMEOUT per
#      op, the step bounded by STEP_TIMEOUT), the summary and the logs under $OUT/sanitize.
# Logs and results under $OUT. Carry library/python/kernelkit_ops/_kernelkit_ops.so and .whl/.
set -uo pipefail
export PYTHONUNBUFFERED=1
# Logs and results go to a scratch folder and come back as one archive (the device returns few files).
RESULTS=${OUT:-/tmp/kernelkit-gpu}
OUT=/tmp/kernelkit-gpu-run
rm -rf "$OUT" && mkdir -p "$OUT" "$RESULTS"
cd "$(dirname "$0")/.."
REPO=$PWD
summary=()
step() {  # step NAME CMD...: run, log to $OUT/NAME.log, remember the verdict
  local name=$1; shift
  echo "=== $name: $*"
  local t0=$SECONDS
  # STEP_TIMEOUT (seconds, 0 = none) bounds each step, so one slow step cannot cost the later ones their turn
  timeout "${STEP_TIMEOUT:-0}" "$@" > >(tee "$OUT/$name.log") 2>&1
  local rc=$?
  sleep 0.2
  summary+=("$(printf '%-24s rc=%-3s %4ss  %s' "$name" "$rc" "$((SECONDS - t0))" "$(grep -aE '[0-9]+ (passed|failed)|check passed|built in|of the ceiling|sanitizer error|allreduce_bench: summary' "$OUT/$name.log" | tail -1 | cut -c1-110)")")
  # the archive after every step: a run cut short by the device's limit still returns what finished
  printf '%s\n' "${summary[@]}" > "$OUT/summary.txt"
  tar -czf "$RESULTS/gpu-check.tgz" -C "$OUT" .
  return "$rc"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/env.log"
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda)" | tee -a "$OUT/env.log"
if compgen -G ".whl/*.whl" >/dev/null; then  # wheels the machine lacks (no network there)
  python3 -m pip install -q --no-index --no-deps --no-compile .whl/*.whl 2>&1 | tail -2
fi

PHASES=${PHASES:-carried eager build test fp4 generated init bench}
# --dist load, not loadfile: one file (test_sgl_per_token_group_quant_8bit.py, ~2000 GPU tests) held one worker
# for the last minutes of a 14-worker run while the other 13 idled (session 16)
XDIST=${XDIST:--n 14 --dist load}

if [[ " $PHASES " == *" focus "* && -f library/python/kernelkit_ops/_kernelkit_ops.so ]]; then
  # FOCUS_TESTS: a few test files or node ids run first, one process, with their failures' tracebacks (a full
  # carried run bounded by the device's time may end before pytest prints them)
  step focus env PYTHONPATH="$REPO:$REPO/library/python" python3 -m pytest ${FOCUS_TESTS:?FOCUS_TESTS names the tests} \
    -m gpu -q --tb=short -p no:cacheprovider
fi

if [[ " $PHASES " == *" carried "* && -f library/python/kernelkit_ops/_kernelkit_ops.so ]]; then
  # what the carried build has (FP4, CUTLASS, archs): `make test` rebuilds the default build, so an FP4 build must
  # come after it on the CPU machine, or the FP4 tests skip here
  grep -ao 'KERNELKIT_FEATURES:[a-z0-9=,+]*' library/python/kernelkit_ops/_kernelkit_ops.so | head -1 | tee -a "$OUT/env.log"
  step carried-gpu-tests env PYTHONPATH="$REPO:$REPO/library/python" python3 -m pytest tests/ops tests/compat -m gpu -v -p no:cacheprovider $XDIST
fi

if [[ " $PHASES " == *" eager "* && -f library/python/kernelkit_ops/_kernelkit_ops.so ]]; then
  step eager env PYTHONPATH="$REPO:$REPO/library/python" python3 tools/eager_overhead.py --out "$OUT/eager"
  if [[ -d .ab/old-python/kernelkit_ops ]]; then  # the same script against an earlier build's package
    step eager-old env PYTHONPATH="$REPO:$REPO/.ab/old-python" python3 tools/eager_overhead.py --out "$OUT/eager-old"
  fi
fi

if [[ " $PHASES " == *" sweep "* ]]; then
  # fp8_scaled_mm's configuration sweep (before `build`, which deletes build/ and the carried sweep library with it);
  # with the carried kernelkit_ops .so, the library's own fp8_scaled_mm is timed beside the candidates
  sweep_lib=build/gemm_sweep/libsweep.so
  if [[ ! -f "$sweep_lib" ]]; then step gemm-sweep-build bash tools/gemm_sweep/build.sh; fi
  step gemm-sweep env PYTHONPATH="$REPO:$REPO/library/python" python3 tools/gemm_sweep.py --lib "$sweep_lib" \
    --json "$OUT/gemm-sweep.json" ${SWEEP_ARGS:-}
  cp build/gemm_sweep/report.txt "$OUT/gemm-sweep-build-report.txt" 2>/dev/null
fi

if [[ " $PHASES " == *" build "* ]]; then
  rm -rf build library/python/kernelkit_ops/_kernelkit_ops*.so
  step make-build make build
fi
if [[ " $PHASES " == *" test "* ]]; then
  step make-test bash -c 'time make test'
fi
py=$(python3 tools/bootstrap.py 2>/dev/null)
if [[ " $PHASES " == *" fp4 "* ]]; then
  step fp4-build "$py" -m kernelkit build --fp4
  step fp4-gpu-tests env PYTHONPATH="$REPO:$REPO/library/python" "$py" -m pytest tests/ops/quantization/test_scaled_fp4_quant.py tests/ops/quantization/test_scaled_fp4_grouped_quant.py tests/ops/quantization/test_silu_and_mul_scaled_fp4_grouped_quant.py tests/compat/test_fp4_compat.py tests/compat/test_fp4_grouped_compat.py tests/ops/gemm/test_cutlass_scaled_fp4_mm.py tests/compat/test_fp4_gemm_compat.py -m gpu -q -p no:cacheprovider
fi
step doctor "$py" -m kernelkit doctor

if [[ " $PHASES " == *" generated "* ]]; then
  gen=/tmp/kk-generated; rm -rf "$gen"; mkdir -p "$gen"
  # the tree as it arrived (the device gets no .git), without build outputs
  tar -C "$REPO" --exclude=./build --exclude=./.whl --exclude='*.so' --exclude=__pycache__ -cf - . | tar -C "$gen" -xf -
  (
    cd "$gen" || exit 1
    "$py" -m kernelkit new gen_scale --category generated >/dev/null &&
    "$py" -m kernelkit new gen_rownorm --category generated --template rowwise >/dev/null &&
    "$py" -m kernelkit new gen_custom --category generated \
      --schema "gen_custom(Tensor! out, Tensor x, Tensor? bias, int[] dims, float alpha, bool flag=False) -> ()" >/dev/null &&
    "$py" -m kernelkit new gen_like_rmsnorm --like rmsnorm >/dev/null
  ) && step generated-build bash -c "cd $gen && '$py' -m kernelkit build" \
    && step generated-check bash -c "cd $gen && '$py' -m kernelkit check" \
    && step generated-tests bash -c "cd $gen && PYTHONPATH=$gen/library/python '$py' -m kernelkit test gen_scale gen_rownorm gen_custom gen_like_rmsnorm" \
    && step generated-remove bash -c "cd $gen && for op in gen_scale gen_rownorm gen_custom gen_like_rmsnorm; do '$py' -m kernelkit remove \$op --yes >/dev/null || exit 1; done; diff -r -q -x build -x __pycache__ -x '*.so' -x .whl -x compile_commands.json -x .pytest_cache -x .benchmarks $REPO $gen && echo 'remove restored the tree'"
fi

if [[ " $PHASES " == *" init "* ]]; then
  proj=/tmp/kk-init/mylib; rm -rf /tmp/kk-init; mkdir -p /tmp/kk-init
  step init "$py" -m kernelkit init "$proj" --name mylib
  (
    cd "$proj" || exit 1
    "$py" -m kernelkit new my_scale --category demo >/dev/null &&
    "$py" -m kernelkit new my_rownorm --category demo --template rowwise --dtypes bf16,fp32 >/dev/null &&
    "$py" -m kernelkit new my_custom --category demo --schema "(Tensor! out, Tensor input, float eps=1e-06) -> ()" >/dev/null
  ) && step init-make-test bash -c "cd $proj && make test"
fi

if [[ " $PHASES " == *" archguard "* ]]; then
  # The import-time arch guard on the real GPU (issue 26): a copy built for sm_100a only must refuse to import on
  # this H100, naming compute capability 9.0, the build's archs and `kernelkit build --arch 100a,90a`; with
  # KERNELKIT_SKIP_ARCH_CHECK=1 it imports and the first launch fails instead (tools/archguard_probe.py). Then the
  # guard's own tests against the real NVML and driver (tests/cli/test_arch_guard.py, its GPU test included),
  # with the tree's own build (the GPU's arch).
  ag=/tmp/kk-archguard; rm -rf "$ag"; mkdir -p "$ag"
  tar -C "$REPO" --exclude=./build --exclude=./.whl --exclude='*.so' --exclude=__pycache__ -cf - . | tar -C "$ag" -xf -
  step archguard-build bash -c "cd $ag && '$py' -m kernelkit build --arch 100a" \
    && step archguard-import "$py" tools/archguard_probe.py "$ag/library/python" 100a
  if [[ ! -f library/python/kernelkit_ops/_kernelkit_ops.so ]]; then step archguard-own-build "$py" -m kernelkit build; fi
  step archguard-tests env PYTHONPATH="$REPO:$REPO/library/python" "$py" -m pytest tests/cli/test_arch_guard.py -v -p no:cacheprovider
fi

if [[ " $PHASES " == *" wheel "* ]]; then
  # The kernelkit-ops wheel installed alone (a fresh venv with only torch and its dependencies) imports and runs ops
  # on the GPU (issue 26; tools/wheel_probe.py). The wheel carried in dist/ (built on the CPU machine against its
  # torch: `pip wheel ./library --no-build-isolation --no-deps -w dist/` or `kernelkit release --wheel`), else one
  # built here.
  whl=$(ls dist/kernelkit_ops-*.whl 2>/dev/null | head -1)
  if [[ -z "$whl" ]]; then
    step wheel-build "$py" -m pip wheel ./library --no-build-isolation --no-deps -w /tmp/kk-wheel
    whl=$(ls /tmp/kk-wheel/kernelkit_ops-*.whl 2>/dev/null | head -1)
  fi
  if [[ -n "$whl" ]]; then step wheel-alone env PYTHONPATH="$REPO" "$py" tools/wheel_probe.py "$whl"; fi
fi

if [[ " $PHASES " == *" benchnew "* ]]; then
  # only the ops named in BENCH_OPS, saved with baselines; rows with a committed counterpart are compared to it
  step bench-new "$py" -m kernelkit bench ${BENCH_OPS:?BENCH_OPS names the ops} --save --plot --json "$OUT/bench-new.json" --compare committed
  cp benchmarks/results/*/*.md benchmarks/results/*/*.json benchmarks/results/*/*.png "$OUT/" 2>/dev/null
fi

if [[ " $PHASES " == *" benchgroups "* ]]; then
  # BENCH_GROUPS="name:op op ...;name:op ...": one saved results file per group (commit label <commit>+<name>),
  # each bounded by BENCH_GROUP_TIMEOUT seconds, so a slow group cannot cost the others their results;
  # BENCH_ARGS adds options (e.g. --no-baselines: torch.compile baselines take most of a bench's time)
  IFS=';' read -ra groups <<< "${BENCH_GROUPS:?BENCH_GROUPS names the groups}"
  for group in "${groups[@]}"; do
    name=${group%%:*}
    # --time-budget starts no case after 80% of the bound, so the group ends by itself and saves what finished;
    # timeout's SIGTERM, should a case overrun, also ends it with the finished cases saved
    step "bench-$name" env KERNELKIT_COMMIT="${KERNELKIT_COMMIT:-unknown}+$name" timeout "${BENCH_GROUP_TIMEOUT:-240}" \
      "$py" -m kernelkit bench ${group#*:} ${BENCH_ARGS:-} --time-budget $((${BENCH_GROUP_TIMEOUT:-240} * 4 / 5)) \
      --save --plot --json "$OUT/bench-$name.json" --compare committed
  done
  cp benchmarks/results/*/*+*.md benchmarks/results/*/*+*.json benchmarks/results/*/*+*.png "$OUT/" 2>/dev/null
fi

if [[ " $PHASES " == *" awaiting "* ]]; then
  # the ops merged before their first device run (benchmarks/results/awaiting-first-device-run.txt): benched and
  # saved, so they can leave the list
  awaiting=$(grep -v '^#' benchmarks/results/awaiting-first-device-run.txt | xargs)
  if [[ -n "$awaiting" ]]; then
    step bench-awaiting env KERNELKIT_COMMIT="${KERNELKIT_COMMIT:-unknown}+awaiting" \
      "$py" -m kernelkit bench $awaiting ${BENCH_ARGS:-} --save --plot --json "$OUT/bench-awaiting.json"
    cp benchmarks/results/*/*+awaiting.* "$OUT/" 2>/dev/null
  fi
fi

if [[ " $PHASES " == *" peer "* && -f .peer/peer_bench.py ]]; then
  # FlashInfer's kernels side by side (../shared/peer/, carried as .peer/ with its extracted headers)
  step peer env PYTHONPATH="$REPO/library/python" "$py" .peer/peer_bench.py ${PEER_ARGS:-}
fi

if [[ " $PHASES " == *" bench "* ]]; then
  # the first run against the newest committed row of every case (a regression since then flags: rc=1);
  # the second against the first, so run-to-run noise is visible (and must not flag)
  step bench "$py" -m kernelkit bench --save --plot --json "$OUT/bench-first.json" --compare committed
  step bench-again "$py" -m kernelkit bench --json "$OUT/bench-second.json" --compare "$OUT/bench-first.json"
  cp benchmarks/results/*/*.md benchmarks/results/*/*.png "$OUT/" 2>/dev/null
fi

if [[ " $PHASES " == *" upstream "* && -d .upstream/sgl-kernel-tests ]]; then
  # issue 22: sgl-kernel's own test files, unmodified, against this library (`import sgl_kernel` resolves to
  # tools/sgl_kernel_alias). .upstream/ is git-ignored: carry it. A file importing an op this library lacks fails
  # at collection and is listed as such; every other failure is a compatibility defect.
  step upstream env PYTHONPATH="$REPO/tools/sgl_kernel_alias:$REPO/library/python" "$py" -m pytest \
    .upstream/sgl-kernel-tests -q -rfE --continue-on-collection-errors -p no:cacheprovider ${UPSTREAM_XDIST:--n 8}
fi

if [[ " $PHASES " == *" overlap "* ]]; then
  # issue 25: a KV transfer between pinned host memory and the GPU while a GEMM loop runs (tools/transfer_overlap.py)
  step overlap env PYTHONPATH="$REPO:$REPO/library/python" "$py" tools/transfer_overlap.py --json "$OUT/overlap.json"
fi

if [[ " $PHASES " == *" allreduce-multi "* ]]; then
  # issue 27: one process per GPU, NCCL with NCCL_NVLS_ENABLE=0 (the tool sets it too); each world's run starts no
  # size past its budget and kills hung ranks 30 s after it; `timeout` is the last resort 45 s later
  ngpu=$("$py" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
  if (( ngpu < 2 )); then
    echo "=== allreduce-multi: skipped: $ngpu GPU(s) visible, the table needs at least 2" | tee "$OUT/allreduce-multi.log"
  else
    budget=${ALLREDUCE_BUDGET_S:-80}
    for w in 2 4 8; do
      (( w <= ngpu )) || continue
      step "allreduce-w$w" env PYTHONPATH="$REPO:$REPO/library/python" NCCL_NVLS_ENABLE=0 timeout $((budget + 75)) \
        "$py" tools/allreduce_bench.py --world "$w" --time-budget-s "$budget" --grace-s 30 \
        --json "$OUT/allreduce-w$w.json" ${ALLREDUCE_ARGS:-}
    done
  fi
fi

if [[ " $PHASES " == *" profile "* ]]; then
  # each op's largest bench case under Nsight Compute, saved to benchmarks/profiles/<device>/ (to commit)
  for op in ${PROFILE_OPS:-rmsnorm sgl_per_token_group_quant_fp8}; do
    step "profile-$op" "$py" -m kernelkit profile "$op" --save
  done
  mkdir -p "$OUT/profiles" && cp benchmarks/profiles/*/* "$OUT/profiles/" 2>/dev/null
fi

if [[ " $PHASES " == *" sanitize "* ]]; then
  # every op's GPU tests under memcheck; --save rewrites the summary after each op, so a step stopped by
  # STEP_TIMEOUT still returns what finished
  step sanitize "$py" -m kernelkit sanitize --tool memcheck -j "${SANITIZE_JOBS:-4}" \
    --test-workers "${SANITIZE_TEST_WORKERS:-4}" \
    --op-timeout "${SANITIZE_OP_TIMEOUT:-420}" --save
  mkdir -p "$OUT/sanitize" && cp benchmarks/sanitize/*/* build/sanitize/memcheck/*.log "$OUT/sanitize/" 2>/dev/null
fi

echo; echo "=== summary"; printf '%s\n' "${summary[@]}" | tee "$OUT/summary.txt"
tar -czf "$RESULTS/gpu-check.tgz" -C "$OUT" . && cp "$OUT/summary.txt" "$RESULTS/"
