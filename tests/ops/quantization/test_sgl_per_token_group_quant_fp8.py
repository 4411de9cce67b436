"""sgl_per_token_group_quant_fp8: the shared per-token-group quant tests (group_quant_cases.py), e4m3 output."""

import pytest
import torch
from group_quant_cases import EPS, GroupQuantTests


class TestSglPerTokenGroupQuantFp8(GroupQuantTests):
    op = "sgl_per_token_group_quant_fp8"
    q_dtype = torch.float8_e4m3fn
    int8 = False
    bounds = ("fp8_min", "fp8_max")
    limits = (-448.0, 448.0)

    def test_round_to_nearest_is_int8_only(self):
        x, q, s = torch.zeros(4, 256, dtype=torch.bfloat16), torch.empty(4, 256, dtype=self.q_dtype), torch.empty(4, 2)
        with pytest.raises(TypeError):
            self.fn(x, q, s, 128, EPS, -448.0, 448.0, round_to_nearest=True)
        with pytest.raises(TypeError):
            self.fn(x, q, s, 128, EPS, -448.0, 448.0, False, False, None, None, None, True)  # one past enable_pdl
