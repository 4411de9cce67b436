"""`kernelkit new` and `kernelkit remove` as ChangeSets: render an op's pieces from the templates in
kernelkit/scaffolds/op/ and insert them into the marked regions, or take them all out again.

Nothing here writes files: kernelkit.transaction applies the ChangeSet atomically.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from kernelkit import layout, regions, registry
from kernelkit.errors import KernelkitError
from kernelkit.project import Project
from kernelkit.schema import Arg, Schema, parse_schema
from kernelkit.transaction import ChangeSet

TEMPLATES = ("elementwise", "rowwise", "custom")
FIXED_SCHEMAS = {
    "elementwise": "(Tensor! out, Tensor input, float scale) -> ()",
    "rowwise": "(Tensor! out, Tensor input) -> ()",
}
DTYPES = {  # CLI name -> (launcher enum, torch dtype, human name)
    "bf16": ("DType::kBFloat16", "torch.bfloat16", "bfloat16"),
    "fp16": ("DType::kFloat16", "torch.float16", "float16"),
    "fp32": ("DType::kFloat32", "torch.float32", "float32"),
}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CPP_KEYWORDS = set(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
    compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default
    delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline int long
    mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
    reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template this
    thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor
    xor_eq main""".split()
)
CUDA_RESERVED = {"dim3", "half", "float2", "float4", "int2", "int4", "char4", "warpsize", "assert", "printf", "malloc", "free"}
# Names the generated code itself uses in the op's scope (binding locals, the wrapper's imports).
RESERVED = {"op", "out", "input", "torch", "kernelkit", "launch", "binding", "check", "registration", "tensor",
            "v", "dtype", "guard", "std", "Tensor", "DType", "DTYPES"}
RESERVED_ARGS = {"op", "dtype", "guard", "v", "torch", "std", "Tensor", "DType", "DTYPES", "kernelkit"}

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("kernelkit", "scaffolds"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=False,
)


@dataclass(frozen=True)
class NewOp:
    name: str
    category: str
    template: str = "elementwise"
    dtypes: tuple[str, ...] = ("bf16", "fp16", "fp32")
    schema: str | None = None  # custom only
    fp4: bool = False  # compiled only in FP4 builds: fp4-sources, fp4-bindings, fp4-impls


def binding_identifiers(project: Project) -> set[str]:
    """Functions and types the binding TU already names outside the marked regions (helpers of
    binding_utils.h, shared bindings such as gated_activation): an op or argument of that name
    would shadow them and the registration TU would no longer compile."""
    names: set[str] = set()
    for path in (project.csrc_dir / "binding_utils.h", project.registration_file):
        if not path.is_file():
            continue
        outside, inside = [], False
        for line in path.read_text().splitlines():
            if "kernelkit:" in line and line.rstrip().endswith("-begin"):
                inside = True
            elif "kernelkit:" in line and line.rstrip().endswith("-end"):
                inside = False
            elif not inside:
                outside.append(line.split("//", 1)[0])  # code only, not comments
        text = "\n".join(outside)
        names |= set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", text))  # functions defined or called
        names |= set(re.findall(r"\b(?:using|struct|class|enum class)\s+([A-Za-z_]\w*)", text))
    return names - CPP_KEYWORDS


def validate_name(name: str, taken: set[str] = frozenset()) -> None:
    if not _NAME_RE.match(name):
        raise KernelkitError(f"op name '{name}': use a lowercase identifier (letters, digits, _; starting with a letter)", exit_code=2)
    if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in CPP_KEYWORDS or name in CUDA_RESERVED:
        raise KernelkitError(f"op name '{name}' is a C++/CUDA/Python keyword; choose another", exit_code=2)
    if name in RESERVED or name in taken or name.endswith("_t") or name.startswith(("launch_", "test_", "bench_")):
        raise KernelkitError(f"op name '{name}' clashes with names the generated code uses; choose another", exit_code=2)


def validate_category(category: str) -> None:
    if "/" in category or "\\" in category or ".." in category or not _NAME_RE.match(category):
        raise KernelkitError(
            f"category '{category}': use a lowercase identifier (one folder under library/csrc, no path separators)", exit_code=2
        )
    if keyword.iskeyword(category) or category in CPP_KEYWORDS:
        raise KernelkitError(f"category '{category}' is a keyword; choose another", exit_code=2)


