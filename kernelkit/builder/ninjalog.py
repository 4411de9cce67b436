"""Which compile steps a build spent its time on, from Ninja's `.ninja_log`.

The log accumulates every build's steps (`start_ms end_ms mtime output hash`, times relative to that
build's start); a step belongs to the build that just ran when its output's recorded mtime is not older
than the build's start, so earlier builds' entries never mix into the ranking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kernelkit.errors import KernelkitError

_HEADER_RE = re.compile(r"^# ninja log v(\d+)\s*$")
SUPPORTED_VERSIONS = (5, 6, 7)
_OBJECT_SUFFIXES = (".o", ".obj")


@dataclass(frozen=True)
class Step:
    output: str
    start_ms: int
    end_ms: int
    mtime_ns: int

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    @property
    def is_compile(self) -> bool:
        return self.output.endswith(_OBJECT_SUFFIXES)

    @property
    def source(self) -> str:
        """`CMakeFiles/x.dir/csrc/norm/rmsnorm.cu.o` -> `csrc/norm/rmsnorm.cu` (the translation unit)."""
        path = self.output
        if ".dir/" in path:
            path = path.split(".dir/", 1)[1]
        for suffix in _OBJECT_SUFFIXES:
            if path.endswith(suffix):
                return path[: -len(suffix)]
        return path

    def to_json(self) -> dict:
        return {"output": self.output, "source": self.source, "seconds": round(self.seconds, 3)}


def parse(text: str, *, where: str = ".ninja_log") -> list[Step]:
    """Every step of the log, the newest entry per output (Ninja appends; a rebuilt output appears again)."""
    lines = text.splitlines()
    header = _HEADER_RE.match(lines[0]) if lines else None
    if not header:
        raise KernelkitError(f"{where}: not a Ninja log (no '# ninja log vN' header)")
    if int(header.group(1)) not in SUPPORTED_VERSIONS:
        versions = ", ".join(f"v{v}" for v in SUPPORTED_VERSIONS)
        raise KernelkitError(f"{where}: Ninja log v{header.group(1)} is not supported (known: {versions})")
    steps: dict[str, Step] = {}
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != 5 or not all(f.lstrip("-").isdigit() for f in fields[:3]):
            continue  # a line cut short by an interrupted build: skip it, as Ninja does
        steps[fields[3]] = Step(fields[3], int(fields[0]), int(fields[1]), int(fields[2]))
    return list(steps.values())


def ranking(text: str, since_ns: int | None = None, *, where: str = ".ninja_log") -> list[Step]:
    """The compile steps of the build started at `since_ns` (wall clock, ns; None: every step), slowest first."""
    steps = [s for s in parse(text, where=where) if s.is_compile and (since_ns is None or s.mtime_ns >= since_ns)]
    return sorted(steps, key=lambda s: (-(s.end_ms - s.start_ms), s.output))


def read_ranking(build_dir: Path, since_ns: int | None = None) -> list[Step]:
    """`ranking` of `build_dir/.ninja_log`; empty when the build dir has no log yet."""
    log = build_dir / ".ninja_log"
    if not log.is_file():
        return []
    return ranking(log.read_text(errors="replace"), since_ns, where=str(log))
