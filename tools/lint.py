#!/usr/bin/env python3
"""Formatting and lint of the whole tree, as `make test` checks it (`make format` applies the fixes).

Python: ruff format + ruff check (config in pyproject.toml). C++/CUDA under library/: clang-format
(config in .clang-format). Exit 1 with the offending files on any finding. Stdlib only; the tools come
from the same environment as this Python (tools/bootstrap.py installs them).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CPP_SUFFIXES = {".cu", ".cuh", ".cc", ".h"}


def cpp_files() -> list[str]:
    library = ROOT / "library"
    skip = {"build", "_skbuild"}
    return sorted(
        str(p.relative_to(ROOT))
        for p in library.rglob("*")
        if p.suffix in CPP_SUFFIXES and p.is_file() and not skip & set(p.relative_to(library).parts)
    )


def run(cmd: list[str]) -> int:
    return subprocess.call(cmd, cwd=ROOT)


def clang_format() -> list[str]:
    """The clang-format of the PyPI wheel in this environment (its script sits beside this Python)."""
    beside = Path(sys.executable).parent / "clang-format"
    found = str(beside) if beside.is_file() else shutil.which("clang-format")
    if found is None:
        sys.exit("lint: clang-format is not installed in this environment (make test installs it)")
    return [found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="apply the formatters and ruff's safe fixes")
    args = parser.parse_args()
    py = sys.executable
    cpp = cpp_files()
    if args.fix:
        run([py, "-m", "ruff", "format", "."])
        run([py, "-m", "ruff", "check", "--fix", "."])
        run([*clang_format(), "--style=file", "-i", *cpp])
        return 0
    failed = []
    if run([py, "-m", "ruff", "format", "--check", "."]):
        failed.append("ruff format")
    if run([py, "-m", "ruff", "check", "."]):
        failed.append("ruff check")
    if run([*clang_format(), "--style=file", "--dry-run", "--Werror", *cpp]):
        failed.append("clang-format")
    if failed:
        print(f"lint: {', '.join(failed)} found problems above; `make format` fixes formatting", file=sys.stderr)
        return 1
    print(f"lint: clean (ruff over Python, clang-format over {len(cpp)} C++/CUDA files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