def parse_dtypes(text: str) -> tuple[str, ...]:
    items = [t.strip().lower() for t in text.split(",") if t.strip()]
    aliases = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32"}
    items = [aliases.get(i, i) for i in items]
    unknown = [i for i in items if i not in DTYPES]
    if unknown or not items:
        raise KernelkitError(f"--dtypes: unknown {', '.join(unknown) or '(empty)'}; choose from bf16, fp16, fp32", exit_code=2)
    return tuple(d for d in DTYPES if d in items)  # canonical order, no repeats


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _test_value(arg: Arg) -> str:
    if arg.base == "Tensor":
        if arg.is_list:
            return '[torch.randn(shape, device="cuda", dtype=dtype)]'
        if arg.optional:
            return "None"
        if arg.mutable:
            return 'torch.empty(shape, device="cuda", dtype=dtype)'
        return 'torch.randn(shape, device="cuda", dtype=dtype)'
    if arg.py_default is not None:
        return arg.py_default
    if arg.optional:
        return "None"
    simple = {"int": "1", "float": "0.5", "bool": "False", "str": '"x"', "ScalarType": "torch.float32", "Device": 'torch.device("cuda")'}
    if arg.is_list:
        return f"[{simple[arg.base]}]"
    return simple[arg.base]


@dataclass
class _ArgView:
    """An Arg plus what the templates need to render it."""

    arg: Arg
    test_value: str = field(default="")

    def __getattr__(self, item):
        return getattr(self.arg, item)


def _context(project: Project, req: NewOp, schema: Schema) -> dict:
    ctx = {
        "name": req.name,
        "camel": _camel(req.name),
        "category": req.category,
        "package": project.name,
        "namespace": project.namespace,
        "header": layout.header_file(project).name,
        "schema": schema.render(),
        "dtype_enums": ", ".join(DTYPES[d][0] for d in req.dtypes),
        "dtype_list": ", ".join(DTYPES[d][0] for d in req.dtypes),
        "py_dtypes": ", ".join(DTYPES[d][1] for d in req.dtypes) + ("," if len(req.dtypes) == 1 else ""),
        "dtype_names": "/".join(DTYPES[d][2] for d in req.dtypes),
        "bench_dtype": DTYPES["bf16" if "bf16" in req.dtypes else req.dtypes[0]][2],
        "args": [_ArgView(a, _test_value(a)) for a in schema.args],
        "fp4": req.fp4,
        # positional arguments the wrapper cannot do without (the FP4 test calls it without kernels)
        "wrapper_required": sum(1 for a in schema.args if a.py_default is None) if req.template == "custom" else 1,
    }
    if req.template == "custom":
        outs, ins = schema.mutable_tensors, schema.input_tensors
        if not outs or not ins:
            raise KernelkitError(
                f"schema '{schema.render()}': the custom template needs at least one 'Tensor! out' to write and one "
                "'Tensor' input (its default kernel writes out = input * scale)",
                exit_code=2,
            )
        scale = next((a for a in schema.args if a.base == "float" and not a.is_list and not a.optional), None)
        index = {a.name: i for i, a in enumerate(schema.args)}
        ctx.update(
            out=outs[0],
            input=ins[0],
            out_index=index[outs[0].name],
            input_index=index[ins[0].name],
            scale_cpp=scale.name if scale else "1.0",
            scale_ref=f"args[{index[scale.name]}]" if scale else "1.0",
            scale_expr=scale.name if scale else "1",
        )
    return ctx


def _render(template: str, part: str, ctx: dict) -> str:
    return _env.get_template(f"op/{template}.{part}.j2").render(ctx)


