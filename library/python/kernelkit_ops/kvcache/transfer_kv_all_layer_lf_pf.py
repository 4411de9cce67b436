"""`transfer_kv_all_layer_lf_pf`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_all_layer_lf_pf(
    src_k_layers: torch.Tensor,
    dst_k: torch.Tensor,
    src_v_layers: torch.Tensor,
    dst_v: torch.Tensor,
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    item_size: int,
    dst_layout_dim: int,
    num_layers: int,
    block_quota: int = 2,
    num_warps_per_block: int = 32,
) -> None:
    """Every layer's K and V items from layer-first buffers (tables of layer base addresses) to page-first buffers:
    layer l of item i lands at ``dst_indices[i] * dst_layout_dim + l * item_size`` of dst_k (dst_v).

    A few CTAs copy the bytes (``block_quota`` of ``num_warps_per_block`` warps), so a transfer between the GPU and
    pinned host memory overlaps the model's compute; bit for bit, any item size.

    Args:
        src_k_layers, src_v_layers: 1-D int64/uint64 tensors of ``num_layers`` layer base addresses.
        dst_k, dst_v: contiguous page-first buffers ``[slots, layers, ...]`` (sglang's host pool); written.
        item_size: bytes of one slot of one layer. dst_layout_dim: bytes of one destination slot over all layers
            (``>= num_layers * item_size``). num_layers: layers to copy.
        src_indices, dst_indices: ``[n]`` int64 CUDA tensors of slots; item i goes from slot ``src_indices[i]`` to
            slot ``dst_indices[i]``. A slot outside its buffer (negative, or past its end where the buffer is a
            tensor) is skipped.
        block_quota: CTAs the copy may use at most (2: it holds two SMs while the model computes on the rest).
        num_warps_per_block: warps per CTA, 1..32 (32).

    Returns None. n = 0 launches nothing. The op checks its arguments and raises ``RuntimeError`` naming the one to
    fix (a pageable host buffer is refused: the GPU cannot reach it).
    """
    torch.ops.kernelkit.transfer_kv_all_layer_lf_pf.default(
        src_k_layers,
        dst_k,
        src_v_layers,
        dst_v,
        src_indices,
        dst_indices,
        item_size,
        dst_layout_dim,
        num_layers,
        block_quota,
        num_warps_per_block,
    )
