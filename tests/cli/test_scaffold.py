"""`kernelkit new / remove / check / list` end to end, each in a committed copy of the project.

What is asserted is what a kernel author relies on: a generated op is its own six files plus one CMake
line and one export, passes `check`, compiles (nvcc for the kernel, the host compiler for its binding TU,
with the commands of a real configure), links, loads with the right schema and passes its own CPU tests;
`remove` gives back the tree byte for byte; every refusal and every failure midway leaves the tree exactly
as it was.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from scaffold_helpers import (  # noqa: F401  (pristine_project, project: fixtures)
    CUSTOM_SCHEMA,
    ProjectCopy,
    build_env,
    build_tools,
    compile_commands,
    configure,
    describe_difference,
    make_pristine,
    pristine_project,
    project,
    snapshot,
)
from scaffold_helpers import check_findings as _findings
from scaffold_helpers import line_of as _line_of

from kernelkit.codegen import transaction
from kernelkit.model import layout, regions

PKG = "library/python/kernelkit_ops"
CMAKE = "library/CMakeLists.txt"
INIT = f"{PKG}/__init__.py"
ACTIVATION_OPS = ("gelu_and_mul", "gelu_tanh_and_mul", "silu_and_mul")


def binding(name: str, category: str) -> str:
    return f"library/csrc/{category}/{name}.cc"


def header(name: str, category: str) -> str:
    return f"library/include/kernelkit_ops/{category}/{name}.h"


def keys(project: ProjectCopy, rel: str, spec: regions.RegionSpec) -> list[str]:
    return [e.key for e in regions.entries(project.read(rel), spec, rel)]


def repo_ops() -> list[str]:
    """The ops the repository has now (the suite must not break each time the library grows)."""
    from kernelkit.model import registry
    from kernelkit.project import find_project

    return list(registry.scan(find_project(Path(__file__).resolve().parents[2])))


# template -> (op name, extra flags of `new`, the schema it registers)
TEMPLATES = {
    "elementwise": ("my_scale", [], "my_scale(Tensor! out, Tensor input, float scale, bool enable_pdl) -> ()"),
    "rowwise": (
        "my_rownorm",
        ["--template", "rowwise"],
        "my_rownorm(Tensor! out, Tensor input, float eps, bool enable_pdl) -> ()",
    ),
    "custom": ("my_custom", ["--template", "custom", "--schema", CUSTOM_SCHEMA], CUSTOM_SCHEMA),
}


def op_files(name: str, category: str) -> list[str]:
    """The op's own files: kernel, launcher header, binding, wrapper, test, bench."""
    return sorted(
        [
            f"library/csrc/{category}/{name}.cu",
            header(name, category),
            binding(name, category),
            f"{PKG}/{category}/{name}.py",
            f"tests/ops/{category}/test_{name}.py",
            f"benchmarks/ops/{category}/bench_{name}.py",
        ]
    )


def created_files(name: str, category: str, new_category: bool) -> list[str]:
    return sorted(op_files(name, category) + ([f"{PKG}/{category}/__init__.py"] if new_category else []))


MODIFIED_FILES = sorted([CMAKE, INIT])  # one line each: the CMake op list and the package's export


def assert_one_line_error(result, *needles: str) -> str:
    assert result.exit_code != 0, result.output
    assert result.exit_code != 70, f"an internal error, not a refusal:\n{result.output}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert len(result.lines) == 1, f"expected one line, got:\n{result.output}"
    line = result.lines[0]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


# ------------------------------------------------------------------------------ the pristine copy


def test_pristine_copy_passes_check(project: ProjectCopy):
    result = project.run("check", "--json")
    assert result.exit_code == 0, result.output
    n = len(repo_ops())
    assert n >= 3 and result.json() == {"ok": True, "ops": n, "findings": []}
    text = project.ok("check")
    assert "check passed" in text.output and f"{n} ops" in text.output
    project.assert_unchanged()  # check writes nothing


def test_list_json_shows_the_activation_ops(project: ProjectCopy):
    rows = project.ok("list", "--json").json()
    assert [r["op"] for r in rows] == repo_ops()
    for row in (r for r in rows if r["op"] in ACTIVATION_OPS):
        assert row["category"] == "activation"
        assert row["dtypes"] == ["bf16", "fp16", "fp32"]
        assert row["test"] is True and row["bench"] is True
        assert row["fp4"] is False
        assert row["schema"] == f"{row['op']}(Tensor! out, Tensor input, bool enable_pdl) -> ()"
    project.assert_unchanged()


# ------------------------------------------------------------------------------------ new, remove


@pytest.mark.parametrize("category", ["activation", "fresh_cat"], ids=["existing-category", "new-category"])
@pytest.mark.parametrize("template", list(TEMPLATES))
def test_new_passes_check_and_remove_restores_the_tree(project: ProjectCopy, template: str, category: str):
    name, flags, schema = TEMPLATES[template]
    new_category = category == "fresh_cat"
    data = project.ok("new", name, "--category", category, *flags, "--json").json()
    assert data["dry_run"] is False
    assert sorted(data["created"]) == created_files(name, category, new_category)
    assert sorted(data["modified"]) == MODIFIED_FILES
    assert data["deleted"] == []
    for rel in data["created"]:
        assert project.path(rel).is_file(), rel

    # One line in the CMake op list, its launcher declared in its header and defined by its kernel (which
    # includes the header, as the binding does), its binding and registration in its own binding TU.
    assert name in keys(project, CMAKE, layout.OPS) and f"  {category}/{name}\n" in project.read(CMAKE)
    include = f'#include "kernelkit_ops/{category}/{name}.h"'
    assert f"cudaError_t launch_{name}(" in project.read(header(name, category))
    kernel = project.read(f"library/csrc/{category}/{name}.cu")
    assert f"cudaError_t kernelkit::launch_{name}(" in kernel and include in kernel
    cc = project.read(binding(name, category))
    assert include in cc and re.search(rf"^void {name}\(", cc, re.M)
    assert re.search(
        rf'^KERNELKIT_REGISTER_OP\(kernelkit, {name}, &kernelkit::binding::{name},\s+"{re.escape(schema)}"\);$',
        cc,
        re.M,
    )
    init = project.read(INIT)
    assert f"from kernelkit_ops.{category}.{name} import {name}\n" in init
    assert f'    "{name}",\n' in init
    # The wrapper is thin: no checks (the binding makes them), no fake (torch derives it for `-> ()` ops).
    wrapper = project.read(f"{PKG}/{category}/{name}.py")
    assert (
        "register_fake" not in wrapper and "_validate" not in wrapper and not re.search(r"^\s+raise\b", wrapper, re.M)
    )
    assert f"torch.ops.kernelkit.{name}.default(" in wrapper
    # House code: PDL through the shared launch helper, vector loads, the shared reduction (rowwise).
    assert "launch_with_pdl(" in kernel and "pdl_wait_then_launch_dependents();" in kernel and "Vec<T, VEC>" in kernel
    assert ("block_sum(" in kernel) is (template == "rowwise") and "__shfl_xor_sync" not in kernel

    check = project.run("check", "--json")
    assert check.exit_code == 0, check.output
    assert check.json() == {"ok": True, "ops": len(repo_ops()) + 1, "findings": []}

    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    assert rows[name]["category"] == category
    assert rows[name]["dtypes"] == ["bf16", "fp16", "fp32"]
    assert rows[name]["schema"] == schema
    assert rows[name]["test"] is True and rows[name]["bench"] is True

    removed = project.ok("remove", name, "--yes", "--json").json()
    assert sorted(removed["deleted"]) == created_files(name, category, new_category)
    assert sorted(removed["modified"]) == MODIFIED_FILES
    project.assert_unchanged()
    assert not project.path(f"library/csrc/{category}").exists() or not new_category
    assert not project.path(f"{PKG}/{category}").exists() or not new_category


