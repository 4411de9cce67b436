"""sgl-kernel compatibility of sgl_per_token_group_quant_8bit and fused_add_rmsnorm_quant_fp8 (issue 22): what code
written for ``sgl_kernel`` relies on, checked against ``kernelkit_ops``.

Facts (docs/sgl-kernel-contract.md sections 1 and 3), from sgl-project/sglang ``sgl-kernel``:
* ``python/sgl_kernel/gemm.py``: ``sgl_per_token_group_quant_8bit(input, output_q, output_s, group_size, eps,
  fp8_min, fp8_max, scale_ue8m0=False, fuse_silu_and_mul=False, masked_m=None, enable_v2=None) -> None``;
  ``sgl_per_token_group_quant_fp8`` and ``_int8`` are the same function; enable_v2=None picks v2 for group sizes
  16..128 (newest releases); v1 refuses fuse_silu_and_mul and masked_m.
* ``csrc/gemm/per_token_group_quant_8bit_v2.cu``: the fused value is T(T(silu(g)) * u); rows t >= masked_m[e]
  are not written; UE8M0 scales go as exponent bytes into an int32 column-major tensor, group j at byte j % 4
  of word j // 4, the unused bytes of the last word zeroed; the output dtype picks e4m3 or int8.
* ``python/sgl_kernel/elementwise.py`` and ``tests/test_fused_add_rmsnorm_quant_fp8.py`` (the op is in sgl-kernel's
  repository, in no released wheel): ``output_q, output_s = fused_add_rmsnorm_quant_fp8(input, residual, weight,
  eps=1e-6, enable_pdl=None)``; residual updated in place, input read only; output_s float32 [T, 1]; y kept in
  fp32; scale = amax / 448; scale_inv = 0 for a zero row.
The expected signatures are written here as literals taken from upstream. Signature tests run on the CPU;
everything that launches a kernel is marked ``gpu``. Self-contained: the quantizer references of
tests/ops/quantization (sgl-kernel's instructions on the GPU) are put on sys.path here.
"""

from __future__ import annotations

import inspect
import math
import sys
from pathlib import Path

import pytest
import torch

QUANT_REFERENCES = Path(__file__).resolve().parents[1] / "ops" / "quantization"
if str(QUANT_REFERENCES) not in sys.path:
    sys.path.append(str(QUANT_REFERENCES))

import kernelkit_ops as sgl_kernel  # noqa: E402  (the drop-in claim itself)
from quant_reference import absmax, clamp_max_first, clamp_min_first, pow2_ceil  # noqa: E402
from sgl_math import C448, ex2_approx, f32, mul_ftz, rcp_approx  # noqa: E402

REQUIRED = inspect.Parameter.empty
EPS = 1e-10
FP8 = torch.float8_e4m3fn
GROUP_QUANT_8BIT = [
    ("input", REQUIRED), ("output_q", REQUIRED), ("output_s", REQUIRED), ("group_size", REQUIRED), ("eps", REQUIRED),
    ("fp8_min", REQUIRED), ("fp8_max", REQUIRED), ("scale_ue8m0", False), ("fuse_silu_and_mul", False),
    ("masked_m", None), ("enable_v2", None),
]  # fmt: skip
FUSED_ADD_RMSNORM_QUANT_FP8 = [
    ("input", REQUIRED), ("residual", REQUIRED), ("weight", REQUIRED), ("eps", 1e-6), ("enable_pdl", None),
]  # fmt: skip


def head_of_signature(fn, n: int) -> list[tuple[str, object]]:
    params = list(inspect.signature(fn).parameters.values())
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params[:n])
    assert all(p.default is not REQUIRED for p in params[n:]), "an extra argument without a default"
    return [(p.name, p.default) for p in params[:n]]


