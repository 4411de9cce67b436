"""`downcast_fp8`: quantize K/V rows to fp8 e4m3 into the KV cache (sgl-kernel's ``downcast_fp8``)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def downcast_fp8(
    k: torch.Tensor,
    v: torch.Tensor,
    k_out: torch.Tensor,
    v_out: torch.Tensor,
    k_scale: torch.Tensor,
    v_scale: torch.Tensor,
    loc: torch.Tensor,
    mult: int = 1,
    offset: int = 0,
    enable_pdl: bool | None = None,
) -> None:
    """``k_out[loc * mult + offset] = fp8(clamp(k / k_scale, -448, 448))``, likewise for v, in one kernel.

    The arithmetic is sgl-kernel's, in k's dtype: the scale is rounded to that dtype, its reciprocal is rounded to
    it, ``x * reciprocal`` is rounded to it, clamped to the e4m3 range [-448, 448] and converted to e4m3 (round to
    nearest even; NaN stays NaN).

    Args:
        k, v: ``[T, ...]`` bf16/fp16 rows (one dtype), dense after the first dimension (token stride free).
        k_out, v_out: ``[rows, ...]`` uint8 or float8_e4m3fn caches of k's row size, dense after the first
            dimension; written at row ``loc[t] * mult + offset``. A row outside ``[0, rows)`` is skipped (upstream
            writes out of bounds).
        k_scale, v_scale: one-element float32 per-tensor scales.
        loc: ``[T]`` int64 (or int32) destination index of each token, contiguous.
        mult, offset: the output row is ``loc * mult + offset`` (defaults 1 and 0).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in sgl-kernel's
            signature.

    Returns None. T = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix.
    """
    torch.ops.kernelkit.downcast_fp8.default(
        k, v, k_out, v_out, k_scale, v_scale, loc, mult, offset, pdl_default(k_out, enable_pdl)
    )
