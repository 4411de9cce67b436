"""Loads the compiled op library (``_kernelkit_ops*.so``) into torch once.

The library registers its ops under ``torch.ops.kernelkit`` when loaded. It is built for the
LibTorch stable ABI of torch 2.10, so the same file loads in every torch >= 2.10.
"""

from __future__ import annotations

from pathlib import Path

import torch

_PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_GLOB = "_kernelkit_ops*.so"


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
    return path
