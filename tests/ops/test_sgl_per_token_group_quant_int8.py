"""sgl_per_token_group_quant_int8: the shared per-token-group quant tests (group_quant_cases.py), int8 output."""

import torch
from group_quant_cases import GroupQuantTests


class TestSglPerTokenGroupQuantInt8(GroupQuantTests):
    op = "sgl_per_token_group_quant_int8"
    q_dtype = torch.int8
    int8 = True
    bounds = ("int8_min", "int8_max")
    limits = (-128.0, 127.0)
