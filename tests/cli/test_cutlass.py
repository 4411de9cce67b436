"""CUTLASS as a build feature, end to end: `new --cutlass` / `remove`, `check`, `list`, `doctor`, `bench`, the
`build` flags and summary, compile_commands.json, and a CUTLASS op built with and without the CUTLASS headers.

A CUTLASS op is one whose line is in CMake's cutlass-ops list: its kernel and binding TU are compiled (with the
CUTLASS include path, which no other source sees) only where the build finds the headers; without them the op is
not registered and its wrapper, which checks first, says how to get them. The build features share one table
(kernelkit/model/features.py), so most of this mirrors test_fp4.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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
from scaffold_helpers import line_of as _line_of
from scaffold_helpers import move_cmake_line as _move_line

from kernelkit.builder import buildsys, features
from kernelkit.builder.buildsys import BuildOptions, cmake_cache_args, parse_define
from kernelkit.codegen import scaffold
from kernelkit.errors import KernelkitError
from kernelkit.model import features as table
from kernelkit.model import layout, regions

PKG = "library/python/kernelkit_ops"
CMAKE = "library/CMakeLists.txt"
INIT = f"{PKG}/__init__.py"
SO = f"{PKG}/_kernelkit_ops.so"

TEMPLATES = {
    "elementwise": ("my_scale", []),
    "rowwise": ("my_rownorm", ["--template", "rowwise"]),
    "custom": ("my_custom", ["--template", "custom", "--schema", CUSTOM_SCHEMA]),
}


def keys(project: ProjectCopy, spec: regions.RegionSpec) -> list[str]:
    """The ops of a CMake list, the repository's own CUTLASS ops (the GEMMs, however many) left out."""
    return [e.key for e in regions.entries(project.read(CMAKE), spec, CMAKE) if e.key not in REPO_CUTLASS_OPS]


def _repo_cutlass_ops() -> set[str]:
    text = (REPO_ROOT / CMAKE).read_text()
    return {e.key for e in regions.entries(text, layout.CUTLASS_OPS)} if layout.CUTLASS_OPS.begin in text else set()


REPO_CUTLASS_OPS = _repo_cutlass_ops()


def fake_library(project: ProjectCopy, record: bytes | None) -> None:
    """A stand-in for the built .so: some bytes around the feature record `kernelkit build` embeds."""
    body = b"\x7fELF" + b"\0" * 64 + b"some .rodata\0"
    if record is not None:
        body += b"KERNELKIT_FEATURES:" + record + b"\0"
    project.path(SO).write_bytes(body + b"\0more bytes\0" * 10)


def fake_cache(project: ProjectCopy, **entries: str) -> None:
    """A development build's CMakeCache.txt holding `entries` (what `doctor` reads for why a feature is off)."""
    cache = project.root / "build" / "dev" / "CMakeCache.txt"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("".join(f"{name}:STRING={value}\n" for name, value in entries.items()))


def first_statement(wrapper: str, name: str) -> str:
    body = wrapper[wrapper.index(f"def {name}(") :]
    return next(
        line for line in body.split('"""', 2)[2].splitlines() if line.strip() and not line.strip().startswith("#")
    ).strip()


# --------------------------------------------------------------------------------- new --cutlass, remove


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_new_cutlass_puts_the_op_in_the_cutlass_ops_list(project: ProjectCopy, template: str):
    name, flags = TEMPLATES[template]
    result = project.ok("new", name, "--category", "gemm", "--cutlass", *flags)
    # The next step is a plain build (CUTLASS is on wherever the headers are found), and it says that condition.
    assert "kernelkit build && kernelkit test" in result.output and "CUTLASS headers" in result.output
    assert name in keys(project, layout.CUTLASS_OPS)
    assert name not in keys(project, layout.OPS) and name not in keys(project, layout.FP4_OPS)
    cmake = project.read(CMAKE)
    cutlass_list = cmake[cmake.index("set(KERNELKIT_CUTLASS_OPS") :]
    assert cutlass_list.index(layout.CUTLASS_OPS.end) < cutlass_list.index(")")  # the region is the list's body
    for suffix in (".cu", ".cc"):
        assert "#if" not in project.read(f"library/csrc/gemm/{name}{suffix}")  # the list is the whole condition

    wrapper = project.read(f"{PKG}/gemm/{name}.py")
    assert first_statement(wrapper, name) == f'_library.require_cutlass("{name}")'
    assert "from kernelkit_ops import _library" in wrapper
    test = project.read(f"tests/ops/gemm/test_{name}.py")
    assert "def _needs_cutlass_gemm_ops(request):" in test and "pytest.skip(CUTLASS_SKIP_REASON)" in test
    assert "if not kernelkit_ops.cutlass_enabled() and request.node.originalname != _RUNS_WITHOUT_CUTLASS:" in test
    assert "def test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build():" in test

    assert project.run("check", "--json").json()["findings"] == []
    row = next(r for r in project.ok("list", "--json").json() if r["op"] == name)
    assert row["cutlass"] is True and row["fp4"] is False
    project.ok("remove", name, "--yes")
    project.assert_unchanged()  # byte for byte, the gemm folders gone again


