"""The build features: conditions under which an op is compiled, one table that every command reads.

An op whose CMake line is in a feature's list (the region `<name>-ops` of library/CMakeLists.txt) is compiled and
registered only in builds that have the feature. Nothing else in the op's files says so, except its wrapper's
first statement, `_library.require_<name>("<op>")`, which raises saying how to get the feature when the loaded
library lacks it. The library records `<name>=0/1` in its feature string (csrc/library.cc): the package reads it
when loaded (`<package>.<name>_enabled()`), `list`, `doctor` and `bench` from the file. `new --<name>` writes
such an op; `check`, `remove`, `list`, `doctor`, `bench` and the names rules go through this table, so a further
feature is one row here (plus its CMake list, its record and its require function in the library), not special
code in each command.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernelkit.model import layout, regions


@dataclass(frozen=True)
class Feature:
    name: str  # the record's key; `new --NAME`, region NAME-ops, require_NAME, <package>.NAME_enabled()
    title: str  # an op of the list is "an FP4 op"
    article: str  # "an" FP4 op, "a" CUTLASS op
    gates: str  # what a library has or lacks: "FP4 kernels: built"
    region: regions.RegionSpec  # the CMake list, between kernelkit:NAME-ops-begin/-end
    cmake_list: str  # the CMake variable holding the list
    cmake_option: str  # the cache option `kernelkit build` sets through its typed flag
    build_flag: str  # `kernelkit build`'s flag for it
    on_by_default: bool  # a plain `kernelkit build` has it wherever it can (CUTLASS: AUTO), or only when asked (FP4)
    built_when: str  # when the list is compiled: "only in FP4 builds (...)"
    without: str  # what a build lacks that has not it: "without --fp4" the op is not registered
    built_without: str  # how require_NAME's message starts, after "OP: PACKAGE was "
    require_how: str  # and goes on, after "; " (the generated test matches both)
    get: str  # how to get it, as `doctor`, `list` and `bench` say it
    get_short: str  # the same in a few words (why a generated test skips)

    @property
    def require(self) -> str:
        """The package function an op's wrapper calls first: `_library.require_fp4("op")`."""
        return f"require_{self.name}"

    @property
    def enabled(self) -> str:
        """The package function that says whether the loaded library has it: `kernelkit_ops.fp4_enabled()`."""
        return f"{self.name}_enabled"

    @property
    def flag(self) -> str:
        """`kernelkit new`'s flag for an op of the list."""
        return f"--{self.name}"

    @property
    def slug(self) -> str:
        """`gates` as a Python identifier, for the names of generated tests: fp4_kernels."""
        return self.gates.lower().replace(" ", "_")

    @property
    def build_command(self) -> str:
        """What builds a library with it (a feature on by default needs no flag)."""
        return "kernelkit build" if self.on_by_default else f"kernelkit build {self.build_flag.split('/')[0]}"


FP4 = Feature(
    name="fp4",
    title="FP4",
    article="an",
    gates="FP4 kernels",
    region=layout.FP4_OPS,
    cmake_list="KERNELKIT_FP4_OPS",
    cmake_option="KERNELKIT_ENABLE_FP4",
    build_flag="--fp4/--no-fp4",
    on_by_default=False,
    built_when="only in FP4 builds (`kernelkit build --fp4`)",
    without="without --fp4",
    built_without="built without FP4 kernels",
    require_how="rebuild with `kernelkit build --fp4`",
    get="kernelkit build --fp4",
    get_short="kernelkit build --fp4",
)
CUTLASS = Feature(
    name="cutlass",
    title="CUTLASS",
    article="a",
    gates="CUTLASS GEMM ops",
    region=layout.CUTLASS_OPS,
    cmake_list="KERNELKIT_CUTLASS_OPS",
    cmake_option="KERNELKIT_CUTLASS",
    build_flag="--cutlass/--no-cutlass",
    on_by_default=True,
    built_when="only where the build finds the CUTLASS headers (nvidia-cutlass, or -DKERNELKIT_CUTLASS_DIR)",
    without="without the CUTLASS headers",
    built_without="built without the CUTLASS GEMM ops",
    require_how="`pip install nvidia-cutlass==4.2.0.0` and run `kernelkit build` again",
    get="pip install nvidia-cutlass==4.2.0.0 and kernelkit build, or kernelkit build -DKERNELKIT_CUTLASS_DIR=<include "
    "folder>",
    get_short="kernelkit doctor says how to get them",
)
FEATURES: tuple[Feature, ...] = (FP4, CUTLASS)
BY_NAME = {f.name: f for f in FEATURES}


def by_name(name: str | None) -> Feature | None:
    return BY_NAME.get(name) if name else None


def in_project(cmake_text: str) -> list[Feature]:
    """The features whose list this CMakeLists has. A project made by an older `kernelkit init` may lack one: its
    ops cannot be in it, and `new --NAME` says so. (A list with only one of its two markers is a broken list, for
    the region code to report, not a missing one.)"""
    return [f for f in FEATURES if f.region.begin in cmake_text or f.region.end in cmake_text]


def op_lists(cmake_text: str) -> list[tuple[regions.RegionSpec, Feature | None]]:
    """Every CMake op list of the project with its build condition: the plain list (every build), then the
    features'."""
    return [(layout.OPS, None), *((f.region, f) for f in in_project(cmake_text))]
