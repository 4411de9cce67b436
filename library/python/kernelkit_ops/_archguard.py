"""The import-time arch guard: does the compiled library have machine code for the GPUs this process can see?

A library built for other GPUs loads fine and fails only at its first kernel launch, with CUDA's "no kernel image
is available for execution on the device". The guard says so at import instead, naming each GPU's compute
capability, the archs the build contains and the command that fixes it.

What runs where (the rule `runs_on` implements; sources below). The build embeds SASS only: CMake passes
`-gencode=arch=compute_XY,code=sm_XY` per arch (library/CMakeLists.txt), so there is no PTX the driver could JIT
for another GPU, and the SASS rules alone decide:

- `XY` (plain, e.g. `80`): runs on compute capability X.Y' with the same major X and Y' >= Y. SASS is binary
  compatible from one minor revision to the next, never backwards nor across majors.
- `XYa` (architecture-specific, e.g. `90a`, `100a`): runs on exactly X.Y. Its extra instructions (wgmma, tcgen05)
  are not promised to any other GPU, not even a later minor of the same major.
- `XYf` (family-specific, e.g. `100f`, `120f`, CUDA 12.9+): runs on the same family, the same major X with minor
  Y' >= Y (`100f` on 10.0 and 10.3, `103f` on 10.3 only, `120f` on 12.0 and 12.1).

Sources: CUDA C++ Programming Guide, "Binary Compatibility" (cubin of X.y runs on X.z, z >= y);
CUDA Programming Guide, 5.1.2 "Feature Availability" (architecture- and family-specific feature sets),
https://docs.nvidia.com/cuda/cuda-programming-guide/05-appendices/compute-capabilities.html;
NVIDIA Technical Blog, "NVIDIA Blackwell and NVIDIA CUDA 12.9 Introduce Family-Specific Architecture Features"
(2025), https://developer.nvidia.com/blog/nvidia-blackwell-and-nvidia-cuda-12-9-introduce-family-specific-architecture-features/

How the GPUs are found: through NVML (libnvidia-ml.so.1, the driver's management library, via ctypes), never
through CUDA. Importing must not create a CUDA context: engines fork workers after import, and a context made
before fork breaks the children (torch's own `torch.cuda` stays lazy for that reason; its NVML helpers count
devices or read UUIDs but give no compute capability, so this module asks NVML itself). CUDA_VISIBLE_DEVICES is
honoured as CUDA reads it: numeric indices, the list ending at the first entry that is not one; UUIDs or MIG names
(`GPU-...`, `MIG-...`) mean every GPU is considered. Without NVML or without a visible GPU (a CPU machine, a
container without the driver) nothing is checked and the import goes on.

Verdicts: no visible GPU covered -> ImportError; some covered, some not -> an ArchWarning naming the others.
KERNELKIT_SKIP_ARCH_CHECK=1 skips the check (the ops then fail at their first launch on an uncovered GPU).

This file is generic: `kernelkit init` projects get the same copy (kernelkit/codegen/initproject.py), and
`kernelkit doctor` loads it from the project to print the same verdict.
"""

from __future__ import annotations

import ctypes
import os
import re
import warnings
from dataclasses import dataclass, field

SKIP_ENV = "KERNELKIT_SKIP_ARCH_CHECK"
NVML_LIBRARY = "libnvidia-ml.so.1"
_ARCH_RE = re.compile(r"^(\d+)(\d)([af]?)$")  # 90a -> major 9, minor 0, "a"; 100f -> 10, 0, "f"; 86 -> 8, 6


class ArchWarning(UserWarning):
    """Some visible GPUs have no machine code in the library (others do): ops fail on those GPUs only."""


@dataclass(frozen=True)
class Gpu:
    index: int  # the CUDA device ordinal the process sees (after CUDA_VISIBLE_DEVICES)
    name: str
    capability: tuple[int, int]

    @property
    def cc(self) -> str:
        return f"{self.capability[0]}.{self.capability[1]}"

    def describe(self) -> str:
        return f"GPU {self.index} ({self.name}, compute capability {self.cc})"


def parse_arch(arch: str) -> tuple[int, int, str]:
    """`90a` -> (9, 0, "a"), `120f` -> (12, 0, "f"), `86` -> (8, 6, ""); ValueError otherwise."""
    match = _ARCH_RE.match(arch.strip().removeprefix("sm_"))
    if not match:
        raise ValueError(f"not a CUDA arch: {arch!r}")
    return int(match.group(1)), int(match.group(2)), match.group(3)


