"""`kernelkit new` and `kernelkit remove` as ChangeSets: an op's own files, rendered from the templates in
kernelkit/scaffolds/op/ or copied from an existing op (`--like`), plus its line in the CMake op list and
its export; or all of that taken out again.

Nothing here writes files: kernelkit.codegen.transaction applies the ChangeSet atomically.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from kernelkit.codegen import _codefmt as codefmt
from kernelkit.codegen.transaction import ChangeSet, read_exact
from kernelkit.errors import KernelkitError
from kernelkit.model import features, layout, names, regions, registry
from kernelkit.model.schema import Arg, Schema, cpp_string_literal, parse_schema, torch_checked
from kernelkit.project import Project

TEMPLATES = ("elementwise", "rowwise", "custom")
FIXED_SCHEMAS = {
    "elementwise": "(Tensor! out, Tensor input, float scale, bool enable_pdl) -> ()",
    "rowwise": "(Tensor! out, Tensor input, float eps, bool enable_pdl) -> ()",
}
DTYPES = {  # CLI name -> (launcher enum, torch dtype, human name)
    "bf16": ("DType::kBFloat16", "torch.bfloat16", "bfloat16"),
    "fp16": ("DType::kFloat16", "torch.float16", "float16"),
    "fp32": ("DType::kFloat32", "torch.float32", "float32"),
}
PARTS = ("cu", "h", "cc", "wrapper.py", "test.py", "bench.py")

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("kernelkit", "scaffolds"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=False,
)
_env.globals.update(
    cpp_call=codefmt.cpp_call,
    cpp_signature=codefmt.cpp_signature,
    cpp_assign=codefmt.cpp_assign,
    py_call=codefmt.py_call,
    py_string=codefmt.py_string,
)
_env.filters.update(comment=codefmt.comment, docwrap=codefmt.docwrap)


@dataclass(frozen=True)
class NewOp:
    name: str
    category: str | None = None  # None: misc, or the category of the op `like` names
    template: str | None = None  # None: elementwise, or custom when `schema` is given
    dtypes: tuple[str, ...] | None = None  # None: all three
    schema: str | None = None  # custom only
    needs: tuple[str, ...] = ()  # build features (fp4, cutlass): the op goes into the CMake list of exactly these
    like: str | None = None  # copy this existing op instead of rendering a template


def validate_name(name: str, taken: names.Taken, category: str | None = None) -> None:
    problem = names.op_name_problem(name, taken, category)
    if problem:
        raise KernelkitError(problem, exit_code=2)


def validate_category(category: str, taken: names.Taken, op: str) -> None:
    problem = names.category_problem(category, taken, [op])
    if problem:
        raise KernelkitError(problem, exit_code=2)


def parse_dtypes(text: str) -> tuple[str, ...]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    aliases = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}
    items = [aliases.get(i, i) for i in items]
    unknown = [i for i in items if i not in DTYPES]
    if unknown or not items:
        raise KernelkitError(
            f"--dtypes: unknown {', '.join(unknown) or '(empty)'}; choose from bf16, fp16, fp32", exit_code=2
        )
    return tuple(d for d in DTYPES if d in items)  # canonical order, no repeats


camel = names.camel


# --------------------------------------------------------------------------------- template context


def _docstring_safe(text: str) -> str:
    """`text` as it reads the same inside a triple-quoted Python docstring: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _test_value(arg: Arg) -> str:
    """A Python expression for the argument in generated tests and benches (`shape`, `dtype`, `device` in scope)."""
    if arg.base == "Tensor":
        if arg.is_list:
            return "[torch.randn(shape, device=device, dtype=dtype)]"
        if arg.optional:
            return "None"
        if arg.mutable:
            return "torch.empty(shape, device=device, dtype=dtype)"
        return "torch.randn(shape, device=device, dtype=dtype)"
    if arg.py_default is not None:
        return arg.py_default
    if arg.optional:
        return "None"
    simple = {
        "int": "1",
        "float": "0.5",
        "bool": "False",
        "str": '"x"',
        "ScalarType": "torch.float32",
        "Device": "torch.device(device)",
    }
    return f"[{simple[arg.base]}]" if arg.is_list else simple[arg.base]


@dataclass
class _ArgView:
    """An Arg plus what the templates need to render it."""

    arg: Arg
    test_value: str = field(default="")

    def __getattr__(self, item):
        return getattr(self.arg, item)


