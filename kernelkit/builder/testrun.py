"""Running the project's tests with pytest: op names -> test files, GPU/CPU selection, skip accounting."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kernelkit.errors import KernelkitError
from kernelkit.project import Project

GPU_SKIP_REASON = "needs a CUDA GPU"  # the conftest's skip reason starts with this


@dataclass(frozen=True)
class TestSummary:
    exit_code: int
    passed: int
    failed: int
    skipped: int
    gpu_skipped: int
    skip_reasons: dict[str, int]


def op_test_files(project: Project) -> dict[str, Path]:
    """op -> its test file, anywhere under tests/ops/ (one folder per category)."""
    return {p.stem.removeprefix("test_"): p for p in sorted(project.op_tests_dir.rglob("test_*.py"))}


def select_paths(project: Project, ops: list[str]) -> list[str]:
    if not ops:
        return [str(project.tests_dir)]
    files = op_test_files(project)
    unknown = [op for op in ops if op not in files]
    if unknown:
        known = ", ".join(files) or "(none)"
        raise KernelkitError(f"no tests for {', '.join(unknown)}; ops with tests: {known}", exit_code=2)
    return [str(files[op]) for op in ops]


def pytest_command(
    project: Project, ops: list[str], keyword: str | None, device: str | None, extra: list[str], junit: Path
) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", *select_paths(project, ops)]
    cmd += [f"--junitxml={junit}", "-o", "junit_family=xunit2"]
    if keyword:
        cmd += ["-k", keyword]
    if device == "gpu":
        cmd += ["-m", "gpu"]
    elif device == "cpu":
        cmd += ["-m", "not gpu"]
    return cmd + extra


def summarize(junit: Path, exit_code: int) -> TestSummary:
    reasons: dict[str, int] = {}
    passed = failed = skipped = 0
    if junit.is_file():
        for case in ET.parse(junit).getroot().iter("testcase"):
            skip = case.find("skipped")
            if skip is not None:
                skipped += 1
                reason = (skip.get("message") or "").removeprefix("Skipped: ").strip()
                reasons[reason] = reasons.get(reason, 0) + 1
            elif case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            else:
                passed += 1
    gpu_skipped = sum(n for r, n in reasons.items() if r.startswith(GPU_SKIP_REASON))
    return TestSummary(exit_code, passed, failed, skipped, gpu_skipped, reasons)


def junit_path(project: Project) -> Path:
    """Kept after the run (pytest prints its path), in the build folder that git ignores."""
    return project.root / "build" / "test-results" / "junit.xml"


def run_tests(
    project: Project, ops: list[str], keyword: str | None = None, device: str | None = None, extra: list[str] = ()
) -> TestSummary:
    junit = junit_path(project)
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    cmd = pytest_command(project, ops, keyword, device, list(extra), junit)
    code = subprocess.call(cmd, cwd=project.root)
    return summarize(junit, code)
