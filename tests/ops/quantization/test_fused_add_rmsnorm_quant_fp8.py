"""Tests of `fused_add_rmsnorm_quant_fp8`: sgl-kernel's call (`output_q, output_s = f(input, residual, weight,
eps=1e-6)`) and arithmetic by default; with `match_unfused=True` a bit-exact drop-in for `fused_add_rmsnorm`
followed by `sgl_per_token_quant_fp8`.

Default (sgl-kernel's fused kernel): y = (f * rsqrt(mean(f^2) + eps)) * w in fp32 from the fp32 sum f, never
rounded; s = MUL(absmax(y), fl32(1/448)); inv = RCP(s), 0 for a zero row; q = e4m3(clamp_min_first(MUL(y, inv))).
The rms is fused_add_rmsnorm's (its summation order), so for fp32 input y is bit for bit fused_add_rmsnorm's
output and the whole result is checked bit for bit (test_sgl_arithmetic_fp32); for 16-bit input the test pins
the residual bit for bit, s within 1e-5 of an fp64 rms, and every q to the e4m3 of the fp64 value within 1e-5
relative (so only a value at a rounding boundary may take either neighbour).

match_unfused=True: the reference is the pair itself, built from our own ops on copies:
`kernelkit_ops.fused_add_rmsnorm` gives y (and the residual), fp8_quant_cases.per_token_reference quantizes y
with sgl-kernel's per-token arithmetic (s = absmax(y) * fl32(1/448), q = e4m3(clamp(y * rcp(s))), the zero-row
rule of the same row count), and test_matches_the_ops_pair checks it against the two ops themselves.
The fused kernel mirrors fused_add_rmsnorm's kernels (same thread -> element mapping, same fp32
summation order, same block reduction, same launch shape; see rmsnorm_quant.cuh), so y -- and with it
q and s -- must come out identical, not just close: the shapes below cover every launch shape
(few rows / many rows, 1, 2 and 4 vectors per thread, the two-pass kernel, the scalar path). If the two
ever diverge (e.g. rmsnorm.cuh's launch heuristics change and rmsnorm_quant.cuh is not changed with
them), this test fails on large shapes: 1 bf16 ulp of y flips for ~1 element in 2^16.

CPU (CI): schema, signature, fake impl under FakeTensorMode, the binding's checks (the op takes CPU
tensors, checks them and refuses them by name), bench model.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from fp8_quant_cases import (
    FP8_448_BYTE,
    FP8_NAN_BYTE,
    ZERO_ROW_GUARD_ROWS_PER_SM,
    per_token_reference,
    poisoned_q,
    poisoned_scales,
    sm_count,
)
from quant_reference import FP8, FP8_MAX, absmax, assert_fp8_equal, clamp_min_first
from sgl_math import C448, mul_ftz, rcp_approx
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "fused_add_rmsnorm_quant_fp8"
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
fused = kernelkit_ops.fused_add_rmsnorm_quant_fp8
torch_op = torch.ops.kernelkit.fused_add_rmsnorm_quant_fp8.default
# opcheck without its "test_schema" util: that one compares every argument before and after the call with
# torch.allclose, which has no float8 kernel (pytorch/pytorch#135998, #115757). What it would prove --
# the schema declares exactly the arguments the op writes -- test_schema_registered checks on the schema
# and the numerics tests check on the data (input and weight come back unchanged, poisoned outputs are
# fully overwritten).
OPCHECK_UTILS = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")

# rmsnorm_cases.SHAPES (1 vector per thread, odd hidden -> scalar path, H = 1, 0 tokens, two-pass rows,
# > 2^14 tokens, 3-D) plus many-rows shapes (T >= 264 on an H100): 2 and 4 vectors per thread, and
# rows of 513..1024 vectors, where this op's threads each stand for two of fused_add_rmsnorm's (5120, 7168,
# 8192, fp32 4096) or, when the thread count does not halve into whole warps, do not (4352: 288 threads);
# bf16's two vectors x <= 256 threads have their own register budget (4096); 2048 is that shape in fp32.
SHAPES = [
    (1, 4096), (7, 2048), (128, 5120), (33, 7168), (2, 8192), (5, 4100), (3, 1), (0, 4096),
    (4, 40000), (16385, 4096), (2, 3, 1024), (300, 4096), (2048, 7168), (1000, 8192), (400, 5120), (300, 4352),
    (300, 2048),
]  # fmt: skip


def make(shape, dtype, device="cuda", scale_shape="T1"):
    x = torch.randn(*shape, device=device, dtype=dtype) * 2
    r = torch.randn(*shape, device=device, dtype=dtype)
    w = torch.randn(shape[-1], device=device, dtype=dtype)
    rows = tuple(shape[:-1])
    return x, r, w, poisoned_q(shape, device), poisoned_scales(rows + (1,) if scale_shape == "T1" else rows, device)


def pair_mode(x, r, w, q, s, eps=1e-6, enable_pdl=False):
    """The op with match_unfused=True into q and s (the out-argument form)."""
    return fused(x, r, w, eps, enable_pdl, output_q=q, output_s=s, match_unfused=True)


def sgl_epilogue(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sgl-kernel's fused quantization of fp32 y: (q, s [..., 1]); a zero row gets inv = 0, hence q = 0."""
    s = mul_ftz(absmax(y, dim=-1, keepdim=True), C448)
    inv = rcp_approx(s)
    inv = torch.where(s == 0, torch.zeros_like(inv), inv)
    return clamp_min_first(mul_ftz(y.float(), inv)).to(FP8), s


