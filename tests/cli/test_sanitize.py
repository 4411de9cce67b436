"""`kernelkit sanitize`: compute-sanitizer's text output parsed, the per-op summary, the CLI's error paths, and (on a
GPU) a planted out-of-bounds write caught with its file:line while the same op unplanted is clean.

The samples in data/sanitizer_*.log are written in compute-sanitizer's documented text format (the Compute
Sanitizer user manual's memcheck, racecheck, initcheck and synccheck examples: a report's first line after the
"=========" prefix, its body indented, `at FUNCTION+0xOFFSET in FILE:LINE`, the ERROR SUMMARY / RACECHECK SUMMARY
lines; sanitizer_old_format.log: cuda-memcheck's `at 0xOFFSET in FILE:LINE:FUNCTION`). The lines a tracked process
without CUDA produces ("Target application terminated before first instrumented API call", "Error: couldn't find
exit code.") and the option names were recorded from compute-sanitizer 2025.3.1 (the nvidia-cuda-sanitizer-api
13.0.85 wheel) on a machine without a GPU.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kernelkit.builder import cudatools
from kernelkit.builder import sanitize as core
from kernelkit.cli import sanitize as sanitize_cli
from kernelkit.cli._ui import sigterm_interrupts
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project

DATA = Path(__file__).parent / "data"
REPO_ROOT = Path(__file__).resolve().parents[2]


def sample(name: str) -> str:
    return (DATA / f"sanitizer_{name}.log").read_text()


# ------------------------------------------------------------------------------------------------ parsing


def test_memcheck_reports_kinds_locations_and_the_summary_count():
    log = core.parse_log(sample("memcheck"))
    assert [r.kind for r in log.reports] == [
        "Invalid __global__ write",
        "Invalid __global__ write",
        "Misaligned Shared or Local Address",
        "CUDA API error cudaErrorLaunchFailure in cudaStreamSynchronize",
        "leaked memory",
    ]
    assert log.summary_errors == 25 and log.errors == 25  # the summary counts beyond the print limit
    assert log.by_kind() == {
        "Invalid __global__ write": 2,
        "Misaligned Shared or Local Address": 1,
        "CUDA API error cudaErrorLaunchFailure in cudaStreamSynchronize": 1,
        "leaked memory": 1,
    }
    first = log.first
    assert first.message == "Invalid __global__ write of size 2 bytes"
    assert first.location.where == "scratch_oob.cu:47" and first.location.offset == "0x4f0"
    assert first.location.function.startswith("void kernelkit::<unnamed>::scratch_oob_kernel<__nv_bfloat16, (int)8>(")
    assert first.details == [
        "by thread (63,0,0) in block (0,0,0)",
        "Access at 0x7f2c3e000400 is out of bounds",
        "and is 1 bytes after the nearest allocation at 0x7f2c3e000000 of size 1024 bytes",
    ]  # the host backtrace is not kept
    assert log.reports[2].location.where == "vec.cuh:112"
    assert log.reports[3].location is None and log.reports[3].details == []
    assert log.tool_errors == []  # what a tracked process without CUDA says is no failure


def test_program_output_between_the_sanitizer_lines_is_skipped():
    text = sample("memcheck").replace(
        "========= Misaligned", "tests/ops/demo/test_x.py::test_matches_reference FAILED\n========= Misaligned"
    )
    assert core.parse_log(text).by_kind() == core.parse_log(sample("memcheck")).by_kind()


def test_racecheck_errors_and_warnings():
    log = core.parse_log(sample("racecheck"))
    assert [(r.kind, r.severity) for r in log.reports] == [("race (error)", "error"), ("race (warning)", "warning")]
    assert log.errors == 1  # (1 error, 1 warning)
    assert log.first.location.where == "reduce.cuh:58"
    assert log.first.details == [
        "and Read access at void block_sum<(int)256>(const float *, float *)+0x1e0 in reduce.cuh:61 [248 hazards]"
    ]


def test_initcheck_and_synccheck_reports():
    log = core.parse_log(sample("initcheck_synccheck"))
    assert [(r.kind, r.location.where) for r in log.reports] == [
        ("Uninitialized __global__ memory read", "moe_align_block_size.cu:133"),
        ("Barrier error detected. Divergent thread(s) in warp", "topk_softmax.cu:88"),
    ]
    assert log.errors == 2


def test_the_older_location_format():
    log = core.parse_log(sample("old_format"))
    with_line, without = log.reports
    assert with_line.kind == "Invalid __global__ read"
    assert with_line.location.where == "/home/user/src/helper.cuh:75"
    assert with_line.location.function == "void projection<double>(double*, int)"
    assert without.location.where is None and without.location.function == "void probe_kernel<int>(int, int *)"


@pytest.mark.parametrize(
    "text, function, where",
    [
        ("k(float *)+0x10 in a.cu:3", "k(float *)", "a.cu:3"),
        ("void f<(int)2>(T1 *, long)+0x1a0 in my op.cu:12", "void f<(int)2>(T1 *, long)", "my op.cu:12"),
        ("void f<float>(float *)+0x80", "void f<float>(float *)", None),
        ("0x000000c8 in /p/h.cuh:75:void g(double*)", "void g(double*)", "/p/h.cuh:75"),
    ],
)
def test_parse_location(text, function, where):
    loc = core.parse_location(text)
    assert (loc.function, loc.where) == (function, where)


def test_a_sanitizer_that_cannot_run_is_a_tool_error():
    log = core.parse_log(sample("unsupported"))
    assert log.reports == [] and log.summary_errors is None
    assert log.tool_errors == [
        'Error: Device not supported. Please refer to the "Supported Devices" section of the sanitizer documentation'
    ]
    clean = core.parse_log(sample("clean"))
    assert clean.errors == 0 and clean.summary_errors == 0 and clean.tool_errors == []


def _result(log: str, passed=3, failed=0, code: int | None = 0) -> core.OpResult:
    return core.OpResult("op", "t.py", "x.log", 1.0, code, passed, failed, 0, None, core.parse_log(log))


def test_status_of_an_op():
    assert _result(sample("clean")).status == "clean"
    assert _result(sample("memcheck"), failed=2).status == "errors"
    assert _result(sample("clean"), failed=1).status == "clean"  # correctness is `kernelkit test`'s verdict
    assert _result(sample("unsupported"), passed=0).status == "sanitizer failed"
    assert _result("", passed=0, code=None).status == "timed out"
    assert _result(sample("clean"), passed=0).status == "no GPU tests"
    assert _result("", passed=0).status == "no GPU tests"  # no test started CUDA: no summary either
    assert _result("", passed=2).status == "sanitizer failed"
    broken = _result("", passed=0)
    broken.ran = False
    assert broken.status == "sanitizer failed" and not broken.ok
    assert [r.ok for r in (_result(sample("clean")), _result(sample("clean"), passed=0))] == [True, True]


def test_sanitizer_command():
    cmd = core.sanitizer_command("/cs", "memcheck", 7, Path("/tmp/op.log"))
    text = " ".join(cmd)
    for part in ("--tool memcheck", "--print-limit 7", "--target-processes all", "--log-file /tmp/op.log"):
        assert part in text
    assert f"--error-exitcode {core.ERROR_EXITCODE}" in text and core.ERROR_EXITCODE != 1
    assert "--report-api-errors no" in text and "--check-exit-code no" in text
    assert f"--padding {core.DEFAULT_PADDING}" in text  # a store just past a tensor lands in guard bytes
    assert "--report-api-errors all" in " ".join(core.sanitizer_command("/cs", "memcheck", 7, Path("l"), True))
    assert "--report-api-errors" not in core.sanitizer_command("/cs", "racecheck", 7, Path("l"))
    with pytest.raises(KernelkitError, match="expected one of memcheck, racecheck, initcheck, synccheck"):
        core.sanitizer_command("/cs", "leakcheck", 7, Path("l"))
    env = core.sanitizer_env()
    assert env["PYTORCH_NO_CUDA_MEMORY_CACHING"] == "1"  # each tensor its own allocation: bounds memcheck sees


def test_selection_is_kernelkit_tests():
    project = find_project(REPO_ROOT)
    every = core.select(project, [])
    assert "rmsnorm" in every and every["rmsnorm"].name == "test_rmsnorm.py"
    assert core.select(project, ["rmsnorm"]) == {"rmsnorm": every["rmsnorm"]}
    with pytest.raises(KernelkitError, match="no tests for nope"):
        core.select(project, ["nope"])


# ------------------------------------------------------------------------------------------------ the CLI


FAKE_SANITIZER = """\
import json, os, sys, time
args = sys.argv[1:]
if os.environ.get("FAKE_CS_CALLS"):
    with open(os.environ["FAKE_CS_CALLS"], "a") as calls:
        calls.write(json.dumps(args) + "\\n")
