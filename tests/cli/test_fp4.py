"""FP4 as a build option, end to end: `new --fp4` / `remove`, `check`, `list`, `doctor`, `bench`, the
feature record in the library, and an FP4 op built with and without KERNELKIT_ENABLE_FP4.

An FP4 op is one whose line is in CMake's fp4-ops list: its kernel and binding TU (with its registration)
are compiled only with KERNELKIT_ENABLE_FP4; without it the op is not registered at all and its wrapper,
which checks first, says how to rebuild.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from scaffold_helpers import (  # noqa: F401  (pristine_project, project: fixtures)
    CUSTOM_SCHEMA,
    ProjectCopy,
    build_env,
    build_tools,
    configure,
    pristine_project,
    project,
    table_cells,
)
from scaffold_helpers import check_findings as _findings
from scaffold_helpers import line_of as _line_of
from scaffold_helpers import move_cmake_line as _move_line

from kernelkit.builder import features
from kernelkit.cli import app
from kernelkit.model import layout, regions

PKG = "library/python/kernelkit_ops"
CMAKE = "library/CMakeLists.txt"
INIT = f"{PKG}/__init__.py"
SO = f"{PKG}/_kernelkit_ops.so"
FP4_ERROR = "was built without FP4 kernels; rebuild with `kernelkit build --fp4` (CMake: -DKERNELKIT_ENABLE_FP4=ON)"

TEMPLATES = {
    "elementwise": ("my_scale", []),
    "rowwise": ("my_rownorm", ["--template", "rowwise"]),
    "custom": ("my_custom", ["--template", "custom", "--schema", CUSTOM_SCHEMA]),
}


def keys(project: ProjectCopy, rel: str, spec: regions.RegionSpec) -> list[str]:
    return [e.key for e in regions.entries(project.read(rel), spec, rel)]


def fp4_ops(project: ProjectCopy) -> list[str]:
    """The FP4 ops a test added (the repository's own FP4 ops left out, however many it has)."""
    return [r["op"] for r in project.ok("list", "--json").json() if r["fp4"] and r["op"] not in REPO_FP4_OPS]


def _repo_fp4_ops() -> set[str]:
    from kernelkit.model import registry
    from kernelkit.project import find_project

    return {name for name, op in registry.scan(find_project(Path(__file__).resolve().parents[2])).items() if op.fp4}


REPO_FP4_OPS = _repo_fp4_ops()


def new_keys(project: ProjectCopy, rel: str, spec: regions.RegionSpec) -> list[str]:
    return [k for k in keys(project, rel, spec) if k not in REPO_FP4_OPS]


def fake_library(project: ProjectCopy, record: bytes | None) -> None:
    """A stand-in for the built .so: some bytes around the feature record `kernelkit build` embeds."""
    body = b"\x7fELF" + b"\0" * 64 + b"some .rodata\0"
    if record is not None:
        body += b"KERNELKIT_FEATURES:" + record + b"\0"
    project.path(SO).write_bytes(body + b"\0more bytes\0" * 10)


# --------------------------------------------------------------------------------- new --fp4, remove


@pytest.mark.parametrize("template", list(TEMPLATES))
def test_new_fp4_puts_the_op_in_the_fp4_ops_list(project: ProjectCopy, template: str):
    name, flags = TEMPLATES[template]
    data = project.ok("new", name, "--category", "quantization", "--fp4", *flags, "--json").json()
    assert sorted(data["modified"]) == sorted([CMAKE, INIT])

    # Its one CMake line is in fp4-ops, which joins the build's op list only with KERNELKIT_ENABLE_FP4: the
    # kernel and the binding TU (registration included) are compiled in FP4 builds only.
    assert name in keys(project, CMAKE, layout.FP4_OPS) and name not in keys(project, CMAKE, layout.OPS)
    cmake = project.read(CMAKE)
    fp4_list = cmake[cmake.index("set(KERNELKIT_FP4_OPS") :]
    assert fp4_list.index(layout.FP4_OPS.end) < fp4_list.index(")")  # the region is the list's body
    assert "if(KERNELKIT_ENABLE_FP4)\n  list(APPEND KERNELKIT_OPS ${KERNELKIT_FP4_OPS})\nendif()" in cmake
    # No build condition inside the op's own files: which list it is in is all there is.
    for suffix in (".cu", ".cc"):
        assert "#if" not in project.read(f"library/csrc/quantization/{name}{suffix}")
    assert f"KERNELKIT_REGISTER_OP(kernelkit, {name}," in project.read(f"library/csrc/quantization/{name}.cc")

    wrapper = project.read(f"{PKG}/quantization/{name}.py")
    body = wrapper[wrapper.index(f"def {name}(") :]
    first_statement = next(
        line for line in body.split('"""', 2)[2].splitlines() if line.strip() and not line.strip().startswith("#")
    )
    assert first_statement.strip().startswith(f'_library.require_fp4("{name}")'), first_statement
    test = project.read(f"tests/ops/quantization/test_{name}.py")
    assert "def _needs_fp4_kernels(request):" in test and "pytest.skip(FP4_SKIP_REASON)" in test
    assert "def test_without_fp4_kernels_the_wrapper_says_how_to_build():" in test

    assert project.run("check", "--json").json()["findings"] == []
    assert fp4_ops(project) == [name]
    assert "kernelkit build --fp4" in project.ok("new", "other_op", "--fp4").output  # the next step says --fp4

    project.ok("remove", "other_op", "--yes")
    project.ok("remove", name, "--yes")
    project.assert_unchanged()  # byte for byte, the quantization folders gone again


def test_new_fp4_dry_run_shows_the_fp4_ops_list(project: ProjectCopy):
    diff = project.ok("new", "my_op", "--fp4", "--dry-run").stdout
    hunk = diff[diff.index("--- a/library/CMakeLists.txt") :]
    hunk = hunk[: hunk.index("\n---")] if "\n---" in hunk else hunk
    assert re.search(r"\n   # kernelkit:fp4-ops-begin\n\+  misc/my_op\n", hunk), hunk
    assert "+++ b/library/csrc/misc/my_op.cc" in diff and "+++ b/library/csrc/misc/my_op.cu" in diff
    project.assert_unchanged()


def test_fp4_and_plain_ops_side_by_side_come_out_byte_for_byte(project: ProjectCopy):
    project.ok("new", "a_fp4", "--fp4", "--category", "quantization")
    project.ok("new", "b_plain", "--category", "quantization")
    project.ok("new", "c_fp4", "--fp4", "--category", "quantization", "--template", "rowwise")
    assert new_keys(project, CMAKE, layout.FP4_OPS) == ["a_fp4", "c_fp4"]
    assert "b_plain" in keys(project, CMAKE, layout.OPS) and "b_plain" not in keys(project, CMAKE, layout.FP4_OPS)
    assert project.run("check").exit_code == 0
    for name in ("c_fp4", "a_fp4", "b_plain"):
        project.ok("remove", name, "--yes")
    project.assert_unchanged()


def test_new_like_an_fp4_op_is_an_fp4_op(project: ProjectCopy):
    project.ok("new", "my_fp4", "--fp4", "--category", "quantization")
    result = project.ok("new", "my_fp4_copy", "--like", "my_fp4")
    assert "kernelkit build --fp4" in result.output
    assert new_keys(project, CMAKE, layout.FP4_OPS) == ["my_fp4", "my_fp4_copy"]
    assert '_library.require_fp4("my_fp4_copy")' in project.read(f"{PKG}/quantization/my_fp4_copy.py")
    assert project.run("check").exit_code == 0
    project.ok("new", "my_fp4_copy2", "--like", "my_fp4", "--fp4")  # --fp4 agrees with it: fine
    for name in ("my_fp4_copy2", "my_fp4_copy", "my_fp4"):
        project.ok("remove", name, "--yes")
    project.assert_unchanged()


def test_new_fp4_in_a_project_made_by_init(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    root = tmp_path / "lib"
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["init", str(root), "--name", "mylib"]).exit_code == 0
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    monkeypatch.chdir(root)
    assert "KERNELKIT_FEATURES:fp4=" in (root / "library/csrc/library.cc").read_text()
    assert "fp4_enabled = _library.fp4_enabled" in (root / "library/python/mylib/__init__.py").read_text()
    result = CliRunner().invoke(app, ["new", "quant_it", "--fp4", "--category", "q"])
    assert result.exit_code == 0, result.output
    assert "mylib was built without FP4 kernels" in (root / "library/python/mylib/_library.py").read_text()
    assert CliRunner().invoke(app, ["check"]).exit_code == 0
    assert CliRunner().invoke(app, ["remove", "quant_it", "--yes"]).exit_code == 0
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


# ------------------------------------------------------------------------------------------- check


def test_check_flags_an_fp4_op_whose_wrapper_does_not_check_first(project: ProjectCopy):
    """The op's line moved to fp4-ops, its wrapper left as it was: without --fp4 the op is not registered and
    the wrapper would fail with an AttributeError instead of saying how to rebuild."""
    _move_line(project, "silu_and_mul", layout.OPS, layout.FP4_OPS)
    [finding] = _findings(project)
    rel = f"{PKG}/activation/silu_and_mul.py"
    assert (
        finding["op"] == "silu_and_mul" and finding["where"] == f"{rel}:{_line_of(project, rel, 'def silu_and_mul(')}"
    )
    assert "FP4 op" in finding["message"] and "fp4-ops" in finding["message"]
    assert '_library.require_fp4("silu_and_mul")' in finding["message"]


def test_check_flags_a_plain_op_whose_wrapper_requires_fp4(project: ProjectCopy):
    """The other way round: an FP4 op's line moved to the plain list, its wrapper still refusing without FP4."""
    project.ok("new", "my_op", "--fp4")
    _move_line(project, "my_op", layout.FP4_OPS, layout.OPS)
    [finding] = _findings(project)
    assert finding["op"] == "my_op" and finding["where"] == f"{CMAKE}:{_line_of(project, CMAKE, '  misc/my_op')}"
    assert "require_fp4" in finding["message"] and "ops list" in finding["message"]


def test_check_flags_an_op_in_both_lists(project: ProjectCopy):
    project.ok("new", "my_op", "--fp4")
    project.write(CMAKE, regions.insert(project.read(CMAKE), layout.OPS, "my_op", "  misc/my_op"))
    messages = [f["message"] for f in _findings(project)]
    assert any(m.startswith("a second CMake entry (the first is at library/CMakeLists.txt:") for m in messages), (
        messages
    )


def test_remove_takes_an_fp4_op_out_of_the_fp4_ops_list(project: ProjectCopy):
    project.ok("new", "my_op", "--fp4", "--category", "quantization")
    project.commit("with an fp4 op")
    diff = project.ok("remove", "my_op", "--dry-run").stdout
    assert "-  quantization/my_op\n" in diff and "--- a/library/csrc/quantization/my_op.cc" in diff
    project.ok("remove", "my_op", "--yes")
    assert new_keys(project, CMAKE, layout.FP4_OPS) == []
    assert "my_op" not in project.read(CMAKE)


# ---------------------------------------------------------------------------- the feature record


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\0KERNELKIT_FEATURES:fp4=1\0", {"fp4": "1"}),
        (b"xx KERNELKIT_FEATURES:fp4=0\0yy", {"fp4": "0"}),
        (b"KERNELKIT_FEATURES:fp4=1,sm=90a\0", {"fp4": "1", "sm": "90a"}),
        # A stray prefix (e.g. in a message string) does not hide the record after it.
        (b"KERNELKIT_FEATURES: see docs\0KERNELKIT_FEATURES:fp4=1\0", {"fp4": "1"}),
        (b"KERNELKIT_FEATURES:fp4=1", None),  # no NUL: not a record
        (b"no record here\0", None),
        (b"", None),
    ],
)
def test_read_features(tmp_path: Path, data: bytes, expected):
    path = tmp_path / "_lib.so"
    path.write_bytes(data)
    assert features.read_features(path) == expected


