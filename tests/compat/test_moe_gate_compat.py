"""sgl-kernel compatibility of the MoE gates `topk_softmax`, `topk_sigmoid`, `moe_fused_gate` and
`kimi_k2_moe_fused_gate` (self-contained).

Facts from sgl-kernel's Python API (``sgl_kernel/moe.py``, the release with ``moe_softcapping`` /
``correction_bias`` and ``kimi_k2_moe_fused_gate``), its kernels (``csrc/moe/moe_topk_softmax_kernels.cu``,
``moe_topk_sigmoid_kernels.cu``, ``moe_fused_gate.cu``, ``kimi_k2_moe_fused_gate.cu``) and its tests
(``tests/test_moe_topk_softmax.py``, ``test_moe_topk_sigmoid.py``, ``test_moe_fused_gate.py``,
``test_kimi_k2_moe_fused_gate.py``), re-stated as our own checks:

* topk_softmax / topk_sigmoid write into the given fp32 weights / int32 ids and return None; fp32, fp16 and bf16
  logits; the correction bias is fp32; ``k <= E``; soft-capping is ``tanh(x / c) * c`` for ``c != 0``; the softmax
  bias is added to the logits before the softmax; the sigmoid bias ranks only (weight = (s + b) - b);
  renormalize makes the k weights sum to 1;
* ties: the lower expert id wins among equal keys (upstream's warp argmax: ``other_expert < expert`` on equal
  values), and equal group scores keep the lower group (its exclusion loop drops the higher index first);
* moe_fused_gate returns a 2-list ``[weights, ids]``; always renormalises; the shared-expert slots are the last
  ones, with ids E, E + 1, ... and weight ``(sum / routed_scaling_factor) / sum``; E must be a power of two,
  divisible by num_expert_group, with at most 32 experts per group;
* kimi_k2_moe_fused_gate takes only E = 384 fp32; the scaling applies only together with renormalize.

Signature and refusal checks are CPU tests; everything that launches is marked ``gpu``.
"""

from __future__ import annotations

import inspect

import kernelkit_ops as sgl_kernel
import pytest
import torch

REQUIRED = inspect.Parameter.empty

