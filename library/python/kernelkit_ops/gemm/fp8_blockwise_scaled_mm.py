"""`fp8_blockwise_scaled_mm`: DeepSeek-V3 blockwise-scaled fp8 GEMM (1 x 128 activation groups, 128 x 128 weight
blocks) on CUTLASS's sm_90 kernel, as sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops import _library


def fp8_blockwise_scaled_mm(
    mat_a: torch.Tensor,
    mat_b: torch.Tensor,
    scales_a: torch.Tensor,
    scales_b: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """``out[m, n] = sum_kb scales_a[m, kb] * scales_b[kb, n // 128] * (mat_a[m, kb-block] @ mat_b[kb-block, n])``:
    the product of the dequantized operands (``(mat_a * sa) @ (mat_b * sb)`` with each scale spread over its block),
    accumulated in fp32 and rounded once to ``out_dtype``. Same signature and layouts as
    ``sgl_kernel.fp8_blockwise_scaled_mm``; sglang calls it as
    ``fp8_blockwise_scaled_mm(q_input, weight.T, x_scale, weight_scale_inv.T, out_dtype)``.

    Args:
        mat_a: ``[M, K]`` ``torch.float8_e4m3fn``, row-major (rows may be strided, 16-byte aligned). Any M >= 0.
        mat_b: ``[K, N]`` ``torch.float8_e4m3fn``, column-major: ``w.t()`` of a contiguous ``[N, K]`` weight.
            ``K % 128 == 0``; ``N % 8 == 0`` (N need not be a multiple of 128: the last weight block may be partial,
            e.g. DeepSeek-V3's N = 2112, which sgl-kernel refuses).
        scales_a: ``[M, K // 128]`` float32, one scale per 1 x 128 group of ``mat_a``: the column-major scales
            ``sgl_per_token_group_quant_fp8`` writes (``column_major_scales``, with or without ``scale_tma_aligned``)
            are read in place; any other layout (row-major, or column-major with ``M % 4 != 0`` and no TMA
            alignment) is first copied into an aligned buffer by a small kernel (sgl-kernel refuses row-major
            scales and pads ``mat_a`` and ``scales_a`` to a multiple of 4 rows instead).
        scales_b: ``[K // 128, ceil(N / 128)]`` float32, one scale per 128 x 128 block of ``mat_b``: the transposed
            view ``weight_scale_inv.t()`` of a contiguous ``[ceil(N / 128), K // 128]`` weight scale is read in place,
            other layouts are copied first (sgl-kernel requires ``stride(0) == 1`` and copies it on sm_90).
        out_dtype: ``torch.bfloat16`` or ``torch.float16``.

    Returns:
        A new ``[M, N]`` tensor of ``out_dtype`` (``M == 0``: empty, nothing launched).

    Runs on sm_90 GPUs (H100/H200). Every requirement is checked in the op, which raises ``RuntimeError`` naming the
    argument to fix. The kernel (CUTLASS's blockwise-scaled mainloop) scales each 128-deep K block's fp32 partial
    product before adding it, so the result is the fp32 sum of the dequantized products up to fp32 rounding.
    """
    _library.require_cutlass("fp8_blockwise_scaled_mm")
    m = mat_a.shape[0] if mat_a.dim() == 2 else 0
    n = mat_b.shape[1] if mat_b.dim() == 2 else 0
    out = torch.empty((m, n), dtype=out_dtype, device=mat_a.device)
    torch.ops.kernelkit.fp8_blockwise_scaled_mm.default(out, mat_a, mat_b, scales_a, scales_b)
    return out
