"""kernelkit.builder.testrun and `kernelkit test`: op -> test file, GPU/CPU selection, skip accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelkit.builder import testrun
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project

KNOWN_OPS = ("gelu_and_mul", "gelu_tanh_and_mul", "silu_and_mul")


@pytest.fixture
def project(repo_root):
    return find_project(repo_root)


def test_select_paths_known_op(project, repo_root):
    expected = repo_root / "tests" / "ops" / "activation" / "test_silu_and_mul.py"
    assert testrun.select_paths(project, ["silu_and_mul"]) == [str(expected)]


def test_select_paths_several_ops_keep_order(project):
    paths = testrun.select_paths(project, ["gelu_and_mul", "silu_and_mul"])
    assert [Path(p).name for p in paths] == ["test_gelu_and_mul.py", "test_silu_and_mul.py"]


def test_select_paths_no_ops_is_the_whole_suite(project, repo_root):
    assert testrun.select_paths(project, []) == [str(repo_root / "tests")]


def test_select_paths_unknown_op_lists_known(project):
    with pytest.raises(KernelkitError) as info:
        testrun.select_paths(project, ["silu_and_mul", "no_such_op"])
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "no_such_op" in message
    for op in KNOWN_OPS:
        assert op in message
    assert set(KNOWN_OPS) <= set(testrun.op_test_files(project))


def test_op_test_files_ignores_helpers(project):
    files = testrun.op_test_files(project)
    assert "gated_activation_cases" not in files
    assert all(p.name == f"test_{op}.py" for op, p in files.items())


@pytest.mark.parametrize(
    ("device", "marker"),
    [(None, None), ("gpu", ["-m", "gpu"]), ("cpu", ["-m", "not gpu"])],
)
def test_pytest_command(project, tmp_path, device, marker):
    junit = tmp_path / "j.xml"
    cmd = testrun.pytest_command(project, ["silu_and_mul"], "fake", device, ["-x"], junit)
    assert cmd[1:3] == ["-m", "pytest"]
    assert f"--junitxml={junit}" in cmd
    assert cmd[cmd.index("-k") + 1] == "fake"
    assert cmd[-1] == "-x"
    if marker is None:
        assert "gpu" not in " ".join(cmd[3:])
    else:
        i = cmd.index("-m", 3)
        assert cmd[i : i + 2] == marker


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="4" tests="9">
<testcase classname="t.A" name="test_pass_1" time="0.1" />
<testcase classname="t.A" name="test_pass_2" time="0.1" />
<testcase classname="t.A" name="test_pass_3" time="0.1" />
<testcase classname="t.A" name="test_fail" time="0.1"><failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="t.A" name="test_error" time="0.1"><error message="fixture failed">boom</error></testcase>
<testcase classname="t.A" name="test_gpu_1" time="0.0"><skipped type="pytest.skip" message="needs a CUDA GPU (none visible to torch)">x.py:1: needs a CUDA GPU (none visible to torch)</skipped></testcase>
<testcase classname="t.A" name="test_gpu_2" time="0.0"><skipped type="pytest.skip" message="needs a CUDA GPU (none visible to torch)">x.py:1: needs a CUDA GPU</skipped></testcase>
<testcase classname="t.A" name="test_gpu_3" time="0.0"><skipped type="pytest.skip" message="Skipped: needs a CUDA GPU with sm_90">x.py:2: needs a CUDA GPU with sm_90</skipped></testcase>
<testcase classname="t.A" name="test_other_skip" time="0.0"><skipped type="pytest.skip" message="needs scipy">x.py:3: needs scipy</skipped></testcase>
</testsuite></testsuites>
"""  # noqa: E501  (junit XML, one element a line)


def test_summarize_counts(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    summary = testrun.summarize(junit, 1)
    assert summary.exit_code == 1
    assert (summary.passed, summary.failed, summary.skipped) == (3, 2, 4)
    assert summary.gpu_skipped == 3
    assert summary.skip_reasons == {
        "needs a CUDA GPU (none visible to torch)": 2,
        "needs a CUDA GPU with sm_90": 1,
        "needs scipy": 1,
    }


def test_summarize_without_junit_keeps_the_exit_code(tmp_path):
    summary = testrun.summarize(tmp_path / "missing.xml", 4)
    assert summary == testrun.TestSummary(4, 0, 0, 0, 0, {})


def test_gpu_skip_reason_matches_the_suite_conftest(repo_root):
    # The suite's conftest and testrun must agree, or GPU skips are miscounted.
    text = (repo_root / "tests" / "conftest.py").read_text()
    assert f'GPU_SKIP_REASON = "{testrun.GPU_SKIP_REASON}' in text


# ----------------------------------------------------------------------------- the CLI as a process


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.slow
def test_cli_test_cpu_only(kernelkit_proc, repo_root):
    proc = kernelkit_proc("test", "silu_and_mul", "--cpu", cwd=repo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test_silu_and_mul.py" in proc.stdout
    assert "passed" in proc.stdout
    assert "deselected" in proc.stdout  # the GPU tests were left out, not run
    assert "GPU test" not in proc.stdout  # nothing was skipped, so nothing to explain


@pytest.mark.slow
def test_cli_test_reports_gpu_skips(kernelkit_proc, repo_root):
    proc = kernelkit_proc("test", "silu_and_mul", cwd=repo_root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "passed" in proc.stdout
    if not _cuda_available():
        assert "GPU tests skipped: no CUDA GPU visible to torch" in proc.stdout
        assert "run them on a machine with one" in proc.stdout


def test_cli_test_gpu_without_a_gpu_is_an_error(kernelkit_proc, repo_root):
    if _cuda_available():
        pytest.skip("this machine has a GPU")
    proc = kernelkit_proc("test", "silu_and_mul", "--gpu", cwd=repo_root)
    assert proc.returncode == 1 and "--gpu: no CUDA GPU is visible" in proc.stderr


def test_cli_test_with_nothing_selected_fails(kernelkit_proc, repo_root):
    proc = kernelkit_proc("test", "silu_and_mul", "-k", "no_such_test_zzz", cwd=repo_root)
    assert proc.returncode == 5 and "no tests selected" in proc.stderr


def test_cli_test_unknown_op_exits_2(kernelkit_proc, repo_root):
    proc = kernelkit_proc("test", "no_such_op", cwd=repo_root)
    assert proc.returncode == 2
    assert "no_such_op" in proc.stderr
    for op in KNOWN_OPS:
        assert op in proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "pytest" not in proc.stdout  # refused before pytest ran
