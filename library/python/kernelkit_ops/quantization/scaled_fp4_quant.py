"""`scaled_fp4_quant`: NVFP4 quantization (e2m1 values, one e4m3 scale per 16, swizzled for Blackwell MMA)."""

from __future__ import annotations

import torch

from kernelkit_ops import _library
from kernelkit_ops._defaults import pdl_default

BLOCK_SIZE = 16  # values sharing one e4m3 scale


def scaled_fp4_quant(
    input: torch.Tensor, input_global_scale: torch.Tensor, enable_pdl: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``input`` to FP4 (e2m1) with one e4m3 scale per 16 values of its last dimension.

    Needs the FP4 kernels (`kernelkit build --fp4`); without them it raises RuntimeError saying so. The op
    checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs launch nothing.

    sgl-kernel's arithmetic, bit for bit: per block ``b`` of 16 values, in float32, ``gs = input_global_scale``,
    ``rcp`` the approximate reciprocal ``rcp.approx.ftz.f32`` (the PTX instruction sgl-kernel's kernel issues;
    within 1 ulp of ``1 / v``, not always the correctly rounded value; ``rcp(6)`` is a constant its compiler
    folds to ``fl32(1/6)``), products IEEE::

        sf[b] = e4m3(gs * (max|x[b]| * rcp(6)))       # NaN ignored by the max (NaN if all 16 are); saturates at 448
        q[b]  = e2m1(x[b] * rcp(sf[b] * rcp(gs)))     # 0 when sf[b] == 0

    Exact division (``x / (sf / gs)``) would give other codes for up to ~0.1% of the bytes. The same
    instructions run on every GPU, so an H100 gives the bytes sgl-kernel gives on Blackwell. e2m1 rounds
    to nearest even and saturates at +-6 (what ``cvt.rn.satfinite.e2m1x2.f32`` does on Blackwell, computed
    bit-identically on older GPUs): NaN becomes +6, -0 and negative values that underflow keep their sign
    (code 0b1000), +-inf become +-6.

    Args:
        input: ``[..., n]`` CUDA tensor, bfloat16/float16, ``n`` a multiple of 16, contiguous in its
            last dimension (a 2-D input may be row-strided, e.g. a slice of a wider buffer; other ranks
            are reshaped to ``[-1, n]``).
        input_global_scale: float32 CUDA tensor with one value (e.g. shape ``[1]``); typically
            ``448 * 6 / amax(input)``.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs. Not part of sgl-kernel's signature (FlashInfer's keyword).

    Returns:
        ``(output, output_scale)``: ``output`` uint8 ``[m, n / 2]`` with two e2m1 codes per byte (the
        even-indexed value in the low nibble); ``output_scale`` float8_e4m3fn
        ``[round_up(m, 128), round_up(n / 16, 4)]`` in the 128x4 swizzled layout of Blackwell's
        block-scaled MMA (scale of row ``r``, block ``k`` at byte
        ``((r // 128) * (P // 4) + k // 4) * 512 + (r % 32) * 16 + (r % 128) // 32 * 4 + k % 4``, ``P`` its
        column count),
        its padding rows and columns 0. Same signature, shapes and dtypes as ``sgl_kernel.scaled_fp4_quant``.
    """
    _library.require_fp4("scaled_fp4_quant")  # first: without the FP4 kernels the op is not registered
    # The kernel takes rows [m, n]: other ranks flatten into them; a 0-d input reaches the op as it is,
    # which refuses it.
    x = input if input.dim() in (0, 2) else input.reshape(-1, input.shape[-1])
    m, n = x.shape if x.dim() == 2 else (0, 0)
    output = x.new_empty(m, n // 2, dtype=torch.uint8)
    output_scale = x.new_empty((m + 127) // 128 * 128, (n // BLOCK_SIZE + 3) // 4 * 4, dtype=torch.float8_e4m3fn)
    torch.ops.kernelkit.scaled_fp4_quant.default(
        output, x, output_scale, input_global_scale, pdl_default(x, enable_pdl)
    )
    return output, output_scale
