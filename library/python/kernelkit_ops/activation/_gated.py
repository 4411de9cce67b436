"""What silu_and_mul, gelu_and_mul and gelu_tanh_and_mul share: checks, output allocation, the call."""

from __future__ import annotations

from collections.abc import Callable

import torch

from kernelkit_ops import _validate as v


def gated_activation(
    op: str, torch_op: Callable[[torch.Tensor, torch.Tensor], None], input: torch.Tensor, out: torch.Tensor | None
) -> torch.Tensor:
    v.require_tensor(op, "input", input)
    v.require_cuda(op, "input", input)
    v.require_dtype(op, "input", input)
    if input.dim() == 0 or input.shape[-1] % 2 != 0:
        v.fail(op, f"input's last dimension must be even (gate and up halves), got shape {list(input.shape)}")
    v.require_rows(op, "input", input)
    out_shape = (*input.shape[:-1], input.shape[-1] // 2)
    if out is None:
        out = input.new_empty(out_shape)
    else:
        v.require_tensor(op, "out", out)
        v.require_same_device(op, "out", out, "input", input)
        v.require_same_dtype(op, "out", out, "input", input)
        v.require_shape(op, "out", out, out_shape)
        v.require_rows(op, "out", out)
    if out.numel() == 0:
        return out  # T = 0 (or d = 0): nothing to launch
    torch_op(out, input)
    return out