def test_new_cutlass_dry_run_shows_the_cutlass_ops_list(project: ProjectCopy):
    diff = project.ok("new", "my_gemm", "--cutlass", "--dry-run").stdout
    hunk = diff[diff.index("--- a/library/CMakeLists.txt") :].splitlines()
    at = hunk.index("+  misc/my_gemm")
    # Between the list's markers (the repository's own CUTLASS ops, if any, sort before it: the end shows).
    below = next(line for line in hunk[at + 1 :] if "kernelkit:" in line or line.startswith(("@@", "---")))
    above = next(line for line in reversed(hunk[:at]) if "kernelkit:" in line or line.startswith("@@"))
    assert "kernelkit:cutlass-ops-end" in below or "kernelkit:cutlass-ops-begin" in above, hunk
    project.assert_unchanged()


def test_feature_ops_side_by_side_and_copies(project: ProjectCopy):
    project.ok("new", "a_gemm", "--cutlass", "--category", "gemm")
    project.ok("new", "b_plain", "--category", "gemm")
    project.ok("new", "c_fp4", "--fp4", "--category", "gemm")
    copy = project.ok("new", "a_gemm_copy", "--like", "a_gemm")  # a copy of a CUTLASS op is one
    assert "kernelkit build && kernelkit test a_gemm_copy" in copy.output
    assert keys(project, layout.CUTLASS_OPS) == ["a_gemm", "a_gemm_copy"]
    assert '_library.require_cutlass("a_gemm_copy")' in project.read(f"{PKG}/gemm/a_gemm_copy.py")
    project.ok("new", "a_gemm_copy2", "--like", "a_gemm", "--cutlass")  # agrees with it: fine
    for like, flag, other in (("a_gemm", "--fp4", "a CUTLASS op"), ("b_plain", "--cutlass", "the plain list")):
        refused = project.run("new", "x_copy", "--like", like, flag)
        assert refused.exit_code == 2, refused.output
        assert f"--like {like}: a copy is" in refused.output and f"drop {flag}" in refused.output
        assert other in refused.output
    assert project.run("check").exit_code == 0
    for name in ("a_gemm_copy2", "a_gemm_copy", "c_fp4", "b_plain", "a_gemm"):
        project.ok("remove", name, "--yes")
    project.assert_unchanged()


def test_remove_takes_a_cutlass_op_out_of_the_cutlass_ops_list(project: ProjectCopy):
    project.ok("new", "my_gemm", "--cutlass", "--category", "gemm")
    project.commit("with a cutlass op")
    diff = project.ok("remove", "my_gemm", "--dry-run").stdout
    assert "-  gemm/my_gemm\n" in diff and "--- a/library/csrc/gemm/my_gemm.cu" in diff
    project.ok("remove", "my_gemm", "--yes")
    assert keys(project, layout.CUTLASS_OPS) == [] and "my_gemm" not in project.read(CMAKE)


def test_remove_refuses_a_hand_edited_line_in_the_cutlass_list(project: ProjectCopy):
    project.ok("new", "my_gemm", "--cutlass", "--category", "gemm")
    project.write(CMAKE, project.read(CMAKE).replace("  gemm/my_gemm\n", "  gemm/my_gemm # the GEMM\n"))
    project.commit("hand-edited")
    result = project.run("remove", "my_gemm", "--yes")
    assert result.exit_code == 2 and "region cutlass-ops names 'my_gemm'" in result.output, result.output
    project.assert_unchanged()
    [finding] = [f for f in project.run("check", "--json").json()["findings"] if "cutlass-ops" in f["message"]]
    assert "not an entry kernelkit writes in region cutlass-ops" in finding["message"]


