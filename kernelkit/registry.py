"""The op registry as the files define it: every op's pieces, where they are, and whether they agree.

`kernelkit check` reports the findings, `list` shows the ops, `remove` uses the locations.
Everything is read from the five places (plus tests and benches); nothing is cached.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit import layout, regions
from kernelkit.errors import KernelkitError
from kernelkit.project import Project
from kernelkit.schema import Schema, parse_schema

_CPP_PREFIXES = ("torch::stable::", "const ")


@dataclass(frozen=True)
class Location:
    path: Path
    line: int

    def show(self, project: Project) -> str:
        return f"{layout.rel(project, self.path)}:{self.line}"


@dataclass
class Op:
    name: str
    category: str | None = None
    kernel: Location | None = None  # csrc/<cat>/<name>.cu
    launcher_def: Location | None = None  # `launch_<name>(` defined in the kernel file
    cmake: Location | None = None
    launcher_decl: Location | None = None
    binding: Location | None = None
    binding_fp4: bool = False  # found in region fp4-bindings (under #ifdef KERNELKIT_ENABLE_FP4)
    binding_params: list[tuple[str, str]] = field(default_factory=list)  # (C++ type, name)
    schema: Schema | None = None
    schema_loc: Location | None = None
    schema_error: str | None = None
    impl: Location | None = None
    impl_fp4: bool = False  # found in region fp4-impls
    wrapper: Location | None = None  # def <name>( in the wrapper file
    wrapper_call_args: int | None = None  # positional args of torch.ops.<ns>.<name>.default(...)
    wrapper_call_keywords: bool = False
    fake: Location | None = None
    fake_params: list[str] = field(default_factory=list)
    export: Location | None = None
    all_entry: Location | None = None
    test: Location | None = None
    bench: Location | None = None
    fp4: bool = False  # its .cu is in the CMake fp4-sources list: compiled only with KERNELKIT_ENABLE_FP4
    repeated: list[tuple[str, Location]] = field(default_factory=list)  # (piece, where) of a second definition

    @property
    def dtypes(self) -> list[str]:
        """Dtypes the kernel dispatches, read from its .cu and the kernelkit/*.cuh headers it includes."""
        if self.kernel is None:
            return []
        text = self.kernel.path.read_text()
        include_dir = self.kernel.path.parents[2] / "include"
        for header in re.findall(r'#include\s+"(kernelkit/[\w./]+\.cuh)"', text):
            path = include_dir / header
            if path.is_file() and header != "kernelkit/dispatch.cuh":  # dispatch.cuh names every dtype
                text += path.read_text()
        if "dispatch_float_dtype(" in text:
            return ["bf16", "fp16", "fp32"]
        return [d for d, token in (("bf16", "kBFloat16"), ("fp16", "kFloat16"), ("fp32", "kFloat32")) if token in text]


@dataclass(frozen=True)
class Finding:
    op: str
    message: str
    where: str  # file:line, or a path when the piece is missing


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise KernelkitError(f"{path}: missing (is this a kernelkit project? `kernelkit init` makes one)") from None


def _get(ops: dict[str, Op], name: str) -> Op:
    return ops.setdefault(name, Op(name))


def _region(project: Project, path: Path, spec: regions.RegionSpec, optional: bool = False) -> list[regions.Entry]:
    """The region's entries; an `optional` region a file does not have at all counts as empty
    (the fp4-* regions of registration.cc, for projects made before they existed)."""
    text = _read(path)
    if optional and spec.begin not in text and spec.end not in text:
        return []
    return regions.entries(text, spec, layout.rel(project, path))


def _binding_params(block: str) -> list[tuple[str, str]]:
    match = re.search(r"^void\s+\w+\s*\((.*?)\)\s*\{", block, re.S | re.M)
    if not match:
        return []
    params = []
    for raw in [p.strip() for p in match.group(1).split(",") if p.strip()]:
        raw = re.sub(r"\s+", " ", raw.replace("&", " ")).strip()
        ctype, _, name = raw.rpartition(" ")
        for prefix in _CPP_PREFIXES:
            ctype = ctype.replace(prefix, "")
        params.append((ctype.strip(), name))
    return params


def _scan_python(op: Op, path: Path, namespace: str) -> None:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        op.wrapper = Location(path, exc.lineno or 1)
        return
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name == op.name:
            op.wrapper = Location(path, node.lineno)
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and _is_torch_op_call(call.func, namespace, op.name):
                    op.wrapper_call_args = len(call.args)
                    op.wrapper_call_keywords = bool(call.keywords)
        for deco in node.decorator_list:
            if (
                isinstance(deco, ast.Call)
                and ast.unparse(deco.func).endswith("register_fake")
                and deco.args
                and isinstance(deco.args[0], ast.Constant)
                and deco.args[0].value == f"{namespace}::{op.name}"
            ):
                op.fake = Location(path, node.lineno)
                op.fake_params = [a.arg for a in node.args.args]


def _is_torch_op_call(func: ast.expr, namespace: str, name: str) -> bool:
    text = ast.unparse(func)
    return text in (f"torch.ops.{namespace}.{name}.default", f"torch.ops.{namespace}.{name}")


def scan(project: Project) -> dict[str, Op]:
    """Every op named anywhere in the five places, tests or benches, with what was found where."""
    ops: dict[str, Op] = {}
    header, registration, init = layout.header_file(project), project.registration_file, layout.init_file(project)

    for spec, fp4 in ((layout.SOURCES, False), (layout.FP4_SOURCES, True)):
        for e in _region(project, project.cmake_file, spec):
            op = _get(ops, e.key)
            op.cmake, op.fp4 = Location(project.cmake_file, e.line), fp4
            op.category = e.text.strip().split("/")[1]
    for e in _region(project, header, layout.LAUNCHERS):
        _get(ops, e.key).launcher_decl = Location(header, e.line)
    for spec, fp4 in ((layout.BINDINGS, False), (layout.FP4_BINDINGS, True)):
        for e in _region(project, registration, spec, optional=fp4):
            op = _get(ops, e.key)
            if op.binding is not None:
                op.repeated.append(("binding", Location(registration, e.line)))
                continue
            op.binding, op.binding_fp4 = Location(registration, e.line), fp4
            op.binding_params = _binding_params(e.text)
    for e in _region(project, registration, layout.SCHEMAS):
        op = _get(ops, e.key)
        op.schema_loc = Location(registration, e.line)
        match = re.search(r'm\.def\("(.*)"\)', e.text)
        try:
            op.schema = parse_schema(match.group(1) if match else e.text)
        except KernelkitError as exc:
            op.schema_error = str(exc)
    for spec, fp4 in ((layout.IMPLS, False), (layout.FP4_IMPLS, True)):
        for e in _region(project, registration, spec, optional=fp4):
            op = _get(ops, e.key)
            if op.impl is not None:
                op.repeated.append(("m.impl", Location(registration, e.line)))
                continue
            op.impl, op.impl_fp4 = Location(registration, e.line), fp4
    for e in _region(project, init, layout.EXPORTS):
        _get(ops, e.key).export = Location(init, e.line)
    for e in _region(project, init, layout.ALL):
        _get(ops, e.key).all_entry = Location(init, e.line)

    for cu in sorted(project.csrc_dir.glob("*/*.cu")):
        op = _get(ops, cu.stem)
        op.kernel, op.category = Location(cu, 1), op.category or cu.parent.name
        for i, line in enumerate(cu.read_text().splitlines(), 1):
            if re.match(rf"^cudaError_t\s+launch_{re.escape(cu.stem)}\s*\(", line):
                op.launcher_def = Location(cu, i)
    for py in sorted(project.python_package_dir.glob("*/*.py")):
        if py.name.startswith("_"):
            continue
        op = _get(ops, py.stem)
        op.category = op.category or py.parent.name
        _scan_python(op, py, project.namespace)
    for test in sorted(project.op_tests_dir.glob("test_*.py")):
        _get(ops, test.stem.removeprefix("test_")).test = Location(test, 1)
    for bench in sorted((project.benchmarks_dir / "ops").glob("bench_*.py")):
        _get(ops, bench.stem.removeprefix("bench_")).bench = Location(bench, 1)
    return dict(sorted(ops.items()))


