"""`topk_sigmoid`: MoE routing by per-expert sigmoid scores, then top-k (sgl-kernel's ``topk_sigmoid``)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def topk_sigmoid(
    topk_weights: torch.Tensor,
    topk_ids: torch.Tensor,
    gating_output: torch.Tensor,
    renormalize: bool = False,
    correction_bias: torch.Tensor | None = None,
    enable_pdl: bool | None = None,
) -> None:
    """Per token t: ``s = sigmoid(gating_output[t])``; the ``k`` experts with the largest ``s + correction_bias``
    (largest first; the lower expert id first among equal keys) go into ``topk_ids[t]`` and their weights
    ``(s + bias) - bias`` into ``topk_weights[t]``.

    The signature and the numbers of ``sgl_kernel.topk_sigmoid``: the bias ranks only, and the weight is the
    biased key minus the bias, as upstream computes it (equal to ``s`` up to the rounding of the sum);
    ``s = 1 / (1 + expf(-x))`` in fp32; ``renormalize`` multiplies the k weights by ``1 / sum`` (sum in
    selection order).

    Args:
        topk_weights: float32 ``[T, k]`` (last dim contiguous), overwritten. ``1 <= k <= min(E, 16)``.
        topk_ids: int32 ``[T, k]``, overwritten.
        gating_output: ``[T, E]`` float32/float16/bfloat16, last dim contiguous; ``E`` in ``[1, 2048]``.
        renormalize: scale the k weights to sum 1.
        correction_bias: float32 ``[E]`` or None.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in sgl-kernel.

    ``T = 0`` launches nothing. Bad arguments raise ``RuntimeError`` naming the one to fix.
    """
    torch.ops.kernelkit.topk_sigmoid.default(
        topk_weights,
        topk_ids,
        gating_output,
        renormalize,
        correction_bias,
        pdl_default(gating_output, enable_pdl),
    )
