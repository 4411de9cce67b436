"""Where each of an op's pieces lives, and the marked regions `new`/`remove` edit.

One op NAME in category CAT of a project whose Python package is PKG is its own files:
  library/csrc/CAT/NAME.cu                 kernel + launcher + dtype dispatch (pure CUDA)
  library/include/PKG/CAT/NAME.h           launcher declaration, included by the .cu and the .cc
  library/csrc/CAT/NAME.cc                 binding + KERNELKIT_REGISTER_OP (schema, CUDA and CPU impl)
  library/python/PKG/CAT/NAME.py           thin wrapper: allocate, fill defaults, call the op
  tests/ops/CAT/test_NAME.py, benchmarks/ops/CAT/bench_NAME.py
plus one sorted line in each of two shared files:
  library/CMakeLists.txt                   "CAT/NAME"                  (region ops, or a feature's: fp4-ops, ...)
  library/python/PKG/__init__.py           export                      (regions exports, all)

Which CMake list an op is in is its build condition: an FP4 op (`kernelkit new --fp4`) is in
fp4-ops, compiled and registered only in FP4 builds (KERNELKIT_ENABLE_FP4, `kernelkit build --fp4`); a CUTLASS
op (`--cutlass`) in cutlass-ops, compiled only where the CUTLASS headers are found; an op needing both (`--fp4
--cutlass`) in fp4-cutlass-ops. kernelkit/model/features.py holds the tables of these build features and lists.
"""

from __future__ import annotations

import re
from pathlib import Path

from kernelkit.model.regions import RegionSpec, key_by
from kernelkit.project import Project

_CMAKE_OP = r"^\s*[A-Za-z0-9_]+/([A-Za-z0-9_]+)\s*$"
_CMAKE_SHAPE = "one CATEGORY/NAME per line"
OPS = RegionSpec("ops", key_by(_CMAKE_OP), sort_by_text=True, entry_shape=_CMAKE_SHAPE)
# The lists of the build features (kernelkit/model/features.py): an op in one is compiled only under its condition.
FP4_OPS = RegionSpec("fp4-ops", key_by(_CMAKE_OP), sort_by_text=True, entry_shape=_CMAKE_SHAPE)
CUTLASS_OPS = RegionSpec("cutlass-ops", key_by(_CMAKE_OP), sort_by_text=True, entry_shape=_CMAKE_SHAPE)
# Ops that need both (FP4 GEMMs on CUTLASS's Blackwell block-scaled collectives).
FP4_CUTLASS_OPS = RegionSpec("fp4-cutlass-ops", key_by(_CMAKE_OP), sort_by_text=True, entry_shape=_CMAKE_SHAPE)
# One import per op, of the op from its own module; a formatter wraps a long one in parentheses over three lines,
# still one entry. Anything else (`import x as y`, two names, another module) is not an entry `remove` takes out.
_EXPORT = re.compile(r"^from\s+[A-Za-z0-9_.]+\.([A-Za-z0-9_]+)\s+import\s+\(?\s*([A-Za-z0-9_]+),?\s*\)?\s*$")


def _export_key(text: str) -> str | None:
    match = _EXPORT.search(text)
    return match.group(2) if match and match.group(1) == match.group(2) else None


EXPORTS = RegionSpec(
    "exports", _export_key, sort_by_text=True, entry_shape="one `from PACKAGE.CATEGORY.NAME import NAME` per op"
)
ALL = RegionSpec("all", key_by(r"""^\s*["']([A-Za-z0-9_]+)["'],\s*$"""), entry_shape='one "NAME", per line')


def init_file(project: Project) -> Path:
    return project.python_package_dir / "__init__.py"


def kernel_file(project: Project, category: str, name: str) -> Path:
    return project.csrc_dir / category / f"{name}.cu"


def binding_file(project: Project, category: str, name: str) -> Path:
    return project.csrc_dir / category / f"{name}.cc"


def header_include(project: Project, category: str, name: str) -> str:
    """How the kernel and the binding include the launcher header (include/ is on the include path)."""
    return f"{project.name}/{category}/{name}.h"


def header_file(project: Project, category: str, name: str) -> Path:
    return project.include_dir / header_include(project, category, name)


def wrapper_file(project: Project, category: str, name: str) -> Path:
    return project.python_package_dir / category / f"{name}.py"


def test_file(project: Project, category: str, name: str) -> Path:
    return project.op_tests_dir / category / f"test_{name}.py"


def bench_file(project: Project, category: str, name: str) -> Path:
    return project.benchmarks_dir / "ops" / category / f"bench_{name}.py"


def export_entry(project: Project, category: str, name: str) -> str:
    """The op's import in the package's __init__.py, wrapped as ruff format wraps a line that is too long."""
    line = f"from {project.name}.{category}.{name} import {name}"
    return line if len(line) <= 120 else f"from {project.name}.{category}.{name} import (\n    {name},\n)"


def cmake_entry(category: str, name: str) -> str:
    return f"  {category}/{name}"


def rel(project: Project, path: Path) -> str:
    try:
        return str(path.relative_to(project.root))
    except ValueError:
        return str(path)
