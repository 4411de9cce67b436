"""Per-token and per-tensor fp8 quantization as sgl-kernel code calls it: ``sgl_per_token_quant_fp8`` and
``sgl_per_tensor_quant_fp8``.

What sgl-kernel's API and tests (and sglang's callers) establish, and callers rely on:
* both return None and write preallocated ``output_q`` (e4m3, input's shape) and ``output_s`` (float32);
* per token: ``output_s`` is ``[T]`` (sgl-kernel's test, then reshaped to ``[T, 1]``) or ``[T, 1]`` (sglang's
  allocation); hidden sizes like 1368 (not a multiple of 16);
* per tensor: ``output_s`` is ``[1]``; ``is_static=False`` writes ``absmax / 448`` there (callers pass zeros),
  ``is_static=True`` reads it and leaves it as it was; the fourth argument by position or keyword;
* the numbers, bit for bit: sgl-kernel's arithmetic on the GPU it runs on (fp8_quant_cases.py states it:
  ``s = absmax * fl32(1/448)``, ``q = e4m3(max(min(x * rcp(s), 448), -448))``), on its tests' data
  (``torch.rand`` fp16, T in {128, 256, 512} x H in {512, 1368, 2048, 4096}) and on signed bf16/fp32 data,
  incl. T above sgl-kernel's many-rows switch (16 rows per SM).
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from fp8_quant_cases import per_tensor_reference, per_token_reference, poisoned_q, poisoned_scales
from quant_reference import FP8, assert_fp8_equal

UPSTREAM = [(t, h) for t in (128, 256, 512) for h in (512, 1368, 2048, 4096)]


def upstream_input(tokens: int, hidden: int) -> torch.Tensor:
    return torch.rand(tokens, hidden, device="cuda", dtype=torch.float16)


def signed_input(tokens: int, hidden: int, dtype: torch.dtype) -> torch.Tensor:
    x = torch.randn(tokens, hidden, device="cuda") * torch.exp(torch.randn(tokens, 1, device="cuda"))
    return x.to(dtype)


# ------------------------------------------------------------------------------------- per token


def check_per_token(x: torch.Tensor, scale_shape: str) -> None:
    q = poisoned_q(x.shape)
    s = poisoned_scales((x.shape[0],) if scale_shape == "T" else (x.shape[0], 1))
    assert kernelkit_ops.sgl_per_token_quant_fp8(x, q, s) is None
    want_q, want_s = per_token_reference(x)
    assert_fp8_equal(q, want_q)
    assert torch.equal(s.reshape(-1, 1), want_s)


@pytest.mark.gpu
@pytest.mark.parametrize(("tokens", "hidden"), UPSTREAM)
def test_per_token_upstream_data(tokens, hidden):
    check_per_token(upstream_input(tokens, hidden), "T")


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("scale_shape", ["T", "T1"])
@pytest.mark.parametrize(("tokens", "hidden"), [(1, 4096), (77, 1368), (4096, 512), (3000, 7168)])
def test_per_token_signed_data_both_scale_shapes(dtype, scale_shape, tokens, hidden):
    check_per_token(signed_input(tokens, hidden, dtype), scale_shape)


@pytest.mark.gpu
def test_per_token_zero_row_scale_is_zero():
    """No floor on the scale: an all-zero row gets s = 0 (its values as sgl-kernel's two kernels give them)."""
    x = signed_input(64, 2048, torch.bfloat16)
    x[5] = 0
    check_per_token(x, "T1")
    s = torch.empty(64, 1, device="cuda")
    kernelkit_ops.sgl_per_token_quant_fp8(x, torch.empty_like(x, dtype=FP8), s)
    assert s[5].item() == 0.0


# ------------------------------------------------------------------------------------ per tensor


@pytest.mark.gpu
@pytest.mark.parametrize(("tokens", "hidden"), UPSTREAM)
def test_per_tensor_upstream_data_dynamic_and_static(tokens, hidden):
    x = upstream_input(tokens, hidden)

    q, s = poisoned_q(x.shape), torch.zeros(1, device="cuda")  # dynamic: callers pass zeros
    assert kernelkit_ops.sgl_per_tensor_quant_fp8(x, q, s, False) is None
    want_q, want_s = per_tensor_reference(x)
    assert_fp8_equal(q, want_q)
    assert torch.equal(s, want_s.reshape(1))

    scale = torch.rand(1, device="cuda")  # static: sgl-kernel's test draws the scale from rand
    s = scale.clone()
    q = poisoned_q(x.shape)
    assert kernelkit_ops.sgl_per_tensor_quant_fp8(x, q, s, is_static=True) is None
    assert torch.equal(s, scale)
    assert_fp8_equal(q, per_tensor_reference(x, scale)[0])


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize(("tokens", "hidden"), [(1, 4096), (33, 1368), (2048, 7168)])
def test_per_tensor_signed_data(dtype, tokens, hidden):
    x = signed_input(tokens, hidden, dtype)
    q, s = poisoned_q(x.shape), torch.zeros(1, device="cuda")
    kernelkit_ops.sgl_per_tensor_quant_fp8(x, q, s, is_static=False)
    want_q, want_s = per_tensor_reference(x)
    assert_fp8_equal(q, want_q)
    assert torch.equal(s, want_s.reshape(1))


@pytest.mark.gpu
def test_per_tensor_all_zero_dynamic():
    """An all-zero tensor: s = 0 and, as sgl-kernel computes 0 * rcp(0), every q = +448."""
    x = torch.zeros(16, 256, device="cuda", dtype=torch.bfloat16)
    q, s = poisoned_q(x.shape), torch.zeros(1, device="cuda")
    kernelkit_ops.sgl_per_tensor_quant_fp8(x, q, s, False)
    assert s.item() == 0.0
    assert_fp8_equal(q, per_tensor_reference(x)[0])
    assert bool((q.view(torch.uint8) == 0x7E).all())