def test_new_cutlass_in_a_project_without_the_list(tmp_path, monkeypatch):
    """A project made by an older `kernelkit init` has no cutlass-ops list: `new --cutlass` says so, and the rest
    of kernelkit works there as before (no list, no CUTLASS ops, no cutlass column)."""
    from typer.testing import CliRunner

    from kernelkit.cli import app

    root = tmp_path / "old"
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["init", str(root), "--name", "oldlib"]).exit_code == 0
    cmake = (root / CMAKE).read_text()
    start = cmake.index("set(KERNELKIT_CUTLASS_OPS")
    (root / CMAKE).write_text(cmake[:start] + cmake[cmake.index(")", start) + 2 :])
    assert layout.CUTLASS_OPS.begin not in (root / CMAKE).read_text()
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["new", "my_gemm", "--cutlass"])
    assert result.exit_code == 2, result.output
    assert "--cutlass: library/CMakeLists.txt has no cutlass-ops list" in " ".join(result.output.split())
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert CliRunner().invoke(app, ["new", "my_fp4", "--fp4"]).exit_code == 0
    assert CliRunner().invoke(app, ["check"]).exit_code == 0
    rows = json.loads(CliRunner().invoke(app, ["list", "--json"]).stdout)
    assert rows[0]["fp4"] is True and "cutlass" not in rows[0]


# ------------------------------------------------------------------------------------------- check


def test_check_flags_a_cutlass_op_whose_wrapper_does_not_check_first(project: ProjectCopy):
    _move_line(project, "rmsnorm", layout.OPS, layout.CUTLASS_OPS)
    [finding] = _findings(project)
    rel = f"{PKG}/norm/rmsnorm.py"
    assert finding["op"] == "rmsnorm" and finding["where"] == f"{rel}:{_line_of(project, rel, 'def rmsnorm(')}"
    assert finding["message"].startswith("CUTLASS op (its line is in CMake's cutlass-ops list) but its wrapper")
    assert '_library.require_cutlass("rmsnorm")' in finding["message"]
    assert "without the CUTLASS headers the op is not registered" in finding["message"]


def test_check_flags_a_plain_op_whose_wrapper_requires_cutlass(project: ProjectCopy):
    project.ok("new", "my_gemm", "--cutlass")
    _move_line(project, "my_gemm", layout.CUTLASS_OPS, layout.OPS)
    [finding] = _findings(project)
    assert finding["op"] == "my_gemm" and finding["where"] == f"{CMAKE}:{_line_of(project, CMAKE, '  misc/my_gemm')}"
    assert (
        "its wrapper calls require_cutlass, but the op is in CMake's ops list (built in every build)"
        in (finding["message"])
    )
    assert "move its line to cutlass-ops, or drop the call" in finding["message"]


def test_check_flags_an_op_of_one_feature_whose_wrapper_requires_the_other(project: ProjectCopy):
    """An FP4 op's line moved to cutlass-ops: its wrapper asks for FP4 and not for CUTLASS, two findings."""
    project.ok("new", "my_op", "--fp4")
    _move_line(project, "my_op", layout.FP4_OPS, layout.CUTLASS_OPS)
    messages = sorted(f["message"] for f in _findings(project))
    assert len(messages) == 2, messages
    assert messages[0].startswith("CUTLASS op (its line is in CMake's cutlass-ops list)")
    assert messages[1].startswith("its wrapper calls require_fp4, but the op is in CMake's cutlass-ops list")
    assert "move its line to fp4-ops" in messages[1]


def test_check_flags_an_op_in_two_feature_lists(project: ProjectCopy):
    project.ok("new", "my_gemm", "--cutlass")
    project.write(CMAKE, regions.insert(project.read(CMAKE), layout.FP4_OPS, "my_gemm", "  misc/my_gemm"))
    messages = [f["message"] for f in _findings(project)]
    assert any(m.startswith("a second CMake entry (the first is at library/CMakeLists.txt:") for m in messages)


# ------------------------------------------------------------------------------ list, doctor, bench


@pytest.mark.parametrize(
    ("record", "state", "caption", "cell"),
    [
        (b"fp4=0,cutlass=1", "built", "CUTLASS GEMM ops: built", "cutlass ✓"),
        (
            b"fp4=0,cutlass=0",
            "not built",
            "CUTLASS GEMM ops: not built (no CUTLASS headers found;",
            "cutlass ✗",
        ),
        (b"fp4=0", "unknown", "CUTLASS GEMM ops: unknown (the library predates", "cutlass ?"),
    ],
)
def test_list_says_whether_cutlass_is_built(project: ProjectCopy, monkeypatch, record, state, caption, cell):
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)  # a machine without the headers
    project.ok("new", "my_gemm", "--cutlass")
    fake_library(project, record)
    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    assert rows["my_gemm"]["cutlass"] is True and rows["my_gemm"]["fp4"] is False
    assert rows["my_gemm"]["cutlass_built"] is {"built": True, "not built": False}.get(state)
    assert rows["rmsnorm"]["cutlass"] is False and rows["rmsnorm"]["cutlass_built"] is None
    table_text = project.ok("list").output
    assert caption in table_text and "FP4 kernels: not built (kernelkit build --fp4)" in table_text
    assert table_cells(table_text, "my_gemm")[1] == cell  # the op's "needs" column


