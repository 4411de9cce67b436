"""Suite-wide: GPU tests (marker `gpu`) skip with one clear reason when torch sees no CUDA GPU; under pytest-xdist,
a worker whose CUDA context a test has broken is replaced instead of failing every test after it."""

from __future__ import annotations

import os

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


# CUDA errors that leave the process's context unusable: every later CUDA call in it fails the same way.
STICKY_CUDA_ERRORS = (
    "an illegal memory access was encountered",
    "misaligned address",
    "unspecified launch failure",
    "device-side assert triggered",
    "an illegal instruction was encountered",
    "operation not permitted when stream is capturing",
)


def is_sticky_cuda_error(text: str) -> bool:
    return any(marker in text for marker in STICKY_CUDA_ERRORS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    if call.excinfo is not None and outcome.get_result().failed and is_sticky_cuda_error(str(call.excinfo.value)):
        item.config.stash[_BROKEN_CONTEXT] = item.nodeid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    yield  # the test ran and its reports went out (to the xdist controller too)
    broken = item.config.stash.get(_BROKEN_CONTEXT, None)
    if broken is not None and hasattr(item.config, "workerinput"):  # set on xdist workers only
        # An xdist worker exits here, its failure reported; the controller starts a fresh worker (a new CUDA
        # context) for the rest of its tests. Without xdist the run goes on, and the failures after this one
        # carry this test's name in their cause.
        print(f"\n[conftest] {broken} broke this worker's CUDA context; exiting so that xdist replaces it", flush=True)
        os._exit(3)


_BROKEN_CONTEXT = pytest.StashKey[str]()
