"""The NVFP4 GEMM as sgl-kernel code calls it: ``cutlass_scaled_fp4_mm`` (FP4 builds with CUTLASS; runs on sm_100).

What sgl-kernel's API (``python/sgl_kernel/gemm.py``), kernel (``csrc/gemm/nvfp4_scaled_mm_kernels.cu``) and test
(``tests/test_fp4_gemm.py``) establish, and what sglang's NVFP4 linear relies on:
* ``cutlass_scaled_fp4_mm(a, b, block_scale_a, block_scale_b, alpha, out_dtype)``, all six positional, returns a new
  ``[M, N]`` tensor of ``out_dtype``;
* ``a [M, K/2]`` and ``b [N, K/2]`` uint8 (two e2m1 a byte) and their e4m3 scales exactly as ``scaled_fp4_quant``
  returns them (``[round_up(rows, 128), round_up(K/16, 4)]``, swizzled); ``alpha = 1 / (gs_a * gs_b)`` a 0-d float32
  CUDA tensor in its test, the global scales ``448 * 6 / amax`` (its amax is the largest value, not magnitude);
* the numbers: the fp32 product of the dequantized operands (``e2m1 * scale / global_scale``) cast to
  ``out_dtype``, within its test's ``atol = rtol = 0.1``, on its shapes (M, N, K/2) including padded M (150) and
  K/2 = 96.
Differences kept on purpose: out_dtype float32 (sgl-kernel compiles it too) is refused by name; N need only be a
multiple of 8 (sgl-kernel: 32); row-strided a / b are read in place (sgl-kernel: contiguous only); errors are
RuntimeErrors naming the argument, where sgl-kernel asserts (2-D) or raises from TORCH_CHECK. sgl-kernel's test
skips below compute capability 10; kernelkit's kernel runs on sm_100 only, and this file skips elsewhere.
"""

from __future__ import annotations

import fp4_reference
import kernelkit_ops
import pytest
import torch
from compat_helpers import REQUIRED, assert_drop_in_signature

requires_fp4_gemm = pytest.mark.skipif(
    not (kernelkit_ops.fp4_enabled() and kernelkit_ops.cutlass_enabled())
    or (torch.cuda.is_available() and torch.cuda.get_device_capability() != (10, 0)),
    reason="needs an FP4 build with CUTLASS (kernelkit build --fp4) and an sm_100 GPU (B200/GB200)",
)

# sgl-kernel's test shapes: (M, N, K/2), the padded ones last
SHAPES = [(128, 128, 64), (128, 128, 128), (256, 128, 64), (128, 256, 128), (150, 128, 64), (128, 128, 96)]
FP8_MAX, E2M1_MAX = 448.0, 6.0


def test_signature():
    assert_drop_in_signature(
        kernelkit_ops.cutlass_scaled_fp4_mm,
        [
            ("a", REQUIRED),
            ("b", REQUIRED),
            ("block_scale_a", REQUIRED),
            ("block_scale_b", REQUIRED),
            ("alpha", REQUIRED),
            ("out_dtype", REQUIRED),
        ],
    )


@pytest.mark.gpu
@requires_fp4_gemm
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_upstream_shapes_and_tolerance(dtype, shape):
    m, n, half_k = shape
    k = 2 * half_k
    x = torch.randn(m, k, dtype=dtype, device="cuda")
    w = torch.randn(n, k, dtype=dtype, device="cuda")
    gs_x = (FP8_MAX * E2M1_MAX / x.flatten().amax(dim=-1)).to(torch.float32)  # 0-d, as sgl-kernel's test
    gs_w = (FP8_MAX * E2M1_MAX / w.flatten().amax(dim=-1)).to(torch.float32)
    alpha = 1.0 / (gs_x * gs_w)
    x_fp4, x_scale = kernelkit_ops.scaled_fp4_quant(x, gs_x)
    w_fp4, w_scale = kernelkit_ops.scaled_fp4_quant(w, gs_w)
    out = kernelkit_ops.cutlass_scaled_fp4_mm(x_fp4, w_fp4, x_scale, w_scale, alpha, dtype)
    assert out.shape == (m, n) and out.dtype == dtype
    expected = fp4_reference.dequantize(x_fp4, x_scale, gs_x) @ fp4_reference.dequantize(w_fp4, w_scale, gs_w).t()
    torch.testing.assert_close(out, expected.to(dtype), atol=1e-1, rtol=1e-1)


@pytest.mark.gpu
@requires_fp4_gemm
def test_sglang_linear_call():
    """sglang's NVFP4 linear: the activation quantized per call, the weight once, alpha a [1] tensor, out in the
    activation's dtype; a new contiguous tensor each call."""
    m, n, k = 7, 2112, 7168
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
    gs_x = (FP8_MAX * E2M1_MAX / x.abs().max().float()).reshape(1)
    gs_w = (FP8_MAX * E2M1_MAX / w.abs().max().float()).reshape(1)
    x_fp4, x_scale = kernelkit_ops.scaled_fp4_quant(x, gs_x)
    w_fp4, w_scale = kernelkit_ops.scaled_fp4_quant(w, gs_w)
    out = kernelkit_ops.cutlass_scaled_fp4_mm(x_fp4, w_fp4, x_scale, w_scale, 1.0 / (gs_x * gs_w), x.dtype)
    assert out.shape == (m, n) and out.dtype == torch.bfloat16 and out.is_contiguous()
    exact = x.float() @ w.float().t()
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), exact.flatten(), dim=0) > 0.97
