"""`silu_and_mul`: SiLU (x·sigmoid(x)) of the first half of the last dim times the second half."""

from __future__ import annotations

import torch

from kernelkit_ops._validate import pdl_default
from kernelkit_ops.activation._gated import gated_output


def silu_and_mul(input: torch.Tensor, out: torch.Tensor | None = None, enable_pdl: bool | None = None) -> torch.Tensor:
    """Return ``act(input[..., :d]) * input[..., d:]`` with act the SiLU (x·sigmoid(x)), as used by SwiGLU MLPs (Llama, Qwen, DeepSeek, Mistral).

    Args:
        input: ``[..., 2d]`` CUDA tensor, bfloat16/float16/float32, contiguous in its last dim;
            leading dims may be row-strided (e.g. a slice of a wider buffer).
        out: optional ``[..., d]`` tensor of input's dtype and device to write into.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. A keyword beyond sgl-kernel 0.1.x, as in FlashInfer.

    Returns:
        ``out`` (allocated when not given). Math is done in float32 and rounded once.
        Same signature and semantics as ``sgl_kernel.silu_and_mul``.
    """
    out = gated_output("silu_and_mul", input, out)
    if out.numel():  # T = 0 launches nothing
        torch.ops.kernelkit.silu_and_mul.default(out, input, pdl_default(input, enable_pdl))
    return out


@torch.library.register_fake("kernelkit::silu_and_mul")
def _silu_and_mul_fake(out: torch.Tensor, input: torch.Tensor, enable_pdl: bool) -> None:
    # Mutates `out` only; nothing to allocate.
    return None