@dataclass
class _CustomPlan:
    """How every argument of a custom schema reaches the launcher."""

    launcher_params: list[str] = field(default_factory=list)
    launcher_args: list[str] = field(default_factory=list)  # in the binding, one per launcher parameter
    prelaunch: list[str] = field(default_factory=list)  # binding lines that build what the launcher takes
    derived: list[str] = field(default_factory=list)  # names the plan makes up (must not be argument names)


def _custom_plan(schema: Schema, input_name: str) -> _CustomPlan:
    plan = _CustomPlan()
    scalar = {"int": "int64_t", "float": "double", "bool": "bool"}
    for a in schema.args:
        n = a.name
        if a.base == "Tensor" and a.is_list:
            plan.launcher_params += [f"const void* const* {n}", f"int64_t {n}_count"]
            plan.launcher_args += [f"{n}_ptrs.data()", f"static_cast<int64_t>({n}_ptrs.size())"]
            plan.prelaunch += [
                f"std::vector<const void*> {n}_ptrs;",
                f"for (Tensor& t : {n}) {n}_ptrs.push_back(t.data_ptr());",
            ]
            plan.derived += [f"{n}_count", f"{n}_ptrs"]
        elif a.base == "Tensor":
            plan.launcher_params.append(f"{'void' if a.mutable else 'const void'}* {n}")
            plan.launcher_args.append(f"{n} ? {n}->data_ptr() : nullptr" if a.optional else f"{n}.data_ptr()")
        elif a.is_list:
            elem = {"int": "int64_t", "float": "double", "bool": "uint8_t"}[a.base]
            plan.launcher_params += [f"const {elem}* {n}", f"int64_t {n}_size"]
            plan.derived.append(f"{n}_size")
            if a.base == "bool":  # std::vector<bool> has no data(): its values as bytes
                plan.derived.append(f"{n}_bytes")
                if a.optional:
                    plan.prelaunch += [
                        f"std::vector<uint8_t> {n}_bytes;",
                        f"if ({n}) {n}_bytes.assign({n}->begin(), {n}->end());",
                    ]
                    plan.launcher_args += [
                        f"{n} ? {n}_bytes.data() : nullptr",
                        f"static_cast<int64_t>({n}_bytes.size())",
                    ]
                else:
                    plan.prelaunch.append(f"const std::vector<uint8_t> {n}_bytes({n}.begin(), {n}.end());")
                    plan.launcher_args += [f"{n}_bytes.data()", f"static_cast<int64_t>({n}_bytes.size())"]
            elif a.optional:
                plan.launcher_args += [f"{n} ? {n}->data() : nullptr", f"{n} ? static_cast<int64_t>({n}->size()) : 0"]
            else:
                plan.launcher_args += [f"{n}.data()", f"static_cast<int64_t>({n}.size())"]
        elif a.base in scalar:
            if a.optional:
                plan.launcher_params.append(f"const {scalar[a.base]}* {n}")
                plan.launcher_args.append(f"{n} ? &*{n} : nullptr")
            else:
                plan.launcher_params.append(f"{scalar[a.base]} {n}")
                plan.launcher_args.append(n)
        elif a.base == "str":
            plan.launcher_params.append(f"const char* {n}")
            plan.launcher_args.append(f"{n} ? {n}->c_str() : nullptr" if a.optional else f"{n}.c_str()")
        else:  # ScalarType (its code) and Device (its index): no torch types cross into the kernel file
            value = "static_cast<int32_t>({})" if a.base == "ScalarType" else "static_cast<int32_t>({}.index())"
            plan.launcher_params.append(f"int32_t {n}")
            if a.optional:
                inner = value.format(f"*{n}") if a.base == "ScalarType" else f"static_cast<int32_t>({n}->index())"
                plan.launcher_args.append(f"{n} ? {inner} : -1")
            else:
                plan.launcher_args.append(value.format(n))
    plan.launcher_params += ["int64_t numel", "DType dtype", "cudaStream_t stream"]
    plan.launcher_args += [f"{input_name}.numel()", "dtype", "current_cuda_stream(device)"]
    return plan


def _pdl_arg(schema: Schema) -> Arg | None:
    plain_bools = (a for a in schema.args if a.base == "bool" and not a.is_list and not a.optional)
    return next((a for a in plain_bools if a.name == "enable_pdl"), None)


