"""What the built op library was compiled with, read from the library file itself, and why it lacks a feature.

csrc/library.cc embeds one NUL-terminated string in every build, e.g.
`KERNELKIT_FEATURES:fp4=1,cutlass=0,archs=90a+100a` (`fp4=0` without KERNELKIT_ENABLE_FP4, `cutlass=0` where the
CUTLASS headers were not found; `archs` the SASS targets of KERNELKIT_CUDA_ARCHS, which the package's import-time
arch guard checks against the GPUs). `list`, `doctor`, `bench` and `build` read it from the .so's bytes: no import,
no torch, no CUDA, a few milliseconds. The Python package reads the same string from the loaded library
(`<package>.fp4_enabled()`), so both always agree with the build. The features themselves (names, lists, messages)
are kernelkit/model/features.py's table.
"""

from __future__ import annotations

import importlib.util
import mmap
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kernelkit.model import features as table
from kernelkit.model.features import Feature
from kernelkit.project import Project

MARKER = b"KERNELKIT_FEATURES:"
# Values are [A-Za-z0-9_.+]: `+` joins the list of archs (`archs=90a+100a`), since `,` separates the entries.
_ENTRY_RE = re.compile(rb"KERNELKIT_FEATURES:((?:[a-z0-9_]+=[A-Za-z0-9_.+]*)(?:,[a-z0-9_]+=[A-Za-z0-9_.+]*)*)\x00")
FP4_REBUILD = table.FP4.get


class State(StrEnum):
    BUILT = "built"
    NOT_BUILT = "not built"
    UNKNOWN = "unknown"  # a library built before kernelkit recorded this feature
    NO_LIBRARY = "no library"


@dataclass(frozen=True)
class Status:
    """Whether the built library has a feature; when not, why (may be empty: the how says it) and how to get it."""

    feature: Feature
    state: State
    why: str = ""
    how: str = ""

    @property
    def value(self) -> str:
        return self.state.value

    @property
    def built(self) -> bool | None:
        """True / False from the library's record; None when there is no library or no record of it."""
        return {State.BUILT: True, State.NOT_BUILT: False}.get(self.state)

    def describe(self) -> str:
        """How `doctor`, `list` and `bench` say it: `FP4 kernels: not built (kernelkit build --fp4)`."""
        gates = self.feature.gates
        if self.state is State.BUILT:
            return f"{gates}: built"
        if self.state is State.UNKNOWN:
            return f"{gates}: unknown (the library predates the feature record; run kernelkit build)"
        if self.state is State.NO_LIBRARY:
            return f"{gates}: library not built (kernelkit build)"
        return f"{gates}: not built ({'; '.join(part for part in (self.why, self.how) if part)})"


def built_library(project: Project) -> Path | None:
    """The op library next to the Python package (what `kernelkit build` writes), if any."""
    built = sorted(project.python_package_dir.glob("_*.so"))
    return built[0] if built else None


def read_features(path: Path) -> dict[str, str] | None:
    """`{'fp4': '1', 'cutlass': '0'}` from the library file; None when it carries no feature record."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                return None
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                start = data.find(MARKER)
                while start != -1:
                    match = _ENTRY_RE.match(data, start)  # the whole record, up to its NUL
                    if match:
                        return dict(item.split("=", 1) for item in match.group(1).decode().split(","))
                    start = data.find(MARKER, start + 1)
    except OSError:
        return None
    return None


def status(project: Project, feature: Feature, record: dict[str, str] | None = None) -> Status:
    """The feature in the built library (`record`: its feature record when already read, e.g. from the loaded
    library); when it is not built, why and how to get it."""
    library = built_library(project)
    if library is None:
        return Status(feature, State.NO_LIBRARY, how="kernelkit build")
    record = read_features(library) if record is None else record
    if record is None or feature.name not in record:
        return Status(feature, State.UNKNOWN, how="kernelkit build")
    if record[feature.name] == "1":
        return Status(feature, State.BUILT)
    why, how = _WHY_NOT[feature.name](project)
    return Status(feature, State.NOT_BUILT, why, how)


def statuses(project: Project, record: dict[str, str] | None = None) -> list[Status]:
    """Every feature this project has a list for (kernelkit/model/features.py), in the table's order."""
    try:
        present = table.in_project(project.cmake_file.read_text())
    except OSError:
        present = list(table.FEATURES)
    return [status(project, f, record) for f in present]


def fp4_status(project: Project) -> Status:
    return status(project, table.FP4)


# ----------------------------------------------------------------------- why a build lacks a feature
# The one thing each feature needs code for: what its absence comes from. (why, how); an empty why when the
# how says it all.


def _fp4_why_not(project: Project) -> tuple[str, str]:
    return "", table.FP4.get  # FP4 is off unless asked for: the command is the whole story


def cutlass_include(project: Project | None = None) -> Path | None:
    """The CUTLASS include folder a build would use now: KERNELKIT_CUTLASS_DIR of the development build's cache,
    else the nvidia-cutlass wheel's (found in this Python, which `kernelkit build` configures CMake with), if it
    holds cutlass/cutlass.h."""
    configured = cmake_cache(project).get("KERNELKIT_CUTLASS_DIR") if project is not None else None
    if configured:
        folder = Path(configured)
    else:
        try:
            spec = importlib.util.find_spec("cutlass_library")
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if not locations:
            return None
        folder = Path(locations[0]) / "source" / "include"
    return folder if (folder / "cutlass" / "cutlass.h").is_file() else None


def _cutlass_why_not(project: Project) -> tuple[str, str]:
    cache = cmake_cache(project)
    if cache.get("KERNELKIT_CUTLASS", "").upper() == "OFF":
        return "built with --no-cutlass", "kernelkit build"
    found = cutlass_include(project)
    if found is not None:
        return f"the CUTLASS headers are here now ({found})", "kernelkit build"
    if cache.get("KERNELKIT_CUTLASS_DIR"):
        return f"no cutlass/cutlass.h in -DKERNELKIT_CUTLASS_DIR={cache['KERNELKIT_CUTLASS_DIR']}", table.CUTLASS.get
    return "no CUTLASS headers found", table.CUTLASS.get


_WHY_NOT = {"fp4": _fp4_why_not, "cutlass": _cutlass_why_not}


def cmake_cache(project: Project | None) -> dict[str, str]:
    """NAME -> value of the development build's CMakeCache.txt (empty without one)."""
    if project is None:
        return {}
    try:
        text = (project.build_dir / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*):[A-Z]+=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values
