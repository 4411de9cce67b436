"""What the quantization wrappers share: checks of `input` and of the fp8 / scale outputs."""

from __future__ import annotations

import torch

from kernelkit_ops import _validate as v

FP8 = torch.float8_e4m3fn


def check_input(op: str, input: torch.Tensor) -> None:
    """`input [..., H]`: a CUDA bf16/fp16/fp32 tensor of rows with one row stride (a row slice is fine)."""
    v.require_tensor(op, "input", input)
    v.require_cuda(op, "input", input)
    v.require_dtype(op, "input", input)
    v.require_rows(op, "input", input)


def check_fp8_output(op: str, input: torch.Tensor, output_q: torch.Tensor) -> None:
    """`output_q`: float8_e4m3fn with input's shape, on its device, rows with one row stride."""
    v.require_tensor(op, "output_q", output_q)
    v.require_same_device(op, "output_q", output_q, "input", input)
    if output_q.dtype != FP8:
        v.fail(op, f"output_q must be float8_e4m3fn, got {str(output_q.dtype).removeprefix('torch.')}")
    v.require_shape(op, "output_q", output_q, input.shape)
    v.require_rows(op, "output_q", output_q)


def check_float32(op: str, name: str, t: torch.Tensor, input: torch.Tensor) -> None:
    v.require_tensor(op, name, t)
    v.require_same_device(op, name, t, "input", input)
    if t.dtype != torch.float32:
        v.fail(op, f"{name} must be float32, got {str(t.dtype).removeprefix('torch.')}")


def check_row_scales(op: str, input: torch.Tensor, output_s: torch.Tensor) -> None:
    """`output_s`: one float32 per row of input, contiguous: ``input.shape[:-1] + (1,)`` (what sglang
    allocates) or ``input.shape[:-1]``."""
    check_float32(op, "output_s", output_s, input)
    rows = tuple(input.shape[:-1])
    if tuple(output_s.shape) not in (rows + (1,), rows):
        v.fail(
            op,
            f"output_s must have shape {list(rows + (1,))} or {list(rows)} (one scale per row of input "
            f"{list(input.shape)}), got {list(output_s.shape)}",
        )
    v.require_contiguous(op, "output_s", output_s)
