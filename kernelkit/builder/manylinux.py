"""The manylinux tag a built library has earned, proven from the file: what it needs from the system, and nothing more.

A wheel tagged `linux_x86_64` is refused by public package indexes; `manylinux_2_X_<arch>` (PEP 600) promises it
runs on any Linux whose glibc is 2.X or newer. That promise holds when the library's shared objects
- need no glibc symbol version newer than 2.X, and no libstdc++ (GLIBCXX, CXXABI) or libgcc_s (GCC) version newer
  than the oldest distribution of that glibc generation ships (the table below),
- link (ELF NEEDED) only the system libraries every such Linux has: libc, libm, libdl, libpthread, librt, the
  dynamic loader, libgcc_s, libstdc++ — plus torch's own libraries, which the wheel's `torch` dependency provides
  and `import torch` loads before the library (they are left to torch, never copied into the wheel),
- carry the CUDA runtime inside (CUDA::cudart_static): a NEEDED libcudart would tie the wheel to one CUDA install,
  a NEEDED libcuda would make it unloadable on a machine without the driver,
- keep no RPATH/RUNPATH into the build machine's file system,
- and, for a kernelkit library, speak only torch's stable C ABI (`kernelkit check --abi`, abi.py).

The tag is the lowest manylinux policy whose limits cover every version the library needs (`platform_tag`); a
library that breaks a rule gets no tag and the release refuses, naming why. The per-policy limits are those of
auditwheel's manylinux policy file (pypa/auditwheel, src/auditwheel/policy/manylinux-policy.json), the reference
PyPI's own tooling applies; auditwheel itself is not used because its `repair` would copy libtorch into the wheel.
"""

from __future__ import annotations

import platform
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.builder import abi
from kernelkit.builder.toolchain import which
from kernelkit.errors import KernelkitError

# glibc minor of the policy -> newest (GLIBC, GLIBCXX, CXXABI, GCC) versions its systems are guaranteed to have.
_LIMITS = {
    "x86_64": {
        17: ("2.17", "3.4.19", "1.3.7", "4.8.0"),
        24: ("2.24", "3.4.22", "1.3.10", "4.8.0"),
        26: ("2.26", "3.4.22", "1.3.10", "4.8.0"),
        27: ("2.27", "3.4.24", "1.3.11", "7.0.0"),
        28: ("2.28", "3.4.24", "1.3.11", "7.0.0"),
        31: ("2.31", "3.4.28", "1.3.12", "7.0.0"),
        34: ("2.34", "3.4.29", "1.3.13", "7.0.0"),
        35: ("2.35", "3.4.30", "1.3.13", "12.0.0"),
        36: ("2.36", "3.4.30", "1.3.13", "12.0.0"),
        38: ("2.38", "3.4.30", "1.3.13", "12.0.0"),
        39: ("2.39", "3.4.33", "1.3.15", "14.0.0"),
        40: ("2.40", "3.4.33", "1.3.15", "14.0.0"),
        41: ("2.41", "3.4.33", "1.3.15", "14.0.0"),
    },
    "aarch64": {
        17: ("2.18", "3.4.19", "1.3.7", "4.7.0"),
        24: ("2.24", "3.4.22", "1.3.10", "4.7.0"),
        26: ("2.26", "3.4.24", "1.3.11", "7.0.0"),
        28: ("2.28", "3.4.24", "1.3.11", "7.0.0"),
        31: ("2.31", "3.4.28", "1.3.12", "7.0.0"),
        34: ("2.34", "3.4.29", "1.3.13", "11.0"),
        35: ("2.35", "3.4.30", "1.3.13", "11.0"),
        36: ("2.36", "3.4.30", "1.3.13", "11.0"),
        38: ("2.38", "3.4.30", "1.3.13", "11.0"),
        39: ("2.39", "3.4.33", "1.3.15", "14.0.0"),
        40: ("2.40", "3.4.33", "1.3.15", "14.0.0"),
        41: ("2.41", "3.4.33", "1.3.15", "14.0.0"),
    },
}
_PREFIXES = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
# Every manylinux system has these (glibc's own libraries, the loader, the GCC runtime).
SYSTEM_LIBRARIES = frozenset(
    {
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "libpthread.so.0",
        "librt.so.1",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "ld-linux-x86-64.so.2",
        "ld-linux-aarch64.so.1",
    }
)
# torch's libraries: provided by the wheel's torch dependency and already loaded by `import torch`.
_TORCH_LIBRARY_RE = re.compile(r"^lib(?:torch|torch_cpu|torch_cuda|torch_python|c10|c10_cuda|shm)\.so(?:\.\d+)*$")
_CUDA_RUNTIME_RE = re.compile(r"^libcuda(?:rt)?\.so(?:\.\d+)*$")
_NUMERIC_RE = re.compile(r"^\d+(?:\.\d+)*$")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@dataclass
class LibraryAudit:
    """What one shared object needs from the system, and the manylinux tag that covers it (None: none does)."""

    library: str  # its path inside the wheel (or on disk)
    needs: dict[str, str] = field(default_factory=dict)  # GLIBC -> 2.34, GLIBCXX -> 3.4.29, ...
    needed: list[str] = field(default_factory=list)  # ELF NEEDED entries
    left_to_torch: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    tag: str | None = None

    def to_json(self) -> dict:
        return {
            "library": self.library,
            "needs": self.needs,
            "needed": self.needed,
            "left_to_torch": self.left_to_torch,
            "problems": self.problems,
            "tag": self.tag,
        }


