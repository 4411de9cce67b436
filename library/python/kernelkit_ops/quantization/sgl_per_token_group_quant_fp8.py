"""`sgl_per_token_group_quant_fp8`: per-token-group fp8 (e4m3) quantization with one fp32 scale per
group of ``group_size`` elements (DeepSeek-V3's 1 x 128 activation blocks), as sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def sgl_per_token_group_quant_fp8(
    input: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    group_size: int,
    eps: float,
    fp8_min: float,
    fp8_max: float,
    scale_ue8m0: bool = False,
    enable_pdl: bool | None = None,
) -> None:
    """Quantize ``input`` to fp8 e4m3 per group of ``group_size`` consecutive elements of its last dim,
    writing ``output_q`` and ``output_s`` in place (same signature as ``sgl_kernel.sgl_per_token_group_quant_fp8``).

    For row ``t`` and group ``j`` (elements ``j*group_size .. (j+1)*group_size - 1``), in float32:
    ``s = max(absmax(group), eps) / fp8_max`` (an IEEE division), rounded up to a power of two when
    ``scale_ue8m0``; ``output_s[t, j] = s`` and ``output_q[t, i] = e4m3(clamp(x[t, i] / s, fp8_min, fp8_max))``
    (round to nearest even).

    Args:
        input: ``[..., H]`` (usually ``[T, H]``) bfloat16/float16/float32 CUDA tensor, contiguous in its
            last dim; its rows may be strided (a slice of a wider buffer).
        output_q: ``input``'s shape, ``torch.float8_e4m3fn``, contiguous in its last dim (rows may be strided).
        output_s: ``[..., H / group_size]`` float32, any layout whose leading dims collapse into one row
            stride: row-major, column-major (``torch.empty(H // group_size, T).T``) or the TMA-aligned
            column-major layout with the T stride padded (``torch.empty(G, T_pad)[:, :T].T``); the kernel
            writes ``s`` at ``t * stride(0) + j * stride(1)``. No two scales may share an element.
        group_size: one of 16, 32, 64, 128, 256; must divide ``H``.
        eps: floor of ``absmax`` (> 0, a positive finite float32): an all-zero group gets ``s = eps / fp8_max``.
        fp8_min, fp8_max: the clamp range; ``0 < fp8_max <= 448`` and ``-448 <= fp8_min <= fp8_max``
            (e.g. ``-448, 448``, or ``-224, 224`` for e4m3fnuz-sized ranges).
        scale_ue8m0: round each scale up to a power of two (the UE8M0 scales DeepGEMM reads on Blackwell).
            sgl-kernel added this argument in 0.1.x without a default; the default ``False`` here also
            accepts calls written for the earlier 7-argument form.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).

    Returns:
        None. Empty inputs (T = 0) launch nothing. The op checks its arguments and raises
        ``RuntimeError`` naming the one to fix.

    NaN and inf: NaN is ignored by ``absmax`` (a NaN in a group does not poison its scale) and quantizes
    to NaN; an inf makes its group's scale inf, so that group's finite values become 0 and the inf NaN
    (the float32 formula above, exactly).
    """
    torch.ops.kernelkit.sgl_per_token_group_quant_fp8.default(
        input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0, pdl_default(input, enable_pdl)
    )