def _context(project: Project, req: NewOp, schema: Schema) -> dict:
    template, category, dtypes = req.template, req.category, req.dtypes
    assert template is not None and category is not None and dtypes is not None
    header_include = layout.header_include(project, category, req.name)
    core = ["kernelkit/core/dispatch.cuh", "kernelkit/core/pdl.cuh", "kernelkit/core/vec.cuh"]
    if template == "rowwise":
        core.append("kernelkit/core/reduce.cuh")
    op_list = features.list_for(req.needs)
    assert op_list is not None  # plan_new checked it
    py_imports = [f"from {project.name} import _library"] if op_list.needs else []
    enums = ", ".join(DTYPES[d][0] for d in dtypes)
    ctx = {
        "name": req.name,
        "camel": camel(req.name),
        "category": category,
        "package": project.name,
        "namespace": project.namespace,
        "schema": schema.render(),
        "schema_literal": cpp_string_literal(schema.render()),  # what KERNELKIT_REGISTER_OP registers
        "schema_doc": _docstring_safe(schema.render()),  # in a Python docstring
        "header_include": header_include,
        "kernel_includes": sorted([*core, header_include]),
        "binding_includes": [header_include, "kernelkit/binding.h"],  # the op's own header first
        "binding_params": [f"{a.cpp_type} {a.name}" for a in schema.args],
        "dtype_enums": enums,
        "py_dtypes_list": ", ".join(DTYPES[d][1] for d in dtypes),
        "other_dtypes": ", ".join(DTYPES[d][1] for d in DTYPES if d not in dtypes),
        "dtype_names": "/".join(DTYPES[d][2] for d in dtypes),
        "dtype_names_comma": ", ".join(DTYPES[d][2] for d in dtypes),
        "bench_dtype": DTYPES["bf16" if "bf16" in dtypes else dtypes[0]][2],
        "args": [_ArgView(a, _test_value(a)) for a in schema.args],
        "features": [_feature_context(f, project.name) for f in op_list.needs],
        "op_list": {
            "without": " or the ".join(f.gates for f in op_list.needs),
            "needs_doc": ", and ".join(f"the {f.gates}, compiled {f.built_when}" for f in op_list.needs),
            "intro": f"{op_list.article.capitalize()} {op_list.title} op: compiled and registered "
            + "; and ".join(f.built_when for f in op_list.needs)
            + f". Without the {' or the '.join(f.gates for f in op_list.needs)} only the wrapper's error is "
            "testable; everything else skips, saying why.",
            # what a generated test's fixture compares the test's name with: the tests that run without a feature
            "runs_without": f"!= _RUNS_WITHOUT_{op_list.needs[0].name.upper()}"
            if len(op_list.needs) == 1
            else "not in _RUNS_WITHOUT",
        }
        if op_list.needs
        else None,
        "wrapper_required": 1,  # positional arguments the wrapper cannot do without (the feature test passes None)
        # One block, as isort sorts it: the package is a third-party module to its tests.
        "test_import_block": "\n".join(
            [f"import {m}" for m in sorted({"pytest", "torch", project.name})]
            + ["from torch._subclasses.fake_tensor import FakeTensorMode"]
        ),
    }
    if template in ("elementwise", "rowwise"):
        value = "scale" if template == "elementwise" else "eps"
        ctx["launcher_params"] = [
            "void* out", "int64_t out_row_stride", "const void* input", "int64_t input_row_stride", "int64_t num_rows",
            "int64_t hidden", f"double {value}", "bool enable_pdl", "DType dtype", "cudaStream_t stream",
        ]  # fmt: skip
        ctx["launcher_doc"] = (
            f"{req.name}: out[r, :] = input[r, :] * scale over the rows of [num_rows, hidden]; strides in elements."
            if template == "elementwise"
            else f"{req.name}: out[r, :] = input[r, :] * rsqrt(mean(input[r, :]^2) + eps) over the rows of "
            "[num_rows, hidden]; strides in elements."
        ) + " With enable_pdl, a programmatic dependent launch."
        py_imports.append(f"from {project.name}._defaults import pdl_default")
    else:
        ctx.update(_custom_context(project, req, schema, py_imports))
    ctx["py_import_block"] = "\n\n" + "\n".join(py_imports) if py_imports else ""
    return ctx


def _feature_context(feature: features.Feature, package: str) -> dict:
    """What the wrapper and test templates say about an op of a build feature's list."""
    return {
        "name": feature.name,
        "title": feature.title,
        "article": feature.article.capitalize(),
        "gates": feature.gates,
        "built_when": feature.built_when,
        "require": feature.require,
        "enabled": feature.enabled,
        "upper": feature.name.upper(),
        "fixture": f"_needs_{feature.slug}",
        "test": f"test_without_{feature.slug}_the_wrapper_says_how_to_build",
        "skip_reason": f"{package} was {feature.built_without} ({feature.get_short})",
        # The start of the package's require_<feature> message (its _library.py), as the test's regex.
        "error": f"{package} was {feature.built_without}; {feature.require_how}",
    }