log = args[args.index("--log-file") + 1]
junit = next(a.split("=", 1)[1] for a in args if a.startswith("--junitxml="))
test_file = os.path.basename(next(a for a in args if a.endswith(".py")))
if os.environ.get("FAKE_CS_SLEEP") and test_file in os.environ.get("FAKE_CS_SLEEP_FOR", test_file):
    time.sleep(float(os.environ["FAKE_CS_SLEEP"]))
if os.environ.get("FAKE_CS_BROKEN"):
    sys.exit(3)  # dies before writing anything
logs = json.loads(os.environ["FAKE_CS_LOGS"])
open(log, "w").write(open(logs[test_file]).read())
failed = 2 if "memcheck" in logs[test_file] else 0
cases = "".join('<testcase classname="t" name="ok%d"/>' % i for i in range(3))
cases += "".join('<testcase classname="t" name="bad%d"><failure message="x"/></testcase>' % i for i in range(failed))
open(junit, "w").write('<testsuites><testsuite name="pytest">' + cases + "</testsuite></testsuites>")
sys.exit(86 if failed else 0)
"""


@pytest.fixture
def fake_sanitizer(tmp_path, monkeypatch):
    script = tmp_path / "compute-sanitizer"
    script.write_text(f"#!{sys.executable}\n" + FAKE_SANITIZER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    logs = {
        "test_rmsnorm.py": str(DATA / "sanitizer_memcheck.log"),
        "test_silu_and_mul.py": str(DATA / "sanitizer_clean.log"),
    }
    monkeypatch.setenv("FAKE_CS_LOGS", json.dumps(logs))
    monkeypatch.setattr(sanitize_cli, "_gpu_name", lambda: "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(core, "log_folder", lambda project, tool: tmp_path / "logs" / tool)
    monkeypatch.setattr(sanitize_cli, "_saved_folder", lambda project, device: tmp_path / "saved")
    return str(script)


def test_cli_summary_per_op(cli, fake_sanitizer, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CS_CALLS", str(tmp_path / "calls.jsonl"))
    result = cli("sanitize", "rmsnorm", "silu_and_mul", "--sanitizer", fake_sanitizer, "-j", "2", "--save")
    assert result.exit_code == 1, result.output
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "errors rmsnorm, 25 error(s)" in flat and "clean silu_and_mul" in flat
    assert "scratch_oob.cu:47" in flat and "Invalid __global__ write of size 2 bytes" in flat
    assert "by thread (63,0,0) in block (0,0,0)" in flat and "first failed test: t::bad0" in flat
    assert "1 op(s) not clean: rmsnorm" in flat
    saved = json.loads((tmp_path / "saved" / "memcheck.json").read_text())
    assert [o["op"] for o in saved["ops"]] == ["rmsnorm", "silu_and_mul"] and saved["errors"] == 25
    assert "| rmsnorm | errors | 25 |" in (tmp_path / "saved" / "memcheck.md").read_text()
    assert (tmp_path / "logs" / "memcheck" / "rmsnorm.log").read_text() == sample("memcheck")
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    ports = {c[c.index("--port") + 1] for c in calls}
    assert ports == {str(core.BASE_PORT), str(core.BASE_PORT + core.PORTS_PER_JOB)}  # side by side: apart


def test_cli_json(cli, fake_sanitizer):
    result = cli("sanitize", "rmsnorm", "silu_and_mul", "--sanitizer", fake_sanitizer, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)  # progress went to stderr: stdout is the JSON alone
    ops = {o["op"]: o for o in doc["ops"]}
    assert ops["rmsnorm"]["first"]["where"] == "scratch_oob.cu:47"
    assert ops["rmsnorm"]["by_kind"]["Invalid __global__ write"] == 2
    assert ops["silu_and_mul"] == {**ops["silu_and_mul"], "status": "clean", "errors": 0, "first": None}
    assert ops["silu_and_mul"]["tests"] == {"passed": 3, "failed": 0, "skipped": 0}
    clean = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--json")
    assert clean.exit_code == 0 and json.loads(clean.stdout)["ok"] is True


def test_cli_op_timeout(cli, fake_sanitizer, monkeypatch):
    monkeypatch.setenv("FAKE_CS_SLEEP", "30")
    result = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--op-timeout", "1", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["ops"][0]["status"] == "timed out"


def test_cli_a_sanitizer_that_dies_is_no_clean_op(cli, fake_sanitizer, monkeypatch):
    monkeypatch.setenv("FAKE_CS_BROKEN", "1")
    result = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["ops"][0]["status"] == "sanitizer failed"


def test_an_interrupted_run_ends_the_sanitizers_in_flight(fake_sanitizer, monkeypatch):
    """Ctrl-C or SIGTERM (turned into the same by sigterm_interrupts) must not leave sanitizers running on the GPU:
    here the fast op's report interrupts while the slow op's sanitizer sleeps for a minute."""
    import time

    monkeypatch.setenv("FAKE_CS_SLEEP", "60")
    monkeypatch.setenv("FAKE_CS_SLEEP_FOR", "test_rmsnorm.py")
    project = find_project(REPO_ROOT)
    selected = core.select(project, ["rmsnorm", "silu_and_mul"])

    def interrupt(result):
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        core.run(project, selected, fake_sanitizer, "memcheck", jobs=2, on_done=interrupt)
    assert time.monotonic() - start < 30 and not core._running


def test_sigterm_becomes_an_interrupt():
    import signal
    import time

    before = signal.getsignal(signal.SIGTERM)
    with sigterm_interrupts():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises as soon as the signal arrives
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["sanitize", "nope"], 2, "no tests for nope"),
        (["sanitize", "rmsnorm", "--tool", "leakcheck"], 2, "--tool leakcheck: expected one of memcheck"),
    ],
)
def test_cli_refuses_unknown_ops_and_tools(cli, args, code, message):
    result = cli(*args)
    assert result.exit_code == code and message in result.output and "Traceback" not in result.output


def test_cli_without_compute_sanitizer_says_how_to_get_it(cli, monkeypatch):
    monkeypatch.delenv(cudatools.COMPUTE_SANITIZER.env, raising=False)
    monkeypatch.setattr(cudatools, "candidates", lambda tool: [])
    result = cli("sanitize", "rmsnorm")
    assert result.exit_code == 1
    assert "compute-sanitizer not found" in result.output and "pip install nvidia-cuda-sanitizer-api" in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


def test_finding_compute_sanitizer_in_a_wheel(tmp_path, monkeypatch):
    wheel = tmp_path / "nvidia" / "cu13" / "bin" / "compute-sanitizer"
    wheel.parent.mkdir(parents=True)
    wheel.write_text("#!/bin/sh\n")
    wheel.chmod(0o755)
    monkeypatch.setattr(cudatools, "which", lambda name: None)
    monkeypatch.setattr(cudatools, "_wheel_roots", lambda: [str(tmp_path / "nvidia")])
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "nocuda"))
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv(cudatools.COMPUTE_SANITIZER.env, raising=False)
    found = [p for p in cudatools.candidates(cudatools.COMPUTE_SANITIZER) if p.startswith(str(tmp_path))]
    assert found[-1] == str(wheel)
    monkeypatch.setenv(cudatools.COMPUTE_SANITIZER.env, str(tmp_path / "missing"))
    with pytest.raises(KernelkitError, match=r"\$KERNELKIT_COMPUTE_SANITIZER: .*missing is not an executable"):
        cudatools.find(cudatools.COMPUTE_SANITIZER)


# ------------------------------------------------------------------------------------------------ on the GPU

PLANT_AFTER = "      y.store(dst + v * VEC);\n"
PLANTED = "      if (row == num_rows - 1 && v == num_vecs - 1) dst[hidden] = y[0];  // planted: one past the end\n"


@pytest.mark.gpu
@pytest.mark.slow
def test_a_planted_out_of_bounds_write_is_caught_with_its_line(tmp_path):
    """In a `kernelkit init` project: two ops from the elementwise template, one with a store one element past its
    output's end (the last row's last vector writes dst[hidden]); memcheck must report that store at its line, and
    find nothing in the other op."""
    try:
        cudatools.find(cudatools.COMPUTE_SANITIZER)
    except KernelkitError as exc:
        pytest.skip(str(exc))
    root = tmp_path / "sanproj"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "library" / "python"), str(REPO_ROOT)]))
    env.pop("KERNELKIT_TRACEBACK", None)

    def kernelkit(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kernelkit", *args], cwd=root if root.is_dir() else tmp_path, env=env,
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    for args in (
        ["init", str(root), "--name", "sanlib"],
        ["new", "scratch_oob", "-c", "demo"],
        ["new", "scratch_ok", "-c", "demo"],
    ):
        done = kernelkit(*args)
        assert done.returncode == 0, done.stdout + done.stderr
    kernel = root / "library" / "csrc" / "demo" / "scratch_oob.cu"
    source = kernel.read_text()
    assert source.count(PLANT_AFTER) == 1, "the elementwise template changed: plant the write elsewhere"
    kernel.write_text(source.replace(PLANT_AFTER, PLANT_AFTER + PLANTED))
    planted_line = kernel.read_text().splitlines().index(PLANTED.rstrip("\n")) + 1
    built = kernelkit("build")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]

    ran = kernelkit("sanitize", "scratch_oob", "scratch_ok", "--json", "-j", "2", timeout=1800)
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-3000:]
    ops = {o["op"]: o for o in json.loads(ran.stdout)["ops"]}
    oob, ok = ops["scratch_oob"], ops["scratch_ok"]
    assert oob["status"] == "errors" and oob["errors"] >= 1, oob
    assert oob["by_kind"].get("Invalid __global__ write", 0) >= 1, oob
    assert oob["first"]["message"].startswith("Invalid __global__ write of size"), oob
    assert oob["first"]["where"] == f"scratch_oob.cu:{planted_line}", oob
    assert "scratch_oob_kernel" in oob["first"]["location"]["function"], oob
    assert any(re.search(r"out of bounds", d) for d in oob["first"]["details"]), oob
    assert ok["status"] == "clean" and ok["errors"] == 0 and ok["tests"]["passed"] > 0, ok


def test_cli_test_workers_run_each_ops_tests_on_xdist_workers_under_one_sanitizer(
    cli, fake_sanitizer, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKE_CS_CALLS", str(tmp_path / "calls.jsonl"))
    result = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--test-workers", "4", "--json")
    assert result.exit_code == 0, result.output
    (call,) = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    pytest_args = call[call.index("pytest") + 1 :]
    assert pytest_args[pytest_args.index("-n") + 1] == "4" and pytest_args[pytest_args.index("--dist") + 1] == "load"
    assert call[call.index("--target-processes") + 1] == "all"  # the sanitizer follows the workers
    assert "4 test workers each" in result.stderr


def test_cli_one_test_worker_is_plain_pytest(cli, fake_sanitizer, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_CS_CALLS", str(tmp_path / "calls.jsonl"))
    assert cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--json").exit_code == 0
    (call,) = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert "-n" not in call[call.index("pytest") :] and "--dist" not in call


def test_cli_test_workers_without_xdist_is_a_clear_error(cli, fake_sanitizer, monkeypatch):
    real_find_spec = sanitize_cli.importlib.util.find_spec
    monkeypatch.setattr(
        sanitize_cli.importlib.util, "find_spec", lambda name, *a: None if name == "xdist" else real_find_spec(name, *a)
    )
    result = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--test-workers", "2")
    assert result.exit_code == 2 and "pytest-xdist is not installed" in result.output


@pytest.mark.parametrize("workers", ["0", "-1", "x"])
def test_cli_refuses_a_bad_worker_count(cli, fake_sanitizer, workers):
    result = cli("sanitize", "silu_and_mul", "--sanitizer", fake_sanitizer, "--test-workers", workers)
    assert result.exit_code == 2 and "--test-workers" in result.output
