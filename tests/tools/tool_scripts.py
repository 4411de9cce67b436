"""What the tests of tools/*.py share: a tool loaded as a module (its functions tested directly) and run as a command
without a GPU (also on the GPU machine)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_tool(filename: str) -> ModuleType:
    """tools/<filename> as a module named by its stem."""
    path = ROOT / "tools" / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def run_tool(
    filename: str,
    *args: str,
    gpu: bool = False,
    timeout: float = 120,
    env: dict | None = None,
    checkout_on_path: bool = False,
) -> subprocess.CompletedProcess:
    """`python tools/<filename> ARGS`; no GPU visible unless `gpu`; `checkout_on_path` puts this checkout and its
    kernelkit_ops first on PYTHONPATH (for tools that import them)."""
    full_env = dict(os.environ, **(env or {}))
    if not gpu:
        full_env["CUDA_VISIBLE_DEVICES"] = ""  # no GPU, also on the GPU machine
    if checkout_on_path:
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(ROOT), str(ROOT / "library" / "python"), full_env.get("PYTHONPATH", "")]
        )
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / filename), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
