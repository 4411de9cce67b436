"""The FP4 MoE quantizers as sgl-kernel code calls them: ``scaled_fp4_grouped_quant`` and
``silu_and_mul_scaled_fp4_grouped_quant`` (FP4 builds; the kernel tests skip otherwise). Its helpers and its
reference of sgl-kernel's arithmetic are below, written apart from fp4_reference (only the reciprocal
instruction comes from sgl_math, which runs it through Triton).

What sgl-kernel's API (0.3.21 ``gemm.py``) and its test (``sgl-kernel/tests/test_fp4_quantize.py``) establish,
and callers rely on:
* ``output, output_scales = scaled_fp4_grouped_quant(input_tensor, input_global_scale, mask)``: input
  ``(l, m, k)`` bf16/fp16, ``k % 16 == 0``; ``input_global_scale`` float32 ``(l,)``, one per expert, in its
  test ``448 * 6 / amax`` of each expert; ``mask`` int32 ``(l,)``, the valid rows of each expert;
* ``output`` uint8 of logical shape ``(m, k // 2, l)``, a ``permute(1, 2, 0)`` of the physical ``(l, m, k // 2)``;
  ``output_scales`` float8_e4m3fn of logical shape ``(32, 4, rm, 4, rk, l)``, a permute of the physical
  ``(l, rm, rk, 32, 4, 4)`` (``rm = ceil(m / 128)``, ``rk = ceil(k / 64)``): each expert's scales in the 128x4
  tiles of Blackwell's block-scaled MMA, which its test undoes with ``permute(5, 2, 4, 0, 1, 3).view(l, 128 rm,
  -1)`` and then ``reshape(rm, rk, 32, 4, 4).permute(0, 3, 2, 1, 4)``;
* expert i's rows below ``mask[i]`` are ``scaled_fp4_quant(input[i], input_global_scale[i])``'s, codes and
  scales, exactly; the other rows are not part of the result (sgl-kernel leaves them unwritten);
* ``silu_and_mul_scaled_fp4_grouped_quant`` takes ``(l, m, 2k)`` = gate | up and gives, on the rows below the
  mask, exactly ``scaled_fp4_grouped_quant(silu_and_mul(input_tensor), ...)``;
* the numbers (``cvt_warp_fp16_to_fp4`` in ``csrc/gemm/nvfp4_expert_quant.cu``): per 16 values
  ``sf = e4m3(gs * (max|x| * rcp(6)))``, ``q = e2m1(x * rcp(sf * rcp(gs)))`` (0 where sf is 0), ``rcp`` the PTX
  instruction ``rcp.approx.ftz.f32`` (``rcp(6)`` folded by ptxas to fl32(1/6)), the products IEEE (its sm_100
  build has no fast math). That is not exact division (``x / (sf / gs)``), which gives other codes for up to
  ~0.1% of the bytes.
sgl-kernel runs these kernels on sm_100+ only; kernelkit also on sm_90 (the same reciprocal instruction, a
bit-identical software e2m1).
"""

from __future__ import annotations

import inspect
import struct

import kernelkit_ops as sgl_kernel
import pytest
import torch
from sgl_math import rcp_approx  # runs the instruction through Triton, imported at the first call (GPU tests)

requires_fp4 = pytest.mark.skipif(
    not sgl_kernel.fp4_enabled(),
    reason="kernelkit_ops was built without FP4 kernels (`kernelkit build --fp4`): the FP4 ops have no kernel",
)
FP8_MAX, E2M1_MAX = 448.0, 6.0
# rcp.approx.ftz.f32(6.0f) in sgl-kernel's kernels: a constant ptxas folds to fl32(1/6) (0x3E2AAAAB), the
# multiplier its sm_100a SASS shows (FMUL ..., 0.16666667163372039795).
RCP_6 = struct.unpack("<f", struct.pack("<f", 1 / 6))[0]

