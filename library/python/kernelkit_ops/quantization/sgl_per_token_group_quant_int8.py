"""`sgl_per_token_group_quant_int8`: per-token-group int8 quantization with one fp32 scale per group
of ``group_size`` elements, as sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization._group_defaults import use_v2


def sgl_per_token_group_quant_int8(
    input: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    group_size: int,
    eps: float,
    int8_min: float,
    int8_max: float,
    enable_pdl: bool | None = None,
    *,
    enable_v2: bool | None = None,
    round_to_nearest: bool = False,
) -> None:
    """Quantize ``input`` to int8 per group of ``group_size`` consecutive elements of its last dim,
    writing ``output_q`` and ``output_s`` in place (same signature as ``sgl_kernel.sgl_per_token_group_quant_int8``).

    The numbers are sgl-kernel's, bit for bit: the scale ``s`` and multiplier ``y`` of
    ``sgl_per_token_group_quant_fp8`` (v1 or v2, see there) with 127 for 448, and ``output_q[t, i]`` the
    int8 of ``min(max(x[t, i] * y, int8_min), int8_max)`` truncated toward zero, as sgl-kernel's cast does.
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
        eps: floor of ``absmax`` (> 0, a positive finite float32): an all-zero group gets ``s = eps / int8_max``.
        int8_min, int8_max: the clamp range; ``0 < int8_max <= 127`` and ``-128 <= int8_min <= int8_max``.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).
        enable_v2: as in ``sgl_per_token_group_quant_fp8`` (v2 needs ``[int8_min, int8_max] = [-128, 127]``).
        round_to_nearest: round half to even instead of sgl-kernel's truncation.

    Returns:
        None. Empty inputs (T = 0) launch nothing. The op checks its arguments and raises
        ``RuntimeError`` naming the one to fix.

    NaN and inf: NaN is ignored by ``absmax`` and quantizes to ``int8_min`` (the clamp takes the max first);
    an inf makes its group's scale inf and ``y`` 0, so the group's values become 0 and the inf ``int8_min``.
    """
    torch.ops.kernelkit.sgl_per_token_group_quant_int8.default(
        input,
        output_q,
        output_s,
        group_size,
        eps,
        int8_min,
        int8_max,
        use_v2(enable_v2, input, group_size, eps, int8_min, int8_max, (-128.0, 127.0)),
        round_to_nearest,
        pdl_default(input, enable_pdl),
    )
