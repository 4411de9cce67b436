"""The rounding every quantization test holds the kernels to, written once in PyTorch (fp32).

fp8:   q = (x / s).clamp(lo, hi).to(float8_e4m3fn)   -- round to nearest even, saturating
int8:  q = (x / s).clamp(lo, hi).round()             -- half to even; NaN -> 0 (documented)
absmax ignores NaN (as the kernels' fmaxf does); an inf makes the scale inf.
ue8m0: s -> smallest power of two >= s, from the bits (no log2 rounding).
"""

from __future__ import annotations

import torch

FP8_MAX = 448.0


def ieee_div(a: torch.Tensor, b: torch.Tensor | float) -> torch.Tensor:
    """a / b correctly rounded to float32, as the kernels' `div.rn.f32` gives it.

    Not `a.float() / b`: on CUDA, torch divides by a Python number as a multiply by its reciprocal,
    which differs in the last bit for some values. Dividing in float64 and rounding once is exact
    IEEE float32 division (float64 carries more than 2 x 24 + 2 bits, so double rounding is harmless).
    """
    b = b.double() if isinstance(b, torch.Tensor) else float(b)
    return (a.double() / b).float()


def absmax(x: torch.Tensor, dim: int | None = None, keepdim: bool = False) -> torch.Tensor:
    """max |x| in fp32 with NaN ignored (0 for an all-NaN or empty slice)."""
    a = x.float().abs().nan_to_num(nan=0.0, posinf=float("inf"))
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


def quant_fp8(x: torch.Tensor, scale: torch.Tensor, lo: float = -FP8_MAX, hi: float = FP8_MAX) -> torch.Tensor:
    """x / scale (broadcast) rounded into e4m3."""
    return ieee_div(x, scale).clamp(lo, hi).to(torch.float8_e4m3fn)


def quant_int8(x: torch.Tensor, scale: torch.Tensor, lo: float = -128.0, hi: float = 127.0) -> torch.Tensor:
    q = ieee_div(x, scale).clamp(lo, hi).round()
    return q.nan_to_num(nan=0.0).to(torch.int8)


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
