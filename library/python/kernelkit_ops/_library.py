"""Loads the compiled op library (``_kernelkit_ops*.so``) into torch once, and says what it was built with.

The library registers its ops under ``torch.ops.kernelkit`` when loaded. It is built for the
LibTorch stable ABI of torch 2.10, so the same file loads in every torch >= 2.10.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import sys
from pathlib import Path

import torch

from kernelkit_ops import _archguard

_PACKAGE_DIR = Path(__file__).resolve().parent
NAMESPACE = "kernelkit"  # torch.ops.NAMESPACE
LIBRARY_GLOB = "_kernelkit_ops*.so"
FEATURES_SYMBOL = "kernelkit_features"  # "KERNELKIT_FEATURES:fp4=1,cutlass=0,archs=90a", csrc/library.cc
# What the loaded library was compiled with, e.g. {"fp4": "1", "cutlass": "0", "archs": "90a"}; set once by load(). A
# plain dict read by plain functions, so that torch.compile traces the wrappers that check it without a graph break.
_FEATURES: dict[str, str] = {}


def library_path() -> Path | None:
    """The compiled library beside this package, or None when it has not been built."""
    candidates = sorted(_PACKAGE_DIR.glob(LIBRARY_GLOB))
    return candidates[0] if candidates else None


def load() -> Path:
    path = library_path()
    if path is None:
        raise ImportError(
            f"kernelkit_ops: the compiled library ({LIBRARY_GLOB}) is missing from {_PACKAGE_DIR}; "
            "build it with `kernelkit build` (or `make build`)"
        )
    torch.ops.load_library(str(path))
    _FEATURES.clear()
    _FEATURES.update(_read_features(path))
    # No kernels for any visible GPU: say so now, not at the first launch (NVML only: no CUDA context is made).
    _archguard.check(__package__, _FEATURES)
    return path


def _read_features(path: Path) -> dict[str, str]:
    """The feature record of the loaded library (ctypes gets the handle torch already holds); empty
    for a library built before kernelkit recorded it."""
    try:
        first = ctypes.c_char.in_dll(ctypes.CDLL(str(path)), FEATURES_SYMBOL)
    except (OSError, ValueError):
        return {}
    text = ctypes.string_at(ctypes.addressof(first)).decode("ascii", "replace")
    _, _, items = text.partition(":")
    return dict(item.split("=", 1) for item in items.split(",") if "=" in item)


def features() -> dict[str, str]:
    """What the loaded library was compiled with, e.g. ``{"fp4": "1"}`` (empty before load() or for an old build)."""
    return dict(_FEATURES)


# The build features (kernelkit's table of them: kernelkit/model/features.py). An op in a feature's CMake list is
# compiled only in builds with it, and its wrapper's first statement is require_<feature>("<op>"); a library
# without it says so, and how to get it.
_WITHOUT = {
    "fp4": "kernelkit_ops was built without FP4 kernels; rebuild with `kernelkit build --fp4` "
    "(CMake: -DKERNELKIT_ENABLE_FP4=ON)",
    "cutlass": "kernelkit_ops was built without the CUTLASS GEMM ops; `pip install nvidia-cutlass==4.2.0.0` and run "
    "`kernelkit build` again (or point CMake at CUTLASS's include folder: -DKERNELKIT_CUTLASS_DIR=...); "
    "`kernelkit doctor` says why they were left out",
}
# `kernelkit build` flags that keep a feature the loaded library has (the others it gets wherever it can).
_BUILD_FLAGS = {"fp4": "--fp4"}


def enabled(feature: str) -> bool:
    """Whether the library was built with `feature` (a key of its feature record: fp4, cutlass)."""
    return _FEATURES.get(feature) == "1"


def require(feature: str, op: str) -> None:
    """The first check of the wrapper of an op of `feature`'s list: without it the op has no kernel."""
    if _FEATURES.get(feature) != "1":
        raise RuntimeError(f"{op}: {_WITHOUT[feature]}")


def fp4_enabled() -> bool:
    """Whether the library has the FP4 kernels (built with ``kernelkit build --fp4``)."""
    return enabled("fp4")


def require_fp4(op: str) -> None:
    """The first check of every FP4 op's wrapper: without the FP4 kernels the op has a schema but no kernel."""
    require("fp4", op)


def cutlass_enabled() -> bool:
    """Whether the library has the CUTLASS GEMM ops (built where the CUTLASS headers were found)."""
    return enabled("cutlass")


def require_cutlass(op: str) -> None:
    """The first check of every CUTLASS op's wrapper: a build without the CUTLASS headers has no kernel for it."""
    require("cutlass", op)


def explain_unbuilt(package: str, ops: list[str]) -> None:
    """Every op of `ops` (the package's exports) that the loaded library does not register, i.e. one `kernelkit
    new` added after the last build, is replaced, in the package and in its own module, by a function that calls
    its wrapper and turns torch's bare "no attribute" error into one saying to rebuild. Ops the library has are
    left as they are: no cost per call. An op of a build feature the build lacks (FP4, CUTLASS) is wrapped too, and
    its wrapper's own error, which says how to get the feature, comes through as it is."""
    for op in ops:
        if torch._C._jit_get_schemas_for_operator(f"{NAMESPACE}::{op}"):
            continue
        wrapper = getattr(sys.modules[package], op, None)
        # An op's wrapper is the function its own module is named after; other exports (an alias such as
        # top_k_renorm_prob, a class such as FusedSetKVBufferArg) are not ops and stay as they are.
        if not inspect.isfunction(wrapper) or getattr(wrapper, "__module__", "").rpartition(".")[2] != op:
            continue
        explained = _explaining(op, wrapper)
        setattr(sys.modules[package], op, explained)
        module = sys.modules.get(getattr(wrapper, "__module__", ""))
        if module is not None and getattr(module, op, None) is wrapper:
            setattr(module, op, explained)


def _explaining(op: str, wrapper):
    @functools.wraps(wrapper)
    def call(*args, **kwargs):
        try:
            return wrapper(*args, **kwargs)
        except AttributeError as exc:
            if f"'{op}'" not in str(exc) or torch._C._jit_get_schemas_for_operator(f"{NAMESPACE}::{op}"):
                raise
            build = " ".join(["kernelkit build", *(flag for f, flag in _BUILD_FLAGS.items() if enabled(f))])
            raise RuntimeError(
                f"{op}: torch.ops.{NAMESPACE}.{op} is not in the loaded library ({library_path()}), which was built "
                f"before the op was added; run `{build}` and restart Python"
            ) from None

    return call
