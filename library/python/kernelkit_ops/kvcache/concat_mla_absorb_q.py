"""`concat_mla_absorb_q`: MLA's absorbed query, the latent part and the rope part side by side (sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def concat_mla_absorb_q(a: torch.Tensor, b: torch.Tensor, enable_pdl: bool | None = None) -> torch.Tensor:
    """``torch.cat([a, b], dim=-1)`` into a new contiguous tensor, bit for bit.

    sgl-kernel's kernel is fixed to DeepSeek-V3's shapes (bf16, a_dim 512, b_dim 64); this one takes any dims and
    dtype (rows are copied as bytes), upstream's shapes included.

    Args:
        a: ``[B0, B1, A]`` (e.g. [tokens, heads, 512]), dense in its last dimension (leading strides free).
        b: ``[B0, B1, Bd]`` (e.g. [tokens, heads, 64]), a's dtype, dense in its last dimension.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns the new ``[B0, B1, A + Bd]`` tensor. An empty one launches nothing. The op checks its arguments and
    raises ``RuntimeError`` naming the one to fix.
    """
    *batch_dims, _ = a.shape
    out = torch.empty((*batch_dims, a.shape[-1] + b.shape[-1]), device=a.device, dtype=a.dtype)
    torch.ops.kernelkit.concat_mla_absorb_q.default(a, b, out, pdl_default(a, enable_pdl))
    return out
