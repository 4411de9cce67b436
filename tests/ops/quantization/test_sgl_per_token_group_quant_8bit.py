"""sgl_per_token_group_quant_8bit: sgl-kernel's unified per-token-group quantizer.

The shared per-token-group tests (group_quant_cases.py) run on it twice, with an e4m3 and an int8 output_q
(its dtype picks the 8-bit type): every dtype / group size / scale layout, v1 and v2, bit for bit. Below, what
only this op has:

* fuse_silu_and_mul: input [..., 2H] = [gate | up], quantized value v = T(T(silu(gate)) * up), silu as
  sgl-kernel's sm_90 fast-math build computes it: MUL(g, RCP(1 + EX2(MUL(g, -fl32(log2 e))))) (sgl_math);
  the product of two 16-bit values is exact in fp32, so T(float product) is the 16-bit multiply's result.
* masked_m: input [E, M, H or 2H]; rows t >= masked_m[e] of output_q and output_s are left as they were.
* int32 output_s: UE8M0 scales packed four to a word (byte j % 4 of word j // 4 = the exponent byte of group
  j's power-of-two scale), unused bytes of a row's last word zeroed, padding rows untouched.
* sgl-kernel's signature (literal below, from sgl-kernel's python/sgl_kernel/gemm.py) and the wrapper's choices.
"""

from __future__ import annotations

import inspect
import math

import kernelkit_ops
import pytest
import torch
from group_quant_cases import EPS, V2_GROUP_SIZES, GroupQuantTests, _CaptureOp, group_scale, make_scales, reference
from quant_reference import absmax, clamp_max_first, pow2_ceil
from sgl_math import C127, ex2_approx, f32, mul_ftz, rcp_approx
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "sgl_per_token_group_quant_8bit"
fn = kernelkit_ops.sgl_per_token_group_quant_8bit
torch_op = torch.ops.kernelkit.sgl_per_token_group_quant_8bit.default
LOG2E = f32(math.log2(math.e))
LIMITS = {torch.float8_e4m3fn: (-448.0, 448.0), torch.int8: (-128.0, 127.0)}
Q_DTYPES = [torch.float8_e4m3fn, torch.int8]
# sgl-kernel's signature, sgl-project/sglang sgl-kernel/python/sgl_kernel/gemm.py (0.3.21 and 0.4.10 alike):
SGL_SIGNATURE = [
    ("input", inspect.Parameter.empty),
    ("output_q", inspect.Parameter.empty),
    ("output_s", inspect.Parameter.empty),
    ("group_size", inspect.Parameter.empty),
    ("eps", inspect.Parameter.empty),
    ("fp8_min", inspect.Parameter.empty),
    ("fp8_max", inspect.Parameter.empty),
    ("scale_ue8m0", False),
    ("fuse_silu_and_mul", False),
    ("masked_m", None),
    ("enable_v2", None),
]


class _Unified(GroupQuantTests):
    """The shared tests through this op; the tests written for the fp8/int8 ops' own signatures and schemas
    are replaced by the ones at the bottom of this file."""

    op = OP
    bounds = ("fp8_min", "fp8_max")

    def raw_flags(self, ue8m0=False, v2=False, round_nearest=False, pdl=True) -> tuple:
        return (ue8m0, False, None, v2, round_nearest, pdl)

    test_schema_registered = None
    test_sgl_kernel_signature = None
    test_rejects_bad_input_naming_the_argument = None
    test_the_wrapper_asks_for_the_arithmetic_sgl_kernel_picks = None
    test_resolve_v2_matches_the_wrapper = None
    test_opcheck = None
    test_bench_bytes_model = None  # this op's bench has its own cases (test_bench_cases)


class TestUnifiedFp8(_Unified):
    q_dtype = torch.float8_e4m3fn
    int8 = False
    limits = (-448.0, 448.0)


class TestUnifiedInt8(_Unified):
    q_dtype = torch.int8
    int8 = True
    limits = (-128.0, 127.0)

    @pytest.fixture
    def ue8m0(self):
        return False  # the shared reference has ue8m0 for fp8 only; test_packed_ue8m0 covers int8

    test_ue8m0_scales_are_powers_of_two = None
    test_sgl_kernel_sweep_ue8m0 = None


