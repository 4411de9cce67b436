"""The namespace rules: which names an op, its category and its schema's arguments may take.

`new` writes every name into several namespaces at once. An op NAME of category CAT, in a project whose
package is PKG and torch namespace NS, becomes:

  Python  PKG.NAME (its export, in __all__), the module PKG.CAT.NAME, the test module test_NAME
          (tests/ops/CAT/ has no __init__.py: pytest imports the file by its name, so two test files of one
          name in such folders break collection)
  torch   torch.ops.NS.NAME (an attribute of torch's op-namespace object)
  C++     kernelkit::binding::NAME (the binding, in the TU of binding.h), kernelkit::launch_NAME, NAME_kernel
          and <Name>Math (in the TU of the kernel and its core headers); every TU sees the C library's and the
          compiler's macros
  files   CAT/NAME.{cu,cc,h,py}, test_NAME.py, bench_NAME.py (and their staging copies, the longest name)

A category CAT is the subpackage PKG.CAT and a folder of each tree; an argument of a custom schema is a
parameter of the binding, the launcher and the wrapper, next to what the generated code refers to there.

A name is refused when it would be the same as something already in one of those namespaces, with a
message naming the input, the rule and a fix. `new` refuses with these functions; `check` reports an
existing tree with the same ones (`findings`), so it catches what `new` would refuse. Nothing else is
refused: a word that merely occurs somewhere in the code (`dim` in `t.dim()`) takes nothing.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kernelkit.errors import KernelkitError, shown
from kernelkit.model import features, layout, regions
from kernelkit.project import Project

NAME_RE = re.compile(r"[a-z][a-z0-9_]*")  # op and category names (fullmatch: "x\n" is no name)
ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Every real op name is shorter (sgl-kernel's longest have about 40 characters); up to this length the generated
# files are formatted and lint-clean as generated, and the longest file name (.bench_NAME.py.kernelkit-new, a
# staging copy) stays far below the 255 bytes file systems allow.
MAX_NAME_LENGTH = 64

CPP_KEYWORDS = frozenset(
    """alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class
    compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype default
    delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline int long
    mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public register
    reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch template this
    thread_local throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while xor
    xor_eq main typeof restrict""".split()
)  # `typeof`: a GNU keyword in gnu++17, the binding's dialect; `main`: the program's entry point
# Lower-case macros of the compilers and C library headers the binding and kernel TUs include (gcc 12 + glibc +
# CUDA 13, measured with -dM -E; tests/cli/test_names.py checks the list against this machine's preprocessor),
# and a few more that other glibc versions or compilers define. Such a name expands in the generated code.
C_MACROS = frozenset(
    """linux unix i386 i686 errno assert assert_perror offsetof alloca major minor makedev stdin stdout stderr
    setjmp va_start va_arg va_end va_copy isfinite isinf isnan isnormal signbit fpclassify issubnormal
    math_errhandling strdupa strndupa sched_priority htonl htons ntohl ntohs be16toh be32toh be64toh htobe16 htobe32
    htobe64 htole16 htole32 htole64 le16toh le32toh le64toh isascii toascii isalnum_l isalpha_l isascii_l isblank_l
    iscntrl_l isdigit_l isgraph_l islower_l isprint_l ispunct_l isspace_l isupper_l isxdigit_l toascii_l
    pthread_cleanup_push pthread_cleanup_pop pthread_cleanup_push_defer_np pthread_cleanup_pop_restore_np""".split()
)
# CUDA's built-in variables and vector types, visible in every .cu.
CUDA_BUILTINS = frozenset(
    """threadIdx blockIdx blockDim gridDim warpSize dim3 half half2 nv_bfloat16 nv_bfloat162 char1 char2 char3 char4
    uchar1 uchar2 uchar3 uchar4 short1 short2 short3 short4 ushort1 ushort2 ushort3 ushort4 int1 int2 int3 int4 uint1
    uint2 uint3 uint4 long1 long2 long3 long4 ulong1 ulong2 ulong3 ulong4 longlong1 longlong2 longlong3 longlong4
    ulonglong1 ulonglong2 ulonglong3 ulonglong4 float1 float2 float3 float4 double1 double2 double3 double4 printf
    malloc free memcpy memset""".split()
)
# Attributes of torch's op-namespace object (torch._ops._OpNamespace): torch.ops.NS.<one of these> is the
# attribute, never an op of that name (tests/cli/test_names.py checks the list against this torch).
TORCH_NAMESPACE_ATTRS = frozenset({"name"})
PYTHON_BUILTINS = frozenset(n for n in dir(builtins) if not n.startswith("_"))
# Names of the C++ namespaces every generated TU qualifies with: a parameter or function of that name hides them.
CPP_ROOTS = frozenset({"std", "torch", "kernelkit", "c10", "at", "cub", "cuda"})
GENERATED_PREFIXES = ("launch_", "test_", "bench_")  # what `new` derives from another op's name


def camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _suggest(name: str) -> str:
    if len(name) >= 40 or not NAME_RE.fullmatch(name):
        return "e.g. 'my_op'"
    return f"e.g. 'my_{name}'" if name.startswith(GENERATED_PREFIXES) else f"e.g. '{name}_op'"


# ------------------------------------------------------------------------------------------- reading code

_COMMENT_OR_STRING = re.compile(r"//[^\n]*|/\*.*?\*/|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", re.S)
_UNQUALIFIED = re.compile(r"(?<![\w.])(?<!->)(?<!::)\b([A-Za-z_]\w*)")


def cpp_code(text: str) -> str:
    """C++ without its comments and string literals (each replaced by a space)."""
    return _COMMENT_OR_STRING.sub(" ", text)


def unqualified_identifiers(code: str) -> set[str]:
    """Identifiers of C++ `code` (already cpp_code) that name something by lookup in the current scope: not a
    member (`t.dim()`, `p->x`) and not a qualified name's later part (`std::min`)."""
    return set(_UNQUALIFIED.findall(code))