def plan_new(project: Project, req: NewOp) -> ChangeSet:
    """Everything `new` would write, validated; raises KernelkitError before anything is planned wrong."""
    taken = binding_identifiers(project)
    validate_name(req.name, taken)
    validate_category(req.category)
    if req.template not in TEMPLATES:
        raise KernelkitError(f"--template {req.template}: choose one of {', '.join(TEMPLATES)}", exit_code=2)
    if req.schema and req.template != "custom":
        raise KernelkitError("--schema goes with --template custom", exit_code=2)
    if req.template == "custom" and not req.schema:
        raise KernelkitError("--template custom needs --schema 'NAME(Tensor! out, Tensor input, ...) -> ()'", exit_code=2)
    try:
        schema = parse_schema(req.schema or FIXED_SCHEMAS[req.template], expected_name=req.name)
    except KernelkitError as exc:
        raise KernelkitError(str(exc), exit_code=2) from None
    if req.template == "custom":
        helper_functions = {n for n in taken if n[:1].islower()} - {"out", "input"}
        bad = [
            a.name
            for a in schema.args
            if a.name in RESERVED_ARGS or a.name == req.name or a.name in helper_functions or a.name.endswith("_t")
            or keyword.iskeyword(a.name) or a.name in CPP_KEYWORDS or a.name in CUDA_RESERVED
        ]
        if bad:
            raise KernelkitError(
                f"schema argument names {', '.join(bad)} clash with keywords or names the generated code uses", exit_code=2
            )

    existing = registry.scan(project)
    if req.name in existing:
        op = existing[req.name]
        where = next(
            (loc.show(project) for loc in (op.kernel, op.cmake, op.launcher_decl, op.binding, op.schema_loc, op.wrapper, op.test, op.bench) if loc),
            "the project",
        )
        raise KernelkitError(f"op '{req.name}' already exists ({where}); pick another name or `kernelkit remove {req.name}`", exit_code=2)
    for path in (
        layout.kernel_file(project, req.category, req.name),
        layout.wrapper_file(project, req.category, req.name),
        layout.test_file(project, req.name),
        layout.bench_file(project, req.name),
    ):
        if path.exists():
            raise KernelkitError(f"{layout.rel(project, path)} already exists; not overwriting it", exit_code=2)

    ctx = _context(project, req, schema)
    changes = ChangeSet(project.root)
    t = req.template
    changes.write(layout.kernel_file(project, req.category, req.name), _render(t, "cu", ctx))
    changes.write(layout.wrapper_file(project, req.category, req.name), _render(t, "wrapper.py", ctx))
    changes.write(layout.test_file(project, req.name), _render(t, "test.py", ctx))
    changes.write(layout.bench_file(project, req.name), _render(t, "bench.py", ctx))
    category_init = project.python_package_dir / req.category / "__init__.py"
    if not category_init.exists():
        changes.write(category_init, f'"""{req.category} ops."""\n')

    header, registration, init = layout.header_file(project), project.registration_file, layout.init_file(project)
    fp4 = req.fp4
    edits = [
        (project.cmake_file, layout.FP4_SOURCES if fp4 else layout.SOURCES, layout.cmake_entry(req.category, req.name)),
        (header, layout.LAUNCHERS, _render(t, "decl.h", ctx)),
        (registration, layout.FP4_BINDINGS if fp4 else layout.BINDINGS, _render(t, "binding.cc", ctx)),
        (registration, layout.SCHEMAS, f'  m.def("{schema.render()}");'),  # every build: wrapper, fake, compile
        (
            registration,
            layout.FP4_IMPLS if fp4 else layout.IMPLS,
            f'  m.impl("{req.name}", TORCH_BOX(&{_binding_ns(project)}::{req.name}));',
        ),
        (init, layout.EXPORTS, f"from {project.name}.{req.category}.{req.name} import {req.name}"),
        (init, layout.ALL, f'    "{req.name}",'),
    ]
    for path, spec, entry in edits:
        text = changes.current(path)
        if text is None:
            raise KernelkitError(f"{layout.rel(project, path)} is missing")
        changes.write(path, regions.insert(text, spec, req.name, entry, layout.rel(project, path)))
    _validate_python(changes)
    return changes


def _binding_ns(project: Project) -> str:
    text = project.registration_file.read_text()
    match = re.search(r"TORCH_BOX\(&([A-Za-z_:]+)::[A-Za-z0-9_]+\)", text)
    return match.group(1) if match else "kernelkit::binding"


def _validate_python(changes: ChangeSet) -> None:
    """Every Python file the change writes must at least compile."""
    for path, text in changes.changes.items():
        if text is not None and path.suffix == ".py":
            try:
                compile(text, str(path), "exec")
            except SyntaxError as exc:
                raise KernelkitError(f"generated {path.name} does not compile ({exc.msg}, line {exc.lineno}); this is a kernelkit bug") from exc


def plan_remove(project: Project, name: str) -> ChangeSet:
    """The exact inverse of `new`: delete the op's files, take its entries out of the regions."""
    ops = registry.scan(project)
    if name not in ops:
        known = ", ".join(ops) or "(none)"
        raise KernelkitError(f"no op '{name}' in this project; ops: {known}", exit_code=2)
    op = ops[name]
    changes = ChangeSet(project.root)
    for loc in (op.kernel, op.wrapper, op.test, op.bench):
        if loc is not None:
            changes.delete(loc.path)
    if op.wrapper is not None:  # last op of a Python category: its __init__ goes too
        folder = op.wrapper.path.parent
        others = [p for p in folder.glob("*.py") if p.name != "__init__.py" and p != op.wrapper.path]
        if not others and (folder / "__init__.py").exists() and folder != project.python_package_dir:
            changes.delete(folder / "__init__.py")
    header, registration, init = layout.header_file(project), project.registration_file, layout.init_file(project)
    for path, spec, loc in (
        (project.cmake_file, layout.FP4_SOURCES if op.fp4 else layout.SOURCES, op.cmake),
        (header, layout.LAUNCHERS, op.launcher_decl),
        (registration, layout.FP4_BINDINGS if op.binding_fp4 else layout.BINDINGS, op.binding),
        (registration, layout.SCHEMAS, op.schema_loc),
        (registration, layout.FP4_IMPLS if op.impl_fp4 else layout.IMPLS, op.impl),
        (init, layout.EXPORTS, op.export),
        (init, layout.ALL, op.all_entry),
    ):
        if loc is not None:
            text = changes.current(path)
            assert text is not None
            changes.write(path, regions.remove(text, spec, name, layout.rel(project, path)))
    return changes


def files_of(changes: ChangeSet) -> dict[str, list[Path]]:
    return {"created": changes.created, "modified": changes.modified, "deleted": changes.deleted}
