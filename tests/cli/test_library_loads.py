"""The op library loads and registers its ops without a GPU (a CPU-only torch is enough)."""

from __future__ import annotations

from pathlib import Path


def test_import_registers_ops_without_gpu():
    import kernelkit_ops
    import torch

    assert Path(kernelkit_ops.LIBRARY_PATH).is_file()
    assert hasattr(torch.ops.kernelkit, "silu_and_mul")
    schema = str(torch.ops.kernelkit.silu_and_mul.default._schema)
    assert schema.startswith("kernelkit::silu_and_mul(")
    assert callable(kernelkit_ops.silu_and_mul)
