"""Tests of `int8_scaled_mm`: int8 GEMM with per-token / per-channel scales and bias, held to the exact result.

The tests are scaled_mm_cases.ScaledMmTests (shared with fp8_scaled_mm); this file gives the operands, the reference
and the comparison. CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.

int8 products sum exactly in int32, so the reference is the kernel's own arithmetic, not an approximation of it: the
exact sum (float64 holds it: |acc| < 2^53), ``t = fp32(float(acc) * scale_b[n])``, then ``fma(scale_a[m], t, bias[n])``
rounded to fp32 and to the output dtype. Without a bias that fma is the fp32 product, which torch rounds the same way,
so the reference is the kernel's output bit for bit; with a bias the fma is emulated in float64 (the product is exact
there, the sum rounded once in float64 and once in float32), which can differ from a true fma only when the float64
rounding moves the value across a float32 midpoint (~1 element in 2^29). So: every element within one ulp of the
output dtype, and at least 99.99% of them equal.
"""

from __future__ import annotations

import torch
from scaled_mm_cases import OUT_ULP, ScaledMmTests, assert_within


class TestInt8ScaledMm(ScaledMmTests):
    op = "int8_scaled_mm"
    operand = torch.int8

    def make_operand(self, rows, cols, generator):
        return torch.randint(-127, 128, (rows, cols), generator=generator, device="cuda", dtype=torch.int8)

    def reference(self, a, b, sa, sb, bias, out_dtype):
        acc = a.double() @ b.double()  # exact: every partial sum is an integer below 2^53
        t = acc.float() * sb.float().reshape(1, -1)  # the kernel's acc * scale_b, in fp32
        if bias is None:
            u = sa.float().reshape(-1, 1) * t  # fma(scale_a, t, 0): the product rounded once
        else:
            u = (sa.double().reshape(-1, 1) * t.double() + bias.double()).float()
        return u.to(out_dtype)

    def check(self, out, ref, out_dtype):
        assert out.dtype == out_dtype and ref.dtype == out_dtype
        assert_within(out, ref, rtol=OUT_ULP[out_dtype], atol=1e-7)  # one ulp at most (atol: fp16 subnormals)
        if out.numel():
            equal = float((out == ref).double().mean())
            assert equal >= 0.9999, f"only {equal:.6f} of the elements are the exact result"
