"""`kernelkit init PATH`: a new, standalone kernel library laid out like kernelkit_ops.

Name-dependent files are rendered from kernelkit/scaffolds/project/*.j2; the generic ones (the house
helpers of include/kernelkit/core/, the binding helpers, the wrappers' defaults, the import-time arch guard,
the GPU-skip conftest, the bootstrap script) are copied from kernelkit's own library, so both stay one code base.
"""

from __future__ import annotations

import keyword
import sys
from pathlib import Path

import jinja2

import kernelkit
from kernelkit.codegen.transaction import ChangeSet
from kernelkit.errors import KernelkitError, shown
from kernelkit.model import names

# generic file, relative to kernelkit's source checkout -> where it goes in the new project ({name} = package)
GENERIC_FILES = {
    "library/include/kernelkit/binding.h": "library/include/kernelkit/binding.h",
    "library/python/kernelkit_ops/_defaults.py": "library/python/{name}/_defaults.py",
    "library/python/kernelkit_ops/_archguard.py": "library/python/{name}/_archguard.py",
    "tests/conftest.py": "tests/conftest.py",
    "tools/bootstrap.py": "tools/bootstrap.py",
    ".ci/run": ".ci/run",
}
# generic folders, copied whole (their files, not their subfolders): the primitives every kernel builds on
GENERIC_DIRS = {
    "library/include/kernelkit/core": "library/include/kernelkit/core",
}
TEMPLATED_FILES = {
    "pyproject.toml.j2": "pyproject.toml",
    "Makefile.j2": "Makefile",
    "README.md.j2": "README.md",
    "gitignore.j2": ".gitignore",
    "CMakeLists.txt.j2": "library/CMakeLists.txt",
    "library.cc.j2": "library/csrc/library.cc",
    "package_init.py.j2": "library/python/{name}/__init__.py",
    "_library.py.j2": "library/python/{name}/_library.py",
}
KEEP_DIRS = ("tests/ops", "benchmarks/ops")
EXECUTABLES = (".ci/run", "tools/bootstrap.py")  # written with their x bits, in the same all-or-nothing change

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("kernelkit", "scaffolds/project"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def generic_source_root() -> Path:
    """Where kernelkit's own generic library files are: its source checkout, or the copy a wheel ships."""
    package = Path(kernelkit.__file__).resolve().parent
    for root in (package.parent, package / "project_files"):
        if all((root / rel).is_file() for rel in GENERIC_FILES) and all((root / d).is_dir() for d in GENERIC_DIRS):
            return root
    raise KernelkitError(
        "kernelkit's generic library files were not found next to the installed package; "
        "install kernelkit from its source checkout (make build) or a wheel built by `pip wheel`"
    )


def generic_files(source: Path) -> dict[str, str]:
    """Every generic file to copy, the folders' files included: source path -> project path."""
    files = dict(GENERIC_FILES)
    for src, dst in GENERIC_DIRS.items():
        for path in sorted((source / src).iterdir()):
            if path.is_file():
                files[f"{src}/{path.name}"] = f"{dst}/{path.name}"
    return files


def cli_requirement(source: Path) -> str:
    """pip arguments that install this same kernelkit: its checkout (editable) when run from one."""
    if (source / "pyproject.toml").is_file() and (source / "kernelkit").is_dir():
        return f"-e {source}"
    return f"kernelkit=={kernelkit.__version__}"


# torch.ops namespaces torch itself defines or reserves (the registration of a library that claims one aborts or
# corrupts torch's own ops at import); torch's registered namespaces and torch.ops' attributes are added at run time.
TORCH_NAMESPACES = frozenset(
    "aten prim prims torch c10 c10d cuda onnx profiler quantized quantized_decomposed higher_order inductor "
    "inductor_prims mkl mkldnn onednn rngprims debugprims sparse export symm_mem static_runtime quantization "
    "fbgemm triton ops library".split()
)
# Top-level packages a kernel library's package must not shadow (or be shadowed by), besides the standard library.
PYTHON_PACKAGES = frozenset(
    "torch torchvision torchaudio triton numpy typing_extensions kernelkit jinja2 typer rich pytest setuptools pip "
    "wheel scikit_build_core cmake ninja nvidia".split()
)


def _torch_namespaces() -> set[str]:
    """TORCH_NAMESPACES, with what this machine's torch has registered or torch.ops has as an attribute."""
    import torch

    found = {op.split("::")[0] for op in torch._C._dispatch_get_all_op_names()}
    found |= {a for a in dir(torch.ops) if not a.startswith("__")} | {a for a in dir(type(torch.ops))}
    return set(TORCH_NAMESPACES) | found


def validate_names(name: str, namespace: str) -> None:
    """Refuse a package name or torch.ops namespace that collides with Python, torch or the C preprocessor."""
    if not names.NAME_RE.fullmatch(name) or keyword.iskeyword(name) or len(name) > names.MAX_NAME_LENGTH:
        raise KernelkitError(
            f"--name '{shown(name)}': use a lowercase Python identifier of at most {names.MAX_NAME_LENGTH} characters "
            "(it names the package)",
            exit_code=2,
        )
    if name in PYTHON_PACKAGES or name in sys.stdlib_module_names:
        if name == "kernelkit":
            what = "the kernelkit CLI package"
        elif name in sys.stdlib_module_names:
            what = f"the standard-library module {name}"
        else:
            what = f"the Python package {name}"
        raise KernelkitError(
            f"--name '{name}': a package named so would shadow {what}; choose another, e.g. --name my_{name}",
            exit_code=2,
        )
    if not names.NAME_RE.fullmatch(namespace) or keyword.iskeyword(namespace) or len(namespace) > names.MAX_NAME_LENGTH:
        raise KernelkitError(
            f"--namespace '{shown(namespace)}': use a lowercase identifier that is no Python keyword, of at most "
            f"{names.MAX_NAME_LENGTH} characters (it names torch.ops.NAMESPACE)",
            exit_code=2,
        )
    if namespace in names.C_MACROS or namespace in names.CPP_KEYWORDS or "__" in namespace:
        raise KernelkitError(
            f"--namespace '{namespace}': a C macro (the compiler predefines or the C library defines it) or a C++ "
            f"keyword (the registration names the namespace in C++); choose another, e.g. --namespace {namespace}_ops",
            exit_code=2,
        )
    if namespace in _torch_namespaces():
        flag = "--namespace" if namespace != name else "--name (the default --namespace)"
        raise KernelkitError(
            f"{flag} '{namespace}': torch.ops.{namespace} is torch's own namespace; choose another, e.g. "
            f"--namespace {namespace}_ops",
            exit_code=2,
        )


def plan_init(path: Path, name: str, namespace: str | None = None) -> ChangeSet:
    namespace = namespace or name
    validate_names(name, namespace)
    root = path.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise KernelkitError(f"{path} exists and is not an empty folder; init makes a new project", exit_code=2)
    changes = ChangeSet(root)
    source = generic_source_root()
    for src, dst in generic_files(source).items():
        changes.write(root / dst.format(name=name), (source / src).read_text(), executable=dst in EXECUTABLES)
    ctx = {"name": name, "namespace": namespace, "cli_requirement": cli_requirement(source)}
    for template, dst in TEMPLATED_FILES.items():
        changes.write(root / dst.format(name=name), _env.get_template(template).render(ctx))
    for folder in KEEP_DIRS:
        changes.write(root / folder / ".gitkeep", "")
    return changes
