"""kernelkit bench without a GPU: bench files, the bytes/FLOP model, statistics, % of ceiling,
JSON/Markdown/PNG rendering and --compare verdicts, on synthetic timings."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest
from typer.testing import CliRunner

from kernelkit.benchspec import Case
from kernelkit.cli import app
from kernelkit.perf import harness as core
from kernelkit.perf.timing import Timing, quantile, rotation_count, summarize
from kernelkit.project import find_project

CEILINGS = core.Ceilings(copy_gbs=3000.0, bf16_tflops=700.0, fp8_tflops=1300.0)


@pytest.fixture
def project(repo_root):
    return find_project(repo_root)


def timing(us: float, spread: float = 0.01) -> Timing:
    return Timing(
        us=us, us_p20=us * (1 - spread), us_p80=us * (1 + spread), us_min=us * 0.97, us_max=us * 1.05, samples=10
    )


def test_every_bench_file_loads_without_a_gpu(project):
    files = core.bench_files(project)
    assert {"silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul"} <= set(files)
    for op in files:
        b = core.load_bench(project, op)
        assert b.op == op and "kernelkit" in b.impls and b.cases
        assert all(b.bytes_moved(c) > 0 for c in b.cases)


@pytest.mark.parametrize("op", ["silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul"])
def test_gated_activation_bytes_model(project, op):
    b = core.load_bench(project, op)
    assert [c.tokens for c in b.cases] == [1, 128, 2048, 16384]
    case = b.cases[2]
    d = case.size("d")
    assert d == 14336 and case.dtype == "bfloat16"
    # read [T, 2d] once + write [T, d] once, 2 bytes each
    assert b.bytes_moved(case) == 2048 * (2 * d + d) * 2


def test_unknown_bench_lists_known_ops(project):
    with pytest.raises(Exception, match="ops with one: .*silu_and_mul"):
        core.load_bench(project, "no_such_op")


def test_quantiles_and_summary():
    assert quantile([1, 2, 3, 4, 5], 0.5) == 3
    assert quantile([1, 2, 3, 4, 5], 0.2) == pytest.approx(1.8)
    t = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (t.us, t.us_min, t.us_max, t.samples) == (3.0, 1.0, 5.0, 5)
    assert t.us_p20 <= t.us <= t.us_p80


def test_rotation_count_makes_a_pass_exceed_twice_l2():
    l2 = 50 * 2**20
    assert rotation_count(1 << 30, l2) == 1
    n = rotation_count(8 << 20, l2)
    assert n * (8 << 20) >= 2 * l2 and (n - 1) * (8 << 20) < 2 * l2
    assert rotation_count(100, l2) == 64  # capped


def test_pct_of_ceiling_memory_bound():
    # 3 GB moved in 1 ms at a 3000 GB/s ceiling is exactly the floor
    pct, bound = core.pct_of_ceiling(1000.0, 3 * 10**9, 10**6, CEILINGS)
    assert bound == "copy_gbs" and pct == pytest.approx(100.0)
    pct, _ = core.pct_of_ceiling(2000.0, 3 * 10**9, 0, CEILINGS)
    assert pct == pytest.approx(50.0)


def test_pct_of_ceiling_math_bound():
    flops = 2 * 8192**3
    pct, bound = core.pct_of_ceiling(flops / 700e12 * 1e6 * 2, 3 * 8192**2 * 2, flops, CEILINGS)
    assert bound == "bf16_tflops" and pct == pytest.approx(50.0)


def test_pct_of_ceiling_judges_flops_at_the_operand_types_peak():
    flops = 2 * 8192**3
    us = flops / 1300e12 * 1e6  # exactly the fp8 peak
    pct, bound = core.pct_of_ceiling(us, 3 * 8192**2, flops, CEILINGS, "fp8")
    assert bound == "fp8_tflops" and pct == pytest.approx(100.0)
    # the same time against bf16's (lower) peak would read 186%: the wrong ceiling flatters a kernel
    assert core.pct_of_ceiling(us, 3 * 8192**2, flops, CEILINGS)[0] == pytest.approx(1300 / 7)
    # int8 not measured on this device: bf16's peak stands in, and the row says so
    pct, bound = core.pct_of_ceiling(us, 3 * 8192**2, flops, CEILINGS, "int8")
    assert bound == "bf16_tflops" and pct == pytest.approx(1300 / 7)
    with_int8 = core.Ceilings(copy_gbs=3000.0, bf16_tflops=700.0, int8_tops=1400.0)
    assert core.pct_of_ceiling(flops / 1400e12 * 1e6, 0, flops, with_int8, "int8") == (
        pytest.approx(100.0),
        "int8_tops",
    )


def test_the_int8_ceiling_is_the_faster_of_int_mm_and_the_fp8_peak():
    # the H100's measurements: torch._int_mm 911 TOP/s, fp8 1288 TFLOP/s (one dense tensor-core rate for both)
    assert core.int8_ceiling(911.0, 1288.0) == 1288.0
    assert core.int8_ceiling(1400.0, 1288.0) == 1400.0
    assert core.int8_ceiling(911.0, None) == 911.0
    # no int8 GEMM on the device: no int8 ceiling (rows fall back to bf16's and say so), whatever fp8 measured
    assert core.int8_ceiling(None, 1288.0) is None


def test_a_bench_names_a_known_math_ceiling():
    from kernelkit.benchspec import OpBench

    with pytest.raises(ValueError, match="expected one of bf16, fp8, int8"):
        OpBench("g", [], dict, {"kernelkit": id}, id, lambda case: 0, math="fp16")


# A copy's time per size as measured on the H100 (bytes moved, µs): mid sizes run below the ceiling.
CURVE = [(1 << 20, 2.2), (16 << 20, 7.7), (32 << 20, 13.2), (64 << 20, 23.6), (1 << 30, 360.0)]


def test_copy_time_at_a_size_interpolates_the_curve():
    assert core.copy_us_at(16 << 20, CURVE) == pytest.approx(7.7)  # a measured point
    mid = core.copy_us_at(24 << 20, CURVE)
    assert 7.7 < mid < 13.2
    assert mid == pytest.approx(7.7 * (13.2 / 7.7) ** (math.log(1.5) / math.log(2)))  # log-log
    assert core.copy_us_at(1000, CURVE) == pytest.approx(2.2)  # below: the smallest copy's time
    assert core.copy_us_at(2 << 30, CURVE) == pytest.approx(720.0)  # beyond: the largest's bandwidth
    assert core.copy_us_at(16 << 20, list(reversed(CURVE))) == pytest.approx(7.7)  # order does not matter


def test_rows_are_judged_against_a_copy_of_their_size():
    from dataclasses import replace

    case = Case(tokens=2048, dtype="bfloat16", shape=(("hidden", 4096),))

    class B:
        op = "rmsnorm"
        bytes_moved = staticmethod(lambda c: 32 << 20)
        flops = staticmethod(lambda c: 0)
        math = "bf16"

    with_curve = replace(CEILINGS, copy_curve=CURVE)
    row = core.make_row(B, case, "kernelkit", timing(13.2 / 1.01), with_curve)
    assert row.pct_of_size_copy == pytest.approx(101.0)
    assert row.pct_of_ceiling < 90  # the same row against the large-copy ceiling
    assert core.make_row(B, case, "kernelkit", timing(13.0), CEILINGS).pct_of_size_copy is None  # no curve

    class MathBound(B):
        flops = staticmethod(lambda c: 10**15)

    assert core.make_row(MathBound, case, "kernelkit", timing(2000.0), with_curve).pct_of_size_copy is None
    doc = core.results_document([row], with_curve, {"device": "NVIDIA H100 80GB HBM3"})
    assert doc["ceilings"]["copy_curve"] == CURVE
    line = next(text for text in core.markdown(doc).splitlines() if "| kernelkit |" in text)
    assert "| 101% |" in line


def make_doc(rows_us: dict[str, float], spread: float = 0.01) -> dict:
    b_case = Case(tokens=2048, dtype="bfloat16", shape=(("d", 14336),))

    class B:  # the slice of OpBench that make_row reads
        op = "silu_and_mul"
        bytes_moved = staticmethod(lambda c: c.tokens * 3 * c.size("d") * 2)
        flops = staticmethod(lambda c: 0)
        math = "bf16"

    rows = [core.make_row(B, b_case, impl, timing(us, spread), CEILINGS) for impl, us in rows_us.items()]
    core.add_speedups(rows)
    env = {
        "device": "NVIDIA H100 80GB HBM3",
        "driver": "580",
        "cuda": "13.0",
        "torch": "2.11.0",
        "commit": "abc1234",
        "date": "2026-11-23",
    }
    return core.results_document(rows, CEILINGS, env)


def test_results_json_schema():
    doc = make_doc({"kernelkit": 60.0, "torch": 170.0, "torch.compile": 100.0})
    assert {"device", "driver", "cuda", "torch", "commit", "date", "ceilings", "rows"} <= set(doc)
    assert doc["ceilings"] == {"copy_gbs": 3000.0, "bf16_tflops": 700.0, "fp8_tflops": 1300.0}
    row = next(r for r in doc["rows"] if r["impl"] == "kernelkit")
    for key in ("op", "case", "dtype", "tokens", "impl", "us", "us_p20", "us_p80", "gbs", "pct_of_ceiling"):
        assert key in row
    nbytes = 2048 * 3 * 14336 * 2
    assert row["gbs"] == pytest.approx(nbytes / 60e-6 / 1e9)
    assert row["pct_of_ceiling"] == pytest.approx(100 * row["gbs"] / 3000.0)
    assert row["speedup_vs_torch"] == pytest.approx(170 / 60) and row["speedup_vs_compile"] == pytest.approx(100 / 60)
    assert json.loads(json.dumps(doc)) == doc  # plain JSON


def test_markdown_table():
    md = core.markdown(make_doc({"kernelkit": 60.0, "torch": 170.0}))
    assert "NVIDIA H100 80GB HBM3" in md and "abc1234" in md and "3000 GB/s" in md
    line = next(text for text in md.splitlines() if "| kernelkit |" in text)
    assert "60.00" in line and "2.83×" in line


def test_markdown_states_the_launch_floor_when_measured():
    from dataclasses import replace

    doc = core.results_document([], replace(CEILINGS, empty_kernel_us=1.25), {"device": "NVIDIA H100 80GB HBM3"})
    assert doc["ceilings"]["empty_kernel_us"] == 1.25
    assert "empty kernel 1.25 µs per call" in core.markdown(doc)
    assert "empty kernel" not in core.markdown(core.results_document([], CEILINGS, {"device": "x"}))


def test_plot_writes_a_png(tmp_path):
    path = tmp_path / "plot.png"
    core.plot(make_doc({"kernelkit": 60.0, "torch": 170.0, "torch.compile": 100.0}), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_save_writes_json_markdown_and_png(tmp_path, project):
    from dataclasses import replace

    fake = replace(project, root=tmp_path)
    paths = core.save(make_doc({"kernelkit": 60.0}), fake, with_plot=True)
    assert [p.name for p in paths] == ["2026-11-23-abc1234.json", "2026-11-23-abc1234.md", "2026-11-23-abc1234.png"]
    assert paths[0].parent == tmp_path / "benchmarks" / "results" / "nvidia-h100-80gb-hbm3"


def test_compare_flags_only_real_regressions():
    old = make_doc({"kernelkit": 60.0, "torch": 170.0})
    same = make_doc({"kernelkit": 61.0, "torch": 170.0})
    assert not any(v.regressed for v in core.compare(old, same))
    assert all(v.within_spread for v in core.compare(old, same))  # 60 vs 61 with 1% spreads overlap
    slower = make_doc({"kernelkit": 66.0, "torch": 170.0})  # +10%, spreads of 1% do not overlap
    verdicts = {v.impl: v for v in core.compare(old, slower)}
    assert verdicts["kernelkit"].regressed and verdicts["kernelkit"].change == pytest.approx(0.1)
    assert not verdicts["kernelkit"].within_spread
    assert not verdicts["torch"].regressed
    noisy = make_doc({"kernelkit": 66.0, "torch": 170.0}, spread=0.08)  # +10% but within the noise
    assert not any(v.regressed for v in core.compare(make_doc({"kernelkit": 60.0}, spread=0.08), noisy))


def _write_results(folder, name, date, rows_us):
    doc = make_doc(rows_us)
    doc["date"] = date
    (folder / name).write_text(json.dumps(doc))


def test_only_our_rows_can_fail_a_compare():
    assert all(core.is_ours(i) for i in ("kernelkit", "kernelkit_no_pdl", "kernelkit_unfused"))
    assert not any(core.is_ours(i) for i in ("torch", "torch.compile", "liger", "sgl_kernel", "kernelkitten"))


def test_compare_committed_takes_the_newest_row_of_every_case(tmp_path):
    """Files ordered by date: a newer file's row replaces an older one's, rows only an older file has stay."""
    _write_results(tmp_path, "2026-12-07-bbb.json", "2026-12-07", {"kernelkit": 50.0})
    _write_results(tmp_path, "2026-11-23-aaa.json", "2026-11-23", {"kernelkit": 60.0, "torch": 170.0})
    merged = core.committed_results(tmp_path)
    assert merged["sources"] == ["2026-11-23-aaa.json", "2026-12-07-bbb.json"]
    assert {r["impl"]: (r["us"], r["source"]) for r in merged["rows"]} == {
        "kernelkit": (50.0, "2026-12-07-bbb.json"),
        "torch": (170.0, "2026-11-23-aaa.json"),
    }
    verdicts = core.compare(merged, make_doc({"kernelkit": 60.0, "torch": 170.0}))
    assert [(v.impl, v.old_source) for v in verdicts if v.regressed] == [
        ("kernelkit", "2026-12-07-bbb.json")
    ]  # 50 -> 60 µs
    assert {v.impl: v.old_source for v in verdicts}["torch"] == "2026-11-23-aaa.json"


def test_compare_committed_orders_one_days_files_by_commit(tmp_path):
    """Two files of one date: the one git committed later wins, whatever the names (commit hashes) say."""

    def git(*args, when=None):
        env = {"GIT_AUTHOR_DATE": f"{when} +0000", "GIT_COMMITTER_DATE": f"{when} +0000"} if when else {}
        subprocess.run(
            ["git", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", **env},
        )

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    _write_results(tmp_path, "2026-12-07-ffff.json", "2026-12-07", {"kernelkit": 60.0})
    git("add", ".")
    git("commit", "-qm", "first", when="2026-12-07T01:00:00")
    _write_results(tmp_path, "2026-12-07-0000.json", "2026-12-07", {"kernelkit": 40.0})
    git("add", ".")
    git("commit", "-qm", "second", when="2026-12-07T02:00:00")
    _write_results(tmp_path, "2026-12-07-1111.json", "2026-12-07", {"kernelkit": 99.0})  # not committed: last
    merged = core.committed_results(tmp_path)
    assert merged["sources"] == ["2026-12-07-ffff.json", "2026-12-07-0000.json", "2026-12-07-1111.json"]
    (tmp_path / "2026-12-07-1111.json").unlink()
    assert [r["us"] for r in core.committed_results(tmp_path)["rows"]] == [40.0]


def test_compare_committed_without_results_is_a_clear_error(tmp_path):
    with pytest.raises(core.KernelkitError, match="no results JSON"):
        core.committed_results(tmp_path)
    (tmp_path / "2026-12-07-x.json").write_text("{not json")
    with pytest.raises(core.KernelkitError, match="cannot read results JSON"):
        core.committed_results(tmp_path)


def test_compare_committed_reads_this_repositorys_results(project):
    """The committed H100 results merge: every op with a bench file has rows there, or is listed as awaiting
    its first device run -- and a listed op has no rows yet (it leaves the list when they land)."""
    results = project.benchmarks_dir / "results"
    merged = core.committed_results(results / "nvidia-h100-80gb-hbm3")
    assert merged["device"] == "NVIDIA H100 80GB HBM3"
    benched = {r["op"] for r in merged["rows"]}
    lines = (results / "awaiting-first-device-run.txt").read_text().splitlines()
    awaiting = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    ops = set(core.bench_files(project))
    assert ops <= benched | awaiting, sorted(ops - benched - awaiting)
    assert not awaiting & benched, f"results landed for {sorted(awaiting & benched)}: take them off the list"
    assert awaiting <= ops, f"listed but not ops with a bench file: {sorted(awaiting - ops)}"


def test_cli_without_gpu_says_so(repo_root, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the no-GPU message cannot be shown")
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul"])
    assert result.exit_code == 1 and "needs a CUDA GPU" in result.output


def test_cli_unknown_op_lists_known(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["bench", "nope"])
    assert result.exit_code == 2 and "silu_and_mul" in result.output and "Traceback" not in result.output


def test_reference_from_a_bench_file_compiles(project):
    # dynamo looks the reference's module up by name: the loader must register it in sys.modules
    import torch

    b = core.load_bench(project, "silu_and_mul")
    compiled = torch.compile(b.reference, dynamic=False)
    x = torch.randn(4, 16)
    torch.testing.assert_close(compiled({"input": x}), b.reference({"input": x}))


def test_compare_with_a_missing_file_is_a_clear_error(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--compare", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "cannot read results JSON" in result.output


@pytest.mark.parametrize(
    "content, problem",
    [
        ("[1, 2]", 'expected a JSON object with a "rows" list'),
        ('{"device": "x"}', 'expected a JSON object with a "rows" list'),
        ('{"rows": [3]}', "row 0 is not an object"),
        (
            '{"rows": [{"op": "silu_and_mul", "case": "T=1", "impl": "kernelkit", "us": "fast"}]}',
            'row 0 has no valid "us"',
        ),
    ],
    ids=["list", "no-rows", "row-not-object", "bad-time"],
)
def test_compare_with_a_file_that_is_not_results_is_refused_before_the_run(
    repo_root, monkeypatch, tmp_path, content, problem
):
    """Checked before anything is measured (on this machine without a GPU the refusal comes first, exit 2,
    not the GPU error, exit 1)."""
    monkeypatch.chdir(repo_root)
    bad = tmp_path / "old.json"
    bad.write_text(content)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--compare", str(bad)])
    assert result.exit_code == 2, result.output
    assert "not a results file" in result.output and problem in result.output


def test_a_saved_results_file_passes_the_check(repo_root):
    saved = sorted((repo_root / "benchmarks" / "results").glob("*/*.json"))
    assert saved and all(core.results_problem(json.loads(p.read_text())) is None for p in saved)


@pytest.mark.parametrize("tokens", ["abc", "1.5", "0", "-5", "1,,2"])
def test_bad_tokens_are_refused(repo_root, monkeypatch, tokens):
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--tokens", tokens])
    assert result.exit_code == 2 and "--tokens" in result.output and "internal error" not in result.output


@pytest.mark.gpu
def test_allocated_outputs_rotate_like_the_inputs():
    """An implementation that allocates its output must not get the same (L2-warm) block on every call
    of the captured graph: outputs rotate over as many buffers as there are input copies."""
    import torch

    from kernelkit.perf.timing import _capture

    copies, n = 4, 12
    seen: list[int] = []

    def make(i: int):
        def call():
            out = torch.empty(1 << 20, device="cuda")
            seen.append(out.data_ptr())
            return out

        return call

    graph = _capture([make(i) for i in range(copies)], n, offset=0)
    captured = seen[-n:]
    assert len(set(captured)) >= copies
    assert all(captured[k] != captured[k - j] for k in range(n) for j in range(1, copies) if k - j >= 0)
    graph.replay()
    torch.cuda.synchronize()


class _FakeGpuRun:
    """The GPU side of `kernelkit bench` faked: ceilings, device properties, and run_case returning one synthetic
    row per case while a fake clock advances `seconds_per_case`; `interrupt_at` makes that call raise Ctrl-C."""

    def __init__(self, monkeypatch, seconds_per_case: float, interrupt_at: int | None = None):
        import types

        import torch

        from kernelkit.cli import bench as bench_cli

        self.now, self.calls = 0.0, []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(
            torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(L2_cache_size=50 << 20)
        )
        monkeypatch.setattr(core, "measure_ceilings", lambda remeasure=False: CEILINGS)
        monkeypatch.setattr(
            core,
            "environment",
            lambda project: {"device": "Fake GPU", "commit": "abc1234", "date": "2026-12-07", "torch": "2.11.0"},
        )
        monkeypatch.setattr(bench_cli.time, "monotonic", lambda: self.now)

        def run_case(b, case, impls, ceilings, l2):
            if interrupt_at is not None and len(self.calls) == interrupt_at:
                raise KeyboardInterrupt
            self.calls.append(f"{b.op} {case.label}")
            self.now += seconds_per_case
            return [core.make_row(b, case, "kernelkit", timing(10.0), ceilings)]

        monkeypatch.setattr(core, "run_case", run_case)


def test_time_budget_keeps_and_labels_the_cases_that_finished(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    fake = _FakeGpuRun(monkeypatch, seconds_per_case=4.0)
    out = tmp_path / "r.json"
    args = ["bench", "silu_and_mul", "--no-baselines", "--time-budget", "10", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    planned = len(core.load_bench(find_project(repo_root), "silu_and_mul").cases)
    assert planned > 3 and len(fake.calls) == 3  # started at t = 0, 4, 8; at 12 the 10 s budget is spent
    doc = json.loads(out.read_text())
    assert core.results_problem(doc) is None and len(doc["rows"]) == 3
    assert doc["incomplete"]["reason"] == "--time-budget 10 s spent"
    assert len(doc["incomplete"]["not_run"]) == planned - 3
    assert not set(doc["incomplete"]["not_run"]) & set(fake.calls)
    assert "3 of" in result.output and "incomplete" in result.output
    assert "Incomplete run" in core.markdown(doc)


def test_a_run_within_its_budget_is_complete(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    fake = _FakeGpuRun(monkeypatch, seconds_per_case=0.1)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["bench", "silu_and_mul", "--no-baselines", "--time-budget", "1000", "--json", str(out)]
    )
    doc = json.loads(out.read_text())
    assert result.exit_code == 0 and "incomplete" not in doc and len(doc["rows"]) == len(fake.calls)
    assert "Incomplete run" not in core.markdown(doc)


def test_an_interrupted_bench_writes_what_finished_and_fails(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    fake = _FakeGpuRun(monkeypatch, seconds_per_case=1.0, interrupt_at=2)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--no-baselines", "--json", str(out)])
    assert result.exit_code == 130 and "Traceback" not in result.output
    doc = json.loads(out.read_text())
    assert len(doc["rows"]) == 2 == len(fake.calls) and doc["incomplete"]["reason"] == "interrupted"
    assert doc["incomplete"]["not_run"][0] not in fake.calls  # the case in flight is not reported as run


def test_an_interrupt_before_any_case_finished_saves_nothing(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    _FakeGpuRun(monkeypatch, seconds_per_case=1.0, interrupt_at=0)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--no-baselines", "--save", "--json", str(out)])
    assert result.exit_code == 1 and "nothing to report or save" in result.output and not out.exists()


@pytest.mark.parametrize("budget", ["0", "-3", "abc"])
def test_a_bad_time_budget_is_refused(repo_root, monkeypatch, budget):
    monkeypatch.chdir(repo_root)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--time-budget", budget])
    assert result.exit_code == 2 and "--time-budget" in result.output


def test_an_interrupted_compare_still_exits_as_interrupted(repo_root, monkeypatch, tmp_path):
    monkeypatch.chdir(repo_root)
    fake = _FakeGpuRun(monkeypatch, seconds_per_case=1.0)
    first = tmp_path / "first.json"
    assert CliRunner().invoke(app, ["bench", "silu_and_mul", "--no-baselines", "--json", str(first)]).exit_code == 0
    fake2 = _FakeGpuRun(monkeypatch, seconds_per_case=1.0, interrupt_at=1)
    result = CliRunner().invoke(app, ["bench", "silu_and_mul", "--no-baselines", "--compare", str(first)])
    assert result.exit_code == 130 and "1 rows matched" in result.output and len(fake2.calls) == 1 < len(fake.calls)
