"""`kernelkit init PATH`: a new, standalone kernel library laid out like kernelkit_ops.

Name-dependent files are rendered from kernelkit/scaffolds/project/*.j2; the generic ones (the house
helpers of include/kernelkit/core/, the binding helpers, the wrappers' defaults, the GPU-skip conftest,
the bootstrap script) are copied from kernelkit's own library, so both stay one code base.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

import jinja2

import kernelkit
from kernelkit.codegen.transaction import ChangeSet
from kernelkit.errors import KernelkitError

# generic file, relative to kernelkit's source checkout -> where it goes in the new project ({name} = package)
GENERIC_FILES = {
    "library/include/kernelkit/binding.h": "library/include/kernelkit/binding.h",
    "library/python/kernelkit_ops/_defaults.py": "library/python/{name}/_defaults.py",
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
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

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


def plan_init(path: Path, name: str, namespace: str | None = None) -> ChangeSet:
    if not _NAME_RE.match(name) or keyword.iskeyword(name):
        raise KernelkitError(f"--name '{name}': use a lowercase Python identifier (it names the package)", exit_code=2)
    namespace = namespace or name
    if not _NAME_RE.match(namespace):
        raise KernelkitError(f"--namespace '{namespace}': use a lowercase identifier", exit_code=2)
    if name == "kernelkit":
        raise KernelkitError("--name kernelkit would shadow the kernelkit CLI package; choose another", exit_code=2)
    root = path.resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise KernelkitError(f"{path} exists and is not an empty folder; init makes a new project", exit_code=2)
    changes = ChangeSet(root)
    source = generic_source_root()
    for src, dst in generic_files(source).items():
        changes.write(root / dst.format(name=name), (source / src).read_text())
    ctx = {"name": name, "namespace": namespace, "cli_requirement": cli_requirement(source)}
    for template, dst in TEMPLATED_FILES.items():
        changes.write(root / dst.format(name=name), _env.get_template(template).render(ctx))
    for folder in KEEP_DIRS:
        changes.write(root / folder / ".gitkeep", "")
    return changes


def make_executable(root: Path) -> None:
    for rel in (".ci/run", "tools/bootstrap.py"):
        target = root / rel
        target.chmod(target.stat().st_mode | 0o111)