# sgl-kernel 0.3.21 gemm.py: both functions take exactly these, positionally or by keyword, none with a default.
UPSTREAM_PARAMETERS = ("input_tensor", "input_global_scale", "mask")
OPS = ("scaled_fp4_grouped_quant", "silu_and_mul_scaled_fp4_grouped_quant")
# What sgl-kernel's FP4 test imports from the package.
UPSTREAM_TEST_IMPORTS = (
    "scaled_fp4_grouped_quant",
    "scaled_fp4_quant",
    "silu_and_mul",
    "silu_and_mul_scaled_fp4_grouped_quant",
)


# --------------------------------------------------------------------------------- signatures (CPU)


@pytest.mark.parametrize("name", UPSTREAM_TEST_IMPORTS)
def test_exported_at_the_top_level(name):
    assert callable(getattr(sgl_kernel, name))


@pytest.mark.parametrize("name", OPS)
def test_signature_is_sgl_kernels_then_defaulted_extras(name):
    params = list(inspect.signature(getattr(sgl_kernel, name)).parameters.values())
    head, extras = params[: len(UPSTREAM_PARAMETERS)], params[len(UPSTREAM_PARAMETERS) :]
    assert tuple(p.name for p in head) == UPSTREAM_PARAMETERS
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in head)
    assert all(p.default is inspect.Parameter.empty for p in head)
    # kernelkit's extras (enable_pdl) come after, each with a default: calls written for sgl-kernel never set them
    assert [(p.name, p.default) for p in extras] == [("enable_pdl", None)]


# ----------------------------------------------------------------------------- helpers of the GPU tests


