"""`sgl_per_token_quant_fp8`: dynamic fp8 (e4m3) quantization with one scale per token (row)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def sgl_per_token_quant_fp8(
    input: torch.Tensor, output_q: torch.Tensor, output_s: torch.Tensor, enable_pdl: bool | None = None
) -> None:
    """Per row t: ``output_s[t] = absmax(input[t]) / 448``, ``output_q[t] = e4m3(clamp(input[t] * (1 / output_s[t])))``.

    Same signature and the same numbers as ``sgl_kernel.sgl_per_token_quant_fp8``, bit for bit on the GPU it
    runs on (sgl-kernel runs a fast-math build on sm_90: there ``s = absmax * fl32(1/448)``, ``1 / s`` is
    ``rcp.approx.ftz`` and products flush denormals; elsewhere IEEE):

    * ``q = e4m3(max(min(x * (1 / s), 448), -448))``: the min first, so NaN becomes +448;
    * no floor on the scale: an all-zero row gets ``s = 0`` and q = +448 everywhere (``0 * inf``), or 0 when
      the call has at least 16 rows per SM (sgl-kernel's many-rows kernel guards ``1 / 0``);
    * NaN is ignored by the absmax; an inf makes its row's scale inf, so its finite values become 0 and
      the inf +448.

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
