"""What the per-token-group quant wrappers (fp8, int8) fill in: which of sgl-kernel's two arithmetics to use."""

from __future__ import annotations

import torch

# sgl-kernel's v2 kernel: bf16/fp16 input, eps = 1e-10, the type's full range, these group sizes. Its newest
# releases take v2 for these group sizes when enable_v2 is None (and refuse the other v2 preconditions).
V2_GROUP_SIZES = (16, 32, 64, 128)
_V2_DTYPES = (torch.bfloat16, torch.float16)


def use_v2(
    enable_v2: bool | None,
    input: torch.Tensor,
    group_size: int,
    eps: float,
    lo: float,
    hi: float,
    full_range: tuple[float, float],
) -> bool:
    """enable_v2 as given; None: v2 for every call sgl-kernel's v2 kernel takes, v1 for the others."""
    if enable_v2 is not None:
        return bool(enable_v2)
    return (
        group_size in V2_GROUP_SIZES
        and input.dtype in _V2_DTYPES
        and abs(eps - 1e-10) < 1e-13
        and (lo, hi) == full_range
    )
