"""`gelu_and_mul`: exact (erf) GELU of the first half of the last dim times the second half."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def gelu_and_mul(input: torch.Tensor, out: torch.Tensor | None = None, enable_pdl: bool | None = None) -> torch.Tensor:
    """Return ``act(input[..., :d]) * input[..., d:]`` with act
    the exact (erf) GELU, as used by GeGLU MLPs.

    Args:
        input: ``[..., 2d]`` CUDA tensor, bfloat16/float16/float32, contiguous in its last dim;
            leading dims may be row-strided (e.g. a slice of a wider buffer).
        out: optional ``[..., d]`` tensor of input's dtype and device to write into (rows contiguous in
            the last dim, leading dims may be row-strided).
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. A keyword beyond sgl-kernel 0.1.x, as in FlashInfer.

    Returns:
        ``out`` (allocated when not given). Math is done in float32 and rounded once.
        Same signature and semantics as ``sgl_kernel.gelu_and_mul``. The op checks its arguments and raises
        ``RuntimeError`` naming the one to fix; empty inputs launch nothing.
    """
    if out is None:
        # Sizes as separate ints: the fastest new_empty. A 0-d input gets an empty out and meets the op's refusal.
        *lead, width = input.shape or (0,)
        out = input.new_empty(*lead, width // 2)
    torch.ops.kernelkit.gelu_and_mul.default(out, input, pdl_default(input, enable_pdl))
    return out
