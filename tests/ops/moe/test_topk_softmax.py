"""Tests of `topk_softmax` (sgl-kernel's MoE softmax routing): CPU checks of the schema, the fake and the binding's
refusals; GPU checks against a float64 reference (moe_gate_reference.py) over every expert count real models use,
k, dtypes, soft-capping, bias, renormalisation, ties, T = 0 / 1 / odd / 65536, strided rows, the classic 4-tensor
form, opcheck, torch.compile and CUDA graphs."""

import kernelkit_ops
import pytest
import torch
from moe_gate_reference import assert_routing, softmax_ref
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "topk_softmax"
OP = kernelkit_ops.topk_softmax
EXPERTS = [8, 16, 60, 64, 128, 160, 256, 384, 512]
DTYPES = [torch.float32, torch.bfloat16, torch.float16]
RTOL, ATOL = 1e-5, 1e-8  # fp32 math against float64: a few ulps of expf and of the sums


def torch_op():
    return torch.ops.kernelkit.topk_softmax.default


def outputs(num_tokens, k, device="cuda"):
    w = torch.full((num_tokens, k), float("nan"), device=device)
    ids = torch.full((num_tokens, k), -7, dtype=torch.int32, device=device)
    return w, ids


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    names = [a.name for a in schema.arguments]
    assert names == [
        "topk_weights",
        "topk_ids",
        "gating_output",
        "renormalize",
        "moe_softcapping",
        "correction_bias",
        "enable_pdl",
    ]
    assert schema.arguments[0].alias_info.is_write and schema.arguments[1].alias_info.is_write
    assert schema.returns == []


def test_fake_impl():
    with FakeTensorMode():
        w = torch.empty(5, 2, device="cuda")
        ids = torch.empty(5, 2, dtype=torch.int32, device="cuda")
        g = torch.empty(5, 64, device="cuda", dtype=torch.bfloat16)
        assert OP(w, ids, g, True, 30.0, torch.empty(64, device="cuda")) is None


def cpu_args(num_tokens=4, num_experts=8, k=2):
    w, ids = outputs(num_tokens, k, device="cpu")
    return [w, ids, torch.randn(num_tokens, num_experts)]


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: gating_output must be a CUDA tensor"):
        OP(*cpu_args())


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.__setitem__(2, a[2].to(torch.int32)), "gating_output must be bfloat16, float16 or float32"),
        (lambda a: a.__setitem__(0, a[0].double()), "topk_weights must be float32, got float64"),
        (lambda a: a.__setitem__(1, a[1].long()), "topk_ids must be int32, got int64"),
        (lambda a: a.__setitem__(2, a[2][None]), r"gating_output must be a 2-D tensor"),
        (lambda a: a.__setitem__(0, torch.empty(3, 2)), "topk_weights must have 4 rows"),
        (lambda a: a.__setitem__(1, torch.empty(4, 3, dtype=torch.int32)), "topk_ids must have the shape of"),
        (lambda a: a.__setitem__(2, torch.randn(8, 4)[::2]), None),  # strided rows are fine (then the device check)
        (lambda a: a.__setitem__(2, torch.randn(4, 16)[:, ::2]), "gating_output must be contiguous in its last"),
    ],
)
def test_rejects_bad_arguments(change, message):
    args = cpu_args()
    change(args)
    with pytest.raises(RuntimeError, match=f"{NAME}: " + (message or "gating_output must be a CUDA tensor")):
        OP(*args)


