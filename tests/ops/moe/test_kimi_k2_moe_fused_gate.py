"""Tests of `kimi_k2_moe_fused_gate` (sgl-kernel's Kimi K2 routing, E = 384, fp32): CPU checks of the schema, the
fake and the binding's refusals; GPU checks against a float64 reference: ids exact away from near ties, weights to
a few ulps, renormalize / scaling combinations, ties, T = 0 / 1 / odd / 65536, opcheck, torch.compile, CUDA graphs."""

import kernelkit_ops
import pytest
import torch
from moe_gate_reference import assert_routing, kimi_ref
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "kimi_k2_moe_fused_gate"
OP = kernelkit_ops.kimi_k2_moe_fused_gate
RTOL, ATOL = 1e-6, 1e-7


def torch_op():
    return torch.ops.kernelkit.kimi_k2_moe_fused_gate.default


def inputs(num_tokens, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return torch.rand(num_tokens, 384, device="cuda", generator=g), torch.rand(384, device="cuda", generator=g)


def test_schema_registered():
    assert [a.name for a in torch_op()._schema.arguments] == [
        "input_tensor",
        "bias",
        "topk_weights",
        "topk_ids",
        "renormalize",
        "routed_scaling_factor",
        "apply_routed_scaling_factor_on_output",
        "enable_pdl",
    ]


def test_fake_impl():
    with FakeTensorMode():
        w, ids = OP(torch.empty(3, 384, device="cuda"), torch.empty(384, device="cuda"), 6)
        assert w.shape == ids.shape == (3, 6) and ids.dtype == torch.int32


def test_rejects_bad_arguments():
    with pytest.raises(RuntimeError, match=f"{NAME}: only supports 384 experts .*, got 256"):
        OP(torch.randn(4, 256), torch.randn(256), 6)
    with pytest.raises(RuntimeError, match=f"{NAME}: input_tensor must be float32, got bfloat16"):
        OP(torch.randn(4, 384, dtype=torch.bfloat16), torch.randn(384, dtype=torch.bfloat16), 6)
    with pytest.raises(RuntimeError, match=f"{NAME}: bias must be float32, got bfloat16"):
        OP(torch.randn(4, 384), torch.randn(384, dtype=torch.bfloat16), 6)
    with pytest.raises(RuntimeError, match=f"{NAME}: topk .* must be at most 16"):
        OP(torch.randn(4, 384), torch.randn(384), 17)
    with pytest.raises(RuntimeError, match=f"{NAME}: input_tensor must be a CUDA tensor"):
        OP(torch.randn(4, 384), torch.randn(384), 6)


@pytest.mark.gpu
@pytest.mark.parametrize("num_tokens", [0, 1, 7, 512, 513, 65536])
@pytest.mark.parametrize("scale_output", [False, True])
def test_matches_reference(num_tokens, scale_output):
    x, bias = inputs(num_tokens, seed=num_tokens)
    w, ids = OP(x, bias, 6, True, 2.872, scale_output)
    assert w.shape == (num_tokens, 6)
    if num_tokens:
        assert_routing(ids, w, *kimi_ref(x, bias, 6, True, 2.872, scale_output), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("topk", [1, 8, 16])
@pytest.mark.parametrize("renormalize", [False, True])
def test_topk_and_renormalize(topk, renormalize):
    x, bias = inputs(100, seed=topk)
    w, ids = OP(x, bias, topk, renormalize, 2.5, True)  # no renormalize: no scaling either (upstream)
    assert_routing(ids, w, *kimi_ref(x, bias, topk, renormalize, 2.5, True), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_ties_lower_expert_first():
    x = torch.zeros(8, 384, device="cuda")
    bias = torch.zeros(384, device="cuda")
    bias[[300, 7, 150]] = 1.0
    _, ids = OP(x, bias, 5)
    assert torch.equal(ids, torch.tensor([7, 150, 300, 0, 1], device="cuda", dtype=torch.int32).expand(8, -1))


@pytest.mark.gpu
def test_opcheck_compile_and_graph():
    x, bias = inputs(32)
    w = torch.empty(32, 6, device="cuda")
    ids = torch.empty(32, 6, device="cuda", dtype=torch.int32)
    torch.library.opcheck(torch_op(), (x, bias, w, ids, True, 2.872, False, False))
    w, ids = torch.compile(lambda a, b: OP(a, b, 6, True, 2.872, True), fullgraph=True)(x, bias)
    assert_routing(ids, w, *kimi_ref(x, bias, 6, True, 2.872, True), rtol=RTOL, atol=ATOL)
    graph = torch.cuda.CUDAGraph()
    OP(x, bias, 6)
    with torch.cuda.graph(graph):
        w, ids = OP(x, bias, 6)
    x.copy_(inputs(32, seed=5)[0])
    graph.replay()
    torch.cuda.synchronize()
    assert_routing(ids, w, *kimi_ref(x, bias, 6), rtol=RTOL, atol=ATOL)
