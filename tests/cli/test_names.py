"""The namespace rules (kernelkit/model/names.py): a name that would collide with something it shares a namespace
with is refused by `new` as one line naming the input, the rule and a fix, with the tree untouched, and reported by
`check` in a tree that has it; a name that collides with nothing is accepted, however often the word occurs in
unrelated code. No compiling here: the lists are checked against this machine's preprocessor and torch instead."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from scaffold_helpers import REPO_ROOT, ProjectCopy, pristine_project, project  # noqa: F401  (fixtures)
from test_scaffold import assert_one_line_error

from kernelkit.codegen import scaffold
from kernelkit.model import names

# (args of `new`, what the one line must say)
COLLISIONS = {
    # Python: the package's subpackages, attributes and modules, Python's own names
    "op-named-like-a-category": (["norm"], ["op name 'norm'", "category library/python/kernelkit_ops/norm/"]),
    "category-named-like-an-op": (["x1", "-c", "rmsnorm"], ["category 'rmsnorm'", "the op rmsnorm"]),
    "op-named-like-its-category": (["x1", "-c", "x1"], ["op name 'x1'", "its category"]),
    "op-named-like-a-package-attribute": (["fp4_enabled"], ["kernelkit_ops.fp4_enabled", "__init__.py:11"]),
    "category-named-like-a-package-attribute": (["x1", "-c", "fp4_enabled"], ["category 'fp4_enabled'", "__init__"]),
    "op-named-like-a-python-builtin": (["max"], ["Python's builtin max", "import *"]),
    "op-named-like-a-python-keyword": (["lambda"], ["Python keyword"]),
    "op-named-like-a-soft-keyword": (["match"], ["Python keyword"]),
    "op-named-like-a-wrapper-import": (["pdl_default"], ["pdl_default"]),
    # torch: attributes of the op-namespace object
    "op-named-like-an-op-namespace-attribute": (["name"], ["torch.ops.kernelkit.name is an attribute"]),
    # C, C++ and CUDA
    "macro-linux": (["linux"], ["C macro linux"]),
    "macro-unix": (["unix"], ["C macro unix"]),
    "macro-errno": (["errno"], ["C macro errno"]),
    "macro-offsetof": (["offsetof"], ["C macro offsetof"]),
    "macro-alloca": (["alloca"], ["C macro alloca"]),
    "macro-assert-is-a-python-keyword-too": (["assert"], ["keyword"]),
    "gnu-keyword-typeof": (["typeof"], ["C++ keyword"]),
    "cpp-keyword": (["class"], ["keyword"]),
    "cuda-builtin": (["half2"], ["CUDA's built-in half2"]),
    "reserved-double-underscore": (["a__b"], ["'__'"]),
    "reserved-type-suffix": (["size_t"], ["'_t'"]),
    "cpp-namespace": (["std"], ["namespace or import"]),
    # generated identifiers: the binding's helpers, what the kernel file declares, names made from other ops
    "binding-helper": (["check_devices"], ["check_devices", "library/include/kernelkit/binding.h"]),
    "binding-helper-row_stride": (["row_stride"], ["library/include/kernelkit/binding.h"]),
    "kernel-declares-launch_with_pdl": (["with_pdl"], ["launch_with_pdl", "library/include/kernelkit/core/pdl.cuh"]),
    "generated-prefix": (["launch_x"], ["launch_NAME"]),
    "like-family-helper": (["rms_norm", "--like", "rmsnorm"], ["rms_norm", "library/csrc/norm/rmsnorm_binding.h"]),
    # test modules: pytest imports test files of package-less folders by file name
    "test-module-doctor": (["doctor"], ["tests/cli/test_doctor.py", "module name"]),
    "test-module-bench": (["bench"], ["tests/cli/test_bench.py"]),
    "test-module-scaffold": (["scaffold"], ["tests/cli/test_scaffold.py"]),
}


@pytest.mark.parametrize(("args", "needles"), list(COLLISIONS.values()), ids=list(COLLISIONS))
def test_new_refuses_a_name_that_collides(project: ProjectCopy, args, needles):
    result = project.run("new", *args)
    assert result.exit_code == 2, result.output
    line = assert_one_line_error(result, *needles)
    assert "choose another" in line  # the fix
    project.assert_unchanged()


SCHEMA_HEAD = "my_op(Tensor! out, Tensor x"
ARG_COLLISIONS = {
    "macro": ("int linux", ["argument 'linux'", "C macro linux"]),
    "macro-errno": ("int errno", ["C macro errno"]),
    "all-capitals": ("int NULL", ["argument 'NULL'", "all capitals"]),
    "cuda-runtime": ("int cudaStreamDefault", ["cudaXxx"]),
    "cuda-builtin": ("int threadIdx", ["CUDA built-in"]),
    "python-keyword": ("int lambda", ["Python keyword"]),
    "cpp-keyword": ("int auto", ["C++ keyword"]),
    "binding-local": ("int dtype", ["argument 'dtype'", "generated binding uses"]),
    "binding-helper": ("int check_launch", ["generated binding uses"]),
    "launcher-local": ("int stream", ["generated launcher uses"]),
    "launcher-constant": ("int kThreads", ["generated launcher uses"]),
    "wrapper-import": ("int pdl_default", ["generated wrapper uses"]),
    "test-local": ("int args", ["generated test uses"]),
    "namespace": ("int torch", ["namespace"]),
}


@pytest.mark.parametrize(("tail", "needles"), list(ARG_COLLISIONS.values()), ids=list(ARG_COLLISIONS))
def test_new_refuses_an_argument_name_that_collides(project: ProjectCopy, tail, needles):
    result = project.run("new", "my_op", "--schema", f"{SCHEMA_HEAD}, {tail}) -> ()")
    assert result.exit_code == 2, result.output
    line = assert_one_line_error(result, *needles)
    assert "rename it" in line
    project.assert_unchanged()


# Words the generated code or its headers contain, but in no namespace the new name joins.
@pytest.mark.parametrize("name", ["dim", "stride", "numel", "scale", "check", "tensor", "v", "null", "group_size"])
def test_op_names_that_collide_with_nothing_are_accepted(project: ProjectCopy, name):
    project.ok("new", name, "--dry-run")


@pytest.mark.parametrize("arg", ["dim", "size", "group_size", "shape", "hidden", "v", "i", "N", "my_op", "x_size"])
def test_argument_names_that_collide_with_nothing_are_accepted(project: ProjectCopy, arg):
    project.ok("new", "my_op", "--schema", f"{SCHEMA_HEAD}, int {arg}, float eps=1e-06) -> ()", "--dry-run")


def test_an_accepted_odd_schema_goes_in_and_out_cleanly(project: ProjectCopy):
    schema = f"{SCHEMA_HEAD}, int dim, int size, int group_size, int[] sizes, int N) -> ()"
    project.ok("new", "my_op", "--schema", schema)
    project.ok("check")
    project.ok("remove", "my_op", "--yes")
    project.assert_unchanged()


# --------------------------------------------------------------------- check finds what new would refuse

# (args of `new` written with the rules switched off, what check must report)
IN_A_TREE = {
    "op-named-like-a-category": (["norm"], "op name 'norm' clashes with the category"),
    "op-named-like-a-test-module": (
        ["doctor"],
        "op name 'doctor' clashes with the test module tests/cli/test_doctor.py",
    ),
    "op-named-like-a-macro": (["linux"], "op name 'linux' clashes with the C macro linux"),
    "op-named-like-a-namespace-attribute": (["name"], "op name 'name' clashes with torch"),
    "op-named-like-a-package-attribute": (["fp4_enabled"], "op name 'fp4_enabled' clashes with kernelkit_ops"),
    "category-named-like-an-op": (["x1", "-c", "rmsnorm"], "op name 'rmsnorm' clashes with the category"),
    "argument-named-like-a-macro": (
        ["my_op", "--schema", f"{SCHEMA_HEAD}, int unix) -> ()"],
        "argument 'unix' of my_op clashes with the C macro unix",
    ),
}


@pytest.mark.parametrize(("args", "finding"), list(IN_A_TREE.values()), ids=list(IN_A_TREE))
def test_check_reports_what_new_would_refuse(project: ProjectCopy, monkeypatch, args, finding):
    refused = project.run("new", *args)
    assert refused.exit_code == 2, refused.output
    with monkeypatch.context() as rules_off:  # as if the tree was written by hand (or by an older kernelkit)
        for rule in ("op_name_problem", "category_problem", "arg_name_problem"):
            rules_off.setattr(names, rule, lambda *a, **k: None)
        project.ok("new", *args)
    result = project.run("check", "--json")
    assert result.exit_code == 1, result.output
    messages = [f["message"] for f in result.json()["findings"]]
    assert any(m.startswith(finding) for m in messages), messages


def test_check_of_the_project_finds_no_name_problems(project: ProjectCopy):
    assert project.run("check", "--json").json()["findings"] == []


# ------------------------------------------------------------------------- the lists against this machine


def test_torch_namespace_attributes_are_the_op_namespace_objects():
    namespace = torch._ops._OpNamespace("kernelkit_names_probe")
    public = {a for a in dir(namespace) if not a.startswith("_")}
    assert public == set(names.TORCH_NAMESPACE_ATTRS)


def _lower_macros(command: list[str], source: str) -> set[str]:
    out = subprocess.run(command, input=source, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    found = set()
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "#define":
            name = parts[1].split("(")[0]
            if name[:1].islower():
                found.add(name)
    return found


def _torch_and_cuda_includes() -> list[str]:
    cuda = Path("/usr/local/cuda/include")
    return ["-isystem", str(Path(torch.__file__).parent / "include"), "-isystem", str(cuda)]


def test_every_lowercase_macro_the_binding_sees_is_refused():
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None or not Path("/usr/local/cuda/include/cuda_runtime_api.h").is_file():
        pytest.skip("needs a C++ compiler and the CUDA headers")
    library = REPO_ROOT / "library"
    command = [compiler, "-std=gnu++17", "-DTORCH_TARGET_VERSION=0x020a000000000000", "-dM", "-E", "-x", "c++",
               f"-I{library / 'include'}", f"-I{library / 'csrc'}", *_torch_and_cuda_includes(), "-"]  # fmt: skip
    macros = _lower_macros(command, '#include "kernelkit/binding.h"\n#include "norm/rmsnorm_binding.h"\n')
    _assert_refused(macros)


def test_every_lowercase_macro_the_kernel_sees_is_refused():
    from kernelkit.builder.toolchain import find_nvcc

    nvcc = find_nvcc().path
    if nvcc is None:
        pytest.skip("needs nvcc")
    library = REPO_ROOT / "library"
    source = "".join(f'#include "{h}"\n' for h in names.TEMPLATE_KERNEL_HEADERS) + "#include <algorithm>\n"
    command = [nvcc, "-std=c++17", "-E", "-Xcompiler", "-dM", "-x", "cu", f"-I{library / 'include'}", "-"]
    _assert_refused(_lower_macros(command, source))


def _assert_refused(macros: set[str]) -> None:
    assert "errno" in macros or "offsetof" in macros, sorted(macros)[:20]  # the probe saw the C library
    taken = names.Taken(scaffold_project())
    for macro in sorted(macros):
        if macro.endswith("_EXPORTS"):  # CMake's <target>_EXPORTS, upper-case after the target's name
            continue
        assert names.arg_name_problem(macro) is not None, macro
        if names.NAME_RE.fullmatch(macro):
            assert names.op_name_problem(macro, taken) is not None, macro


def scaffold_project():
    from kernelkit.project import find_project

    return find_project(REPO_ROOT)


def test_generated_names_come_from_the_templates():
    scope, imports = scaffold._generated_names(scaffold_project())
    for name in ("op", "dtype", "device", "guard", "err", "stream", "numel", "grid", "vec", "kThreads", "t", "args"):
        assert name in scope, name
    for name in ("dim", "size", "group_size", "input", "out", "shape", "enable_pdl", "x", "hidden"):
        assert name not in scope, (name, scope.get(name))
    assert {"torch", "pdl_default"} <= imports


# ------------------------------------------------------------------------------- odd input: one clear line


ODD = {
    "op-300-characters": (["new", "a" * 300], ["has 300 characters; at most 64"]),
    "category-300-characters": (["new", "my_op", "-c", "c" * 300], ["has 300 characters"]),
    "op-with-newline": (["new", "my_op\n"], ["op name 'my_op\\n'", "lowercase identifier"]),
    "op-with-tab": (["new", "my\top"], ["op name 'my\\top'"]),
    "op-with-nul": (["new", "my\x00op"], ["op name 'my\\x00op'"]),
    "category-with-newline": (["new", "my_op", "-c", "cat\n"], ["category 'cat\\n'"]),
    "schema-with-nul": (["new", "my_op", "--schema", "my_op(Tensor! out, Tensor\x00 x) -> ()"], ["\\x00"]),
    "schema-with-newline-in-a-default": (
        ["new", "my_op", "--schema", "my_op(Tensor! out, Tensor x, str s='a\nb') -> ()"],
        ["printable ASCII"],
    ),
    "like-with-newline": (["new", "my_op", "--like", "rms\nnorm"], ["--like rms\\nnorm"]),
    "remove-with-newline": (["remove", "rms\nnorm", "--yes"], ["no op 'rms\\nnorm'"]),
    "dtypes-with-tab": (["new", "my_op", "--dtypes", "bf16,f\tp16"], ["unknown f\\tp16"]),
}


@pytest.mark.parametrize(("args", "needles"), list(ODD.values()), ids=list(ODD))
def test_odd_input_is_one_clear_line(project: ProjectCopy, args, needles):
    result = project.run(*args)
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, *needles)
    project.assert_unchanged()


def test_a_lock_path_that_is_a_folder_is_refused_with_the_fix(project: ProjectCopy):
    (project.root / ".kernelkit.lock").mkdir()
    (project.root / ".kernelkit.lock" / "keep").write_text("")
    project.commit("a folder where the lock goes")
    for args in (["new", "my_op"], ["remove", "rmsnorm", "--yes"]):
        result = project.run(*args)
        assert result.exit_code == 2, result.output
        assert_one_line_error(result, ".kernelkit.lock: cannot open the project's lock file", "rm -r .kernelkit.lock")
    assert project.git_status() == ""
    assert (project.root / ".kernelkit.lock" / "keep").is_file()  # not ours to remove
