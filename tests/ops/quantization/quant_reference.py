"""What every 8-bit quantization test shares: the pieces of sgl-kernel's arithmetic that are exact in
PyTorch (the approximate instructions are sgl_math.py's), and the bit-exact comparison.

absmax:  max |x| in float32 with NaN ignored (the kernels' fmaxf keeps the other operand) and a float32
         denormal |x| read as 0 (sgl-kernel's sm_90 build flushes denormals); an inf makes it inf.
clamps:  the order decides where NaN goes. fmaxf(fminf(v, 448), -448) (per-token / per-tensor fp8):
         NaN -> +448; fminf(fmaxf(v, lo), hi) (per-token-group): NaN -> lo.
e4m3:    torch's .to(float8_e4m3fn) of the clamped value: round to nearest even (the kernels'
         cvt.rn.satfinite.e4m3x2.f32 gives the same bits for |v| <= 448).
ue8m0:   pow2_ceil: the smallest power of two >= s, exactly from the bits.
"""

from __future__ import annotations

import torch
from sgl_math import FP8_MAX, flush_denormals

FP8 = torch.float8_e4m3fn


def absmax(x: torch.Tensor, dim: int | None = None, keepdim: bool = False) -> torch.Tensor:
    """max |x| in fp32 with NaN ignored and denormals as 0 (0 for an all-NaN or empty slice)."""
    a = flush_denormals(x.float()).abs().nan_to_num(nan=0.0, posinf=float("inf"))
    if dim is None:
        return a.amax() if a.numel() else torch.zeros((), device=x.device)
    return a.amax(dim=dim, keepdim=keepdim)


def pow2_ceil(s: torch.Tensor) -> torch.Tensor:
    """Smallest power of two >= s for positive normal s (inf stays inf), exactly."""
    bits = s.float().contiguous().view(torch.int32)
    mantissa = bits & 0x007FFFFF
    exponent = bits & 0x7F800000
    bump = (mantissa != 0) & (exponent != 0x7F800000)
    rounded = torch.where(bump, (bits & ~0x007FFFFF) + 0x00800000, bits)
    return rounded.view(torch.float32)


def clamp_min_first(v: torch.Tensor, hi: float = FP8_MAX) -> torch.Tensor:
    """fmaxf(fminf(v, hi), -hi): NaN -> +hi (the per-token and per-tensor fp8 quantizers)."""
    return torch.fmax(torch.fmin(v, v.new_tensor(hi)), v.new_tensor(-hi))


def clamp_max_first(v: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """fminf(fmaxf(v, lo), hi): NaN -> lo (the per-token-group quantizers)."""
    return torch.fmin(torch.fmax(v, v.new_tensor(lo)), v.new_tensor(hi))


def assert_fp8_equal(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Bit-exact, NaN matching NaN (either sign: the NaN encoding is not part of the contract)."""
    assert actual.dtype == torch.float8_e4m3fn and expected.dtype == torch.float8_e4m3fn
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    a, e = actual.view(torch.uint8), expected.view(torch.uint8)
    a_nan, e_nan = (a & 0x7F) == 0x7F, (e & 0x7F) == 0x7F
    assert torch.equal(a_nan, e_nan), f"NaN positions differ at {torch.nonzero(a_nan != e_nan)[:5].tolist()}"
    mismatch = (a != e) & ~a_nan
    if mismatch.any():
        idx = torch.nonzero(mismatch)[:5]
        detail = [(i.tolist(), int(a[tuple(i)]), int(e[tuple(i)])) for i in idx]
        raise AssertionError(f"{int(mismatch.sum())} fp8 values differ (index, got, want bits): {detail}")


def assert_int8_equal(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.dtype == torch.int8 and expected.dtype == torch.int8
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    mismatch = actual != expected
    if mismatch.any():
        idx = torch.nonzero(mismatch)[:5]
        detail = [(i.tolist(), int(actual[tuple(i)]), int(expected[tuple(i)])) for i in idx]
        raise AssertionError(f"{int(mismatch.sum())} int8 values differ (index, got, want): {detail}")
