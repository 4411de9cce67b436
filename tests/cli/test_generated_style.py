"""Generated code in the house style: what `new` writes passes the tree's own formatters and linters
(tools/lint.py: ruff format, ruff check, clang-format) unedited, whatever the length of the op's name; and
a formatter run over the tree leaves `new` + `remove` byte-exact."""

from __future__ import annotations

import subprocess
import sys

import pytest
from scaffold_helpers import (  # noqa: F401  (pristine_project, project: fixtures)
    CUSTOM_SCHEMA,
    ProjectCopy,
    pristine_project,
    project,
)

LONG = "a_rather_long_operation_name_for_wide_lines"
RICH_SCHEMA = (
    "(Tensor! out, Tensor input, Tensor[] xs, bool[] bs, str? mode, ScalarType st, Device dev, float eps, "
    "bool enable_pdl, int? k=None) -> ()"
)
# (name, flags): every template, a short and a long name, a dtype subset, FP4, a schema of every kind of argument
OPS = [
    ("ab", ["--category", "fresh_cat"]),
    (LONG, ["--category", "fresh_cat"]),
    ("ab_rw", ["--category", "norm", "--template", "rowwise", "--dtypes", "fp16"]),
    (f"{LONG}_rw", ["--category", "norm", "--template", "rowwise"]),
    ("my_custom", ["--category", "fresh_cat", "--schema", CUSTOM_SCHEMA]),
    (f"{LONG}_f4", ["--category", "quantization", "--fp4", "--schema", f"{LONG}_f4{RICH_SCHEMA}"]),
    ("ab_copy", ["--like", "ab"]),
    ("my_gemma", ["--like", "gemma_rmsnorm"]),
]


def tool(project: ProjectCopy, module: str) -> list[str]:
    """`python -m ruff` / the clang-format of the PyPI wheel (as tools/lint.py runs them); skips without them."""
    if subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode != 0:
        pytest.skip(f"needs {module} (pip install ruff clang-format)")
    if module == "ruff":
        return [sys.executable, "-m", "ruff"]
    code = "import clang_format; print(clang_format._get_executable('clang-format'))"
    return [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()]


def run(project: ProjectCopy, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=project.root, capture_output=True, text=True, timeout=600)


def test_a_formatter_run_keeps_new_and_remove_byte_exact_and_new_code_is_lint_clean(project: ProjectCopy):
    ruff, clang_format = tool(project, "ruff"), tool(project, "clang_format")
    # The tree as `make format` leaves it: ruff format and its safe fixes (isort puts a blank line before
    # the export region's end marker), clang-format over the library.
    run(project, *ruff, "format", "--no-cache", ".")
    run(project, *ruff, "check", "--no-cache", "--fix", "--select", "I", ".")
    cpp = sorted(
        str(p.relative_to(project.root))
        for p in (project.root / "library").rglob("*")
        if p.suffix in (".cu", ".cuh", ".cc", ".h")
    )
    run(project, *clang_format, "--style=file", "-i", *cpp)
    project.commit("formatted")

    for name, flags in OPS:
        project.ok("new", name, *flags)
    changed = [line[3:] for line in project.git_status().splitlines()]
    python = [rel for rel in changed if rel.endswith(".py")]
    cpp = [rel for rel in changed if rel.endswith((".cu", ".cc", ".h"))]
    assert len(cpp) == 3 * len(OPS) and len(python) >= 3 * len(OPS) + 1, changed
    for cmd in (
        [*ruff, "format", "--no-cache", "--check", *python],
        [*ruff, "check", "--no-cache", *python],
        [*clang_format, "--style=file", "--dry-run", "--Werror", *cpp],
    ):
        checked = run(project, *cmd)
        assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-4000:]
    assert project.run("check").exit_code == 0

    for name, _ in reversed(OPS):
        project.ok("remove", name, "--yes")
    project.assert_unchanged()
