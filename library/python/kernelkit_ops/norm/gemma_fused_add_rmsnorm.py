"""`gemma_fused_add_rmsnorm`: the residual add and RMSNorm (Gemma) of a transformer layer in one pass, in place."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def gemma_fused_add_rmsnorm(
    input: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    enable_pdl: bool | None = None,
) -> None:
    """In place: ``residual <- input + residual``;
    ``input <- residual * rsqrt(mean(residual²) + eps) * (1 + weight)``.

    The sum is formed in float32 and rounded once into ``residual``; the normalisation uses the
    float32 sum (not the rounded one), as FlashInfer does.

    Args:
        input: ``[..., H]`` CUDA tensor, bfloat16/float16/float32, contiguous in its last dim; receives
            the normalised output.
        residual: same shape and dtype as input; receives input + residual.
        weight: ``[H]``, input's dtype, contiguous.
        eps: added to the mean square (>= 0).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs.

    Same signature and semantics as ``sgl_kernel.gemma_fused_add_rmsnorm``. The op checks its arguments and raises
    ``RuntimeError`` naming the one to fix; empty inputs launch nothing.
    """
    torch.ops.kernelkit.gemma_fused_add_rmsnorm.default(input, residual, weight, eps, pdl_default(input, enable_pdl))