def test_read_features_of_a_missing_file(tmp_path: Path):
    assert features.read_features(tmp_path / "nope.so") is None


@pytest.mark.parametrize(
    ("record", "status", "caption", "cell"),
    [
        (b"fp4=1", "built", "FP4 kernels: built", "fp4 ✓"),
        (b"fp4=0", "not built", "FP4 kernels: not built (kernelkit build --fp4)", "fp4 ✗"),
        (None, "unknown", "FP4 kernels: unknown", "fp4 ?"),
    ],
)
def test_list_says_whether_fp4_is_built(project: ProjectCopy, record, status, caption, cell):
    project.ok("new", "my_fp4", "--fp4")
    fake_library(project, record)
    from kernelkit.project import find_project

    assert features.fp4_status(find_project(project.root)).value == status
    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    assert rows["my_fp4"]["fp4"] is True
    assert rows["my_fp4"]["fp4_built"] is {"built": True, "not built": False}.get(status)
    assert rows["silu_and_mul"]["fp4"] is False and rows["silu_and_mul"]["fp4_built"] is None
    table = project.ok("list").output
    assert caption in table
    assert table_cells(table, "my_fp4")[1] == cell  # the op's "needs" column
    assert table_cells(table, "silu_and_mul")[1] == ""


def test_list_without_a_built_library(project: ProjectCopy):
    project.path(SO).unlink(missing_ok=True)
    assert "FP4 kernels: library not built (kernelkit build)" in project.ok("list").output


