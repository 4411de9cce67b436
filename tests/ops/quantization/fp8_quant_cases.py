"""What the fp8 quantizer tests share (sgl_per_token_quant_fp8, sgl_per_tensor_quant_fp8,
fused_add_rmsnorm_quant_fp8): the dynamic scale rule in PyTorch, poisoned outputs and test inputs.

The rule (library/include/kernelkit/families/dynamic_fp8.cuh): s = max(absmax(x), 1e-10) / 448 in float32,
q = (x / s).clamp(-448, 448).to(float8_e4m3fn) -- quant_reference.quant_fp8, bit for bit.
"""

from __future__ import annotations

import torch
from quant_reference import FP8_MAX, absmax, ieee_div, quant_fp8

FP8 = torch.float8_e4m3fn
ABSMAX_FLOOR = 1e-10  # the documented floor: an all-zero row/tensor gets s = 1e-10 / 448
FP8_NAN_BYTE = 0x7F


def floor_scale(device: str = "cuda") -> torch.Tensor:
    """The scale of an all-zero (or all-NaN) row/tensor: float32(1e-10) / 448, IEEE-divided."""
    return ieee_div(torch.tensor(ABSMAX_FLOOR, dtype=torch.float32, device=device), FP8_MAX)


def dynamic_scale(m: torch.Tensor) -> torch.Tensor:
    """s from a float32 absmax, as the kernels compute it: fmaxf(m, 1e-10f) / 448.0f."""
    return ieee_div(m.float().clamp(min=ABSMAX_FLOOR), FP8_MAX)


def per_token_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, s) with s shaped [..., 1]."""
    s = (
        dynamic_scale(absmax(x, dim=-1, keepdim=True))
        if x.shape[-1]
        else torch.zeros(*x.shape[:-1], 1, device=x.device)
    )
    return quant_fp8(x, s), s


def per_tensor_reference(x: torch.Tensor, scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, s) with s 0-dim; `scale` given = static mode."""
    s = dynamic_scale(absmax(x)) if scale is None else scale.float().reshape(())
    return quant_fp8(x, s), s


def poisoned_q(shape, device="cuda") -> torch.Tensor:
    """An fp8 tensor of NaN bytes: any element the kernel fails to write reads back as NaN."""
    q = torch.empty(shape, device=device, dtype=FP8)
    q.view(torch.uint8).fill_(FP8_NAN_BYTE)
    return q


def poisoned_scales(shape, device="cuda") -> torch.Tensor:
    return torch.full(shape, float("nan"), device=device, dtype=torch.float32)


def rows_of_varied_scale(shape, dtype, device="cuda") -> torch.Tensor:
    """Random rows whose magnitudes differ by up to ~e^4 (so per-row scales differ), never zeros."""
    x = torch.randn(shape, device=device, dtype=torch.float32)
    if x.dim() >= 1 and x.numel():
        x = x * torch.exp(torch.randn(*shape[:-1], 1, device=device) * 1.5)
    return x.to(dtype)
