"""References for the MoE gates (topk_softmax, topk_sigmoid, moe_fused_gate, kimi_k2_moe_fused_gate).

Ranking rule (sgl-kernel's): experts are picked by key, largest first; among equal keys the lower expert id first.
`ordered_topk` implements it with a stable descending sort.

The kernels compute in fp32 and a float64 reference ranks a little differently only where two keys are within a
few fp32 ulps of each other without being equal. `near_tie_rows` finds those rows (a gap in (0, rel] between
consecutive keys that decide the result); tests compare ids exactly on every other row, compare the sorted weights
on those rows, and check that they are rare. Exact ties (equal inputs) are not near ties: both sides rank them by
the rule.
"""

from __future__ import annotations

import torch

# Near-tie thresholds (relative): softmax keys carry the error of expf, of tanh soft-capping (~1e-6) and of the
# logit subtraction; sigmoid keys a few ulps of expf and of the bias addition.
SOFTMAX_NEAR = 1e-5
SIGMOID_NEAR = 2e-6


def ordered_topk(keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest keys per row and their indices; the lower index first among equal keys."""
    vals, idx = torch.sort(keys, dim=-1, descending=True, stable=True)
    return vals[:, :k], idx[:, :k]


def near_tie_rows(keys: torch.Tensor, k: int, rel: float) -> torch.Tensor:
    """Rows whose k + 1 largest keys have two consecutive ones closer than `rel` (relative) but not equal."""
    vals = torch.sort(keys, dim=-1, descending=True).values[:, : k + 1]
    if vals.shape[1] < 2:
        return torch.zeros(keys.shape[0], dtype=torch.bool, device=keys.device)
    gap = vals[:, :-1] - vals[:, 1:]
    scale = torch.maximum(vals[:, :-1].abs(), vals[:, 1:].abs())
    return ((gap > 0) & (gap <= rel * scale)).any(dim=-1)


def softmax_ref(gating, k, renormalize=False, softcap=0.0, bias=None):
    """float64: (ids, weights, near-tie rows)."""
    x = gating.double()
    if softcap != 0.0:
        x = torch.tanh(x / softcap) * softcap
    if bias is not None:
        x = x + bias.double()
    p = torch.softmax(x, dim=-1)
    w, ids = ordered_topk(p, k)
    if renormalize:
        w = w / w.sum(dim=-1, keepdim=True)
    return ids.int(), w, near_tie_rows(p, k, SOFTMAX_NEAR)


def sigmoid_ref(gating, k, renormalize=False, bias=None):
    """float64 keys sigmoid(x) + bias; weights sigmoid(x) (the kernel's (s + b) - b within an ulp of s + b)."""
    s = torch.sigmoid(gating.double())
    keys = s if bias is None else s + bias.double()
    _, ids = ordered_topk(keys, k)
    w = torch.gather(s, 1, ids)
    if renormalize:
        w = w / w.sum(dim=-1, keepdim=True)
    return ids.int(), w, near_tie_rows(keys, k, SIGMOID_NEAR)


def sequential_sum(w: torch.Tensor) -> torch.Tensor:
    """Column-by-column sum in fp32, the order the kernels add the k weights in."""
    s = w[:, 0].clone()
    for j in range(1, w.shape[1]):
        s = s + w[:, j]
    return s


def fused_gate_keys(x, bias):
    """moe_fused_gate's per-expert (weight, key) in the input dtype's precision, as float32 tensors.

    The fp32 sigmoid is taken from float64: the kernel's fp32 expf is within an ulp, so for fp16/bf16 inputs the
    rounded values agree wherever the fp32 sigmoid is not next to a rounding midpoint (`safe_logit_pool`).
    """
    dt = x.dtype
    s = torch.sigmoid(x.double()).float().to(dt).float()
    c = (s + bias.float()).to(dt).float()
    return s, c


def fused_gate_ref(x, bias, num_expert_group, topk_group, topk, num_shared=0, scale=0.0, scale_output=False):
    """sgl-kernel's moe_fused_gate: (ids, weights, near-tie rows); ids and weights bit for bit for fp16/bf16."""
    dt = x.dtype
    num_tokens, num_experts = x.shape
    group_size = num_experts // num_expert_group
    s, c = fused_gate_keys(x, bias)
    if dt == torch.float32:  # rank in float64: fp32 keys differ from it only at near ties
        c = torch.sigmoid(x.double()) + bias.double()
    top2 = torch.topk(c.view(num_tokens, num_expert_group, group_size), min(2, group_size), dim=-1).values
    if group_size == 1:
        lowest = torch.tensor(-3.4028234663852886e38, dtype=torch.float32).to(dt).double()
        group_score = top2[..., 0] + lowest
    else:
        group_score = top2[..., 0] + top2[..., 1]
    if dt != torch.float32 or group_size == 1:  # one expert per group: every score is the same lowest value
        group_score = group_score.float().to(dt).float()
    _, kept = ordered_topk(group_score, topk_group)
    keep = torch.zeros_like(group_score, dtype=torch.bool).scatter_(1, kept, True)
    keep = keep.repeat_interleave(group_size, dim=1)
    masked = torch.where(keep, c, torch.full_like(c, float("-inf")))
    routed = topk - num_shared
    _, ids = ordered_topk(masked, routed)
    w = torch.gather(s, 1, ids)
    total = sequential_sum(w)
    if num_shared:
        shared_w = (total.double() / scale).float()
        w = torch.cat([w, shared_w[:, None].expand(-1, num_shared)], dim=1)
        shared_ids = torch.arange(num_experts, num_experts + num_shared, device=x.device).expand(num_tokens, -1)
        ids = torch.cat([ids, shared_ids], dim=1)
    w = w / total[:, None]
    if scale_output:
        w = (w.double() * scale).float()
    if dt == torch.float32:
        near = near_tie_rows(group_score, topk_group, SIGMOID_NEAR) | near_tie_rows(masked, routed, SIGMOID_NEAR)
    else:
        near = torch.zeros(num_tokens, dtype=torch.bool, device=x.device)
    return ids.int(), w, near


def kimi_ref(x, bias, topk, renormalize=True, scale=1.0, scale_output=False):
    s = torch.sigmoid(x.double())
    keys = s + bias.double()
    _, ids = ordered_topk(keys, topk)
    w = torch.gather(s, 1, ids)
    if renormalize:
        w = w / w.sum(dim=-1, keepdim=True)
        if scale_output:
            w = w * float(torch.tensor(scale, dtype=torch.float32))
    return ids.int(), w, near_tie_rows(keys, topk, SIGMOID_NEAR)


def safe_logit_pool(dtype, device) -> torch.Tensor:
    """Logits n / 64 (|n| <= 256, exact in fp16/bf16) whose fp32 sigmoid rounds to `dtype` the same way anywhere
    within 1e-6 of the true value: random rows drawn from them give the same rounded scores in any correct fp32
    sigmoid, so ids and weights can be compared bit for bit."""
    x = torch.arange(-256, 256, dtype=torch.float64) / 64
    s = torch.sigmoid(x)

    def rounded(v):
        return v.float().to(dtype).double()

    ok = (rounded(s * (1 - 1e-6)) == rounded(s)) & (rounded(s * (1 + 1e-6)) == rounded(s))
    return x[ok].to(dtype).to(device)


def assert_routing(ids, weights, ref_ids, ref_w, near, rtol, atol, max_near_frac=0.02):
    """ids exactly equal and weights close on rows without near ties; on those rows the sorted weights."""
    assert ids.dtype == torch.int32 and weights.dtype == torch.float32
    assert not weights.isnan().any(), "unwritten (NaN-poisoned) or NaN weights"
    clear = ~near
    allowed = max(2, int(max_near_frac * near.numel()))
    assert int(near.sum()) <= allowed, f"{int(near.sum())} of {near.numel()} rows have near ties: inputs too close"
    torch.testing.assert_close(ids[clear], ref_ids[clear], rtol=0, atol=0)
    torch.testing.assert_close(weights[clear], ref_w[clear].float(), rtol=rtol, atol=atol)
    if near.any():
        torch.testing.assert_close(
            weights[near].sort(dim=-1).values, ref_w[near].float().sort(dim=-1).values, rtol=rtol, atol=atol
        )