def _custom_context(project: Project, req: NewOp, schema: Schema, py_imports: list[str]) -> dict:
    outs, ins = schema.mutable_tensors, schema.input_tensors
    if not outs or not ins:
        raise KernelkitError(
            f"schema '{schema.render()}': the custom template needs at least one 'Tensor! out' to write and one "
            "'Tensor' input (its default kernel writes out = input * scale)",
            exit_code=2,
        )
    out, inp = outs[0], ins[0]
    scale = next((a for a in schema.args if a.base == "float" and not a.is_list and not a.optional), None)
    pdl = _pdl_arg(schema)
    index = {a.name: i for i, a in enumerate(schema.args)}
    plan = _custom_plan(schema, inp.name)
    clash = sorted(set(plan.derived) & set(index))
    if clash:
        raise KernelkitError(
            f"schema argument names {', '.join(clash)} clash with names the generated code derives from other "
            "arguments (NAME_size, NAME_count, NAME_ptrs, NAME_bytes)",
            exit_code=2,
        )
    tensors = [a for a in schema.args if a.base == "Tensor" and not a.is_list]
    ordered = [inp, out] + [a for a in tensors if a.name not in (inp.name, out.name)]
    checks = [f'{{"{a.name}", {f"{a.name} ? *{a.name} : {inp.name}" if a.optional else a.name}}}' for a in ordered]
    used = {out.name, inp.name, "numel", "dtype", "stream"} | {a.name for a in (scale, pdl) if a is not None}
    # The wrapper: schema order; enable_pdl becomes `bool | None` (None: pdl_default), with a default when
    # every argument after it has one.
    wrapper_params, wrapper_call, required = [], [], 0
    for i, a in enumerate(schema.args):
        if pdl is not None and a is pdl:
            tail_defaults = all(b.default is not None for b in schema.args[i + 1 :])
            wrapper_params.append(f"{a.name}: bool | None" + (" = None" if tail_defaults else ""))
            wrapper_call.append(f"pdl_default({inp.name}, {a.name})")
            required += not tail_defaults
            continue
        default = f" = {a.py_default}" if a.py_default is not None else ""
        wrapper_params.append(f"{a.name}: {a.py_type}{default}")
        wrapper_call.append(a.name)
        required += not default
    if pdl is not None:
        py_imports.append(f"from {project.name}._defaults import pdl_default")
    return {
        "out": out,
        "input": inp,
        "out_index": index[out.name],
        "input_index": index[inp.name],
        "scale_cpp": scale.name if scale else "1.0",
        "scale_ref": f"args[{index[scale.name]}]" if scale else "1.0",
        "scale_expr": scale.name if scale else "1",
        "pdl_arg": pdl.name if pdl else "",
        "pdl_index": index[pdl.name] if pdl else -1,
        "pdl_expr": pdl.name if pdl else "false",
        "launcher_params": plan.launcher_params,
        "launcher_args": plan.launcher_args,
        "launcher_doc": (
            f"{req.name}: every argument of its schema ({schema.render()}): tensors as data pointers, lists as a "
            "pointer and a length, optional values as a pointer (nullptr for None); str as a C string, ScalarType "
            f"as its code and Device as its index (-1 for None). Then {inp.name}'s element count and dtype."
        ),
        "prelaunch": plan.prelaunch,
        "device_checks": checks,
        "optional_tensors": [a.name for a in tensors if a.optional],
        "list_tensors": [a.name for a in schema.args if a.base == "Tensor" and a.is_list],
        "unused_launcher_args": [
            p.rpartition(" ")[2] for p in plan.launcher_params if p.rpartition(" ")[2] not in used
        ],
        "wrapper_params": wrapper_params,
        "wrapper_call": wrapper_call,
        "wrapper_required": required,
    }


def _render(template: str, part: str, ctx: dict) -> str:
    name = "op/_header.h.j2" if part == "h" else f"op/{template}.{part}.j2"
    return _env.get_template(name).render(ctx).rstrip("\n") + "\n"


# ----------------------------------------------------------------------------------------------- new


def _files(project: Project, category: str, name: str) -> dict[str, Path]:
    return {
        "cu": layout.kernel_file(project, category, name),
        "h": layout.header_file(project, category, name),
        "cc": layout.binding_file(project, category, name),
        "wrapper.py": layout.wrapper_file(project, category, name),
        "test.py": layout.test_file(project, category, name),
        "bench.py": layout.bench_file(project, category, name),
    }


