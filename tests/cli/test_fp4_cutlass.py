"""Ops that need two build features: the fp4-cutlass-ops list (FP4 GEMMs on CUTLASS), end to end.

An op's CMake list is its build condition, and a list may need several features (kernelkit/model/features.py,
OP_LISTS): an op of fp4-cutlass-ops is compiled only in builds with both the FP4 kernels (`--fp4`) and the CUTLASS
headers, and its wrapper opens with one require call per feature, FP4's first. `new --fp4 --cutlass` writes such an
op; `check`, `remove`, `--like`, `list`, `bench` and `build`'s left-out report read the same table. The CMake side
(the list, its sm_100a-only kernel TUs) is checked here on the text; the op that uses it builds in
tests/ops/gemm/test_cutlass_scaled_fp4_mm.py.
"""

from __future__ import annotations

import re

import pytest
from scaffold_helpers import (  # noqa: F401  (pristine_project, project: fixtures)
    CUSTOM_SCHEMA,
    REPO_ROOT,
    ProjectCopy,
    pristine_project,
    project,
    table_cells,
)
from scaffold_helpers import check_findings as _findings
from scaffold_helpers import move_cmake_line as _move_line

from kernelkit.builder import buildsys, features
from kernelkit.model import features as table
from kernelkit.model import layout, regions

PKG = "library/python/kernelkit_ops"
CMAKE = "library/CMakeLists.txt"
SO = f"{PKG}/_kernelkit_ops.so"
BOTH = layout.FP4_CUTLASS_OPS


def keys(project: ProjectCopy, spec: regions.RegionSpec) -> list[str]:
    """The ops of a CMake list, the repository's own (whatever main holds) left out."""
    own = _repo_ops(spec)
    return [e.key for e in regions.entries(project.read(CMAKE), spec, CMAKE) if e.key not in own]


def _repo_ops(spec: regions.RegionSpec) -> set[str]:
    text = (REPO_ROOT / CMAKE).read_text()
    return {e.key for e in regions.entries(text, spec)} if spec.begin in text else set()


def fake_library(project: ProjectCopy, record: bytes) -> None:
    """A stand-in for the built .so: the feature record `kernelkit build` embeds, among other bytes."""
    project.path(SO).write_bytes(b"\x7fELF" + b"\0" * 64 + b"KERNELKIT_FEATURES:" + record + b"\0" + b"\0more\0" * 10)


