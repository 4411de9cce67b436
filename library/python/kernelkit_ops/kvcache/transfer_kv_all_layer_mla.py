"""`transfer_kv_all_layer_mla`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_all_layer_mla(
    src_layers: torch.Tensor,
    dst_layers: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Every layer's MLA latent items between layer-first buffers given by tables of layer base addresses.

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src_layers, dst_layers: 1-D int64/uint64 tensors of ``num_layers`` layer base addresses (dst: the memory
            they point at is written).
        item_size: bytes of one slot of one layer. num_layers: layers to copy (src_layers' length).
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_all_layer_mla.default(
        src_layers, dst_layers, src_indices, dst_indices, item_size, num_layers, block_quota, num_warps_per_block
    )
