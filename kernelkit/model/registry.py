"""The op registry as the files define it: every op's pieces, where they are, and whether they agree.

`kernelkit check` reports the findings, `list` shows the ops, `remove` uses the locations.
Everything is read from the op's own files, the two shared lists (CMake, `__init__.py`), tests and
benches; nothing is cached.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.errors import KernelkitError
from kernelkit.model import features, layout, names, regions
from kernelkit.model.schema import Schema, cpp_string_value, parse_schema
from kernelkit.project import Project

# One registration: KERNELKIT_REGISTER_OP(ns, name, &fn, "schema"); the schema may be adjacent string
# literals and the call may be wrapped over lines (a formatter does that).
_REGISTER_RE = re.compile(
    r"\bKERNELKIT_REGISTER_OP\s*\(\s*(?P<ns>\w+)\s*,\s*(?P<name>\w+)\s*,\s*(?P<fn>[^,()]+?)\s*,"
    r"\s*(?P<schema>(?:\"(?:[^\"\\\n]|\\.)*\"\s*)+)\)\s*;"
)
# A host function registered beside an op (KERNELKIT_REGISTER_HOST_FN, same arguments): state the op keeps between
# calls, set up without a tensor to dispatch on (the custom all-reduce's handles). Part of the library's API (release
# compares their schemas), not an op of its own (check and list count KERNELKIT_REGISTER_OP).
_REGISTER_HOST_RE = re.compile(_REGISTER_RE.pattern.replace("KERNELKIT_REGISTER_OP", "KERNELKIT_REGISTER_HOST_FN"))
_STRING_RE = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_CPP_NOISE = re.compile(r"\bconst\b|&|\s+|\btorch::(?:stable|headeronly)::")


def cpp_type_key(ctype: str) -> str:
    """A C++ parameter type as the schema check compares it: no const, reference, spacing or torch:: prefix."""
    return _CPP_NOISE.sub("", ctype)


@dataclass(frozen=True)
class Location:
    path: Path
    line: int

    def show(self, project: Project) -> str:
        return f"{layout.rel(project, self.path)}:{self.line}"


@dataclass(frozen=True)
class Registration:
    """One KERNELKIT_REGISTER_OP call of a binding file."""

    namespace: str
    name: str
    function: str  # the registered function's own name (`&kernelkit::binding::rmsnorm` -> rmsnorm)
    schema_text: str
    line: int


@dataclass
class Op:
    name: str
    category: str | None = None
    kernel: Location | None = None  # csrc/<cat>/<name>.cu
    launcher_def: Location | None = None  # `cudaError_t launch_<name>(` defined in the kernel file
    kernel_includes_header: bool = False
    header: Location | None = None  # include/<pkg>/<cat>/<name>.h
    launcher_decl: Location | None = None
    binding_file: Location | None = None  # csrc/<cat>/<name>.cc
    binding_includes_header: bool = False
    binding: Location | None = None  # `void <fn>(` of the registered function
    binding_params: list[tuple[str, str]] = field(default_factory=list)  # (C++ type, name)
    registration: Location | None = None  # the KERNELKIT_REGISTER_OP line
    registered: Registration | None = None
    schema: Schema | None = None
    schema_error: str | None = None
    cmake: Location | None = None
    cmake_category: str | None = None
    needs: tuple[str, ...] = ()  # the build features of the CMake list holding its line (empty: the plain list)
    wrapper: Location | None = None  # def <name>( in the wrapper file
    wrapper_call_args: int | None = None  # positional args of torch.ops.<ns>.<name>.default(...)
    wrapper_call_keywords: bool = False
    # feature -> whether its wrapper calls require_<feature>(...) first, i.e. among the require calls that open it
    # (True), or later (False); absent: never
    wrapper_requires: dict[str, bool] = field(default_factory=dict)
    fake: Location | None = None  # optional: torch derives one for a mutating `-> ()` op
    fake_params: list[str] = field(default_factory=list)
    export: Location | None = None
    all_entry: Location | None = None
    test: Location | None = None
    bench: Location | None = None
    repeated: list[tuple[str, Location, Location]] = field(default_factory=list)  # (piece, first, second)

    @property
    def fp4(self) -> bool:
        """In a CMake list that needs FP4 (fp4-ops, fp4-cutlass-ops): compiled and registered only in FP4 builds."""
        return features.FP4.name in self.needs

    @property
    def op_list(self) -> features.OpList | None:
        """The CMake list its line is in (None: no line)."""
        return features.list_for(self.needs) if self.cmake is not None else None

    @property
    def files(self) -> list[Path]:
        """The op's own files (what `remove` deletes)."""
        locations = (self.kernel, self.header, self.binding_file, self.wrapper, self.test, self.bench)
        return [loc.path for loc in locations if loc is not None]

    @property
    def dtypes(self) -> list[str]:
        """Dtypes the kernel dispatches, read from its .cu and the kernelkit/*.cuh headers it includes."""
        if self.kernel is None:
            return []
        text = self.kernel.path.read_text()
        include_dir = self.kernel.path.parents[2] / "include"
        for header in re.findall(r'#include\s+"(kernelkit/[\w./]+\.cuh)"', text):
            path = include_dir / header
            if path.is_file() and header != "kernelkit/core/dispatch.cuh":  # dispatch.cuh names every dtype
                text += path.read_text()
        if "dispatch_float_dtype(" in text:
            return ["bf16", "fp16", "fp32"]
        return [d for d, token in (("bf16", "kBFloat16"), ("fp16", "kFloat16"), ("fp32", "kFloat32")) if token in text]


