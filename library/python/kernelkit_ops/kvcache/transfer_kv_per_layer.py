"""`transfer_kv_per_layer`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_per_layer(
    src_k: torch.Tensor,
    dst_k: torch.Tensor,
    src_v: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """One layer's K and V items between layer-first buffers: ``dst_k[dst_indices[i]] = src_k[src_indices[i]]`` and
    the same for V, each item ``item_size`` bytes.

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src_k, src_v, dst_k, dst_v: contiguous ``[slots, ...]`` buffers of one layer (any dtype: items are bytes),
            on the GPU or in pinned host memory (read and written through unified addressing); dst_k / dst_v are
            written.
        item_size: bytes of one slot of one layer (e.g. heads * head_dim * element size); any positive size
            (sgl-kernel: multiples of 8).
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_per_layer.default(
        src_k, dst_k, src_v, dst_v, src_indices, dst_indices, item_size, block_quota, num_warps_per_block
    )
