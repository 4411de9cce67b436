"""`bmm_fp8`: batched fp8 (e4m3) GEMM with per-tensor scales (CUTLASS, sm_90a; no cuBLAS)."""

from __future__ import annotations

import torch

from kernelkit_ops import _library


def bmm_fp8(
    A: torch.Tensor,
    B: torch.Tensor,
    A_scale: torch.Tensor,
    B_scale: torch.Tensor,
    dtype: torch.dtype,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``out[l] = (A[l] @ B[l]) * A_scale * B_scale`` for every batch ``l``; returns ``out``.

    Same signature and results (within GEMM tolerance) as ``sgl_kernel.bmm_fp8``, which runs cuBLASLt; this is a
    CUTLASS kernel, so neither the build nor the call needs cuBLAS (nor sgl-kernel's 32 MiB workspace). The products
    are summed in fp32 (partial sums promoted every 128 values of K; sgl-kernel asks cuBLASLt for fast
    accumulation), scaled by ``A_scale * B_scale`` in fp32 and rounded once to the output dtype.

    Args:
        A: ``[b, m, k]`` float8_e4m3fn, row-major in each batch (row and batch strides multiples of 16 elements),
            16-byte aligned.
        B: ``[b, k, n]`` float8_e4m3fn, column-major in each batch: ``x.transpose(-2, -1)`` of a contiguous
            ``[b, n, k]`` (column and batch strides multiples of 16), 16-byte aligned. ``k`` a multiple of 16, ``n``
            of 8. sgl-kernel also takes float8_e5m2 for one of A and B; this op refuses it.
        A_scale, B_scale: float32 CUDA tensors of one value each (0-d or ``[1]``), read on the GPU when the kernel
            runs (so a CUDA graph replay uses their current values).
        dtype: the output dtype when ``out`` is None: ``torch.bfloat16`` or ``torch.float16``.
        out: None (a new ``[b, m, n]`` tensor of ``dtype``) or a ``[b, m, n]`` bfloat16/float16 tensor to write, rows
            contiguous, row and batch strides multiples of 8 elements; its dtype is the output's (``dtype`` is then
            not used, as in sgl-kernel).

    Every argument is checked and a bad one raises ``RuntimeError`` naming it.
    """
    _library.require_cutlass("bmm_fp8")  # first: without CUTLASS the op is not registered
    if out is None:
        # The output's shape needs 3-D operands; other ranks reach the op with an empty output, which refuses them.
        shape = (A.shape[0], A.shape[1], B.shape[2]) if A.dim() == 3 and B.dim() == 3 else (0, 0, 0)
        out = A.new_empty(shape, dtype=dtype)
    torch.ops.kernelkit.bmm_fp8.default(out, A, B, A_scale, B_scale)
    return out
