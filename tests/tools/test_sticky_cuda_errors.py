"""tests/conftest.py: under pytest-xdist, a test that breaks its worker's CUDA context (a sticky error such as a
misaligned address) ends that worker, so the tests after it run in a fresh one instead of all failing with the
same error. Checked with a raised error of the same text: no GPU needed."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

TESTS = """
def test_a():
    pass

def test_breaks_the_context():
    raise RuntimeError("CUDA error: misaligned address")

def test_c():
    pass

def test_d():
    pass
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_scratch.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not a worker of this run's xdist
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_scratch.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_xdist_worker_with_a_broken_context_is_replaced(tmp_path: Path):
    pytest.importorskip("xdist")
    result = _run(tmp_path, "-n", "1")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "worker 'gw0' crashed while running 'test_scratch.py::test_breaks_the_context'" in out, out
    assert "3 passed" in out, out  # test_c and test_d ran in the replacement worker


def test_without_xdist_the_run_goes_on(tmp_path: Path):
    result = _run(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "1 failed, 3 passed" in out, out


@pytest.mark.parametrize(
    ("text", "sticky"),
    [
        ("CUDA error: an illegal memory access was encountered", True),
        ("CUDA error: misaligned address", True),
        ("CUDA error: device-side assert triggered", True),
        ("rmsnorm: weight must be bfloat16, got float32", False),
        ("CUDA out of memory. Tried to allocate 2.00 GiB", False),
    ],
)
def test_which_errors_are_sticky(text, sticky):
    spec = importlib.util.spec_from_file_location("suite_conftest", CONFTEST)
    suite_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(suite_conftest)
    assert suite_conftest.is_sticky_cuda_error(text) is sticky
