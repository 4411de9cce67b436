"""Tests of `downcast_fp8`: bit-exact against a torch reference of sgl-kernel's arithmetic (scale and reciprocal
rounded to the input dtype, x * reciprocal rounded to it, clamp to +-448, e4m3 round to nearest even), rows written
at ``loc * mult + offset``, every other cache row untouched.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "downcast_fp8"
OP = kernelkit_ops.downcast_fp8
FP8 = torch.float8_e4m3fn


def torch_op():
    return torch.ops.kernelkit.downcast_fp8.default


def quantize(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """sgl-kernel's steps, each rounded once to x's dtype; fp8 bytes as uint8."""
    t = x.dtype
    inv = (1.0 / scale.reshape(()).to(t).double()).to(t)  # correctly rounded reciprocal in t
    y = (x.float() * inv.float()).to(t)  # the fp32 product of two t values is exact: one rounding to t
    return y.float().clamp(-448.0, 448.0).to(FP8).view(torch.uint8)


def expected(out_before, x, scale, loc, mult, offset):
    ref = out_before.view(torch.uint8).clone()
    rows = loc.long() * mult + offset
    inside = (rows >= 0) & (rows < ref.shape[0])
    ref[rows[inside]] = quantize(x[inside], scale)
    return ref


def cpu_args(t=3, slots=16, h=2, d=64):
    return [
        torch.zeros(t, h, d, dtype=torch.bfloat16),
        torch.zeros(t, h, d, dtype=torch.bfloat16),
        torch.zeros(slots, h, d, dtype=torch.uint8),
        torch.zeros(slots, h, d, dtype=torch.uint8),
        torch.ones(1),
        torch.ones(1),
        torch.arange(t, dtype=torch.int64),
    ]


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    names = ["k", "v", "k_out", "v_out", "k_scale", "v_scale", "loc", "mult", "offset", "enable_pdl"]
    assert [a.name for a in schema.arguments] == names
    for i, a in enumerate(schema.arguments):
        written = a.alias_info is not None and a.alias_info.is_write
        assert written == (i in (2, 3)), a.name
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        k = torch.empty(3, 2, 64, device="cuda", dtype=torch.bfloat16)
        out = torch.empty(16, 2, 64, device="cuda", dtype=torch.uint8)
        scale = torch.empty(1, device="cuda")
        loc = torch.empty(3, device="cuda", dtype=torch.int64)
        assert OP(k, k.clone(), out, out.clone(), scale, scale.clone(), loc) is None


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: k must be a CUDA tensor"):
        OP(*cpu_args())


def test_rejects_dtypes():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: k must be bfloat16 or float16, got float32"):
        OP(a[0].float(), a[1].float(), *a[2:])
    with pytest.raises(RuntimeError, match=f"{NAME}: v must have the dtype of k"):
        OP(a[0], a[1].half(), *a[2:])
    with pytest.raises(RuntimeError, match=f"{NAME}: k_out must be uint8 or float8_e4m3fn .*got bfloat16"):
        OP(a[0], a[1], a[2].bfloat16(), *a[3:])
    with pytest.raises(RuntimeError, match=f"{NAME}: v_scale must be float32, got bfloat16"):
        OP(*a[:5], a[5].bfloat16(), a[6])
    with pytest.raises(RuntimeError, match=f"{NAME}: loc must be int32 or int64, got float32"):
        OP(*a[:6], a[6].float())


def test_rejects_shapes():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=rf"{NAME}: loc must be a 1-D contiguous tensor, got shape \[3, 1\]"):
        OP(*a[:6], a[6].view(3, 1))
    with pytest.raises(
        RuntimeError, match=rf"{NAME}: k must have one row per entry of loc \(3\), got shape \[4, 2, 64\]"
    ):
        OP(torch.zeros(4, 2, 64, dtype=torch.bfloat16), *a[1:])
    with pytest.raises(RuntimeError, match=rf"{NAME}: v must have k's shape \[3, 128\] as rows"):
        OP(a[0], torch.zeros(3, 2, 32, dtype=torch.bfloat16), *a[2:])
    with pytest.raises(RuntimeError, match=f"{NAME}: v_out must have rows of k's row size 128"):
        OP(*a[:3], torch.zeros(16, 2, 32, dtype=torch.uint8), *a[4:])
    with pytest.raises(RuntimeError, match=f"{NAME}: v_out must have k_out's 16 rows"):
        OP(*a[:3], torch.zeros(8, 2, 64, dtype=torch.uint8), *a[4:])
    with pytest.raises(RuntimeError, match=rf"{NAME}: k_scale must hold one value \(shape \[1\]\), got shape \[2\]"):
        OP(*a[:4], torch.ones(2), *a[5:])


def test_rejects_inner_strides():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: k of shape .* must be contiguous after its first dimension"):
        OP(torch.zeros(3, 64, 2, dtype=torch.bfloat16).transpose(1, 2), *a[1:])
    with pytest.raises(RuntimeError, match=f"{NAME}: k_out of shape .* must be contiguous after its first dimension"):
        OP(*a[:2], torch.zeros(16, 2, 128, dtype=torch.uint8)[:, :, ::2], *a[3:])


def test_accepts_fp8_cache_and_token_strided_rows_up_to_the_device_check():
    a = cpu_args()
    kv = torch.zeros(3, 2, 128, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match=f"{NAME}: k must be a CUDA tensor"):
        OP(kv[:, 0], kv[:, 1], a[2].view(FP8), a[3].view(FP8), *a[4:])


def test_defaults_mult_1_offset_0():
    import inspect

    params = inspect.signature(OP).parameters
    assert params["mult"].default == 1 and params["offset"].default == 0


# ---------------- GPU: bit-exact against the torch reference ----------------


def rand(shape, dtype, scale=1.0):
    return (torch.randn(shape, device="cuda") * scale).to(dtype)


def run_and_check(tokens, heads, head_dim, dtype, slots=512, mult=1, offset=0, loc_dtype=torch.int64, fp8_out=False):
    k, v = rand((tokens, heads, head_dim), dtype, 4.0), rand((tokens, heads, head_dim), dtype, 300.0)
    k_out = torch.randint(0, 256, (slots, heads, head_dim), device="cuda", dtype=torch.uint8)
    v_out = torch.randint(0, 256, (slots, heads, head_dim), device="cuda", dtype=torch.uint8)
    k_before, v_before = k_out.clone(), v_out.clone()
    k_scale = torch.tensor([0.37], device="cuda")
    v_scale = torch.tensor([0.11], device="cuda")  # v / 0.11 reaches past 448: the clamp is exercised
    n = max(1, (slots - offset) // mult)
    loc = torch.randperm(n, device="cuda")[:tokens].to(loc_dtype)
    ko, vo = (k_out.view(FP8), v_out.view(FP8)) if fp8_out else (k_out, v_out)
    assert OP(k, v, ko, vo, k_scale, v_scale, loc, mult, offset) is None
    assert torch.equal(k_out, expected(k_before, k, k_scale, loc, mult, offset))
    assert torch.equal(v_out, expected(v_before, v, v_scale, loc, mult, offset))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("heads,head_dim", [(8, 128), (1, 576), (4, 64), (2, 256), (3, 7), (1, 1)])
@pytest.mark.parametrize("tokens", [1, 7, 129, 500])
def test_matches_reference(tokens, heads, head_dim, dtype):
    run_and_check(tokens, heads, head_dim, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("mult,offset", [(1, 0), (2, 1), (3, 5), (1, 17)])
@pytest.mark.parametrize("loc_dtype", [torch.int32, torch.int64], ids=str)
def test_mult_offset(mult, offset, loc_dtype):
    run_and_check(33, 8, 128, torch.bfloat16, slots=1024, mult=mult, offset=offset, loc_dtype=loc_dtype)


@pytest.mark.gpu
def test_fp8_typed_output():
    run_and_check(9, 8, 128, torch.float16, fp8_out=True)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_every_input_value(dtype):
    """Every finite bf16/fp16 bit pattern (chunked into rows of 64) under three scales: subnormal fp8 results,
    ties, the clamp at 448 and infinities (clamped to +-448) all match the reference."""
    bits = torch.arange(-(2**15), 2**15, device="cuda", dtype=torch.int32).to(torch.int16)
    x = bits.view(dtype)
    x = x[~torch.isnan(x)]
    x = x[: x.numel() // 64 * 64].view(-1, 1, 64)
    for scale in (1.0, 0.0173, 3.3e3):
        s = torch.tensor([scale], device="cuda")
        out = torch.zeros(x.shape[0], 1, 64, device="cuda", dtype=torch.uint8)
        loc = torch.arange(x.shape[0], device="cuda")
        OP(x, x, out, out.clone(), s, s, loc)
        assert torch.equal(out.view(-1, 64), quantize(x, s).view(-1, 64))


@pytest.mark.gpu
def test_strided_rows_and_wider_cache():
    """k and v are slices of a fused kv (token stride 2 rows); the caches are windows of a wider buffer."""
    tokens, slots, row = 100, 300, 8 * 128
    kv = rand((tokens, 2 * row), torch.bfloat16, 3.0)
    k, v = kv[:, :row], kv[:, row:]
    k_out = torch.randint(0, 256, (slots, row + 64), device="cuda", dtype=torch.uint8)[:, 64:]
    v_out = torch.randint(0, 256, (slots, row + 8), device="cuda", dtype=torch.uint8)[:, :row]
    k_before, v_before = k_out.clone(), v_out.clone()
    s = torch.tensor([0.5], device="cuda")
    loc = torch.randperm(slots, device="cuda")[:tokens]
    OP(k, v, k_out, v_out, s, s, loc)
    assert torch.equal(k_out, expected(k_before, k, s, loc, 1, 0))
    assert torch.equal(v_out, expected(v_before, v, s, loc, 1, 0))


@pytest.mark.gpu
def test_out_of_range_rows_are_skipped():
    slots = 64
    k, v = rand((6, 4, 64), torch.float16), rand((6, 4, 64), torch.float16)
    k_out = torch.randint(0, 256, (slots, 4, 64), device="cuda", dtype=torch.uint8)
    v_out = torch.randint(0, 256, (slots, 4, 64), device="cuda", dtype=torch.uint8)
    k_before, v_before = k_out.clone(), v_out.clone()
    s = torch.tensor([1.0], device="cuda")
    loc = torch.tensor([3, -1, 31, 7, 1000, -(2**40)], device="cuda")  # 2 * 31 + 2 = 64: one past the end
    OP(k, v, k_out, v_out, s, s, loc, 2, 2)
    assert torch.equal(k_out, expected(k_before, k, s, loc, 2, 2))
    assert torch.equal(v_out, expected(v_before, v, s, loc, 2, 2))


@pytest.mark.gpu
def test_zero_tokens_launches_nothing():
    out = torch.randint(0, 256, (16, 8, 128), device="cuda", dtype=torch.uint8)
    before = out.clone()
    empty = torch.empty(0, 8, 128, device="cuda", dtype=torch.bfloat16)
    s = torch.ones(1, device="cuda")
    OP(empty, empty, out, out, s, s, torch.empty(0, device="cuda", dtype=torch.int64))
    assert torch.equal(out, before)


@pytest.mark.gpu
def test_large():
    run_and_check(16384, 8, 128, torch.bfloat16, slots=20000)


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    k, v = rand((33, 8, 128), torch.bfloat16), rand((33, 8, 128), torch.bfloat16)
    out = torch.zeros(64, 8, 128, device="cuda", dtype=torch.uint8)
    out_v = out.clone()
    s = torch.tensor([0.25], device="cuda")
    loc = torch.randperm(64, device="cuda")[:33]
    OP(k, v, out, out_v, s, s, loc, enable_pdl=enable_pdl)
    assert torch.equal(out, expected(torch.zeros_like(out), k, s, loc, 1, 0))
    assert torch.equal(out_v, expected(torch.zeros_like(out), v, s, loc, 1, 0))


@pytest.mark.gpu
def test_opcheck():
    k, v = rand((9, 2, 64), torch.bfloat16), rand((9, 2, 64), torch.bfloat16)
    k_out = torch.zeros(32, 2, 64, device="cuda", dtype=torch.uint8)
    v_out = torch.zeros(32, 2, 64, device="cuda", dtype=torch.uint8)
    s = torch.tensor([0.5], device="cuda")
    loc = torch.randperm(16, device="cuda")[:9]
    torch.library.opcheck(torch_op(), (k, v, k_out, v_out, s, s.clone(), loc, 2, 1, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(k, v, k_out, v_out, s, loc):
        OP(k, v, k_out, v_out, s, s, loc, 1, 0)
        return k_out[loc].long().sum() + v_out[loc].long().sum()  # the stored bytes, summed exactly

    fn = torch.compile(step, fullgraph=True)
    k, v = rand((17, 8, 128), torch.bfloat16), rand((17, 8, 128), torch.bfloat16)
    k_out = torch.zeros(64, 8, 128, device="cuda", dtype=torch.uint8)
    v_out = torch.zeros(64, 8, 128, device="cuda", dtype=torch.uint8)
    s = torch.tensor([0.5], device="cuda")
    loc = torch.randperm(64, device="cuda")[:17]
    total = fn(k, v, k_out, v_out, s, loc)
    qk, qv = quantize(k, s), quantize(v, s)
    assert torch.equal(k_out[loc], qk) and torch.equal(v_out[loc], qv)
    assert int(total) == int(qk.long().sum() + qv.long().sum())


@pytest.mark.gpu
def test_cuda_graph_replay():
    slots = 256
    k, v = rand((64, 8, 128), torch.bfloat16), rand((64, 8, 128), torch.bfloat16)
    k_out = torch.zeros(slots, 8, 128, device="cuda", dtype=torch.uint8)
    v_out = torch.zeros(slots, 8, 128, device="cuda", dtype=torch.uint8)
    ks, vs = torch.tensor([0.5], device="cuda"), torch.tensor([0.75], device="cuda")
    loc = torch.randperm(slots, device="cuda")[:64]
    OP(k, v, k_out, v_out, ks, vs, loc)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(k, v, k_out, v_out, ks, vs, loc)
    loc.copy_(torch.randperm(slots, device="cuda")[:64])
    k.copy_(rand((64, 8, 128), torch.bfloat16))
    v.copy_(rand((64, 8, 128), torch.bfloat16))
    ks.fill_(0.125)  # the scales are read at run time, not baked into the graph
    k_before, v_before = k_out.clone(), v_out.clone()
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(k_out, expected(k_before, k, ks, loc, 1, 0))
    assert torch.equal(v_out, expected(v_before, v, vs, loc, 1, 0))