def machine() -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())


def platform_tag(needs: dict[str, str], arch: str) -> str | None:
    """The lowest manylinux_2_X_<arch> whose limits cover `needs` (prefix -> version); None when none does."""
    limits = _LIMITS.get(arch)
    if limits is None:
        return None
    for minor, maxima in sorted(limits.items()):
        if all(_key(needs[p]) <= _key(m) for p, m in zip(_PREFIXES, maxima) if p in needs):
            return f"manylinux_2_{minor}_{arch}"
    return None


def dynamic_section(library: Path) -> tuple[list[str], list[str]]:
    """(NEEDED libraries, RPATH/RUNPATH entries) from `readelf -d`."""
    readelf = which("readelf")
    if readelf is None:
        raise KernelkitError("cannot audit the wheel: `readelf` not found (install binutils)")
    out = subprocess.run([readelf, "-d", str(library)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise KernelkitError(f"{library}: readelf cannot read it ({out.stderr.strip()[-200:]})")
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out.stdout)
    paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[([^\]]*)\]", out.stdout)
    return needed, [p for entry in paths for p in entry.split(":") if p]


def audit_library(path: Path, shown: str | None = None, arch: str | None = None) -> LibraryAudit:
    """The audit of one shared object: symbol versions, NEEDED, RUNPATH, the torch ABI; and its tag."""
    arch = arch or machine()
    result = LibraryAudit(shown or str(path))
    report = abi.audit(path)
    for sym in report.by_category.get(abi.RUNTIME, []):
        prefix, _, version = (sym.version or "").partition("_")
        if prefix in _PREFIXES and not _NUMERIC_RE.match(version) and version not in ("TM_1", "FLOAT128"):
            result.problems.append(f"needs {sym.shown}, which no manylinux policy allows")
        elif prefix in _PREFIXES and _NUMERIC_RE.match(version):
            if prefix not in result.needs or _key(version) > _key(result.needs[prefix]):
                result.needs[prefix] = version
    if not report.ok:
        first = report.forbidden[0].shown
        result.problems.append(
            f"{len(report.forbidden)} symbols outside torch's stable C ABI (e.g. {first}): it would load in one torch "
            "only (`kernelkit check --abi` lists them)"
        )
    result.needed, runpath = dynamic_section(path)
    for name in result.needed:
        if name in SYSTEM_LIBRARIES:
            continue
        if _TORCH_LIBRARY_RE.match(name):
            result.left_to_torch.append(name)
        elif _CUDA_RUNTIME_RE.match(name):
            result.problems.append(
                f"links {name} dynamically: link the CUDA runtime statically (CUDA::cudart_static) and let it find "
                "the driver at run time"
            )
        else:
            result.problems.append(f"links {name}, which a manylinux system need not have")
    for entry in runpath:
        if not entry.startswith("$ORIGIN"):
            result.problems.append(f"RPATH/RUNPATH {entry} points into the build machine")
    if not result.problems:
        result.tag = platform_tag(result.needs, arch)
        if result.tag is None:
            newest = ", ".join(f"{p}_{v}" for p, v in result.needs.items())
            result.problems.append(f"needs {newest}: newer than any manylinux policy known for {arch}")
    return result


def audit_wheel(wheel: Path) -> list[LibraryAudit]:
    """Every shared object in the wheel, audited (extracted to a scratch folder)."""
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory(prefix="kernelkit-audit-") as tmp:
        audits = []
        for name in zf.namelist():
            if re.search(r"\.so(?:\.\d+)*$", name):
                audits.append(audit_library(Path(zf.extract(name, tmp)), shown=name))
        return audits


def wheel_tag(audits: list[LibraryAudit]) -> str:
    """The tag every library of the wheel earns (the newest of theirs); KernelkitError naming every problem."""
    problems = [f"{a.library}: {p}" for a in audits for p in a.problems]
    if problems:
        raise KernelkitError("the wheel cannot get a manylinux tag (an index would refuse it):", details=problems)
    tags = [a.tag for a in audits if a.tag]
    return max(tags, key=lambda t: int(t.split("_")[2])) if tags else ""


def retag(wheel: Path, tag: str) -> Path:
    """The wheel with platform tag `tag` instead of its own (the `wheel tags` command of the `wheel` package, which
    rewrites the file name, WHEEL's Tag lines and RECORD); the old file is removed."""
    if tag in wheel.name:
        return wheel
    cmd = [sys.executable, "-m", "wheel", "tags", "--platform-tag", tag, "--remove", str(wheel)]
    proc = subprocess.run(cmd, cwd=wheel.parent, capture_output=True, text=True, timeout=300)
    name = (proc.stdout.strip().splitlines() or [""])[-1].strip()
    if proc.returncode != 0 or not name or not (wheel.parent / name).is_file():
        reason = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise KernelkitError(f"retagging {wheel.name} as {tag} failed (`wheel tags`)", details=reason)
    return wheel.parent / name
