"""What the grouped NVFP4 wrappers share: their outputs' allocation and sgl-kernel's return convention."""

from __future__ import annotations

import torch

BLOCK_SIZE = 16  # values sharing one e4m3 scale


def padded_sizes(m: int, k: int) -> tuple[int, int]:
    """(rows, scale columns) of one expert's swizzled scale slab: m padded to 128, k / 16 padded to 4."""
    return (m + 127) // 128 * 128, (k // BLOCK_SIZE + 3) // 4 * 4


def allocate(x: torch.Tensor, experts: int, m: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The physical outputs: codes uint8 [l, m, k / 2], scales float8_e4m3fn [l, padded_m, padded_k]."""
    padded_m, padded_k = padded_sizes(m, k)
    output = x.new_empty(experts, m, k // 2, dtype=torch.uint8)
    scales = x.new_empty(experts, padded_m, padded_k, dtype=torch.float8_e4m3fn)
    return output, scales


def logical(output: torch.Tensor, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """sgl-kernel's return convention (what flashinfer's masked grouped GEMM reads): codes as (m, k / 2, l),
    scales as (32, 4, padded_m / 128, 4, padded_k / 4, l); both views of the physical tensors."""
    experts, padded_m, padded_k = scales.shape
    tiles = scales.view(experts, padded_m // 128, padded_k // 4, 32, 4, 4)
    return output.permute(1, 2, 0), tiles.permute(3, 4, 1, 5, 2, 0)