def test_doctor_reports_fp4_of_the_built_library(cli):
    report = json.loads(cli("doctor", "--json").stdout)
    library = next(c for c in report["checks"] if c["name"] == "library")
    if not library["ok"]:
        pytest.skip(f"the library does not load here: {library['detail']}")
    import kernelkit_ops

    want = "FP4 kernels: built" if kernelkit_ops.fp4_enabled() else "FP4 kernels: not built (kernelkit build --fp4)"
    fp4 = next(c for c in report["checks"] if c["name"] == "fp4")  # one line per build feature
    assert fp4["detail"] == want and fp4["ok"] is kernelkit_ops.fp4_enabled() and fp4["required"] is False, fp4


def test_python_and_the_file_agree_on_fp4():
    import kernelkit_ops

    recorded = features.read_features(Path(kernelkit_ops.LIBRARY_PATH))
    assert recorded is not None and recorded == kernelkit_ops._library.features()
    assert kernelkit_ops.fp4_enabled() is (recorded["fp4"] == "1")


def test_require_fp4_message():
    import kernelkit_ops
    from kernelkit_ops import _library

    if kernelkit_ops.fp4_enabled():
        _library.require_fp4("some_op")  # nothing to say
        return
    with pytest.raises(RuntimeError) as err:
        _library.require_fp4("some_op")
    assert str(err.value) == f"some_op: kernelkit_ops {FP4_ERROR}"


