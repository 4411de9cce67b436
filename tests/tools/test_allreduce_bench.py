"""tools/allreduce_bench.py without a GPU: size parsing, the bus-bandwidth formula, the calls-per-graph plan, the
rounding bound of the correctness check (against simulated NCCL summation orders), the algorithm mirror against
library/csrc/allreduce/all_reduce.cu, the report on synthetic rows, the refusal of a world larger than the GPUs, and
the multi-process machinery end to end in --dry-cpu mode (spawn, gloo group, checks, gathers, the report, a failing
rank, a hung rank, the time budget). GPU tests: the real table on 2 (4, 8) GPUs, skipped with the reason below that.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tool_scripts import load_tool, run_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "allreduce_bench.py"
KERNEL_SRC = ROOT / "library" / "csrc" / "allreduce" / "all_reduce.cu"


def run_script(*args: str, gpu: bool = False, timeout: float = 180, env: dict | None = None):
    return run_tool(SCRIPT.name, *args, gpu=gpu, timeout=timeout, env=env, checkout_on_path=True)


@pytest.fixture(scope="module")
def bench():
    return load_tool(SCRIPT.name)


# ------------------------------------------------------------------------------------------------ sizes


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8K", 8 << 10), ("64k", 64 << 10), ("512K", 512 << 10), ("2M", 2 << 20), ("8M", 8 << 20), ("1G", 1 << 30),
     ("16", 16), ("4096B", 4096), ("64KB", 64 << 10), ("64KiB", 64 << 10), (" 8K ", 8 << 10)],
)  # fmt: skip
def test_sizes_parse_in_binary_units(bench, text, expected):
    assert bench.parse_size(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("8", "multiple of 16"), ("100", "multiple of 16"), ("24B", "multiple of 16"), ("0", "multiple of 16"),
     ("0K", "multiple of 16"), ("abc", "integer with K, M or G"), ("", "integer with K, M or G"),
     ("8X", "integer with K, M or G"), ("1.5M", "integer with K, M or G"), ("-16", "integer with K, M or G"),
     ("K", "integer with K, M or G"), ("8KK", "integer with K, M or G")],
)  # fmt: skip
def test_bad_sizes_are_refused_with_the_reason(bench, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bench.parse_size(text)


def test_size_lists_are_sorted_and_deduplicated(bench):
    assert bench.parse_sizes("8M,8K,64K,8K") == (8 << 10, 64 << 10, 8 << 20)
    for bad in ("8K,,64K", "", "8K,"):
        with pytest.raises(argparse.ArgumentTypeError, match="comma-separated"):
            bench.parse_sizes(bad)
    assert [bench.format_size(s) for s in bench.parse_sizes(bench.DEFAULT_SIZES)] == ["8K", "64K", "512K", "2M", "8M"]
    assert bench.format_size(48) == "48B" and bench.format_size(3 << 30) == "3G"


def test_the_command_line_refuses_bad_sizes_in_one_line():
    out = run_script("--sizes", "8K,100", "--dry-cpu")
    assert out.returncode == 2 and "multiple of 16" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------------------------ arithmetic


@pytest.mark.parametrize("world", [2, 3, 4, 6, 8])
def test_bus_bandwidth_is_nccls_definition(bench, world):
    nbytes, us = 8 << 20, 25.0
    algbw = nbytes / (us * 1e-6) / 1e9  # GB/s: bytes of the message over the time
    assert bench.alg_bandwidth_gbs(nbytes, us) == pytest.approx(algbw)
    assert bench.bus_bandwidth_gbs(nbytes, us, world) == pytest.approx(algbw * 2 * (world - 1) / world)
    # two ranks: every byte crosses the link once each way, busbw == algbw
    assert bench.bus_bandwidth_gbs(nbytes, us, 2) == pytest.approx(algbw)


@pytest.mark.parametrize("target_us", [50.0, 200.0, 1000.0])
def test_the_calls_plan_fills_the_target_with_the_fewest_calls(bench, target_us):
    sizes = [16, 8 << 10, 64 << 10, 512 << 10, 2 << 20, 8 << 20, 64 << 20, 1 << 30]
    plan = [bench.calls_per_graph(s, target_us) for s in sizes]
    assert plan == sorted(plan, reverse=True)  # larger calls, fewer of them
    for nbytes, calls in zip(sizes, plan):
        est = bench.estimated_call_us(nbytes)
        assert bench.MIN_CALLS <= calls <= bench.MAX_CALLS
        if bench.MIN_CALLS < calls < bench.MAX_CALLS:
            assert calls * est >= target_us > (calls - 1) * est
        elif calls == bench.MIN_CALLS:
            assert calls * est >= target_us
        assert bench.calls_per_graph(nbytes, target_us, dry=True) == min(calls, bench.DRY_MAX_CALLS)
    # the estimate is optimistic (faster than the predictions in docs/perf-notes.md: 4-6 us at 8-64 KB, ~25 us at
    # 8 MB on 2 x H100), so real replays are at least as long as the target
    assert bench.estimated_call_us(8 << 10) < 4 and bench.estimated_call_us(8 << 20) < 25


def _round(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return x.to(dtype).double()


@pytest.mark.parametrize("dtype_name", ["bf16", "fp16", "fp32"])
@pytest.mark.parametrize("world", [2, 4, 8])
def test_the_rounding_bound_holds_for_nccl_like_orders(bench, dtype_name, world):
    """The check's bound covers the difference between the kernel's arithmetic (fp32 in rank order, rounded once)
    and sums rounded to the dtype after every step, in ring orders from every rank and a pairwise tree."""
    dtype = getattr(torch, bench.DTYPES[dtype_name])
    gen = torch.Generator().manual_seed(world)
    xs = [torch.randn(1 << 15, generator=gen).to(dtype) for _ in range(world)]
    acc = xs[0].float()
    for x in xs[1:]:
        acc = acc + x.float()
    custom = acc.to(dtype).double()
    bound = bench.sum_tolerance_factor(world, dtype_name) * sum(x.double().abs() for x in xs)
    orders = [[(start + k) % world for k in range(world)] for start in range(world)]
    for order in orders:
        partial = xs[order[0]].double()
        for r in order[1:]:
            partial = _round(partial + xs[r].double(), dtype)
        assert bool(((custom - partial).abs() <= bound).all()), order
    level = [x.double() for x in xs]
    while len(level) > 1:
        level = [_round(level[i] + level[i + 1], dtype) for i in range(0, len(level), 2)]
    assert bool(((custom - level[0]).abs() <= bound).all())
    # and it is not vacuous: a sum that misses one rank's input is caught
    missing = sum(x.double() for x in xs[:-1])
    assert bool(((custom - missing).abs() > bound).any())


# ------------------------------------------------------------------------------------------------ the kernel's rule


def kernel_rule() -> dict:
    """The algorithm switch and the grid of launch() in all_reduce.cu, read from the source."""
    text = KERNEL_SRC.read_text()
    two_shot = re.search(
        r"const bool two_shot = N > (\d+) && fa\.full_nvlink && bytes >= "
        r"\(N <= (\d+) \? \((\d+) << (\d+)\) : \((\d+) << (\d+)\)\);",
        text,
    )
    assert two_shot, "all_reduce.cu's two-shot rule changed form: update tools/allreduce_bench.py's mirror and this"
    g = [int(v) for v in two_shot.groups()]
    assert "const int64_t work = two_shot ? (packs + N - 1) / N : packs;" in text
    assert "std::clamp<int64_t>((work + kThreads - 1) / kThreads, 1, kMaxBlocks)" in text
    return {
        "more_than": g[0],
        "small_world_max": g[1],
        "small_world_bytes": g[2] << g[3],
        "large_world_bytes": g[4] << g[5],
        "max_blocks": int(re.search(r"constexpr int kMaxBlocks = (\d+);", text).group(1)),
        "threads": int(re.search(r"constexpr int kThreads = (\d+);", text).group(1)),
        "pack": int(re.search(r"kAllReducePackBytes = (\d+)", (ROOT / "library" / "include" / "kernelkit_ops" /
                                                                 "allreduce" / "all_reduce.h").read_text()).group(1)),
    }  # fmt: skip


def test_the_algorithm_mirror_has_the_kernels_constants(bench):
    rule = kernel_rule()
    assert bench.TWO_SHOT_MIN_RANKS == rule["more_than"] + 1
    assert rule["small_world_max"] == 4  # the mirror's `world <= 4`
    assert bench.TWO_SHOT_FROM_BYTES_UP_TO_4 == rule["small_world_bytes"]
    assert bench.TWO_SHOT_FROM_BYTES_ABOVE_4 == rule["large_world_bytes"]
    assert bench.KERNEL_MAX_BLOCKS == rule["max_blocks"]
    assert bench.KERNEL_THREADS == rule["threads"]
    assert bench.PACK_BYTES == rule["pack"]


@pytest.mark.parametrize("world", [2, 4, 6, 8])
@pytest.mark.parametrize("full_nvlink", [True, False])
def test_the_algorithm_mirror_decides_as_the_kernel(bench, world, full_nvlink):
    rule = kernel_rule()
    threshold = rule["small_world_bytes"] if world <= rule["small_world_max"] else rule["large_world_bytes"]
    sizes = {16, 8 << 10, 64 << 10, 2 << 20, 8 << 20, threshold - 16, threshold, threshold + 16}
    for nbytes in sorted(sizes):
        two = world > rule["more_than"] and full_nvlink and nbytes >= threshold
        assert bench.algorithm(world, full_nvlink, nbytes) == ("two-shot" if two else "one-shot"), nbytes
        packs = nbytes // rule["pack"]
        work = (packs + world - 1) // world if two else packs
        blocks = min(max((work + rule["threads"] - 1) // rule["threads"], 1), rule["max_blocks"])
        assert bench.kernel_blocks(world, full_nvlink, nbytes) == blocks, nbytes


def test_the_default_max_size_is_the_helpers(bench):
    import inspect

    from kernelkit_ops.allreduce import CustomAllreduce

    assert inspect.signature(CustomAllreduce.__init__).parameters["max_size"].default == bench.DEFAULT_MAX_SIZE


def test_the_path_follows_the_helpers_rule(bench):
    m = bench.DEFAULT_MAX_SIZE
    assert bench.path_at(8 << 10, True, m) == "custom"
    assert bench.path_at(m, True, m) == "custom"
    assert bench.path_at(m + 16, True, m) == "NCCL"
    assert bench.path_at(8 << 10, False, m) == "NCCL (custom off)"
    assert f"up to max_size ({bench.format_size(m)} by default)" in bench.handover_rule(m)


# ------------------------------------------------------------------------------------------------ refusals


def test_world_against_the_gpu_count(bench):
    assert bench.check_world(2, 2) is None and bench.check_world(4, 8) is None
    assert "needs 4 GPUs (one rank per GPU), 2 visible" in bench.check_world(4, 2)
    assert "at least 2 ranks" in bench.check_world(1, 8)


def test_a_world_larger_than_the_gpus_is_refused(bench, monkeypatch, capsys):
    monkeypatch.setattr(bench, "gpu_count", lambda: 1)  # a fake machine of one GPU
    assert bench.main(["--world", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("allreduce_bench: --world 2 needs 2 GPUs (one rank per GPU), 1 visible")


def test_without_gpus_the_command_refuses_in_one_line():
    out = run_script("--world", "2")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("allreduce_bench: --world 2 needs 2 GPUs (one rank per GPU), 0 visible")
    assert len(out.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------------------ the report


def _meta(bench, enabled=True, world=2):
    return {
        "tool": "allreduce_bench", "world": world, "dtype": "bf16", "mode": "gpu", "devices": ["GPU"] * world,
        "torch": "2.11", "nccl": "2.27.3", "commit": "abc1234", "date": "2026-12-07T00:00:00+00:00",
        "custom": {"enabled": enabled, "disabled_reason": None if enabled else "4 ranks without NVLink",
                   "full_nvlink": enabled, "max_size": 8 << 20, "default_max_size": bench.DEFAULT_MAX_SIZE},
        "not_run": [],
    }  # fmt: skip


def _row(bench, size, custom, nccl, world=2, path="custom"):
    nbytes = bench.parse_size(size)
    return {"bytes": nbytes, "numel": nbytes // 2, "calls": bench.calls_per_graph(nbytes), "path": path,
            "algorithm": bench.algorithm(world, True, nbytes) if custom else "—", "custom_graph_us": custom,
            "nccl_graph_us": nccl, "custom_eager_us": custom and custom * 2, "nccl_eager_us": nccl * 1.5,
            "status": "ok", "notes": []}  # fmt: skip


def test_the_report_of_synthetic_rows(bench, tmp_path):
    rows = [_row(bench, "8K", 4.0, 12.0), _row(bench, "64K", 4.5, 13.0), _row(bench, "512K", 7.0, 12.0),
            _row(bench, "2M", 14.0, 20.0), _row(bench, "8M", 30.0, 25.0)]  # fmt: skip
    doc = bench.results_document(_meta(bench), rows)
    by = {r["bytes"]: r for r in doc["rows"]}
    r8m = by[8 << 20]
    assert r8m["x_nccl"] == pytest.approx(25.0 / 30.0)
    assert r8m["busbw_custom_gbs"] == pytest.approx((8 << 20) / 30e-6 / 1e9)  # 2 ranks: busbw == algbw
    assert r8m["busbw_pct_of_nccl"] == pytest.approx(100 * 25.0 / 30.0)
    assert by[8 << 10]["x_nccl_eager"] == pytest.approx(18.0 / 8.0)
    # NCCL wins at 8 MB, where the helper still takes the custom path: the crossover says so
    assert doc["crossover"]["measured"] == 8 << 20 and doc["crossover"]["disagreements"] == ["8M"]
    assert "NCCL faster from 8M; the helper's hand-over disagrees at 8M" in doc["crossover"]["text"]
    verdicts = {t["target"]: (t["met"], t["detail"]) for t in doc["targets"]}
    assert verdicts["<= 5 us at <= 64K on 2 GPUs"] == (True, "8K 4.0 us, 64K 4.5 us")
    assert verdicts[">= 1.5x NCCL up to 512K"] == (True, "8K 3.00x, 64K 2.89x, 512K 1.71x")
    assert verdicts["busbw >= 80% of NCCL's at 8M, or handed to NCCL"] == (True, "83% of NCCL's busbw")
    text = bench.table(doc)
    assert "allreduce_bench: 2 x GPU, bf16, torch 2.11, NCCL 2.27.3, commit abc1234" in text
    assert "custom all-reduce: on; full_nvlink=True; max_size 8M" in text
    assert "| 8K | 4.00 | 12.00 | 3.00x | one-shot | 2.0 | 0.7 | 300% | custom | 8.00 | 18.00 | 100 | ok |" in text
    assert "| 8M | 30.00 | 25.00 | 0.83x | one-shot | 279.6 | 335.5 | 83% | custom | 60.00 | 37.50 | 20 | ok |" in text
    assert "target >= 1.5x NCCL up to 512K: met (8K 3.00x, 64K 2.89x, 512K 1.71x)" in text
    assert bench.summary_line(doc) == (
        "allreduce_bench: summary world=2 bf16: x NCCL 8K 3.00x, 64K 2.89x, 512K 1.71x, 2M 1.43x, 8M 0.83x; ok"
    )
    path = tmp_path / "out" / "ar.json"
    bench.write_results(path, doc)
    assert json.loads(path.read_text()) == json.loads(json.dumps(doc))
    assert path.with_suffix(".md").read_text() == text + "\n"


def test_the_report_when_the_helper_hands_over_at_the_crossover(bench):
    rows = [_row(bench, "512K", 7.0, 12.0), _row(bench, "16M", 60.0, 45.0, path="NCCL")]
    doc = bench.results_document(_meta(bench), rows)
    assert doc["crossover"]["agrees"] is True
    assert doc["crossover"]["text"] == "NCCL faster from 16M; the helper's hand-over agrees"
    slow = [_row(bench, "8K", 6.0, 12.0), _row(bench, "64K", 5.5, 7.0), _row(bench, "512K", 9.0, 12.0)]
    doc = bench.results_document(_meta(bench), slow)
    assert doc["crossover"]["text"] == "custom faster at every size up to 512K; the helper's hand-over agrees"
    verdicts = {t["target"]: t["met"] for t in doc["targets"]}
    assert verdicts == {"<= 5 us at <= 64K on 2 GPUs": False, ">= 1.5x NCCL up to 512K": False}
    assert "target <= 5 us at <= 64K on 2 GPUs: MISSED (8K 6.0 us, 64K 5.5 us)" in bench.table(doc)


def test_the_report_without_the_custom_path(bench):
    rows = [_row(bench, "8K", None, 12.0, world=4, path="NCCL (custom off)")]
    rows[0]["status"] = "ok"
    doc = bench.results_document(_meta(bench, enabled=False, world=4), rows)
    assert doc["crossover"]["text"] == "no size timed on both paths" and doc["targets"] == []
    text = bench.table(doc)
    assert "custom all-reduce: off (4 ranks without NVLink)" in text
    assert "| 8K | — | 12.00 | — | — | — | 1.0 | — | NCCL (custom off) | — | 18.00 | 100 | ok |" in text
    failed = dict(rows[0], status="FAILED: ranks' custom results differ in their bits")
    doc = bench.results_document(_meta(bench, enabled=False, world=4), [failed])
    assert doc["failures"] == ["8K: FAILED: ranks' custom results differ in their bits"]
    assert bench.summary_line(doc).endswith("; 1 FAILED")


# ------------------------------------------------------------------------------------------------ end to end (CPU)


def test_dry_cpu_runs_the_ranks_end_to_end(tmp_path):
    out = run_script("--dry-cpu", "--world", "2", "--sizes", "8K,64K", "--json", str(tmp_path / "r.json"),
                     env={"KERNELKIT_COMMIT": "c0ffee"})  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert (doc["mode"], doc["world"], doc["devices"], doc["commit"]) == ("dry-cpu", 2, ["cpu", "cpu"], "c0ffee")
    assert doc["complete"] is True and doc["not_run"] == [] and doc["failures"] == []
    assert doc["env"]["NCCL_NVLS_ENABLE"] == "0"
    assert doc["custom"]["enabled"] is False and "no CUDA GPU" in doc["custom"]["disabled_reason"]
    assert [r["bytes"] for r in doc["rows"]] == [8 << 10, 64 << 10]
    for row in doc["rows"]:
        assert row["status"] == "ok" and row["path"] == "NCCL (custom off)"
        check = row["check"]
        assert check["ranks_same_bits"] is True and check["inexact_elements"] == 0
        assert 0 <= check["max_err_over_bound"] <= 1 and 0 < check["nccl_max_err_over_bound"] <= 1
        assert row["nccl_eager_us"] > 0 and row["custom_eager_us"] > 0 and row["nccl_graph_us"] is None
        assert len(row["per_rank_us"]["nccl_eager"]) == 2
    assert "| 8K | — | — | — | — | — | — | — | NCCL (custom off) |" in out.stdout
    assert "allreduce_bench: summary world=2 bf16" in out.stdout
    assert (tmp_path / "r.md").read_text().startswith("allreduce_bench: 2 x cpu, bf16")


def test_dry_cpu_a_failing_rank_stops_all_and_is_reported_once(tmp_path):
    out = run_script("--dry-cpu", "--world", "3", "--sizes", "8K", "--inject-failure", "1",
                     "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert out.returncode == 1
    assert out.stderr.count("injected failure on rank 1") == 1 and out.stderr.count("rank 1 failed") == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["complete"] is False and "injected failure on rank 1" in doc["error"]


def test_dry_cpu_a_hung_rank_is_killed_after_the_grace(tmp_path):
    out = run_script("--dry-cpu", "--world", "2", "--sizes", "8K", "--inject-hang", "1", "--time-budget-s", "1",
                     "--grace-s", "5")  # fmt: skip
    assert out.returncode == 1
    assert "still running 6 s after launch (a collective hung?): killed" in out.stderr


def _processes_with(marker: str) -> list[int]:
    """Pids of the processes whose environment holds `marker` (Linux /proc; processes that vanish are skipped)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").is_file(), reason="needs Linux /proc to find the ranks")