def opening_statements(wrapper: str, name: str) -> list[str]:
    """The wrapper's code lines after its docstring, comments left out."""
    body = wrapper[wrapper.index(f"def {name}(") :].split('"""', 2)[2]
    return [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


# ------------------------------------------------------------------------------------------- the tables


def test_every_combination_of_features_has_one_list():
    assert [lst.names for lst in table.OP_LISTS] == [(), ("fp4",), ("cutlass",), ("fp4", "cutlass")]
    assert table.list_for([]) is table.PLAIN
    assert table.list_for(["cutlass", "fp4"]) is table.FP4_CUTLASS is table.list_for([table.FP4, table.CUTLASS])
    assert table.list_for(["fp4"]).region is layout.FP4_OPS
    assert len({lst.region.name for lst in table.OP_LISTS}) == len(table.OP_LISTS)
    assert table.FP4_CUTLASS.title == "FP4 CUTLASS" and table.FP4_CUTLASS.flags == "--fp4 --cutlass"
    assert table.FP4_CUTLASS.build_command == "kernelkit build --fp4"  # CUTLASS is on wherever it can be


def test_every_list_is_in_the_repository_and_in_what_init_writes():
    """Each list of the table, with its markers, in library/CMakeLists.txt and in `init`'s template; the combined
    list joins the build only with both features, its kernels in their own sm_100a-only object library."""
    init = (REPO_ROOT / "kernelkit/scaffolds/project/CMakeLists.txt.j2").read_text()
    for text in ((REPO_ROOT / CMAKE).read_text(), init):
        for lst in table.OP_LISTS:
            assert f"set({lst.cmake_list}\n  # {lst.region.begin}" in text
        assert "if(KERNELKIT_ENABLE_FP4 AND _cutlass_include)\n  foreach(op IN LISTS KERNELKIT_FP4_CUTLASS_OPS)" in text
        assert 'set(KERNELKIT_FP4_GEMM_GENCODE "-gencode=arch=compute_100a,code=sm_100a")' in text
        assert re.search(
            r"kernelkit_gemm_objects\(.+_fp4_gemm \"\$\{KERNELKIT_FP4_GEMM_GENCODE\}\" \$\{_fp4_gemm_kernels\}\)", text
        )
        # every CUTLASS kernel TU compiles in the memory-bounded Ninja pool
        assert "set_target_properties(${name} PROPERTIES JOB_POOL_COMPILE kernelkit_gemm)" in text
        assert "set_property(GLOBAL APPEND PROPERTY JOB_POOLS kernelkit_gemm=${_gemm_jobs})" in text


# ------------------------------------------------------------------------------------------- new, remove


CUSTOM = ["--template", "custom", "--schema", CUSTOM_SCHEMA.replace("my_custom(", "my_fp4_gemm(")]


@pytest.mark.parametrize("flags", [CUSTOM, ["--template", "rowwise"]], ids=["custom", "rowwise"])
def test_new_fp4_cutlass_puts_the_op_in_the_combined_list(project: ProjectCopy, flags):
    result = project.ok("new", "my_fp4_gemm", "--category", "gemm", "--fp4", "--cutlass", *flags)
    # The build command names the flag of the feature that is off by default, and says the other's condition.
    assert "kernelkit build --fp4 && kernelkit test my_fp4_gemm" in result.output
    assert "CUTLASS headers" in result.output
    assert keys(project, BOTH) == ["my_fp4_gemm"]
    for spec in (layout.OPS, layout.FP4_OPS, layout.CUTLASS_OPS):
        assert "my_fp4_gemm" not in keys(project, spec)

    wrapper = project.read(f"{PKG}/gemm/my_fp4_gemm.py")
    assert opening_statements(wrapper, "my_fp4_gemm")[:2] == [
        '_library.require_fp4("my_fp4_gemm")',
        '_library.require_cutlass("my_fp4_gemm")',
    ]
    test = project.read("tests/ops/gemm/test_my_fp4_gemm.py")
    assert "_RUNS_WITHOUT = (_RUNS_WITHOUT_FP4, _RUNS_WITHOUT_CUTLASS)" in test
    for fixture, reason in (("_needs_fp4_kernels", "FP4"), ("_needs_cutlass_gemm_ops", "CUTLASS")):
        assert f"def {fixture}(request):" in test and f"pytest.skip({reason}_SKIP_REASON)" in test
    assert "def test_without_fp4_kernels_the_wrapper_says_how_to_build():" in test
    assert "def test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build():" in test
    assert all(len(line) <= 120 for line in test.splitlines() + wrapper.splitlines())

    assert project.run("check", "--json").json()["findings"] == []
    row = next(r for r in project.ok("list", "--json").json() if r["op"] == "my_fp4_gemm")
    assert row["fp4"] is True and row["cutlass"] is True
    project.ok("remove", "my_fp4_gemm", "--yes")
    project.assert_unchanged()


def test_generated_tests_of_a_two_feature_op_say_which_feature_is_missing(project: ProjectCopy):
    """The generated test of the wrapper's error for the second feature runs only when the first is there: the
    wrapper names the first missing feature."""
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    test = project.read("tests/ops/misc/test_my_fp4_gemm.py")
    second = test[test.index("def test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build") :]
    assert second.index("if kernelkit_ops.cutlass_enabled():") < second.index("if not kernelkit_ops.fp4_enabled():")
    first = test[test.index("def test_without_fp4_kernels") : test.index("def test_without_cutlass")]
    assert "cutlass_enabled" not in first


def test_like_copies_a_two_feature_op_into_the_same_list(project: ProjectCopy):
    project.ok("new", "a_fp4_gemm", "--fp4", "--cutlass", "--category", "gemm")
    copy = project.ok("new", "a_fp4_gemm_copy", "--like", "a_fp4_gemm")
    assert "kernelkit build --fp4 && kernelkit test a_fp4_gemm_copy" in copy.output
    assert keys(project, BOTH) == ["a_fp4_gemm", "a_fp4_gemm_copy"]
    project.ok("new", "a_fp4_gemm_copy2", "--like", "a_fp4_gemm", "--cutlass", "--fp4")  # agrees: fine
    for flags in (["--fp4"], ["--cutlass"]):
        refused = project.run("new", "x_copy", "--like", "a_fp4_gemm", *flags)
        assert refused.exit_code == 2, refused.output
        assert "a copy is" in refused.output and "it is an FP4 CUTLASS op" in refused.output
    assert project.run("check").exit_code == 0
    for name in ("a_fp4_gemm_copy2", "a_fp4_gemm_copy", "a_fp4_gemm"):
        project.ok("remove", name, "--yes")
    project.assert_unchanged()


def test_new_fp4_cutlass_in_a_project_without_the_list(tmp_path, monkeypatch):
    """A project made before the combined list: `new --fp4 --cutlass` says so, changes nothing, and the rest of
    kernelkit works there as before."""
    from typer.testing import CliRunner

    from kernelkit.cli import app

    root = tmp_path / "old"
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["init", str(root), "--name", "oldlib"]).exit_code == 0
    cmake = (root / CMAKE).read_text()
    start = cmake.index("set(KERNELKIT_FP4_CUTLASS_OPS")
    (root / CMAKE).write_text(cmake[:start] + cmake[cmake.index(")", start) + 2 :])
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["new", "my_fp4_gemm", "--fp4", "--cutlass"])
    assert result.exit_code == 2, result.output
    assert "--fp4 --cutlass: library/CMakeLists.txt has no fp4-cutlass-ops list" in " ".join(result.output.split())
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert CliRunner().invoke(app, ["new", "my_gemm", "--cutlass"]).exit_code == 0
    assert CliRunner().invoke(app, ["check"]).exit_code == 0


