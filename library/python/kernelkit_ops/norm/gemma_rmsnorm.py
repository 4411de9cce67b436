"""`gemma_rmsnorm`: Gemma's RMSNorm, ``x * rsqrt(mean(x²) + eps) * (1 + weight)``."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def gemma_rmsnorm(
    input: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    out: torch.Tensor | None = None,
    enable_pdl: bool | None = None,
) -> torch.Tensor:
    """Return ``input * rsqrt(mean(input², -1) + eps) * (1 + weight)``, statistics in float32.

    Args:
        input: ``[..., H]`` CUDA tensor, bfloat16/float16/float32, contiguous in its last dim; leading
            dims may be row-strided (e.g. a slice of a wider buffer).
        weight: ``[H]``, input's dtype, contiguous.
        eps: added to the mean square (>= 0).
        out: optional tensor of input's shape/dtype/device to write into (rows contiguous in the last dim).
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs, as in sgl-kernel.

    Returns:
        ``out`` (allocated when not given). Same signature and semantics as ``sgl_kernel.gemma_rmsnorm``.
        The op checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs
        launch nothing.
    """
    if out is None:
        out = torch.empty_like(input)
    torch.ops.kernelkit.gemma_rmsnorm.default(out, input, weight, eps, pdl_default(input, enable_pdl))
    return out
