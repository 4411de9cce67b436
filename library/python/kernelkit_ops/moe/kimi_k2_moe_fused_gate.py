"""`kimi_k2_moe_fused_gate`: Kimi K2's one-group sigmoid routing (sgl-kernel's ``kimi_k2_moe_fused_gate``)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def kimi_k2_moe_fused_gate(
    input_tensor: torch.Tensor,
    bias: torch.Tensor,
    topk: int,
    renormalize: bool = True,
    routed_scaling_factor: float = 1.0,
    apply_routed_scaling_factor_on_output: bool = False,
    enable_pdl: bool | None = None,
) -> list[torch.Tensor]:
    """Returns ``[topk_weights, topk_ids]`` (float32 / int32 ``[T, topk]``), as sgl-kernel.

    Per token: ``s = sigmoid(x)``; the ``topk`` experts with the largest ``s + bias`` (largest first, the lower
    expert first among equal keys); weights ``s``. ``renormalize``: if their sum (in selection order) is > 0,
    ``w / sum``, then ``* float(routed_scaling_factor)`` when ``apply_routed_scaling_factor_on_output`` (without
    ``renormalize`` the weights are left unscaled, as upstream does).

    ``input_tensor`` float32 ``[T, 384]`` (last dim contiguous) and ``bias`` float32 ``[384]``: the only shape
    sgl-kernel's kernel takes. ``1 <= topk <= 16``. ``enable_pdl`` (not in sgl-kernel): None means on for sm_90+.
    """
    num_tokens = input_tensor.shape[0] if input_tensor.dim() == 2 else 0
    topk_weights = torch.empty(num_tokens, topk, dtype=torch.float32, device=input_tensor.device)
    topk_ids = torch.empty(num_tokens, topk, dtype=torch.int32, device=input_tensor.device)
    torch.ops.kernelkit.kimi_k2_moe_fused_gate.default(
        input_tensor,
        bias,
        topk_weights,
        topk_ids,
        renormalize,
        routed_scaling_factor,
        apply_routed_scaling_factor_on_output,
        pdl_default(input_tensor, enable_pdl),
    )
    return [topk_weights, topk_ids]
