"""The build features: conditions under which an op is compiled, one table that every command reads.

An op whose CMake line is in a feature's list (the region `<name>-ops` of library/CMakeLists.txt) is compiled and
registered only in builds that have the feature. Nothing else in the op's files says so, except its wrapper's
first statement, `_library.require_<name>("<op>")`, which raises saying how to get the feature when the loaded
library lacks it. An op that needs several features (an FP4 GEMM on CUTLASS) is in the list of that combination
(OP_LISTS below: `fp4-cutlass-ops`), compiled only when the build has all of them, and its wrapper opens with one
require call per feature, in the table's order. The library records `<name>=0/1` in its feature string
(csrc/library.cc): the package reads it when loaded (`<package>.<name>_enabled()`), `list`, `doctor` and `bench`
from the file. `new --<name>` writes such an op (`new --fp4 --cutlass` one of the combined list); `check`,
`remove`, `list`, `doctor`, `bench` and the names rules go through these tables, so a further feature is one row
here (plus its CMake list, its record and its require function in the library), and a further combination one
row of OP_LISTS (plus its CMake list), not special code in each command.
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


@dataclass(frozen=True)
class OpList:
    """One CMake op list and the build features its ops need: none (the plain list, every build), one (that
    feature's own list) or several (compiled only in builds that have all of them)."""

    region: regions.RegionSpec
    cmake_list: str
    needs: tuple[Feature, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.needs)

    @property
    def title(self) -> str:
        """ "FP4", "FP4 CUTLASS": an FP4 CUTLASS op."""
        return " ".join(f.title for f in self.needs)

    @property
    def article(self) -> str:
        return self.needs[0].article if self.needs else "an"

    @property
    def flags(self) -> str:
        """`kernelkit new`'s flags for an op of the list: "--fp4 --cutlass"."""
        return " ".join(f.flag for f in self.needs)

    @property
    def gates(self) -> str:
        """What the library must have: "the FP4 kernels and the CUTLASS GEMM ops"."""
        return " and ".join(f"the {f.gates}" for f in self.needs)

    @property
    def built_when(self) -> str:
        return "; and ".join(f.built_when for f in self.needs) if self.needs else "in every build"

    @property
    def build_command(self) -> str:
        """What builds a library with all of it: the flags of the features that are off by default."""
        flags = [f.build_flag.split("/")[0] for f in self.needs if not f.on_by_default]
        return " ".join(["kernelkit build", *flags])


PLAIN = OpList(layout.OPS, "KERNELKIT_OPS")
FP4_CUTLASS = OpList(layout.FP4_CUTLASS_OPS, "KERNELKIT_FP4_CUTLASS_OPS", (FP4, CUTLASS))
# Every CMake op list: the plain one, each feature's own, then the combinations (needs in FEATURES' order).
OP_LISTS: tuple[OpList, ...] = (PLAIN, *(OpList(f.region, f.cmake_list, (f,)) for f in FEATURES), FP4_CUTLASS)


def list_for(needs) -> OpList | None:
    """The op list whose ops need exactly these features (names or Features, any order); None if there is none."""
    wanted = {n if isinstance(n, str) else n.name for n in needs}
    return next((lst for lst in OP_LISTS if set(lst.names) == wanted), None)


def list_in(cmake_text: str, op_list: OpList) -> bool:
    """Whether this CMakeLists has the list (a project made by an older `kernelkit init` may lack one; a list with
    only one of its two markers is a broken list, for the region code to report, not a missing one)."""
    return op_list is PLAIN or op_list.region.begin in cmake_text or op_list.region.end in cmake_text


def in_project(cmake_text: str) -> list[Feature]:
    """The features whose list this CMakeLists has. A project made by an older `kernelkit init` may lack one: its
    ops cannot be in it, and `new --NAME` says so. (A list with only one of its two markers is a broken list, for
    the region code to report, not a missing one.)"""
    return [f for f in FEATURES if f.region.begin in cmake_text or f.region.end in cmake_text]


def op_lists(cmake_text: str) -> list[OpList]:
    """Every CMake op list this project has, with its build condition: the plain list (every build), then the
    features' own, then the combinations."""
    return [lst for lst in OP_LISTS if list_in(cmake_text, lst)]
