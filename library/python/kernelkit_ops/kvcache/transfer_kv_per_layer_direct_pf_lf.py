"""`transfer_kv_per_layer_direct_pf_lf`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_per_layer_direct_pf_lf(
    src_ptrs: list[torch.Tensor],
    dst_ptrs: list[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    layer_id: int,
    page_size: int,
) -> None:
    """Pages of one layer from page-first pools to layer-first buffers, by the copy engine.

    Page i (indices ``i * page_size ..``) is pool page ``src_indices[i * page_size] // page_size``, layer
    ``layer_id + j``, copied to rows ``dst_indices[i * page_size] ..`` + page_size of ``dst_ptrs[j]`` (V: of
    ``dst_ptrs[j + layers]``). As sgl-kernel, only the first index of each page is read; runs of consecutive pages
    move as one 2-D copy per buffer (cudaMemcpy2DAsync on the current stream).

    Args:
        src_ptrs: ``[k_pool, v_pool]``, or ``[pool]`` for MLA: contiguous ``[pages, layers, page_size, ...]``.
        dst_ptrs: the layer-first buffers ``[slots, ...]`` (K layers, then V layers); written.
        src_indices, dst_indices: ``[n]`` int64 slots, n a multiple of page_size, on the CPU or the GPU.
        layer_id: the pools' first layer to copy. page_size: slots per page.

    Returns None. n = 0 copies nothing. The op checks its arguments (every index inside its buffers) and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.transfer_kv_per_layer_direct_pf_lf.default(
        src_ptrs, dst_ptrs, src_indices, dst_indices, layer_id, page_size
    )


def _fake(src_ptrs, dst_ptrs, src_indices, dst_indices, layer_id, page_size) -> None:
    """The op under FakeTensorMode / torch.compile: it returns nothing and changes no tensor's metadata. Torch
    derives this for ops with written (``Tensor!``) arguments; a tensor list cannot be declared written."""
    del src_ptrs, dst_ptrs, src_indices, dst_indices, layer_id, page_size


if hasattr(
    torch.ops.kernelkit, "transfer_kv_per_layer_direct_pf_lf"
):  # registered once the library is built with the op
    torch.library.register_fake("kernelkit::transfer_kv_per_layer_direct_pf_lf")(_fake)
