"""The custom all-reduce: sgl-kernel's ``sgl_kernel.allreduce`` API (CUDA) over this library's kernel.

A communicator is an int handle from :func:`init_custom_ar`. Every rank of one node passes the meta buffers of all
ranks (each ``meta_size() + max_size`` bytes, shared through CUDA IPC and zeroed), and a device buffer ``rank_data``
that holds the peer pointers of registered buffers. Then, per call:

* eager: ``all_reduce(fa, inp, out, buffer_ptrs[rank], max_size)`` copies ``inp`` into this rank's registered buffer
  (:func:`register_buffer`) and sums every rank's copy into ``out``;
* inside CUDA-graph capture: ``all_reduce(fa, inp, out, 0, 0)`` reads ``inp`` where it lies; after capture, every rank
  gives :func:`get_graph_buffer_ipc_meta` to the others and calls :func:`register_graph_buffers` with all of them.

Messages are whole 16-byte packs of bf16, fp16 or fp32; ranks 2, 4, 6 or 8. One-shot on two ranks and for small
messages, two-shot above 512 KB (4 ranks) or 256 KB (6-8) with full NVLink. Every rank gets the same bits.
:class:`kernelkit_ops.allreduce.CustomAllreduce` does the setup from a ``torch.distributed`` group and falls back
to NCCL where this path cannot run.
"""

from __future__ import annotations

import torch


def init_custom_ar(ipc_tensors: list[int], rank_data: torch.Tensor, rank: int, full_nvlink: bool) -> int:
    """A new communicator: ``ipc_tensors[r]`` is rank r's meta buffer as mapped into this process, ``rank_data`` a
    CUDA byte buffer (64 bytes per registered buffer), ``full_nvlink`` whether every pair of GPUs has NVLink."""
    return torch.ops.kernelkit.init_custom_ar.default(ipc_tensors, rank_data, rank, full_nvlink)


def dispose(fa: int) -> None:
    """Frees the communicator (and closes the peers' graph buffers it opened); ``fa`` is invalid afterwards."""
    torch.ops.kernelkit.dispose.default(fa)


def all_reduce(fa: int, inp: torch.Tensor, out: torch.Tensor, reg_buffer: int, reg_buffer_sz_bytes: int) -> None:
    """``out`` = the sum of every rank's ``inp``. ``reg_buffer``: this rank's registered buffer to stage ``inp``
    in (of ``reg_buffer_sz_bytes``), or 0 when ``inp`` is itself registered or the stream is capturing a graph."""
    torch.ops.kernelkit.all_reduce.default(fa, inp, out, reg_buffer, reg_buffer_sz_bytes)


def get_graph_buffer_ipc_meta(fa: int) -> tuple[list[int], list[int]]:
    """The inputs captured since the last registration: their IPC handles (64 ints per input, one per byte) and their
    offsets in their allocations, for the other ranks."""
    return torch.ops.kernelkit.get_graph_buffer_ipc_meta.default(fa)


def register_buffer(fa: int, fake_ipc_ptrs: list[int]) -> None:
    """Registers one buffer per rank (``fake_ipc_ptrs[r]``: rank r's, mapped into this process) for eager calls."""
    torch.ops.kernelkit.register_buffer.default(fa, fake_ipc_ptrs)


def register_graph_buffers(fa: int, handles: list[list[int]], offsets: list[list[int]]) -> None:
    """Every rank's :func:`get_graph_buffer_ipc_meta` (``handles[r]``, ``offsets[r]``): the captured calls' peers."""
    torch.ops.kernelkit.register_graph_buffers.default(fa, handles, offsets)


def meta_size() -> int:
    """Bytes of the signal block at the start of each meta buffer."""
    return torch.ops.kernelkit.meta_size.default()


def allocate_shared_buffer(size: int) -> tuple[int, list[int]]:
    """A zeroed device buffer of ``size`` bytes on the current device and its CUDA IPC handle (64 ints, one per byte)
    for the other ranks' :func:`open_shared_buffer`."""
    ptr, handle = torch.ops.kernelkit.allocate_shared_buffer.default(size)
    return ptr, list(handle)


def open_shared_buffer(handle: list[int]) -> int:
    """Maps another process's buffer (its :func:`allocate_shared_buffer` handle) into this one: its address here."""
    return torch.ops.kernelkit.open_shared_buffer.default(handle)


def free_shared_buffer(ptr: int) -> None:
    """Releases a buffer of :func:`allocate_shared_buffer` (freed) or :func:`open_shared_buffer` (closed)."""
    torch.ops.kernelkit.free_shared_buffer.default(ptr)
