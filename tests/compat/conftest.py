"""tests/compat: the sgl-kernel compatibility suite -- what code written for ``sgl_kernel`` relies on, checked
against ``kernelkit_ops`` (``import kernelkit_ops as sgl_kernel``).

Organised by what callers rely on, not by op: signatures (positional order, keyword names, defaults, as
sgl-kernel's Python API has them), return conventions, shapes and dtypes, the layouts and sizes it accepts,
its edge cases and -- for the quantizers -- its numbers bit for bit. The facts come from sgl-kernel's Python
API, kernels and upstream tests (docs/sgl-kernel-contract.md); the tests are our own.

Signature tests are CPU tests (they run in CI); everything that launches a kernel is marked ``gpu``.

Here: the references of sgl-kernel's arithmetic (``sgl_math``, ``quant_reference``, ``fp4_reference``, shared
with tests/ops/quantization) are put on ``sys.path``, and every test draws from a seed of its own id, so a
failure reproduces.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import pytest
import torch

QUANT_REFERENCES = Path(__file__).resolve().parents[1] / "ops" / "quantization"
if str(QUANT_REFERENCES) not in sys.path:
    sys.path.append(str(QUANT_REFERENCES))


@pytest.fixture(autouse=True)
def _seed_from_test_id(request: pytest.FixtureRequest) -> None:
    """The same random inputs on every run of a test (and different ones across tests)."""
    torch.manual_seed(zlib.crc32(request.node.nodeid.encode()))
