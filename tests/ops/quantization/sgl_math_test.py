"""Tests of the tests' own arithmetic (sgl_math.py, quant_reference.py): the quantizer references run the
PTX instructions of sgl-kernel's sm_90 build, so a reference that silently computed something else (IEEE
division, no flush to zero) could agree with a kernel that does the same wrong thing. These pin the
instructions down on values whose results are known. (Named *_test.py: it tests the tests' helpers, not an
op, so `kernelkit check` and `kernelkit test` do not take it for one.)

CPU (CI): the float32 constants, flushing denormals, absmax, the two clamp orders, the refusal of CPU
tensors before Triton is imported. GPU: RCP, MUL, LG2, EX2 and CEIL on known values and random data.
"""

from __future__ import annotations

import math

import pytest
import torch
from quant_reference import absmax, clamp_max_first, clamp_min_first
from sgl_math import (
    C127,
    C448,
    MIN_NORMAL,
    ceil_ftz,
    ex2_approx,
    f32,
    f32_bits,
    flush_denormals,
    lg2_approx,
    mul_ftz,
    rcp_approx,
)

INF, NAN = float("inf"), float("nan")


def bits(t: torch.Tensor) -> torch.Tensor:
    """The float32 bits of t as int64 (so that differences of bit patterns do not overflow)."""
    return t.float().contiguous().view(torch.int32).long()


def signbit(t: torch.Tensor) -> torch.Tensor:
    return torch.signbit(t)


# ---------------------------------------------------------------------------------------- CPU


def test_float32_constants():
    assert f32_bits(C448) == 0x3B124925 and f32_bits(C127) == 0x3C010204
    assert C448 == f32(1 / 448) and C448 != 1 / 448  # float32, not the Python double
    assert f32_bits(MIN_NORMAL) == 0x00800000


def test_flush_denormals():
    x = torch.tensor([1e-40, -1e-40, MIN_NORMAL, -MIN_NORMAL, 0.0, -0.0, NAN, INF, -INF, 3.0])
    y = flush_denormals(x)
    assert y[:2].eq(0).all() and not signbit(y[0]) and signbit(y[1])
    assert torch.equal(y[2:4], x[2:4]) and y[4] == 0 and signbit(y[5])
    assert y[6].isnan() and y[7] == INF and y[8] == -INF and y[9] == 3.0


def test_absmax_ignores_nan_and_denormals():
    x = torch.tensor([[1e-40, -2e-39, NAN, -0.5], [NAN, NAN, 1e-45, 0.0], [1.0, -INF, NAN, 2.0]])
    assert torch.equal(absmax(x, dim=-1), torch.tensor([0.5, 0.0, INF]))
    assert absmax(torch.tensor([-3.0, 1e-38])) == 3.0  # 1e-38 is denormal
    assert absmax(x[1]) == 0 and absmax(torch.empty(0)) == 0


def test_clamp_orders_decide_where_nan_goes():
    v = torch.tensor([NAN, INF, -INF, 500.0, -500.0, 3.5, -0.0])
    assert torch.equal(clamp_min_first(v), torch.tensor([448.0, 448.0, -448.0, 448.0, -448.0, 3.5, -0.0]))
    assert signbit(clamp_min_first(v)[6])
    assert torch.equal(
        clamp_max_first(v, -128.0, 127.0), torch.tensor([-128.0, 127.0, -128.0, 127.0, -128.0, 3.5, 0.0])
    )


def test_gpu_helpers_refuse_cpu_tensors_before_importing_triton():
    for helper in (rcp_approx, lg2_approx, ex2_approx, ceil_ftz):
        with pytest.raises(TypeError, match="float32 CUDA tensors"):
            helper(torch.ones(3))
    with pytest.raises(TypeError, match="float32 CUDA tensors"):
        mul_ftz(torch.ones(3), torch.ones(3))


# ---------------------------------------------------------------------------------------- GPU


def cuda(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device="cuda")


def random_normal_floats(n: int, lo_exp: int = -60, hi_exp: int = 60) -> torch.Tensor:
    """Positive float32s with uniformly random mantissas over a range of exponents."""
    m = torch.rand(n, device="cuda") + 1.0
    e = torch.randint(lo_exp, hi_exp, (n,), device="cuda").float()
    return m * torch.exp2(e)


@pytest.mark.gpu
def test_rcp_approx_known_values():
    r = rcp_approx(cuda([448.0, 127.0, 1.0, 2.0, 0.25, 0.0, -0.0, INF, -INF, 1e-40, 2.0**127, NAN, -4.0]))
    # within 1 ulp of the correctly rounded fl32(1/448) and fl32(1/127) (rcp.approx's bound)
    assert abs(int(bits(r[0])) - f32_bits(C448)) <= 1 and abs(int(bits(r[1])) - f32_bits(C127)) <= 1
    assert r[2] == 1.0 and r[3] == 0.5 and r[4] == 4.0 and r[12] == -0.25
    assert r[5] == INF and r[6] == -INF  # RCP(0) = inf: the all-zero rows' +448
    assert r[7] == 0 and not signbit(r[7]) and r[8] == 0 and signbit(r[8])
    assert r[9] == INF  # a denormal is read as 0 (ftz)
    assert r[10] == 0  # 2^-127 is denormal: flushed
    assert r[11].isnan()


