"""`int8_scaled_mm`: int8 GEMM (exact int32 sums) with per-token and per-channel scales and an optional bias
(CUTLASS, sm_90a)."""

from __future__ import annotations

import torch

from kernelkit_ops import _library


def int8_scaled_mm(
    mat_a: torch.Tensor,
    mat_b: torch.Tensor,
    scales_a: torch.Tensor,
    scales_b: torch.Tensor,
    out_dtype: torch.dtype,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """``out = (mat_a @ mat_b) * scales_a[:, None] * scales_b[None, :] (+ bias)``, returned as a new ``[M, N]`` tensor.

    Same signature, layouts and results as ``sgl_kernel.int8_scaled_mm``. The products are summed exactly in int32,
    then per element, in fp32: ``fma(scales_a[m], float(acc) * scales_b[n], bias[n])``, rounded once to ``out_dtype``.

    Args:
        mat_a: ``[M, K]`` int8, row-major (any row stride that is a multiple of 16 elements), 16-byte aligned.
        mat_b: ``[K, N]`` int8, column-major: ``weight.t()`` of a contiguous ``[N, K]`` weight (any column stride
            that is a multiple of 16), 16-byte aligned. ``K`` a multiple of 16, ``N`` of 8.
        scales_a: float32, one per row of ``mat_a`` (``[M]`` or ``[M, 1]``), contiguous.
        scales_b: float32, one per column of ``mat_b`` (``[N]`` or ``[N, 1]``), contiguous.
        out_dtype: ``torch.bfloat16`` or ``torch.float16``.
        bias: None, or ``N`` values of ``out_dtype``, contiguous.

    Needs the CUTLASS GEMM ops (a build that found the CUTLASS headers) and an sm_90 GPU. Every argument is checked
    and a bad one raises ``RuntimeError`` naming it; M = 0 gives an empty ``[0, N]`` tensor, K = 0 the bias (or
    zeros).
    """
    _library.require_cutlass("int8_scaled_mm")  # first: without CUTLASS the op is not registered
    # The output's shape needs 2-D operands; other ranks reach the op with an empty output, which refuses them.
    m = mat_a.shape[0] if mat_a.dim() == 2 else 0
    n = mat_b.shape[1] if mat_b.dim() == 2 else 0
    out = mat_a.new_empty((m, n), dtype=out_dtype)
    torch.ops.kernelkit.int8_scaled_mm.default(out, mat_a, mat_b, scales_a, scales_b, bias)
    return out