def check(project: Project, ops: dict[str, Op] | None = None) -> list[Finding]:
    """Every missing piece and disagreement, with file:line."""
    ops = scan(project) if ops is None else ops
    header, registration, init = layout.header_file(project), project.registration_file, layout.init_file(project)
    findings: list[Finding] = []
    for op in ops.values():
        cat = op.category or "<category>"

        def missing(what: str, where: Path) -> None:
            findings.append(Finding(op.name, f"missing: {what}", layout.rel(project, where)))

        def bad(what: str, loc: Location) -> None:
            findings.append(Finding(op.name, what, loc.show(project)))

        if op.kernel is None:
            missing("kernel file", layout.kernel_file(project, cat, op.name))
        elif op.launcher_def is None:
            bad(f"kernel file defines no `cudaError_t launch_{op.name}(...)`", op.kernel)
        if op.cmake is None:
            missing(".cu in the CMake source list (an undefined symbol at load)", project.cmake_file)
        elif op.kernel and op.cmake and op.kernel.path.parent.name != op.category:
            bad(f"CMake lists csrc/{op.category}/{op.name}.cu but the file is in {op.kernel.path.parent.name}/", op.cmake)
        if op.launcher_decl is None:
            missing(f"launcher declaration `launch_{op.name}`", header)
        if op.binding is None:
            missing("binding function", registration)
        if op.schema_loc is None:
            missing("m.def schema (declared but not registered)", registration)
        elif op.schema_error:
            bad(op.schema_error, op.schema_loc)
        if op.impl is None:
            missing("m.impl (schema without a CUDA implementation)", registration)
        for piece, loc in op.repeated:
            bad(f"a second {piece} (the first is at {(op.binding if piece == 'binding' else op.impl).show(project)})", loc)
        if op.cmake is not None:
            findings += _fp4_placement(project, op)
        if op.wrapper is None:
            missing("Python wrapper", layout.wrapper_file(project, cat, op.name))
        if op.fake is None:
            what = f'missing: register_fake("{project.namespace}::{op.name}") (torch.compile cannot trace it)'
            if op.wrapper is not None:
                bad(what, op.wrapper)
            else:
                missing(what.removeprefix("missing: "), layout.wrapper_file(project, cat, op.name))
        if op.export is None or op.all_entry is None:
            missing("export from the package (__init__ import and __all__)", init)
        if op.test is None:
            missing("test", layout.test_file(project, op.name))
        if op.bench is None:
            missing("benchmark case", layout.bench_file(project, op.name))
        if op.schema is not None:
            findings += _agreement(project, op)
    return findings


