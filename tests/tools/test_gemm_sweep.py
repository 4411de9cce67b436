"""tools/gemm_sweep.py and tools/gemm_sweep/build.sh without a GPU: the candidate table against the kernel source,
the build script's commands (with a stand-in nvcc), argument parsing, the pass plan and its time estimate, the
correctness judgement on synthetic tensors, and the JSON/markdown writer on synthetic timings. The GPU tests run
the sweep itself on a small problem (the prebuilt library from build.sh, carried to the GPU machine)."""

from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from tool_scripts import load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gemm_sweep.py"
KERNEL_SRC = ROOT / "tools" / "gemm_sweep" / "sweep_kernel.cu"
BUILD_SH = ROOT / "tools" / "gemm_sweep" / "build.sh"
LIB = ROOT / "build" / "gemm_sweep" / "libsweep.so"


def run_script(*args: str, gpu: bool = False) -> subprocess.CompletedProcess:
    return run_tool(SCRIPT.name, *args, gpu=gpu, timeout=600, checkout_on_path=True)


@pytest.fixture(scope="module")
def sweep():
    return load_tool(SCRIPT.name)


def source_configs() -> list[tuple[int, str, str]]:
    """(index, name, the `using Config = ...` line) of every `#if/#elif SWEEP_CONFIG == n` block of the kernel."""
    text = KERNEL_SRC.read_text()
    blocks = re.findall(r"^#(?:el)?if SWEEP_CONFIG == (\d+)\n(.*?)(?=^#(?:elif|else|endif))", text, re.M | re.S)
    result = []
    for index, body in blocks:
        name = re.search(r'^#define SWEEP_NAME "([^"]+)"', body, re.M).group(1)
        config = re.search(r"^using Config = (.*);", body, re.M).group(1)
        result.append((int(index), name, config))
    return result


# ------------------------------------------------------------------------------------------------ candidates


def test_candidate_table_matches_the_kernel_source(sweep):
    configs = source_configs()
    assert [(i, n) for i, n, _ in configs] == [(c.index, c.name) for c in sweep.CANDIDATES]
    for (_, name, config), cand in zip(configs, sweep.CANDIDATES):
        # the FastAccum schedule is the only thing that makes a candidate less accurate
        assert ("CoopFast" in config) == cand.fast_accum, (name, config)
        assert name.endswith("_fast") == cand.fast_accum
        tile_m, tile_n, cluster_m, cluster_n = re.match(r"Cfg<(\d+), (\d+), (\d+), (\d+),", config).groups()
        assert f"{tile_m}x{tile_n}_c{cluster_m}x{cluster_n}" in name, (name, config)


def test_cluster_sizes(sweep):
    assert [c.cluster_size for c in sweep.CANDIDATES] == [2, 2, 1, 2, 1, 2, 2, 2, 2]


def test_the_baseline_is_the_library_configuration(sweep):
    # candidate 0 must be what fp8_scaled_mm dispatches at M > 128, or the sweep compares against the wrong kernel
    configs = {name: config for _, name, config in source_configs()}
    assert sweep.BASELINE == sweep.CANDIDATES[0].name
    assert configs[sweep.BASELINE] == "Cfg<128, 128, 2, 1, Coop, EpiCoop>"
    dispatch = (ROOT / "library" / "csrc" / "gemm" / "fp8_scaled_mm.cu").read_text()
    assert "return run<ScaledGemm<In, Out, Cooperative128x128Cluster2, RowColScales>>(p, scales, stream);" in dispatch
    family = (ROOT / "library" / "include" / "kernelkit" / "families" / "cutlass_scaled_gemm.cuh").read_text()
    assert re.search(
        r"using Cooperative128x128Cluster2 = Config<128, 128, 2, cutlass::gemm::KernelTmaWarpSpecializedCooperative,\s*"
        r"cutlass::epilogue::TmaWarpSpecializedCooperative>;",
        family,
    )


def test_built_library_matches_the_driver(sweep):
    # Loading needs no GPU: the names, FastAccum flags and stage counts are host functions. A library built from
    # another candidate list would be refused here (SystemExit), not halfway through a device run.
    if not LIB.is_file():
        pytest.skip(f"no {LIB.relative_to(ROOT)} (tools/gemm_sweep/build.sh builds it)")
    lib = sweep.SweepLib(LIB, sweep.CANDIDATES)
    assert not lib.missing and set(lib.run) == {c.name for c in sweep.CANDIDATES}
    for c in sweep.CANDIDATES:
        info = lib.info[c.name]
        assert 2 <= info["stages"] <= 8 and 100_000 < info["smem_bytes"] <= 227 * 1024, (c.name, info)


