"""`store_kv_cache`: scatter this step's K/V rows into the KV cache (sgl-kernel's ``store_kv_cache`` op)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def store_kv_cache(
    k_cache: torch.Tensor,
    v_cache: torch.Tensor,
    loc: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    enable_pdl: bool | None = None,
) -> None:
    """``k_cache[loc] = k; v_cache[loc] = v``, bit for bit, in one kernel.

    sgl-kernel's ``torch.ops.sgl_kernel.store_kv_cache(k_cache, v_cache, loc, k, v)`` (what its
    ``set_kv_buffer_kernel`` calls): each tensor is viewed as ``[rows, -1]``, a row is copied as bytes.

    Args:
        k_cache, v_cache: ``[slots, ...]`` caches (any dtype, fp8 included), dense after the first dimension
            (the slot stride is free); written at the rows ``loc`` names.
        loc: ``[T]`` int32/int64 slot of each token, contiguous. sglang pads CUDA-graph batches with slot 0, its
            reserved dummy slot, which is written like any other (as upstream); a slot outside
            ``[0, slots)`` is skipped (upstream writes out of bounds). Repeated slots: one of the rows wins.
        k, v: ``[T, ...]`` rows of the caches' row size and element size, dense after the first dimension
            (token stride free, e.g. slices of a fused qkv).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns None. T = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the
    one to fix.
    """
    torch.ops.kernelkit.store_kv_cache.default(k_cache, v_cache, loc, k, v, pdl_default(k_cache, enable_pdl))