def category_init_text(category: str) -> str:
    """What `new` writes as a new category's package `__init__.py` (and all `remove` takes back out)."""
    return f'"""{category} ops."""\n'


def plan_new(project: Project, req: NewOp) -> ChangeSet:
    """Everything `new` would write, validated; raises KernelkitError before anything is planned wrong."""
    existing = registry.scan(project)
    if not names.NAME_RE.fullmatch(req.name) or len(req.name) > names.MAX_NAME_LENGTH:
        validate_name(req.name, names.Taken(project))  # the shape first: the rest of the message quotes it
    if req.name in existing:
        op = existing[req.name]
        locations = (op.kernel, op.header, op.binding_file, op.cmake, op.wrapper, op.test, op.bench)
        where = next((loc.show(project) for loc in locations if loc), "the project")
        raise KernelkitError(
            f"op '{req.name}' already exists ({where}); pick another name or `kernelkit remove {req.name}`", exit_code=2
        )
    like = existing.get(req.like or "")
    taken = _taken(project, existing, like)
    if req.like is not None:
        contents, category, op_list = _like(project, req, existing, taken)
    else:
        req = _with_defaults(req)
        assert req.category is not None and req.template is not None
        category, op_list = req.category, _op_list(req.needs)
        _check_list(project, op_list)
        validate_name(req.name, taken, category)
        validate_category(category, taken, req.name)
        schema = _request_schema(req, taken)
        ctx = _context(project, req, schema)
        contents = {part: _render(req.template, part, ctx) for part in PARTS}

    files = _files(project, category, req.name)
    for path in files.values():
        if path.exists():
            raise KernelkitError(f"{layout.rel(project, path)} already exists; not overwriting it", exit_code=2)

    changes = ChangeSet(project.root)
    for part, path in files.items():
        changes.write(path, contents[part])
    category_init = project.python_package_dir / category / "__init__.py"
    if not category_init.exists():
        changes.write(category_init, category_init_text(category))

    init = layout.init_file(project)
    edits = [
        (project.cmake_file, op_list.region, layout.cmake_entry(category, req.name)),
        (init, layout.EXPORTS, layout.export_entry(project, category, req.name)),
        (init, layout.ALL, f'    "{req.name}",'),
    ]
    for path, spec, entry in edits:
        text = changes.current(path)
        if text is None:
            raise KernelkitError(f"{layout.rel(project, path)} is missing")
        changes.write(path, regions.insert(text, spec, req.name, entry, layout.rel(project, path)))
    _validate_python(changes)
    return changes


def _with_defaults(req: NewOp) -> NewOp:
    template = req.template or ("custom" if req.schema else "elementwise")  # --schema alone means custom
    return NewOp(req.name, req.category or "misc", template, req.dtypes or tuple(DTYPES), req.schema, req.needs)


def _op_list(needs: tuple[str, ...]) -> features.OpList:
    op_list = features.list_for(needs)
    if op_list is None:  # every combination of today's features has a list; a future one may not
        flags = " ".join(features.BY_NAME[n].flag for n in needs)
        raise KernelkitError(f"{flags}: no CMake op list holds ops that need exactly these features", exit_code=2)
    return op_list


def _check_list(project: Project, op_list: features.OpList) -> None:
    """A project made by an older `kernelkit init` may have no list for the features: say so, not 'no markers'."""
    if features.list_in(project.cmake_file.read_text(), op_list):
        return
    raise KernelkitError(
        f"{op_list.flags}: {layout.rel(project, project.cmake_file)} has no {op_list.region.name} list (the markers "
        f"# {op_list.region.begin} / # {op_list.region.end} inside set({op_list.cmake_list} ...)); this project "
        f"predates {op_list.title} ops: copy that list and what builds it from a new `kernelkit init` project",
        exit_code=2,
    )


def _taken(project: Project, existing: dict[str, registry.Op], like: registry.Op | None) -> names.Taken:
    """What is taken for a new op: the project's names, the headers its kernel and binding will include (a copy's
    include what its original does), and what the generated code itself uses."""
    kernel_text = like.kernel.path.read_text() if like is not None and like.kernel is not None else ""
    binding_text = like.binding_file.path.read_text() if like is not None and like.binding_file is not None else ""
    taken = names.taken(project, existing, kernel_text=kernel_text, binding_text=binding_text)
    taken.arg_scope, taken.wrapper_imports = _generated_names(project)
    return taken


