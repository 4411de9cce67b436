"""What the built op library was compiled with, read from the library file itself.

csrc/library.cc embeds one NUL-terminated string in every build, e.g.
`KERNELKIT_FEATURES:fp4=0,cutlass=1,archs=90a+100a` (`fp4=0` without KERNELKIT_ENABLE_FP4; `archs` the SASS
targets of KERNELKIT_CUDA_ARCHS, which the package's import-time arch guard checks against the GPUs). `list`,
`doctor` and `bench` read it from the .so's bytes: no import, no torch, no CUDA, a few milliseconds. The Python
package reads the same string from the loaded library (`<package>.fp4_enabled()`), so both always agree with the
build.
"""

from __future__ import annotations

import mmap
import re
from enum import StrEnum
from pathlib import Path

from kernelkit.project import Project

MARKER = b"KERNELKIT_FEATURES:"
# Values are [A-Za-z0-9_.+]: `+` joins the list of archs (`archs=90a+100a`), since `,` separates the entries.
_ENTRY_RE = re.compile(rb"KERNELKIT_FEATURES:((?:[a-z0-9_]+=[A-Za-z0-9_.+]*)(?:,[a-z0-9_]+=[A-Za-z0-9_.+]*)*)\x00")
FP4_REBUILD = "kernelkit build --fp4"


class Fp4(StrEnum):
    BUILT = "built"
    NOT_BUILT = "not built"
    UNKNOWN = "unknown"  # a library built before kernelkit recorded its features
    NO_LIBRARY = "no library"

    def describe(self) -> str:
        """How `doctor` and `list` say it."""
        return {
            Fp4.BUILT: "FP4 kernels: built",
            Fp4.NOT_BUILT: f"FP4 kernels: not built ({FP4_REBUILD})",
            Fp4.UNKNOWN: "FP4 kernels: unknown (the library predates the feature record; run kernelkit build)",
            Fp4.NO_LIBRARY: "FP4 kernels: library not built (kernelkit build)",
        }[self]


def built_library(project: Project) -> Path | None:
    """The op library next to the Python package (what `kernelkit build` writes), if any."""
    built = sorted(project.python_package_dir.glob("_*.so"))
    return built[0] if built else None


def read_features(path: Path) -> dict[str, str] | None:
    """`{'fp4': '1'}` from the library file; None when it carries no feature record."""
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


def fp4_status(project: Project) -> Fp4:
    library = built_library(project)
    if library is None:
        return Fp4.NO_LIBRARY
    features = read_features(library)
    if features is None or "fp4" not in features:
        return Fp4.UNKNOWN
    return Fp4.BUILT if features["fp4"] == "1" else Fp4.NOT_BUILT