def declared_or_called(code: str) -> set[str]:
    """Functions a header defines or calls unqualified, and the types and macros it declares."""
    names = set(re.findall(r"(?<![\w.])(?<!->)(?<!::)\b([A-Za-z_]\w*)\s*\(", code))
    names |= set(re.findall(r"\b(?:using|struct|class|enum(?:\s+class)?|typedef\s+[\w:<>, ]+?)\s+([A-Za-z_]\w*)", code))
    names |= set(re.findall(r"^\s*#\s*define\s+([A-Za-z_]\w*)", code, re.M))
    return names - CPP_KEYWORDS - {"if", "for", "while", "switch", "return", "sizeof", "defined"}


def project_headers(project: Project, text: str, seen: set[Path] | None = None) -> list[Path]:
    """The project's own headers `text` includes with "...", and theirs, each once."""
    seen = set() if seen is None else seen
    found = []
    for target in re.findall(r'^\s*#\s*include\s*"([^"]+)"', text, re.M):
        for base in (project.include_dir, project.csrc_dir):
            path = base / target
            if path.is_file() and path not in seen:
                seen.add(path)
                found.append(path)
                found += project_headers(project, path.read_text(errors="replace"), seen)
                break
    return found


# ---------------------------------------------------------------------------------------- what is taken


@dataclass
class Taken:
    """What already has a name in a project, by namespace."""

    project: Project
    ops: set[str] = field(default_factory=set)
    categories: dict[str, Path] = field(default_factory=dict)  # category -> its package folder (or another tree's)
    package_attrs: dict[str, str] = field(default_factory=dict)  # PKG attribute -> what binds it
    test_modules: dict[str, Path] = field(default_factory=dict)  # module name pytest gives a test file -> the file
    binding_names: dict[str, str] = field(default_factory=dict)  # function/type/macro the binding TU sees -> header
    kernel_names: dict[str, str] = field(default_factory=dict)  # identifier of the kernel TU's headers -> header
    # identifier the generated custom code refers to where its arguments are parameters -> which code
    arg_scope: dict[str, str] = field(default_factory=dict)
    wrapper_imports: set[str] = field(default_factory=set)  # module-level names of a generated wrapper


TEMPLATE_KERNEL_HEADERS = ("kernelkit/core/dispatch.cuh", "kernelkit/core/pdl.cuh", "kernelkit/core/vec.cuh",
                           "kernelkit/core/reduce.cuh")  # fmt: skip
TEMPLATE_BINDING_HEADERS = ("kernelkit/binding.h",)


