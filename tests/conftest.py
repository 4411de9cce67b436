"""Suite-wide: GPU tests (marker `gpu`) skip with one clear reason when torch sees no CUDA GPU."""

from __future__ import annotations

import pytest

GPU_SKIP_REASON = "needs a CUDA GPU (none visible to torch)"  # kernelkit.testrun counts skips by this prefix


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason=GPU_SKIP_REASON)
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