def assert_q_near(q: torch.Tensor, v: torch.Tensor, rel: float = 1e-5) -> None:
    """Every q is the e4m3 of v (float64, already divided by the scale) moved by at most rel: the value an
    arithmetic a few ulps from the reference's may round to."""
    lo = clamp_min_first((v * (1 - rel)).float()).to(FP8).view(torch.uint8)
    hi = clamp_min_first((v * (1 + rel)).float()).to(FP8).view(torch.uint8)
    got = q.view(torch.uint8)
    bad = (got != lo) & (got != hi)
    assert not bool(bad.any()), f"{int(bad.sum())} q values off: {torch.nonzero(bad)[:5].tolist()}"


def unfused_pair(x, r, w, eps=1e-6, enable_pdl=False):
    """(residual, q, s) from fused_add_rmsnorm + the per-token rule, on copies."""
    y, res = x.clone(), r.clone()
    kernelkit_ops.fused_add_rmsnorm(y, res, w, eps, enable_pdl=enable_pdl)
    q, s = per_token_reference(y)
    return res, q, s


def run_and_check(x, r, w, q, s, eps=1e-6, enable_pdl=False):
    x0 = x.clone()
    res_ref, q_ref, s_ref = unfused_pair(x, r, w, eps, enable_pdl)
    got_q, got_s = pair_mode(x, r, w, q, s, eps, enable_pdl)
    assert got_q is q and got_s is s
    assert torch.equal(x, x0), "input was modified"
    assert torch.equal(r, res_ref), "residual differs from fused_add_rmsnorm's"
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s_ref.reshape(s.shape)), "scales differ"


# ---------------------------------------------------------------------- CPU: schema, signature, checks


def test_schema_registered():
    schema = torch_op._schema
    assert [a.name for a in schema.arguments] == [
        "input",
        "residual",
        "weight",
        "output_q",
        "output_s",
        "eps",
        "match_unfused",
        "enable_pdl",
    ]
    writes = [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments]
    assert writes == [False, True, False, True, True, False, False, False]