def taken(project: Project, ops: Iterable[str] = (), *, kernel_text: str = "", binding_text: str = "") -> Taken:
    """What is taken in `project`; the headers of the kernel and binding to be written are those the templates
    include, plus what `kernel_text` / `binding_text` include (an op `--like` copies)."""
    result = Taken(project, set(ops))
    package = project.python_package_dir
    trees = [package, project.csrc_dir, project.include_dir / project.name, project.op_tests_dir,
             project.benchmarks_dir / "ops"]  # fmt: skip
    for tree in reversed(trees):  # the package's folder wins: it is what the name would shadow
        if tree.is_dir():
            for folder in tree.iterdir():
                if folder.is_dir() and folder.name != "__pycache__":
                    result.categories[folder.name] = folder
    result.package_attrs = package_attributes(project)
    result.test_modules = test_modules(project)
    kernel_includes = "".join(f'#include "{h}"\n' for h in TEMPLATE_KERNEL_HEADERS) + kernel_text
    binding_includes = "".join(f'#include "{h}"\n' for h in TEMPLATE_BINDING_HEADERS) + binding_text
    for path in project_headers(project, binding_includes):
        for name in declared_or_called(cpp_code(path.read_text(errors="replace"))):
            result.binding_names.setdefault(name, layout.rel(project, path))
    for path in project_headers(project, kernel_includes):
        for name in unqualified_identifiers(cpp_code(path.read_text(errors="replace"))):
            result.kernel_names.setdefault(name, layout.rel(project, path))
    return result


def package_attributes(project: Project) -> dict[str, str]:
    """Names the package binds besides its exports: assignments, imports and definitions of its __init__.py
    outside the kernelkit regions, and its own modules."""
    attrs: dict[str, str] = {}
    package = project.python_package_dir
    for path in sorted(package.glob("*.py")) if package.is_dir() else []:
        if path.name != "__init__.py":
            attrs[path.stem] = f"the module {layout.rel(project, path)}"
    init = layout.init_file(project)
    try:
        text = init.read_text()
        tree = ast.parse(text)
    except (OSError, SyntaxError, ValueError):
        return attrs
    managed = _managed_lines(text)
    where = layout.rel(project, init)
    for node in tree.body:
        if node.lineno in managed:
            continue
        bound: list[str] = []
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound = [node.name]
        for name in bound:
            attrs.setdefault(name, f"bound at {where}:{node.lineno}")
    return attrs


def _managed_lines(text: str) -> set[int]:
    """1-based lines inside the exports and __all__ regions of an __init__.py."""
    lines = text.split("\n")
    inside: set[int] = set()
    for spec in (layout.EXPORTS, layout.ALL):
        begins = [i for i, line in enumerate(lines) if spec.begin in line]
        ends = [i for i, line in enumerate(lines) if spec.end in line]
        if len(begins) == 1 and len(ends) == 1 and begins[0] < ends[0]:
            inside |= set(range(begins[0] + 1, ends[0] + 2))
    return inside


def test_modules(project: Project) -> dict[str, Path]:
    """Test-tree Python files pytest imports by their bare file name (their folder is no package): name -> file."""
    modules: dict[str, Path] = {}
    tests = project.tests_dir
    for path in sorted(tests.rglob("*.py")) if tests.is_dir() else []:
        if "__pycache__" in path.parts or (path.parent / "__init__.py").is_file():
            continue
        modules.setdefault(path.stem, path)
    return modules


# ------------------------------------------------------------------------------------------------ rules