@pytest.mark.parametrize("delay_s", [0.0, 3.0], ids=["while-the-ranks-start", "while-they-run"])
def test_dry_cpu_sigterm_stops_the_ranks_with_the_parent(delay_s):
    """gpu_check's `timeout` sends SIGTERM to the tool: its ranks must not outlive it (they would hold the GPUs),
    also when it comes while they are still being spawned (seconds on a busy machine: torch's import)."""
    marker = f"KK_ALLREDUCE_TEST_{os.getpid()}_{int(delay_s * 10)}=1"
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    env[marker.split("=")[0]] = "1"  # inherited by the ranks: how the test finds them
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "library" / "python"), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, str(SCRIPT), "--dry-cpu", "--world", "2", "--sizes", "8K",
                             "--inject-hang", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        assert proc.stdout.readline().startswith("allreduce_bench: 2 ranks (dry-cpu)")  # the handler is in place
        time.sleep(delay_s)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "interrupted (SIGINT/SIGTERM)" in err and "Traceback" not in err
    if delay_s:
        assert "interrupted (SIGINT/SIGTERM): ranks 0, 1 stopped" in err
    deadline = time.time() + 10
    while _processes_with(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_with(marker) == []  # no rank left behind


def test_dry_cpu_the_time_budget_stops_before_a_size(tmp_path):
    out = run_script("--dry-cpu", "--world", "2", "--sizes", "8K,64K", "--time-budget-s", "0",
                     "--json", str(tmp_path / "r.json"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["rows"] == [] and doc["complete"] is False and doc["not_run"] == ["8K", "64K"]
    assert "not run (the time budget, 0 s): 8K, 64K" in out.stdout


# ------------------------------------------------------------------------------------------------ GPU


@pytest.mark.gpu
@pytest.mark.parametrize(
    "world",
    [pytest.param(w, marks=pytest.mark.skipif(torch.cuda.device_count() < w, reason=f"needs {w} GPUs (one rank per "
                                              f"GPU), {torch.cuda.device_count()} visible")) for w in (2, 4, 8)],
)  # fmt: skip
def test_the_table_on_several_gpus(tmp_path, world):
    out = run_script("--world", str(world), "--sizes", "8K,512K", "--json", str(tmp_path / "r.json"),
                     "--time-budget-s", "150", gpu=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["mode"] == "gpu" and len(doc["devices"]) == world and doc["complete"] is True
    assert doc["env"]["NCCL_NVLS_ENABLE"] == "0"
    for row in doc["rows"]:
        assert row["status"] == "ok", row
        assert row["nccl_graph_us"] > 0 and row["nccl_eager_us"] > 0 and row["notes"] == []
        if doc["custom"]["enabled"]:
            assert row["custom_graph_us"] > 0 and row["check"]["inexact_elements"] == 0
            assert row["check"]["ranks_same_bits"] is True and row["path"] == "custom"
            assert row["samples"]["custom_graph"] >= 10 and row["samples"]["nccl_graph"] >= 10
        else:
            assert world > 2 and row["path"] == "NCCL (custom off)"
    assert math.isfinite(doc["rows"][0]["busbw_nccl_gbs"])
