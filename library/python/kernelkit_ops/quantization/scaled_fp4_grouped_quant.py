"""`scaled_fp4_grouped_quant`: NVFP4 quantization of the masked MoE layout [experts, rows, k] (FP4 builds)."""

from __future__ import annotations

import torch

from kernelkit_ops import _library
from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization import _fp4_grouped


def scaled_fp4_grouped_quant(
    input_tensor: torch.Tensor,
    input_global_scale: torch.Tensor,
    mask: torch.Tensor,
    enable_pdl: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize each expert's valid rows to FP4 (e2m1) with one e4m3 scale per 16 values, for a masked
    grouped GEMM (e.g. flashinfer's ``grouped_gemm_nt_masked``).

    Needs the FP4 kernels (`kernelkit build --fp4`); without them it raises RuntimeError saying so. The op
    checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs launch nothing.

    Expert ``e``'s rows ``r < mask[e]`` (clamped to ``[0, m]``) are quantized exactly as
    ``scaled_fp4_quant(input_tensor[e], input_global_scale[e])`` quantizes them, bit for bit. The
    other rows of the outputs, and the scale slab's padding rows, are not written (as in sgl-kernel: the
    outputs come from ``torch.empty``); the padding scale columns of valid rows are written as 0.

    Args:
        input_tensor: ``[l, m, k]`` CUDA tensor, bfloat16/float16: ``l`` experts of ``m`` rows, ``k`` a
            multiple of 16; contiguous in its last dimension (any expert and row strides).
        input_global_scale: float32 ``[l]``, one global scale per expert (typically ``448 * 6 / amax``).
        mask: int32 ``[l]``, the number of valid rows of each expert (read on the GPU: no sync).
        enable_pdl: launch with programmatic dependent launch; None (default) means on for sm_90+ GPUs.
            Not part of sgl-kernel's signature.

    Returns:
        ``(output, output_scales)`` as sgl-kernel returns them: ``output`` uint8 of logical shape
        ``(m, k // 2, l)`` (two e2m1 codes per byte, the even-indexed value in the low nibble), a
        ``permute(1, 2, 0)`` of its physical ``(l, m, k // 2)``; ``output_scales`` float8_e4m3fn of logical
        shape ``(32, 4, rm, 4, rk, l)``, ``rm = ceil(m / 128)``, ``rk = ceil(k / 64)``, a view of the physical
        ``(l, rm, rk, 32, 4, 4)``: each expert's ``[128 * rm, 4 * rk]`` scales in the 128x4 swizzled
        layout of ``scaled_fp4_quant``.
    """
    _library.require_fp4("scaled_fp4_grouped_quant")  # first: without the FP4 kernels the op is not registered
    # A non-3-D input reaches the op with empty outputs, and the op names what is wrong with it.
    experts, m, k = input_tensor.shape if input_tensor.dim() == 3 else (0, 0, 0)
    output, scales = _fp4_grouped.allocate(input_tensor, experts, m, k)
    torch.ops.kernelkit.scaled_fp4_grouped_quant.default(
        output, scales, input_tensor, input_global_scale, mask, pdl_default(input_tensor, enable_pdl)
    )
    return _fp4_grouped.logical(output, scales)