def test_schema_alone_means_custom(project: ProjectCopy):
    name = "my_custom"
    project.ok("new", name, "--category", "fresh_cat", "--schema", CUSTOM_SCHEMA)
    assert f'"{CUSTOM_SCHEMA}");' in project.read(binding(name, "fresh_cat"))
    assert "--template custom" in project.read(f"library/csrc/fresh_cat/{name}.cu")
    assert project.run("check").exit_code == 0
    project.ok("remove", name, "--yes")
    project.assert_unchanged()


def test_schema_without_a_name_takes_the_op_name(project: ProjectCopy):
    project.ok("new", "my_op", "--schema", "(Tensor! out, Tensor input, float eps=1e-06) -> ()")
    assert '"my_op(Tensor! out, Tensor input, float eps=1e-06) -> ()");' in project.read(binding("my_op", "misc"))
    wrapper = project.read(f"{PKG}/misc/my_op.py")
    signature = (
        "def my_op(\n    out: torch.Tensor,\n    input: torch.Tensor,\n    eps: float = 1e-06,\n) -> torch.Tensor:"
    )
    assert signature in wrapper
    assert project.run("check").exit_code == 0


@pytest.mark.parametrize(
    ("dtypes", "listed", "enums", "py_dtypes"),
    [
        ("fp16", ["fp16"], "DType::kFloat16", "[torch.float16]"),
        ("fp32,bf16", ["bf16", "fp32"], "DType::kBFloat16, DType::kFloat32", "[torch.bfloat16, torch.float32]"),
        ("float16,half,fp16", ["fp16"], "DType::kFloat16", "[torch.float16]"),
    ],
)
def test_new_with_a_dtype_subset(project: ProjectCopy, dtypes, listed, enums, py_dtypes):
    project.ok("new", "my_scale", "--category", "fresh_cat", "--dtypes", dtypes)
    assert f"dispatch_dtypes<{enums}>" in project.read("library/csrc/fresh_cat/my_scale.cu")
    assert f'float_dtype_in(input, op, "input", {{{enums}}})' in project.read(binding("my_scale", "fresh_cat"))
    test = project.read("tests/ops/fresh_cat/test_my_scale.py")
    assert f"DTYPES = {py_dtypes}\n" in test
    assert "def test_rejects_a_dtype_it_was_not_generated_for(dtype):" in test  # the binding refuses the others
    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    assert rows["my_scale"]["dtypes"] == listed
    assert project.run("check").exit_code == 0


def test_remove_an_original_op_keeps_the_rest_consistent(project: ProjectCopy):
    data = project.ok("remove", "silu_and_mul", "--yes", "--json").json()
    assert sorted(data["deleted"]) == op_files("silu_and_mul", "activation")
    assert sorted(data["modified"]) == MODIFIED_FILES
    assert project.path(f"{PKG}/activation/__init__.py").is_file()  # the category still has ops
    assert project.path("library/csrc/activation/gated_activation_binding.h").is_file()  # the family's helper stays
    check = project.run("check", "--json")
    assert check.json() == {"ok": True, "ops": len(repo_ops()) - 1, "findings": []}
    diff = project.git("diff", "HEAD", "--", CMAKE, INIT)
    changed = [line for line in diff.splitlines() if line[:1] in ("+", "-") and line[:3] not in ("+++", "---")]
    assert changed and all(line.startswith("-") for line in changed), diff  # only removals
    # its CMake entry, export and __all__ entry; nothing else of the shared files
    assert sorted(changed) == sorted(
        [
            "-  activation/silu_and_mul",
            "-from kernelkit_ops.activation.silu_and_mul import silu_and_mul",
            '-    "silu_and_mul",',
        ]
    )
    # the binding, the registration and the launcher went with the op's own files
    cc = project.git("show", f"HEAD:{binding('silu_and_mul', 'activation')}")
    assert cc.count("KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul,") == 1
    assert "void silu_and_mul(Tensor out, Tensor input, bool enable_pdl)" in cc
    assert "cudaError_t launch_silu_and_mul(" in project.git("show", f"HEAD:{header('silu_and_mul', 'activation')}")
    # as a whole word: silu_and_mul_scaled_fp4_grouped_quant (sgl-kernel's name) contains it and stays
    assert not re.search(r"\bsilu_and_mul\b", project.read(CMAKE) + project.read(INIT))
    assert "silu_and_mul_scaled_fp4_grouped_quant" in project.read(CMAKE)
    listed = [r["op"] for r in project.ok("list", "--json").json()]
    assert listed == [op for op in repo_ops() if op != "silu_and_mul"]


def test_remove_of_the_last_op_of_a_category_removes_its_folders(project: ProjectCopy):
    project.ok("new", "one_op", "--category", "solo")
    project.ok("new", "two_op", "--category", "solo", "--template", "rowwise")
    folders = (
        "library/csrc/solo",
        "library/include/kernelkit_ops/solo",
        f"{PKG}/solo",
        "tests/ops/solo",
        "benchmarks/ops/solo",
    )
    for folder in folders:
        assert project.path(folder).is_dir()
    # A byte-compiled wrapper (what importing it leaves behind) must not keep the folder alive.
    (project.path(f"{PKG}/solo") / "__pycache__").mkdir()
    (project.path(f"{PKG}/solo") / "__pycache__" / "one_op.cpython-311.pyc").write_bytes(b"\0")
    project.ok("remove", "one_op", "--yes")
    assert project.path(f"{PKG}/solo/__init__.py").is_file()  # two_op still lives there
    project.ok("remove", "two_op", "--yes")
    for folder in folders:
        assert not project.path(folder).exists(), folder
    project.assert_unchanged()


# --------------------------------------------------------------------------------------- refusals

