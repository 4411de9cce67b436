"""Tests of `merge_state_v2`: sgl-kernel's second merge, natural-log log-sum-exps where an infinite LSE counts
as -inf, within fp tolerance of a float64 reference (merge_state_cases.reference with base "e").

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import math

import kernelkit_ops
import pytest
import torch
from merge_state_cases import DTYPES, HEAD_DIMS, assert_merged, make_states, poisoned_outputs
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "merge_state_v2"
OP = kernelkit_ops.merge_state_v2
BASE = "e"
LOG_2 = math.log(2.0)  # ln(2): the merged LSE of two equal states


def torch_op():
    return torch.ops.kernelkit.merge_state_v2.default


def cpu_args(t=2, h=4, d=8, dtype=torch.bfloat16):
    return [
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
        torch.zeros(t, h, d, dtype=dtype),
        torch.zeros(t, h),
    ]


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["v_a", "s_a", "v_b", "s_b", "v_merged", "s_merged", "enable_pdl"]
    for i in (4, 5):
        assert schema.arguments[i].alias_info is not None and schema.arguments[i].alias_info.is_write
    for i in (0, 1, 2, 3):
        assert schema.arguments[i].alias_info is None
    assert schema.returns == []


def test_fake_impl_allocates_and_returns_both():
    with FakeTensorMode():
        v = torch.empty(3, 8, 128, device="cuda", dtype=torch.bfloat16)
        s = torch.empty(3, 8, device="cuda", dtype=torch.bfloat16)  # converted to float32 like upstream
        v_m, s_m = OP(v, s, v, s)
        assert v_m.shape == (3, 8, 128) and v_m.dtype == torch.bfloat16
        assert s_m.shape == (3, 8) and s_m.dtype == torch.float32


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: v_a must be a CUDA tensor"):
        OP(*cpu_args())


def test_rejects_bad_ranks_and_shapes():
    a = cpu_args()
    with pytest.raises(
        RuntimeError, match=rf"{NAME}: v_a must be 3-D \[num_tokens, num_heads, head_dim\], got \[2, 4\]"
    ):
        OP(a[1], a[1], a[2], a[3])
    with pytest.raises(RuntimeError, match=rf"{NAME}: v_b must have the shape of v_a \[2, 4, 8\], got \[2, 4, 16\]"):
        OP(a[0], a[1], torch.zeros(2, 4, 16, dtype=torch.bfloat16), a[3])
    with pytest.raises(RuntimeError, match=rf"{NAME}: s_b must have shape \[num_tokens, num_heads\] = \[2, 4\], got"):
        OP(a[0], a[1], a[2], torch.zeros(2, 5))
    with pytest.raises(RuntimeError, match=rf"{NAME}: v_merged must have the shape of v_a"):
        OP(a[0], a[1], a[2], a[3], torch.zeros(2, 4, 4, dtype=torch.bfloat16), a[5])
    with pytest.raises(RuntimeError, match=rf"{NAME}: s_merged must have shape \[num_tokens, num_heads\]"):
        OP(a[0], a[1], a[2], a[3], a[4], torch.zeros(4, 2))


def test_rejects_dtypes():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: v_a must be bfloat16, float16 or float32, got int32"):
        OP(a[0].int(), a[1], a[2].int(), a[3])
    with pytest.raises(RuntimeError, match=rf"{NAME}: v_b must have the dtype of v_a \(bfloat16\), got float16"):
        OP(a[0], a[1], a[2].half(), a[3])
    with pytest.raises(RuntimeError, match=rf"{NAME}: v_merged must have the dtype of v_a \(bfloat16\), got float32"):
        OP(a[0], a[1], a[2], a[3], a[4].float(), a[5])
    with pytest.raises(RuntimeError, match=f"{NAME}: s_merged must be float32, got bfloat16"):
        OP(a[0], a[1], a[2], a[3], a[4], a[5].bfloat16())
    with pytest.raises(RuntimeError, match=f"{NAME}: s_a must be float32, got float16"):
        torch_op()(a[0], a[1].half(), a[2], a[3], a[4], a[5], False)  # the wrapper would convert it


def test_rejects_strided_last_dim():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: v_a must be contiguous in its last dimension"):
        OP(torch.zeros(2, 4, 16, dtype=torch.bfloat16)[:, :, ::2], a[1], a[2], a[3])
    with pytest.raises(RuntimeError, match=f"{NAME}: v_merged must be contiguous in its last dimension"):
        OP(a[0], a[1], a[2], a[3], torch.zeros(2, 4, 16, dtype=torch.bfloat16)[:, :, ::2], a[5])


# ---------------- GPU: against the float64 reference ----------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("head_dim", HEAD_DIMS)
@pytest.mark.parametrize("tokens,heads", [(1, 32), (7, 8), (613, 16), (64, 128), (3, 1)])
def test_matches_reference(tokens, heads, head_dim, dtype):
    v_a, s_a, v_b, s_b = make_states(tokens, heads, head_dim, dtype)
    v_out, s_out = poisoned_outputs(v_a)
    v, s = OP(v_a, s_a, v_b, s_b, v_out, s_out)
    assert v is v_out and s is s_out
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_allocates_outputs(dtype):
    v_a, s_a, v_b, s_b = make_states(33, 8, 128, dtype)
    v, s = OP(v_a, s_a, v_b, s_b)
    assert v.dtype == dtype and s.dtype == torch.float32
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("head_dim", [128, 576, 40])
def test_strided_inputs(head_dim, dtype):
    v_a, s_a, v_b, s_b = make_states(37, 8, head_dim, dtype, strided=True)
    assert not v_a.is_contiguous() and not s_a.is_contiguous()
    v_out = torch.full((37, 9, head_dim + 8), float("nan"), device="cuda", dtype=dtype)[:, 1:, 8:]
    s_out = torch.full((8, 37), float("nan"), device="cuda").t()
    OP(v_a, s_a, v_b, s_b, v_out, s_out)
    assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_empty_partial_state_takes_the_other(dtype):
    """An LSE of -inf is an empty KV set: its weight is exactly 0, the other state passes through unchanged."""
    v_a, s_a, v_b, s_b = make_states(50, 8, 128, dtype)
    s_a[::3] = -math.inf
    s_b[1::3] = -math.inf
    v, s = OP(v_a, s_a, v_b, s_b)
    assert torch.equal(v[::3], v_b[::3]) and torch.equal(s[::3], s_b[::3])
    assert torch.equal(v[1::3], v_a[1::3]) and torch.equal(s[1::3], s_a[1::3])
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_equal_lses_average(dtype):
    v_a, s_a, v_b, _ = make_states(20, 8, 256, dtype)
    v, s = OP(v_a, s_a, v_b, s_a.clone())
    if dtype == torch.float32:  # both weights are exactly 1/2: one rounding of (v_a + v_b) / 2
        assert torch.equal(v, ((v_a.double() + v_b.double()) / 2).float())
    torch.testing.assert_close(s.double(), s_a.double() + LOG_2, rtol=1e-6, atol=1e-6)
    assert_merged(v, s, v_a, s_a, v_b, s_a, BASE)


@pytest.mark.gpu
def test_zero_tokens_launches_nothing():
    v_a, s_a, v_b, s_b = make_states(0, 8, 128, torch.bfloat16)
    v, s = OP(v_a, s_a, v_b, s_b)
    assert v.shape == (0, 8, 128) and s.shape == (0, 8)


@pytest.mark.gpu
def test_large():
    v_a, s_a, v_b, s_b = make_states(16384, 32, 128, torch.bfloat16)
    v_out, s_out = poisoned_outputs(v_a)
    OP(v_a, s_a, v_b, s_b, v_out, s_out)
    assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    v_a, s_a, v_b, s_b = make_states(64, 32, 128, torch.bfloat16)
    v, s = OP(v_a, s_a, v_b, s_b, enable_pdl=enable_pdl)
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
def test_opcheck():
    v_a, s_a, v_b, s_b = make_states(16, 8, 64, torch.bfloat16)
    v_out, s_out = poisoned_outputs(v_a)
    torch.library.opcheck(torch_op(), (v_a, s_a, v_b, s_b, v_out, s_out, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(v_a, s_a, v_b, s_b):
        v, s = OP(v_a, s_a, v_b, s_b)
        return v.float() + 1, s - 1

    fn = torch.compile(step, fullgraph=True)
    v_a, s_a, v_b, s_b = make_states(8, 8, 128, torch.float32)
    v, s = fn(v_a, s_a, v_b, s_b)
    assert_merged(v - 1, s + 1, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
def test_cuda_graph_replay():
    v_a, s_a, v_b, s_b = make_states(100, 32, 128, torch.bfloat16)
    v_out, s_out = poisoned_outputs(v_a)
    OP(v_a, s_a, v_b, s_b, v_out, s_out)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(v_a, s_a, v_b, s_b, v_out, s_out)
    fresh = make_states(100, 32, 128, torch.bfloat16)
    for dst, src in zip((v_a, s_a, v_b, s_b), fresh, strict=True):
        dst.copy_(src)
    v_out.fill_(float("nan"))
    s_out.fill_(float("nan"))
    graph.replay()
    torch.cuda.synchronize()
    assert_merged(v_out, s_out, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_infinite_lse_of_either_sign_is_an_empty_state(dtype):
    """Upstream's v2 test marks ~10% of each side +inf (never both): those states weigh 0."""
    v_a, s_a, v_b, s_b = make_states(256, 16, 128, dtype)
    mask_a = torch.rand(256, 16, device="cuda") < 0.1
    mask_b = (torch.rand(256, 16, device="cuda") < 0.1) & ~mask_a
    mask_a[0, 0], mask_b[0, 0], mask_a[0, 1], mask_b[0, 1] = True, False, False, True
    s_a[mask_a] = math.inf
    s_b[mask_b] = math.inf
    s_a[0, 0], s_b[0, 1] = -math.inf, -math.inf  # the other sign counts the same
    v, s = OP(v_a, s_a, v_b, s_b)
    assert torch.equal(v[mask_a], v_b[mask_a]) and torch.equal(s[mask_a], s_b[mask_a])
    assert torch.equal(v[mask_b], v_a[mask_b]) and torch.equal(s[mask_b], s_a[mask_b])
    assert_merged(v, s, v_a, s_a, v_b, s_b, BASE)


