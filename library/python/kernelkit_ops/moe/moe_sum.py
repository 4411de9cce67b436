"""`moe_sum`: the sum of each token's top-k expert outputs, ``[T, k, H] -> [T, H]`` (sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def moe_sum(input_tensor: torch.Tensor, output_tensor: torch.Tensor, enable_pdl: bool | None = None) -> None:
    """``output_tensor[t] = input_tensor[t].sum(0)``, with ``sgl_kernel.moe_sum``'s numbers bit for bit.

    sgl-kernel computes it two ways, and so does this op:

    * k in {2, 3, 4}: accumulated in the tensor's own dtype, so each partial sum is rounded:
      ``acc = T(float(acc) + float(x[j]))`` from ``acc = 0``;
    * any other k: ``torch.sum(input_tensor, dim=1)`` (sgl-kernel calls it): fp32 accumulators,
      ``x[j]`` into accumulator ``j % 4``, combined as ``((a0 + a1) + a2) + a3``, rounded once (torch's
      CUDA reduction order for k < 64).

    On sm_90 the k in {2, 3, 4} adds flush fp32 denormals, as sgl-kernel's fast-math build does there.

    Args:
        input_tensor: ``[T, k, H]`` bfloat16/float16/float32, contiguous in its last dimension (tokens
            and slots may be strided). Only read.
        output_tensor: ``[T, H]``, input's dtype, contiguous in its last dimension; overwritten.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns None (sgl-kernel's convention). T = 0 or H = 0 launches nothing. The op checks its arguments
    and raises ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.moe_sum.default(input_tensor, output_tensor, pdl_default(input_tensor, enable_pdl))