REFUSALS = [
    ("upper-case", ["new", "MyOp"], ["op name 'MyOp'", "lowercase identifier"]),
    ("leading-digit", ["new", "1op"], ["op name '1op'"]),
    ("cpp-keyword", ["new", "class"], ["'class'", "keyword"]),
    ("cpp-type", ["new", "float"], ["'float'", "keyword"]),
    ("python-keyword", ["new", "import"], ["'import'", "keyword"]),
    ("launcher-prefix", ["new", "launch_x"], ["'launch_x'", "clashes"]),
    ("dash", ["new", "my-op"], ["op name 'my-op'"]),
    (
        "existing-op",
        ["new", "silu_and_mul"],
        ["'silu_and_mul' already exists", "library/csrc/activation/silu_and_mul.cu"],
    ),
    ("category-parent", ["new", "my_op", "--category", "../x"], ["category '../x'"]),
    ("category-nested", ["new", "my_op", "--category", "a/b"], ["category 'a/b'"]),
    ("category-dotdot", ["new", "my_op", "--category", ".."], ["category '..'"]),
    ("category-keyword", ["new", "my_op", "--category", "class"], ["category 'class'"]),
    (
        "schema-unclosed",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor input"],
        ["expected 'name(Type arg, ...) -> ()'"],
    ),
    (
        "schema-no-returns",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor input)"],
        ["expected 'name(Type arg, ...) -> ()'"],
    ),
    (
        "schema-arg-without-name",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor) -> ()"],
        ["cannot parse argument 'Tensor'"],
    ),
    (
        "schema-scalar",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor input, Scalar alpha) -> ()"],
        ["type 'Scalar' of 'alpha' is not supported", "use float"],
    ),
    (
        "schema-generator",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor input, Generator? gen) -> ()"],
        ["type 'Generator' of 'gen' is not supported"],
    ),
    (
        "schema-returns-tensor",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor input) -> Tensor"],
        ["returns 'Tensor'", "kernelkit ops return ()"],
    ),
    (
        "schema-other-name",
        ["new", "my_op", "--schema", "other_op(Tensor! out, Tensor input) -> ()"],
        ["names op 'other_op', but the op is 'my_op'"],
    ),
    (
        "schema-no-output",
        ["new", "my_op", "--schema", "my_op(Tensor input, float scale) -> ()"],
        ["needs at least one 'Tensor! out'"],
    ),
    (
        "schema-keyword-arg",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor class) -> ()"],
        ["class", "keyword"],
    ),
    (
        "schema-repeated-arg",
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, int x) -> ()"],
        ["argument names repeat: x"],
    ),
    ("custom-without-schema", ["new", "my_op", "--template", "custom"], ["--template custom needs --schema"]),
    (
        "schema-with-rowwise",
        ["new", "my_op", "--template", "rowwise", "--schema", "my_op(Tensor! out, Tensor input) -> ()"],
        ["--schema goes with --template custom"],
    ),
    (
        "unknown-template",
        ["new", "my_op", "--template", "pointwise"],
        ["--template pointwise", "elementwise, rowwise, custom"],
    ),
    ("dtype-bf8", ["new", "my_op", "--dtypes", "bf8"], ["--dtypes: unknown bf8", "bf16, fp16, fp32"]),
    ("dtype-empty", ["new", "my_op", "--dtypes", ","], ["--dtypes: unknown (empty)"]),
    (
        "remove-unknown",
        ["remove", "nope", "--yes"],
        ["no op 'nope'", "gelu_and_mul, gelu_tanh_and_mul", "silu_and_mul"],
    ),
    ("remove-unconfirmed", ["remove", "silu_and_mul"], ["pass --yes"]),
    ("like-unknown", ["new", "my_op", "--like", "nope"], ["--like nope: no op 'nope'", "silu_and_mul"]),
    (
        "like-and-template",
        ["new", "my_op", "--like", "rmsnorm", "-t", "rowwise"],
        ["--like copies rmsnorm", "--template"],
    ),
    (
        "like-and-schema",
        ["new", "my_op", "--like", "rmsnorm", "--schema", "my_op(Tensor! out, Tensor x) -> ()"],
        ["--schema"],
    ),
    ("like-and-dtypes", ["new", "my_op", "--like", "rmsnorm", "--dtypes", "bf16"], ["--dtypes"]),
    (
        "like-fp4-of-a-plain-op",
        ["new", "my_op", "--like", "rmsnorm", "--fp4"],
        ["rmsnorm is one, and it is not", "--fp4"],
    ),
    ("like-existing-name", ["new", "gemma_rmsnorm", "--like", "rmsnorm"], ["'gemma_rmsnorm' already exists"]),
    # the copy's binding includes norm/rmsnorm_binding.h, whose rms_norm() a binding of that name would hide
    ("like-name-of-a-family-helper", ["new", "rms_norm", "--like", "rmsnorm"], ["'rms_norm'", "clashes"]),
    ("like-bad-name", ["new", "launch_x", "--like", "rmsnorm"], ["'launch_x'", "clashes"]),
    # its test imports gated_activation_cases from tests/ops/activation/, which another folder cannot import
    (
        "like-helpers-of-another-folder",
        ["new", "my_act", "--like", "silu_and_mul", "-c", "fresh_cat"],
        ["imports gated_activation_cases", "leave out -c"],
    ),
]


@pytest.mark.parametrize(("args", "needles"), [pytest.param(a, n, id=i) for i, a, n in REFUSALS])
def test_refusals_leave_the_tree_unchanged(project: ProjectCopy, args, needles):
    result = project.run(*args)
    assert_one_line_error(result, *needles)
    project.assert_unchanged()


@pytest.mark.parametrize("rel", ["tests/ops/misc/test_my_op.py", "library/include/kernelkit_ops/misc/my_op.h"])
def test_new_refuses_to_overwrite_a_stray_file(project: ProjectCopy, rel: str):
    project.path(rel).parent.mkdir(parents=True)
    project.path(rel).write_text("// someone's own file\n")
    project.commit()
    result = project.run("new", "my_op")
    assert_one_line_error(result, "already exists", rel)
    project.assert_unchanged()


# ------------------------------------------------------------------------------------------ --like


def test_new_like_a_hand_written_op_copies_it_renamed(project: ProjectCopy):
    data = project.ok("new", "my_gemma", "--like", "rmsnorm", "--json").json()
    assert sorted(data["created"]) == op_files("my_gemma", "norm")  # same category, no new folder
    assert sorted(data["modified"]) == MODIFIED_FILES
    assert "  norm/my_gemma" in project.read(CMAKE)
    cc, cu = project.read(binding("my_gemma", "norm")), project.read("library/csrc/norm/my_gemma.cu")
    # Its own name everywhere: launcher, binding, registration, schema, header path...
    assert '#include "kernelkit_ops/norm/my_gemma.h"' in cc and '#include "kernelkit_ops/norm/my_gemma.h"' in cu
    assert 'rms_norm("my_gemma", launch_my_gemma, out, input, weight, eps, enable_pdl);' in cc
    assert '"my_gemma(Tensor! out, Tensor input, Tensor weight, float eps, bool enable_pdl) -> ()"' in cc
    assert "cudaError_t kernelkit::launch_my_gemma(" in cu
    assert "cudaError_t launch_my_gemma(" in project.read(header("my_gemma", "norm"))
    wrapper = project.read(f"{PKG}/norm/my_gemma.py")
    assert "def my_gemma(" in wrapper and "torch.ops.kernelkit.my_gemma.default(" in wrapper
    assert 'op = "my_gemma"' in project.read("tests/ops/norm/test_my_gemma.py")
    assert 'rmsnorm_bench("my_gemma"' in project.read("benchmarks/ops/norm/bench_my_gemma.py")
    # ...and the family's helpers, which merely contain the name, are the original's.
    assert '#include "kernelkit/families/rmsnorm.cuh"' in cu and "launch_rmsnorm_family<" in cu
    assert '#include "norm/rmsnorm_binding.h"' in cc
    assert "from rmsnorm_cases import RmsNormTests" in project.read("tests/ops/norm/test_my_gemma.py")
    for rel in op_files("my_gemma", "norm"):
        code = [line for line in project.read(rel).splitlines() if not line.lstrip().startswith("#include")]
        assert not re.search(r"\brmsnorm\b|launch_rmsnorm\(|test_rmsnorm\b|bench_rmsnorm\b", "\n".join(code)), rel

    assert project.run("check").exit_code == 0
    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    assert rows["my_gemma"]["dtypes"] == rows["rmsnorm"]["dtypes"] and rows["my_gemma"]["category"] == "norm"
    project.ok("remove", "my_gemma", "--yes")
    project.assert_unchanged()


def test_new_like_a_generated_op_is_what_the_template_makes(project: ProjectCopy):
    """A copy of a generated op into another category is byte for byte what `new` renders for it (names of
    the same length, so that every line wraps the same)."""
    project.ok("new", "my_scale", "--category", "fresh_cat")
    project.commit("with my_scale")
    assert sorted(
        project.ok("new", "my_scal2", "--like", "my_scale", "-c", "other_cat", "--json").json()["created"]
    ) == (created_files("my_scal2", "other_cat", True))
    copied = {rel: project.read(rel) for rel in op_files("my_scal2", "other_cat")}
    assert project.run("check").exit_code == 0
    project.ok("remove", "my_scal2", "--yes")
    project.assert_unchanged()
    project.ok("new", "my_scal2", "--category", "other_cat")
    for rel, text in copied.items():
        assert project.read(rel) == text, rel


def test_new_like_dry_run_changes_nothing(project: ProjectCopy):
    out = project.ok("new", "my_silu", "--like", "silu_and_mul", "--dry-run").stdout
    assert "+++ b/library/csrc/activation/my_silu.cc" in out and "+  activation/my_silu\n" in out
    assert 'gated_activation("my_silu", launch_my_silu, out, input, enable_pdl);' in out
    project.assert_unchanged()


