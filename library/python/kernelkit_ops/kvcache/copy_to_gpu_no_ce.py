"""`copy_to_gpu_no_ce`: a small int32 host array to the GPU without the copy engine (sgl-kernel's op)."""

from __future__ import annotations

import torch


def copy_to_gpu_no_ce(input: torch.Tensor, output: torch.Tensor) -> None:  # noqa: A002  (upstream's name)
    """``output.copy_(input)`` through a kernel launch instead of a copy-engine transfer.

    The values travel in the kernel's launch parameters, so the copy neither queues behind DMA transfers on the copy
    engines nor blocks the host on pageable memory; it is ordered on the current stream like any kernel.

    Args:
        input: ``[n]`` int32 CPU tensor, contiguous (pinned or not), 0 <= n <= 1024 (upstream takes n of 32, 64 or
            72 only). Read on the host when the op is called.
        output: ``[n]`` int32 CUDA tensor, contiguous; written in place.

    Under CUDA-graph capture the values read at capture are baked into the graph (as upstream): a replay writes
    those, whatever input holds then. Returns None. n = 0 launches nothing. The op checks its arguments and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.copy_to_gpu_no_ce.default(input, output)
