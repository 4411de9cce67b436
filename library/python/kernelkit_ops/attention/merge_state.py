"""`merge_state`: merge two partial attention states by their log-sum-exp (sgl-kernel's API)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def merge_state(
    v_a: torch.Tensor,
    s_a: torch.Tensor,
    v_b: torch.Tensor,
    s_b: torch.Tensor,
    v_merged: torch.Tensor | None = None,
    s_merged: torch.Tensor | None = None,
    enable_pdl: bool | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge the attention outputs of two disjoint KV sets: ``v = w_a * v_a + w_b * v_b``, and their LSE.

    Base-2 log-sum-exps, as sgl-kernel's ``merge_state`` (FlashInfer's MergeState) has them:
    ``w_a = 2**(s_a - m) / (2**(s_a - m) + 2**(s_b - m))`` with ``m = max(s_a, s_b)``, and the merged
    ``s = log2(2**(s_a - m) + 2**(s_b - m)) + m``. The LSEs are used as given: ``s = -inf`` on one side is an
    empty partial state (weight 0); ``+inf``, NaN, or ``-inf`` on both sides give NaN.

    Args:
        v_a, v_b: ``[T, H, D]`` bfloat16/float16/float32 partial outputs, dense in the last dimension.
        s_a, s_b: ``[T, H]`` log-sum-exps; converted to float32 first (as sgl-kernel does).
        v_merged: ``[T, H, D]`` output in v_a's dtype; None allocates ``torch.empty_like(v_a)``.
        s_merged: ``[T, H]`` float32 output; None allocates one. Must not alias s_a or s_b.
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in
            sgl-kernel's signature.

    Returns ``(v_merged, s_merged)``. T = 0 launches nothing. The op checks its arguments and raises
    ``RuntimeError`` naming the one to fix.
    """
    s_a = s_a.to(torch.float32)
    s_b = s_b.to(torch.float32)
    if v_merged is None:
        v_merged = torch.empty_like(v_a)
    if s_merged is None:
        s_merged = torch.empty_like(s_a)
    torch.ops.kernelkit.merge_state.default(v_a, s_a, v_b, s_b, v_merged, s_merged, pdl_default(v_a, enable_pdl))
    return v_merged, s_merged
