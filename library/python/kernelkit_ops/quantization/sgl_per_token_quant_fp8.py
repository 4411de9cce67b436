"""`sgl_per_token_quant_fp8`: dynamic fp8 (e4m3) quantization with one scale per token (row)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def sgl_per_token_quant_fp8(
    input: torch.Tensor, output_q: torch.Tensor, output_s: torch.Tensor, enable_pdl: bool | None = None
) -> None:
    """Per row t: ``output_s[t] = max(absmax(input[t]), 1e-10) / 448``, ``output_q[t] = e4m3(input[t] / output_s[t])``.

    Same signature and semantics as ``sgl_kernel.sgl_per_token_quant_fp8``, with two choices spelled out:

    * an all-zero (or all-NaN) row gets the floor scale ``1e-10 / 448`` (> 0) and all-zero q, where
      sgl-kernel writes a scale of 0; rows whose absmax is >= 1e-10 are unaffected;
    * NaN is ignored by the absmax and stays NaN in q; an inf makes its row's scale inf, so that row's
      finite values quantize to 0 and the inf to NaN (inf / inf).

    The division is IEEE ``x / s`` and the rounding round-to-nearest-even with saturation to ±448
    (``(x / s).clamp(-448, 448).to(torch.float8_e4m3fn)``, bit for bit).

    Args:
        input: ``[..., H]`` CUDA tensor, bfloat16/float16/float32, rows contiguous in the last dim with one
            row stride (a row slice of a wider buffer is fine). Only read.
        output_q: float8_e4m3fn, input's shape (rows with one row stride); overwritten.
        output_s: float32, contiguous, ``input.shape[:-1] + (1,)`` (``[T, 1]``, what sglang allocates) or
            ``input.shape[:-1]`` (``[T]``); overwritten.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).

    Empty input (T = 0 or H = 0): nothing is launched or written. The op checks its arguments and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.sgl_per_token_quant_fp8.default(input, output_q, output_s, pdl_default(input, enable_pdl))
