"""Which torch a built library can load in: an audit of the `.so`'s undefined dynamic symbols.

"One build loads in every torch >= 2.10" holds only while the library asks torch for nothing beyond the
stable C shim (`aoti_torch_*`, `torch_*` C functions). A single C++-mangled c10/at/torch symbol binds it to
the exact torch it was compiled against. The C and C++ runtimes are fine when versioned (glibc, libstdc++,
libgcc: the newest version needed is what a manylinux tag must cover), as is the CUDA runtime.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.builder.toolchain import which
from kernelkit.errors import KernelkitError

# Categories, in the order a report lists them; the first ones are what a portable build may need.
SHIM = "torch stable C shim"
SHIM_UNDECLARED = "torch C symbol not declared in this torch's shim headers"
RUNTIME = "C/C++ runtime (versioned)"
CUDA = "CUDA runtime/driver"
WEAK = "weak (optional at load)"
TORCH_CXX = "torch C++ (unstable ABI)"
UNKNOWN = "unversioned, from no known library"
ALLOWED = (SHIM, RUNTIME, CUDA, WEAK)
WARNING = (SHIM_UNDECLARED,)
CATEGORIES = (SHIM, SHIM_UNDECLARED, RUNTIME, CUDA, WEAK, TORCH_CXX, UNKNOWN)

_RUNTIME_VERSIONS = ("GLIBC", "GLIBCXX", "CXXABI", "GCC")
_TORCH_C_RE = re.compile(r"^(?:aoti_torch|torch)_\w+$")
_CUDA_RE = re.compile(r"^(?:__cuda|cuda|cu[A-Z])\w*$")
# A torch namespace as a component of a demangled name: `c10::Half::...`, `std::vector<at::Tensor>`.
_TORCH_NS_RE = re.compile(r"(?<![\w:])(?:c10|at|torch|caffe2)::")
# The same, mangled: a nested name (N, optionally cv-qualified) or a template argument starting with one.
_TORCH_MANGLED_RE = re.compile(r"(?:N[rVKRO]*|I|[0-9])(?:3c10|2at|5torch|6caffe2)[0-9A-Z_]")
_DECL_RE = re.compile(r"\b((?:aoti_torch|torch)_\w+)\s*\(")
_SHIM_HEADER_DIRS = (
    "torch/csrc/inductor/aoti_torch/c",
    "torch/csrc/inductor/aoti_torch/generated",
    "torch/csrc/stable/c",
)


@dataclass(frozen=True)
class Symbol:
    name: str  # without the version
    version: str | None  # e.g. GLIBC_2.34
    weak: bool
    demangled: str | None = None

    @property
    def shown(self) -> str:
        return (self.demangled or self.name) + (f"@{self.version}" if self.version else "")


@dataclass
class AbiReport:
    library: Path
    by_category: dict[str, list[Symbol]] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)  # GLIBC -> GLIBC_2.34, ...
    shim_headers_found: bool = True

    @property
    def forbidden(self) -> list[Symbol]:
        return [s for c in CATEGORIES if c not in ALLOWED + WARNING for s in self.by_category.get(c, [])]

    @property
    def ok(self) -> bool:
        return not self.forbidden

    def to_json(self) -> dict:
        return {
            "ok": self.ok,
            "library": str(self.library),
            "newest_versions": self.newest,
            "categories": {
                c: {
                    "count": len(syms),
                    "allowed": c in ALLOWED or c in WARNING,
                    "symbols": [s.shown for s in syms],
                }
                for c, syms in self.by_category.items()
            },
            "forbidden": [s.shown for s in self.forbidden],
        }


def parse_nm(text: str) -> list[Symbol]:
    """`nm -D --undefined-only` lines: `<spaces>U name@VERSION` or `<spaces>w name`."""
    symbols = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 1:
            continue
        kind, full = parts
        name, _, version = full.partition("@")
        symbols.append(Symbol(name, version.lstrip("@") or None, kind in "wv"))
    return symbols


def shim_declarations(include_dir: Path | None) -> set[str] | None:
    """Every `aoti_torch_*` / `torch_*` function the stable C shim headers declare; None without the headers."""
    if include_dir is None:
        return None
    names: set[str] = set()
    found = False
    for sub in _SHIM_HEADER_DIRS:
        folder = include_dir / sub
        for header in sorted(folder.glob("*.h")) if folder.is_dir() else []:
            found = True
            names.update(_DECL_RE.findall(header.read_text(errors="replace")))
    return names if found else None


def torch_include_dir() -> Path | None:
    """torch's bundled headers, found without importing torch (seconds saved, and no torch needed to load)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "include"
    return folder if folder.is_dir() else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def classify(symbols: list[Symbol], declared: set[str] | None, library: Path) -> AbiReport:
    report = AbiReport(library, {c: [] for c in CATEGORIES}, shim_headers_found=declared is not None)
    for sym in symbols:
        mangled = sym.name.startswith("_Z")
        torch_cxx = mangled and (
            bool(_TORCH_NS_RE.search(sym.demangled)) if sym.demangled else bool(_TORCH_MANGLED_RE.search(sym.name))
        )
        prefix = sym.version.split("_", 1)[0] if sym.version else None
        if torch_cxx:
            category = TORCH_CXX
        elif prefix in _RUNTIME_VERSIONS:
            category = RUNTIME
            if prefix not in report.newest or _version_key(sym.version) > _version_key(report.newest[prefix]):
                report.newest[prefix] = sym.version
        elif _TORCH_C_RE.match(sym.name):
            category = SHIM if declared is None or sym.name in declared else SHIM_UNDECLARED
        elif _CUDA_RE.match(sym.name) or (sym.version or "").startswith("libcuda"):
            category = CUDA
        elif sym.weak:
            category = WEAK
        else:
            category = UNKNOWN
        report.by_category[category].append(sym)
    report.by_category = {c: syms for c, syms in report.by_category.items() if syms}
    return report


def _demangle(names: list[str]) -> dict[str, str] | None:
    cxxfilt = which("c++filt")
    if cxxfilt is None or not names:
        return None
    try:
        out = subprocess.run([cxxfilt], input="\n".join(names), capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.splitlines()
    return dict(zip(names, lines, strict=False)) if out.returncode == 0 and len(lines) == len(names) else None


def audit(library: Path, include_dir: Path | None = None) -> AbiReport:
    """The audit of `library`'s undefined dynamic symbols against this environment's torch shim headers."""
    if not library.is_file():
        raise KernelkitError(f"{library}: no such library; run `kernelkit build` first")
    nm = which("nm")
    if nm is None:
        raise KernelkitError("cannot audit the ABI: `nm` not found (install binutils, e.g. apt-get install binutils)")
    out = subprocess.run([nm, "-D", "--undefined-only", str(library)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or ["nm failed"])[-1]
        raise KernelkitError(f"{library}: not a shared library nm can read ({reason})")
    symbols = parse_nm(out.stdout)
    demangled = _demangle([s.name for s in symbols if s.name.startswith("_Z")]) or {}
    symbols = [Symbol(s.name, s.version, s.weak, demangled.get(s.name)) for s in symbols]
    return classify(symbols, shim_declarations(include_dir or torch_include_dir()), library)


def built_library(package_dir: Path) -> Path:
    built = sorted(package_dir.glob("_*.so"))
    if not built:
        raise KernelkitError(f"no built library in {package_dir}; run `kernelkit build` first")
    return built[0]