def _status(project: ProjectCopy):
    from kernelkit.project import find_project

    return features.status(find_project(project.root), table.CUTLASS)


def test_why_a_build_has_no_cutlass(project: ProjectCopy, monkeypatch):
    """doctor's line for CUTLASS says why the library lacks it and what gets it."""
    fake_library(project, b"fp4=0,cutlass=0")
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)
    state = _status(project)
    assert (state.state, state.why, state.how) == (
        features.State.NOT_BUILT,
        "no CUTLASS headers found",
        table.CUTLASS.get,
    )
    assert "pip install nvidia-cutlass==4.2.0.0" in state.describe()

    fake_cache(project, KERNELKIT_CUTLASS="OFF")
    state = _status(project)
    assert (state.why, state.how) == ("built with --no-cutlass", "kernelkit build")

    fake_cache(project, KERNELKIT_CUTLASS="AUTO", KERNELKIT_CUTLASS_DIR="/no/such/dir")
    assert _status(project).why == "no cutlass/cutlass.h in -DKERNELKIT_CUTLASS_DIR=/no/such/dir"

    headers = project.root / "headers"
    (headers / "cutlass").mkdir(parents=True)
    (headers / "cutlass" / "cutlass.h").write_text("#pragma once\n")
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: headers)
    state = _status(project)
    assert (state.why, state.how) == (f"the CUTLASS headers are here now ({headers})", "kernelkit build")

    fake_library(project, b"fp4=0,cutlass=1")
    assert _status(project).describe() == "CUTLASS GEMM ops: built"


def test_cutlass_include_finds_the_wheel_or_the_configured_folder(project: ProjectCopy):
    from kernelkit.project import find_project

    spec = importlib.util.find_spec("cutlass_library")
    wheel = Path(spec.submodule_search_locations[0]) / "source" / "include" if spec else None
    found = features.cutlass_include()
    assert found == (wheel if wheel is not None and (wheel / "cutlass/cutlass.h").is_file() else None)
    headers = project.root / "headers"
    (headers / "cutlass").mkdir(parents=True)
    (headers / "cutlass" / "cutlass.h").write_text("#pragma once\n")
    fake_cache(project, KERNELKIT_CUTLASS_DIR=str(headers))
    assert features.cutlass_include(find_project(project.root)) == headers
    fake_cache(project, KERNELKIT_CUTLASS_DIR=str(project.root / "elsewhere"))  # no cutlass.h there: none
    assert features.cutlass_include(find_project(project.root)) is None


def test_doctor_has_a_line_per_build_feature(cli):
    report = json.loads(cli("doctor", "--json").stdout)
    library = next(c for c in report["checks"] if c["name"] == "library")
    if not library["ok"]:
        pytest.skip(f"the library does not load here: {library['detail']}")
    import kernelkit_ops

    names = [c["name"] for c in report["checks"]]
    assert names.index("library") + 1 == names.index("fp4") and names.index("fp4") + 1 == names.index("cutlass")
    cutlass = next(c for c in report["checks"] if c["name"] == "cutlass")
    assert cutlass["ok"] is kernelkit_ops.cutlass_enabled() and cutlass["required"] is False
    if cutlass["ok"]:
        assert cutlass["detail"] == "CUTLASS GEMM ops: built" and cutlass["fix"] == ""
    else:
        assert cutlass["detail"].startswith("CUTLASS GEMM ops: not built (") and cutlass["fix"]


def test_bench_refuses_a_named_cutlass_op_without_cutlass(project: ProjectCopy, monkeypatch):
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)
    project.ok("new", "my_gemm", "--cutlass")
    fake_library(project, b"fp4=0,cutlass=0")
    result = project.run("bench", "my_gemm")
    assert result.exit_code == 2, result.output
    assert "my_gemm: CUTLASS op but the library has no CUTLASS GEMM ops (CUTLASS GEMM ops: not built" in result.output
    assert "pip install nvidia-cutlass==4.2.0.0" in result.output and "Traceback" not in result.output


