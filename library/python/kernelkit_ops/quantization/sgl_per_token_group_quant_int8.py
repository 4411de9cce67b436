"""`sgl_per_token_group_quant_int8`: per-token-group int8 quantization with one fp32 scale per group
of ``group_size`` elements, as sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization._group_defaults import use_v2
from kernelkit_ops.quantization.sgl_per_token_group_quant_8bit import sgl_per_token_group_quant_8bit


def sgl_per_token_group_quant_int8(
    input: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    group_size: int,
    eps: float,
    fp8_min: float,
    fp8_max: float,
    scale_ue8m0: bool = False,
    fuse_silu_and_mul: bool = False,
    masked_m: torch.Tensor | None = None,
    enable_v2: bool | None = None,
    enable_pdl: bool | None = None,
    *,
    round_to_nearest: bool = False,
) -> None:
    """Quantize ``input`` to int8 per group of ``group_size`` consecutive elements of its last dim,
    writing ``output_q`` and ``output_s`` in place (same signature as ``sgl_kernel.sgl_per_token_group_quant_int8``,
    which is sgl-kernel's ``sgl_per_token_group_quant_8bit`` under another name -- hence the bounds' names
    ``fp8_min`` / ``fp8_max``; a call with an e4m3 output_q, ``scale_ue8m0``, ``fuse_silu_and_mul`` or
    ``masked_m`` is that op's, see ``sgl_per_token_group_quant_8bit``).

    The numbers are sgl-kernel's, bit for bit: the scale ``s`` and multiplier ``y`` of
    ``sgl_per_token_group_quant_fp8`` (v1 or v2, see there) with 127 for 448, and ``output_q[t, i]`` the
    int8 of ``min(max(x[t, i] * y, fp8_min), fp8_max)`` truncated toward zero, as sgl-kernel's cast does.
    ``round_to_nearest=True`` rounds half to even instead (``torch.round``: half the truncation error; not
    in sgl-kernel).

    Args:
        input: ``[..., H]`` (usually ``[T, H]``) bfloat16/float16/float32 CUDA tensor, contiguous in its
            last dim; its rows may be strided (a slice of a wider buffer).
        output_q: ``input``'s shape, ``torch.int8``, contiguous in its last dim (rows may be strided).
        output_s: ``[..., H / group_size]`` float32, row-major, column-major (``torch.empty(G, T).T``) or
            padded column-major: any layout whose leading dims collapse into one row stride and whose
            scales do not overlap; ``s`` goes to ``t * stride(0) + j * stride(1)``.
        group_size: one of 8, 16, 32, 64, 128, 256; must divide ``H``.
        eps: floor of ``absmax`` (> 0, a positive finite float32): an all-zero group gets ``s = eps / fp8_max``.
        fp8_min, fp8_max: the int8 clamp range (sgl-kernel's names); ``0 < fp8_max <= 127`` and
            ``-128 <= fp8_min <= fp8_max``.
        scale_ue8m0, fuse_silu_and_mul, masked_m: as in ``sgl_per_token_group_quant_8bit``.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).
        enable_v2: as in ``sgl_per_token_group_quant_fp8`` (v2 needs ``[fp8_min, fp8_max] = [-128, 127]``).
        round_to_nearest: round half to even instead of sgl-kernel's truncation.

    Returns:
        None. Empty inputs (T = 0) launch nothing. The op checks its arguments and raises
        ``RuntimeError`` naming the one to fix.

    NaN and inf: NaN is ignored by ``absmax`` and quantizes to ``fp8_min`` (the clamp takes the max first);
    an inf makes its group's scale inf and ``y`` 0, so the group's values become 0 and the inf ``fp8_min``.
    """
    if (
        scale_ue8m0
        or fuse_silu_and_mul
        or masked_m is not None
        or output_s.dtype != torch.float32
        or output_q.dtype != torch.int8
    ):
        return sgl_per_token_group_quant_8bit(
            input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0, fuse_silu_and_mul, masked_m,
            enable_v2, enable_pdl, round_to_nearest=round_to_nearest,
        )  # fmt: skip
    torch.ops.kernelkit.sgl_per_token_group_quant_int8.default(
        input,
        output_q,
        output_s,
        group_size,
        eps,
        fp8_min,
        fp8_max,
        use_v2(enable_v2, input, group_size, eps, fp8_min, fp8_max, (-128.0, 127.0)),
        round_to_nearest,
        pdl_default(input, enable_pdl),
    )
