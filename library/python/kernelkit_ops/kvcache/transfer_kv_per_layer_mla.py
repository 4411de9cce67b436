"""`transfer_kv_per_layer_mla`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_per_layer_mla(
    src: torch.Tensor,
    dst: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """One layer's MLA latent items (one buffer, no V) between layer-first buffers: ``dst[dst_indices[i]] =
    src[src_indices[i]]``, each ``item_size`` bytes.

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src, dst: contiguous ``[slots, ...]`` buffers of one layer, on the GPU or in pinned host memory; dst is
            written.
        item_size: bytes of one slot (e.g. (512 + 64) * 2 for DeepSeek's bf16 latent).
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_per_layer_mla.default(
        src, dst, src_indices, dst_indices, item_size, block_quota, num_warps_per_block
    )