def recover_scales(slab: torch.Tensor, m: int, k: int) -> torch.Tensor:
    """One expert's [128 rm, 4 rk] swizzled scales back to row-major [m, k / 16], the way sgl-kernel's test
    undoes the layout (reshape to tiles, permute (0, 3, 2, 1, 4))."""
    rows, cols = slab.shape
    tiles = slab.view(torch.uint8).reshape(rows // 128, cols // 4, 32, 4, 4).permute(0, 3, 2, 1, 4)
    return tiles.reshape(rows, cols)[:m, : k // 16]


def physical(output: torch.Tensor, output_scales: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The physical (l, m, k / 2) codes and (l, 128 rm, 4 rk) scale slabs, as sgl-kernel's test gets them."""
    l = output.shape[2]  # noqa: E741 (sgl-kernel's name)
    padded_m = (m + 127) // 128 * 128
    return output.permute(2, 0, 1), output_scales.permute(5, 2, 4, 0, 1, 3).view(l, padded_m, -1)


def upstream_inputs(shape, *, gate_up: bool = False, seed: int = 42):
    """sgl-kernel's test data: randn bf16, masks in [1, m / 2), global scales 448 * 6 / amax per expert."""
    l, m, k = shape  # noqa: E741
    g = torch.Generator("cuda").manual_seed(seed)
    x = torch.randn(l, m, 2 * k if gate_up else k, device="cuda", generator=g).to(torch.bfloat16)
    mask = torch.randint(1, m // 2, (l,), device="cuda", dtype=torch.int32, generator=g)
    return x, mask


def global_scales(y: torch.Tensor) -> torch.Tensor:
    return FP8_MAX * E2M1_MAX / y.abs().amax(dim=(1, 2)).to(torch.float32)


# ------------------------------------------------------------------------------------- GPU: behaviour


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("shape", [(2, 100, 128), (3, 130, 96), (1, 256, 2048)], ids=str)
def test_return_convention(name, shape):
    l, m, k = shape  # noqa: E741
    x, mask = upstream_inputs(shape, gate_up=name.startswith("silu"))
    gs = torch.ones(l, device="cuda")
    output, output_scales = getattr(sgl_kernel, name)(x, gs, mask)
    rm, rk = (m + 127) // 128, (k // 16 + 3) // 4
    assert output.dtype == torch.uint8 and output.shape == (m, k // 2, l)
    assert output_scales.dtype == torch.float8_e4m3fn and output_scales.shape == (32, 4, rm, 4, rk, l)
    out, slabs = physical(output, output_scales, m)  # .view() works only on the physical layout
    assert out.is_contiguous() and slabs.shape == (l, 128 * rm, 4 * rk)
    assert output.data_ptr() == out.data_ptr() and output_scales.data_ptr() == slabs.data_ptr()


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("shape", [(2, 512, 2048), (2, 100, 128), (2, 128, 96)], ids=str)
def test_each_expert_is_scaled_fp4_quant(shape):
    l, m, k = shape  # noqa: E741
    x, mask = upstream_inputs(shape)
    gs = global_scales(x)
    out, slabs = physical(*sgl_kernel.scaled_fp4_grouped_quant(x, gs, mask), m)
    for i in range(l):
        v = int(mask[i])
        ref_out, ref_scales = sgl_kernel.scaled_fp4_quant(x[i], gs[i])
        assert torch.equal(out[i, :v], ref_out[:v])
        assert torch.equal(recover_scales(slabs[i], m, k)[:v], recover_scales(ref_scales, m, k)[:v])


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("shape", [(32, 100, 2048), (32, 512, 2048), (6, 6144, 2048)], ids=str)
def test_silu_and_mul_fusion_is_grouped_quant_of_silu_and_mul(shape):
    l, m, k = shape  # noqa: E741
    x, mask = upstream_inputs(shape, gate_up=True)
    y = sgl_kernel.silu_and_mul(x)
    gs = global_scales(y)
    want_out, want_slabs = physical(*sgl_kernel.scaled_fp4_grouped_quant(y, gs, mask), m)
    out, slabs = physical(*sgl_kernel.silu_and_mul_scaled_fp4_grouped_quant(x, gs, mask), m)
    for i in range(l):
        v = int(mask[i])
        assert torch.equal(out[i, :v], want_out[i, :v])
        assert torch.equal(recover_scales(slabs[i], m, k)[:v], recover_scales(want_slabs[i], m, k)[:v])


@pytest.mark.gpu
@requires_fp4
def test_one_global_scale_per_expert():
    """Each expert's scales follow its own global scale: with 448 * 6 / amax per expert, each expert's largest
    block scale is 448 (e4m3's largest), whatever the experts' magnitudes."""
    l, m, k = 4, 64, 256  # noqa: E741
    x = torch.randn(l, m, k, device="cuda") * torch.tensor([1e-3, 1.0, 30.0, 1e3], device="cuda").view(l, 1, 1)
    x = x.to(torch.bfloat16)
    gs = global_scales(x)
    mask = torch.full((l,), m, device="cuda", dtype=torch.int32)
    _, slabs = physical(*sgl_kernel.scaled_fp4_grouped_quant(x, gs, mask), m)
    for i in range(l):
        assert recover_scales(slabs[i], m, k).view(torch.float8_e4m3fn).float().max() == FP8_MAX


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("name", OPS)
def test_k_must_be_a_multiple_of_16(name):
    """sgl-kernel asserts ``k % 16 == 0`` (AssertionError); kernelkit refuses with a RuntimeError naming it."""
    k = 40
    x = torch.randn(2, 8, 2 * k if name.startswith("silu") else k, device="cuda").to(torch.bfloat16)
    with pytest.raises((AssertionError, RuntimeError), match="16"):
        getattr(sgl_kernel, name)(x, torch.ones(2, device="cuda"), torch.ones(2, device="cuda", dtype=torch.int32))


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_fp16_and_bf16_inputs(name, dtype):
    x, mask = upstream_inputs((2, 64, 128), gate_up=name.startswith("silu"))
    output, output_scales = getattr(sgl_kernel, name)(x.to(dtype), torch.ones(2, device="cuda"), mask)
    assert output.shape == (64, 64, 2) and output_scales.dtype == torch.float8_e4m3fn


# ---------------------------------------------- GPU: sgl-kernel's own arithmetic (rcp.approx reciprocals)


def _e2m1_codes(y: torch.Tensor) -> torch.Tensor:
    """Round to nearest e2m1, ties to the even code, saturating at 6; NaN -> +6; the sign kept (code | 8)."""
    a = y.abs()
    code = (a > 0.25).int() + (a >= 0.75).int() + (a > 1.25).int() + (a >= 1.75).int()
    code += (a > 2.5).int() + (a >= 3.5).int() + (a > 5.0).int()
    nan = torch.isnan(y)
    code = torch.where(nan, torch.full_like(code, 7), code)
    return (code | ((torch.signbit(y) & ~nan).int() << 3)).to(torch.uint8)


def _sgl_reference(x: torch.Tensor, gs: torch.Tensor, *, exact_division: bool = False):
    """sgl-kernel's cvt_warp_fp16_to_fp4 for x [m, k] and a one-element gs: (codes [m, k / 2], scales [m, k / 16]).
    exact_division: x / (sf / gs) with sf = e4m3(gs * (max|x| / 6)) instead, kernelkit's arithmetic before."""
    m, k = x.shape
    xf = x.float().reshape(m, k // 16, 16)
    a = xf.abs()
    vmax = a.nan_to_num(nan=0.0, posinf=float("inf")).amax(dim=-1)
    vmax = torch.where(a.isnan().all(dim=-1), float("nan"), vmax)  # __hmax: NaN only when all 16 are
    g = gs.float().reshape(1, 1)
    if exact_division:
        scaled = g * (vmax / torch.full_like(vmax, E2M1_MAX))  # IEEE: divisions by full tensors
    else:
        scaled = g * (vmax * RCP_6)
    sf = scaled.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)  # saturating, as __nv_fp8_e4m3(float)
    sf_value = sf.float()
    if exact_division:
        factor = torch.ones_like(sf_value) / (sf_value / g.expand_as(sf_value).contiguous())
    else:
        factor = rcp_approx(sf_value * rcp_approx(g))
    out_scale = torch.where(sf_value == 0, 0.0, factor)
    codes = _e2m1_codes(xf * out_scale.unsqueeze(-1)).reshape(m, k)
    return codes[:, 0::2] | (codes[:, 1::2] << 4), sf.view(torch.uint8)


@pytest.mark.gpu
@requires_fp4
@pytest.mark.parametrize("name", OPS)
def test_values_are_sgl_kernels_reciprocal_arithmetic(name):
    """Every row's codes and scales are sgl-kernel's, bit for bit; and on this data its arithmetic and exact
    division give other codes for some values, so the match tells the two apart. (Such codes need x * inv
    within an ulp of an e2m1 tie, which 448 * 6 / amax makes reachable for about every second global scale:
    32 experts, each with its own.)"""
    shape = (32, 256, 2048)
    l, m, k = shape  # noqa: E741
    x, _ = upstream_inputs(shape, gate_up=name.startswith("silu"))
    mask = torch.full((l,), m, device="cuda", dtype=torch.int32)  # every row: the arithmetic is the point here
    values = sgl_kernel.silu_and_mul(x) if name.startswith("silu") else x  # what gets quantized
    gs = global_scales(values)
    out, slabs = physical(*getattr(sgl_kernel, name)(x, gs, mask), m)
    differ = 0
    for i in range(l):
        want_out, want_sf = _sgl_reference(values[i], gs[i])
        assert torch.equal(recover_scales(slabs[i], m, k), want_sf)
        assert torch.equal(out[i], want_out)
        exact, _ = _sgl_reference(values[i], gs[i], exact_division=True)
        differ += int((want_out != exact).sum())
    assert differ > 0, "sgl-kernel's arithmetic and exact division agree on every value here: the test tells nothing"
