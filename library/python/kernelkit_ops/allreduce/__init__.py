"""allreduce ops: the custom all-reduce inside one node.

Stand-in for sgl-kernel's ``sgl_kernel.allreduce`` module (its CUDA functions, under the names code written for it
imports), plus the IPC buffer helpers and :class:`CustomAllreduce`, which sets it up from a ``torch.distributed``
group.
"""

from kernelkit_ops.allreduce._communicator import CustomAllreduce
from kernelkit_ops.allreduce.all_reduce import (
    all_reduce,
    allocate_shared_buffer,
    dispose,
    free_shared_buffer,
    get_graph_buffer_ipc_meta,
    init_custom_ar,
    meta_size,
    open_shared_buffer,
    register_buffer,
    register_graph_buffers,
)

__all__ = [
    "CustomAllreduce",
    "all_reduce",
    "allocate_shared_buffer",
    "dispose",
    "free_shared_buffer",
    "get_graph_buffer_ipc_meta",
    "init_custom_ar",
    "meta_size",
    "open_shared_buffer",
    "register_buffer",
    "register_graph_buffers",
]
