"""What the moe_sum and moe_sum_reduce tests share: inputs, and sgl-kernel's arithmetic in torch (exact on the
GPU for inputs without fp32 denormals, where sgl-kernel's flush-to-zero on sm_90 changes nothing)."""

from __future__ import annotations

import torch

DTYPES = [torch.bfloat16, torch.float16, torch.float32]


def make_input(tokens: int, topk: int, hidden: int, dtype: torch.dtype, strided: bool = False) -> torch.Tensor:
    """randn [T, k, H]; strided: a [T, k, H] window of a wider buffer (rows and slots not contiguous)."""
    if not strided:
        return torch.randn(tokens, topk, hidden, device="cuda", dtype=dtype)
    wide = torch.randn(tokens, topk + 1, hidden + 3, device="cuda", dtype=dtype)
    return wide[:, 1:, 3:]


def make_output(tokens: int, hidden: int, dtype: torch.dtype, strided: bool = False) -> torch.Tensor:
    """NaN-poisoned [T, H], so an unwritten element fails; strided: a window of a wider buffer."""
    if not strided:
        return torch.full((tokens, hidden), float("nan"), device="cuda", dtype=dtype)
    return torch.full((tokens, hidden + 5), float("nan"), device="cuda", dtype=dtype)[:, 5:]


def moe_sum_reference(x: torch.Tensor) -> torch.Tensor:
    """sgl-kernel's moe_sum: k in {2, 3, 4} rounds every partial sum to the dtype; any other k is torch's
    sum over dim 1 (4 fp32 accumulators, x_j into j % 4, combined in order, rounded once)."""
    k = x.shape[1]
    if k in (2, 3, 4):
        acc = torch.zeros(x.shape[0], x.shape[2], device=x.device, dtype=torch.float32)
        for j in range(k):
            acc = (acc + x[:, j].float()).to(x.dtype).float()
        return acc.to(x.dtype)
    accs = [torch.zeros(x.shape[0], x.shape[2], device=x.device, dtype=torch.float32) for _ in range(4)]
    for j in range(k):
        accs[j % 4] = accs[j % 4] + x[:, j].float()
    return (((accs[0] + accs[1]) + accs[2]) + accs[3]).to(x.dtype)


def moe_sum_reduce_reference(x: torch.Tensor, factor: float) -> torch.Tensor:
    """sgl-kernel's moe_sum_reduce: fp32 sum from 0 in slot order, times fp32(factor), rounded once."""
    acc = torch.zeros(x.shape[0], x.shape[2], device=x.device, dtype=torch.float32)
    for j in range(x.shape[1]):
        acc = acc + x[:, j].float()
    return (acc * torch.tensor(factor, dtype=torch.float32, device=x.device)).to(x.dtype)


def bit_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same bits everywhere (NaN included): compares the raw integers."""
    view = {2: torch.int16, 4: torch.int32}[a.element_size()]
    return a.shape == b.shape and torch.equal(a.contiguous().view(view), b.contiguous().view(view))
