"""Shared pieces of the MoE gate benchmarks: cases, inputs, the bytes model and the torch references.

Bytes: the [T, E] logits read once (plus the [E] bias), the [T, k] fp32 weights and int32 ids written once. The
references are the plain-torch routing each op replaces (timed eager and under torch.compile); sgl_kernel's op is
timed when installed.
"""

from __future__ import annotations

from kernelkit.benchspec import DTYPE_BYTES, Case, token_sweep

TOKENS = (1, 32, 128, 2048, 16384)


def gate_cases(dtype: str, experts_and_k: list[tuple[int, int]]) -> list[Case]:
    cases: list[Case] = []
    for num_experts, k in experts_and_k:
        cases += token_sweep(dtype, tokens=TOKENS, experts=num_experts, k=k)
    return cases


def gate_bytes(case: Case, bias_bytes: int = 0) -> int:
    num_experts, k = case.size("experts"), case.size("k")
    return case.tokens * num_experts * DTYPE_BYTES[case.dtype] + case.tokens * k * 8 + bias_bytes * num_experts


def gate_inputs(case: Case, bias_dtype: str | None = None) -> dict:
    import torch

    num_experts, k = case.size("experts"), case.size("k")
    x = torch.randn(case.tokens, num_experts, device="cuda", dtype=getattr(torch, case.dtype))
    out = {
        "x": x,
        "k": k,
        "w": torch.empty(case.tokens, k, device="cuda"),
        "ids": torch.empty(case.tokens, k, device="cuda", dtype=torch.int32),
    }
    if bias_dtype is not None:
        out["bias"] = torch.rand(num_experts, device="cuda").to(getattr(torch, bias_dtype))
    return out


def softmax_topk_reference(i: dict):
    import torch

    p = torch.softmax(i["x"].float(), dim=-1)
    w, ids = torch.topk(p, i["k"], dim=-1)
    return w, ids.int()


def sigmoid_topk_reference(i: dict):
    import torch

    s = torch.sigmoid(i["x"].float())
    _, ids = torch.topk(s + i["bias"].float() if "bias" in i else s, i["k"], dim=-1)
    return torch.gather(s, 1, ids), ids.int()


def grouped_topk_reference(i: dict, num_groups: int, topk_group: int):
    """DeepSeek-V3's biased grouped top-k in plain torch (sglang's biased_grouped_topk, renormalised)."""
    import torch

    s = torch.sigmoid(i["x"].float())
    c = s + i["bias"].float()
    t = c.shape[0]
    group_scores = c.view(t, num_groups, -1).topk(2, dim=-1).values.sum(dim=-1)
    kept = torch.topk(group_scores, topk_group, dim=-1).indices
    mask = torch.zeros_like(group_scores).scatter_(1, kept, 1).repeat_interleave(c.shape[1] // num_groups, dim=1)
    _, ids = torch.topk(c.masked_fill(mask == 0, float("-inf")), i["k"], dim=-1)
    w = torch.gather(s, 1, ids)
    return w / w.sum(dim=-1, keepdim=True), ids.int()
