"""`transfer_kv_direct`: sgl-kernel's kvcacheio op of that name (same signature, same bytes moved)."""

from __future__ import annotations

import torch


def transfer_kv_direct(
    src_layers: list[torch.Tensor],
    dst_layers: list[torch.Tensor],
    src_indices: torch.Tensor,
    dst_indices: torch.Tensor,
    page_size: int,
) -> None:
    """Token rows copied between two lists of buffers by the copy engine: ``dst_layers[j][dst_indices[i]] =
    src_layers[j][src_indices[i]]`` for every buffer j (sglang passes each layer's K then V buffers).

    As sgl-kernel: the indices are read on the host (a CUDA index tensor is copied there first, which waits for
    the stream), runs where both indices step by one move as one copy per buffer (cudaMemcpyAsync on the current
    stream: no SM is used).

    Args:
        src_layers, dst_layers: equally long lists of ``[slots, ...]`` buffers, dense after the first dimension,
            pairwise of one dtype and row size; CUDA tensors of one device or CPU tensors (pinned for an
            asynchronous copy). dst buffers are written.
        src_indices, dst_indices: ``[n]`` int64 slots, on the CPU or the GPU; every slot must lie inside its buffers.
        page_size: n must be a multiple of it (sgl-kernel's check); rows are copied one index at a time.

    Returns None. n = 0 copies nothing. The op checks its arguments (every index inside its buffers) and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.transfer_kv_direct.default(src_layers, dst_layers, src_indices, dst_indices, page_size)


def _fake(src_layers, dst_layers, src_indices, dst_indices, page_size) -> None:
    """The op under FakeTensorMode / torch.compile: it returns nothing and changes no tensor's metadata. Torch
    derives this for ops with written (``Tensor!``) arguments; a tensor list cannot be declared written."""
    del src_layers, dst_layers, src_indices, dst_indices, page_size


if hasattr(torch.ops.kernelkit, "transfer_kv_direct"):  # registered once the library is built with the op
    torch.library.register_fake("kernelkit::transfer_kv_direct")(_fake)