# A custom schema with an argument of every kind the templates handle differently; the zzq names stand for any.
_ALL_KINDS_SCHEMA = (
    "zzqop(Tensor! zzqa0, Tensor zzqa1, Tensor? zzqa2, Tensor[] zzqa3, int zzqa4, float zzqa5, bool zzqa6, "
    "str zzqa7, ScalarType zzqa8, Device zzqa9, int[] zzqa10, float[] zzqa11, bool[] zzqa12, bool[]? zzqa13, "
    "int? zzqa14, str? zzqa15, ScalarType? zzqa16, Device? zzqa17, float[]? zzqa18, bool enable_pdl=False) -> ()"
)


@functools.lru_cache(maxsize=8)
def _generated_names(project: Project) -> tuple[dict[str, str], set[str]]:
    """What generated code refers to by plain name where a custom op's arguments are parameters (the binding's
    body, the launcher's, the wrapper's, the test's reference), read from the templates rendered for a schema
    with every kind of argument: name -> which code. And the module-level names of a generated wrapper."""
    req = NewOp("zzqop", "zzqcat", "custom", tuple(DTYPES), _ALL_KINDS_SCHEMA)
    ctx = _context(project, req, parse_schema(_ALL_KINDS_SCHEMA))
    scope: dict[str, str] = {}

    def add(found: set[str], where: str) -> None:
        for name in sorted(found):
            if "zzq" not in name.lower() and name != "enable_pdl" and name not in names.CPP_KEYWORDS:
                scope.setdefault(name, where)

    def cpp_body(text: str, head: str, stop: str) -> str:
        code = names.cpp_code(text)
        start = code.index(head)
        return code[start : code.index(stop, start) if stop else len(code)]

    binding = names.cpp_code(_render("custom", "cc", ctx))
    start = binding.index("void zzqop(")
    body_end = binding.index("\n}", start)
    add(names.unqualified_identifiers(binding[start:body_end]), "binding uses")
    add(names.unqualified_identifiers(cpp_body(_render("custom", "cu", ctx), "kernelkit::launch_zzqop(", "")),
        "launcher uses")  # fmt: skip
    add(names.unqualified_identifiers(cpp_body(_render("custom", "h", ctx), "launch_zzqop(", ";")), "header uses")
    wrapper = ast.parse(_render("custom", "wrapper.py", ctx))
    test = ast.parse(_render("custom", "test.py", ctx))
    for tree, functions, where in ((wrapper, {"zzqop"}, "wrapper uses"), (test, {"reference"}, "test uses")):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name in functions:
                parts = [*node.body, *node.args.defaults]
                add({n.id for part in parts for n in ast.walk(part) if isinstance(n, ast.Name)}, where)
    imports = {
        (alias.asname or alias.name).split(".")[0]
        for node in wrapper.body
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", "") != "__future__"
        for alias in node.names
    }
    for name in ("elementwise", "rowwise"):  # their wrappers import what the custom one may not
        rendered = ast.parse(
            _render(
                name,
                "wrapper.py",
                _context(
                    project, NewOp("zzqop", "zzqcat", name, tuple(DTYPES)), parse_schema(FIXED_SCHEMAS[name], "zzqop")
                ),
            )
        )
        imports |= {
            (alias.asname or alias.name).split(".")[0]
            for node in rendered.body
            if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", "") != "__future__"
            for alias in node.names
        }
    return scope, imports


def _request_schema(req: NewOp, taken: names.Taken) -> Schema:
    if req.template not in TEMPLATES:
        raise KernelkitError(f"--template {req.template}: choose one of {', '.join(TEMPLATES)}", exit_code=2)
    if req.schema and req.template != "custom":
        raise KernelkitError("--schema goes with --template custom", exit_code=2)
    if req.template == "custom" and not req.schema:
        raise KernelkitError(
            "--template custom needs --schema 'NAME(Tensor! out, Tensor input, ...) -> ()'", exit_code=2
        )
    try:
        schema = parse_schema(req.schema or FIXED_SCHEMAS[req.template], expected_name=req.name)
    except KernelkitError as exc:
        raise KernelkitError(str(exc), exit_code=2) from None
    if req.template == "custom":
        for arg in schema.args:
            problem = names.arg_name_problem(arg.name, taken)
            if problem:
                raise KernelkitError(f"schema '{names.shown(req.schema or '', 80)}': {problem}", exit_code=2)
    if req.schema:  # what torch's own parser (run by the registration at load time) accepts, and its values
        try:
            schema = torch_checked(schema, req.schema)
        except KernelkitError as exc:
            raise KernelkitError(str(exc), exit_code=2) from None
    return schema