@pytest.mark.gpu
def test_rcp_approx_is_within_one_ulp_of_ieee():
    a = random_normal_floats(1 << 20)
    r = rcp_approx(a)
    ieee = (1.0 / a.double()).float()  # correctly rounded (53 bits >= 2 * 24 + 2: no double-rounding error)
    assert bool(((bits(r) - bits(ieee)).abs() <= 1).all())
    assert rcp_approx(-a).equal(-r)  # sign-symmetric


@pytest.mark.gpu
def test_mul_ftz_known_values():
    a = cuda([1e-40, -1e-40, 2.0**-100, -(2.0**-100), 3.0, INF, INF, NAN, 2.0**-63, 1.0, -0.0])
    b = cuda([1.0, 1.0, 2.0**-30, 2.0**-30, 5.0, 0.0, 2.0, 1.0, 2.0**-63, 1e-40, 5.0])
    m = mul_ftz(a, b)
    assert m[0] == 0 and not signbit(m[0]) and m[1] == 0 and signbit(m[1])  # denormal input -> +-0
    assert m[2] == 0 and not signbit(m[2]) and m[3] == 0 and signbit(m[3])  # denormal product -> +-0
    assert m[4] == 15 and m[5].isnan() and m[6] == INF and m[7].isnan()
    assert m[8] == MIN_NORMAL and m[9] == 0 and m[10] == 0 and signbit(m[10])


@pytest.mark.gpu
def test_mul_ftz_is_ieee_on_normal_values_and_broadcasts():
    a = random_normal_floats(1 << 20) * torch.where(torch.rand(1 << 20, device="cuda") < 0.5, -1.0, 1.0)
    b = random_normal_floats(1 << 20).flip(0)
    want = (a.double() * b.double()).float()  # the exact product rounded once
    assert torch.equal(mul_ftz(a, b), want)
    x = torch.randn(3, 4, 5, device="cuda")
    assert mul_ftz(x, C448).shape == (3, 4, 5) and torch.equal(mul_ftz(C448, x), mul_ftz(x, C448))
    assert torch.equal(mul_ftz(x, cuda([[2.0], [3.0], [4.0], [5.0]])), x * cuda([[2.0], [3.0], [4.0], [5.0]]))
    assert mul_ftz(torch.empty(0, 4, device="cuda"), 2.0).shape == (0, 4)


@pytest.mark.gpu
def test_lg2_ex2_ceil_known_values():
    k = torch.arange(-126, 128, device="cuda", dtype=torch.int32)
    powers = ((k + 127) << 23).view(torch.float32)  # 2^k, from the bits
    k = k.float()
    # EX2 of an integer is that power of two, exactly (v1's ue8m0 scales are powers of two because of it)
    assert torch.equal(ex2_approx(k), powers)
    # LG2 of a power of two is its exponent to within LG2's error, so v1's ue8m0 scale of a power of two is
    # that power or (LG2 a hair above the exponent) twice it
    assert bool(((lg2_approx(powers) - k).abs() <= 2**-20 * k.abs().clamp(min=1)).all())
    v1 = ex2_approx(ceil_ftz(lg2_approx(powers)))
    assert bool(((v1 == powers) | (v1 == 2 * powers)).all())
    lg = lg2_approx(cuda([0.0, 1e-40, -1.0, INF, NAN]))
    assert lg[0] == -INF and lg[1] == -INF and lg[2].isnan() and lg[3] == INF and lg[4].isnan()
    ex = ex2_approx(cuda([-127.0, 128.0, -INF, INF, 0.5]))
    assert ex[0] == 0 and ex[1] == INF and ex[2] == 0 and ex[3] == INF  # 2^-127 is denormal: flushed
    assert abs(ex[4].item() - math.sqrt(2)) < 1e-6
    c = ceil_ftz(cuda([1.5, -1.5, -0.5, 1e-40, -1e-40, INF, NAN, 2.0**23 + 1, 3.0]))
    assert c[0] == 2 and c[1] == -1 and c[2] == 0 and signbit(c[2])
    assert c[3] == 0 and not signbit(c[3]) and c[4] == 0 and signbit(c[4])  # ftz: IEEE ceil(1e-40) is 1
    assert c[5] == INF and c[6].isnan() and c[7] == 2.0**23 + 1 and c[8] == 3


@pytest.mark.gpu
def test_ceil_and_lg2_on_random_values():
    x = random_normal_floats(1 << 20, -30, 30) * torch.where(torch.rand(1 << 20, device="cuda") < 0.5, -1.0, 1.0)
    assert torch.equal(ceil_ftz(x), torch.ceil(x))
    a = random_normal_floats(1 << 20, -40, 40)
    exact = torch.log2(a.double())
    assert bool(((lg2_approx(a).double() - exact).abs() <= 2**-20 * exact.abs().clamp(min=1)).all())
