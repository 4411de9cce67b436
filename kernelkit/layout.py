"""Where each of an op's pieces lives, and the marked regions `new`/`remove` edit.

One op NAME in category CAT is:
  library/csrc/CAT/NAME.cu                 kernel + launcher + dtype dispatch
  library/include/<lib>.h                  launcher declaration        (region launchers)
  library/csrc/registration.cc             binding, m.def, m.impl      (regions bindings, schemas, impls)
  library/CMakeLists.txt                   source entry                (region sources)
  library/python/<lib>/CAT/NAME.py         wrapper + fake impl
  library/python/<lib>/__init__.py        export                      (regions exports, all)
  tests/ops/test_NAME.py, benchmarks/ops/bench_NAME.py
"""

from __future__ import annotations

from pathlib import Path

from kernelkit.project import Project
from kernelkit.regions import RegionSpec, key_by

SOURCES = RegionSpec("sources", key_by(r"csrc/[A-Za-z0-9_]+/([A-Za-z0-9_]+)\.cu\b"), sort_by_text=True)
FP4_SOURCES = RegionSpec("fp4-sources", key_by(r"csrc/[A-Za-z0-9_]+/([A-Za-z0-9_]+)\.cu\b"), sort_by_text=True)
LAUNCHERS = RegionSpec("launchers", key_by(r"\blaunch_([A-Za-z0-9_]+)\s*\("), blocks=True)
BINDINGS = RegionSpec("bindings", key_by(r"^void\s+([A-Za-z0-9_]+)\s*\("), blocks=True)
SCHEMAS = RegionSpec("schemas", key_by(r'm\.def\("([A-Za-z0-9_]+)\s*\('))
IMPLS = RegionSpec("impls", key_by(r'm\.impl\("([A-Za-z0-9_]+)"'))
EXPORTS = RegionSpec("exports", key_by(r"^from\s+\S+\s+import\s+([A-Za-z0-9_]+)\s*$"), sort_by_text=True)
ALL = RegionSpec("all", key_by(r'^\s*"([A-Za-z0-9_]+)",\s*$'))


def header_file(project: Project) -> Path:
    return project.include_dir / f"{project.name}.h"


def init_file(project: Project) -> Path:
    return project.python_package_dir / "__init__.py"


def kernel_file(project: Project, category: str, name: str) -> Path:
    return project.csrc_dir / category / f"{name}.cu"


def wrapper_file(project: Project, category: str, name: str) -> Path:
    return project.python_package_dir / category / f"{name}.py"


def test_file(project: Project, name: str) -> Path:
    return project.op_tests_dir / f"test_{name}.py"


def bench_file(project: Project, name: str) -> Path:
    return project.benchmarks_dir / "ops" / f"bench_{name}.py"


def cmake_entry(category: str, name: str) -> str:
    return f"  csrc/{category}/{name}.cu"


def rel(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)