def test_signature():
    """sgl-kernel's (input, residual, weight, eps=1e-6, enable_pdl=None), then keyword-only extras."""
    params = inspect.signature(fused).parameters
    positional = ["input", "residual", "weight", "eps", "enable_pdl"]
    assert list(params) == positional + ["output_q", "output_s", "match_unfused"]
    assert all(params[n].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for n in positional)
    assert all(params[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("output_q", "output_s", "match_unfused"))
    assert params["eps"].default == 1e-6 and params["enable_pdl"].default is None
    assert params["output_q"].default is None and params["output_s"].default is None
    assert params["match_unfused"].default is False
    assert OP in kernelkit_ops.__all__
    assert "fused_add_rmsnorm" in fused.__doc__ and "sgl_per_token_quant_fp8" in fused.__doc__


def test_the_wrapper_allocates_as_sgl_kernel():
    """Returns (output_q, output_s): e4m3 of input's shape and fp32 [T, 1], fresh unless passed."""
    with FakeTensorMode():
        x, r, w, q, s = make((5, 64), torch.bfloat16)
        got_q, got_s = fused(x, r, w)
        assert got_q.shape == (5, 64) and got_q.dtype == torch.float8_e4m3fn
        assert got_s.shape == (5, 1) and got_s.dtype == torch.float32
        got_q, got_s = fused(x, r, w, 1e-5, False, output_q=q, output_s=s)
        assert got_q is q and got_s is s


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("scale_shape", ["T1", "T"])
def test_fake_impl(dtype, scale_shape):
    with FakeTensorMode():
        x, r, w, q, s = make((3, 5, 64), dtype, scale_shape=scale_shape)
        for match_unfused in (False, True):
            got_q, got_s = fused(x, r, w, output_q=q, output_s=s, match_unfused=match_unfused)
            assert got_q is q and got_s is s
        got_q, got_s = fused(x, r, w)
        assert got_q.shape == x.shape and got_s.shape == (3, 5, 1)


def test_rejects_cpu_tensor():
    x, r, w, q, s = make((4, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        fused(x, r, w)
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        pair_mode(x, r, w, q, s)
    x, r, w, q, s = make((0, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        fused(x, r, w, output_q=q, output_s=s)  # an empty input is checked before it returns


BAD_INPUTS = [
    (lambda x, r, w, q, s: (x, r, w.half(), q, s), "weight must have the dtype of input"),
    (lambda x, r, w, q, s: (x, r, torch.empty(8, dtype=w.dtype), q, s), r"weight must have shape \[16\]"),
    (lambda x, r, w, q, s: (x, r.float(), w, q, s), "residual must have the dtype of input"),
    (
        lambda x, r, w, q, s: (x, torch.empty(2, 16, dtype=r.dtype), w, q, s),
        r"residual must have the shape of input \[4, 16\]",
    ),
    (lambda x, r, w, q, s: (x, r, w, x.clone(), s), "output_q must be float8_e4m3fn, got bfloat16"),
    (lambda x, r, w, q, s: (x, r, w, poisoned_q((4, 8), "cpu"), s), r"output_q must have the shape of input \[4, 16\]"),
    (lambda x, r, w, q, s: (x, r, w, q, s.double()), "output_s must be float32, got float64"),
    (lambda x, r, w, q, s: (x, r, w, q, poisoned_scales((1, 4), "cpu")), r"output_s must have shape \[4, 1\] or \[4\]"),
    (lambda x, r, w, q, s: (x.int(), r, w, q, s), "input must be bfloat16, float16 or float32, got int32"),
    (
        lambda x, r, w, q, s: (torch.empty(16, 4, dtype=x.dtype).t(), r, w, q, s),
        "input must be contiguous in its last dimension",
    ),
]


@pytest.mark.parametrize("mutate, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_rejects_bad_input(mutate, message):
    x, r, w, q, s = mutate(*make((4, 16), torch.bfloat16, device="cpu"))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        fused(x, r, w, enable_pdl=False, output_q=q, output_s=s)


def test_rejects_negative_eps():
    x, r, w, q, s = make((4, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: eps must be >= 0"):
        fused(x, r, w, -1.0, False, output_q=q, output_s=s)
    with pytest.raises(RuntimeError, match=rf"{OP}: eps must be >= 0"):
        fused(x, r, w, eps=-1.0)


def test_bench_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert sorted({c.size("hidden") for c in b.cases}) == [4096, 7168]
    assert sorted({c.tokens for c in b.cases}) == [1, 128, 2048, 16384]
    assert {"kernelkit", "kernelkit_unfused"} <= set(b.impls)
    case = next(c for c in b.cases if c.tokens == 2048 and c.size("hidden") == 4096)
    # input + residual read, residual written (bf16), q written (1 B), weight read, s written
    assert b.bytes_moved(case) == 2048 * 4096 * (3 * 2 + 1) + 4096 * 2 + 2048 * 4


# ------------------------------------------------------------------------------------- GPU: numerics


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_unfused_pair(dtype, shape):
    x, r, w, q, s = make(shape, dtype, scale_shape="T1" if len(shape) % 2 == 0 else "T")
    if x.numel() == 0:
        pair_mode(x, r, w, q, s)
        assert bool(s.isnan().all())
        return
    run_and_check(x, r, w, q, s)


@pytest.mark.gpu
def test_rows_past_the_grid_cap():
    """More rows than the grid's 2^20 CTAs (rmsnorm_detail::row_shape): CTAs loop to a second row and reuse
    their shared scratch, which the row's two block reductions (two barriers, rmsnorm_quant.cuh) must order.
    Hidden 512: 64 threads, two warps to race."""
    x, r, w, q, s = make((2**20 + 3, 512), torch.bfloat16)
    run_and_check(x, r, w, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(7, 4096), (2048, 4096)], ids=str)
def test_close_to_fp32_reference(shape):
    """The pair itself is right: y dequantized (q * s) is within e4m3's rounding of the fp32 math."""
    x, r, w, q, s = make(shape, torch.bfloat16)
    total = x.float() + r.float()
    y32 = total * torch.rsqrt(total.pow(2).mean(-1, keepdim=True) + 1e-6) * w.float()
    pair_mode(x, r, w, q, s)
    torch.testing.assert_close(s, y32.abs().amax(-1, keepdim=True) / FP8_MAX, rtol=1.6e-2, atol=0)
    # e4m3: 3 mantissa bits (half-ulp 2^-4 relative), subnormal spacing 2^-9 (in units of s); bf16 y: 2^-8
    err = (q.float() * s - y32).abs()
    assert bool((err <= y32.abs() * (2**-4 + 2**-7) + s * 2**-9).all())


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    x, r, w, q, s = make((300, 4096), torch.bfloat16)
    run_and_check(x, r, w, q, s, 1e-5, enable_pdl)


@pytest.mark.gpu
def test_row_strided_tensors():
    """Slices of wider buffers (strides multiples of 8: the same 16-byte vectors as the contiguous copies
    the pair runs on, hence the same summation order)."""
    buf = torch.randn(37, 4096 + 64, device="cuda", dtype=torch.bfloat16)
    x = buf[:, :4096]
    r = torch.randn(37, 4096 + 128, device="cuda", dtype=torch.bfloat16)[:, 64:4160]
    w = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
    qbuf = poisoned_q((37, 4096 + 16))
    q = qbuf[:, 16:]
    s = poisoned_scales((37,))
    untouched = buf[:, 4096:].clone()
    run_and_check(x, r, w, q, s)
    assert torch.equal(buf[:, 4096:], untouched), "wrote outside input's rows"
    assert bool((qbuf[:, :16].view(torch.uint8) == FP8_NAN_BYTE).all()), "wrote outside output_q's rows"


@pytest.mark.gpu
def test_unaligned_output_q():
    x, r, w, _, s = make((300, 4096), torch.bfloat16)
    qbuf = poisoned_q((300 * 4096 + 8,))
    q = qbuf[3 : 3 + 300 * 4096].view(300, 4096)
    run_and_check(x, r, w, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("where", ["below", "at"])
def test_zero_rows(where):
    """input = -residual: the sum, hence y, is exactly +-0 -> s = 0, and q = +448 (0 * RCP(0) = NaN) with
    fewer than 16 rows per SM, +-0 from there on: what sgl_per_token_quant_fp8 gives for the same rows."""
    rows = 5 if where == "below" else ZERO_ROW_GUARD_ROWS_PER_SM * sm_count()
    x, r, w, q, s = make((rows, 4096), torch.bfloat16)
    x[2] = -r[2]
    run_and_check(x, r, w, q, s)
    assert s[2, 0] == 0
    if where == "below":
        assert bool((q[2].view(torch.uint8) == FP8_448_BYTE).all())
    else:
        assert bool((q[2].float() == 0).all())


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rows", [7, 300, "guard-1", "guard"])
def test_matches_the_ops_pair(dtype, rows):
    """Against the two ops themselves (fused_add_rmsnorm, then sgl_per_token_quant_fp8 on its output), zero
    and NaN rows included, on both sides of sgl-kernel's many-rows switch."""
    guard = ZERO_ROW_GUARD_ROWS_PER_SM * sm_count()
    rows = {"guard-1": guard - 1, "guard": guard}.get(rows, rows)
    x, r, w, q, s = make((rows, 2048), dtype)
    x[1] = -r[1]  # a zero row
    x[3, 5] = float("nan")  # a NaN row (y all NaN: absmax 0, s = 0)
    y, res = x.clone(), r.clone()
    kernelkit_ops.fused_add_rmsnorm(y, res, w, 1e-6, enable_pdl=False)
    q_pair, s_pair = poisoned_q(y.shape), poisoned_scales((rows, 1))
    kernelkit_ops.sgl_per_token_quant_fp8(y, q_pair, s_pair, enable_pdl=False)
    pair_mode(x, r, w, q, s, 1e-6)
    assert torch.equal(r.view(torch.uint8), res.view(torch.uint8))  # bits: row 3 holds a NaN
    assert torch.equal(q.view(torch.uint8), q_pair.view(torch.uint8))
    assert torch.equal(s, s_pair)


@pytest.mark.gpu
def test_runs_on_current_stream():
    x, r, w, q, s = make((512, 4096), torch.bfloat16)
    res_ref, q_ref, s_ref = unfused_pair(x, r, w)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        pair_mode(x, r, w, q, s)
    stream.synchronize()
    assert torch.equal(r, res_ref)
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s_ref)


@pytest.mark.gpu
def test_opcheck():
    x, r, w, q, s = make((16, 256), torch.bfloat16)
    for match_unfused in (False, True):
        for pdl in (False, True):
            torch.library.opcheck(torch_op, (x, r, w, q, s, 1e-6, match_unfused, pdl), test_utils=OPCHECK_UTILS)


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x, r, w, q, s = make((8, 512), torch.bfloat16)
    res_ref, q_ref, s_ref = unfused_pair(x, r, w)

    @torch.compile(fullgraph=True)
    def fn(a, b, c, d, e):
        pair_mode(a, b, c, d, e)
        return e * 2

    got = fn(x, r, w, q, s)
    assert torch.equal(got, s_ref * 2)
    assert torch.equal(r, res_ref)
    assert_fp8_equal(q, q_ref)


@pytest.mark.gpu
def test_torch_compile_fullgraph_sgl_form():
    """sgl-kernel's call (outputs allocated and returned) traced whole."""
    x, r, w, _, _ = make((8, 512), torch.float32)
    r_eager = r.clone()
    q_eager, s_eager = fused(x, r_eager, w)

    @torch.compile(fullgraph=True)
    def fn(a, b, c):
        q, s = fused(a, b, c, eps=1e-6)
        return q, s * 2

    q, s2 = fn(x, r, w)
    assert torch.equal(r, r_eager)
    assert_fp8_equal(q, q_eager)
    assert torch.equal(s2, s_eager * 2)


@pytest.mark.gpu
def test_binding_rejects_a_tensor_on_another_device():
    x, r, w, q, s = make((4, 16), torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_q must be a CUDA tensor"):
        fused(x, r, w, output_q=q.cpu(), output_s=s)


@pytest.mark.gpu
def test_binding_rejects_bad_input():
    x, r, w, q, s = make((4, 16), torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: weight must have shape \[16\]"):
        torch_op(x, r, w[:8], q, s, 1e-6, False, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_q must be float8_e4m3fn, got bfloat16"):
        torch_op(x, r, w, x.clone(), s, 1e-6, False, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must have shape \[4, 1\] or \[4\]"):
        torch_op(x, r, w, q, torch.empty(8, device="cuda"), 1e-6, False, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: eps must be >= 0"):
        torch_op(x, r, w, q, s, -1.0, True, False)


# ------------------------------------------------------------- GPU: sgl-kernel's arithmetic (the default)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sgl_arithmetic_fp32(shape):
    """fp32 input: y is fused_add_rmsnorm's fp32 output (same rms, no rounding to do), so q and s are sgl-kernel's
    epilogue of it, bit for bit, at every launch shape; residual is the sum; input untouched."""
    x, r, w, q, s = make(shape, torch.float32, scale_shape="T1" if len(shape) % 2 == 0 else "T")
    x0 = x.clone()
    y, res = x.clone(), r.clone()
    kernelkit_ops.fused_add_rmsnorm(y, res, w, 1e-6, enable_pdl=False)
    got_q, got_s = fused(x, r, w, 1e-6, False, output_q=q, output_s=s)
    assert got_q is q and got_s is s
    assert torch.equal(x, x0), "input was modified"
    assert torch.equal(r, res)
    if x.numel() == 0:
        assert bool(s.isnan().all())
        return
    q_ref, s_ref = sgl_epilogue(y)
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s_ref.reshape(s.shape))


def fp64_reference(x, r, w, eps=1e-6):
    """(residual, y) of sgl-kernel's fused op in float64 (y unrounded)."""
    f = x.double() + r.double()
    return (x.float() + r.float()).to(x.dtype), f * torch.rsqrt(f.pow(2).mean(-1, keepdim=True) + eps) * w.double()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sgl_arithmetic_16bit(dtype, shape):
    """16-bit input, sgl-kernel's call: y is not rounded to the input dtype before the quantization, so the
    scale is absmax(y_fp64) / 448 within 1e-5 and every q the e4m3 of y / s within 1e-5 (module docstring)."""
    x, r, w, _, _ = make(shape, dtype)
    x0 = x.clone()
    res_ref, y = fp64_reference(x, r, w)
    q, s = fused(x, r, w)
    assert torch.equal(x, x0), "input was modified"
    assert torch.equal(r, res_ref)
    assert q.shape == x.shape and s.shape == (*x.shape[:-1], 1)
    if x.numel() == 0:
        return
    s_ref = y.abs().amax(-1, keepdim=True) / FP8_MAX
    torch.testing.assert_close(s.double(), s_ref, rtol=1e-5, atol=0)
    assert_q_near(q, y / s_ref)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(7, 4096), (2048, 4096), (3, 16384)], ids=str)
def test_sgl_arithmetic_differs_from_the_pair_only_by_rounding_y(shape):
    """sgl-kernel's numbers and the pair's differ (y rounded to bf16 or not) but both dequantize to y."""
    x, r, w, _, _ = make(shape, torch.bfloat16)
    _, y = fp64_reference(x, r, w)  # before the calls: they update r in place
    r_pair = r.clone()
    q, s = fused(x, r, w)
    q_pair, s_pair = fused(x, r_pair, w, match_unfused=True)
    assert torch.equal(r, r_pair)
    assert not torch.equal(s, s_pair)
    for qq, ss in ((q, s), (q_pair, s_pair)):
        err = (qq.double() * ss.double() - y).abs()
        assert bool((err <= y.abs() * (2**-4 + 2**-7) + ss.double() * 2**-9).all())


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [5, "guard"])
@pytest.mark.parametrize("hidden", [4096, 16384])
def test_sgl_zero_rows(rows, hidden):
    """An all-zero row (input = -residual): s = 0 and q = 0 at any row count (sgl-kernel's fused kernel takes
    scale_inv = 0 there), in the register and the two-pass kernels; the residual row is +-0."""
    rows = ZERO_ROW_GUARD_ROWS_PER_SM * sm_count() if rows == "guard" else rows
    x, r, w, _, _ = make((rows, hidden), torch.bfloat16)
    x[2] = -r[2]
    q, s = fused(x, r, w)
    assert s[2, 0] == 0 and bool((q[2].float() == 0).all())
    assert bool((r[2].float() == 0).all())
    assert bool((s[:2] > 0).all())


@pytest.mark.gpu
@pytest.mark.parametrize("hidden", [4096, 8192])
def test_sgl_kernel_upstream_facts(hidden):
    """What sgl-kernel's own test of this op establishes: input read-only; zero input leaves the residual
    as it was, whose norm is quantized; tuple of (e4m3 [T, H], fp32 [T, 1]); dequantized output close to the fp32
    reference (cosine > 0.999) and to the pair fused_add_rmsnorm + sgl_per_token_quant_fp8 (> 0.99)."""
    x, r, w, _, _ = make((16, hidden), torch.bfloat16)
    x0, r0 = x.clone(), r.clone()
    q, s = fused(x, r, w, eps=1e-6)
    assert torch.equal(x, x0)
    assert q.dtype == torch.float8_e4m3fn and q.shape == (16, hidden) and s.dtype == torch.float32
    assert s.shape == (16, 1)
    _, y = fp64_reference(x0, r0, w)
    deq = (q.float() * s).flatten()
    assert torch.nn.functional.cosine_similarity(deq, y.float().flatten(), dim=0) > 0.999
    y_pair, r_pair = x0.clone(), r0.clone()
    kernelkit_ops.fused_add_rmsnorm(y_pair, r_pair, w, 1e-6)
    q_pair = poisoned_q(y_pair.shape)
    s_pair = poisoned_scales((16,))
    kernelkit_ops.sgl_per_token_quant_fp8(y_pair, q_pair, s_pair)
    deq_pair = (q_pair.float() * s_pair[:, None]).flatten()
    assert torch.nn.functional.cosine_similarity(deq, deq_pair, dim=0) > 0.99
    torch.testing.assert_close(s, s_pair[:, None], rtol=2e-2, atol=1e-3)
    zero, res = torch.zeros_like(x0), r0.clone()
    _, s_zero = fused(zero, res, w, eps=1e-6)
    assert torch.equal(res, r0)
    _, y_zero = fp64_reference(zero, r0, w)
    torch.testing.assert_close(s_zero.double(), y_zero.abs().amax(-1, keepdim=True) / FP8_MAX, rtol=1e-5, atol=1e-8)
