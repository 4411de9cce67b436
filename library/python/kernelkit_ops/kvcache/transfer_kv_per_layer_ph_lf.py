"""`transfer_kv_per_layer_ph_lf`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_per_layer_ph_lf(
    src_k: torch.Tensor,
    dst_k: torch.Tensor,
    src_v: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    item_size: int,
    src_layout_dim: int,
    page_size: int,
    head_num: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Layer ``layer_id``'s K and V items from page-head buffers ``[pages, head_num, page_size, layers,
    head_bytes]`` to layer-first ones ``[slots, head_num, head_bytes]``, head by head (``head_bytes = item_size /
    head_num``).

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src_k, src_v: contiguous page-head buffers; slot s is page ``s // page_size``, row ``s % page_size``.
        dst_k, dst_v: contiguous layer-first buffers of the layer; written.
        layer_id: the layer. item_size: bytes of one slot of one layer (all heads), a multiple of head_num.
        src_layout_dim: bytes of one slot over all layers (``layers * item_size``).
        page_size, head_num: the source's page and head counts.
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_per_layer_ph_lf.default(
        src_k,
        dst_k,
        src_v,
        dst_v,
        src_indices,
        dst_indices,
        layer_id,
        item_size,
        src_layout_dim,
        page_size,
        head_num,
        block_quota,
        num_warps_per_block,
    )