def op_name_problem(name: str, taken: Taken, category: str | None = None, own_test: Path | None = None) -> str | None:
    """Why `name` cannot be (or be kept as) an op's name in category `category` (its test file: `own_test`, by
    default where `new` writes it); None when it can."""
    project = taken.project
    label = f"op name '{shown(name)}'"
    if not NAME_RE.fullmatch(name):
        return f"{label}: use a lowercase identifier (letters, digits, _; starting with a letter)"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"{label} has {len(name)} characters; at most {MAX_NAME_LENGTH} (it names files, functions and lines of "
            "the generated code): choose a shorter name"
        )
    fix = f"choose another name, {_suggest(name)}"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{label} is a Python keyword (the wrapper is `def {name}(...)`); {fix}"
    if name in CPP_KEYWORDS:
        return f"{label} is a C++ keyword (the binding is `void {name}(...)`); {fix}"
    if name in C_MACROS:
        return (
            f"{label} clashes with the C macro {name} (predefined by the compiler or defined by the C library "
            f"headers every binding and kernel includes): it would expand inside them; {fix}"
        )
    if name in CUDA_BUILTINS:
        return f"{label} clashes with CUDA's built-in {name}; {fix}"
    if "__" in name or name.endswith("_t"):
        return f"{label}: C++ reserves names with '__' and POSIX reserves names ending in '_t' (types); {fix}"
    if name.startswith(GENERATED_PREFIXES):
        return (
            f"{label} clashes with the names kernelkit makes from op names: it puts {name.split('_')[0]}_ before "
            f"them for their launcher, test and bench (launch_NAME, test_NAME, bench_NAME); {fix}"
        )
    if name in TORCH_NAMESPACE_ATTRS:
        return (
            f"{label} clashes with torch: torch.ops.{project.namespace}.{name} is an attribute of torch's "
            f"op-namespace object, so the op could never be reached there; {fix}"
        )
    if name in PYTHON_BUILTINS:
        return (
            f"{label} clashes with Python's builtin {name}: {project.name}.{name} is in __all__, and `from "
            f"{project.name} import *` would replace the builtin; {fix}"
        )
    if name in CPP_ROOTS or name in taken.wrapper_imports:
        return (
            f"{label} clashes with a namespace or import the generated binding or wrapper uses ({name}), which "
            f"the op would hide; {fix}"
        )
    if name == category:
        return (
            f"{label} clashes with its category: {project.name}.{name} cannot be both the subpackage and the op; "
            f"{fix} or another --category"
        )
    if name in taken.categories:
        folder = layout.rel(project, taken.categories[name])
        return (
            f"{label} clashes with the category {folder}/: the export {project.name}.{name} would replace the "
            f"subpackage {project.name}.{name}; {fix}"
        )
    if name in taken.package_attrs:
        return (
            f"{label} clashes with {project.name}.{name}, {taken.package_attrs[name]}, which the export would "
            f"replace; {fix}"
        )
    if name in taken.binding_names:
        return (
            f"{label} clashes with {name}, which the binding uses from {taken.binding_names[name]}: a binding "
            f"of that name would hide it; {fix}"
        )
    for derived in (f"launch_{name}", f"{name}_kernel", f"{camel(name)}Math"):
        if derived in taken.kernel_names:
            return (
                f"{label} clashes with {taken.kernel_names[derived]}: the kernel file would declare {derived}, "
                f"which that header already does; {fix}"
            )
    if own_test is None and category:
        own_test = layout.test_file(project, category, name)
    other = taken.test_modules.get(f"test_{name}")
    if other is not None and other != own_test:
        return (
            f"{label} clashes with the test module {layout.rel(project, other)}: the op's test test_{name}.py "
            f"would have its module name (pytest imports test files outside packages by file name, and two of "
            f"one name break collection); {fix}"
        )
    return None


def category_problem(category: str, taken: Taken, ops: Iterable[str] = ()) -> str | None:
    """Why `category` cannot be a category; `ops`: op names it must not equal (the op being added, the project's)."""
    project = taken.project
    label = f"category '{shown(category)}'"
    if not NAME_RE.fullmatch(category):
        return f"{label}: use a lowercase identifier (one folder under library/csrc, no path separators)"
    if len(category) > MAX_NAME_LENGTH:
        return (
            f"{label} has {len(category)} characters; at most {MAX_NAME_LENGTH} (it names folders): choose a "
            "shorter one"
        )
    fix = f"choose another category, e.g. '{category}_ops'" if len(category) < 40 else "choose another category"
    if keyword.iskeyword(category) or category in CPP_KEYWORDS:
        return f"{label} is a keyword ({project.name}.{category} could not be imported); {fix}"
    if category in set(ops) | taken.ops:
        return (
            f"{label} clashes with the op {category}: the subpackage {project.name}.{category} and the op's export "
            f"{project.name}.{category} cannot both be there; {fix}"
        )
    if category in taken.package_attrs:
        return (
            f"{label} clashes with {project.name}.{category}, {taken.package_attrs[category]}, which the "
            f"subpackage would replace; {fix}"
        )
    return None