# ------------------------------------------------------------------------------------------------ build.sh


def fake_toolchain(tmp_path: Path) -> dict:
    """A stand-in nvcc that logs its arguments and writes its -o file, and an include folder with cutlass.h."""
    log = tmp_path / "nvcc.log"
    nvcc = tmp_path / "nvcc"
    nvcc.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1" == --version ]]; then echo "Cuda compilation tools, release 13.0, V13.0.88"; exit 0; fi\n'
        f'echo "$*" >> {log}\n'
        'out=""; prev=""; for a in "$@"; do [[ "$prev" == -o ]] && out=$a; prev=$a; done\n'
        'echo "ptxas info    : Function properties for _ZN7cutlass13device_kernelIXYZ"\n'
        'echo "    0 bytes stack frame, 12 bytes spill stores, 8 bytes spill loads"\n'
        'echo "ptxas info    : Used 168 registers, used 2 barriers"\n'
        'echo object > "$out"\n'
    )
    nvcc.chmod(0o755)
    (tmp_path / "cutlass" / "cutlass").mkdir(parents=True)
    (tmp_path / "cutlass" / "cutlass" / "cutlass.h").write_text("")
    env = dict(os.environ, NVCC=str(nvcc), CUTLASS_DIR=str(tmp_path / "cutlass"), OUT_DIR=str(tmp_path / "out"))
    return {"env": env, "log": log, "out": tmp_path / "out"}


def test_build_script_compiles_every_config_with_the_library_flags(sweep, tmp_path):
    tc = fake_toolchain(tmp_path)
    result = subprocess.run(["bash", str(BUILD_SH), "-j", "2"], capture_output=True, text=True, env=tc["env"])
    assert result.returncode == 0, result.stderr
    calls = tc["log"].read_text().splitlines()
    compiles = [c for c in calls if " -c " in f" {c} "]
    links = [c for c in calls if "-shared" in c]
    indices = sorted(int(re.search(r"-DSWEEP_CONFIG=(\d+)", c).group(1)) for c in compiles)
    assert indices == [c.index for c in sweep.CANDIDATES]
    for c in compiles:
        for flag in (
            "-gencode=arch=compute_90a,code=sm_90a",
            "-O3",
            "-DNDEBUG",
            "-std=c++17",
            "--expt-relaxed-constexpr",
            "-Xcompiler=-fPIC",
            "-Xcompiler=-fvisibility=hidden",
            "-Xptxas=-v",
        ):
            assert flag in c.split(), (flag, c)
        assert f"-isystem {tmp_path / 'cutlass'}" in c and f"-I{ROOT / 'library' / 'include'}" in c
        assert "compute_80" not in c and "sm_100" not in c  # sm_90a only
    assert len(links) == 1 and links[0].count("/obj/sweep_") == len(sweep.CANDIDATES)
    assert (tc["out"] / "libsweep.so").is_file()
    report = (tc["out"] / "report.txt").read_text()
    for c in sweep.CANDIDATES:
        assert re.search(
            rf"^{c.index}\s+{c.name}\s+\d+s\s+Used 168 registers; 0 bytes stack frame, 12 bytes spill "
            rf"stores, 8 bytes spill loads$",
            report,
            re.M,
        ), report

    # a second run reuses every object (same flags, sources unchanged) and only links again
    again = subprocess.run(["bash", str(BUILD_SH), "3"], capture_output=True, text=True, env=tc["env"])
    assert again.returncode == 0, again.stderr
    assert "config 3: up to date" in again.stdout
    assert len(tc["log"].read_text().splitlines()) == len(calls) + 1


def test_build_script_says_what_is_missing(tmp_path):
    env = dict(os.environ, NVCC=str(tmp_path / "nvcc"), CUTLASS_DIR=str(tmp_path), OUT_DIR=str(tmp_path / "out"))
    (tmp_path / "nvcc").write_text("#!/bin/sh\necho release 13.0\n")
    (tmp_path / "nvcc").chmod(0o755)
    result = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "no CUTLASS headers" in result.stderr and "--lib" in result.stderr


# ------------------------------------------------------------------------------------------------ arguments


def test_default_arguments(sweep):
    args = sweep.parse_args([])
    assert args.m == (512, 1024, 2048, 4096)
    bench = sweep.bench_module()
    assert args.shapes == tuple(bench.SHAPES) and (8192, 28672) in args.shapes
    assert args.candidates == sweep.CANDIDATES
    assert args.time_budget_s == 240.0 and args.lib is None and args.json is None
    assert len(sweep.problems(args)) == 4 * len(bench.SHAPES)