@pytest.mark.gpu
def test_two_empty_states_give_nan_as_upstream():
    """-inf on both sides: max is -inf and -inf - -inf is NaN, in upstream's kernel as here."""
    v_a, s_a, v_b, s_b = make_states(4, 8, 64, torch.bfloat16)
    s_a[1] = -math.inf
    s_b[1] = math.inf
    v, s = OP(v_a, s_a, v_b, s_b)
    assert torch.isnan(v[1]).all() and torch.isnan(s[1]).all()
    assert_merged(v[[0, 2, 3]], s[[0, 2, 3]], v_a[[0, 2, 3]], s_a[[0, 2, 3]], v_b[[0, 2, 3]], s_b[[0, 2, 3]], BASE)


@pytest.mark.gpu
def test_offsets_beyond_32_bits():
    """Upstream's regression: T * H * D past 2**32 elements (fp16, 128 x 128); int64 offsets here."""
    heads, head_dim = 128, 128
    first = 2**32 // (heads * head_dim)
    tokens = first + 8
    need = int(1.1 * (3 * tokens * heads * head_dim * 2 + 3 * tokens * heads * 4))
    if torch.cuda.mem_get_info()[0] < need:
        pytest.skip(f"needs {need / 2**30:.1f} GiB of free GPU memory")
    v_a = torch.empty(tokens, heads, head_dim, device="cuda", dtype=torch.float16)
    v_b, v_out = torch.empty_like(v_a), torch.empty_like(v_a)
    s_a = torch.zeros(tokens, heads, device="cuda")
    s_b, s_out = torch.zeros_like(s_a), torch.zeros_like(s_a)
    rows = [(first, 0), (first, 17), (tokens - 1, heads - 1)]
    for i, (t, h) in enumerate(rows):
        v_a[t, h] = torch.randn(head_dim, device="cuda").half()
        v_b[t, h] = torch.randn(head_dim, device="cuda").half()
        s_a[t, h], s_b[t, h] = 0.25 + i, -0.75 + 0.5 * i
        v_out[t, h] = float("nan")
    OP(v_a, s_a, v_b, s_b, v_out, s_out)
    torch.cuda.synchronize()
    idx_t = torch.tensor([t for t, _ in rows], device="cuda")
    idx_h = torch.tensor([h for _, h in rows], device="cuda")
    assert_merged(
        v_out[idx_t, idx_h].unsqueeze(0),
        s_out[idx_t, idx_h].unsqueeze(0),
        v_a[idx_t, idx_h].unsqueeze(0),
        s_a[idx_t, idx_h].unsqueeze(0),
        v_b[idx_t, idx_h].unsqueeze(0),
        s_b[idx_t, idx_h].unsqueeze(0),
        BASE,
    )