@pytest.mark.parametrize(
    "name", ["sgl_per_token_group_quant_8bit", "sgl_per_token_group_quant_fp8", "sgl_per_token_group_quant_int8"]
)
def test_group_quant_8bit_signature(name):
    """sgl-kernel's eleven parameters, in order, with its defaults (extras only after them, with defaults)."""
    assert head_of_signature(getattr(sgl_kernel, name), 11) == GROUP_QUANT_8BIT


def test_fused_add_rmsnorm_quant_fp8_signature():
    assert head_of_signature(sgl_kernel.fused_add_rmsnorm_quant_fp8, 5) == FUSED_ADD_RMSNORM_QUANT_FP8


# ----------------------------------------------------------------------------- references (GPU)


def silu_mul(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    g, u = x[..., :h].float().contiguous(), x[..., h:].float()
    silu = mul_ftz(g, rcp_approx(1.0 + ex2_approx(mul_ftz(g, -f32(math.log2(math.e))))))
    return (silu.to(x.dtype).float() * u).to(x.dtype)


def v2_reference(v: torch.Tensor, group_size: int, *, int8: bool, ue8m0: bool):
    """(q, s) of sgl-kernel's v2 kernel on the (already fused) input v, fp32 scales."""
    hi = 127.0 if int8 else 448.0
    vg = v.float().unflatten(-1, (v.shape[-1] // group_size, group_size))
    amax = torch.fmax(absmax(vg, dim=-1, keepdim=True), vg.new_tensor(f32(EPS)))
    if ue8m0:
        s = pow2_ceil(mul_ftz(amax, f32(1 / hi)))
        y = torch.reciprocal(s)
    else:
        s, y = mul_ftz(amax, f32(1 / hi)), mul_ftz(rcp_approx(amax), hi)
    c = clamp_max_first(mul_ftz(vg, y), -128.0 if int8 else -448.0, hi)
    q = c.trunc().to(torch.int8) if int8 else c.to(FP8)
    return q.flatten(-2), s.squeeze(-1)


def ue8m0_words(s: torch.Tensor) -> torch.Tensor:
    b = (s.contiguous().view(torch.int32) >> 23) & 0xFF
    b = torch.nn.functional.pad(b, (0, (-s.shape[-1]) % 4)).to(torch.uint8)
    return b.contiguous().view(torch.int32)


def sglang_packed_scales(lead, groups):
    """The int32 scale tensor sglang builds for DeepGEMM: empty(*batch, ceil(G/4), align(M, 4)).transpose(-1, -2)
    [..., :M, :], poisoned."""
    m = lead[-1]
    buf = torch.full((*lead[:-1], (groups + 3) // 4, (m + 3) // 4 * 4), -1, device="cuda", dtype=torch.int32)
    return buf.transpose(-1, -2)[..., :m, :]


def activations(shape, dtype=torch.bfloat16):
    x = torch.randn(shape, device="cuda") * torch.exp(torch.randn(*shape[:-1], 1, device="cuda"))
    return (3 * x).to(dtype)


def same_bits(a, b) -> bool:
    return a.shape == b.shape and torch.equal(a.view(torch.uint8), b.view(torch.uint8))


# -------------------------------------------------------------------------------- group quant (GPU)


@pytest.mark.gpu
@pytest.mark.parametrize("masked_mode", [None, "balanced", "imbalanced", "extreme"])
@pytest.mark.parametrize("num_tokens", [1, 4, 8, 32, 512, 2048])
def test_fused_silu_and_mul_configs_of_sgl_kernels_test(num_tokens, masked_mode):
    """sgl-kernel's fused configurations: hidden 2048, group 128, e4m3, column-major TMA-aligned packed UE8M0
    scales, plain and masked (8 experts); rows past masked_m are not written."""
    h, g = 2048, 128
    if masked_mode is None:
        x = activations((num_tokens, 2 * h))
        q = torch.zeros(num_tokens, h, device="cuda", dtype=FP8)
        s = sglang_packed_scales((num_tokens,), h // g)
        sgl_kernel.sgl_per_token_group_quant_8bit(x, q, s, g, EPS, -448.0, 448.0, scale_ue8m0=True,
                                                  fuse_silu_and_mul=True)  # fmt: skip
        want_q, want_s = v2_reference(silu_mul(x), g, int8=False, ue8m0=True)
        assert same_bits(q, want_q) and torch.equal(s, ue8m0_words(want_s))
        return
    experts, m = 8, max(num_tokens, 8)
    counts = {
        "balanced": torch.full((experts,), num_tokens // experts, dtype=torch.int32),
        "imbalanced": torch.randint(0, m + 1, (experts,), dtype=torch.int32),
        "extreme": torch.tensor([m] + [0] * (experts - 1), dtype=torch.int32),
    }[masked_mode].cuda()
    x = activations((experts, m, 2 * h))
    q = torch.zeros(experts, m, h, device="cuda", dtype=FP8)
    s = sglang_packed_scales((experts, m), h // g)
    sgl_kernel.sgl_per_token_group_quant_8bit(x, q, s, g, EPS, -448.0, 448.0, True, True, counts)
    want_q, want_s = v2_reference(silu_mul(x), g, int8=False, ue8m0=True)
    want_s = ue8m0_words(want_s)
    for e in range(experts):
        n = int(counts[e])
        assert same_bits(q[e, :n], want_q[e, :n]) and torch.equal(s[e, :n], want_s[e, :n])
        assert bool((q[e, n:].float() == 0).all()) and bool((s[e, n:] == -1).all()), "wrote past masked_m"


@pytest.mark.gpu
@pytest.mark.parametrize("q_dtype", [FP8, torch.int8], ids=str)
@pytest.mark.parametrize("layout", ["row", "col", "tma"])
@pytest.mark.parametrize("hidden", [512, 1536, 7168])
def test_output_dtype_picks_the_8bit_type(q_dtype, layout, hidden):
    """One function for e4m3 and int8 (by output_q's dtype), the fp32 scale layouts sgl-kernel's test passes,
    v2 numbers by default for group 128, bit for bit; the fp8/int8 names give the same bits."""
    t, g = 127, 128
    lo, hi = (-128.0, 127.0) if q_dtype == torch.int8 else (-448.0, 448.0)
    x = activations((t, hidden))
    want_q, want_s = v2_reference(x, g, int8=q_dtype == torch.int8, ue8m0=False)
    for name in ("sgl_per_token_group_quant_8bit", "sgl_per_token_group_quant_fp8", "sgl_per_token_group_quant_int8"):
        q = torch.zeros(t, hidden, device="cuda", dtype=q_dtype)
        if layout == "row":
            s = torch.empty(t, hidden // g, device="cuda")
        else:
            padded = t if layout == "col" else (t + 3) // 4 * 4
            s = torch.empty(hidden // g, padded, device="cuda")[:, :t].T
        getattr(sgl_kernel, name)(x, q, s, g, EPS, lo, hi)
        assert same_bits(q, want_q) and torch.equal(s, want_s), name


@pytest.mark.gpu
def test_v1_refuses_the_fused_and_masked_modes():
    """sgl-kernel: "only v2 support fuse_silu_and_mul" / "masked_m" (an AssertionError there, a RuntimeError
    naming the reason here) -- with enable_v2=False, and for group size 8, which only v1 has."""
    x = activations((4, 512))
    q = torch.empty(4, 256, device="cuda", dtype=FP8)
    with pytest.raises((AssertionError, RuntimeError)):
        sgl_kernel.sgl_per_token_group_quant_8bit(x, q, torch.empty(4, 2, device="cuda"), 128, EPS, -448.0, 448.0,
                                                  fuse_silu_and_mul=True, enable_v2=False)  # fmt: skip
    with pytest.raises((AssertionError, RuntimeError)):
        sgl_kernel.sgl_per_token_group_quant_8bit(x, q, torch.empty(4, 32, device="cuda"), 8, EPS, -448.0, 448.0,
                                                  fuse_silu_and_mul=True)  # fmt: skip


# -------------------------------------------------------------------------- fused add + rmsnorm + quant


def fp64_reference(x, r, w, eps=1e-6):
    f = x.double() + r.double()
    return (x.float() + r.float()).to(x.dtype), f * torch.rsqrt(f.pow(2).mean(-1, keepdim=True) + eps) * w.double()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch", [1, 4, 17, 128])
@pytest.mark.parametrize("hidden", [128, 512, 2048, 4096, 5120, 8192])
def test_fused_add_rmsnorm_quant_fp8_as_sgl_kernels_test_calls_it(dtype, batch, hidden):
    """sgl-kernel's test sweep and call: returns (e4m3 [T, H], fp32 [T, 1]); residual = T(input + residual),
    input untouched; dequantized close to the fp32 math (cosine > 0.999) -- and here tighter: the scale within
    1e-5 of the fp64 absmax(y) / 448, y never rounded to the input dtype."""
    x = torch.randn(batch, hidden, device="cuda", dtype=dtype)
    r = torch.randn(batch, hidden, device="cuda", dtype=dtype)
    w = torch.randn(hidden, device="cuda", dtype=dtype)
    x0 = x.clone()
    res_ref, y = fp64_reference(x, r, w)
    output_q, output_s = sgl_kernel.fused_add_rmsnorm_quant_fp8(x, r, w, eps=1e-6)
    assert output_q.dtype == FP8 and output_q.shape == (batch, hidden)
    assert output_s.dtype == torch.float32 and output_s.shape == (batch, 1)
    assert torch.equal(x, x0) and torch.equal(r, res_ref)
    s_ref = y.abs().amax(-1, keepdim=True) / 448.0
    torch.testing.assert_close(output_s.double(), s_ref, rtol=1e-5, atol=0)
    deq = (output_q.double() * output_s.double()).flatten()
    assert torch.nn.functional.cosine_similarity(deq, y.flatten(), dim=0) > 0.999


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(7, 4096), (300, 7168), (3, 16384)], ids=str)
def test_fused_add_rmsnorm_quant_fp8_epilogue_bit_exact(shape):
    """fp32 input, where y has no rounding to differ by: q and s are sgl-kernel's epilogue of y bit for bit
    (s = MUL(amax, fl32(1/448)), q = e4m3(clamp_min_first(MUL(y, RCP(s))))), y being fused_add_rmsnorm's output."""
    x, r = torch.randn(shape, device="cuda"), torch.randn(shape, device="cuda")
    w = torch.randn(shape[-1], device="cuda")
    y, res = x.clone(), r.clone()
    sgl_kernel.fused_add_rmsnorm(y, res, w, 1e-6)
    q, s = sgl_kernel.fused_add_rmsnorm_quant_fp8(x, r, w)
    s_ref = mul_ftz(absmax(y, dim=-1, keepdim=True), C448)
    q_ref = clamp_min_first(mul_ftz(y, rcp_approx(s_ref))).to(FP8)
    assert torch.equal(r, res) and torch.equal(s, s_ref) and same_bits(q, q_ref)


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [4, 4096])
def test_fused_add_rmsnorm_quant_fp8_zero_rows(rows):
    """sgl-kernel: scale_inv = 0 where the scale is 0, so a zero row is all 0 at any row count; zero input
    leaves the residual as it was."""
    x = torch.randn(rows, 4096, device="cuda", dtype=torch.bfloat16)
    r = torch.randn_like(x)
    w = torch.randn(4096, device="cuda", dtype=torch.bfloat16)
    x[1] = -r[1]
    q, s = sgl_kernel.fused_add_rmsnorm_quant_fp8(x, r, w)
    assert s[1, 0] == 0 and bool((q[1].float() == 0).all())
    r0 = r.clone()
    sgl_kernel.fused_add_rmsnorm_quant_fp8(torch.zeros_like(x), r, w)
    assert torch.equal(r, r0)
