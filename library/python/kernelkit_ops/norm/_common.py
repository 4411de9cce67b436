"""What the RMSNorm wrappers share: input checks, output allocation and the PDL default."""

from __future__ import annotations

import torch

from kernelkit_ops import _validate as v


def check_norm_inputs(op: str, x: torch.Tensor, x_name: str, weight: torch.Tensor, eps: float) -> None:
    v.require_tensor(op, x_name, x)
    v.require_cuda(op, x_name, x)
    v.require_dtype(op, x_name, x)
    v.require_rows(op, x_name, x)
    v.require_tensor(op, "weight", weight)
    v.require_same_device(op, "weight", weight, x_name, x)
    v.require_same_dtype(op, "weight", weight, x_name, x)
    v.require_shape(op, "weight", weight, (x.shape[-1],))
    v.require_contiguous(op, "weight", weight)
    if eps < 0:
        v.fail(op, f"eps must be >= 0, got {eps}")


def norm_output(op: str, input: torch.Tensor, weight: torch.Tensor, eps: float, out: torch.Tensor | None) -> torch.Tensor:
    """Checks of rmsnorm/gemma_rmsnorm; returns the tensor to write into (allocated when `out` is None)."""
    check_norm_inputs(op, input, "input", weight, eps)
    if out is None:
        return torch.empty(input.shape, device=input.device, dtype=input.dtype)
    v.require_tensor(op, "out", out)
    v.require_same_device(op, "out", out, "input", input)
    v.require_same_dtype(op, "out", out, "input", input)
    v.require_shape(op, "out", out, input.shape)
    v.require_rows(op, "out", out)
    return out


def check_fused_inputs(op: str, input: torch.Tensor, residual: torch.Tensor, weight: torch.Tensor, eps: float) -> None:
    """Checks of fused_add_rmsnorm/gemma_fused_add_rmsnorm."""
    check_norm_inputs(op, input, "input", weight, eps)
    v.require_tensor(op, "residual", residual)
    v.require_same_device(op, "residual", residual, "input", input)
    v.require_same_dtype(op, "residual", residual, "input", input)
    v.require_shape(op, "residual", residual, input.shape)
    v.require_rows(op, "residual", residual)