def test_narrowing_arguments(sweep, tmp_path):
    args = sweep.parse_args(
        [
            "--m",
            "512,4096",
            "--shapes",
            "8192x8192,7168X2048",
            "--candidates",
            "0,coop_128x256_c2x1_fast,0",
            "--lib",
            str(tmp_path / "x.so"),
            "--json",
            str(tmp_path / "r.json"),
            "--time-budget-s",
            "60",
            "--no-knobs",
        ]
    )
    assert args.m == (512, 4096) and args.shapes == ((8192, 8192), (7168, 2048))
    assert [c.name for c in args.candidates] == ["coop_128x128_c2x1", "coop_128x256_c2x1_fast"]
    assert args.lib == tmp_path / "x.so" and args.no_knobs and args.time_budget_s == 60
    assert [(p.m, p.n, p.k) for p in sweep.problems(args)] == [
        (512, 8192, 8192),
        (4096, 8192, 8192),
        (512, 7168, 2048),
        (4096, 7168, 2048),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--candidates", "99"], "unknown candidate '99'"),
        (["--candidates", "coop_64x64"], "unknown candidate 'coop_64x64'"),
        (["--shapes", "8192"], "expected NxK"),
        (["--m", "0"], "expected positive integers"),
        (["--m", "a"], "expected comma-separated integers"),
        (["--reps", "0"], "--reps must be >= 1"),
    ],
)
def test_bad_arguments(sweep, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        sweep.parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_refuses_without_a_gpu(tmp_path):
    result = run_script("--json", str(tmp_path / "r.json"), "--lib", str(tmp_path / "none.so"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "gemm_sweep: needs a CUDA GPU (none visible to torch); --plan shows the plan without one"
    ]
    assert not list(tmp_path.iterdir())


def test_plan_fits_the_default_budget():
    result = run_script("--plan")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "20 problems" in out
    assert "pass 1: 12 settings per problem" in out
    assert "pass 2 (knobs): 28 settings per problem" in out and "pass 3 (promotion): 5 settings per problem" in out
    seconds = float(re.search(r"estimated (\d+) s of device time", out).group(1))
    assert 30 < seconds < 200, out  # the default run leaves room under --time-budget-s 240 for start-up


# ------------------------------------------------------------------------------------------------ the plan


def row(sweep, impl, us, status="ok", phase="first", problem=None, torch_us=100.0, **knobs):
    problem = problem or sweep.Problem(512, 8192, 8192)
    fast = impl.endswith("_fast") or impl == sweep.TORCH_FAST
    return sweep.Row(
        problem,
        phase,
        sweep.Setting(impl, **knobs),
        fast,
        status=status,
        us=us,
        torch_us=torch_us if us is not None else None,
    )


def test_first_pass_has_the_references_and_every_candidate(sweep):
    settings = sweep.pass1_settings(sweep.CANDIDATES, with_library=True)
    assert [s.impl for s in settings[:3]] == ["torch", "torch_fast", "kernelkit_ops"]
    assert [s.impl for s in settings[3:]] == [c.name for c in sweep.CANDIDATES]
    assert all((s.swizzle, s.raster, s.promotion) == (1, "H", 4) for s in settings)
    assert [s.impl for s in sweep.pass1_settings(sweep.CANDIDATES[:1], with_library=False)] == [
        "torch",
        "torch_fast",
        "coop_128x128_c2x1",
    ]


def test_knob_candidates_are_the_baseline_and_the_fastest_accurate_ones(sweep):
    first = [
        row(sweep, "torch", 50.0),
        row(sweep, "coop_128x128_c2x1", 60.0),
        row(sweep, "coop_128x128_c1x2", 58.0),
        row(sweep, "coop_128x256_c1x1", 52.0, status="failed"),  # fastest, but wrong: never chosen
        row(sweep, "coop_128x256_c2x1", 55.0),
        row(sweep, "ping_64x256_c1x1", 70.0),
        row(sweep, "coop_256x128_c1x2", None, status="refused"),
        row(sweep, "coop_128x256_c2x1_fast", 45.0),  # fast-accum: not a knob candidate
    ]
    chosen = sweep.choose_knob_candidates(first, sweep.CANDIDATES, 2)
    assert [c.name for c in chosen] == ["coop_128x128_c2x1", "coop_128x256_c2x1", "coop_128x128_c1x2"]
    assert [c.name for c in sweep.choose_knob_candidates(first, sweep.CANDIDATES, 0)] == ["coop_128x128_c2x1"]
    first[1] = row(sweep, "coop_128x128_c2x1", None, status="failed")
    assert [c.name for c in sweep.choose_knob_candidates(first, sweep.CANDIDATES, 1)] == ["coop_128x256_c2x1"]


def test_knob_and_promotion_passes(sweep):
    chosen = [sweep.CANDIDATES[8], sweep.CANDIDATES[3]]  # CUTLASS's mainloop at the baseline's tile, and 128x256
    second = sweep.pass2_settings(chosen)
    assert second[0] == sweep.Setting("torch") and len(second) == 1 + 2 * 9
    assert {(s.swizzle, s.raster) for s in second[1:]} == {(s, r) for s in (1, 4, 8) for r in "HMN"}
    assert all(s.promotion == 4 for s in second)

    knob_rows = [row(sweep, "torch", 50.0, phase="knobs")]
    for s in second[1:]:
        us = 60.0 - (s.swizzle == 4 and s.raster == "N") * 5 if s.impl == chosen[0].name else 58.0
        knob_rows.append(row(sweep, s.impl, us, phase="knobs", swizzle=s.swizzle, raster=s.raster))
    knob_rows.append(row(sweep, chosen[1].name, 40.0, phase="knobs", status="failed", swizzle=8, raster="M"))
    assert sweep.best_knobs(knob_rows, chosen[0].name) == (4, "N")
    assert sweep.best_knobs(knob_rows, chosen[1].name) == (1, "H")  # all tie at 58: the first in order; failed: out
    third = sweep.pass3_settings(chosen + [sweep.CANDIDATES[6]], knob_rows)
    assert third == [
        sweep.Setting("torch"),
        sweep.Setting(chosen[0].name, 4, "N", 4),
        sweep.Setting(chosen[0].name, 4, "N", 8),
        sweep.Setting(chosen[1].name, 1, "H", 4),
        sweep.Setting(chosen[1].name, 1, "H", 8),
    ]  # the fast-accum candidate has no promotion interval


def test_graph_sizes(sweep):
    l2 = 50 * 1024 * 1024
    small = sweep.Problem(512, 7168, 2048)  # 23 MB per call: rotated over 5 copies (> 2x L2)
    assert sweep.rotation_copies(small, l2) == 5
    assert sweep.calls_per_graph(small, 5, 2.0, 3) == 134  # 2 ms / 15 µs
    large = sweep.Problem(4096, 28672, 8192)
    assert sweep.rotation_copies(large, l2) == 1
    assert sweep.calls_per_graph(large, 1, 2.0, 3) == 3  # ~1.9 ms a call: the minimum
    args = sweep.parse_args(["--reps", "5", "--rounds", "2", "--warmup", "1"])
    per_setting = sweep.pass_seconds(large, 1, args) - sweep.SETTING_OVERHEAD_S
    assert per_setting == pytest.approx((2 * (1 + 5) + 2) * 3 * large.flops / 1e15)  # at 1000 TFLOP/s


# ------------------------------------------------------------------------------------------------ correctness


def test_judge_accepts_rounding_differences_only(sweep):
    import torch

    gen = torch.Generator().manual_seed(0)
    exact = torch.randn(256, 512, generator=gen) * 0.3
    ref = exact.bfloat16()
    same = sweep.judge(ref, ref, fast_accum=False, fp32_ref=exact)
    assert same.ok and same.max_abs == 0 and same.mean_rel == 0 and 0 < same.fp32_max_rel <= 2.0**-8

    # one ulp apart at the largest element and at a few others: what two fp32 sums in another order give
    bits = ref.view(torch.int16).clone().view(-1)
    for i in [int(ref.abs().argmax()), 3, 77, 1000]:
        bits[i] += 1  # the next bf16 away from zero
    flip = sweep.judge(bits.view(torch.bfloat16).view_as(ref), ref, fast_accum=False)
    assert flip.ok, flip
    assert 0 < flip.max_rel <= 2.0**-7


def test_judge_fails_systematic_and_gross_errors(sweep):
    import torch

    gen = torch.Generator().manual_seed(1)
    ref = (torch.randn(256, 512, generator=gen) * 0.3).bfloat16()
    scaled = (ref.float() * 1.01).bfloat16()  # 1% everywhere: within two ulps at the top, far off on average
    accurate = sweep.judge(scaled, ref, fast_accum=False)
    assert not accurate.ok and "mean |d| / mean |ref|" in accurate.reason and "max" not in accurate.reason
    assert sweep.judge(scaled, ref, fast_accum=True).ok  # what fast accumulation may cost

    transposed = ref.t().contiguous().view_as(ref)  # a layout bug: other values entirely
    for fast in (False, True):
        gross = sweep.judge(transposed, ref, fast_accum=fast)
        assert not gross.ok and gross.max_rel > 0.5 and "max |d| / max |ref|" in gross.reason

    poisoned = ref.clone()
    poisoned[5, 7] = float("nan")  # an element the kernel never wrote
    nan = sweep.judge(poisoned, ref, fast_accum=True)
    assert not nan.ok and nan.reason == "1 non-finite values in the output"
    with pytest.raises(ValueError, match="reference"):
        sweep.judge(ref, poisoned, fast_accum=False)


def test_judged_against_torch_unless_torch_is_off_the_exact_result(sweep):
    import torch

    gen = torch.Generator().manual_seed(2)
    fp32 = torch.randn(128, 256, generator=gen)
    exact = fp32.bfloat16()
    off = (fp32 * 1.01).bfloat16()  # 1% off everywhere: beyond the accurate mean bound
    data = {"ref": exact, "exact": exact, "fp32_ref": fp32, "torch_check": sweep.judge(exact, exact, False)}
    assert sweep.judge_output(exact, data, fast=False)[:2] == ("ok", "")
    status, detail, check = sweep.judge_output(off, data, fast=False)
    assert status == "failed" and "mean |d| / mean |ref|" in detail and not check.ok

    # torch 1% off: an exact output differs from it but passes, saying why; an output off like torch's passes
    # against torch; a wrong one still fails
    data = {"ref": off, "exact": exact, "fp32_ref": fp32, "torch_check": sweep.judge(off, exact, False)}
    assert not data["torch_check"].ok
    status, detail, check = sweep.judge_output(exact, data, fast=False)
    assert status == "ok" and detail.startswith("differs from torch (mean |d| / mean |ref|") and not check.ok
    assert sweep.judge_output(off, data, fast=False)[0] == "ok"
    assert sweep.judge_output((fp32 * 1.05).bfloat16(), data, fast=False)[0] == "failed"


# ------------------------------------------------------------------------------------------------ results


def synthetic_rows(sweep):
    p = sweep.Problem(4096, 8192, 8192)
    q = sweep.Problem(512, 7168, 2048)
    rows = [
        row(sweep, "torch", 460.0, problem=p, torch_us=460.0),
        row(sweep, "torch_fast", 440.0, problem=p, torch_us=460.0),
        row(sweep, "coop_128x128_c2x1", 536.0, problem=p, torch_us=460.0),
        row(sweep, "coop_128x256_c2x1", 480.0, problem=p, torch_us=460.0),
        row(sweep, "coop_128x128_c1x2", None, status="failed", problem=p),
        row(sweep, "coop_128x256_c2x1_fast", 420.0, problem=p, torch_us=460.0),
        # the knob pass has its own torch time: 470 there, so 470 / 470 = 1.0x beats 460 / 480
        row(sweep, "torch", 470.0, phase="knobs", problem=p, torch_us=470.0),
        row(sweep, "coop_128x256_c2x1", 470.0, phase="knobs", problem=p, torch_us=470.0, swizzle=4, raster="N"),
        row(sweep, "torch", 17.0, problem=q, torch_us=17.0),
        row(sweep, "coop_128x128_c2x1", 19.5, problem=q, torch_us=17.0),
    ]
    rows[4].detail = "max |d| / max |ref| = 0.9 > 0.0156"
    rows[5].check = sweep.Check(0.01, 0.02, 0.004, sweep.FAST_BOUND, sweep.FAST_MEAN_BOUND, True, "", 0.021)
    return rows


def test_results_document_picks_the_best_per_problem(sweep):
    rows = synthetic_rows(sweep)
    doc = sweep.results_document(rows, 1288.0, {"device": "H100", "commit": "abc", "date": "today", "torch": "2.x"})
    best = {(b["m"], b["n"]): b for b in doc["best"]}
    big = best[(4096, 8192)]
    assert big["torch"]["us"] == 460.0
    assert big["baseline"]["label"] == "coop_128x128_c2x1 s1H p4" and big["baseline"]["x_torch"] == pytest.approx(
        460 / 536
    )
    assert big["accurate"]["label"] == "coop_128x256_c2x1 s4N p4" and big["accurate"]["x_torch"] == pytest.approx(1.0)
    assert big["fast"]["label"] == "coop_128x256_c2x1_fast s1H p4"
    assert big["best_vs_baseline"] == pytest.approx(1.0 / (460 / 536))
    small = best[(512, 7168)]
    assert small["accurate"]["label"] == small["baseline"]["label"] and small["fast"] is None
    assert small["best_vs_baseline"] == pytest.approx(1.0)
    assert [f["impl"] for f in doc["failures"]] == ["coop_128x128_c1x2"]
    by_label = {(r["m"], r["phase"], r["label"]): r for r in doc["rows"]}
    base = by_label[(4096, "first", "coop_128x128_c2x1 s1H p4")]
    assert base["tflops"] == pytest.approx(2 * 4096 * 8192 * 8192 / 536e-6 / 1e12)
    assert base["pct_ceiling"] == pytest.approx(100 * base["tflops"] / 1288.0)
    assert by_label[(4096, "first", "coop_128x256_c2x1_fast s1H p4")]["check"]["max_rel"] == 0.02


def test_writes_the_json_and_the_tables(sweep, tmp_path):
    rows = synthetic_rows(sweep)
    meta = {
        "device": "H100",
        "commit": "abc",
        "date": "today",
        "torch": "2.x",
        "truncated": True,
        "candidates": [
            {
                "index": 0,
                "name": "coop_128x128_c2x1",
                "what": "baseline",
                "stages": 6,
                "smem_bytes": 200000,
                "regs": 168,
                "local_bytes": 0,
                "max_active_clusters": 66,
                "grid_clusters": 66,
            },
            {"index": 1, "name": "coop_128x128_c1x2", "what": "other"},
        ],
    }
    doc = sweep.results_document(rows, 1288.0, meta)
    sweep.write_results(tmp_path / "sweep.json", doc)
    data = json.loads((tmp_path / "sweep.json").read_text())
    assert data["device"] == "H100" and data["commit"] == "abc" and data["ceiling_tflops"] == 1288.0
    assert len(data["rows"]) == len(rows) and data["truncated"] is True
    table = (tmp_path / "sweep.md").read_text()
    assert "stopped by the time budget" in table
    assert (
        "| 4096 | 8192 | 8192 | 460.0 | 536.0 | 0.86× | coop_128x256_c2x1 s4N p4 | 1.00× | 1.17× "
        "| coop_128x256_c2x1_fast s1H p4 | 1.10× |"
    ) in table
    assert (
        "| 4096 | 8192 | 8192 | first | coop_128x256_c2x1_fast s1H p4 | 420.0 | — | 1309 | 102% "
        "| 1.10× | 0.02 | 0.021 | fast-accum (less accurate) |"
    ) in table
    failed = "| 4096 | 8192 | 8192 | first | coop_128x128_c1x2 s1H p4 | — | — | — | — | — | — | — | **FAILED**: max"
    assert failed in table
    assert "| 0 | coop_128x128_c2x1 | 6 | 200000 | 168 | 0 | 66 / 66 | baseline |" in table
    assert "| 1 | coop_128x128_c1x2 | — | — | — | — | — | other |" in table
    assert "**1 accurate settings FAILED or errored:**" in table
    short = sweep.markdown(doc, every_setting=False)
    assert "## Every setting" not in short and "## Best per problem" in short
    line = sweep.summary_line(doc)
    assert line.startswith("gemm_sweep: 2/2 problems; best accurate beats the baseline by > 2% on 1, torch on 1;")
    assert line.endswith("of the ceiling")


# ------------------------------------------------------------------------------------------------ main, faked device


class FakeLib:
    def __init__(self, sweep):
        self.path = Path("fake.so")
        self.run = {c.name: None for c in sweep.CANDIDATES}
        self.info = {c.name: {"stages": 4, "smem_bytes": 200_000} for c in sweep.CANDIDATES}
        self.missing = []

    def kernel_attrs(self, c, sm_count):
        self.info[c.name].update(
            regs=168,
            local_bytes=0,
            max_active_clusters=sm_count // c.cluster_size,
            grid_clusters=sm_count // c.cluster_size,
        )


def fake_device(sweep, monkeypatch, times: dict, failing: set):
    """main() with everything that needs the GPU replaced: each setting's check passes unless its label is in
    `failing`, and its time is times[impl] (minus 5 µs at swizzle 4 along N, plus 1 µs at promotion 8)."""
    import types

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Fake H100")
    props = types.SimpleNamespace(multi_processor_count=132, L2_cache_size=50 << 20)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda *a: props)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(sweep, "load_library", lambda args: FakeLib(sweep))
    monkeypatch.setattr(sweep, "library_available", lambda: "not in this test")
    monkeypatch.setattr(sweep, "measure_ceiling", lambda args: 1300.0)
    ok = sweep.Check(0.0, 0.001, 0.0001, 2.0**-6, 2.0**-10, True, "", 0.002)
    bad = sweep.Check(1.0, 0.5, 0.4, 2.0**-6, 2.0**-10, False, "max |d| / max |ref| = 0.5 > 0.0156", 0.5)
    monkeypatch.setattr(
        sweep, "prepare_problem", lambda problem, args: {"copies": [{}], "calls": 4, "n_copies": 1, "torch_check": ok}
    )
    monkeypatch.setattr(sweep, "make_call", lambda setting, inputs, lib: None)
    monkeypatch.setattr(
        sweep,
        "check_setting",
        lambda s, fast, data, lib: ("failed", bad.reason, bad) if s.label in failing else ("ok", "", ok),
    )
    monkeypatch.setattr(sweep, "capture", lambda calls, n: object())

    def time_graphs(graphs, n, args):
        def us(s):
            return times[s.impl] - 5.0 * (s.swizzle == 4 and s.raster == "N") + 1.0 * (s.promotion == 8)

        return {s: [us(s)] * (args.rounds * args.reps) for s in graphs}

    monkeypatch.setattr(sweep, "time_graphs", time_graphs)


def test_main_runs_the_three_passes(sweep, monkeypatch, tmp_path, capsys):
    times = {
        "torch": 100.0,
        "torch_fast": 95.0,
        "coop_128x128_c2x1": 120.0,
        "coop_128x128_c1x2": 118.0,
        "coop_128x256_c1x1": 104.0,
        "coop_128x256_c2x1": 102.0,
        "ping_64x256_c1x1": 130.0,
        "coop_256x128_c1x2": 99.0,
        "coop_128x128_c2x1_fast": 110.0,
        "coop_128x256_c2x1_fast": 90.0,
        "coop_128x128_c2x1_serial": 125.0,
    }
    # the fastest accurate candidate is wrong: never chosen for the knob passes, and the exit code says so
    fake_device(sweep, monkeypatch, times, failing={"coop_256x128_c1x2 s1H p4"})
    out = tmp_path / "sweep.json"
    rc = sweep.main(["--m", "512", "--shapes", "8192x8192", "--json", str(out)])
    assert rc == 1
    stderr = capsys.readouterr().err
    assert "FAILED M=512 N=8192 K=8192 coop_256x128_c1x2 s1H p4 (accurate)" in stderr
    doc = json.loads(out.read_text())
    assert doc["device"] == "Fake H100" and doc["ceiling_tflops"] == 1300.0 and not doc["truncated"]
    phases = {p: [r for r in doc["rows"] if r["phase"] == p] for p in ("first", "knobs", "promotion")}
    # the promotion pass varies the interval of the two chosen candidates on CUTLASS's mainloop, not the baseline's
    assert len(phases["first"]) == 2 + 9 and len(phases["knobs"]) == 28 and len(phases["promotion"]) == 5
    assert {r["impl"] for r in phases["knobs"]} == {
        "torch",
        "coop_128x128_c2x1",
        "coop_128x256_c2x1",
        "coop_128x256_c1x1",
    }
    assert {r["label"] for r in phases["promotion"]} == {"torch"} | {
        f"{c} s4N p{p}" for c in ("coop_128x256_c2x1", "coop_128x256_c1x1") for p in (4, 8)
    }
    failed = next(r for r in phases["first"] if r["impl"] == "coop_256x128_c1x2")
    assert failed["status"] == "failed" and failed["us"] is None
    (best,) = doc["best"]
    assert best["accurate"]["label"] == "coop_128x256_c2x1 s4N p4" and best["accurate"]["x_torch"] == pytest.approx(
        100 / 97
    )
    assert best["fast"]["label"] == "coop_128x256_c2x1_fast s1H p4"
    assert best["baseline"]["x_torch"] == pytest.approx(100 / 120)
    assert [f["label"] for f in doc["failures"]] == ["coop_256x128_c1x2 s1H p4"]
    assert doc["candidates"][0]["max_active_clusters"] == 66
    assert "## Every setting" in out.with_suffix(".md").read_text()


def test_main_stops_at_the_time_budget(sweep, monkeypatch, tmp_path, capsys):
    times = dict.fromkeys([c.name for c in sweep.CANDIDATES] + ["torch", "torch_fast"], 50.0)
    fake_device(sweep, monkeypatch, times, failing=set())
    out = tmp_path / "sweep.json"
    rc = sweep.main(["--m", "512", "--shapes", "8192x8192", "--json", str(out), "--time-budget-s", "1"])
    assert rc == 0
    assert "stopped by the time budget (1 s)" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["truncated"] is True and doc["rows"] == [] and doc["best"] == []

    # a budget for pass 1 only: every problem gets its first pass, no knob pass starts
    rc = sweep.main(["--m", "512,1024", "--shapes", "7168x2048", "--json", str(out), "--time-budget-s", "3"])
    doc = json.loads(out.read_text())
    assert rc == 0 and doc["truncated"] is True
    assert {(r["m"], r["phase"]) for r in doc["rows"]} == {(512, "first"), (1024, "first")}


# ------------------------------------------------------------------------------------------------ GPU


def _lib_or_skip():
    if not LIB.is_file():
        pytest.skip(f"no {LIB.relative_to(ROOT)}: build it with tools/gemm_sweep/build.sh (or carry it)")


@pytest.mark.gpu
def test_entry_points_refuse_bad_knobs(sweep):
    _lib_or_skip()
    import torch

    lib = sweep.SweepLib(LIB, sweep.CANDIDATES)
    assert not lib.missing
    m, n, k = 256, 512, 256
    a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
    b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()
    sa, sb = torch.ones(m, device="cuda"), torch.ones(n, device="cuda")
    out = torch.full((m, n), float("nan"), device="cuda", dtype=torch.bfloat16)
    stream = ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def call(name, out_dtype=0, swizzle=1, raster=0, promotion=4):
        return lib.run[name](
            out.data_ptr(),
            n,
            a.data_ptr(),
            k,
            b.data_ptr(),
            k,
            sa.data_ptr(),
            sb.data_ptr(),
            None,
            m,
            n,
            k,
            out_dtype,
            swizzle,
            raster,
            promotion,
            stream,
        )

    assert call("coop_128x128_c2x1", swizzle=3) == -5
    assert call("coop_128x128_c2x1", raster=3) == -5
    assert call("coop_128x128_c2x1", out_dtype=1) == -3
    assert call("coop_128x128_c2x1_fast", promotion=8) == -4
    assert torch.isnan(out.float()).all()  # nothing ran
    assert call("coop_128x128_c2x1", swizzle=8, raster=2, promotion=8) == 0
    ref = torch._scaled_mm(a, b, scale_a=sa.view(-1, 1), scale_b=sb.view(1, -1), out_dtype=torch.bfloat16)
    check = sweep.judge(out, ref, fast_accum=False)
    assert check.ok, check
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    for c in sweep.CANDIDATES:
        lib.kernel_attrs(c, sms)
        info = lib.info[c.name]
        assert info["regs"] > 0 and info["stages"] >= 2 and info["max_active_clusters"] > 0, info
        assert info["grid_clusters"] == sms // c.cluster_size


@pytest.mark.gpu
def test_small_sweep_end_to_end(tmp_path):
    _lib_or_skip()
    out = tmp_path / "sweep.json"
    result = run_script(
        "--lib",
        str(LIB),
        "--m",
        "512",
        "--shapes",
        "2112x7168",
        "--knob-candidates",
        "1",
        "--reps",
        "3",
        "--rounds",
        "2",
        "--target-ms",
        "0.5",
        "--json",
        str(out),
        gpu=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    doc = json.loads(out.read_text())
    rows = doc["rows"]
    phases = {p: [r for r in rows if r["phase"] == p] for p in ("first", "knobs", "promotion")}
    n_refs = 3 if any(r["impl"] == "kernelkit_ops" for r in rows) else 2
    assert len(phases["first"]) == n_refs + 8
    assert len(phases["knobs"]) == 1 + 2 * 9 and len(phases["promotion"]) == 1 + 2 * 2
    for r in rows:
        if not r["fast_accum"]:
            assert r["status"] == "ok", r
            assert r["check"]["max_rel"] <= 2.0**-6 and r["x_torch"] > 0.2, r
        if r["impl"].endswith("_fast"):
            assert r["status"] == "ok" and r["check"]["bound"] == 2.0**-3
    assert doc["ceiling_tflops"] > 100 and doc["truncated"] is False
    assert doc["best"][0]["baseline"]["label"] == "coop_128x128_c2x1 s1H p4"
    assert "of the ceiling" in result.stdout and out.with_suffix(".md").is_file()


def test_the_commit_label_takes_kernelkit_commit_first(sweep, monkeypatch):
    # the GPU machine's copy of the tree can hold a stale .git (this tool's first run recorded an older commit)
    monkeypatch.setenv("KERNELKIT_COMMIT", "abc1234+sweep")
    assert sweep.git_commit() == "abc1234+sweep"
    monkeypatch.delenv("KERNELKIT_COMMIT")
    assert sweep.git_commit() not in ("", "abc1234+sweep")
