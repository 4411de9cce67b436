"""What the fp8 quantizer tests share (sgl_per_token_quant_fp8, sgl_per_tensor_quant_fp8,
fused_add_rmsnorm_quant_fp8): sgl-kernel's dynamic fp8 rule as its sm_90 build computes it, poisoned
outputs and test inputs.

The rule (library/include/kernelkit/families/dynamic_fp8.cuh; RCP/MUL as in sgl_math.py):

    s   = MUL(absmax(x), fl32(1/448))         no floor: an all-zero row/tensor gets s = 0
    inv = RCP(s)                              RCP(0) = +inf; per token, inv = 0 where s = 0 when the
                                              call has >= 16 rows per SM (sgl-kernel's many-rows kernel)
    q   = e4m3(fmaxf(fminf(MUL(x, inv), 448), -448))     the min first: NaN -> +448

So a zero row quantizes to +448 everywhere (0 * inf = NaN) below that row count and to 0 at it; an inf
makes s = inf and inv = 0: the finite values become +-0 and the inf itself NaN -> +448.
The reference runs the instructions on the GPU (sgl_math), so it is for GPU tests only.
"""

from __future__ import annotations

import math

import torch
from quant_reference import FP8, absmax, clamp_min_first
from sgl_math import C448, mul_ftz, rcp_approx

FP8_NAN_BYTE = 0x7F  # the poison: the quantizers never write NaN (their clamps turn it into +-448)
FP8_448_BYTE = 0x7E  # +448
ZERO_ROW_GUARD_ROWS_PER_SM = 16  # sgl-kernel's per-token quant takes its guarded kernel from 16 rows per SM


def sm_count(device="cuda") -> int:
    return torch.cuda.get_device_properties(torch.device(device)).multi_processor_count


def zero_scale_gives_zero(num_rows: int, device="cuda") -> bool:
    """Whether sgl_per_token_quant_fp8 (and the fused op) quantize a zero row to 0 (else +448)."""
    return num_rows >= ZERO_ROW_GUARD_ROWS_PER_SM * sm_count(device)


def dynamic_scale(m: torch.Tensor) -> torch.Tensor:
    """s from a float32 absmax: MUL(m, fl32(1/448))."""
    return mul_ftz(m.float(), C448)


def quantize(x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
    """e4m3(fmaxf(fminf(MUL(x, inv), 448), -448)), inv broadcast."""
    return clamp_min_first(mul_ftz(x.float(), inv)).to(FP8)


def per_token_reference(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, s) with s shaped [..., 1], for a call on x (its row count decides the zero-row rule)."""
    if x.shape[-1] == 0:
        return torch.empty(x.shape, device=x.device, dtype=FP8), torch.zeros(*x.shape[:-1], 1, device=x.device)
    s = dynamic_scale(absmax(x, dim=-1, keepdim=True))
    inv = rcp_approx(s)
    if zero_scale_gives_zero(math.prod(x.shape[:-1]), x.device):
        inv = torch.where(s == 0, torch.zeros_like(inv), inv)
    return quantize(x, inv), s


def per_tensor_reference(x: torch.Tensor, scale: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, s) with s 0-dim; `scale` given = static mode (used as is)."""
    s = dynamic_scale(absmax(x)) if scale is None else scale.float().reshape(())
    return quantize(x, rcp_approx(s)), s


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
