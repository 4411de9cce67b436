"""Gated activations as sgl-kernel code calls them: ``silu_and_mul`` / ``gelu_and_mul`` / ``gelu_tanh_and_mul``.

What sgl-kernel's API and tests establish, and callers rely on:
* ``y = op(x)`` allocates and returns ``[..., d]`` for ``x [..., 2d]`` (any leading dims; its test uses
  ``[batch, seq, 2d]``), in x's dtype and on its device; x is only read;
* ``op(x, out)`` / ``op(x, out=out)`` writes into ``out`` and returns that same tensor;
* the numbers: ``x[..., d:] * act(x[..., :d])`` within ``rtol = atol = 1e-3`` for fp16 (act = SiLU, erf
  GELU, tanh GELU), for every width its test sweeps (128 .. 16384, 11008 included).
Differences kept on purpose (README): sgl-kernel refuses a last dim whose bytes are not a multiple of 16
(ValueError) and raises AssertionError for a mismatched ``out``; kernelkit takes any width and raises
RuntimeError naming the argument.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
import torch.nn.functional as F

ACTS = {
    "silu_and_mul": F.silu,
    "gelu_and_mul": lambda g: F.gelu(g, approximate="none"),
    "gelu_tanh_and_mul": lambda g: F.gelu(g, approximate="tanh"),
}
# (batch, seq, d): sgl-kernel's test widths with some of its batch x seq grid
SHAPES = [(1, 1, 128), (2, 4, 256), (4, 64, 512), (16, 1, 2048), (1, 512, 4096), (8, 16, 11008), (16, 32, 16384)]


def upstream_reference(x: torch.Tensor, op: str) -> torch.Tensor:
    """sgl-kernel's test reference: torch in x's dtype."""
    d = x.shape[-1] // 2
    return x[..., d:] * ACTS[op](x[..., :d])


@pytest.mark.gpu
@pytest.mark.parametrize("op", sorted(ACTS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_returns_a_new_half_width_tensor(op, shape):
    batch, seq, d = shape
    x = torch.randn(batch, seq, 2 * d, device="cuda", dtype=torch.float16)
    x_before = x.clone()
    y = getattr(kernelkit_ops, op)(x)
    assert y.shape == (batch, seq, d) and y.dtype == x.dtype and y.device == x.device
    assert y.data_ptr() != x.data_ptr()
    torch.testing.assert_close(y, upstream_reference(x, op), rtol=1e-3, atol=1e-3)
    assert torch.equal(x, x_before)


@pytest.mark.gpu
@pytest.mark.parametrize("op", sorted(ACTS))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_out_is_written_and_returned(op, dtype):
    x = torch.randn(3, 5, 2 * 1024, device="cuda", dtype=dtype)
    want = getattr(kernelkit_ops, op)(x)
    for call in ("positional", "keyword"):
        out = torch.full((3, 5, 1024), float("nan"), device="cuda", dtype=dtype)
        got = getattr(kernelkit_ops, op)(x, out) if call == "positional" else getattr(kernelkit_ops, op)(x, out=out)
        assert got is out, call
        assert torch.equal(out, want), call


@pytest.mark.gpu
@pytest.mark.parametrize("op", sorted(ACTS))
def test_two_dim_input_as_engines_pass_it(op):
    """sglang's MLPs call it on ``[tokens, 2 * intermediate]`` rows of a GEMM output."""
    x = torch.randn(37, 2 * 14336, device="cuda", dtype=torch.bfloat16)
    y = getattr(kernelkit_ops, op)(x)
    assert y.shape == (37, 14336)
    want = (x[..., 14336:].float() * ACTS[op](x[..., :14336].float())).to(torch.bfloat16)
    torch.testing.assert_close(y, want, rtol=1e-2, atol=1e-2)
