"""sgl-kernel compatibility of the wave-4 GEMMs (self-contained): `fp8_scaled_mm`, `int8_scaled_mm`, `bmm_fp8`.

Facts from sgl-kernel's ``python/sgl_kernel/gemm.py``, ``csrc/gemm/{fp8_gemm_kernel,int8_gemm_kernel,bmm_fp8}.cu``
and its tests ``tests/test_{fp8_gemm,int8_gemm,bmm_fp8}.py``, re-stated as our own checks:

* ``fp8_scaled_mm(mat_a, mat_b, scales_a, scales_b, out_dtype, bias=None)`` and ``int8_scaled_mm`` (the same
  parameters) return a new ``[M, N]`` tensor of ``out_dtype`` (bf16 or fp16): mat_a ``[M, K]`` row-major, mat_b
  ``[K, N]`` column-major (its tests pass ``b.t()`` of a contiguous ``[N, K]``), scales float32 contiguous with M / N
  values (its tests pass ``[M]`` / ``[N]``, sglang ``[M, 1]`` / ``[N, 1]``; the scales may be negative), bias None or
  N values of out_dtype; K a multiple of 16 and N of 8. Its fp8 test compares with rtol 0.02 / atol 1 against
  ``(a @ b) * sa * sb`` rounded to out_dtype, then ``+ bias``; its int8 test with assert_close's defaults against
  ``((a @ b) * sa * sb + bias).to(out_dtype)`` in fp32.
* ``bmm_fp8(A, B, A_scale, B_scale, dtype, out=None)`` returns ``out`` (allocated ``[b, m, n]`` of ``dtype`` when
  None; a given out keeps its own dtype): A ``[b, m, k]``, B ``[b, k, n]`` column-major per batch (its test:
  ``randn(b, n, k).transpose(-2, -1)``), per-tensor float32 scales as 0-d tensors (the inverse of ``finfo.max /
  amax``); its test asks cosine similarity > 0.99 with ``torch.bmm`` of the unquantized bf16 inputs.
* Documented differences: sgl-kernel's bmm_fp8 (cuBLASLt) also takes float8_e5m2 for one of A and B, kernelkit
  refuses it by name; refusals are RuntimeErrors naming the argument (sgl-kernel's TORCH_CHECK words differ); fp8
  sums are promoted to fp32 every 128 values of K (sgl-kernel: fast accumulation), so the results are closer to the
  exact ones than sgl-kernel's, within the same tolerance.

Signature checks are CPU tests; everything that launches is marked ``gpu`` and needs the CUTLASS ops.
"""

from __future__ import annotations

import kernelkit_ops as sgl_kernel
import pytest
import torch
import torch.nn.functional as F
from compat_helpers import REQUIRED, assert_drop_in_signature

requires_cutlass = pytest.mark.skipif(
    not sgl_kernel.cutlass_enabled(),
    reason="kernelkit_ops was built without the CUTLASS GEMM ops (no CUTLASS headers were found)",
)

