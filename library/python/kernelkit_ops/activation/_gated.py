"""What silu_and_mul, gelu_and_mul and gelu_tanh_and_mul share: input checks and output allocation."""

from __future__ import annotations

import torch

from kernelkit_ops import _validate as v


def gated_output(op: str, input: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """Check `input [..., 2d]` (and `out [..., d]` when given); return the tensor to write into."""
    v.require_tensor(op, "input", input)
    v.require_cuda(op, "input", input)
    v.require_dtype(op, "input", input)
    if input.dim() == 0 or input.shape[-1] % 2 != 0:
        v.fail(op, f"input's last dimension must be even (gate and up halves), got shape {list(input.shape)}")
    v.require_rows(op, "input", input)
    out_shape = (*input.shape[:-1], input.shape[-1] // 2)
    if out is None:
        return input.new_empty(out_shape)
    v.require_tensor(op, "out", out)
    v.require_same_device(op, "out", out, "input", input)
    v.require_same_dtype(op, "out", out, "input", input)
    v.require_shape(op, "out", out, out_shape)
    v.require_rows(op, "out", out)
    return out
