"""`moe_sum_reduce`: the scaled sum of each token's top-k expert outputs, ``[T, k, H] -> [T, H]``
(sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def moe_sum_reduce(
    input_tensor: torch.Tensor,
    output_tensor: torch.Tensor,
    routed_scaling_factor: float = 0,
    enable_pdl: bool | None = None,
) -> None:
    """``output_tensor[t] = T(fp32(sum_j input_tensor[t, j]) * fp32(routed_scaling_factor))``, as
    ``sgl_kernel.moe_sum_reduce`` computes it, bit for bit.

    The sum runs in fp32 from 0 in slot order ``j = 0 .. k-1``; the factor (cast to fp32) multiplies the
    sum, and the product is rounded once to the output dtype. The factor is always applied: the default
    ``routed_scaling_factor=0`` gives zeros (sgl-kernel's default and behaviour; callers pass the model's
    factor, or 1.0). On sm_90 the adds and the multiply flush fp32 denormals, as sgl-kernel's fast-math
    build does there.

    Args:
        input_tensor: ``[T, k, H]`` bfloat16/float16/float32, contiguous in its last dimension (tokens
            and slots may be strided). Only read.
        output_tensor: ``[T, H]``, input's dtype, contiguous in its last dimension; overwritten.
        routed_scaling_factor: the factor.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns None. T = 0 or H = 0 launches nothing. The op checks its arguments and raises
    ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.moe_sum_reduce.default(
        input_tensor, output_tensor, float(routed_scaling_factor), pdl_default(input_tensor, enable_pdl)
    )