SCALED_MM = [
    ("mat_a", REQUIRED), ("mat_b", REQUIRED), ("scales_a", REQUIRED), ("scales_b", REQUIRED), ("out_dtype", REQUIRED),
    ("bias", None),
]  # fmt: skip
UPSTREAM = {
    "fp8_scaled_mm": SCALED_MM,
    "int8_scaled_mm": SCALED_MM,
    "bmm_fp8": [
        ("A", REQUIRED), ("B", REQUIRED), ("A_scale", REQUIRED), ("B_scale", REQUIRED), ("dtype", REQUIRED),
        ("out", None),
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_signature(name):
    assert_drop_in_signature(getattr(sgl_kernel, name), UPSTREAM[name])


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_exported_at_the_top_level(name):
    assert name in sgl_kernel.__all__


# ------------------------------------------------------------------------------------------ fp8_scaled_mm


def sgl_fp8_operands(m, n, k, out_dtype, with_bias):
    """sgl-kernel's test inputs: uniform values over e4m3's whole range, b = (contiguous [N, K]).t(), scales
    randn * 0.001 (of either sign), bias randn of out_dtype."""
    fp8_max = torch.finfo(torch.float8_e4m3fn).max
    a = ((torch.rand(m, k, device="cuda") - 0.5) * 2 * fp8_max).clamp(-fp8_max, fp8_max).to(torch.float8_e4m3fn)
    b = ((torch.rand(n, k, device="cuda") - 0.5) * 2 * fp8_max).clamp(-fp8_max, fp8_max).to(torch.float8_e4m3fn)
    scale_a = torch.randn(m, device="cuda") * 0.001
    scale_b = torch.randn(n, device="cuda") * 0.001
    bias = torch.randn(n, device="cuda", dtype=out_dtype) if with_bias else None
    return a, b.t(), scale_a, scale_b, bias


@pytest.mark.gpu
@requires_cutlass
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize(
    ("m", "n", "k"), [(1, 16, 512), (128, 512, 4096), (512, 128, 16384), (1024, 4096, 1024), (4096, 1024, 8192)]
)
def test_fp8_scaled_mm_upstream_test(m, n, k, with_bias, out_dtype):
    """sgl-kernel's accuracy test, on a spread of its (M, N, K) grid, with its reference and its tolerance."""
    a, b, scale_a, scale_b, bias = sgl_fp8_operands(m, n, k, out_dtype, with_bias)
    o = (a.to(torch.float32) @ b.to(torch.float32)) * scale_a.view(-1, 1) * scale_b.view(1, -1)
    want = o.to(out_dtype) + (bias.view(1, -1) if bias is not None else 0)
    got = sgl_kernel.fp8_scaled_mm(a, b, scale_a, scale_b, out_dtype, bias)
    assert got.shape == (m, n) and got.dtype == out_dtype
    torch.testing.assert_close(want, got, rtol=0.02, atol=1)


@pytest.mark.gpu
@requires_cutlass
def test_fp8_scaled_mm_sglang_call_forms():
    """sglang's linear layer: [M, 1] / [N, 1] scales, keyword bias, positional out_dtype; the same numbers as the
    flat scales."""
    m, n, k = 33, 256, 512
    a, b, scale_a, scale_b, bias = sgl_fp8_operands(m, n, k, torch.bfloat16, True)
    flat = sgl_kernel.fp8_scaled_mm(a, b, scale_a, scale_b, torch.bfloat16, bias)
    column = sgl_kernel.fp8_scaled_mm(a, b, scale_a.view(m, 1), scale_b.view(n, 1), torch.bfloat16, bias=bias)
    assert torch.equal(flat, column)
    keywords = sgl_kernel.fp8_scaled_mm(
        mat_a=a, mat_b=b, scales_a=scale_a, scales_b=scale_b, out_dtype=torch.bfloat16, bias=bias
    )
    assert torch.equal(flat, keywords)


# ----------------------------------------------------------------------------------------- int8_scaled_mm


def to_int8(x):
    return torch.round(x.clamp(min=-128, max=127)).to(dtype=torch.int8)


@pytest.mark.gpu
@requires_cutlass
@pytest.mark.parametrize("out_dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize(
    ("m", "n", "k"), [(1, 16, 512), (16, 4096, 1024), (64, 128, 8192), (512, 1024, 4096), (4096, 8192, 512)]
)
def test_int8_scaled_mm_upstream_test(m, n, k, with_bias, out_dtype):
    """sgl-kernel's accuracy test (its reference, assert_close's default tolerances) on a spread of its grid."""
    a = to_int8(torch.randn(m, k, device="cuda") * 5)
    b = to_int8(torch.randn(n, k, device="cuda").t() * 5)  # a [K, N] view of an [N, K] tensor
    scale_a = torch.randn(m, device="cuda", dtype=torch.float32)
    scale_b = torch.randn(n, device="cuda", dtype=torch.float32)
    bias = torch.randn(n, device="cuda", dtype=out_dtype) * 10 if with_bias else None
    got = sgl_kernel.int8_scaled_mm(a, b, scale_a, scale_b, out_dtype, bias)
    o = torch.matmul(a.to(torch.float32), b.to(torch.float32)).to(torch.float32) * scale_a.view(-1, 1)
    o = o * scale_b.view(1, -1)
    want = (o + bias if bias is not None else o).to(out_dtype)
    torch.testing.assert_close(got, want)


# ------------------------------------------------------------------------------------------------ bmm_fp8


def to_float8(x, dtype=torch.float8_e4m3fn):
    """sgl-kernel's test quantizer: per-tensor, saturating; returns the values and the 0-d inverse scale."""
    finfo = torch.finfo(dtype)
    min_val, max_val = x.aminmax()
    amax = torch.maximum(min_val.abs(), max_val.abs()).clamp(min=1e-12)
    scale = finfo.max / amax
    return (x * scale).clamp(min=finfo.min, max=finfo.max).to(dtype), scale.float().reciprocal()


@pytest.mark.gpu
@requires_cutlass
@pytest.mark.parametrize("res_dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("pass_out", [True, False], ids=["out", "no-out"])
def test_bmm_fp8_upstream_test(res_dtype, pass_out):
    """sgl-kernel's test, e4m3 x e4m3: its shapes, its 0-d inverse scales, out given positionally, cos sim > 0.99."""
    x = torch.randn([16, 48, 64], device="cuda", dtype=torch.bfloat16)
    x_fp8, x_inv_s = to_float8(x)
    w = torch.randn([16, 80, 64], device="cuda", dtype=torch.bfloat16).transpose(-2, -1)  # row major -> column major
    w_fp8, w_inv_s = to_float8(w)
    assert x_inv_s.dim() == 0
    if pass_out:
        res = torch.empty([16, 48, 80], device="cuda", dtype=res_dtype)
        assert sgl_kernel.bmm_fp8(x_fp8, w_fp8, x_inv_s, w_inv_s, res_dtype, res) is res
    else:
        res = sgl_kernel.bmm_fp8(x_fp8, w_fp8, x_inv_s, w_inv_s, res_dtype)
    assert res.shape == (16, 48, 80) and res.dtype == res_dtype
    reference = torch.bmm(x, w)
    assert F.cosine_similarity(reference.reshape(-1).float(), res.reshape(-1).float(), dim=0) > 0.99


@pytest.mark.gpu
@requires_cutlass
@pytest.mark.parametrize("which", ["A", "B"])
def test_bmm_fp8_e5m2_is_a_documented_refusal(which):
    """sgl-kernel's test also runs e5m2 x e4m3 and e4m3 x e5m2 through cuBLASLt; kernelkit's CUTLASS kernels are
    e4m3 only and say so (instead of computing something else)."""
    x_fp8, x_inv_s = to_float8(
        torch.randn([16, 48, 64], device="cuda"), torch.float8_e5m2 if which == "A" else torch.float8_e4m3fn
    )
    w = torch.randn([16, 80, 64], device="cuda").transpose(-2, -1)
    w_fp8, w_inv_s = to_float8(w, torch.float8_e5m2 if which == "B" else torch.float8_e4m3fn)
    with pytest.raises(RuntimeError, match=f"bmm_fp8: {which} must be float8_e4m3fn, got float8_e5m2"):
        sgl_kernel.bmm_fp8(x_fp8, w_fp8, x_inv_s, w_inv_s, torch.bfloat16)
