"""Finding CUDA's developer tools that do not sit next to nvcc everywhere: Nsight Compute (`ncu`) and
`compute-sanitizer`.

Each is looked for where installs put it: the option that names it, its environment variable, PATH,
$CUDA_HOME/$CUDA_PATH/`/usr/local/cuda` (bin/ and the tool's own folder), the standalone installers' folders
(`/opt/nvidia/nsight-compute/<version>/`, newest first) and the `nvidia-*` pip wheels (`nvidia/cu13/bin/`,
`nvidia/cuda_sanitizer_api/compute-sanitizer/`).
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kernelkit.builder.toolchain import which
from kernelkit.errors import KernelkitError


@dataclass(frozen=True)
class CudaTool:
    name: str  # the executable's name: ncu, compute-sanitizer
    env: str  # the environment variable that names it
    option: str  # the command-line option that names it
    homes: tuple[str, ...]  # paths under a CUDA home, e.g. "bin/ncu"
    globs: tuple[str, ...]  # absolute patterns of standalone installs; the newest version first
    wheel_globs: tuple[str, ...]  # patterns under the `nvidia` namespace package of pip wheels
    install_hint: str


NCU = CudaTool(
    name="ncu",
    env="KERNELKIT_NCU",
    option="--ncu",
    homes=("bin/ncu", "nsight-compute/ncu"),
    globs=(
        "/opt/nvidia/nsight-compute/*/ncu",
        "/usr/local/cuda*/nsight-compute*/ncu",
        "/usr/local/NVIDIA-Nsight-Compute*/ncu",
    ),
    wheel_globs=("*/bin/ncu",),
    install_hint="install Nsight Compute (it ships with the CUDA toolkit)",
)

COMPUTE_SANITIZER = CudaTool(
    name="compute-sanitizer",
    env="KERNELKIT_COMPUTE_SANITIZER",
    option="--sanitizer",
    homes=("bin/compute-sanitizer", "compute-sanitizer/compute-sanitizer"),
    globs=("/usr/local/cuda*/compute-sanitizer/compute-sanitizer",),
    wheel_globs=("*/bin/compute-sanitizer", "*/compute-sanitizer/compute-sanitizer"),
    install_hint="pip install nvidia-cuda-sanitizer-api (or install the CUDA toolkit)",
)


def _version_key(path: str) -> tuple:
    """Sorts /opt/nvidia/nsight-compute/2025.3.1/ncu after .../2024.1.0/ncu (numbers compared as numbers)."""
    return tuple(int(part) if part.isdigit() else -1 for part in re.split(r"[^0-9]+", path) if part)


def _wheel_roots() -> list[str]:
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    return list(spec.submodule_search_locations or []) if spec else []


def candidates(tool: CudaTool) -> list[str]:
    """Every place `tool` may be, in the order they are tried (PATH and CUDA homes before standalone installs)."""
    found: list[str | None] = [which(tool.name)]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            found += [str(Path(home) / rel) for rel in tool.homes]
    for pattern in tool.globs:
        found += sorted(glob.glob(pattern), key=_version_key, reverse=True)
    for root in _wheel_roots():
        for pattern in tool.wheel_globs:
            found += sorted(glob.glob(str(Path(root) / pattern)), key=_version_key, reverse=True)
    return [p for p in found if p]


def _executable(path: str) -> bool:
    return Path(path).is_file() and os.access(path, os.X_OK)


def find(tool: CudaTool, explicit: str | None = None) -> str:
    """The tool's path: `explicit` (its option), then its environment variable, then `candidates`."""
    for given, what in ((explicit, tool.option), (os.environ.get(tool.env), f"${tool.env}")):
        if given:
            if _executable(given):
                return given
            raise KernelkitError(f"{what}: {given} is not an executable {tool.name}")
    for path in candidates(tool):
        if _executable(path):
            return path
    raise KernelkitError(
        f"{tool.name} not found (not on PATH, in $CUDA_HOME or /usr/local/cuda, a standalone install or an nvidia "
        f"wheel): {tool.install_hint}, or pass {tool.option} PATH (or set ${tool.env})"
    )