def parse_archs(text: str | None) -> list[str]:
    """The feature record's `archs` value (`90a+100a`) as a list; [] when absent, empty or unreadable."""
    archs = [a for a in (text or "").split("+") if a]
    try:
        for arch in archs:
            parse_arch(arch)
    except ValueError:
        return []
    return archs


def runs_on(arch: str, capability: tuple[int, int]) -> bool:
    """Whether SASS built for `arch` (no PTX) runs on a GPU of `capability` (the module docstring gives the rule)."""
    major, minor, suffix = parse_arch(arch)
    if suffix == "a":
        return capability == (major, minor)
    return capability[0] == major and capability[1] >= minor  # plain and family-specific alike


def own_arch(capability: tuple[int, int]) -> str:
    """The target to build for a GPU: its architecture-specific one from Hopper on (90a, 100a, 120a), which
    unlocks its own instructions; plain before (80, 86, 89). The same choice as `kernelkit build` without --arch."""
    major, minor = capability
    return f"{major}{minor}{'a' if major >= 9 else ''}"


def visible_indices(value: str | None, count: int) -> list[int] | None:
    """The NVML indices CUDA_VISIBLE_DEVICES=`value` lets the process see, in CUDA's order; None when they cannot
    be told apart from the indices alone (UUIDs, MIG names): then every GPU is considered."""
    if value is None:
        return list(range(count))
    entries = [e.strip() for e in value.split(",")]
    if entries and entries[0].startswith(("GPU-", "MIG-")):
        return None
    out: list[int] = []
    for entry in entries:
        digits = re.match(r"\d+", entry)
        if digits is None:  # "" or "-1" or a name: CUDA stops reading the list here
            break
        index = int(digits.group())
        if index >= count:  # an ordinal past the last GPU ends the list as well
            break
        if index in out:  # a repeated ordinal makes CUDA see no device at all (torch reads it the same way)
            return []
        out.append(index)
    return out


class _Nvml:
    """The few NVML calls needed, through ctypes; every failure is an OSError (caught by `nvml_gpus`)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(NVML_LIBRARY)
        self.lib.nvmlDeviceGetHandleByIndex_v2.argtypes = [ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p)]
        self.lib.nvmlDeviceGetCudaComputeCapability.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int),
        ]
        self.lib.nvmlDeviceGetName.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]

    def call(self, name: str, *args) -> None:
        rc = getattr(self.lib, name)(*args)
        if rc != 0:
            raise OSError(f"{name} returned NVML error {rc}")

    def devices(self) -> list[tuple[str, tuple[int, int]]]:
        self.call("nvmlInit_v2")
        try:
            count = ctypes.c_uint(0)
            self.call("nvmlDeviceGetCount_v2", ctypes.byref(count))
            out = []
            for i in range(count.value):
                handle = ctypes.c_void_p()
                self.call("nvmlDeviceGetHandleByIndex_v2", i, ctypes.byref(handle))
                major, minor = ctypes.c_int(0), ctypes.c_int(0)
                self.call("nvmlDeviceGetCudaComputeCapability", handle, ctypes.byref(major), ctypes.byref(minor))
                name = ctypes.create_string_buffer(96)
                try:
                    self.call("nvmlDeviceGetName", handle, name, len(name))
                    text = name.value.decode("utf-8", "replace") or "unnamed GPU"
                except OSError:
                    text = "unnamed GPU"
                out.append((text, (major.value, minor.value)))
            return out
        finally:
            self.lib.nvmlShutdown()


def nvml_devices() -> list[tuple[str, tuple[int, int]]] | None:
    """(name, compute capability) of every GPU the driver knows, in NVML's (PCI bus) order; None without NVML."""
    try:
        return _Nvml().devices()
    except (OSError, AttributeError):  # no driver library, an old one without a symbol, or an NVML error
        return None


def visible_gpus(devices: list[tuple[str, tuple[int, int]]], env: dict[str, str] | os._Environ) -> list[Gpu]:
    """The GPUs a CUDA process started with `env` would see, numbered as it numbers them."""
    indices = visible_indices(env.get("CUDA_VISIBLE_DEVICES"), len(devices))
    # CUDA numbers GPUs fastest first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, NVML by PCI bus: an index names the same
    # GPU in both only in PCI order, or when every GPU has one capability (then which one it is does not matter).
    same_order = env.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" or len({cap for _, cap in devices}) <= 1
    if indices is None or (not same_order and indices != list(range(len(devices)))):
        return [Gpu(i, name, cap) for i, (name, cap) in enumerate(devices)]  # every GPU, the safe superset
    return [Gpu(ordinal, *devices[i]) for ordinal, i in enumerate(indices)]