# Literals from sgl-kernel's moe.py: (name, default) in positional order.
UPSTREAM = {
    "topk_softmax": [
        ("topk_weights", REQUIRED),
        ("topk_ids", REQUIRED),
        ("gating_output", REQUIRED),
        ("renormalize", False),
        ("moe_softcapping", 0.0),
        ("correction_bias", None),
    ],
    "topk_sigmoid": [
        ("topk_weights", REQUIRED),
        ("topk_ids", REQUIRED),
        ("gating_output", REQUIRED),
        ("renormalize", False),
        ("correction_bias", None),
    ],
    "moe_fused_gate": [
        ("input_tensor", REQUIRED),
        ("bias", REQUIRED),
        ("num_expert_group", REQUIRED),
        ("topk_group", REQUIRED),
        ("topk", REQUIRED),
        ("num_fused_shared_experts", 0),
        ("routed_scaling_factor", 0),
        ("apply_routed_scaling_factor_on_output", False),
    ],
    "kimi_k2_moe_fused_gate": [
        ("input_tensor", REQUIRED),
        ("bias", REQUIRED),
        ("topk", REQUIRED),
        ("renormalize", True),
        ("routed_scaling_factor", 1.0),
        ("apply_routed_scaling_factor_on_output", False),
    ],
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_signature(name):
    params = list(inspect.signature(getattr(sgl_kernel, name)).parameters.values())
    upstream = UPSTREAM[name]
    assert [p.name for p in params[: len(upstream)]] == [n for n, _ in upstream]
    for p, (_, default) in zip(params, upstream, strict=False):
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        if default is REQUIRED:
            assert p.default is REQUIRED
        else:
            assert type(p.default) is type(default) and p.default == default
    assert [p.name for p in params[len(upstream) :]] == ["enable_pdl"]  # kernelkit's only extra
    assert params[-1].default is None


def test_moe_fused_gate_refuses_what_upstream_refuses():
    with pytest.raises(RuntimeError, match="must be a power of 2"):
        sgl_kernel.moe_fused_gate(torch.randn(2, 384), torch.randn(384), 8, 4, 8)
    with pytest.raises(RuntimeError, match="exceeds the maximum supported"):
        sgl_kernel.moe_fused_gate(torch.randn(2, 512), torch.randn(512), 8, 4, 8)
    with pytest.raises(RuntimeError, match="same dtype|dtype of input_tensor"):
        sgl_kernel.moe_fused_gate(torch.randn(2, 256), torch.randn(256, dtype=torch.bfloat16), 8, 4, 8)


def test_kimi_refuses_other_expert_counts_and_dtypes():
    with pytest.raises(RuntimeError, match="only supports 384 experts"):
        sgl_kernel.kimi_k2_moe_fused_gate(torch.randn(2, 256), torch.randn(256), 6)
    with pytest.raises(RuntimeError, match="must be float32"):
        sgl_kernel.kimi_k2_moe_fused_gate(
            torch.randn(2, 384, dtype=torch.bfloat16), torch.randn(384, dtype=torch.bfloat16), 6
        )


def test_topk_larger_than_experts_is_refused():
    w = torch.empty(2, 9)
    ids = torch.empty(2, 9, dtype=torch.int32)
    for fn in (sgl_kernel.topk_softmax, sgl_kernel.topk_sigmoid):
        with pytest.raises(RuntimeError, match="less than or equal to num_experts"):
            fn(w, ids, torch.randn(2, 8))


# ---------------- GPU: behaviour upstream's tests establish ----------------


def _out(t, k):
    return torch.empty(t, k, device="cuda"), torch.empty(t, k, device="cuda", dtype=torch.int32)


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", [4, 8, 16, 32, 64, 128, 256, 48])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
def test_topk_softmax_matches_torch_softmax_topk(num_experts, dtype):
    """Upstream: weights within 1e-3 of softmax + topk, ids equal for fp32 (sorted weights for fp16/bf16)."""
    torch.manual_seed(num_experts)
    gating = torch.randn(512, num_experts, device="cuda", dtype=dtype)
    for renormalize in (False, True):
        w, ids = _out(512, 4)
        assert sgl_kernel.topk_softmax(w, ids, gating, renormalize=renormalize) is None
        ref_w, ref_ids = torch.topk(torch.softmax(gating.float(), dim=-1), 4, dim=-1)
        if renormalize:
            ref_w = ref_w / ref_w.sum(-1, keepdim=True)
        assert torch.allclose(w.sort(-1)[0], ref_w.sort(-1)[0], atol=1e-3, rtol=1e-3)
        if dtype == torch.float32:
            assert torch.equal(ids, ref_ids.int())


@pytest.mark.gpu
def test_topk_softmax_softcapping_and_bias():
    """Upstream's reference: softcap, then + bias, then softmax, top-k, renormalise."""
    torch.manual_seed(42)
    gating = torch.randn(128, 64, device="cuda")
    bias = torch.randn(64, device="cuda")
    w, ids = _out(128, 4)
    sgl_kernel.topk_softmax(w, ids, gating, True, 30.0, bias)
    x = torch.tanh(gating / 30.0) * 30.0 + bias
    ref_w, ref_ids = torch.topk(torch.softmax(x, -1), 4, dim=-1)
    assert torch.equal(ids, ref_ids.int())
    assert torch.allclose(w, ref_w / ref_w.sum(-1, keepdim=True), atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_topk_sigmoid_bias_ranks_only():
    """Upstream: ids = topk(sigmoid + bias), weights = sigmoid of those, renormalised."""
    gating = torch.randn(256, 48, device="cuda")
    bias = torch.randn(48, device="cuda")
    w, ids = _out(256, 4)
    sgl_kernel.topk_sigmoid(w, ids, gating, renormalize=True, correction_bias=bias)
    s = torch.sigmoid(gating)
    ref_ids = torch.topk(s + bias, 4, dim=-1).indices
    ref_w = s.gather(1, ref_ids)
    assert torch.equal(ids, ref_ids.int())
    assert torch.allclose(w, ref_w / ref_w.sum(-1, keepdim=True), atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_lower_expert_wins_ties():
    w, ids = _out(2, 3)
    sgl_kernel.topk_softmax(w, ids, torch.zeros(2, 64, device="cuda"))
    assert ids.tolist() == [[0, 1, 2], [0, 1, 2]]
    w, ids = sgl_kernel.moe_fused_gate(torch.zeros(2, 256, device="cuda"), torch.zeros(256, device="cuda"), 8, 4, 8)
    assert ids.tolist() == [list(range(8))] * 2


@pytest.mark.gpu
@pytest.mark.parametrize("shared", [0, 1])
@pytest.mark.parametrize("scale_output", [False, True])
def test_moe_fused_gate_against_grouped_topk(shared, scale_output):
    """Upstream's test: (256, 8, 4, 8) with torch.rand inputs and bias, scaling 2.5, compared to sglang's
    biased_grouped_topk (restated here): sorted ids equal, sorted weights within 1e-4."""
    torch.manual_seed(7)
    x = torch.rand(1024, 256, device="cuda")
    bias = torch.rand(256, device="cuda")
    topk = 8 + shared
    result = sgl_kernel.moe_fused_gate(x, bias, 8, 4, topk, shared, 2.5, scale_output)
    assert isinstance(result, list) and len(result) == 2
    w, ids = result
    s = torch.sigmoid(x)
    c = s + bias
    group_scores = c.view(1024, 8, 32).topk(2, dim=-1).values.sum(-1)
    kept = torch.topk(group_scores, 4, dim=-1).indices
    mask = torch.zeros_like(group_scores).scatter_(1, kept, 1).repeat_interleave(32, dim=1)
    ref_ids = torch.topk(c.masked_fill(mask == 0, float("-inf")), 8, dim=-1).indices
    ref_w = s.gather(1, ref_ids)
    total = ref_w.sum(-1, keepdim=True)
    if shared:
        ref_w = torch.cat([ref_w, total / 2.5], dim=1)
        ref_ids = torch.cat([ref_ids, torch.full_like(ref_ids[:, :1], 256)], dim=1)
    ref_w = ref_w / total
    if scale_output:
        ref_w = ref_w * 2.5
    assert torch.equal(ids.sort(-1)[0], ref_ids.int().sort(-1)[0])
    assert torch.allclose(w.sort(-1)[0], ref_w.sort(-1)[0], rtol=1e-4, atol=1e-5)
    if shared:
        assert (ids[:, -1] == 256).all()


@pytest.mark.gpu
@pytest.mark.parametrize("scale_output", [False, True])
def test_kimi_k2(scale_output):
    """Upstream: 384 experts, topk 6, renormalize, scaling 2.872; weights sum to 1 (or the factor)."""
    torch.manual_seed(1)
    x = torch.rand(1024, 384, device="cuda")
    bias = torch.rand(384, device="cuda")
    w, ids = sgl_kernel.kimi_k2_moe_fused_gate(
        x,
        bias,
        topk=6,
        renormalize=True,
        routed_scaling_factor=2.872,
        apply_routed_scaling_factor_on_output=scale_output,
    )
    assert w.shape == ids.shape == (1024, 6) and w.dtype == torch.float32 and ids.dtype == torch.int32
    s = torch.sigmoid(x)
    ref_ids = torch.topk(s + bias, 6, dim=-1).indices
    ref_w = s.gather(1, ref_ids)
    ref_w = ref_w / ref_w.sum(-1, keepdim=True) * (2.872 if scale_output else 1.0)
    assert torch.equal(ids, ref_ids.int())
    assert torch.allclose(w, ref_w, rtol=1e-2, atol=1e-3)