# ------------------------------------------------------------------------------------ references


def silu_mul(x: torch.Tensor) -> torch.Tensor:
    """T(T(silu(gate)) * up) of x = [gate | up], sgl-kernel v2's fused input, on the GPU."""
    h = x.shape[-1] // 2
    g, u = x[..., :h].float().contiguous(), x[..., h:].float()
    silu = mul_ftz(g, rcp_approx(1.0 + ex2_approx(mul_ftz(g, -LOG2E))))
    return (silu.to(x.dtype).float() * u).to(x.dtype)


def want(x, group_size, q_dtype, ue8m0=False, v2=True, fuse=False):
    """(q, fp32 s) of the call; int8 with ue8m0 (the shared reference has ue8m0 for fp8 only): v2 rounds
    amax * fl32(1/127) up to a power of two, v1 as for fp8 with 127."""
    v = silu_mul(x) if fuse else x
    lo, hi = LIMITS[q_dtype]
    if not (q_dtype == torch.int8 and ue8m0):
        return reference(v, group_size, EPS, lo, hi, int8=q_dtype == torch.int8, ue8m0=ue8m0, v2=v2)
    vg = v.float().unflatten(-1, (v.shape[-1] // group_size, group_size))
    amax = torch.fmax(absmax(vg, dim=-1, keepdim=True), vg.new_tensor(f32(EPS)))
    if v2:
        sc = pow2_ceil(mul_ftz(amax, C127))
        y = torch.reciprocal(sc)
    else:
        sc, y = group_scale(amax, hi, int8=False, ue8m0=True, v2=False)  # v1's ue8m0 with qmax 127
    q = clamp_max_first(mul_ftz(vg, y), f32(lo), f32(hi)).trunc().to(torch.int8)
    return q.flatten(-2), sc.squeeze(-1)


def packed_scales(s: torch.Tensor) -> torch.Tensor:
    """fp32 power-of-two scales [..., G] -> the int32 words [..., ceil(G/4)] of their UE8M0 bytes (zero-padded)."""
    b = (s.contiguous().view(torch.int32) >> 23) & 0xFF
    g = s.shape[-1]
    b = torch.nn.functional.pad(b, (0, (-g) % 4)).to(torch.uint8)
    return b.contiguous().view(torch.int32)


def packed_col_major(lead: tuple[int, ...], groups: int, device="cuda") -> tuple[torch.Tensor, torch.Tensor]:
    """(output_s [*lead, ceil(G/4)] int32 column-major with the token stride padded to 4, its buffer poisoned
    with 0x7F7F7F7F): sglang's layout for DeepGEMM's UE8M0 scales; with two leading dims [E, M], per expert."""
    words = (groups + 3) // 4
    m = lead[-1]
    padded = (m + 3) // 4 * 4
    buf = torch.full((*lead[:-1], words, padded), 0x7F7F7F7F, device=device, dtype=torch.int32)
    return buf.narrow(-1, 0, m).transpose(-1, -2), buf


def poisoned(shape, q_dtype, device="cuda") -> torch.Tensor:
    q = torch.empty(shape, device=device, dtype=q_dtype)
    q.view(torch.uint8).fill_(0x7F)
    return q


def assert_bits_equal(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    bad = a.view(torch.uint8) != b.view(torch.uint8)
    assert not bool(bad.any()), f"{int(bad.sum())} codes differ, first at {torch.nonzero(bad)[:5].tolist()}"


def activations(shape, dtype=torch.bfloat16) -> torch.Tensor:
    """Rows of varied magnitude; gates spread over silu's whole range (large negative to large positive)."""
    x = torch.randn(shape, device="cuda") * torch.exp(torch.randn(*shape[:-1], 1, device="cuda"))
    return (x * 3).to(dtype)


# ---------------------------------------------------------------------------- CPU: schema, signature


def test_schema_registered():
    schema = torch_op._schema
    names = [a.name for a in schema.arguments]
    assert names == [
        "input", "output_q", "output_s", "group_size", "eps", "fp8_min", "fp8_max", "scale_ue8m0",
        "fuse_silu_and_mul", "masked_m", "v2", "round_nearest", "enable_pdl",
    ]  # fmt: skip
    assert str(schema.arguments[9].type) == "Optional[Tensor]"
    written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
    assert written == {"output_q", "output_s"} and schema.returns == []


def test_sgl_kernel_signature():
    """sgl-kernel's eleven parameters in order with its defaults, then enable_pdl and keyword-only extras."""
    params = list(inspect.signature(fn).parameters.values())
    assert [(p.name, p.default) for p in params[:11]] == SGL_SIGNATURE
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:12])
    assert params[11].name == "enable_pdl" and params[11].default is None
    assert [(p.name, p.kind, p.default) for p in params[12:]] == [
        ("round_to_nearest", inspect.Parameter.KEYWORD_ONLY, False)
    ]
    assert OP in kernelkit_ops.__all__ and f"sgl_kernel.{OP}" in fn.__doc__


def cpu_args(q_dtype=torch.float8_e4m3fn, group_size=128, fuse=False, masked=False, packed=False, device="cpu"):
    lead = (2, 4) if masked else (4,)
    h = 512
    x = torch.zeros(*lead, 2 * h if fuse else h, dtype=torch.bfloat16, device=device)
    q = torch.empty(*lead, h, dtype=q_dtype, device=device)
    groups = h // group_size
    s = torch.empty(*lead, (groups + 3) // 4 if packed else groups, dtype=torch.int32 if packed else torch.float32,
                    device=device)  # fmt: skip
    return x, q, s, (torch.zeros(2, dtype=torch.int32, device=device) if masked else None)


def test_the_wrapper_hands_the_op_its_arguments():
    """What reaches the op: the flags as given, v2 where sgl-kernel's v2 takes the call (or as asked), the
    range of output_q's type deciding which calls are full-range."""
    for q_dtype, (lo, hi) in LIMITS.items():
        for fuse, masked, ue8m0, rn in [
            (False, False, False, False),
            (True, True, True, True),
            (True, False, False, False),
        ]:
            x, q, s, m = cpu_args(q_dtype, fuse=fuse, masked=masked)
            with _CaptureOp(OP) as capture:
                fn(x, q, s, 128, EPS, lo, hi, ue8m0, fuse, m, None, False, round_to_nearest=rn)
            (args,) = capture.calls
            assert args[7:9] == (ue8m0, fuse) and (args[9] is None) == (m is None) and args[10:] == (True, rn, False)
        x, q, s, _ = cpu_args(q_dtype)
        for call, v2 in [
            (dict(), True), (dict(enable_v2=False), False), (dict(group_size=8), False), (dict(eps=1e-6), False),
            (dict(hi=hi / 2), False), (dict(dtype=torch.float32), False),
        ]:  # fmt: skip
            xx = x.float() if call.get("dtype") else x
            s8 = torch.empty(4, 512 // call.get("group_size", 128))
            with _CaptureOp(OP) as capture:
                fn(xx, q, s8, call.get("group_size", 128), call.get("eps", EPS), lo, call.get("hi", hi),
                   enable_v2=call.get("enable_v2"), enable_pdl=True)  # fmt: skip
            assert capture.calls[0][10] == v2 and capture.calls[0][12] is True, call


@pytest.mark.parametrize("q_dtype", Q_DTYPES, ids=str)
def test_fake_impl(q_dtype):
    with FakeTensorMode():
        for fuse, masked, packed in [
            (False, False, False),
            (True, False, True),
            (True, True, True),
            (False, True, False),
        ]:
            x, q, s, m = cpu_args(q_dtype, fuse=fuse, masked=masked, packed=packed, device="cuda")
            assert fn(x, q, s, 128, EPS, *LIMITS[q_dtype], packed, fuse, m) is None


def refused(message, *args, **kwargs):
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        fn(*args, **kwargs)


def test_rejects_bad_input_naming_the_argument():
    fp8, i8 = torch.float8_e4m3fn, torch.int8
    x, q, s, _ = cpu_args()
    refused("output_q must be float8_e4m3fn or int8", x, q.view(torch.uint8), s, 128, EPS, -448.0, 448.0)
    refused(r"output_s must be float32 \(scales\) or int32", x, q, s.double(), 128, EPS, -448.0, 448.0)
    xi, qi, si, _ = cpu_args(packed=True)
    refused("an int32 output_s holds UE8M0 scales packed four to a word: it needs scale_ue8m0=True",
            xi, qi, si, 128, EPS, -448.0, 448.0)  # fmt: skip
    refused(r"output_s must have shape \[4, 1\] \(input's leading dims, ceil\(hidden / group_size / 4\) int32 words\)",
            xi, qi, torch.empty(4, 4, dtype=torch.int32), 128, EPS, -448.0, 448.0, True)  # fmt: skip
    refused(r"fp8_max must be in \(0, 127\], got 448", x, torch.empty(4, 512, dtype=i8), s, 128, EPS, -448.0, 448.0)
    refused(r"fp8_min must be in \[-128, fp8_max = 127\]", x, torch.empty(4, 512, dtype=i8), s, 128, EPS, -448.0, 127.0)
    refused(r"group_size must be one of 8, 16, 32, 64, 128, 256, got 96", x, q, s, 96, EPS, -448.0, 448.0)
    refused(r"output_q must have the shape of input \[4, 512\], got \[4, 256\]",
            x, torch.empty(4, 256, dtype=fp8), s, 128, EPS, -448.0, 448.0)  # fmt: skip
    xf, qf, sf, _ = cpu_args(fuse=True)
    refused(r"output_q must have shape \[4, 512\] \(input's, the last dim halved: fuse_silu_and_mul",
            xf, torch.empty(4, 1024, dtype=fp8), sf, 128, EPS, -448.0, 448.0, False, True)  # fmt: skip
    refused(r"half the last dimension of input \(48\) must be a multiple of group_size \(32\)",
            torch.zeros(4, 96, dtype=torch.bfloat16), torch.empty(4, 48, dtype=fp8), torch.empty(4, 1), 32, EPS,
            -448.0, 448.0, False, True)  # fmt: skip
    needs_v2 = r"sgl-kernel's v2 arithmetic is needed for fuse_silu_and_mul \(as in sgl-kernel\)"
    refused(needs_v2, xf, qf, sf, 128, EPS, -448.0, 448.0, False, True, enable_v2=False)
    refused(needs_v2, xf, qf, torch.empty(4, 64), 8, EPS, -448.0, 448.0, False, True)  # v1-only group size
    refused(needs_v2, xf.float(), qf, sf, 128, EPS, -448.0, 448.0, False, True)
    refused(r"sgl-kernel's v2 arithmetic is needed for masked_m", *cpu_args(masked=True)[:3], 128, 1e-6, -448.0,
            448.0, masked_m=torch.zeros(2, dtype=torch.int32))  # fmt: skip
    xm, qm, sm, m = cpu_args(masked=True)
    refused(r"masked_m must have shape \[2\] \(one row count per expert\), got \[3\]",
            xm, qm, sm, 128, EPS, -448.0, 448.0, masked_m=torch.zeros(3, dtype=torch.int32))  # fmt: skip
    refused(r"masked_m must be int32, got int64", xm, qm, sm, 128, EPS, -448.0, 448.0, masked_m=m.long())
    refused(r"with masked_m, input must be 3-D \[experts, tokens, hidden\], got \[4, 512\]",
            x, q, s, 128, EPS, -448.0, 448.0, masked_m=m)  # fmt: skip
    refused(r"output_s of shape \[2, 4, 4\] has negative or overlapping strides",
            xm, qm, torch.empty(4, 4).expand(2, 4, 4), 128, EPS, -448.0, 448.0, masked_m=m)  # fmt: skip
    buf = torch.zeros(4 * 1024 + 8, dtype=torch.bfloat16)
    refused(r"input rows at 16-byte and output_q rows at 8-byte aligned addresses \(a contiguous tensor's\) are "
            r"needed for fuse_silu_and_mul", buf[1 : 1 + 4096].view(4, 1024), qf, sf, 128, EPS, -448.0, 448.0, False,
            True)  # fmt: skip
    for args, kwargs in [
        (cpu_args(fuse=True, packed=True)[:3], dict(scale_ue8m0=True, fuse_silu_and_mul=True)),
        (cpu_args(i8, masked=True, packed=True)[:3],
         dict(scale_ue8m0=True, masked_m=torch.zeros(2, dtype=torch.int32), fp8_min=-128.0, fp8_max=127.0)),
    ]:  # fmt: skip
        kw = dict(fp8_min=-448.0, fp8_max=448.0) | kwargs
        refused("input must be a CUDA tensor", *args, 128, EPS, **kw)  # every other check passed


def test_bench_cases():
    from pathlib import Path

    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert {"kernelkit", "kernelkit_unfused"} <= set(b.impls)
    modes = {dict(c.shape).get("mode") for c in b.cases}
    assert modes == {0, 1, 2}
    case = next(c for c in b.cases if c.tokens == 2048 and dict(c.shape).get("mode") == 1)
    h = case.size("hidden")
    # fused: 2H bf16 read, H bytes of q and H/128 packed bytes written
    assert b.bytes_moved(case) == 2048 * (2 * h * 2 + h + h // 128)


# --------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("q_dtype", Q_DTYPES, ids=str)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("group_size", V2_GROUP_SIZES)
@pytest.mark.parametrize("tokens", [1, 7, 300, 4099])
@pytest.mark.parametrize("layout", ["row", "col", "tma"])
def test_fuse_silu_and_mul(q_dtype, dtype, group_size, tokens, layout):
    """Bit for bit the v2 quantization of T(T(silu(gate)) * up), fp32 scales in every layout."""
    h = 2048
    x = activations((tokens, 2 * h), dtype)
    q = poisoned((tokens, h), q_dtype)
    s, s_buf = make_scales((tokens,), h // group_size, layout)
    lo, hi = LIMITS[q_dtype]
    assert fn(x, q, s, group_size, EPS, lo, hi, False, True) is None
    want_q, want_s = want(x, group_size, q_dtype, fuse=True)
    assert_bits_equal(q, want_q)
    assert torch.equal(s, want_s)
    if layout == "tma":
        assert bool(s_buf[:, tokens:].isnan().all())


@pytest.mark.gpu
def test_fused_value_is_rounded_before_the_quantization():
    """The quantized value is the 16-bit product (sgl-kernel's v2), not the fp32 silu(g) * u: the two
    references disagree on such data and the op follows the rounded one."""
    x = activations((512, 2 * 2048))
    q = poisoned((512, 2048), torch.float8_e4m3fn)
    s = torch.empty(512, 16, device="cuda")
    fn(x, q, s, 128, EPS, -448.0, 448.0, False, True)
    h = 2048
    g, u = x[:, :h].float(), x[:, h:].float()
    unrounded = g * torch.sigmoid(g) * u
    q_unrounded, _ = reference(unrounded, 128, EPS, -448.0, 448.0, int8=False, v2=True)
    assert not torch.equal(q.view(torch.uint8), q_unrounded.view(torch.uint8))
    assert_bits_equal(q, want(x, 128, torch.float8_e4m3fn, fuse=True)[0])


@pytest.mark.gpu
@pytest.mark.parametrize("q_dtype", Q_DTYPES, ids=str)
@pytest.mark.parametrize("enable_v2", [True, False])
@pytest.mark.parametrize("tokens, hidden, group_size", [(1, 512, 128), (127, 2048, 128), (300, 1664, 128),
                                                        (33, 256, 16), (4099, 7168, 128), (5, 64, 8)])  # fmt: skip
def test_packed_ue8m0(q_dtype, enable_v2, tokens, hidden, group_size):
    """int32 output_s: the exponent bytes of the ue8m0 scales, four to a word, zero-padded; padding rows of the
    TMA-aligned buffer untouched (G = 13 at hidden 1664: a partial last word)."""
    if enable_v2 and group_size not in V2_GROUP_SIZES:
        pytest.skip("v2 has no kernel for this group size")
    x = activations((tokens, hidden))
    q = poisoned((tokens, hidden), q_dtype)
    groups = hidden // group_size
    s, buf = packed_col_major((tokens,), groups)
    lo, hi = LIMITS[q_dtype]
    fn(x, q, s, group_size, EPS, lo, hi, True, enable_v2=enable_v2)
    want_q, want_s = want(x, group_size, q_dtype, ue8m0=True, v2=enable_v2)
    assert_bits_equal(q, want_q)
    assert torch.equal(s, packed_scales(want_s))
    assert bool((buf[..., tokens:] == 0x7F7F7F7F).all()), "wrote into the padding rows"
    # the same scales as fp32 powers of two
    s32 = torch.full((tokens, groups), float("nan"), device="cuda")
    fn(x, q, s32, group_size, EPS, lo, hi, True, enable_v2=enable_v2)
    assert torch.equal(s32, want_s)


@pytest.mark.gpu
@pytest.mark.parametrize("q_dtype", Q_DTYPES, ids=str)
@pytest.mark.parametrize("fuse", [True, False])
@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("experts, m, hidden", [(4, 64, 2048), (8, 129, 512), (3, 1, 256), (32, 768, 2048)])
def test_masked_layout(q_dtype, fuse, packed, experts, m, hidden):
    """Expert e's rows t < masked_m[e] (counts 0, M, above M and random) quantized bit for bit; the other rows
    of output_q and output_s keep their poison; scales at e * stride(0) + t * stride(1) (+ group stride)."""
    group_size = 128 if hidden % 128 == 0 else 64
    x = activations((experts, m, 2 * hidden if fuse else hidden))
    counts = torch.randint(0, m + 1, (experts,), device="cuda", dtype=torch.int32)
    counts[0] = 0
    counts[-1] = m + 5  # more than M: all M rows
    if experts > 2:
        counts[1] = m
    q = poisoned((experts, m, hidden), q_dtype)
    groups = hidden // group_size
    if packed:
        s, _ = packed_col_major((experts, m), groups)
    else:
        s = torch.full((experts, groups, m + 3), float("nan"), device="cuda").narrow(-1, 0, m).transpose(1, 2)
    lo, hi = LIMITS[q_dtype]
    fn(x, q, s, group_size, EPS, lo, hi, packed, fuse, counts)
    want_q, want_s = want(x, group_size, q_dtype, ue8m0=packed, fuse=fuse)
    if packed:
        want_s = packed_scales(want_s)
    for e in range(experts):
        n = min(int(counts[e]), m)
        assert_bits_equal(q[e, :n], want_q[e, :n])
        assert torch.equal(s[e, :n], want_s[e, :n])
        assert bool((q[e, n:].view(torch.uint8) == 0x7F).all()), f"expert {e}: wrote past masked_m"
        rest = s[e, n:]
        assert bool((rest == 0x7F7F7F7F).all() if packed else rest.isnan().all()), f"expert {e}: scales past masked_m"


@pytest.mark.gpu
@pytest.mark.parametrize("tokens", [1, 4, 32, 512, 2048, 6144])
def test_sgl_kernel_upstream_fused_config(tokens):
    """sgl-kernel's own fused configurations (test_per_token_group_quant_8bit.py): hidden 2048, group 128, e4m3,
    column-major TMA-aligned packed ue8m0 scales, plain and masked over 8 experts."""
    x = activations((tokens, 2 * 2048))
    q = poisoned((tokens, 2048), torch.float8_e4m3fn)
    s, _ = packed_col_major((tokens,), 16)
    fn(x, q, s, 128, 1e-10, -448.0, 448.0, scale_ue8m0=True, fuse_silu_and_mul=True)
    want_q, want_s = want(x, 128, torch.float8_e4m3fn, ue8m0=True, fuse=True)
    assert_bits_equal(q, want_q)
    assert torch.equal(s, packed_scales(want_s))
    m = max(tokens // 8, 1) * 2
    xm = activations((8, m, 2 * 2048))
    counts = torch.randint(0, m + 1, (8,), device="cuda", dtype=torch.int32)
    qm = poisoned((8, m, 2048), torch.float8_e4m3fn)
    sm, _ = packed_col_major((8, m), 16)
    fn(xm, qm, sm, 128, 1e-10, -448.0, 448.0, True, True, counts)
    want_q, want_s = want(xm, 128, torch.float8_e4m3fn, ue8m0=True, fuse=True)
    want_s = packed_scales(want_s)
    for e in range(8):
        n = int(counts[e])
        assert_bits_equal(qm[e, :n], want_q[e, :n])
        assert torch.equal(sm[e, :n], want_s[e, :n])


@pytest.mark.gpu
def test_aliases_agree():
    """The fp8 and int8 ops and this one give the same bits for the same call (one kernel)."""
    x = activations((300, 4096))
    for q_dtype, other in ((torch.float8_e4m3fn, "sgl_per_token_group_quant_fp8"), (torch.int8,
                           "sgl_per_token_group_quant_int8")):  # fmt: skip
        lo, hi = LIMITS[q_dtype]
        for enable_v2 in (None, False):
            q1, q2 = poisoned(x.shape, q_dtype), poisoned(x.shape, q_dtype)
            s1, s2 = torch.empty(300, 32, device="cuda"), torch.empty(300, 32, device="cuda")
            fn(x, q1, s1, 128, EPS, lo, hi, enable_v2=enable_v2)
            getattr(kernelkit_ops, other)(x, q2, s2, 128, EPS, lo, hi, enable_v2=enable_v2)
            assert_bits_equal(q1, q2)
            assert torch.equal(s1, s2)


@pytest.mark.gpu
def test_opcheck():
    utils = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    x = activations((16, 1024))
    counts = torch.tensor([3, 16], device="cuda", dtype=torch.int32)
    for q_dtype in Q_DTYPES:
        lo, hi = LIMITS[q_dtype]
        q = torch.empty(16, 512, device="cuda", dtype=q_dtype)
        s_packed, _ = packed_col_major((16,), 4)
        torch.library.opcheck(torch_op, (x, q, s_packed, 128, EPS, lo, hi, True, True, None, True, False, True),
                              test_utils=utils)  # fmt: skip
        xm, qm = x.view(2, 8, 1024), q.view(2, 8, 512)
        sm = torch.empty(2, 8, 4, device="cuda")
        torch.library.opcheck(torch_op, (xm, qm, sm, 128, EPS, lo, hi, False, True, counts, True, False, False),
                              test_utils=utils)  # fmt: skip
        s = torch.empty(16, 8, device="cuda")
        q_plain = torch.empty(16, 1024, device="cuda", dtype=q_dtype)
        torch.library.opcheck(torch_op, (x, q_plain, s, 128, EPS, lo, hi, False, False, None, False, True, True),
                              test_utils=utils)  # fmt: skip


@pytest.mark.gpu
def test_torch_compile_fullgraph_fused_masked():
    counts = torch.tensor([5, 0, 9], device="cuda", dtype=torch.int32)

    @torch.compile(fullgraph=True)
    def quantize(x, masked_m):
        q = torch.zeros(*x.shape[:-1], x.shape[-1] // 2, device=x.device, dtype=torch.float8_e4m3fn)
        s = torch.zeros(*x.shape[:-1], 1, device=x.device, dtype=torch.int32)
        fn(x, q, s, 128, EPS, -448.0, 448.0, True, True, masked_m)
        return q, s

    x = activations((3, 9, 1024))
    q, s = quantize(x, counts)
    want_q, want_s = want(x, 128, torch.float8_e4m3fn, ue8m0=True, fuse=True)
    want_s = packed_scales(want_s)
    for e, n in enumerate((5, 0, 9)):
        assert_bits_equal(q[e, :n], want_q[e, :n])
        assert torch.equal(s[e, :n], want_s[e, :n])
        assert bool((q[e, n:].float() == 0).all() and (s[e, n:] == 0).all())


@pytest.mark.gpu
def test_binding_rejects_a_tensor_on_another_device():
    x = activations((4, 1024))
    q = torch.empty(4, 512, device="cuda", dtype=torch.float8_e4m3fn)
    s = torch.empty(4, 4, device="cuda")
    with pytest.raises(RuntimeError, match=rf"{OP}: masked_m must be a CUDA tensor"):
        fn(x.view(2, 2, 1024), q.view(2, 2, 512), s.view(2, 2, 4), 128, EPS, -448.0, 448.0, False, True,
           torch.tensor([1, 2], dtype=torch.int32))  # fmt: skip