# ------------------------------------------------------------------------------------------- bench


def test_bench_refuses_a_named_fp4_op_without_fp4_kernels(project: ProjectCopy):
    project.ok("new", "my_fp4", "--fp4")
    fake_library(project, b"fp4=0")
    result = project.run("bench", "my_fp4")
    assert result.exit_code == 2, result.output
    assert "my_fp4: FP4 op but the library has no FP4 kernels" in result.output
    assert "kernelkit build --fp4" in result.output and "Traceback" not in result.output


def test_bench_of_every_op_skips_fp4_ops_without_fp4_kernels(project: ProjectCopy, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # stop right after choosing the ops
    project.ok("new", "my_fp4", "--fp4")
    fake_library(project, b"fp4=0")
    result = project.run("bench")
    assert re.search(r"skipping FP4 ops (\S+, )*my_fp4(, \S+)*: FP4 kernels: not built", result.output), result.output
    assert "needs a CUDA GPU" in result.output


# ------------------------------------------------------------ built with and without FP4 (nvcc, link)

LOAD_REPORT = """
import json
import torch
import kernelkit_ops
name = sys.argv[1]
registered = bool(torch._C._jit_get_schemas_for_operator("kernelkit::" + name))
print(json.dumps({
    "fp4_enabled": kernelkit_ops.fp4_enabled(),
    "features": kernelkit_ops._library.features(),
    "schema": str(getattr(torch.ops.kernelkit, name).default._schema) if registered else None,
    "cuda_kernel": registered and torch._C._dispatch_has_kernel_for_dispatch_key("kernelkit::" + name, "CUDA"),
}))
"""


@pytest.mark.slow
def test_an_fp4_op_built_with_and_without_fp4(project: ProjectCopy):
    """Without FP4: links (--no-undefined: neither the kernel nor the binding TU is compiled), the op is not
    registered, the wrapper raises the FP4 error first and the other generated tests skip (the schema's
    included). With FP4: the op is registered with its kernel, and its generated CPU tests run."""
    tools = build_tools()
    name = "my_fp4_scale"
    project.ok("new", name, "--fp4", "--category", "quantization")
    package_dir = project.root / PKG
    for fp4 in (False, True):
        # Without CUTLASS: the FP4 GEMM (fp4-cutlass-ops) would join the FP4 build, and its sm_100a translation
        # unit takes ~100 s on CI's 2 cores, which never compile it otherwise; this test is about the FP4 list.
        configured = configure(
            project,
            tools,
            f"-DKERNELKIT_PACKAGE_DIR={package_dir}",
            f"-DKERNELKIT_ENABLE_FP4={'ON' if fp4 else 'OFF'}",
            "-DKERNELKIT_CUTLASS=OFF",
        )
        assert configured.returncode == 0, configured.stdout[-3000:] + configured.stderr[-3000:]
        built = subprocess.run(
            [tools["cmake"], "--build", "build"],
            cwd=project.root,
            env=build_env(tools, project.root),
            capture_output=True,
            text=True,
            timeout=900,
        )
        log = built.stdout + built.stderr
        assert built.returncode == 0, log[-6000:]
        assert (f"csrc/quantization/{name}.cu.o" in log) is fp4  # compiled only with FP4
        assert (f"csrc/quantization/{name}.cc.o" in log) is fp4

        library = package_dir / "_kernelkit_ops.so"
        assert features.read_features(library)["fp4"] == ("1" if fp4 else "0")
        loaded = project.python(LOAD_REPORT, name)
        assert loaded.returncode == 0, loaded.stderr[-4000:]
        report = json.loads(loaded.stdout.strip().splitlines()[-1])
        assert report["fp4_enabled"] is fp4 and report["features"]["fp4"] == ("1" if fp4 else "0")
        assert report["features"]["archs"] == features.read_features(library)["archs"] != ""  # for the arch guard
        if fp4:
            assert report["schema"].startswith(f"kernelkit::{name}(Tensor(")
            assert "Tensor input, float scale, bool enable_pdl)" in report["schema"]
        else:
            assert report["schema"] is None  # not registered at all without the FP4 kernels
        assert report["cuda_kernel"] is fp4

        listed = {r["op"]: r for r in project.ok("list", "--json").json()}
        assert listed[name]["fp4_built"] is fp4
        doctor = project.run("doctor", "--json").json()
        detail = next(c for c in doctor["checks"] if c["name"] == "fp4")["detail"]  # one line per build feature
        assert detail == ("FP4 kernels: built" if fp4 else "FP4 kernels: not built (kernelkit build --fp4)"), detail

        test = f"tests/ops/quantization/test_{name}.py"
        run = project.pytest(test, "-m", "not gpu", "-q", "-p", "no:cacheprovider", "-rA")
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-4000:]
        if fp4:
            assert "PASSED" in output and "test_fake_impl_shapes" in output
            assert "SKIPPED" in output and "the library has the FP4 kernels" in output
        else:
            assert re.search(r"PASSED .*test_without_fp4_kernels_the_wrapper_says_how_to_build", output), output[-3000:]
            assert not re.search(r"PASSED .*test_schema_registered", output)  # skipped: nothing registered
            assert "kernelkit_ops was built without FP4 kernels (kernelkit build --fp4)" in output
            assert not re.search(r"PASSED .*test_fake_impl_shapes", output)
