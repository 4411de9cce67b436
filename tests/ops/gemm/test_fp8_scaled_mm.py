"""Tests of `fp8_scaled_mm`: e4m3 GEMM with per-token / per-channel scales and bias, against a float64 reference.

The tests are scaled_mm_cases.ScaledMmTests (shared with int8_scaled_mm); this file gives the operands and the
tolerance. CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.

Tolerance, per element: ``|out - ref| <= ulp(out_dtype) * |ref| + 2^-8 * rms(ref)``.
* ``ulp(out_dtype) * |ref|`` (2^-7 for bf16, 2^-10 for fp16: one unit in the last place at 1.0) covers the one
  rounding to the output dtype, at most half an ulp of the element, with a factor 2 to spare.
* ``2^-8 * rms(ref)`` covers the sum: the tensor cores add fp8 products keeping ~14 bits, and the kernel promotes
  those partial sums into fp32 every 128 values of K, so the error of an element is ~2^-14 of the size of its partial
  sums -- of the output's typical magnitude (rms), not of the element itself, which may be near zero through
  cancellation. 2^-8 leaves a factor ~10 over that at the tails of 8M elements; a kernel that drops one 128-deep
  K block or applies a scale to the wrong row is off by far more (>= 10% of rms).
The fp32 reference product is exact: e4m3 values have 4 significant bits, so every product has at most 8 and their
sums (< 2^33 in units of 2^-18) fit fp32's 24 bits well enough that its rounding is ~2^-24 of rms (and TF32, were it
enabled, holds e4m3 values exactly too).
"""

from __future__ import annotations

import torch
from scaled_mm_cases import OUT_ULP, ScaledMmTests, assert_within, rms

FP8_MAX = 448.0


class TestFp8ScaledMm(ScaledMmTests):
    op = "fp8_scaled_mm"
    operand = torch.float8_e4m3fn

    def make_operand(self, rows, cols, generator):
        """Gaussian values spread over e4m3's range (sigma 64, clamped at +-448): many exponents, never all zeros."""
        x = torch.randn(rows, cols, generator=generator, device="cuda") * 64
        return x.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)

    def reference(self, a, b, sa, sb, bias, out_dtype):
        acc = (a.float() @ b.float()).double()
        ref = acc * sa.double().reshape(-1, 1) * sb.double().reshape(1, -1)
        return ref if bias is None else ref + bias.double()

    def check(self, out, ref, out_dtype):
        assert out.dtype == out_dtype
        assert_within(out, ref, rtol=OUT_ULP[out_dtype], atol=2.0**-8 * rms(ref))
