"""`concat_mla_k`: MLA's key, the per-head nope part and the shared rope part side by side (sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def concat_mla_k(k: torch.Tensor, k_nope: torch.Tensor, k_rope: torch.Tensor, enable_pdl: bool | None = None) -> None:
    """``k[:, :, :N] = k_nope; k[:, :, N:] = k_rope`` (k_rope's one row broadcast over the heads), bit for bit.

    sgl-kernel's kernel is fixed to DeepSeek-V3's shapes (bf16, 128 heads, nope 128, rope 64); this one takes any
    head count, dims and dtype (rows are copied as bytes), upstream's shapes included.

    Args:
        k: ``[T, H, N + R]`` output, written in place; dense in its last dimension (tokens and heads strided freely).
        k_nope: ``[T, H, N]``, k's dtype, dense in its last dimension.
        k_rope: ``[T, 1, R]``, k's dtype, dense in its last dimension.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns None. T = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one
    to fix.
    """
    torch.ops.kernelkit.concat_mla_k.default(k, k_nope, k_rope, pdl_default(k, enable_pdl))