def test_bench_of_every_op_skips_cutlass_and_fp4_ops_the_library_lacks(project: ProjectCopy, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # stop right after choosing the ops
    project.ok("new", "my_gemm", "--cutlass")
    project.ok("new", "my_fp4", "--fp4")
    fake_library(project, b"fp4=0,cutlass=0")
    result = project.run("bench")
    assert re.search(r"skipping CUTLASS ops (\S+, )*my_gemm(, \S+)*: CUTLASS GEMM ops: not built", result.output), (
        result.output
    )
    assert re.search(r"skipping FP4 ops (\S+, )*my_fp4(, \S+)*: FP4 kernels: not built", result.output), result.output
    assert "needs a CUDA GPU" in result.output


def test_bench_takes_cutlass_ops_of_a_library_that_has_them(project: ProjectCopy, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    project.ok("new", "my_gemm", "--cutlass")
    fake_library(project, b"fp4=0,cutlass=1")
    result = project.run("bench", "my_gemm")
    assert "skipping" not in result.output and "needs a CUDA GPU" in result.output, result.output


# ---------------------------------------------------------------------- the package's require_cutlass


def _library_module():
    """The package's _library.py on its own (no built library needed), with no feature record loaded."""
    spec = importlib.util.spec_from_file_location("kkprobe_cutlass_library", REPO_ROOT / PKG / "_library.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._FEATURES.clear()
    return module


@pytest.mark.parametrize("feature", table.FEATURES, ids=lambda f: f.name)
def test_require_says_what_the_generated_test_expects(feature):
    """The generated wrapper-error test matches the start of the package's message (read from the table)."""
    library = _library_module()
    assert getattr(library, feature.enabled)() is False
    with pytest.raises(RuntimeError) as err:
        getattr(library, feature.require)("some_op")
    expected = scaffold._feature_context(feature, "kernelkit_ops")["error"]
    assert re.match(rf"some_op: {expected}", str(err.value)), (expected, str(err.value))
    library._FEATURES[feature.name] = "1"
    getattr(library, feature.require)("some_op")  # nothing to say
    assert getattr(library, feature.enabled)() is True


def test_require_cutlass_message():
    library = _library_module()
    with pytest.raises(RuntimeError) as err:
        library.require_cutlass("fp8_scaled_mm")
    message = str(err.value)
    assert message.startswith("fp8_scaled_mm: kernelkit_ops was built without the CUTLASS GEMM ops; ")
    for needle in ("pip install nvidia-cutlass==4.2.0.0", "kernelkit build", "-DKERNELKIT_CUTLASS_DIR", "doctor"):
        assert needle in message


def test_an_unbuilt_op_says_to_build_with_the_flags_of_the_loaded_library():
    """explain_unbuilt's advice keeps the features the loaded library has that need a flag (FP4), and only those."""
    library = _library_module()
    for record, build in (
        ({"fp4": "1", "cutlass": "1"}, "kernelkit build --fp4"),
        ({"cutlass": "1"}, "kernelkit build"),
    ):
        library._FEATURES.clear()
        library._FEATURES.update(record)
        flags = [flag for f, flag in library._BUILD_FLAGS.items() if library.enabled(f)]
        assert " ".join(["kernelkit build", *flags]) == build
    assert set(library._BUILD_FLAGS) == {f.name for f in table.FEATURES if not f.on_by_default}


def test_the_table_and_the_library_agree():
    """Every feature of the table has its list in CMake, its record in library.cc, its functions in the package,
    all of them in kernelkit_ops and in what `init` writes, and its `kernelkit build` flag."""
    project_files = REPO_ROOT / "kernelkit/scaffolds/project"
    repo = {name: (REPO_ROOT / rel).read_text() for name, rel in (("cmake", CMAKE), ("cc", "library/csrc/library.cc"),
            ("py", f"{PKG}/_library.py"), ("init", INIT))}  # fmt: skip
    init = {name: (project_files / rel).read_text() for name, rel in (("cmake", "CMakeLists.txt.j2"),
            ("cc", "library.cc.j2"), ("py", "_library.py.j2"), ("init", "package_init.py.j2"))}  # fmt: skip
    for feature in table.FEATURES:
        for files in (repo, init):
            assert f"set({feature.cmake_list}\n  # {feature.region.begin}" in files["cmake"]
            assert feature.cmake_option in files["cmake"]
            assert re.search(rf'[:,]{feature.name}=" KERNELKIT_FEATURE_{feature.name.upper()}\b', files["cc"])
            assert f"def {feature.require}(op: str) -> None:" in files["py"] and f'"{feature.name}": ' in files["py"]
            assert f"{feature.enabled} = _library.{feature.enabled}" in files["init"]
        assert buildsys.FLAG_FOR_OPTION[feature.cmake_option] == feature.build_flag


# ---------------------------------------------------------------------------------- build: flags


def test_parse_define_sends_kernelkit_cutlass_to_its_flag():
    for text in ("KERNELKIT_CUTLASS=ON", "KERNELKIT_CUTLASS:STRING=OFF"):
        with pytest.raises(KernelkitError, match=r"-D KERNELKIT_CUTLASS: set it with --cutlass/--no-cutlass instead"):
            parse_define(text)


def test_parse_define_passes_the_cutlass_folder():
    assert parse_define("KERNELKIT_CUTLASS_DIR=/opt/cutlass/include") == (
        "KERNELKIT_CUTLASS_DIR",
        "/opt/cutlass/include",
    )
    with pytest.raises(KernelkitError) as info:
        parse_define("KERNELKIT_CUTLAS_DIR=/x")  # a typo of it is still refused, naming the real one
    assert "unknown kernelkit option" in str(info.value) and "KERNELKIT_CUTLASS_DIR" in str(info.value)


@pytest.mark.parametrize(
    ("cutlass", "arg"), [(None, None), (True, "-DKERNELKIT_CUTLASS=ON"), (False, "-DKERNELKIT_CUTLASS=OFF")]
)
def test_cmake_cache_args_cutlass(repo_root, cutlass, arg):
    from kernelkit.project import find_project

    args = cmake_cache_args(find_project(repo_root), BuildOptions(archs=("90a",), cutlass=cutlass))
    given = [a for a in args if a.startswith("-DKERNELKIT_CUTLASS")]
    assert given == ([arg] if arg else [])  # not given: the cache's default, AUTO


@pytest.mark.parametrize(("flags", "cutlass"), [([], None), (["--cutlass"], True), (["--no-cutlass"], False)])
def test_cli_build_cutlass_flag(cli, monkeypatch, flags, cutlass):
    seen = {}

    def fake_build(project, options, **kwargs):
        seen["options"] = options
        return buildsys.BuildResult(ok=True, elapsed_s=0.5, configured=True, steps=1, ccache=None)

    monkeypatch.setattr(buildsys, "build", fake_build)
    result = cli("build", "--arch", "90a", *flags)
    assert result.exit_code == 0, result.output
    assert seen["options"] == BuildOptions(archs=("90a",), cutlass=cutlass)


def test_cli_build_refuses_a_define_of_kernelkit_cutlass(cli, monkeypatch):
    called = []
    monkeypatch.setattr(buildsys, "build", lambda *a, **k: called.append(1))
    result = cli("build", "-D", "KERNELKIT_CUTLASS=OFF")
    assert result.exit_code != 0 and called == []
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == ["error: -D KERNELKIT_CUTLASS: set it with --cutlass/--no-cutlass instead"], result.output


def test_found_headers_make_a_build_configure_again(monkeypatch, tmp_path):
    """AUTO looks for the headers at configure time only: what it would find now is part of what a build compares
    with the last configure, so installing nvidia-cutlass and building again configures again."""
    from kernelkit.project import find_project

    project = find_project(REPO_ROOT)
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: None)
    without = buildsys._found_headers(project, BuildOptions())
    monkeypatch.setattr(features, "cutlass_include", lambda project=None: tmp_path)
    with_them = buildsys._found_headers(project, BuildOptions())
    assert without != with_them and all(item.startswith("# ") for item in without + with_them)  # never a -D
    assert buildsys._found_headers(project, BuildOptions(cutlass=False)) == []  # not looked for
    named = BuildOptions(defines=(("KERNELKIT_CUTLASS_DIR", str(tmp_path)),))
    assert buildsys._found_headers(project, named) == []  # the folder is in the arguments


CONFIGURE_LOG = """\
-- kernelkit: torch = /venv/lib/python3.11/site-packages/torch
CMake Warning at CMakeLists.txt:152 (message):
  kernelkit: building without the CUTLASS GEMM ops: no CUTLASS headers (pip
  install nvidia-cutlass==4.2.0.0, or -DKERNELKIT_CUTLASS_DIR=<include
  folder>)


CMake Warning at /usr/share/cmake/Modules/Foo.cmake:3 (message):
  some other project's warning


-- Configuring done
"""


def test_kernelkit_warnings_of_a_configure_log():
    assert buildsys.kernelkit_warnings(CONFIGURE_LOG) == [
        "kernelkit: building without the CUTLASS GEMM ops: no CUTLASS headers (pip install nvidia-cutlass==4.2.0.0, "
        "or -DKERNELKIT_CUTLASS_DIR=<include folder>)"
    ]
    assert buildsys.kernelkit_warnings("-- Configuring done\n") == []


def test_cli_build_says_what_was_left_out(cli, monkeypatch):
    why = "CUTLASS GEMM ops: not built (no CUTLASS headers found; pip install nvidia-cutlass==4.2.0.0 ...)"

    def fake_build(project, options, **kwargs):
        return buildsys.BuildResult(
            ok=True,
            elapsed_s=0.5,
            configured=True,
            steps=1,
            ccache=None,
            warnings=buildsys.kernelkit_warnings(CONFIGURE_LOG),
            left_out={"cutlass": (["fp8_scaled_mm", "int8_scaled_mm"], why)},
        )

    monkeypatch.setattr(buildsys, "build", fake_build)
    result = cli("build", "--arch", "90a")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert "warning kernelkit: building without the CUTLASS GEMM ops: no CUTLASS headers (pip install" in flat
    assert f"left out 2 CUTLASS ops (fp8_scaled_mm, int8_scaled_mm): {why}" in flat
    data = json.loads(cli("build", "--arch", "90a", "--json").stdout)
    assert data["left_out"] == {"cutlass": {"ops": ["fp8_scaled_mm", "int8_scaled_mm"], "why": why}}
    assert data["warnings"][0].startswith("kernelkit: building without the CUTLASS GEMM ops")


def test_cli_build_cutlass_flag_in_a_project_without_the_list(project: ProjectCopy, monkeypatch):
    called = []
    monkeypatch.setattr(buildsys, "build", lambda *a, **k: called.append(1))
    cmake = project.read(CMAKE)
    for marker in (layout.CUTLASS_OPS.begin, layout.CUTLASS_OPS.end):
        cmake = cmake.replace(f"  # {marker}\n", "")
    project.write(CMAKE, cmake)
    result = project.run("build", "--no-cutlass")
    assert result.exit_code == 1 and called == [], result.output
    assert "--no-cutlass: library/CMakeLists.txt has no cutlass-ops list" in result.output


# ------------------------------------------------ a project with a CUTLASS op, built (nvcc, link, clangd)


def _kernelkit(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1", COLUMNS="250", TERM="dumb")
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "kernelkit", *args], cwd=root, capture_output=True, text=True, timeout=timeout, env=env
    )


def _compile_commands(root: Path) -> dict[str, str]:
    """source path relative to library/ -> its compile command, from the compile_commands.json at the root
    (where clangd looks)."""
    entries = json.loads((root / "compile_commands.json").read_text())
    library = (root / "library").resolve()
    return {
        str(Path(e["file"]).resolve().relative_to(library)): e.get("command") or " ".join(e["arguments"])
        for e in entries
    }


@pytest.mark.slow
def test_a_cutlass_op_built_with_and_without_the_headers(tmp_path):
    """A project made by `init`, one CUTLASS op (its kernel includes <cutlass/cutlass.h>) and one plain op. With
    the headers: the op is compiled with CUTLASS's include path, which clangd gets from compile_commands.json and
    no other source has, and registered. Without them (a folder without cutlass.h): the build says so and names the
    op it left out, the op is not registered, its wrapper says how to get it and its generated CPU tests pass
    (the wrapper-error test) or skip. --no-cutlass leaves it out quietly; --cutlass without headers fails."""
    headers = features.cutlass_include()
    if headers is None:
        pytest.skip("needs the nvidia-cutlass wheel (pip install nvidia-cutlass==4.2.0.0)")
    from kernelkit.builder import toolchain

    if not all(toolchain.find_tool(t).found for t in ("cmake", "ninja")) or not toolchain.find_nvcc().found:
        pytest.skip("needs cmake, ninja and nvcc")
    root = tmp_path / "cutdemo"
    assert _kernelkit(tmp_path, "init", str(root), "--name", "cutdemo").returncode == 0
    made = _kernelkit(root, "new", "gemm_it", "--cutlass", "-c", "gemm")
    assert made.returncode == 0, made.stdout + made.stderr
    assert _kernelkit(root, "new", "plain_it", "-c", "gemm").returncode == 0
    kernel = root / "library/csrc/gemm/gemm_it.cu"
    kernel.write_text("#include <cutlass/cutlass.h>  // only cutlass-ops sources find it\n" + kernel.read_text())
    env = dict(os.environ, PYTHONPATH=str(root / "library" / "python"))

    def load(name: str) -> dict:
        code = (
            "import json, torch, cutdemo\n"
            "try:\n    cutdemo.gemm_it(torch.ones(2, 8))\n    error = None\n"
            "except RuntimeError as exc:\n    error = str(exc)\n"
            f"print(json.dumps({{'cutlass': cutdemo.cutlass_enabled(), 'error': error, "
            f"'registered': bool(torch._C._jit_get_schemas_for_operator('cutdemo::{name}'))}}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    # With the headers (AUTO finds the wheel's).
    built = _kernelkit(root, "build", "--json")
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    assert json.loads(built.stdout)["left_out"] == {} and json.loads(built.stdout)["warnings"] == []
    commands = _compile_commands(root)
    for source in ("csrc/gemm/gemm_it.cu", "csrc/gemm/gemm_it.cc"):
        # the binding TU gets the headers as a plain include, the kernel TU (the GEMM object library) as a system one
        assert f"-I{headers}" in commands[source] or f"-isystem={headers}" in commands[source], commands[source]
    for source in ("csrc/gemm/plain_it.cu", "csrc/gemm/plain_it.cc", "csrc/library.cc"):
        assert str(headers) not in commands[source], commands[source]
    assert "KERNELKIT_ENABLE_CUTLASS=1" in commands["csrc/library.cc"]
    recorded = features.read_features(root / "library/python/cutdemo/_cutdemo.so")
    assert {k: recorded[k] for k in ("fp4", "cutlass")} == {"fp4": "0", "cutlass": "1"}
    loaded = load("gemm_it")
    assert loaded["cutlass"] is True and loaded["registered"] is True
    listed = {r["op"]: r for r in json.loads(_kernelkit(root, "list", "--json").stdout)}
    assert listed["gemm_it"]["cutlass_built"] is True and listed["plain_it"]["cutlass_built"] is None

    # Without them: a folder that holds no cutlass/cutlass.h.
    empty = tmp_path / "no_cutlass"
    empty.mkdir()
    built = _kernelkit(root, "build", "-D", f"KERNELKIT_CUTLASS_DIR={empty}")
    output = " ".join((built.stdout + built.stderr).split())
    assert built.returncode == 0, output[-4000:]
    assert "warning kernelkit: building without the CUTLASS GEMM ops: no CUTLASS headers" in output
    why = f"no cutlass/cutlass.h in -DKERNELKIT_CUTLASS_DIR={empty}"
    assert f"left out 1 CUTLASS op (gemm_it): CUTLASS GEMM ops: not built ({why}" in output
    assert "gemm/gemm_it" not in " ".join(_compile_commands(root))
    loaded = load("gemm_it")
    assert loaded["cutlass"] is False and loaded["registered"] is False
    assert loaded["error"].startswith("gemm_it: cutdemo was built without the CUTLASS GEMM ops; `pip install")
    doctor = json.loads(_kernelkit(root, "doctor", "--json").stdout)
    line = next(c for c in doctor["checks"] if c["name"] == "cutlass")
    assert line["ok"] is False and "no cutlass/cutlass.h in -DKERNELKIT_CUTLASS_DIR" in line["detail"], line
    pytest_args = ["tests/ops/gemm/test_gemm_it.py", "-m", "not gpu", "-q", "-rA", "-p", "no:cacheprovider"]
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert tests.returncode == 0, tests.stdout[-4000:]
    assert re.search(r"PASSED .*test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build", tests.stdout)
    assert "cutdemo was built without the CUTLASS GEMM ops (kernelkit doctor says how to get them)" in tests.stdout

    # --no-cutlass: left out as asked (no warning); a build without the flag is AUTO again and has the op.
    built = _kernelkit(root, "build", "--no-cutlass", "--json")
    data = json.loads(built.stdout)
    assert data["ok"] and data["warnings"] == [] and data["left_out"]["cutlass"]["ops"] == ["gemm_it"]
    assert "built with --no-cutlass" in data["left_out"]["cutlass"]["why"]
    built = _kernelkit(root, "build", "--json")
    assert json.loads(built.stdout)["left_out"] == {}
    cache = (root / "build/dev/CMakeCache.txt").read_text()
    assert "KERNELKIT_CUTLASS:STRING=AUTO" in cache and "KERNELKIT_CUTLASS_DIR:PATH=\n" in cache
    assert load("gemm_it")["registered"] is True

    # --cutlass insists: without headers the build fails, saying why.
    failed = _kernelkit(root, "build", "--cutlass", "-D", f"KERNELKIT_CUTLASS_DIR={empty}")
    assert failed.returncode == 1
    assert "KERNELKIT_CUTLASS=ON but no CUTLASS headers" in " ".join(failed.stderr.split())
