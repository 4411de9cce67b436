"""`transfer_kv_per_layer_mla_pf_lf`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_per_layer_mla_pf_lf(
    src: torch.Tensor,
    dst: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    item_size: int,
    src_layout_dim: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Layer ``layer_id``'s MLA latent items from a page-first buffer to a layer-first one.

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src: contiguous page-first buffer ``[slots, layers, ...]``. dst: contiguous layer-first buffer; written.
        layer_id: the layer. item_size: bytes of one slot of one layer. src_layout_dim: bytes of one source slot
            over all layers.
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_per_layer_mla_pf_lf.default(
        src, dst, src_indices, dst_indices, layer_id, item_size, src_layout_dim, block_quota, num_warps_per_block
    )
