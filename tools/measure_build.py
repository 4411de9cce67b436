#!/usr/bin/env python3
"""Measure build times of the op library in a scratch copy: full build, no-op rebuild and a rebuild
after touching one .cu, each with ccache cold (empty cache dir) and warm, plus the hit rate of a
rebuild after `rm -rf` of the build dir. Prints a Markdown table; writes JSON with --json PATH.

Usage: python tools/measure_build.py [--json PATH]   (run with the project's Python, e.g. .venv/bin/python)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNEL = "library/csrc/activation/silu_and_mul.cu"


def build(copy: Path, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "kernelkit", "build", "--json"], cwd=copy, env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"build failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kk-measure-"))
    copy = scratch / "repo"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".venv", "build", ".git", "__pycache__", "*.so", "compile_commands.json", ".whl", ".ab"
        ),
    )
    env = dict(os.environ, CCACHE_DIR=str(scratch / "ccache"), PYTHONPATH=str(copy / "library" / "python"))
    rows = []

    def record(what: str, cache: str, result: dict) -> None:
        cc = result.get("ccache") or {}
        rows.append(
            {
                "step": what,
                "ccache": cache,
                "seconds": round(result["elapsed_s"], 2),
                "steps": result["steps"],
                "hits": cc.get("hits"),
                "misses": cc.get("misses"),
            }
        )

    kernel = copy / KERNEL
    record("full build (configure + compile + link)", "cold", build(copy, env))
    record("no-op rebuild", "warm", build(copy, env))
    os.utime(kernel)
    record(f"touch {Path(KERNEL).name} (same content)", "warm (direct hit)", build(copy, env))
    original = kernel.read_text()
    # a code change (a comment alone would be a preprocessed-mode hit), unique per run
    kernel.write_text(
        original + f"\nnamespace {{ [[maybe_unused]] constexpr long kMeasureBuild = {time.time_ns()}; }}\n"
    )
    record(f"edit {Path(KERNEL).name} (new code)", "cold (miss)", build(copy, env))
    kernel.write_text(original)
    record(f"revert {Path(KERNEL).name}", "warm (hit)", build(copy, env))
    new = subprocess.run(
        [sys.executable, "-m", "kernelkit", "new", f"measure_op_{time.time_ns() % 10**6}", "--category", "measure"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    if new.returncode != 0:
        sys.exit(f"kernelkit new failed:\n{new.stdout}\n{new.stderr}")
    record("after `kernelkit new` (its .cu and .cc, reconfigure, link)", "warm", build(copy, env))
    shutil.rmtree(copy / "build")
    record("full build after rm -rf build", "warm", build(copy, env))
    shutil.rmtree(scratch / "ccache")
    shutil.rmtree(copy / "build")
    record("full build after rm -rf build, empty ccache", "cold", build(copy, env))
    shutil.rmtree(scratch)

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    lines = ["| step | ccache | seconds | compile/link steps | ccache hits/misses |", "|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['ccache']} | {r['seconds']:.1f} | {r['steps']} | {r['hits']}/{r['misses']} |")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({**meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