def _validate_python(changes: ChangeSet) -> None:
    """Every Python file the change writes must at least compile."""
    for path, text in changes.changes.items():
        if text is not None and path.suffix == ".py":
            try:
                compile(text, str(path), "exec")
            except SyntaxError as exc:
                raise KernelkitError(
                    f"generated {path.name} does not compile ({exc.msg}, line {exc.lineno}); this is a kernelkit bug"
                ) from exc


# -------------------------------------------------------------------------------------------- --like


def _like(
    project: Project, req: NewOp, ops: dict[str, registry.Op], taken: names.Taken
) -> tuple[dict[str, str], str, features.OpList]:
    """The op's files as copies of `req.like`'s, renamed; its category and its CMake list (the original's)."""
    options = (("--template", req.template), ("--schema", req.schema), ("--dtypes", req.dtypes))
    given = [flag for flag, value in options if value]
    if given:
        raise KernelkitError(f"--like copies {req.like} as it is; it does not go with {', '.join(given)}", exit_code=2)
    source = ops.get(req.like or "")
    if source is None:
        known = ", ".join(ops) or "(none)"
        raise KernelkitError(f"--like {req.like}: no op '{req.like}' in this project; ops: {known}", exit_code=2)
    pieces = {
        "kernel file": source.kernel,
        "launcher header": source.header,
        "binding file": source.binding_file,
        "Python wrapper": source.wrapper,
        "test": source.test,
        "benchmark": source.bench,
        "CMake entry": source.cmake,
    }
    lacking = [piece for piece, loc in pieces.items() if loc is None]
    if lacking or source.category is None:
        raise KernelkitError(
            f"--like {req.like}: the op has no {', '.join(lacking) or 'category'} to copy "
            "(`kernelkit check` says what is missing)",
            exit_code=2,
        )
    wanted, own = _op_list(req.needs) if req.needs else None, source.op_list
    assert own is not None  # the op has its CMake line (checked above)
    if wanted is not None and wanted is not own:
        what = f"{own.article} {own.title} op" if own.needs else "an op of the plain list"
        raise KernelkitError(
            f"--like {req.like}: a copy is {wanted.article} {wanted.title} op when {req.like} is one, and it is not "
            f"(it is {what}); drop {wanted.flags}",
            exit_code=2,
        )
    category = req.category or source.category
    validate_name(req.name, taken, category)
    validate_category(category, taken, req.name)
    rename = _Renamer(project, source.name, source.category, req.name, category)
    sources = _files(project, source.category, source.name)
    assert source.wrapper and source.test and source.bench
    sources.update({"wrapper.py": source.wrapper.path, "test.py": source.test.path, "bench.py": source.bench.path})
    contents = {part: rename(path.read_text(), part, path) for part, path in sources.items()}
    # Lines were wrapped for the old name's length: the project's formatters wrap them for the new one.
    targets = _files(project, category, req.name)
    formatted = codefmt.with_project_formatters(project.root, {targets[part]: text for part, text in contents.items()})
    return {part: formatted[targets[part]] for part in contents}, category, own


