"""`cutlass_scaled_fp4_mm`: the NVFP4 GEMM (e2m1 operands with e4m3 block scales) on CUTLASS's Blackwell kernel, as
sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops import _library


def cutlass_scaled_fp4_mm(
    a: torch.Tensor,
    b: torch.Tensor,
    block_scale_a: torch.Tensor,
    block_scale_b: torch.Tensor,
    alpha: torch.Tensor,
    out_dtype: torch.dtype,
) -> torch.Tensor:
    """``out = alpha * (dequant(a) @ dequant(b).T)``: the product of two NVFP4 tensors, accumulated in fp32 and rounded
    once to ``out_dtype``. ``dequant(x)[r, k] = e2m1(x)[r, k] * float(block_scale[r, k // 16])``, the e4m3 scale of
    each 16 values along K read from the swizzled layout. Same signature, layouts and numbers as
    ``sgl_kernel.cutlass_scaled_fp4_mm``; sglang calls it as
    ``cutlass_scaled_fp4_mm(x_fp4, w_fp4, x_scale, w_scale, 1 / (x_gs * w_gs), x.dtype)`` with the operands and
    scales ``scaled_fp4_quant(x, x_gs)`` returns.

    Needs the FP4 kernels (``kernelkit build --fp4``) and the CUTLASS GEMM ops (the CUTLASS headers found by the
    build); without them it raises RuntimeError saying how to get them. Runs on sm_100 GPUs (B200/GB200) only: its
    kernel uses Blackwell's block-scaled tensor cores, and any other GPU (an H100 is compute capability 9.0) is
    refused with a RuntimeError naming its compute capability.

    Args:
        a: ``[M, K // 2]`` ``torch.uint8``, two e2m1 codes per byte (the even-indexed value in the low nibble), as
            ``scaled_fp4_quant`` writes them; rows contiguous (a row-strided view with 16-byte-multiple row stride
            is read in place). ``K % 32 == 0``. Any M >= 0.
        b: ``[N, K // 2]`` ``torch.uint8``, the weight in the same format (not transposed). ``N % 8 == 0``
            (sgl-kernel: ``N % 32``).
        block_scale_a: ``torch.float8_e4m3fn`` ``[round_up(M, 128), round_up(K // 16, 4)]``, contiguous, in the 128x4
            swizzled layout of Blackwell's block-scaled MMA (``scaled_fp4_quant``'s second output). Its padding must
            hold no NaN/inf (``scaled_fp4_quant`` writes 0 there): the tensor cores multiply the scales of the padding
            columns with zeros.
        block_scale_b: the same for ``b``: ``[round_up(N, 128), round_up(K // 16, 4)]``.
        alpha: float32 CUDA tensor with one value (any shape: ``[1]`` or 0-d), read on the GPU (no host sync, CUDA-graph
            safe); typically ``1 / (global_scale_a * global_scale_b)``.
        out_dtype: ``torch.bfloat16`` or ``torch.float16`` (sgl-kernel also takes ``torch.float32``; refused here).

    Returns:
        A new ``[M, N]`` tensor of ``out_dtype`` (``M == 0`` or ``N == 0``: empty, nothing launched).

    Every requirement is checked in the op, which raises ``RuntimeError`` naming the argument to fix.
    """
    _library.require_fp4("cutlass_scaled_fp4_mm")
    _library.require_cutlass("cutlass_scaled_fp4_mm")
    m = a.shape[0] if a.dim() == 2 else 0
    n = b.shape[0] if b.dim() == 2 else 0
    out = torch.empty((m, n), dtype=out_dtype, device=a.device)
    torch.ops.kernelkit.cutlass_scaled_fp4_mm.default(out, a, b, block_scale_a, block_scale_b, alpha)
    return out
