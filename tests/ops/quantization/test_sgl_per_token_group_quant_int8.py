"""sgl_per_token_group_quant_int8: the shared per-token-group quant tests (group_quant_cases.py), int8 output."""

import pytest
import torch
from group_quant_cases import GroupQuantTests


class TestSglPerTokenGroupQuantInt8(GroupQuantTests):
    op = "sgl_per_token_group_quant_int8"
    q_dtype = torch.int8
    int8 = True
    bounds = ("int8_min", "int8_max")
    limits = (-128.0, 127.0)

    @pytest.fixture
    def ue8m0(self):
        return False  # no scale_ue8m0 argument: int8 scales are plain fp32

    test_ue8m0_scales_are_powers_of_two = None  # fp8 only (the int8 op has no scale_ue8m0)