def test_rejects_k_larger_than_experts():
    w, ids = outputs(4, 9, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{NAME}: topk \(9\) must be less than or equal to num_experts \(8\)"):
        OP(w, ids, torch.randn(4, 8))


def test_rejects_k_above_16_and_huge_e():
    w, ids = outputs(4, 17, device="cpu")
    with pytest.raises(RuntimeError, match=f"{NAME}: topk .* must be at most 16"):
        OP(w, ids, torch.randn(4, 64))
    w, ids = outputs(4, 2, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{NAME}: num_experts .* must be in \[1, 2048\]"):
        OP(w, ids, torch.randn(4, 4096))


def test_rejects_bad_bias():
    w, ids = outputs(4, 2, device="cpu")
    with pytest.raises(RuntimeError, match=f"{NAME}: correction_bias must be float32, got bfloat16"):
        OP(w, ids, torch.randn(4, 8), correction_bias=torch.zeros(8, dtype=torch.bfloat16))
    with pytest.raises(RuntimeError, match=rf"{NAME}: correction_bias must have shape \[8\]"):
        OP(w, ids, torch.randn(4, 8), correction_bias=torch.zeros(7))


# ---------------- GPU ----------------


def run(gating, k, **kw):
    w, ids = outputs(gating.shape[0], k)
    OP(w, ids, gating, **kw)
    return ids, w


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", EXPERTS)
@pytest.mark.parametrize("k", [1, 2, 8])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_reference(num_experts, k, dtype):
    torch.manual_seed(num_experts * 31 + k)
    gating = torch.randn(301, num_experts, device="cuda").to(dtype)
    ids, w = run(gating, k)
    assert_routing(ids, w, *softmax_ref(gating, k), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", [8, 60, 128, 256, 512, 1000, 2048])
@pytest.mark.parametrize("renormalize", [False, True])
@pytest.mark.parametrize("softcap", [0.0, 30.0])
@pytest.mark.parametrize("with_bias", [False, True])
def test_options(num_experts, renormalize, softcap, with_bias):
    torch.manual_seed(num_experts + int(softcap))
    gating = torch.randn(257, num_experts, device="cuda") * 3
    bias = torch.randn(num_experts, device="cuda") if with_bias else None
    k = min(8, num_experts)
    ids, w = run(gating, k, renormalize=renormalize, moe_softcapping=softcap, correction_bias=bias)
    ref = softmax_ref(gating, k, renormalize=renormalize, softcap=softcap, bias=bias)
    assert_routing(ids, w, *ref, rtol=RTOL, atol=ATOL)
    if renormalize:
        torch.testing.assert_close(w.sum(-1), torch.ones(257, device="cuda"), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("k", [1, 3, 16])
def test_k_values(k):
    gating = torch.randn(99, 256, device="cuda", dtype=torch.bfloat16)
    ids, w = run(gating, k, renormalize=True)
    assert_routing(ids, w, *softmax_ref(gating, k, renormalize=True), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("num_tokens", [0, 1, 7, 65536])
@pytest.mark.parametrize("num_experts", [64, 256])
def test_token_counts(num_tokens, num_experts):
    gating = torch.randn(num_tokens, num_experts, device="cuda", dtype=torch.bfloat16)
    ids, w = run(gating, 8, renormalize=True)
    if num_tokens == 0:
        assert ids.shape == (0, 8)
        return
    assert_routing(ids, w, *softmax_ref(gating, 8, renormalize=True), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
@pytest.mark.parametrize("num_experts", [8, 16, 60, 64, 128, 160, 256])
@pytest.mark.parametrize("k", [1, 2, 8])
def test_many_rows_layouts(num_experts, k):
    """Past 1024 rows E <= 256 takes the several-rows-per-warp layouts (1 to 16 lanes per row): each one once."""
    torch.manual_seed(num_experts * 7 + k)
    gating = torch.randn(1537, num_experts, device="cuda", dtype=torch.bfloat16)
    bias = torch.randn(num_experts, device="cuda")
    ids, w = run(gating, k, renormalize=True, correction_bias=bias)
    ref = softmax_ref(gating, k, renormalize=True, bias=bias)
    assert_routing(ids, w, *ref, rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_ties_lower_expert_first():
    """Equal logits give equal probabilities: the lower expert id is picked (and listed) first."""
    num_experts = 256
    gating = torch.zeros(64, num_experts, device="cuda")
    gating[:, 200] = 2.0  # a clear winner...
    for r in range(64):  # ...then three equal runners-up at positions that vary per row
        cols = torch.randperm(num_experts - 1)[:3]
        cols = cols + (cols >= 200).long()
        gating[r, cols] = 1.0
    ids, w = run(gating, 4)
    ref_ids, ref_w, near = softmax_ref(gating, 4)
    assert not near.any()
    assert torch.equal(ids, ref_ids)
    runners = ids[:, 1:]
    assert torch.equal(runners, runners.sort(dim=-1).values), "equal keys must come in expert order"
    # k past the distinct values: the remaining slots are the lowest-index zero-logit experts
    ids, _ = run(gating, 6)
    assert torch.equal(ids, softmax_ref(gating, 6)[0])


@pytest.mark.gpu
def test_all_equal_row_picks_first_experts():
    ids, w = run(torch.full((3, 160), 0.25, device="cuda"), 5)
    assert torch.equal(ids, torch.arange(5, device="cuda", dtype=torch.int32).expand(3, -1))
    torch.testing.assert_close(w, torch.full_like(w, 1 / 160))


@pytest.mark.gpu
def test_strided_rows_and_misaligned():
    base = torch.randn(50, 300, device="cuda", dtype=torch.bfloat16)
    gating = base[:, 3:131]  # rows 300 apart, start 6 bytes in: the scalar-load path
    ids, w = run(gating, 8)
    assert_routing(ids, w, *softmax_ref(gating, 8), rtol=RTOL, atol=ATOL)
    wide = torch.full((50, 16), float("nan"), device="cuda")
    wide_ids = torch.zeros(50, 16, dtype=torch.int32, device="cuda")
    OP(wide[:, :8], wide_ids[:, :8], base[:, :128])
    ref_ids, ref_w, near = softmax_ref(base[:, :128], 8)
    assert_routing(wide_ids[:, :8], wide[:, :8], ref_ids, ref_w, near, rtol=RTOL, atol=ATOL)
    assert wide[:, 8:].isnan().all(), "slots outside the view must stay untouched"


@pytest.mark.gpu
def test_classic_four_tensor_form():
    gating = torch.randn(37, 64, device="cuda")
    w, ids = outputs(37, 2)
    token_expert_indices = torch.empty(37, 2, dtype=torch.int32, device="cuda")
    OP(w, ids, token_expert_indices, gating)
    assert_routing(ids, w, *softmax_ref(gating, 2), rtol=RTOL, atol=ATOL)
    rows = torch.arange(37, device="cuda", dtype=torch.int32)
    assert torch.equal(token_expert_indices, torch.stack([rows, rows + 37], dim=1))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    gating = torch.randn(64, 128, device="cuda")
    ids, w = run(gating, 4, enable_pdl=enable_pdl)
    assert_routing(ids, w, *softmax_ref(gating, 4), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_opcheck():
    w, ids = outputs(16, 4)
    args = (w, ids, torch.randn(16, 64, device="cuda"), True, 20.0, torch.randn(64, device="cuda"), False)
    torch.library.opcheck(torch_op(), args)


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    gating = torch.randn(33, 256, device="cuda", dtype=torch.bfloat16)
    bias = torch.randn(256, device="cuda")

    @torch.compile(fullgraph=True)
    def route(g):
        w = torch.empty(g.shape[0], 8, device=g.device)
        ids = torch.empty(g.shape[0], 8, device=g.device, dtype=torch.int32)
        OP(w, ids, g, True, 0.0, bias)
        return w, ids

    w, ids = route(gating)
    assert_routing(ids, w, *softmax_ref(gating, 8, renormalize=True, bias=bias), rtol=RTOL, atol=ATOL)


@pytest.mark.gpu
def test_cuda_graph_replay():
    gating = torch.randn(128, 256, device="cuda", dtype=torch.bfloat16)
    w, ids = outputs(128, 8)
    OP(w, ids, gating)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(w, ids, gating)
    gating.copy_(torch.randn_like(gating))
    w.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert_routing(ids, w, *softmax_ref(gating, 8), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "op, bias_bytes", [("topk_softmax", 0), ("topk_sigmoid", 4), ("moe_fused_gate", 2), ("kimi_k2_moe_fused_gate", 4)]
)
def test_bench_bytes_models(op, bias_bytes):
    """Every gate bench counts the logits read once and the fp32 weights + int32 ids written once."""
    from pathlib import Path

    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), op)
    case = next(c for c in b.cases if c.tokens == 2048)
    e, k = case.size("experts"), case.size("k")
    itemsize = {"bfloat16": 2, "float32": 4}[case.dtype]
    assert b.bytes_moved(case) == 2048 * e * itemsize + 2048 * k * 8 + bias_bytes * e * (
        itemsize // 2 if op == "moe_fused_gate" else 1
    )
