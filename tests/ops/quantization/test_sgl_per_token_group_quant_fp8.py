"""sgl_per_token_group_quant_fp8: the shared per-token-group quant tests (group_quant_cases.py), e4m3 output."""

import torch
from group_quant_cases import GroupQuantTests


class TestSglPerTokenGroupQuantFp8(GroupQuantTests):
    op = "sgl_per_token_group_quant_fp8"
    q_dtype = torch.float8_e4m3fn
    int8 = False
    bounds = ("fp8_min", "fp8_max")
    limits = (-448.0, 448.0)