def test_custom_binds_every_argument(project: ProjectCopy):
    schema = (
        "my_op(Tensor! out, Tensor x, Tensor? bias, Tensor[] xs, int[] dims, bool[] flags, str? mode, ScalarType st, "
        "Device dev, float alpha, int? k, bool enable_pdl=False) -> ()"
    )
    project.ok("new", "my_op", "--schema", schema)
    decl = project.read(header("my_op", "misc"))
    decl = decl[decl.index("cudaError_t launch_my_op(") :]
    cc = project.read(binding("my_op", "misc"))
    call = cc[cc.index("launch_my_op(") : cc.index("check_launch(err, op);")]
    for name in ("out", "x", "bias", "xs", "dims", "flags", "mode", "st", "dev", "alpha", "k", "enable_pdl"):
        assert re.search(rf"\b{name}\b", decl), name  # a launcher parameter
        assert re.search(rf"\b{name}(_ptrs|_bytes)?\b", call), name  # passed by the binding (lists: as built)
    # Every tensor validated: device of all, the optional one when given, each one of the list.
    assert 'check_devices(op, {{"x", x}, {"out", out}, {"bias", bias ? *bias : x}});' in cc
    assert 'for (const Tensor& t : xs) check_devices(op, {{"x", x}, {"xs[i]", t}});' in cc
    # enable_pdl is PDL: the launch uses it, the wrapper resolves None with pdl_default.
    assert "stream, enable_pdl, static_cast<T*>(out)" in project.read("library/csrc/misc/my_op.cu")
    wrapper = project.read(f"{PKG}/misc/my_op.py")
    assert "    enable_pdl: bool | None = None,\n" in wrapper and "pdl_default(x, enable_pdl)" in wrapper
    assert project.run("check").exit_code == 0


# ------------------------------------------------------------------------------- --dry-run, --json


def test_new_dry_run_prints_the_diff_that_new_applies(project: ProjectCopy):
    result = project.ok("new", "my_scale", "--category", "fresh_cat", "--dry-run")
    out = result.stdout
    assert "+++ b/library/csrc/fresh_cat/my_scale.cu" in out
    assert "--- /dev/null" in out
    assert "--- a/library/CMakeLists.txt" in out and "+  fresh_cat/my_scale\n" in out
    assert (
        "+++ b/library/csrc/fresh_cat/my_scale.cc" in out
        and "+++ b/library/include/kernelkit_ops/fresh_cat/my_scale.h" in out
    )
    assert '"my_scale(Tensor! out, Tensor input, float scale, bool enable_pdl) -> ()");' in out
    assert "dry run: nothing was changed" in result.output
    project.assert_unchanged()

    # The printed diff is exactly what `new` does: applying it gives the same bytes.
    patch = project.root.parent / "new.diff"
    patch.write_text(out[: out.index("dry run: nothing was changed")])
    project.git("apply", str(patch))
    applied = snapshot(project.root)
    project.git("reset", "-q", "--hard")
    project.git("clean", "-fdq")
    project.assert_unchanged()
    project.ok("new", "my_scale", "--category", "fresh_cat")
    assert snapshot(project.root) == applied, describe_difference(applied, snapshot(project.root))


def test_new_dry_run_json(project: ProjectCopy):
    data = project.ok("new", "my_scale", "--category", "fresh_cat", "--dry-run", "--json").json()
    assert data["dry_run"] is True
    assert sorted(data["created"]) == created_files("my_scale", "fresh_cat", True)
    assert sorted(data["modified"]) == MODIFIED_FILES
    assert "+++ b/library/csrc/fresh_cat/my_scale.cu" in data["diff"]
    project.assert_unchanged()


def test_remove_dry_run_changes_nothing(project: ProjectCopy):
    result = project.ok("remove", "silu_and_mul", "--dry-run")
    assert "--- a/library/csrc/activation/silu_and_mul.cu" in result.output
    assert "+++ /dev/null" in result.output
    assert "-  activation/silu_and_mul\n" in result.output
    assert "--- a/library/csrc/activation/silu_and_mul.cc" in result.output
    data = project.ok("remove", "silu_and_mul", "--dry-run", "--json").json()
    assert data["dry_run"] is True
    assert "library/csrc/activation/silu_and_mul.cu" in data["deleted"]
    assert sorted(data["modified"]) == MODIFIED_FILES
    project.assert_unchanged()


