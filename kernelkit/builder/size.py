"""What each op costs in the built library: machine code (SASS) bytes per op and per arch.

Each op's kernels live in its own object file (`build/dev/CMakeFiles/<target>.dir/csrc/<cat>/<op>.cu.o`),
so sizing the fatbin of that object with `cuobjdump -elf` is exact, without mapping mangled kernel names
back to ops: the `.text.<kernel>` sections of each cubin are the machine code, everything else (symbol
tables, line info, kernel parameters) is the rest of the cubin.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.builder.toolchain import which
from kernelkit.errors import KernelkitError
from kernelkit.project import PYPROJECT, Project

CUOBJDUMP_ENV = "KERNELKIT_CUOBJDUMP"
BUDGET_KEYS = ("size-budget-mb", "size_budget_mb")  # [tool.kernelkit]; the first is the house spelling
MB = 1_000_000

# One row of `cuobjdump -elf`'s section table: Index Offset Size ES Align Type Flags Link Info Name (hex).
_SECTION_RE = re.compile(
    r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+(?P<size>[0-9a-f]+)\s+[0-9a-f]+\s+[0-9a-f]+\s+(?P<type>[A-Z_]+)"
    r"\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+(?P<name>\S+)\s*$"
)
_ARCH_RE = re.compile(r"^arch = (sm_\w+)\s*$")


@dataclass
class ArchSize:
    sass_bytes: int = 0  # the .text.<kernel> sections: what the GPU executes
    cubin_bytes: int = 0  # every section of the cubin (machine code, line info, metadata)
    kernels: int = 0


@dataclass
class OpSize:
    op: str
    source: str  # csrc/<cat>/<op>.cu
    archs: dict[str, ArchSize] = field(default_factory=dict)

    @property
    def sass_bytes(self) -> int:
        return sum(a.sass_bytes for a in self.archs.values())

    @property
    def cubin_bytes(self) -> int:
        return sum(a.cubin_bytes for a in self.archs.values())

    def to_json(self) -> dict:
        return {
            "op": self.op,
            "source": self.source,
            "sass_bytes": self.sass_bytes,
            "cubin_bytes": self.cubin_bytes,
            "archs": {arch: vars(size) for arch, size in self.archs.items()},
        }


@dataclass
class SizeReport:
    library: Path | None
    library_bytes: int | None
    ops: list[OpSize]
    budget_mb: float | None

    @property
    def archs(self) -> list[str]:
        return sorted({arch for op in self.ops for arch in op.archs})

    @property
    def sass_bytes(self) -> int:
        return sum(op.sass_bytes for op in self.ops)

    @property
    def cubin_bytes(self) -> int:
        return sum(op.cubin_bytes for op in self.ops)

    def to_json(self) -> dict:
        return {
            "library": str(self.library) if self.library else None,
            "library_bytes": self.library_bytes,
            "budget_mb": self.budget_mb,
            "over_budget": over_budget(self.library_bytes, self.budget_mb),
            "archs": self.archs,
            "sass_bytes": self.sass_bytes,
            "cubin_bytes": self.cubin_bytes,
            "ops": [op.to_json() for op in self.ops],
        }


def parse_cuobjdump_elf(text: str) -> dict[str, ArchSize]:
    """`cuobjdump -elf OBJ` -> sizes per arch (several cubins of one arch, e.g. from -rdc, add up)."""
    sizes: dict[str, ArchSize] = {}
    current: ArchSize | None = None
    in_table = False  # only the section table's rows count, never the dumps that follow it
    for line in text.splitlines():
        arch = _ARCH_RE.match(line)
        if arch:
            current = sizes.setdefault(arch.group(1).removeprefix("sm_"), ArchSize())
            continue
        if line.startswith("Sections:"):
            in_table = True
            continue
        if not line.strip():
            in_table = False
        row = _SECTION_RE.match(line) if in_table else None
        if not row or current is None:
            continue
        size = int(row.group("size"), 16)
        if row.group("type") == "NOBITS":
            continue  # .nv.shared.* and the like: sizes reserved at run time, not bytes in the file
        current.cubin_bytes += size
        if row.group("type") == "PROGBITS" and row.group("name").startswith(".text."):
            current.sass_bytes += size
            current.kernels += 1
    return sizes


def find_cuobjdump(explicit: str | None = None) -> str:
    """--cuobjdump, $KERNELKIT_CUOBJDUMP, PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, the nvidia-cuda-cuobjdump wheel."""
    for given, what in ((explicit, "--cuobjdump"), (os.environ.get(CUOBJDUMP_ENV), f"${CUOBJDUMP_ENV}")):
        if given:
            if Path(given).is_file() and os.access(given, os.X_OK):
                return given
            raise KernelkitError(f"{what}: {given} is not an executable cuobjdump")
    candidates = [which("cuobjdump")]
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home:
            candidates.append(str(Path(home) / "bin" / "cuobjdump"))
    candidates += [str(p) for p in _wheel_cuobjdumps()]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            return path
    raise KernelkitError(
        "cuobjdump not found (not on PATH, in $CUDA_HOME/bin or an nvidia wheel): pip install nvidia-cuda-cuobjdump, "
        f"or pass --cuobjdump PATH (or set {CUOBJDUMP_ENV})"
    )


def _wheel_cuobjdumps() -> list[Path]:
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    found: list[Path] = []
    for root in (spec.submodule_search_locations or []) if spec else []:
        found += sorted(Path(root).glob("*/bin/cuobjdump"))  # nvidia/cu13/bin, nvidia/cuda_cuobjdump/bin
    return found


def op_objects(project: Project) -> list[tuple[str, str, Path]]:
    """(op, source, object) of every CUDA object the current build links: one `.cu.o` per op's kernel file.

    Objects left on disk by an earlier configuration (e.g. FP4 ops after a build without --fp4) are skipped:
    only those build.ninja still names count."""
    build_dir = project.build_dir
    ninja = build_dir / "build.ninja"
    if not ninja.is_file():
        raise KernelkitError(f"no build in {build_dir}; run `kernelkit build` first")
    named = ninja.read_text(errors="replace")
    found = []
    for obj in sorted((build_dir / "CMakeFiles").glob("*.dir/**/*.cu.o")):
        relative = obj.relative_to(build_dir).as_posix()
        if relative not in named:
            continue
        source = relative.split(".dir/", 1)[1].removesuffix(".o")
        found.append((Path(source).name.removesuffix(".cu"), source, obj))
    return found


def measure(project: Project, cuobjdump: str | None = None, arch: str | None = None) -> SizeReport:
    tool = find_cuobjdump(cuobjdump)
    objects = op_objects(project)
    if not objects:
        raise KernelkitError(f"no CUDA objects in {project.build_dir}; run `kernelkit build` first")
    ops = []
    seen: set[str] = set()
    for op, source, obj in objects:
        out = subprocess.run([tool, "-elf", str(obj)], capture_output=True, text=True, timeout=300)
        if out.returncode != 0 and "does not contain device code" not in out.stderr:
            reason = (out.stderr.strip().splitlines() or ["failed"])[-1]
            raise KernelkitError(f"cuobjdump -elf {obj.name}: {reason}")
        archs = parse_cuobjdump_elf(out.stdout)
        seen.update(archs)
        if arch is not None:
            archs = {a: s for a, s in archs.items() if a == arch.removeprefix("sm_")}
        ops.append(OpSize(op, source, archs))
    if arch is not None and arch.removeprefix("sm_") not in seen:
        built = ", ".join(sorted(seen)) or "none"
        raise KernelkitError(f"--arch {arch}: the build has no code for it (built for: {built})")
    ops.sort(key=lambda o: (-o.sass_bytes, o.op))
    built = sorted(project.python_package_dir.glob("_*.so"))
    library = built[0] if built else None
    return SizeReport(library, library.stat().st_size if library else None, ops, read_budget_mb(project))


def read_budget_mb(project: Project) -> float | None:
    """[tool.kernelkit] size-budget-mb: the most the built library (.so) may weigh, in MB (10^6 bytes)."""
    pyproject = project.root / PYPROJECT
    table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("kernelkit", {})
    for key in BUDGET_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise KernelkitError(f"{pyproject}: [tool.kernelkit] {key} must be a positive number of MB")
            return float(value)
    return None


def over_budget(library_bytes: int | None, budget_mb: float | None) -> bool:
    return library_bytes is not None and budget_mb is not None and library_bytes > budget_mb * MB


def budget_message(project: Project) -> str | None:
    """A `check` finding when the built library exceeds the budget; None within it, without one or unbuilt."""
    budget = read_budget_mb(project)
    built = sorted(project.python_package_dir.glob("_*.so"))
    if budget is None or not built:
        return None
    size = built[0].stat().st_size
    if not over_budget(size, budget):
        return None
    return (
        f"{built[0].name} is {size / MB:.1f} MB, over the size budget of {budget:g} MB "
        "(`kernelkit size` shows which ops weigh most)"
    )
