"""`fused_add_rmsnorm_quant_fp8`: residual add + RMSNorm + per-token fp8 quantization in one pass."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def fused_add_rmsnorm_quant_fp8(
    input: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    eps: float = 1e-6,
    enable_pdl: bool | None = None,
) -> None:
    """``fused_add_rmsnorm`` followed by ``sgl_per_token_quant_fp8``, in one pass over memory.

    * ``residual <- input + residual`` (in place, rounded once to the input dtype);
    * ``y = residual * rsqrt(mean(residual²) + eps) * weight``, normalised from the float32 sum and rounded
      to the input dtype -- bit for bit what ``fused_add_rmsnorm`` would write into ``input``;
    * per row t: ``output_s[t] = absmax(y[t]) / 448``, ``output_q[t] = e4m3(clamp(y[t] * (1 / output_s[t])))``
      -- bit for bit what ``sgl_per_token_quant_fp8(y, output_q, output_s)`` would write.

    So it is a drop-in for that pair of calls, except that ``input`` is only read (y is never stored):
    7 bytes of memory traffic per bf16 element instead of 11. Zero rows and NaN/inf behaviour as in
    ``sgl_per_token_quant_fp8``. Not part of sgl-kernel's API.

    Args:
        input: ``[..., H]`` CUDA tensor, bfloat16/float16/float32, contiguous in its last dim; only read.
        residual: same shape and dtype as input; receives input + residual.
        weight: ``[H]``, input's dtype, contiguous.
        output_q: float8_e4m3fn, input's shape; overwritten with the quantized y.
        output_s: float32, contiguous, ``input.shape[:-1] + (1,)`` or ``input.shape[:-1]``; overwritten.
        eps: added to the mean square (>= 0).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs.

    The op checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs launch nothing.
    """
    torch.ops.kernelkit.fused_add_rmsnorm_quant_fp8.default(
        input, residual, weight, output_q, output_s, eps, pdl_default(input, enable_pdl)
    )