def arg_name_problem(name: str, taken: Taken | None = None, *, op: str = "") -> str | None:
    """Why a schema argument cannot be called `name`. Without `taken` only what breaks any binding and wrapper
    (keywords, macros); with it, also what the generated custom code refers to where arguments are parameters."""
    label = f"argument '{shown(name)}'" + (f" of {op}" if op else "")
    if not ARG_RE.fullmatch(name):
        return f"{label}: use an identifier (letters, digits, _)"
    fix = f"rename it, e.g. '{name}_'" if len(name) < 40 else "rename it"
    if keyword.iskeyword(name):
        return f"{label} is a Python keyword (the wrapper takes it as a parameter); {fix}"
    if name in CPP_KEYWORDS:
        return f"{label} is a C++ keyword (the binding takes it as a parameter); {fix}"
    if name in C_MACROS:
        return (
            f"{label} clashes with the C macro {name} (predefined by the compiler or defined by the C library "
            f"headers every binding includes): it would expand inside the binding; {fix}"
        )
    if re.fullmatch(r"[A-Z][A-Z0-9_]+", name):
        return (
            f"{label} is written like a macro (all capitals): the compiler, CUDA and torch headers define hundreds "
            f"of them (NULL, EOF, INT64_MAX, ...), and one of that name would expand inside the binding; {fix}"
        )
    if re.match(r"cuda[A-Z]", name):
        return f"{label} is named like the CUDA runtime's types, functions and macros (cudaXxx); {fix}"
    if name in CUDA_BUILTINS or name in CPP_ROOTS:
        return f"{label} is a CUDA built-in or a namespace the generated code qualifies names with; {fix}"
    if "__" in name or name.endswith("_t"):
        return f"{label}: C++ reserves names with '__' and POSIX reserves names ending in '_t' (types); {fix}"
    if taken is not None and name in taken.arg_scope:
        return f"{label} is a name the generated {taken.arg_scope[name]} (it would hide it); {fix}"
    return None


# ---------------------------------------------------------------------------------------------- check


@dataclass(frozen=True)
class NameFinding:
    op: str
    message: str
    where: str


def findings(project: Project, ops: dict) -> list[NameFinding]:
    """What `new` would refuse in the existing tree: op names, categories, argument names, and lines of the
    managed regions that mention an op but are not its entry (remove could not take them out)."""
    found: list[NameFinding] = []
    taken_now = taken(project, ops)
    for op in ops.values():
        where = _where(project, op)
        own_test = op.test.path if op.test is not None else None
        problem = op_name_problem(op.name, _without(taken_now, op), op.category, own_test)
        if problem:
            found.append(NameFinding(op.name, problem, where))
        if op.schema is not None and op.registration is not None:
            for arg in op.schema.args:
                problem = arg_name_problem(arg.name, op=op.name)
                if problem:
                    found.append(NameFinding(op.name, problem, op.registration.show(project)))
    for category in sorted({op.category for op in ops.values() if op.category} - set(ops)):  # (an op's: above)
        problem = category_problem(category, taken_now)
        if problem:
            folder = taken_now.categories.get(category, project.root)
            found.append(NameFinding("-", problem, layout.rel(project, folder)))
    found += region_findings(project, ops)
    return found


def _where(project: Project, op) -> str:
    for loc in (op.wrapper, op.kernel, op.binding_file, op.cmake, op.test):
        if loc is not None:
            return loc.show(project)
    return layout.rel(project, project.root)


def _without(taken_now: Taken, op) -> Taken:
    """`taken_now` as it was before `op` was added: its own name is no clash."""
    return replace(taken_now, ops=taken_now.ops - {op.name})


def region_findings(project: Project, ops: dict) -> list[NameFinding]:
    """Lines of the CMake op lists, exports and __all__ that mention an op but are not an entry `new` writes,
    and ops with more than one entry in a region: `remove` refuses to touch either."""
    found: list[NameFinding] = []
    init = layout.init_file(project)
    try:
        cmake_lists = [lst.region for lst in features.op_lists(project.cmake_file.read_text())]
    except OSError:  # a missing file: reported elsewhere
        cmake_lists = []
    for path, spec in [*((project.cmake_file, s) for s in cmake_lists), (init, layout.EXPORTS), (init, layout.ALL)]:
        try:
            text = path.read_text()
            stray = regions.stray_lines(text, spec, layout.rel(project, path))
        except (OSError, KernelkitError):  # a missing file or broken markers: reported elsewhere
            continue
        for line_no, line in stray:
            named = [n for n in ops if re.search(rf"\b{re.escape(n)}\b", line)]
            if named:
                found.append(
                    NameFinding(
                        ", ".join(named),
                        f"not an entry kernelkit writes in region {spec.name}: '{shown(line.strip(), 80)}' "
                        f"({spec.entry_shape}); `remove` will not touch it",
                        f"{layout.rel(project, path)}:{line_no}",
                    )
                )
        if spec in (layout.EXPORTS, layout.ALL):  # (a second CMake entry is the registry's finding)
            first: dict[str, int] = {}
            for entry in regions.entries(text, spec, layout.rel(project, path)):
                if entry.key in first:
                    message = f"a second entry in region {spec.name} (the first is at line {first[entry.key]})"
                    found.append(NameFinding(entry.key, message, f"{layout.rel(project, path)}:{entry.line}"))
                first.setdefault(entry.key, entry.line)
    return found