@dataclass(frozen=True)
class Finding:
    op: str
    message: str
    where: str  # file:line, or a path when the piece is missing


# ----------------------------------------------------------------------------------- C++ reading


def code_only(text: str) -> str:
    """`text` with its comments blanked out (same length, same line breaks): regexes then see only code."""
    out = list(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out[i:j] = " " * (j - i)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out[i:j] = [ch if ch == "\n" else " " for ch in text[i:j]]
            i = j
        else:
            i += 1
    return "".join(out)


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _registered_with(pattern: re.Pattern[str], text: str) -> list[Registration]:
    code = code_only(text)
    found = []
    for match in pattern.finditer(code):
        schema = cpp_string_value("".join(_STRING_RE.findall(match.group("schema"))))
        function = match.group("fn").strip().lstrip("&").split("::")[-1].strip()
        found.append(
            Registration(match.group("ns"), match.group("name"), function, schema, _line_at(code, match.start()))
        )
    return found


def registrations(text: str) -> list[Registration]:
    """Every KERNELKIT_REGISTER_OP call of a binding file's text, comments ignored."""
    return _registered_with(_REGISTER_RE, text)


def host_functions(text: str) -> list[Registration]:
    """Every KERNELKIT_REGISTER_HOST_FN call of a binding file's text, comments ignored."""
    return _registered_with(_REGISTER_HOST_RE, text)


def _split_params(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return [p.strip() for p in [*parts, current] if p.strip()]


def _function(code: str, name: str) -> tuple[int, list[tuple[str, str]]] | None:
    """(line, [(C++ type, name)]) of the definition `void name(...) {` in `code`, if any."""
    for match in re.finditer(rf"\bvoid\s+{re.escape(name)}\s*\(", code):
        depth, i = 1, match.end()
        while i < len(code) and depth:
            depth += {"(": 1, ")": -1}.get(code[i], 0)
            i += 1
        if not code[i:].lstrip().startswith("{"):
            continue  # a declaration
        params = []
        for raw in _split_params(code[match.end() : i - 1]):
            raw = re.sub(r"\s*=.*$", "", raw, flags=re.S)  # a default argument
            raw = re.sub(r"\s+", " ", raw.replace("&", " & ")).strip()
            ctype, _, pname = raw.rpartition(" ")
            params.append((cpp_type_key(ctype), pname))
        return _line_at(code, match.start()), params
    return None


def _includes(code: str, header: str) -> bool:
    return re.search(rf'^\s*#\s*include\s*"{re.escape(header)}"', code, re.M) is not None


# ----------------------------------------------------------------------------------------- scan


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise KernelkitError(f"{path}: missing (is this a kernelkit project? `kernelkit init` makes one)") from None


def _get(ops: dict[str, Op], name: str) -> Op:
    return ops.setdefault(name, Op(name))


def _place(op: Op, piece: str, attr: str, loc: Location) -> bool:
    """Record `loc` as the op's `attr`; a second one is recorded as repeated. True when it was the first."""
    first = getattr(op, attr)
    if first is not None:
        op.repeated.append((piece, first, loc))
        return False
    setattr(op, attr, loc)
    return True


def _scan_python(op: Op, path: Path, namespace: str) -> None:
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        _place(op, "Python wrapper", "wrapper", Location(path, exc.lineno or 1))
        return
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        if node.name == op.name:
            if not _place(op, "Python wrapper", "wrapper", Location(path, node.lineno)):
                continue
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and _is_torch_op_call(call.func, namespace, op.name):
                    op.wrapper_call_args = len(call.args)
                    op.wrapper_call_keywords = bool(call.keywords)
                feature = _required_feature(call)
                if feature is not None:
                    op.wrapper_requires.setdefault(feature, False)
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            for statement in body:  # the require calls that open the body (one per feature its list needs)
                feature = _required_feature(statement.value) if isinstance(statement, ast.Expr) else None
                if feature is None:
                    break
                op.wrapper_requires[feature] = True
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


def _required_feature(node: ast.AST) -> str | None:
    """The feature a `require_<feature>(...)` call (any qualification: `_library.require_fp4`) asks for."""
    if not isinstance(node, ast.Call):
        return None
    called = ast.unparse(node.func).rpartition(".")[2]
    return next((f.name for f in features.FEATURES if called == f.require), None)


def _is_torch_op_call(func: ast.expr, namespace: str, name: str) -> bool:
    text = ast.unparse(func)
    return text in (f"torch.ops.{namespace}.{name}.default", f"torch.ops.{namespace}.{name}")


def _scan_binding(project: Project, op: Op, path: Path) -> None:
    if not _place(op, "binding file", "binding_file", Location(path, 1)):
        return
    text = path.read_text()
    code = code_only(text)
    op.binding_includes_header = _includes(code, layout.header_include(project, path.parent.name, op.name))
    found = registrations(text)
    for reg in found[1:]:
        op.repeated.append(("KERNELKIT_REGISTER_OP", Location(path, found[0].line), Location(path, reg.line)))
    if not found:
        return
    reg = found[0]
    op.registered, op.registration = reg, Location(path, reg.line)
    try:
        op.schema = parse_schema(reg.schema_text)
    except KernelkitError as exc:
        op.schema_error = str(exc)
    function = _function(code, reg.function)
    if function is not None:
        op.binding = Location(path, function[0])
        op.binding_params = function[1]


def scan(project: Project) -> dict[str, Op]:
    """Every op named anywhere in its own files, the shared lists, tests or benches, with what was found where."""
    ops: dict[str, Op] = {}
    init = layout.init_file(project)

    cmake_text = _read(project.cmake_file)
    for op_list in features.op_lists(cmake_text):
        for e in regions.entries(cmake_text, op_list.region, layout.rel(project, project.cmake_file)):
            op = _get(ops, e.key)
            if _place(op, "CMake entry", "cmake", Location(project.cmake_file, e.line)):
                op.needs, op.cmake_category = op_list.names, e.text.strip().split("/")[0]
    init_text = _read(init)
    for e in regions.entries(init_text, layout.EXPORTS, layout.rel(project, init)):
        _get(ops, e.key).export = Location(init, e.line)
    for e in regions.entries(init_text, layout.ALL, layout.rel(project, init)):
        _get(ops, e.key).all_entry = Location(init, e.line)

    for cu in sorted(project.csrc_dir.glob("*/*.cu")):
        op = _get(ops, cu.stem)
        if not _place(op, "kernel file", "kernel", Location(cu, 1)):
            continue
        code = code_only(cu.read_text())
        op.kernel_includes_header = _includes(code, layout.header_include(project, cu.parent.name, op.name))
        match = re.search(rf"^\s*cudaError_t\s+(?:kernelkit::)?launch_{re.escape(cu.stem)}\s*\(", code, re.M)
        if match:
            op.launcher_def = Location(cu, _line_at(code, match.start()))
    for cc in sorted(project.csrc_dir.glob("*/*.cc")):
        _scan_binding(project, _get(ops, cc.stem), cc)
    headers = project.include_dir / project.name
    for h in sorted(headers.glob("*/*.h")) if headers.is_dir() else []:
        op = _get(ops, h.stem)
        if not _place(op, "launcher header", "header", Location(h, 1)):
            continue
        code = code_only(h.read_text())
        match = re.search(rf"\bcudaError_t\s+launch_{re.escape(h.stem)}\s*\(", code)
        if match:
            op.launcher_decl = Location(h, _line_at(code, match.start()))
    for py in sorted(project.python_package_dir.glob("*/*.py")):
        if not py.name.startswith("_"):
            _scan_python(_get(ops, py.stem), py, project.namespace)
    for test in sorted(project.op_tests_dir.glob("*/test_*.py")):  # tests/ops/<category>/test_<op>.py
        _place(_get(ops, test.stem.removeprefix("test_")), "test", "test", Location(test, 1))
    for bench in sorted((project.benchmarks_dir / "ops").glob("*/bench_*.py")):
        _place(_get(ops, bench.stem.removeprefix("bench_")), "benchmark", "bench", Location(bench, 1))

    for op in ops.values():
        op.category = next((c for c in _categories(project, op).values() if c), None)
    return dict(sorted(ops.items()))


def _categories(project: Project, op: Op) -> dict[str, str | None]:
    """Which category folder each piece is in, the kernel first (it names the op's category)."""

    def folder(loc: Location | None, base: Path) -> str | None:
        if loc is None:
            return None
        parts = loc.path.relative_to(base).parts
        return parts[0] if len(parts) == 2 else None

    return {
        "kernel file": folder(op.kernel, project.csrc_dir),
        "binding file": folder(op.binding_file, project.csrc_dir),
        "launcher header": folder(op.header, project.include_dir / project.name),
        "CMake entry": op.cmake_category,
        "Python wrapper": folder(op.wrapper, project.python_package_dir),
        "test": folder(op.test, project.op_tests_dir),
        "benchmark": folder(op.bench, project.benchmarks_dir / "ops"),
    }


# ---------------------------------------------------------------------------------------- check


def check(project: Project, ops: dict[str, Op] | None = None) -> list[Finding]:
    """Every missing piece and disagreement, with file:line."""
    ops = scan(project) if ops is None else ops
    found = [finding for op in ops.values() for finding in _op_findings(project, op)]
    return found + [Finding(f.op, f.message, f.where) for f in names.findings(project, ops)]


def _op_findings(project: Project, op: Op) -> list[Finding]:
    init = layout.init_file(project)
    findings: list[Finding] = []
    cat = op.category or "<category>"

    def missing(what: str, where: Path) -> None:
        findings.append(Finding(op.name, f"missing: {what}", layout.rel(project, where)))

    def bad(what: str, loc: Location) -> None:
        findings.append(Finding(op.name, what, loc.show(project)))

    header = layout.header_include(project, cat, op.name)
    launcher = f"`cudaError_t launch_{op.name}(...)`"
    if op.kernel is None:
        missing("kernel file", layout.kernel_file(project, cat, op.name))
    else:
        if op.launcher_def is None:
            bad(f"kernel file defines no {launcher}", op.kernel)
        if not op.kernel_includes_header:
            bad(f'kernel file does not include its launcher header "{header}"', op.kernel)
    if op.header is None:
        missing(f"launcher header declaring {launcher}", layout.header_file(project, cat, op.name))
    elif op.launcher_decl is None:
        bad(f"launcher header declares no {launcher}", op.header)
    if op.binding_file is None:
        missing("binding file (binding + KERNELKIT_REGISTER_OP)", layout.binding_file(project, cat, op.name))
    else:
        if not op.binding_includes_header:
            bad(f'binding file does not include its launcher header "{header}"', op.binding_file)
        if op.registered is None:
            bad(
                f"missing: KERNELKIT_REGISTER_OP({project.namespace}, {op.name}, "
                f'&kernelkit::binding::{op.name}, "...") '
                "(the op is never registered)",
                op.binding_file,
            )
        else:
            _registration_findings(project, op, bad)
    if op.cmake is None:
        missing(f"CMake entry `{cat}/{op.name}` (the op is never built)", project.cmake_file)
    for piece, first, second in op.repeated:
        bad(f"a second {piece} (the first is at {first.show(project)})", second)
    _category_findings(project, op, findings)
    if op.wrapper is None:
        missing("Python wrapper", layout.wrapper_file(project, cat, op.name))
    elif op.cmake is not None:
        _feature_findings(op, bad)
    if op.export is None or op.all_entry is None:
        missing("export from the package (__init__ import and __all__)", init)
    if op.test is None:
        missing("test", layout.test_file(project, cat, op.name))
    if op.bench is None:
        missing("benchmark case", layout.bench_file(project, cat, op.name))
    if op.schema is not None:
        findings += _agreement(project, op)
    return findings


def _feature_findings(op: Op, bad) -> None:
    """The wrapper's require_<feature> calls and the CMake list the op is in agree: an op of a list that needs
    features opens its wrapper with a require call for each (else a build without one fails with an AttributeError
    instead of saying how to get it), and no wrapper asks for a feature its list does not need."""
    own = op.op_list
    assert op.wrapper is not None and own is not None
    for feature in own.needs:
        if op.wrapper_requires.get(feature.name) is not True:
            bad(
                f"{own.title} op (its line is in CMake's {own.region.name} list) but its wrapper does not call "
                f'_library.{feature.require}("{op.name}") first: {feature.without} the op is not registered, and the '
                "wrapper would fail with an AttributeError instead of saying how to rebuild",
                op.wrapper,
            )
    listed = f"{own.region.name} list, compiled {own.built_when}" if own.needs else "ops list (built in every build)"
    for name in op.wrapper_requires:
        if name not in own.names:
            other = features.BY_NAME[name]
            # Where the wrapper's calls say the op belongs: the list of exactly the features it asks for.
            asked = features.list_for(op.wrapper_requires) or features.list_for([name])
            assert asked is not None
            bad(
                f"its wrapper calls {other.require}, but the op is in CMake's {listed}: move its line to "
                f"{asked.region.name}, or drop the call",
                op.cmake,
            )


def _registration_findings(project: Project, op: Op, bad) -> None:
    reg, loc = op.registered, op.registration
    assert reg is not None and loc is not None
    if reg.namespace != project.namespace:
        bad(f"registered in namespace '{reg.namespace}', the project's is '{project.namespace}'", loc)
    if reg.name != op.name:
        bad(f"registers op '{reg.name}' in the binding file of '{op.name}'", loc)
    if op.schema_error:
        bad(op.schema_error, loc)
    elif op.schema is not None and op.schema.name != op.name:
        bad(f"schema names op '{op.schema.name}', the registration '{op.name}'", loc)
    if op.binding is None:
        bad(f"binding file defines no `void {reg.function}(...)` (the function KERNELKIT_REGISTER_OP registers)", loc)


def _category_findings(project: Project, op: Op, findings: list[Finding]) -> None:
    """Every piece in the op's category folder (the kernel's); the CMake entry names that folder too."""
    locations = {
        "kernel file": op.kernel,
        "binding file": op.binding_file,
        "launcher header": op.header,
        "CMake entry": op.cmake,
        "Python wrapper": op.wrapper,
        "test": op.test,
        "benchmark": op.bench,
    }
    for piece, category in _categories(project, op).items():
        loc = locations[piece]
        if loc is None or category == op.category:
            continue
        if piece == "CMake entry":
            message = f"CMake lists {category}/{op.name} but the op's files are in {op.category}/"
        elif category is None:
            message = f"{piece} is not in a category folder (expected {op.category}/)"
        else:
            message = f"{piece} is in {category}/ but the op's category is {op.category}/"
        findings.append(Finding(op.name, message, loc.show(project)))


def _agreement(project: Project, op: Op) -> list[Finding]:
    out: list[Finding] = []
    schema = op.schema
    assert schema is not None
    arity = len(schema.args)
    if op.binding is not None:
        if len(op.binding_params) != arity:
            message = f"binding takes {len(op.binding_params)} arguments, schema has {arity}"
            out.append(Finding(op.name, message, op.binding.show(project)))
        else:
            for (ctype, pname), arg in zip(op.binding_params, schema.args):
                if ctype != cpp_type_key(arg.cpp_type):
                    message = (
                        f"binding argument '{pname}' is {ctype}, "
                        f"schema '{arg.schema_type} {arg.name}' needs {arg.cpp_type}"
                    )
                    out.append(Finding(op.name, message, op.binding.show(project)))
    if op.fake is not None and op.fake_params != [a.name for a in schema.args]:
        message = (
            f"fake impl takes ({', '.join(op.fake_params)}), schema has ({', '.join(a.name for a in schema.args)})"
        )
        out.append(Finding(op.name, message, op.fake.show(project)))
    if op.wrapper is not None:
        if op.wrapper_call_args is None:
            message = f"wrapper never calls torch.ops.{project.namespace}.{op.name}.default"
            out.append(Finding(op.name, message, op.wrapper.show(project)))
        elif op.wrapper_call_keywords or op.wrapper_call_args != arity:
            keywords = " and keywords" if op.wrapper_call_keywords else ""
            message = (
                f"wrapper calls the op with {op.wrapper_call_args} positional args{keywords}; "
                f"schema has {arity} (pass all, positionally)"
            )
            out.append(Finding(op.name, message, op.wrapper.show(project)))
    return out