# ------------------------------------------------------------------------------------------------- check


def test_check_flags_a_two_feature_op_whose_wrapper_misses_one_require(project: ProjectCopy):
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    rel = f"{PKG}/misc/my_fp4_gemm.py"
    project.write(rel, project.read(rel).replace('    _library.require_cutlass("my_fp4_gemm")\n', ""))
    [finding] = _findings(project)
    assert finding["message"].startswith("FP4 CUTLASS op (its line is in CMake's fp4-cutlass-ops list) but its wrapper")
    assert '_library.require_cutlass("my_fp4_gemm") first' in finding["message"]


def test_check_wants_every_require_before_other_code(project: ProjectCopy):
    """The require calls open the wrapper: one after another statement comes too late (a build without its feature
    would fail in that statement, or in the op call, instead of saying how to rebuild)."""
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    rel = f"{PKG}/misc/my_fp4_gemm.py"
    first = '    _library.require_fp4("my_fp4_gemm")\n'
    project.write(rel, project.read(rel).replace(first, first + "    rows = 0\n"))
    [finding] = _findings(project)
    assert '_library.require_cutlass("my_fp4_gemm") first' in finding["message"]


def test_check_says_where_the_wrappers_requires_put_the_op(project: ProjectCopy):
    """A two-feature op's line moved to cutlass-ops: its wrapper also asks for FP4, so the fix is the combined list;
    an FP4 op's line moved there: the FP4 list."""
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    _move_line(project, "my_fp4_gemm", BOTH, layout.CUTLASS_OPS)
    [finding] = _findings(project)
    assert finding["message"].startswith("its wrapper calls require_fp4, but the op is in CMake's cutlass-ops list")
    assert "move its line to fp4-cutlass-ops, or drop the call" in finding["message"]
    _move_line(project, "my_fp4_gemm", layout.CUTLASS_OPS, BOTH)
    assert project.run("check").exit_code == 0
    _move_line(project, "rmsnorm", layout.OPS, BOTH)
    messages = sorted(f["message"] for f in _findings(project))
    assert len(messages) == 2 and all(m.startswith("FP4 CUTLASS op (its line is in") for m in messages), messages


# ---------------------------------------------------------------------------------- list, bench, build


def test_list_shows_both_features_of_the_op(project: ProjectCopy, monkeypatch):
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    fake_library(project, b"fp4=0,cutlass=1")
    row = next(r for r in project.ok("list", "--json").json() if r["op"] == "my_fp4_gemm")
    assert (row["fp4"], row["fp4_built"], row["cutlass"], row["cutlass_built"]) == (True, False, True, True)
    assert table_cells(project.ok("list").output, "my_fp4_gemm")[1] == "fp4 ✗ cutlass ✓"


def test_bench_skips_a_two_feature_op_the_library_lacks(project: ProjectCopy, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    fake_library(project, b"fp4=0,cutlass=1")
    result = project.run("bench")
    assert re.search(r"skipping FP4 ops (\S+, )*my_fp4_gemm(, \S+)*: FP4 kernels: not built", result.output), (
        result.output
    )
    named = project.run("bench", "my_fp4_gemm")
    assert named.exit_code == 2 and "rebuild with `kernelkit build --fp4`" in named.output, named.output


@pytest.mark.parametrize(("record", "left_out"), [(b"fp4=1,cutlass=0", True), (b"fp4=0,cutlass=0", False)])
def test_build_reports_a_two_feature_op_left_out_only_for_want_of_cutlass(
    project: ProjectCopy, monkeypatch, record, left_out
):
    """Without the CUTLASS headers an FP4 build leaves the op out (said after the build); a build without --fp4 has
    no FP4 ops anyway, and does not list it."""
    from kernelkit.project import find_project

    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)
    project.ok("new", "my_fp4_gemm", "--fp4", "--cutlass")
    fake_library(project, record)
    left = buildsys._left_out(find_project(project.root))
    assert ("my_fp4_gemm" in left.get("cutlass", ([], ""))[0]) is left_out
