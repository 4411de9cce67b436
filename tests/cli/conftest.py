"""Shared helpers of the CLI tests: the repo root, an in-process runner and a subprocess runner."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO_ROOT = Path(__file__).resolve().parents[2]
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def plain(text: str) -> str:
    """Output without ANSI escapes (Rich adds them when a CI sets FORCE_COLOR)."""
    return _ANSI_RE.sub("", text)


@dataclass
class CliResult:
    exit_code: int
    output: str  # stdout and stderr, interleaved as a user sees them
    stdout: str
    stderr: str
    exception: BaseException | None


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    """kernelkit.cli.app in-process (typer's CliRunner), from the repo root unless cwd= is given."""
    from kernelkit.cli import app

    runner = CliRunner()

    def invoke(*args: str, cwd: Path | None = None) -> CliResult:
        monkeypatch.chdir(cwd or REPO_ROOT)
        result = runner.invoke(app, list(args))
        return CliResult(
            result.exit_code, plain(result.output), plain(result.stdout), plain(result.stderr), result.exception
        )

    return invoke


def kernelkit_command() -> list[str]:
    """The installed `kernelkit` script next to this Python (the venv's), else `python -m kernelkit`."""
    script = Path(sys.executable).parent / "kernelkit"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "kernelkit"]


@pytest.fixture
def kernelkit_proc():
    """Run kernelkit as a real process (what a user types), with wide, colourless output."""

    def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, NO_COLOR="1", COLUMNS="200", TERM="dumb")
        env.pop("FORCE_COLOR", None)
        proc = subprocess.run(
            [*kernelkit_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
        )
        proc.stdout, proc.stderr = plain(proc.stdout), plain(proc.stderr)
        return proc

    return run