def _fp4_placement(project: Project, op: Op) -> list[Finding]:
    """An FP4 op's binding and m.impl must sit in the fp4-* regions (under #ifdef KERNELKIT_ENABLE_FP4),
    every other op's outside them: its CMake list decides whether its launcher exists in a build."""
    out: list[Finding] = []
    for piece, loc, in_fp4, region in (
        ("binding", op.binding, op.binding_fp4, layout.FP4_BINDINGS.name),
        ("m.impl", op.impl, op.impl_fp4, layout.FP4_IMPLS.name),
    ):
        if loc is None or in_fp4 == op.fp4:
            continue
        if op.fp4:
            message = (
                f"FP4 op (its .cu is in CMake's fp4-sources) but its {piece} is outside region {region}: a build "
                "without --fp4 does not compile its launcher and fails to link; move it into the region "
                "(under #ifdef KERNELKIT_ENABLE_FP4)"
            )
        else:
            message = (
                f"{piece} is in region {region} (FP4 builds only) but the op's .cu is in CMake's sources list: "
                "without --fp4 the op has no CUDA kernel; move it to region "
                f"{layout.BINDINGS.name if piece == 'binding' else layout.IMPLS.name} (or the .cu to fp4-sources)"
            )
        out.append(Finding(op.name, message, loc.show(project)))
    return out


def _agreement(project: Project, op: Op) -> list[Finding]:
    out: list[Finding] = []
    schema = op.schema
    assert schema is not None and op.schema_loc is not None
    arity = len(schema.args)
    if op.binding is not None:
        if len(op.binding_params) != arity:
            out.append(Finding(op.name, f"binding takes {len(op.binding_params)} arguments, schema has {arity}", op.binding.show(project)))
        else:
            for (ctype, pname), arg in zip(op.binding_params, schema.args):
                if ctype.replace(" ", "") != arg.cpp_type.replace(" ", "").replace("torch::stable::", ""):
                    out.append(
                        Finding(op.name, f"binding argument '{pname}' is {ctype}, schema '{arg.schema_type} {arg.name}' needs {arg.cpp_type}", op.binding.show(project))
                    )
    if op.fake is not None and op.fake_params != [a.name for a in schema.args]:
        out.append(
            Finding(op.name, f"fake impl takes ({', '.join(op.fake_params)}), schema has ({', '.join(a.name for a in schema.args)})", op.fake.show(project))
        )
    if op.wrapper is not None:
        if op.wrapper_call_args is None:
            out.append(Finding(op.name, f"wrapper never calls torch.ops.{project.namespace}.{op.name}.default", op.wrapper.show(project)))
        elif op.wrapper_call_keywords or op.wrapper_call_args != arity:
            out.append(
                Finding(op.name, f"wrapper calls the op with {op.wrapper_call_args} positional args{' and keywords' if op.wrapper_call_keywords else ''}; schema has {arity} (pass all, positionally)", op.wrapper.show(project))
            )
    return out
