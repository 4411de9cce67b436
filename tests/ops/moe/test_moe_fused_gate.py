"""Tests of `moe_fused_gate` (sgl-kernel's DeepSeek-V3 grouped routing): CPU checks of the schema, the fake and the
binding's refusals (the configurations sgl-kernel refuses); GPU checks against a reference that replays its
arithmetic (moe_gate_reference.fused_gate_ref): bit for bit for fp16/bf16 inputs drawn from logits whose rounded
sigmoid is unambiguous, to a few ulps (ids exact away from near ties) for fp32; shared experts, scaling, group
ties, T = 0 / 1 / odd / 65536, opcheck, torch.compile and CUDA graphs."""

import kernelkit_ops
import pytest
import torch
from moe_gate_reference import assert_routing, fused_gate_ref, safe_logit_pool
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "moe_fused_gate"
OP = kernelkit_ops.moe_fused_gate
# (E, groups, topk_group, topk): upstream's test configurations plus DeepSeek variants and small ones.
CONFIGS = [
    (256, 8, 4, 8),
    (128, 4, 2, 4),
    (512, 16, 8, 16),
    (256, 32, 8, 8),
    (32, 1, 1, 6),
    (8, 2, 1, 2),
    (1024, 32, 4, 8),
    (16, 4, 2, 3),
]
DTYPES = [torch.bfloat16, torch.float16, torch.float32]


def torch_op():
    return torch.ops.kernelkit.moe_fused_gate.default


def make_inputs(num_tokens, num_experts, dtype, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    if dtype == torch.float32:
        x = torch.randn(num_tokens, num_experts, device="cuda", generator=g)
        bias = torch.rand(num_experts, device="cuda", generator=g)
    else:
        pool = safe_logit_pool(dtype, "cuda")
        x = pool[torch.randint(0, pool.numel(), (num_tokens, num_experts), device="cuda", generator=g)]
        bias = (torch.randint(-64, 65, (num_experts,), device="cuda", generator=g).float() / 256).to(dtype)
    return x, bias


def tolerances(dtype):
    return (0, 0) if dtype != torch.float32 else (1e-6, 1e-7)


# ---------------- CPU ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == [
        "input_tensor",
        "bias",
        "topk_weights",
        "topk_ids",
        "num_expert_group",
        "topk_group",
        "num_fused_shared_experts",
        "routed_scaling_factor",
        "apply_routed_scaling_factor_on_output",
        "enable_pdl",
    ]
    assert schema.returns == []


def test_fake_impl_returns_weights_and_ids():
    with FakeTensorMode():
        w, ids = OP(torch.empty(5, 256, device="cuda"), torch.empty(256, device="cuda"), 8, 4, 9, 1, 2.5)
        assert w.shape == (5, 9) and w.dtype == torch.float32
        assert ids.shape == (5, 9) and ids.dtype == torch.int32


@pytest.mark.parametrize(
    "num_experts, groups, topk_group, topk, shared, message",
    [
        (96, 3, 1, 4, 0, "num_experts .* must be a power of 2, got 96"),
        (256, 3, 1, 4, 0, "num_experts must be divisible by num_expert_group, got 256 / 3"),
        (
            256,
            4,
            2,
            4,
            0,
            r"experts per group: num_experts / num_expert_group = 64 exceeds the maximum supported \(32\)",
        ),
        (256, 64, 2, 4, 0, r"num_expert_group must be in \[1, 32\], got 64"),
        (256, 8, 9, 4, 0, r"topk_group must be in \[1, num_expert_group = 8\], got 9"),
        (256, 8, 4, 17, 0, "topk .* must be at most 16"),
        (256, 8, 4, 4, 4, r"num_fused_shared_experts must be in \[0, topk - 1\]"),
        (256, 32, 1, 16, 0, "topk - num_fused_shared_experts = 16 routed experts cannot be picked from"),
    ],
)
def test_rejects_unsupported_configs(num_experts, groups, topk_group, topk, shared, message):
    with pytest.raises(RuntimeError, match=f"{NAME}: {message}"):
        OP(torch.randn(4, num_experts), torch.randn(num_experts), groups, topk_group, topk, shared, 2.5)


def test_rejects_bad_dtypes_and_shapes():
    with pytest.raises(RuntimeError, match=f"{NAME}: bias must have the dtype of input_tensor"):
        OP(torch.randn(4, 256), torch.randn(256, dtype=torch.bfloat16), 8, 4, 8)
    with pytest.raises(RuntimeError, match=rf"{NAME}: bias must have shape \[256\]"):
        OP(torch.randn(4, 256), torch.randn(128), 8, 4, 8)
    with pytest.raises(RuntimeError, match=f"{NAME}: input_tensor must be bfloat16, float16 or float32"):
        OP(torch.randn(4, 256).double(), torch.randn(256).double(), 8, 4, 8)
    with pytest.raises(RuntimeError, match=f"{NAME}: input_tensor must be a CUDA tensor"):
        OP(torch.randn(4, 256), torch.randn(256), 8, 4, 8)


