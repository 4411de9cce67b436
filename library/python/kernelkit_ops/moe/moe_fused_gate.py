"""`moe_fused_gate`: DeepSeek-V3 grouped top-k routing (sgl-kernel's ``moe_fused_gate``)."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def moe_fused_gate(
    input_tensor: torch.Tensor,
    bias: torch.Tensor,
    num_expert_group: int,
    topk_group: int,
    topk: int,
    num_fused_shared_experts: int = 0,
    routed_scaling_factor: float = 0,
    apply_routed_scaling_factor_on_output: bool = False,
    enable_pdl: bool | None = None,
) -> list[torch.Tensor]:
    """Grouped routing; returns ``[topk_weights, topk_ids]`` (float32 / int32 ``[T, topk]``), as sgl-kernel.

    Per token, with every step rounded to the input's dtype where sgl-kernel keeps it:

    * ``s = sigmoid(x)`` (the expert's weight), ``c = s + bias`` (its selection key);
    * the E experts form ``num_expert_group`` consecutive groups; a group's score is the sum of its two largest
      ``c``; the ``topk_group`` best groups are kept (the lower group first among equal scores);
    * the ``topk - num_fused_shared_experts`` largest ``c`` of the kept groups are picked (the lower expert first
      among equal keys), largest first; their weights are their ``s``, divided by their sum (always renormalised);
    * the last ``num_fused_shared_experts`` slots are the shared experts ``E, E + 1, ...`` with weight
      ``(sum / routed_scaling_factor) / sum``;
    * ``apply_routed_scaling_factor_on_output``: every weight is then multiplied by ``routed_scaling_factor``.

    Supported as in sgl-kernel: ``E`` a power of two, ``E % num_expert_group == 0``, ``E / num_expert_group <= 32``,
    ``num_expert_group <= 32``; kernelkit also needs ``topk <= 16`` and enough experts in the kept groups.
    ``input_tensor`` float32/float16/bfloat16 ``[T, E]`` (last dim contiguous), ``bias`` ``[E]`` of the same dtype.
    ``enable_pdl`` (not in sgl-kernel): programmatic dependent launch, None means on for sm_90+ GPUs.
    """
    num_tokens = input_tensor.shape[0] if input_tensor.dim() == 2 else 0
    topk_weights = torch.empty(num_tokens, topk, dtype=torch.float32, device=input_tensor.device)
    topk_ids = torch.empty(num_tokens, topk, dtype=torch.int32, device=input_tensor.device)
    torch.ops.kernelkit.moe_fused_gate.default(
        input_tensor,
        bias,
        topk_weights,
        topk_ids,
        num_expert_group,
        topk_group,
        num_fused_shared_experts,
        routed_scaling_factor,
        apply_routed_scaling_factor_on_output,
        pdl_default(input_tensor, enable_pdl),
    )
    return [topk_weights, topk_ids]
