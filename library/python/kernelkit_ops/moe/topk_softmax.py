"""`topk_softmax`: MoE routing by softmax over the experts, then top-k (sgl-kernel's ``topk_softmax``)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def topk_softmax(
    topk_weights: torch.Tensor,
    topk_ids: torch.Tensor,
    gating_output: torch.Tensor,
    renormalize: bool | torch.Tensor = False,
    moe_softcapping: float = 0.0,
    correction_bias: torch.Tensor | None = None,
    enable_pdl: bool | None = None,
) -> None:
    """Per token t: ``p = softmax(cap(gating_output[t]) + correction_bias)``; the ``k`` largest ``p`` go into
    ``topk_weights[t]`` (largest first) and their expert ids into ``topk_ids[t]``.

    The signature and the numbers of ``sgl_kernel.topk_softmax``:

    * soft-capping: ``cap(x) = tanh(x / moe_softcapping) * moe_softcapping`` when ``moe_softcapping != 0``;
    * ``correction_bias`` is added to the (capped) logits before the softmax, as sgl-kernel does, so it moves the
      weights as well as the selection;
    * ties: among equal ``p`` the lower expert id comes first (upstream's rule);
    * ``renormalize``: the k weights are multiplied by ``1 / sum`` (sum in selection order) so they sum to 1.

    fp32 math: ``p = expf(x - max) * (1 / sum)``; weights agree with a float64 reference to ~1e-6 relative
    (sgl-kernel's fast-math build rounds ``expf`` differently, within a few ulps).

    The classic 4-tensor form ``topk_softmax(topk_weights, topk_ids, token_expert_indices, gating_output)`` of
    sgl-kernel 0.1.x is accepted too: ``token_expert_indices[t, j]`` is then set to ``j * T + t`` (the source-row
    index vLLM's permutation uses), with no renormalisation, capping or bias.

    Args:
        topk_weights: float32 ``[T, k]`` (last dim contiguous), overwritten. ``1 <= k <= min(E, 16)``.
        topk_ids: int32 ``[T, k]``, overwritten.
        gating_output: ``[T, E]`` float32/float16/bfloat16 router logits, last dim contiguous; any ``E`` in
            ``[1, 2048]`` (powers of two or not).
        renormalize, moe_softcapping, correction_bias: as above; ``correction_bias`` is float32 ``[E]``.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in sgl-kernel.

    ``T = 0`` launches nothing. Bad arguments raise ``RuntimeError`` naming the one to fix.
    """
    token_expert_indices = None
    if isinstance(renormalize, torch.Tensor):  # classic form: (weights, ids, token_expert_indices, gating_output)
        token_expert_indices, gating_output, renormalize = gating_output, renormalize, False
    torch.ops.kernelkit.topk_softmax.default(
        topk_weights,
        topk_ids,
        gating_output,
        renormalize,
        moe_softcapping,
        correction_bias,
        pdl_default(gating_output, enable_pdl),
    )
    if token_expert_indices is not None:
        num_tokens, k = token_expert_indices.shape
        rows = torch.arange(num_tokens, device=token_expert_indices.device, dtype=torch.int32)
        slots = torch.arange(k, device=token_expert_indices.device, dtype=torch.int32) * num_tokens
        token_expert_indices.copy_(rows[:, None] + slots[None, :])