# ---------------- GPU ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("config", CONFIGS, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_reference(config, dtype):
    num_experts, groups, topk_group, topk = config
    x, bias = make_inputs(257, num_experts, dtype, seed=num_experts + groups)
    w, ids = OP(x, bias, groups, topk_group, topk)
    ref = fused_gate_ref(x, bias, groups, topk_group, topk)
    assert_routing(ids, w, *ref, *tolerances(dtype))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shared", [1, 2])
@pytest.mark.parametrize("scale_output", [False, True])
@pytest.mark.parametrize("scale", [2.5, 0.0])
def test_shared_experts_and_scaling(dtype, shared, scale_output, scale):
    x, bias = make_inputs(129, 256, dtype, seed=shared)
    topk = 8 + shared
    w, ids = OP(x, bias, 8, 4, topk, shared, scale, scale_output)
    ref = fused_gate_ref(x, bias, 8, 4, topk, shared, scale, scale_output)
    rtol, atol = tolerances(dtype)
    ref_ids, ref_w, near = ref
    assert torch.equal(ids[:, -shared:], ref_ids[:, -shared:])  # E, E + 1, ...
    if scale == 0.0 and not scale_output:
        assert torch.isinf(w[:, -shared:]).all()  # upstream divides the routed sum by 0
        w, ref_w = w[:, :-shared], ref_w[:, :-shared].float()
        ids, ref_ids = ids[:, :-shared], ref_ids[:, :-shared]
    assert_routing(ids, w.nan_to_num(), ref_ids, ref_w.float().nan_to_num(), near, rtol, atol)


@pytest.mark.gpu
@pytest.mark.parametrize("num_tokens", [0, 1, 7, 65536])
def test_token_counts(num_tokens):
    x, bias = make_inputs(num_tokens, 256, torch.bfloat16, seed=num_tokens)
    w, ids = OP(x, bias, 8, 4, 8, 0, 2.5, True)
    assert w.shape == (num_tokens, 8)
    if num_tokens:
        assert_routing(ids, w, *fused_gate_ref(x, bias, 8, 4, 8, 0, 2.5, True), 0, 0)


@pytest.mark.gpu
def test_group_and_expert_ties():
    """Equal group scores keep the lower group; equal keys pick the lower expert first."""
    x = torch.zeros(4, 256, device="cuda", dtype=torch.bfloat16)  # every score sigmoid(0) = 0.5: all tied
    bias = torch.zeros(256, device="cuda", dtype=torch.bfloat16)
    w, ids = OP(x, bias, 8, 4, 8)
    assert torch.equal(ids, torch.arange(8, device="cuda", dtype=torch.int32).expand(4, -1))
    torch.testing.assert_close(w, torch.full_like(w, 1 / 8), rtol=0, atol=0)
    bias[[40, 200]] = 0.25  # groups 1 and 6 now lead; the other two kept are groups 0 and 2
    w, ids = OP(x, bias, 8, 4, 8)
    expected = torch.tensor([40, 200, 0, 1, 2, 3, 4, 5], device="cuda", dtype=torch.int32)
    assert torch.equal(ids, expected.expand(4, -1))
    assert_routing(ids, w, *fused_gate_ref(x, bias, 8, 4, 8), 0, 0)


@pytest.mark.gpu
def test_strided_rows():
    x, bias = make_inputs(64, 384, torch.bfloat16)
    x = x[:, 64:320]
    w, ids = OP(x, bias[:256].contiguous(), 8, 4, 8)
    assert_routing(ids, w, *fused_gate_ref(x, bias[:256], 8, 4, 8), 0, 0)


@pytest.mark.gpu
def test_opcheck():
    x, bias = make_inputs(16, 256, torch.float32)
    w = torch.empty(16, 9, device="cuda")
    ids = torch.empty(16, 9, device="cuda", dtype=torch.int32)
    torch.library.opcheck(torch_op(), (x, bias, w, ids, 8, 4, 1, 2.5, True, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x, bias = make_inputs(33, 256, torch.bfloat16)
    route = torch.compile(lambda a, b: OP(a, b, 8, 4, 9, 1, 2.5, True), fullgraph=True)
    w, ids = route(x, bias)
    assert_routing(ids, w, *fused_gate_ref(x, bias, 8, 4, 9, 1, 2.5, True), 0, 0)


@pytest.mark.gpu
def test_cuda_graph_replay():
    x, bias = make_inputs(128, 256, torch.bfloat16, seed=3)
    OP(x, bias, 8, 4, 8)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        w, ids = OP(x, bias, 8, 4, 8)
    x.copy_(make_inputs(128, 256, torch.bfloat16, seed=4)[0])
    graph.replay()
    torch.cuda.synchronize()
    assert_routing(ids, w, *fused_gate_ref(x, bias, 8, 4, 8), 0, 0)
