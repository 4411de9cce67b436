"""`silu_and_mul_scaled_fp4_grouped_quant`: SiLU-and-mul fused into the NVFP4 quantization of the masked MoE
layout (FP4 builds)."""

from __future__ import annotations

import torch

from kernelkit_ops import _library
from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization import _fp4_grouped


def silu_and_mul_scaled_fp4_grouped_quant(
    input_tensor: torch.Tensor,
    input_global_scale: torch.Tensor,
    mask: torch.Tensor,
    enable_pdl: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``scaled_fp4_grouped_quant(silu_and_mul(input_tensor), input_global_scale, mask)`` in one pass, bit for
    bit: each value is ``silu(gate) * up`` in float32 (``silu(g) = g / (1 + exp(-g))`` with the exponential
    of ``silu_and_mul``), rounded once to the input dtype, then quantized.

    Needs the FP4 kernels (`kernelkit build --fp4`); without them it raises RuntimeError saying so. The op
    checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs launch nothing.

    Only rows ``r < mask[e]`` (clamped to ``[0, m]``) of expert ``e`` are read and written; the other rows of
    the outputs and the scale slab's padding rows keep what the fresh buffers hold (as in sgl-kernel).

    Args:
        input_tensor: ``[l, m, 2k]`` CUDA tensor, bfloat16/float16: gate ``[..., :k]`` then up
            ``[..., k:]``, ``k`` a multiple of 16; contiguous in its last dimension (any expert and row
            strides).
        input_global_scale: float32 ``[l]``, one global scale per expert (of the SiLU-and-mul output).
        mask: int32 ``[l]``, the number of valid rows of each expert (read on the GPU: no sync).
        enable_pdl: launch with programmatic dependent launch; None (default) means on for sm_90+ GPUs.
            Not part of sgl-kernel's signature.

    Returns:
        ``(output, output_scales)``, as ``scaled_fp4_grouped_quant`` returns them for ``k`` values per row:
        uint8 of logical shape ``(m, k // 2, l)`` (physical ``(l, m, k // 2)``) and float8_e4m3fn of logical
        shape ``(32, 4, rm, 4, rk, l)`` (physical ``(l, rm, rk, 32, 4, 4)``).
    """
    _library.require_fp4("silu_and_mul_scaled_fp4_grouped_quant")  # first: without FP4 kernels there is no op
    # A non-3-D input reaches the op with empty outputs, and the op names what is wrong with it.
    experts, m, n = input_tensor.shape if input_tensor.dim() == 3 else (0, 0, 0)
    output, scales = _fp4_grouped.allocate(input_tensor, experts, m, n // 2)
    torch.ops.kernelkit.silu_and_mul_scaled_fp4_grouped_quant.default(
        output, scales, input_tensor, input_global_scale, mask, pdl_default(input_tensor, enable_pdl)
    )
    return _fp4_grouped.logical(output, scales)
