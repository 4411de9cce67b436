"""`transfer_kv_all_layer_direct_lf_pf`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_all_layer_direct_lf_pf(
    src_ptrs: list[torch.Tensor],
    dst_ptrs: list[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    page_size: int,
) -> None:
    """Pages of every layer from layer-first buffers to page-first pools, by the copy engine.

    Page i: rows ``src_indices[i * page_size] ..`` + page_size of ``src_ptrs[j]`` (layer j; V layers after the K
    ones) to pool page ``dst_indices[i * page_size] // page_size``, layer j. As sgl-kernel, only the first index of
    each page is read; runs of consecutive pages move as one 2-D copy per buffer.

    Args:
        src_ptrs: the layer-first buffers ``[slots, ...]`` (K layers, then V layers).
        dst_ptrs: ``[k_pool, v_pool]``, or ``[pool]`` for MLA: contiguous ``[pages, layers, page_size, ...]``;
            written.
        src_indices, dst_indices: ``[n]`` int64 slots, n a multiple of page_size, on the CPU or the GPU.
        page_size: slots per page.

    Returns None. n = 0 copies nothing. The op checks its arguments (every index inside its buffers) and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.transfer_kv_all_layer_direct_lf_pf.default(
        src_ptrs, dst_ptrs, src_indices, dst_indices, page_size
    )


def _fake(src_ptrs, dst_ptrs, src_indices, dst_indices, page_size) -> None:
    """The op under FakeTensorMode / torch.compile: it returns nothing and changes no tensor's metadata. Torch
    derives this for ops with written (``Tensor!``) arguments; a tensor list cannot be declared written."""
    del src_ptrs, dst_ptrs, src_indices, dst_indices, page_size


if hasattr(
    torch.ops.kernelkit, "transfer_kv_all_layer_direct_lf_pf"
):  # registered once the library is built with the op
    torch.library.register_fake("kernelkit::transfer_kv_all_layer_direct_lf_pf")(_fake)
