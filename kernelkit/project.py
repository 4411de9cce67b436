"""Finding the kernel library project: the nearest pyproject.toml upward with a [tool.kernelkit] table."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from kernelkit.errors import KernelkitError

PYPROJECT = "pyproject.toml"


@dataclass(frozen=True)
class Project:
    root: Path
    name: str  # the Python package of the op library, e.g. kernelkit_ops
    namespace: str  # the torch op namespace, e.g. kernelkit -> torch.ops.kernelkit.*
    library_dir: Path
    python_package_dir: Path

    @property
    def csrc_dir(self) -> Path:
        return self.library_dir / "csrc"

    @property
    def include_dir(self) -> Path:
        return self.library_dir / "include"

    @property
    def library_file(self) -> Path:
        """Claims the op namespace and records the build's features; never edited per op."""
        return self.csrc_dir / "library.cc"

    @property
    def cmake_file(self) -> Path:
        return self.library_dir / "CMakeLists.txt"

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def op_tests_dir(self) -> Path:
        return self.tests_dir / "ops"

    @property
    def benchmarks_dir(self) -> Path:
        return self.root / "benchmarks"

    @property
    def build_dir(self) -> Path:
        """Persistent CMake build dir of `kernelkit build` (never a temp dir: ccache and Ninja need it stable)."""
        return self.root / "build" / "dev"


def find_project(start: Path | None = None) -> Project:
    """The project containing `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / PYPROJECT
        if not pyproject.is_file():
            continue
        try:
            data = tomllib.loads(pyproject.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise KernelkitError(f"{pyproject}: not valid TOML ({exc})") from exc
        table = data.get("tool", {}).get("kernelkit")
        if table is None:
            continue
        return _project_from_table(folder, table, pyproject)
    raise KernelkitError(
        f"no kernelkit project here: no {PYPROJECT} with a [tool.kernelkit] table in {here} or above "
        "(create one with `kernelkit init PATH`)",
        exit_code=2,
    )


def _project_from_table(root: Path, table: dict, pyproject: Path) -> Project:
    def text(key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value:
            raise KernelkitError(f"{pyproject}: [tool.kernelkit] {key} must be a non-empty string")
        return value

    name = text("name", "kernelkit_ops")
    return Project(
        root=root,
        name=name,
        namespace=text("namespace", name),
        library_dir=root / text("library-dir", "library"),
        python_package_dir=root / text("python-package", f"library/python/{name}"),
    )
