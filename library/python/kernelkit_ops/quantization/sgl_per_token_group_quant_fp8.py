"""`sgl_per_token_group_quant_fp8`: per-token-group fp8 (e4m3) quantization with one fp32 scale per
group of ``group_size`` elements (DeepSeek-V3's 1 x 128 activation blocks), as sgl-kernel has it."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization._group_defaults import use_v2
from kernelkit_ops.quantization.sgl_per_token_group_quant_8bit import sgl_per_token_group_quant_8bit

FP8 = torch.float8_e4m3fn


def sgl_per_token_group_quant_fp8(
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
) -> None:
    """Quantize ``input`` to fp8 e4m3 per group of ``group_size`` consecutive elements of its last dim,
    writing ``output_q`` and ``output_s`` in place (same signature as ``sgl_kernel.sgl_per_token_group_quant_fp8``,
    which is sgl-kernel's ``sgl_per_token_group_quant_8bit`` under another name: a call with an int8 output_q,
    an int32 output_s, ``fuse_silu_and_mul`` or ``masked_m`` is that op's, see ``sgl_per_token_group_quant_8bit``).

    The numbers are sgl-kernel's, bit for bit, on the GPU it runs on (on sm_90 sgl-kernel runs a fast-math
    build: ``rcp`` below is ``rcp.approx.ftz``, products flush denormals; elsewhere both are IEEE). For row
    ``t`` and group ``j`` (elements ``j*group_size .. (j+1)*group_size - 1``), ``amax = max(absmax(group),
    eps)`` in float32, then, as sgl-kernel's two kernels compute it:

    * v1: ``s = amax * rcp(fp8_max)`` (``scale_ue8m0``: ``2^ceil(log2(s))``), ``y = rcp(s)``;
    * v2: ``s = amax * fl32(1/448)`` (``scale_ue8m0``: the power of two >= that, exactly), ``y = rcp(amax) * 448``
      (``1 / s`` with ``scale_ue8m0``);

    ``output_s[t, j] = s`` and ``output_q[t, i] = e4m3(min(max(x[t, i] * y, fp8_min), fp8_max))`` (round to
    nearest even).

    Args:
        input: ``[..., H]`` (usually ``[T, H]``) bfloat16/float16/float32 CUDA tensor, contiguous in its
            last dim; its rows may be strided (a slice of a wider buffer).
        output_q: ``input``'s shape, ``torch.float8_e4m3fn``, contiguous in its last dim (rows may be strided).
        output_s: ``[..., H / group_size]`` float32, any layout whose leading dims collapse into one row
            stride: row-major, column-major (``torch.empty(H // group_size, T).T``) or the TMA-aligned
            column-major layout with the T stride padded (``torch.empty(G, T_pad)[:, :T].T``); the kernel
            writes ``s`` at ``t * stride(0) + j * stride(1)``. No two scales may share an element.
        group_size: one of 8, 16, 32, 64, 128, 256; must divide ``H``.
        eps: floor of ``absmax`` (> 0, a positive finite float32): an all-zero group gets ``s = eps / fp8_max``.
        fp8_min, fp8_max: the clamp range; ``0 < fp8_max <= 448`` and ``-448 <= fp8_min <= fp8_max``
            (e.g. ``-448, 448``, or ``-224, 224`` for e4m3fnuz-sized ranges).
        scale_ue8m0: round each scale up to a power of two (the UE8M0 scales DeepGEMM reads on Blackwell).
            sgl-kernel added this argument in 0.1.x without a default; the default ``False`` here also
            accepts calls written for the earlier 7-argument form.
        fuse_silu_and_mul, masked_m: as in ``sgl_per_token_group_quant_8bit``.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).
        enable_v2: sgl-kernel's keyword: True for its v2 arithmetic (bf16/fp16 input, ``eps = 1e-10``, the full
            ``[-448, 448]`` range and group_size 16..128 only; other calls are refused), False for v1. None
            (default): v2 wherever v2 takes the call, as sgl-kernel's newest releases choose (its 0.3.x
            releases chose v1; pass False for those numbers).

    Returns:
        None. Empty inputs (T = 0) launch nothing. The op checks its arguments and raises
        ``RuntimeError`` naming the one to fix.

    NaN and inf: NaN is ignored by ``absmax`` (a NaN in a group does not poison its scale) and quantizes
    to ``fp8_min`` (the clamp takes the max first); an inf makes its group's scale inf and ``y`` 0, so that
    group's values become 0 and the inf itself ``fp8_min`` (inf * 0 = NaN).
    With ``scale_ue8m0`` the scales are float32 powers of two in any layout, or, in an int32 output_s, UE8M0 bytes
    packed four to a word (sgl-kernel's column-major layout for DeepGEMM; ``sgl_per_token_group_quant_8bit``).
    """
    if fuse_silu_and_mul or masked_m is not None or output_s.dtype != torch.float32 or output_q.dtype != FP8:
        return sgl_per_token_group_quant_8bit(
            input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0, fuse_silu_and_mul, masked_m,
            enable_v2, enable_pdl,
        )  # fmt: skip
    torch.ops.kernelkit.sgl_per_token_group_quant_fp8.default(
        input,
        output_q,
        output_s,
        group_size,
        eps,
        fp8_min,
        fp8_max,
        scale_ue8m0,
        use_v2(enable_v2, input, group_size, eps, fp8_min, fp8_max, (-448.0, 448.0)),
        pdl_default(input, enable_pdl),
    )
