"""sgl_per_token_group_quant_int8: the shared per-token-group quant tests (group_quant_cases.py), int8 output,
plus its rounding: truncation toward zero (sgl-kernel's cast) by default, round half to even on request."""

import pytest
import torch
from group_quant_cases import EPS, V2_GROUP_SIZES, GroupQuantTests, group_scale, varied_rows
from quant_reference import absmax
from sgl_math import f32, mul_ftz


class TestSglPerTokenGroupQuantInt8(GroupQuantTests):
    op = "sgl_per_token_group_quant_int8"
    q_dtype = torch.int8
    int8 = True
    bounds = ("fp8_min", "fp8_max")  # sgl-kernel's names: its int8 quantizer is the 8-bit one
    limits = (-128.0, 127.0)

    @pytest.fixture
    def ue8m0(self):
        return False  # no scale_ue8m0 argument: int8 scales are plain fp32

    test_ue8m0_scales_are_powers_of_two = None  # fp8 only (the int8 op has no scale_ue8m0)
    test_sgl_kernel_sweep_ue8m0 = None

    @pytest.mark.gpu
    @pytest.mark.parametrize("layout", ["row", "tma"])
    @pytest.mark.parametrize("enable_v2", [False, True])
    @pytest.mark.parametrize("group_size", V2_GROUP_SIZES)
    @pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
    def test_truncation_and_round_to_nearest(self, dtype, group_size, enable_v2, layout):
        """Both roundings bit-exact, for v1 and v2: truncation |q| <= |x * y| < |q| + 1, rounding within 1/2
        of x * y (half to even); the two differ (truncation is the default, sgl-kernel's)."""
        x = varied_rows(300, 2048, dtype)
        q_trunc, s = self.check(x, group_size, layout, enable_v2=enable_v2)
        q_round, s_round = self.check(x, group_size, layout, enable_v2=enable_v2, round_nearest=True)
        assert torch.equal(s, s_round)
        xg = x.float().unflatten(-1, (-1, group_size))
        amax = torch.fmax(absmax(xg, dim=-1, keepdim=True), xg.new_tensor(f32(EPS)))
        _, y = group_scale(amax, 127.0, int8=True, ue8m0=False, v2=enable_v2)
        v = mul_ftz(xg, y).clamp(-128, 127).flatten(-2)
        qt, qr = q_trunc.float(), q_round.float()
        assert bool((qt.abs() <= v.abs()).all() and (v.abs() < qt.abs() + 1).all() and (qt * v >= 0).all())
        assert bool(((qr - v).abs() <= 0.5).all())
        assert bool((q_trunc != q_round).any())

    def test_round_to_nearest_reaches_the_op(self):
        """round_to_nearest is the int8 op's round_nearest argument (CPU tensors: checked, then refused)."""
        x, q, s = torch.zeros(4, 256, dtype=torch.bfloat16), torch.empty(4, 256, dtype=torch.int8), torch.empty(4, 2)
        for rn in (False, True):
            with pytest.raises(RuntimeError, match=rf"{self.op}: input must be a CUDA tensor"):
                self.fn(x, q, s, 128, EPS, -128.0, 127.0, round_to_nearest=rn)
        with pytest.raises(TypeError):
            self.fn(x, q, s, 128, EPS, -128.0, 127.0, False, False, None, None, None, True)  # keyword-only