def _kernelkit_subprocess(project: ProjectCopy, *args: str) -> subprocess.CompletedProcess[str]:
    """kernelkit as a user pipes it: stdout is not a terminal, no COLUMNS set."""
    env = dict(os.environ, NO_COLOR="1", TERM="dumb")
    for var in ("COLUMNS", "LINES", "FORCE_COLOR"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "kernelkit", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_new_dry_run_diff_survives_a_pipe(project: ProjectCopy):
    proc = _kernelkit_subprocess(project, "new", "a_rather_long_operation_name_for_wide_lines", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    patch = project.root.parent / "new.diff"
    patch.write_text(proc.stdout)
    check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=project.root, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    project.assert_unchanged()


def test_remove_dry_run_diff_survives_a_pipe(project: ProjectCopy):
    proc = _kernelkit_subprocess(project, "remove", "gelu_tanh_and_mul", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    project.assert_unchanged()
    patch = project.root.parent / "remove.diff"
    patch.write_text(proc.stdout)
    check = subprocess.run(["git", "apply", "--check", str(patch)], cwd=project.root, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


# ------------------------------------------------------------------------------------- atomicity

NEW_ARGS = ("new", "my_scale", "--category", "fresh_cat")
ROLLED_BACK = "error: interrupted; the change was rolled back: no file was changed"
LATE_NOTE = "note: Ctrl-C came when the change could no longer stop cleanly; kernelkit finished it"
NEW_SWAPS = 9  # 7 created (6 files of the op, the category's __init__.py) + 2 modified files
REMOVE_ARGS = ("remove", "silu_and_mul", "--yes")
REMOVE_SWAPS = 8  # 6 deleted + 2 modified files


def _hook(monkeypatch: pytest.MonkeyPatch, on_call: int | None = None, exc: BaseException | None = None, action=None):
    """Replace transaction._before_swap; on the `on_call`-th call raise `exc` (or run `action`)."""
    calls: list[str] = []

    def before_swap(index, path):
        calls.append(str(path))
        if on_call is not None and len(calls) == on_call:
            if action is not None:
                action()
            if exc is not None:
                raise exc

    monkeypatch.setattr(transaction, "_before_swap", before_swap)
    return calls


def test_new_swaps_every_file_once(project: ProjectCopy, monkeypatch):
    calls = _hook(monkeypatch)
    project.ok(*NEW_ARGS)
    expected = created_files("my_scale", "fresh_cat", True) + MODIFIED_FILES
    assert sorted(calls) == sorted(str(project.root.resolve() / rel) for rel in expected)
    assert len(calls) == NEW_SWAPS


@pytest.mark.parametrize("on_call", range(1, NEW_SWAPS + 1))
def test_new_failing_midway_changes_nothing(project: ProjectCopy, monkeypatch, on_call):
    calls = _hook(monkeypatch, on_call, RuntimeError("disk on fire"))
    result = project.run(*NEW_ARGS)
    assert len(calls) == on_call
    assert result.exit_code == 70, result.output  # an internal error: one line, no traceback
    assert len(result.lines) == 1 and result.lines[0].startswith("error: internal error: RuntimeError: disk on fire")
    assert "Traceback" not in result.output
    project.assert_unchanged()
    assert not project.path("library/csrc/fresh_cat").exists()
    assert not project.path(f"{PKG}/fresh_cat").exists()


def test_new_interrupted_midway_changes_nothing(project: ProjectCopy, monkeypatch):
    calls = _hook(monkeypatch, 3, KeyboardInterrupt())
    result = project.run(*NEW_ARGS)
    assert len(calls) == 3
    assert result.exit_code == 130, result.output
    assert result.lines == [ROLLED_BACK]
    project.assert_unchanged()


def test_new_failing_while_staging_changes_nothing(project: ProjectCopy, monkeypatch):
    """A failure while the new files are being staged (here: making the second new folder) removes
    the staged files and the folders made so far."""
    real_mkdir = transaction.Path.mkdir
    made: list[str] = []

    def mkdir(self, *args, **kwargs):
        made.append(str(self))
        if len(made) == 2:
            raise OSError(28, "No space left on device")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(transaction.Path, "mkdir", mkdir)
    calls = _hook(monkeypatch)
    result = project.run(*NEW_ARGS)
    monkeypatch.setattr(transaction.Path, "mkdir", real_mkdir)
    assert made == [
        str(project.root.resolve() / "benchmarks/ops/fresh_cat"),
        str(project.root.resolve() / "library/csrc/fresh_cat"),
    ]
    assert calls == []  # failed before the first swap
    assert result.exit_code == 70 and "No space left on device" in result.output and "Traceback" not in result.output
    project.assert_unchanged()


def test_new_failing_while_writing_a_staged_file_leaves_no_staging_file(project: ProjectCopy, monkeypatch):
    real_chmod = os.chmod
    seen: list[str] = []

    def chmod(path, mode, *args, **kwargs):
        if str(path).endswith(".kernelkit-new"):
            seen.append(str(path))
            if len(seen) == 2:
                raise OSError(28, "No space left on device")
        return real_chmod(path, mode, *args, **kwargs)

    monkeypatch.setattr(transaction.os, "chmod", chmod)
    calls = _hook(monkeypatch)
    result = project.run(*NEW_ARGS)
    monkeypatch.setattr(transaction.os, "chmod", real_chmod)
    assert len(seen) == 2 and calls == []
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "No space left on device" in result.output
    project.assert_unchanged()


@pytest.mark.parametrize("on_call", range(1, REMOVE_SWAPS + 1))
def test_remove_failing_midway_changes_nothing(project: ProjectCopy, monkeypatch, on_call):
    calls = _hook(monkeypatch, on_call, RuntimeError("disk on fire"))
    result = project.run(*REMOVE_ARGS)
    assert len(calls) == on_call
    assert result.exit_code == 70 and "disk on fire" in result.output
    assert "Traceback" not in result.output and len(result.lines) == 1
    project.assert_unchanged()


def test_remove_interrupted_midway_changes_nothing(project: ProjectCopy, monkeypatch):
    calls = _hook(monkeypatch, 3, KeyboardInterrupt())
    result = project.run(*REMOVE_ARGS)
    assert len(calls) == 3
    assert result.exit_code == 130 and result.lines == [ROLLED_BACK]
    project.assert_unchanged()


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_remove_of_a_new_category_failing_midway_keeps_its_folders(project: ProjectCopy, monkeypatch, exc):
    project.ok(*NEW_ARGS)
    project.commit("with my_scale")
    calls = _hook(monkeypatch, 3, exc)
    result = project.run("remove", "my_scale", "--yes")
    assert len(calls) == 3
    assert result.exit_code == (130 if isinstance(exc, KeyboardInterrupt) else 70)
    project.assert_unchanged()
    assert project.run("check").exit_code == 0


needs_main_thread = pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="SIGINT handlers need the main thread"
)


@needs_main_thread
def test_ctrl_c_during_the_swap_is_held_until_new_is_complete(project: ProjectCopy, monkeypatch):
    calls = _hook(monkeypatch, 3, action=lambda: os.kill(os.getpid(), signal.SIGINT))
    result = project.run(*NEW_ARGS)
    assert len(calls) == NEW_SWAPS  # the swap went on to the end
    # ...and the op is reported as added, as it is: a retry must not meet an "interrupted" op that exists.
    assert result.exit_code == 0, result.output
    assert "my_scale added" in result.stdout and LATE_NOTE in result.stderr
    assert project.staging_leftovers() == []
    assert not project.path(".kernelkit.lock").exists()
    check = project.run("check", "--json")
    assert check.json() == {"ok": True, "ops": len(repo_ops()) + 1, "findings": []}  # all of the op, not part of it


@needs_main_thread
def test_ctrl_c_during_remove_swap_leaves_no_empty_folders(project: ProjectCopy, monkeypatch):
    project.ok(*NEW_ARGS)
    calls = _hook(monkeypatch, 3, action=lambda: os.kill(os.getpid(), signal.SIGINT))
    result = project.run("remove", "my_scale", "--yes")
    assert len(calls) == NEW_SWAPS  # 7 files deleted, 2 edited
    assert result.exit_code == 0 and "my_scale removed" in result.stdout and LATE_NOTE in result.stderr
    assert project.git_status() == ""  # every file is back as it was...
    assert not project.path("library/csrc/fresh_cat").exists()
    assert not project.path(f"{PKG}/fresh_cat").exists()


# ------------------------------------------------------------------------------------------- lock


def _dead_pid() -> int:
    for _ in range(20):
        proc = subprocess.Popen(["true"])
        proc.wait()
        try:
            os.kill(proc.pid, 0)
        except ProcessLookupError:
            return proc.pid
    pytest.skip("could not find a pid that stays free")


@pytest.mark.parametrize("command", [NEW_ARGS, REMOVE_ARGS], ids=["new", "remove"])
def test_a_live_lock_is_refused_naming_its_pid(project: ProjectCopy, command):
    # Another process really holds the lock (flock), as a concurrent `kernelkit new` would.
    lock = project.path(".kernelkit.lock")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, str(os.getpid()).encode()); print('held', flush=True); "
            "time.sleep(60)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = project.run(*command)
        assert_one_line_error(result, f"pid {holder.pid}", "another kernelkit command")
        assert lock.read_text() == str(holder.pid)  # someone else's lock is left alone
    finally:
        holder.kill()
        holder.wait()
    lock.unlink()
    project.assert_unchanged()


def test_a_stale_lock_is_taken_over(project: ProjectCopy):
    lock = project.path(".kernelkit.lock")
    lock.write_text(str(_dead_pid()))
    project.ok(*NEW_ARGS)
    assert not lock.exists()
    assert project.run("check").exit_code == 0
    lock.write_text(str(_dead_pid()))
    project.ok("remove", "my_scale", "--yes")
    assert not lock.exists()
    project.assert_unchanged()


def test_the_lock_is_released_after_a_refusal(project: ProjectCopy):
    result = project.run("new", "MyOp")
    assert result.exit_code != 0
    assert not project.path(".kernelkit.lock").exists()
    project.ok(*NEW_ARGS)  # the next command is not blocked
    assert not project.path(".kernelkit.lock").exists()


# ------------------------------------------------------------------------------------- check findings


def _only_finding(project: ProjectCopy) -> dict:
    result = project.run("check", "--json")
    assert result.exit_code == 1, result.output
    data = result.json()
    assert data["ok"] is False and data["ops"] == len(repo_ops())
    assert len(data["findings"]) == 1, data["findings"]
    return data["findings"][0]


def _edit(project: ProjectCopy, rel: str, old: str, new: str) -> None:
    text = project.read(rel)
    assert old in text, (old, rel)
    project.write(rel, text.replace(old, new, 1))


def test_check_finds_a_missing_cmake_entry(project: ProjectCopy):
    _edit(project, CMAKE, "  activation/silu_and_mul\n", "")
    finding = _only_finding(project)
    assert finding["op"] == "silu_and_mul"
    assert "CMake" in finding["message"] and "activation/silu_and_mul" in finding["message"]
    assert finding["where"] == CMAKE
    table = project.run("check")
    assert table.exit_code == 1
    row = next(line for line in table.output.splitlines() if "silu_and_mul" in line)
    assert "CMake" in row and CMAKE in row


def test_check_finds_a_cmake_entry_in_another_folder(project: ProjectCopy):
    text = regions.remove(project.read(CMAKE), layout.OPS, "silu_and_mul")
    project.write(CMAKE, regions.insert(text, layout.OPS, "silu_and_mul", "  norm/silu_and_mul"))
    assert _only_finding(project) == {
        "op": "silu_and_mul",
        "message": "CMake lists norm/silu_and_mul but the op's files are in activation/",
        "where": f"{CMAKE}:{_line_of(project, CMAKE, 'norm/silu_and_mul')}",
    }


def test_check_finds_a_second_cmake_entry(project: ProjectCopy):
    project.write(
        CMAKE, regions.insert(project.read(CMAKE), layout.FP4_OPS, "silu_and_mul", "  activation/silu_and_mul")
    )
    findings = _findings(project)
    first, second = [
        i for i, line in enumerate(project.read(CMAKE).splitlines(), 1) if line == "  activation/silu_and_mul"
    ]
    assert {
        "op": "silu_and_mul",
        "message": f"a second CMake entry (the first is at {CMAKE}:{first})",
        "where": f"{CMAKE}:{second}",
    } in findings


def test_check_accepts_a_fake_impl_and_finds_one_that_disagrees(project: ProjectCopy):
    rel = f"{PKG}/activation/gelu_and_mul.py"
    fake = (
        '\n\n@torch.library.register_fake("kernelkit::gelu_and_mul")\n'
        "def _gelu_and_mul_fake(out: torch.Tensor, input: torch.Tensor, enable_pdl: bool) -> None:\n    return None\n"
    )
    project.write(rel, project.read(rel) + fake)
    assert project.run("check").exit_code == 0  # optional; when present it must match the schema
    project.write(
        rel, project.read(rel).replace("input: torch.Tensor, enable_pdl: bool) -> None", "input: torch.Tensor) -> None")
    )
    assert _only_finding(project) == {
        "op": "gelu_and_mul",
        "message": "fake impl takes (out, input), schema has (out, input, enable_pdl)",
        "where": f"{rel}:{_line_of(project, rel, 'def _gelu_and_mul_fake(')}",
    }


def test_check_finds_a_binding_that_disagrees_with_the_schema(project: ProjectCopy):
    rel = binding("gelu_tanh_and_mul", "activation")
    before = "void gelu_tanh_and_mul(Tensor out, Tensor input, bool enable_pdl) {"
    _edit(project, rel, before, "void gelu_tanh_and_mul(Tensor out, Tensor input, bool enable_pdl, double eps) {")
    line = _line_of(project, rel, "void gelu_tanh_and_mul(")
    finding = _only_finding(project)
    assert finding == {
        "op": "gelu_tanh_and_mul",
        "message": "binding takes 4 arguments, schema has 3",
        "where": f"{rel}:{line}",
    }
    table = project.run("check")
    assert table.exit_code == 1 and "binding takes 4 arguments, schema has 3" in table.output
    assert f"{rel}:{line}" in table.output


def test_check_finds_a_binding_argument_of_another_type(project: ProjectCopy):
    rel = binding("gelu_tanh_and_mul", "activation")
    _edit(project, rel, "Tensor input, bool enable_pdl) {", "Tensor input, int64_t enable_pdl) {")
    assert _only_finding(project) == {
        "op": "gelu_tanh_and_mul",
        "message": "binding argument 'enable_pdl' is int64_t, schema 'bool enable_pdl' needs bool",
        "where": f"{rel}:{_line_of(project, rel, 'void gelu_tanh_and_mul(')}",
    }


def test_check_finds_a_missing_test(project: ProjectCopy):
    project.path("tests/ops/activation/test_silu_and_mul.py").unlink()
    finding = _only_finding(project)
    assert finding == {
        "op": "silu_and_mul",
        "message": "missing: test",
        "where": "tests/ops/activation/test_silu_and_mul.py",
    }


def test_check_finds_a_test_in_another_folder(project: ProjectCopy):
    project.path("tests/ops/norm/test_silu_and_mul.py").write_bytes(
        project.path("tests/ops/activation/test_silu_and_mul.py").read_bytes()
    )
    project.path("tests/ops/activation/test_silu_and_mul.py").unlink()
    assert _only_finding(project) == {
        "op": "silu_and_mul",
        "message": "test is in norm/ but the op's category is activation/",
        "where": "tests/ops/norm/test_silu_and_mul.py:1",
    }


# (file, text replaced, by, finding's message, the line it points at (text on it), or None for line 1)
BROKEN_PIECES = [
    (
        "library/csrc/activation/silu_and_mul.cu",
        "cudaError_t kernelkit::launch_silu_and_mul(",
        "cudaError_t kernelkit::launch_silu_and_mul2(",
        "kernel file defines no `cudaError_t launch_silu_and_mul(...)`",
        None,
    ),
    (
        "library/csrc/activation/silu_and_mul.cu",
        '#include "kernelkit_ops/activation/silu_and_mul.h"',
        "",
        'kernel file does not include its launcher header "kernelkit_ops/activation/silu_and_mul.h"',
        None,
    ),
    (
        "library/include/kernelkit_ops/activation/silu_and_mul.h",
        "cudaError_t launch_silu_and_mul(",
        "cudaError_t launch_silu_and_mul2(",
        "launcher header declares no `cudaError_t launch_silu_and_mul(...)`",
        None,
    ),
    (
        "library/csrc/activation/silu_and_mul.cc",
        '#include "kernelkit_ops/activation/silu_and_mul.h"',
        '#include "kernelkit_ops/activation/gelu_and_mul.h"',
        'binding file does not include its launcher header "kernelkit_ops/activation/silu_and_mul.h"',
        None,
    ),
    (
        "library/csrc/activation/silu_and_mul.cc",
        "KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul,",
        "KERNELKIT_REGISTER_OP(other, silu_and_mul,",
        "registered in namespace 'other', the project's is 'kernelkit'",
        "KERNELKIT_REGISTER_OP(",
    ),
    (
        "library/csrc/activation/silu_and_mul.cc",
        "void silu_and_mul(Tensor out",
        "void silu_and_mul_impl(Tensor out",
        "binding file defines no `void silu_and_mul(...)` (the function KERNELKIT_REGISTER_OP registers)",
        "KERNELKIT_REGISTER_OP(",
    ),
    (
        f"{PKG}/activation/silu_and_mul.py",
        "(out, input, pdl_default(input, enable_pdl))",
        "(out, input, enable_pdl=pdl_default(input, enable_pdl))",
        "wrapper calls the op with 2 positional args and keywords; schema has 3 (pass all, positionally)",
        "def silu_and_mul(",
    ),
    (
        f"{PKG}/activation/silu_and_mul.py",
        "torch.ops.kernelkit.silu_and_mul.default(",
        "torch.ops.kernelkit.gelu_and_mul.default(",
        "wrapper never calls torch.ops.kernelkit.silu_and_mul.default",
        "def silu_and_mul(",
    ),
]


@pytest.mark.parametrize(("rel", "old", "new", "message", "at"), BROKEN_PIECES)
def test_check_finds_a_broken_piece_with_its_line(project: ProjectCopy, rel, old, new, message, at):
    _edit(project, rel, old, new)
    line = _line_of(project, rel, at) if at else 1
    assert _only_finding(project) == {"op": "silu_and_mul", "message": message, "where": f"{rel}:{line}"}


def test_check_finds_a_binding_file_that_registers_nothing(project: ProjectCopy):
    rel = binding("silu_and_mul", "activation")
    text = project.read(rel)
    project.write(rel, text[: text.index("KERNELKIT_REGISTER_OP(")])
    finding = _only_finding(project)
    assert (
        finding["message"].startswith("missing: KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul,")
        and finding["where"] == f"{rel}:1"
    )


def test_check_finds_a_second_registration(project: ProjectCopy):
    rel = binding("silu_and_mul", "activation")
    first = _line_of(project, rel, "KERNELKIT_REGISTER_OP(")
    project.write(
        rel,
        project.read(rel)
        + "KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul, &kernelkit::binding::silu_and_mul, "
        + '"silu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");\n',
    )
    second = len(project.read(rel).splitlines())
    assert _only_finding(project) == {
        "op": "silu_and_mul",
        "message": f"a second KERNELKIT_REGISTER_OP (the first is at {rel}:{first})",
        "where": f"{rel}:{second}",
    }


@pytest.mark.parametrize(
    "registration",
    [
        '// KERNELKIT_REGISTER_OP(kernelkit, x, &f, "x() -> ()"); a comment is no registration\n'
        "KERNELKIT_REGISTER_OP(kernelkit, silu_and_mul, &kernelkit::binding::silu_and_mul,\n"
        '                      "silu_and_mul(Tensor! out, Tensor input, "\n'
        '                      "bool enable_pdl) -> ()");\n',
        "KERNELKIT_REGISTER_OP(\n    kernelkit, silu_and_mul, &kernelkit::binding::silu_and_mul,\n"
        '    "silu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()");\n',
    ],
    ids=["split-string-and-a-comment", "broken-after-the-parenthesis"],
)
def test_check_reads_a_registration_however_it_is_wrapped(project: ProjectCopy, registration):
    rel = binding("silu_and_mul", "activation")
    text = project.read(rel)
    project.write(rel, text[: text.index("KERNELKIT_REGISTER_OP(")] + registration)
    assert project.run("check").exit_code == 0
    row = {r["op"]: r for r in project.ok("list", "--json").json()}["silu_and_mul"]
    assert row["schema"] == "silu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()"


def test_check_json_lists_every_finding(project: ProjectCopy):
    _edit(project, CMAKE, "  activation/silu_and_mul\n", "")
    project.path("tests/ops/activation/test_gelu_and_mul.py").unlink()
    gelu_tanh = binding("gelu_tanh_and_mul", "activation")
    _edit(
        project,
        gelu_tanh,
        '"gelu_tanh_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()"',
        '"gelu_tanh_and_mul(Tensor! out, Tensor input, Scalar alpha) -> ()"',
    )
    result = project.run("check", "--json")
    assert result.exit_code == 1
    data = result.json()
    assert data["ok"] is False
    assert all(set(f) == {"op", "message", "where"} for f in data["findings"])
    assert all(f["op"] and f["message"] and f["where"] for f in data["findings"])
    by_op = {}
    for f in data["findings"]:
        by_op.setdefault(f["op"], []).append(f)
    assert set(by_op) == set(ACTIVATION_OPS)
    assert any("CMake" in f["message"] for f in by_op["silu_and_mul"])
    assert [f["message"] for f in by_op["gelu_and_mul"]] == ["missing: test"]
    scalar = by_op["gelu_tanh_and_mul"]
    assert len(scalar) == 1 and "Scalar" in scalar[0]["message"] and scalar[0]["where"].startswith(f"{gelu_tanh}:")


def test_check_outside_a_project_is_one_line(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from kernelkit.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check"])
    assert result.exit_code == 2
    assert "no kernelkit project here" in result.output and "Traceback" not in result.output


# --------------------------------------------------------------------------- compile, link, load, test

LOAD_AND_DESCRIBE = """
import json
import torch
expected = json.loads(sys.argv[1])
import kernelkit_ops

def describe(schema):
    return {
        "args": [[a.name, str(a.type), bool(a.alias_info is not None and a.alias_info.is_write), repr(a.default_value)]
                 for a in schema.arguments],
        "returns": [str(r.type) for r in schema.returns],
    }

report = {"file": kernelkit_ops.__file__, "library": str(kernelkit_ops.LIBRARY_PATH), "ops": {}}
for name, text in expected.items():
    schema = getattr(torch.ops.kernelkit, name).default._schema
    report["ops"][name] = {
        "actual": describe(schema),
        "expected": describe(torch._C.parse_schema("kernelkit::" + text)),
        "text": str(schema),
        "cuda_kernel": torch._C._dispatch_has_kernel_for_dispatch_key("kernelkit::" + name, "CUDA"),
        "exported": callable(getattr(kernelkit_ops, name, None)) and name in kernelkit_ops.__all__,
    }
print(json.dumps(report))
"""


def _without_launcher(argv: list[str]) -> list[str]:
    return argv[1:] if os.path.basename(argv[0]) == "ccache" else argv


def _compiler(command: str) -> str:
    return os.path.basename(_without_launcher(shlex.split(command))[0])


# op -> (category, how `new` makes it): the three templates, and copies (--like) of a hand-written op of
# each family kind and of a generated op into another category.
BUILT_OPS = {
    "my_scale": ("fresh_cat", ["--category", "fresh_cat"]),
    "my_rownorm": ("activation", ["--category", "activation", "--template", "rowwise"]),
    "my_custom": ("fresh_cat", ["--category", "fresh_cat", *TEMPLATES["custom"][1]]),
    "my_rmsnorm": ("norm", ["--like", "rmsnorm"]),
    "my_silu": ("activation", ["--like", "silu_and_mul"]),
    "my_scale_copy": ("other_cat", ["--like", "my_scale", "-c", "other_cat"]),
}
LIKE = {"my_rmsnorm": "rmsnorm", "my_silu": "silu_and_mul", "my_scale_copy": "my_scale"}


@pytest.mark.slow
def test_generated_ops_compile_link_load_and_pass_their_cpu_tests(project: ProjectCopy):
    tools = build_tools()
    for name, (_, flags) in BUILT_OPS.items():
        project.ok("new", name, *flags)
    check = project.run("check", "--json")
    assert check.json() == {"ok": True, "ops": len(repo_ops()) + len(BUILT_OPS), "findings": []}, check.output

    package_dir = project.root / PKG
    configured = configure(project, tools, f"-DKERNELKIT_PACKAGE_DIR={package_dir}")
    assert configured.returncode == 0, configured.stdout[-3000:] + configured.stderr[-3000:]

    # The exact commands of the configure: nvcc for each kernel, the host C++ compiler for each binding TU.
    commands = compile_commands(project)
    for name, (category, _) in BUILT_OPS.items():
        kernel, cc = commands[f"csrc/{category}/{name}.cu"], commands[f"csrc/{category}/{name}.cc"]
        assert _compiler(kernel) == "nvcc" and "-gencode=arch=compute_90a,code=sm_90a" in kernel, kernel
        assert _compiler(cc) != "nvcc" and "-DTORCH_TARGET_VERSION=" in cc, cc

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
    for name, (category, _) in BUILT_OPS.items():
        assert f"Building CUDA object CMakeFiles/kernelkit_ops.dir/csrc/{category}/{name}.cu.o" in log
        assert f"Building CXX object CMakeFiles/kernelkit_ops.dir/csrc/{category}/{name}.cc.o" in log
    libraries = sorted(package_dir.glob("_kernelkit_ops*.so"))
    assert len(libraries) == 1, libraries

    # Loads in a fresh interpreter, from the copy, with the schemas asked for (a copy: its original's, renamed).
    rows = {r["op"]: r for r in project.ok("list", "--json").json()}
    expected = {"my_scale": TEMPLATES["elementwise"][2], "my_custom": TEMPLATES["custom"][2]}
    expected["my_rownorm"] = TEMPLATES["rowwise"][2]
    for name, original in LIKE.items():
        expected[name] = rows[original]["schema"].replace(f"{original}(", f"{name}(", 1)
        assert rows[name]["dtypes"] == rows[original]["dtypes"]
    loaded = project.python(LOAD_AND_DESCRIBE, json.dumps(expected))
    assert loaded.returncode == 0, loaded.stderr[-4000:]
    report = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(project.root.resolve())), report["file"]
    assert report["library"] == str(libraries[0].resolve())
    for name in BUILT_OPS:
        op = report["ops"][name]
        assert op["actual"] == op["expected"], (name, op)
        assert op["actual"]["returns"] == []
        assert op["cuda_kernel"] is True and op["exported"] is True
    assert "bool flag=False" in report["ops"]["my_custom"]["text"]
    assert report["ops"]["my_custom"]["actual"]["args"][0][2] is True  # Tensor! out is written

    # The generated tests' CPU part passes against the built library; a copy passes the same tests as its original.
    # One pytest run for all of them (an interpreter start with torch costs seconds), read back per test file.
    test_files = {name: f"tests/ops/{category}/test_{name}.py" for name, (category, _) in BUILT_OPS.items()}
    for original in LIKE.values():
        test_files.setdefault(original, f"tests/ops/{rows[original]['category']}/test_{original}.py")
    run = project.pytest(*test_files.values(), "-m", "not gpu", "-q", "-p", "no:cacheprovider", "-rA")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert not re.search(r"\d+ (failed|error)", output), output[-2000:]

    def cpu_tests(name: str, category: str) -> list[str]:
        path = re.escape(test_files[name])
        return sorted(re.findall(rf"^PASSED {path}::(?:\S+::)?(\S+)", output, re.M))  # test names, class dropped

    for name, (category, _) in BUILT_OPS.items():
        passed = cpu_tests(name, category)
        if name in LIKE:
            original = LIKE[name]
            assert passed == cpu_tests(original, rows[original]["category"]), name
        else:
            assert len(passed) >= 4, passed
            for test in ("test_schema_registered", "test_rejects_cpu_tensor", "test_fake_impl_shapes"):
                assert any(p.startswith(test) for p in passed), (name, test, passed)

    # An op added after the build says to build when called; the built ones are their modules' own functions.
    project.ok("new", "my_unbuilt")
    unbuilt = project.python(
        "import torch, kernelkit_ops\n"
        "from kernelkit_ops.fresh_cat.my_scale import my_scale\n"
        "assert kernelkit_ops.my_scale is my_scale and not hasattr(my_scale, '__wrapped__')\n"
        "try:\n    kernelkit_ops.my_unbuilt(torch.randn(2, 4))\n"
        "except RuntimeError as exc:\n    print(exc)\n"
    )
    assert unbuilt.returncode == 0, unbuilt.stderr[-3000:]
    assert "my_unbuilt: torch.ops.kernelkit.my_unbuilt is not in the loaded library" in unbuilt.stdout, unbuilt.stdout
    assert "run `kernelkit build`" in unbuilt.stdout
    project.ok("remove", "my_unbuilt", "--yes")

    # And it all comes out again, byte for byte, folders included.
    for name in BUILT_OPS:
        project.ok("remove", name, "--yes")
    project.assert_unchanged()
    for folder in (
        "library/csrc/fresh_cat",
        "library/include/kernelkit_ops/other_cat",
        f"{PKG}/fresh_cat",
        "tests/ops/other_cat",
    ):
        assert not (project.root / folder).exists(), folder


# ------------------------------------------------------------------------- known bugs, kept honest


@pytest.fixture(scope="session")
def binding_command(tmp_path_factory) -> tuple[str, list[str]]:
    """The configured compile command of a binding TU (csrc/activation/silu_and_mul.cc of a throwaway copy)
    and that copy's root."""
    from pytest import MonkeyPatch

    tools = build_tools()
    root = make_pristine(tmp_path_factory.mktemp("kernelkit_configured") / "project")
    copy = ProjectCopy(root, MonkeyPatch())
    configured = configure(copy, tools)
    if configured.returncode != 0:
        pytest.fail(f"configure failed:\n{configured.stdout[-3000:]}{configured.stderr[-3000:]}")
    argv = _without_launcher(shlex.split(compile_commands(copy)["csrc/activation/silu_and_mul.cc"]))
    if "-o" in argv:
        i = argv.index("-o")
        del argv[i : i + 2]
    return str(root), [*argv, "-fsyntax-only"]


def _binding_compiles(project: ProjectCopy, binding_command, name: str) -> subprocess.CompletedProcess[str]:
    """The new op's binding TU (csrc/misc/<name>.cc), compiled as the configure compiles silu_and_mul's."""
    configured_root, argv = binding_command
    argv = [a.replace(configured_root, str(project.root)) for a in argv]
    argv = [a.replace("csrc/activation/silu_and_mul.cc", f"csrc/misc/{name}.cc") for a in argv]
    assert any(a.endswith(f"csrc/misc/{name}.cc") for a in argv), argv
    return subprocess.run(argv, cwd=project.root, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["new", "my_op"], id="control-op"),
        pytest.param(
            ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, int[] dims, str mode) -> ()"], id="control-args"
        ),
        pytest.param(["new", "num_rows"], id="op-num_rows"),
        pytest.param(["new", "int64_t"], id="op-int64_t"),
        pytest.param(["new", "gated_activation"], id="op-gated_activation"),
        pytest.param(["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, int dtype) -> ()"], id="arg-dtype"),
        pytest.param(["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, int guard) -> ()"], id="arg-guard"),
    ],
)
def test_names_that_break_the_binding_are_refused(project: ProjectCopy, binding_command, args):
    result = project.run(*args)
    if result.exit_code != 0:  # refused: fine, as long as cleanly
        assert_one_line_error(result)
        project.assert_unchanged()
        return
    compiled = _binding_compiles(project, binding_command, args[1])
    assert compiled.returncode == 0, compiled.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [  # words of unrelated code (t.dim(), t.size(), t.stride()), and the op's own name as an argument
        pytest.param(
            ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, int dim, int size, int group_size) -> ()"],
            id="args-dim-size-group_size",
        ),
        pytest.param(["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, float my_op) -> ()"], id="arg-my_op"),
        pytest.param(["new", "dim"], id="op-dim"),
        pytest.param(["new", "stride"], id="op-stride"),
    ],
)
def test_names_that_collide_with_nothing_are_accepted_and_compile(project: ProjectCopy, binding_command, args):
    project.ok(*args)
    compiled = _binding_compiles(project, binding_command, args[1])
    assert compiled.returncode == 0, compiled.stderr[-3000:]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["new", "v"], id="op-v"),
        pytest.param(["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, float v) -> ()"], id="arg-v"),
    ],
)
def test_names_that_break_the_wrapper_are_refused(project: ProjectCopy, args):
    result = project.run(*args)
    if result.exit_code != 0:
        assert_one_line_error(result)
        project.assert_unchanged()
        return
    name = args[1]
    data = project.run("list", "--json").json()
    category = next(r["category"] for r in data if r["op"] == name)
    tree = ast.parse(project.read(f"{PKG}/{category}/{name}.py"))
    imported = {
        alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    shadowed = ({name} | {a.arg for a in function.args.args}) & imported & (used | {name})
    assert not shadowed, f"the wrapper rebinds {shadowed}, which it imports and uses"


def test_new_and_remove_keep_crlf_files_byte_for_byte(project: ProjectCopy):
    cmake = project.path(CMAKE)
    cmake.write_bytes(cmake.read_bytes().replace(b"\n", b"\r\n"))
    project.commit("CRLF CMakeLists.txt")
    project.ok(*NEW_ARGS)
    project.ok("remove", "my_scale", "--yes")
    project.assert_unchanged()


def test_remove_keeps_a_category_init_the_user_wrote(project: ProjectCopy):
    """remove takes out the category __init__.py that new wrote, byte for byte; one the user changed (or
    wrote) is theirs and stays, with its folder."""
    project.ok(*NEW_ARGS)
    init = project.path(f"{PKG}/fresh_cat/__init__.py")
    assert init.read_text() == '"""fresh_cat ops."""\n'
    init.write_text('"""fresh_cat ops: my helpers live here too."""\n\nHELPER = 1\n')
    project.ok("remove", "my_scale", "--yes")
    assert init.read_text() == '"""fresh_cat ops: my helpers live here too."""\n\nHELPER = 1\n'
    assert not project.path(f"{PKG}/fresh_cat/my_scale.py").exists()
    assert not project.path("library/csrc/fresh_cat").exists()
    assert project.run("check").exit_code == 0

    init.unlink()
    project.ok(*NEW_ARGS)
    project.ok("remove", "my_scale", "--yes")  # the __init__ new wrote goes with the last op
    assert not project.path(f"{PKG}/fresh_cat").exists()
