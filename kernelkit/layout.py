"""Where each of an op's pieces lives, and the marked regions `new`/`remove` edit.

One op NAME in category CAT is:
  library/csrc/CAT/NAME.cu                 kernel + launcher + dtype dispatch
  library/include/<lib>.h                  launcher declaration        (region launchers)
  library/csrc/registration.cc             binding, m.def, m.impl      (regions bindings, schemas, impls)
  library/CMakeLists.txt                   source entry                (region sources)

An FP4 op (`kernelkit new --fp4`) is compiled only in FP4 builds (KERNELKIT_ENABLE_FP4, `kernelkit
build --fp4`): its source entry goes to region fp4-sources, its binding and m.impl to fp4-bindings
and fp4-impls, both inside `#ifdef KERNELKIT_ENABLE_FP4` (the binding calls a launcher that only
FP4 builds compile). Its m.def stays in schemas, so every build knows the op (wrapper, fake impl,
torch.compile) and only the CUDA kernel is missing without FP4.
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
FP4_BINDINGS = RegionSpec("fp4-bindings", key_by(r"^void\s+([A-Za-z0-9_]+)\s*\("), blocks=True)
SCHEMAS = RegionSpec("schemas", key_by(r'm\.def\("([A-Za-z0-9_]+)\s*\('))
IMPLS = RegionSpec("impls", key_by(r'm\.impl\("([A-Za-z0-9_]+)"'))
FP4_IMPLS = RegionSpec("fp4-impls", key_by(r'm\.impl\("([A-Za-z0-9_]+)"'))
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
