"""Tests of `topk_sigmoid` (sgl-kernel's MoE sigmoid routing): CPU checks of the schema, the fake and the binding's
refusals; GPU checks against a float64 reference over every expert count real models use, k, dtypes, bias (ranks
only), renormalisation, ties, T = 0 / 1 / odd / 65536, strided rows, opcheck, torch.compile and CUDA graphs."""

import kernelkit_ops
import pytest
import torch
from moe_gate_reference import assert_routing, sigmoid_ref
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "topk_sigmoid"
OP = kernelkit_ops.topk_sigmoid
EXPERTS = [8, 16, 60, 64, 128, 160, 256, 384, 512]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
# The weight is (s + b) - b: within half an ulp of |s + b| (< 8 here) of s, plus the sigmoid's own ulp.
RTOL, ATOL = 1e-6, 1e-6


def torch_op():
    return torch.ops.kernelkit.topk_sigmoid.default


def outputs(num_tokens, k, device="cuda"):
    w = torch.full((num_tokens, k), float("nan"), device=device)
    ids = torch.full((num_tokens, k), -7, dtype=torch.int32, device=device)
    return w, ids


def run(gating, k, **kw):
    w, ids = outputs(gating.shape[0], k)
    OP(w, ids, gating, **kw)
    return ids, w


# ---------------- CPU ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == [
        "topk_weights",
        "topk_ids",
        "gating_output",
        "renormalize",
        "correction_bias",
        "enable_pdl",
    ]
    assert schema.returns == []


def test_fake_impl():
    with FakeTensorMode():
        w = torch.empty(5, 2, device="cuda")
        ids = torch.empty(5, 2, dtype=torch.int32, device="cuda")
        assert OP(w, ids, torch.empty(5, 64, device="cuda"), True, torch.empty(64, device="cuda")) is None


def test_rejects_cpu_tensor():
    w, ids = outputs(4, 2, device="cpu")
    with pytest.raises(RuntimeError, match=f"{NAME}: gating_output must be a CUDA tensor"):
        OP(w, ids, torch.randn(4, 8))


def test_rejects_bad_arguments():
    w, ids = outputs(4, 2, device="cpu")
    with pytest.raises(RuntimeError, match=f"{NAME}: gating_output must be bfloat16, float16 or float32"):
        OP(w, ids, torch.randn(4, 8).double())
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be int32"):
        OP(w, ids.long(), torch.randn(4, 8))
    with pytest.raises(RuntimeError, match=rf"{NAME}: topk \(2\) must be less than or equal to num_experts \(1\)"):
        OP(w, ids, torch.randn(4, 1))
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_weights must have 5 rows"):
        OP(w, ids, torch.randn(5, 8))
    with pytest.raises(RuntimeError, match=f"{NAME}: correction_bias must be float32"):
        OP(w, ids, torch.randn(4, 8), correction_bias=torch.zeros(8, dtype=torch.float16))


# ---------------- GPU ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", EXPERTS)
@pytest.mark.parametrize("k", [1, 2, 8])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("with_bias", [False, True])
def test_matches_reference(num_experts, k, dtype, with_bias):
    torch.manual_seed(num_experts * 7 + k)
    gating = torch.randn(301, num_experts, device="cuda").to(dtype)
    bias = torch.randn(num_experts, device="cuda") if with_bias else None
    ids, w = run(gating, k, correction_bias=bias)
    assert_routing(ids, w, *sigmoid_ref(gating, k, bias=bias), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", [8, 48, 128, 256, 384, 1024])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_renormalize_with_bias(num_experts, k):
    torch.manual_seed(num_experts + k)
    gating = torch.randn(211, num_experts, device="cuda")
    bias = torch.randn(num_experts, device="cuda")
    k = min(k, num_experts)
    ids, w = run(gating, k, renormalize=True, correction_bias=bias)
    assert_routing(ids, w, *sigmoid_ref(gating, k, renormalize=True, bias=bias), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_weight_is_biased_key_minus_bias():
    """Upstream's arithmetic: the weight is fp32((s + b) - b), not s."""
    gating = torch.randn(64, 32, device="cuda")
    bias = torch.randn(32, device="cuda") * 4
    ids, w = run(gating, 4, correction_bias=bias)
    s = torch.sigmoid(gating)
    key = torch.gather(s + bias, 1, ids.long())
    torch.testing.assert_close(w, key - bias[ids.long()], rtol=0, atol=2e-7)


@pytest.mark.gpu
@pytest.mark.parametrize("num_tokens", [0, 1, 7, 65536])
def test_token_counts(num_tokens):
    gating = torch.randn(num_tokens, 128, device="cuda", dtype=torch.bfloat16)
    ids, w = run(gating, 8, renormalize=True)
    if num_tokens:
        assert_routing(ids, w, *sigmoid_ref(gating, 8, renormalize=True), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", [8, 16, 60, 64, 128, 160, 256])
@pytest.mark.parametrize("k", [1, 2, 8])
def test_many_rows_layouts(num_experts, k):
    """Past 1024 rows E <= 256 takes the several-rows-per-warp layouts (1 to 16 lanes per row): each one once."""
    torch.manual_seed(num_experts * 7 + k)
    gating = torch.randn(1537, num_experts, device="cuda", dtype=torch.bfloat16)
    bias = torch.randn(num_experts, device="cuda") * 0.1
    ids, w = run(gating, k, renormalize=True, correction_bias=bias)
    assert_routing(ids, w, *sigmoid_ref(gating, k, renormalize=True, bias=bias), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_ties_lower_expert_first():
    gating = torch.zeros(32, 64, device="cuda")
    bias = torch.zeros(64, device="cuda")
    bias[[5, 17, 40, 63]] = 0.5  # four equal keys ahead of the rest
    ids, _ = run(gating, 6, correction_bias=bias)
    expected = torch.tensor([5, 17, 40, 63, 0, 1], device="cuda", dtype=torch.int32).expand(32, -1)
    assert torch.equal(ids, expected)


@pytest.mark.gpu
def test_strided_rows():
    base = torch.randn(40, 200, device="cuda", dtype=torch.float16)
    gating = base[:, 1:61]
    ids, w = run(gating, 4)
    assert_routing(ids, w, *sigmoid_ref(gating, 4), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_opcheck():
    w, ids = outputs(16, 4)
    torch.library.opcheck(
        torch_op(), (w, ids, torch.randn(16, 64, device="cuda"), True, torch.randn(64, device="cuda"), False)
    )


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    gating = torch.randn(33, 128, device="cuda")

    @torch.compile(fullgraph=True)
    def route(g):
        w = torch.empty(g.shape[0], 4, device=g.device)
        ids = torch.empty(g.shape[0], 4, device=g.device, dtype=torch.int32)
        OP(w, ids, g, True)
        return w, ids

    w, ids = route(gating)
    assert_routing(ids, w, *sigmoid_ref(gating, 4, renormalize=True), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_cuda_graph_replay():
    gating = torch.randn(128, 256, device="cuda")
    w, ids = outputs(128, 8)
    OP(w, ids, gating)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(w, ids, gating)
    gating.copy_(torch.randn_like(gating))
    w.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert_routing(ids, w, *sigmoid_ref(gating, 8), rtol=RTOL, atol=ATOL)