@dataclass
class Assessment:
    """The guard's verdict for one library on this machine."""

    archs: list[str]  # the build's SASS targets ([]: unknown, an old build or one made without CMake)
    gpus: list[Gpu] | None  # the visible GPUs; None without NVML
    skipped: bool = False  # KERNELKIT_SKIP_ARCH_CHECK
    uncovered: list[Gpu] = field(default_factory=list)

    @property
    def covered(self) -> list[Gpu]:
        return [g for g in self.gpus or [] if g not in self.uncovered]

    @property
    def status(self) -> str:
        """ok / partial / none (no visible GPU covered) / skipped / no-archs / no-nvml / no-gpu."""
        if self.skipped:
            return "skipped"
        if not self.archs:
            return "no-archs"
        if self.gpus is None:
            return "no-nvml"
        if not self.gpus:
            return "no-gpu"
        if not self.uncovered:
            return "ok"
        return "partial" if self.covered else "none"

    def fix_archs(self) -> str:
        """The --arch list that keeps the build's archs and adds what every uncovered GPU needs."""
        wanted = [*self.archs, *(own_arch(g.capability) for g in self.uncovered)]
        return ",".join(dict.fromkeys(wanted))

    def built_for(self) -> str:
        return " + ".join(f"sm_{a}" for a in self.archs)

    def line(self) -> str:
        """One line for `kernelkit doctor`."""
        status = self.status
        if status == "skipped":
            return f"not checked ({SKIP_ENV} is set)"
        if status == "no-archs":
            return "not checked: the library does not record its archs (built before the record; kernelkit build)"
        if status == "no-nvml":
            return f"built for {self.built_for()}; not checked (no NVML: no NVIDIA driver here)"
        if status == "no-gpu":
            return f"built for {self.built_for()}; not checked (no GPU visible)"
        gpus = "; ".join(
            f"{g.describe()}: {'covered' if g not in self.uncovered else 'NOT covered'}" for g in self.gpus
        )
        return f"built for {self.built_for()}; {gpus}"

    def message(self, package: str) -> str:
        """The ImportError (no visible GPU covered) or the warning (some not covered)."""
        gpus = ", ".join(g.describe() for g in self.uncovered)
        needs = ", ".join(dict.fromkeys(f"sm_{own_arch(g.capability)}" for g in self.uncovered))
        if self.status == "none":
            head = f"{package}: the compiled library has no kernels for this machine's GPUs: {gpus}"
        else:
            which = "that GPU" if len(self.uncovered) == 1 else "those GPUs"
            head = (
                f"{package}: the compiled library has no kernels for {gpus}; ops on {which} would fail with "
                "'no kernel image is available'"
            )
        return (
            f"{head}. It was built for {self.built_for()} only (machine code, no PTX for the driver to compile). "
            f"Rebuild it with `kernelkit build --arch {self.fix_archs()}`, or install a build made for {needs}. "
            f"{SKIP_ENV}=1 skips this check."
        )


def assess(features: dict[str, str], env: dict[str, str] | os._Environ | None = None) -> Assessment:
    """The verdict for a library with this feature record, against the GPUs visible here (NVML, no CUDA)."""
    env = os.environ if env is None else env
    archs = parse_archs(features.get("archs"))
    if env.get(SKIP_ENV, "") not in ("", "0"):
        return Assessment(archs, None, skipped=True)
    if not archs:
        return Assessment(archs, None)
    devices = nvml_devices()
    if devices is None:
        return Assessment(archs, None)
    gpus = visible_gpus(devices, env)
    uncovered = [g for g in gpus if not any(runs_on(a, g.capability) for a in archs)]
    return Assessment(archs, gpus, uncovered=uncovered)


def check(package: str, features: dict[str, str]) -> Assessment:
    """At import: ImportError when no visible GPU can run the library, an ArchWarning when some cannot."""
    assessment = assess(features)
    if assessment.status == "none":
        raise ImportError(assessment.message(package))
    if assessment.status == "partial":
        warnings.warn(assessment.message(package), ArchWarning, stacklevel=3)
    return assessment
