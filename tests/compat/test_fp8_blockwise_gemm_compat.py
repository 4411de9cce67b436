"""The DeepSeek-V3 blockwise fp8 GEMM as sgl-kernel code calls it: ``fp8_blockwise_scaled_mm``.

What sgl-kernel's API, kernel (``csrc/gemm/fp8_blockwise_gemm_kernel.cu``) and test
(``tests/test_fp8_blockwise_gemm.py``) establish, and what sglang's caller (``fp8_utils.py``:
``fp8_blockwise_scaled_mm(q_input, weight.T, x_scale, weight_scale.T, out_dtype=...)``) relies on:
* ``fp8_blockwise_scaled_mm(mat_a, mat_b, scales_a, scales_b, out_dtype)``, all five positional, returns a new
  ``[M, N]`` tensor of ``out_dtype`` (bf16 or fp16);
* ``mat_a [M, K]`` e4m3 row-major, ``mat_b [K, N]`` e4m3 column-major (the transposed ``[N, K]`` weight);
* ``scales_a [M, K/128]`` with ``stride(0) == 1`` (the column-major scales of ``per_token_group_quant_fp8(...,
  column_major_scales=True)``, TMA-aligned or not; sgl-kernel pads M to a multiple of 4 itself);
* ``scales_b [K/128, N/128]`` with ``stride(0) == 1`` (``weight_scale_inv.T``);
* the numbers: ``(a * sa) @ (b * sb)`` within its test's ``rtol = 0.02, atol = 1`` on its test's data
  (``a, b`` uniform in ``[-448, 448]`` cast to e4m3, scales ``randn * 1e-3`` -- negative ones included).
Differences kept on purpose (README): kernelkit also takes row-major (and any other) scale layouts, N that is not a
multiple of 128 (``ceil(N/128)`` weight-scale columns; sgl-kernel's sm_90 path refuses N % 128 != 0 by its scale
shape check), and raises RuntimeError naming the argument where sgl-kernel raises from ``TORCH_CHECK``.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from compat_helpers import REQUIRED, assert_drop_in_signature

FP8 = torch.float8_e4m3fn

requires_gemm = pytest.mark.skipif(
    not kernelkit_ops.cutlass_enabled() or (torch.cuda.is_available() and torch.cuda.get_device_capability() != (9, 0)),
    reason="needs the CUTLASS GEMM ops (a build with the CUTLASS headers) and an sm_90 GPU",
)


def test_signature():
    assert_drop_in_signature(
        kernelkit_ops.fp8_blockwise_scaled_mm,
        [
            ("mat_a", REQUIRED),
            ("mat_b", REQUIRED),
            ("scales_a", REQUIRED),
            ("scales_b", REQUIRED),
            ("out_dtype", REQUIRED),
        ],
    )


def upstream_operands(m: int, n: int, k: int):
    """sgl-kernel's test data and layouts: b is the transposed [N, K] weight, both scale tensors go through
    ``.t().contiguous().t()`` (stride(0) == 1)."""
    fp8_max = torch.finfo(FP8).max
    a = ((torch.rand(m, k, device="cuda") - 0.5) * 2 * fp8_max).clamp(-fp8_max, fp8_max).to(FP8)
    b = ((torch.rand(n, k, device="cuda") - 0.5) * 2 * fp8_max).clamp(-fp8_max, fp8_max).to(FP8).t()
    scale_a = (torch.randn(m, k // 128, device="cuda") * 0.001).t().contiguous().t()
    scale_b = (torch.randn(k // 128, n // 128, device="cuda") * 0.001).t().contiguous().t()
    return a, b, scale_a, scale_b


def upstream_baseline(a, b, scale_a, scale_b, out_dtype):
    """sgl-kernel's test reference: each scale repeated over its block, an fp32 mm, cast to out_dtype."""
    sa = scale_a.repeat_interleave(128, dim=1)
    sb = scale_b.repeat_interleave(128, dim=0).repeat_interleave(128, dim=1)
    return torch.mm(a.float() * sa, b.float() * sb).to(out_dtype)


@pytest.mark.gpu
@requires_gemm
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("k", [512, 16384])
@pytest.mark.parametrize("n", [128, 4096])
@pytest.mark.parametrize("m", [1, 128, 4096])
def test_upstream_accuracy_grid(m, n, k, out_dtype):
    """A corner subset of sgl-kernel's sweep (M {1..4096} x N {128..4096} x K {512..16384}), its tolerance."""
    a, b, scale_a, scale_b = upstream_operands(m, n, k)
    out = kernelkit_ops.fp8_blockwise_scaled_mm(a, b, scale_a, scale_b, out_dtype)
    assert out.shape == (m, n) and out.dtype == out_dtype
    torch.testing.assert_close(out, upstream_baseline(a, b, scale_a, scale_b, out_dtype), rtol=0.02, atol=1)


@pytest.mark.gpu
@requires_gemm
@pytest.mark.parametrize("tma_aligned", [False, True])
@pytest.mark.parametrize("m", [1, 7, 1000])
def test_sglang_linear_call(m, tma_aligned):
    """sglang's cutlass path for a DeepSeek-V3 linear: activations quantized per 1 x 128 group into column-major
    scales (TMA-aligned or not, M not a multiple of 4 included), ``weight.T`` and ``weight_scale_inv.T``."""
    n, k = 1536, 7168
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    q = torch.empty(m, k, device="cuda", dtype=FP8)
    padded = (m + 3) // 4 * 4 if tma_aligned else m
    x_scale = torch.empty(k // 128, padded, device="cuda")[:, :m].t()
    kernelkit_ops.sgl_per_token_group_quant_fp8(x, q, x_scale, 128, 1e-10, -448.0, 448.0)
    weight = (torch.randn(n, k, device="cuda") * 4).to(FP8)
    weight_scale_inv = torch.rand(n // 128, k // 128, device="cuda") * 1e-2 + 1e-3
    out = kernelkit_ops.fp8_blockwise_scaled_mm(q, weight.T, x_scale, weight_scale_inv.T, torch.bfloat16)
    want = upstream_baseline(q, weight.T, x_scale, weight_scale_inv.T, torch.float32)
    assert out.shape == (m, n) and out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), want, rtol=1e-2, atol=4e-3 * want.pow(2).mean().sqrt().item())