class _Renamer:
    """Turns an op's file into the same file of another op: its name as a word (`rmsnorm`, "rmsnorm",
    kernelkit::rmsnorm), in the identifiers derived from it (launch_rmsnorm, rmsnorm_kernel, test_rmsnorm,
    bench_rmsnorm, RmsnormMath) and in the paths of its own files. Family names that merely contain it
    (rmsnorm_cases, launch_rmsnorm_family, kernelkit/families/rmsnorm.cuh) are left alone: the copy keeps
    using the same helpers."""

    PREFIXES = ("", "_", "launch_", "test_", "bench_")
    SUFFIXES = ("", "_kernel", "_fake")

    def __init__(self, project: Project, old: str, old_category: str, new: str, new_category: str):
        self.project, self.old, self.new = project, old, new
        self.old_category, self.new_category = old_category, new_category
        self.tokens = {p + old + s: p + new + s for p in self.PREFIXES for s in self.SUFFIXES}
        self.camel = re.compile(rf"(?<![A-Z0-9]){re.escape(camel(old))}(?![a-z0-9])")
        pkg = re.escape(project.name)
        cat, name = re.escape(old_category), re.escape(old)
        self.paths = [  # the op's own files and module, category and all
            (re.compile(rf"\b{pkg}/{cat}/{name}\.h\b"), f"{project.name}/{new_category}/{new}.h"),
            (re.compile(rf"\b{pkg}\.{cat}\.{name}\b"), f"{project.name}.{new_category}.{new}"),
            (re.compile(rf"\b{cat}/(test_|bench_)?{name}\b"), rf"{new_category}/\g<1>{new}"),
        ]

    def __call__(self, text: str, part: str, path: Path) -> str:
        return "\n".join(self._line(line, part, path) for line in text.split("\n"))

    def _line(self, line: str, part: str, path: Path) -> str:
        include = re.match(r'^(\s*#\s*include\s*)"([^"]+)"(.*)$', line)
        if include:
            return self._include(include, line)
        if part.endswith(".py"):
            line = self._python_import(line, part, path)
        for regex, replacement in self.paths:
            line = regex.sub(replacement, line)
        line = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", lambda m: self.tokens.get(m.group(0), m.group(0)), line)
        return self.camel.sub(camel(self.new), line)

    def _include(self, match: re.Match, line: str) -> str:
        head, target, rest = match.groups()
        if target == layout.header_include(self.project, self.old_category, self.old):
            return f'{head}"{layout.header_include(self.project, self.new_category, self.new)}"{rest}'
        if self.new_category != self.old_category and (self.project.csrc_dir / self.old_category / target).is_file():
            return f'{head}"{self.old_category}/{target}"{rest}'  # csrc/ is on the include path
        return line  # a shared header (kernelkit/families/rmsnorm.cuh is not the op's)

    def _python_import(self, line: str, part: str, path: Path) -> str:
        if self.new_category == self.old_category:
            return line
        relative = re.match(r"^(\s*from\s+)\.(\w*)(\s+import\b.*)$", line)
        if relative:
            module = ".".join(m for m in (self.project.name, self.old_category, relative.group(2)) if m)
            return f"{relative.group(1)}{module}{relative.group(3)}"
        sibling = re.match(r"^\s*(?:from\s+(\w+)\s+import|import\s+(\w+))\b", line)
        if sibling and part in ("test.py", "bench.py"):
            module = sibling.group(1) or sibling.group(2)
            if (path.parent / f"{module}.py").is_file():
                raise KernelkitError(
                    f"--like {self.old} -c {self.new_category}: its {part.removesuffix('.py')} imports {module} from "
                    f"{layout.rel(self.project, path.parent)}/, which {self.new_category}/ cannot import; copy it "
                    f"into {self.old_category} (leave out -c)",
                    exit_code=2,
                )
        return line


# --------------------------------------------------------------------------------------------- remove


def plan_remove(project: Project, name: str) -> ChangeSet:
    """The exact inverse of `new`: delete the op's files, take its lines out of the shared lists."""
    ops = registry.scan(project)
    if name not in ops:
        known = ", ".join(ops) or "(none)"
        raise KernelkitError(f"no op '{name}' in this project; ops: {known}", exit_code=2)
    op = ops[name]
    changes = ChangeSet(project.root)
    for path in op.files:
        changes.delete(path)
    if op.wrapper is not None:  # last op of a Python category: the __init__ `new` wrote goes too
        folder = op.wrapper.path.parent
        others = [p for p in folder.glob("*.py") if p.name != "__init__.py" and p != op.wrapper.path]
        category_init = folder / "__init__.py"
        if (
            not others
            and category_init.is_file()
            and folder != project.python_package_dir
            and category_init.read_text() == category_init_text(folder.name)  # a user's own __init__ stays
        ):
            changes.delete(category_init)
    init = layout.init_file(project)
    own = op.op_list
    cmake_lists = features.op_lists(read_exact(project.cmake_file)) if project.cmake_file.is_file() else []
    edits = [
        # the op's own list first (the one its line comes out of), then the others, checked for lines naming it
        *sorted(
            ((project.cmake_file, lst.region, op.cmake if lst is own else None) for lst in cmake_lists),
            key=lambda edit: edit[2] is None,
        ),
        (init, layout.EXPORTS, op.export),
        (init, layout.ALL, op.all_entry),
    ]
    for path, spec, loc in edits:  # all checked on the files as they are, before any edit: lines are theirs
        if path.is_file():
            regions.removable(read_exact(path), spec, name, layout.rel(project, path), required=loc is not None)
    for path, spec, loc in edits:
        text = changes.current(path)
        if loc is not None and text is not None:
            changes.write(path, regions.remove(text, spec, name, layout.rel(project, path)))
    return changes


def files_of(changes: ChangeSet) -> dict[str, list[Path]]:
    return {"created": changes.created, "modified": changes.modified, "deleted": changes.deleted}
