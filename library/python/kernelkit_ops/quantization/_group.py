"""What the per-token-group quant wrappers (fp8, int8) share: their checks, in the binding's words.

The C++ binding checks the same again (the torch ops are public too); checking here first turns a CPU
tensor or a wrong dtype into a ValueError naming the argument instead of a dispatcher error.
"""

from __future__ import annotations

import torch

from kernelkit_ops import _validate as v

# The group sizes with a kernel (kernelkit/per_token_group_quant.cuh): group_size / 8 lanes per group,
# a power of two <= 32.
GROUP_SIZES = (16, 32, 64, 128, 256)

# eps is used as a float32: it must not round to 0 (a zero group would divide by zero) or to inf.
_F32_ROUNDS_TO_ZERO = 2.0**-150
_F32_ROUNDS_TO_INF = 2.0**128 - 2.0**103


def scale_strides(op: str, output_s: torch.Tensor) -> tuple[int, int]:
    """(row stride, group stride) of output_s ``[..., G]``: its leading dims must collapse into one row
    stride; row-major, column-major (``empty(G, T).T``) and padded (TMA-aligned) layouts all qualify,
    as long as no two scales share an element."""
    shape, strides = list(output_s.shape), list(output_s.stride())
    groups = shape[-1]
    rows = 1
    for size in shape[:-1]:
        rows *= size
    group_stride = strides[-1] if groups > 1 else 1
    row_stride = 0
    inner_stride, inner_size = None, 1
    for size, stride in zip(reversed(shape[:-1]), reversed(strides[:-1])):
        if size == 1:
            continue
        if inner_stride is None:
            row_stride = stride
        elif stride != inner_stride * inner_size:
            v.fail(op, f"output_s of shape {shape} has leading dimensions that do not collapse into rows with one stride")
        inner_stride, inner_size = stride, size
    if rows <= 1:
        row_stride = groups * group_stride
    rows_inner = row_stride <= group_stride
    in_s, in_n = (row_stride, rows) if rows_inner else (group_stride, groups)
    out_s, out_n = (group_stride, groups) if rows_inner else (row_stride, rows)
    disjoint = (in_n <= 1 or in_s >= 1) and (out_n <= 1 or out_s >= (1 if in_n <= 1 else in_s * in_n))
    if row_stride < 0 or group_stride < 0 or not disjoint:
        v.fail(
            op,
            f"output_s of shape {shape} has negative or overlapping strides (row stride {row_stride}, group stride "
            f"{group_stride}); every scale needs its own element",
        )
    return row_stride, group_stride


def check_group_quant(
    op: str,
    input: torch.Tensor,
    output_q: torch.Tensor,
    q_dtype: torch.dtype,
    output_s: torch.Tensor,
    group_size: int,
    eps: float,
    qmin: tuple[str, float, float],
    qmax: tuple[str, float, float],
) -> None:
    """qmin/qmax: (argument name, value, the 8-bit type's limit)."""
    for name, t in (("input", input), ("output_q", output_q), ("output_s", output_s)):
        v.require_tensor(op, name, t)
    v.require_cuda(op, "input", input)
    v.require_same_device(op, "output_q", output_q, "input", input)
    v.require_same_device(op, "output_s", output_s, "input", input)
    v.require_dtype(op, "input", input)
    for name, t, want in (("output_q", output_q, q_dtype), ("output_s", output_s, torch.float32)):
        if t.dtype != want:
            v.fail(op, f"{name} must be {str(want).removeprefix('torch.')}, got {str(t.dtype).removeprefix('torch.')}")
    if input.dim() == 0:
        v.fail(op, "input must have at least one dimension")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size not in GROUP_SIZES:
        v.fail(op, f"group_size must be one of {', '.join(map(str, GROUP_SIZES))}, got {group_size!r}")
    hidden = input.shape[-1]
    if hidden % group_size:
        v.fail(op, f"the last dimension of input ({hidden}) must be a multiple of group_size ({group_size})")
    v.require_shape(op, "output_q", output_q, input.shape)
    expected_s = [*input.shape[:-1], hidden // group_size]
    if list(output_s.shape) != expected_s:
        v.fail(
            op,
            f"output_s must have shape {expected_s} (input's leading dims, hidden / group_size), got "
            f"{list(output_s.shape)}",
        )
    v.require_rows(op, "input", input)
    v.require_rows(op, "output_q", output_q)
    scale_strides(op, output_s)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not _F32_ROUNDS_TO_ZERO < eps < _F32_ROUNDS_TO_INF:
        v.fail(
            op,
            f"eps must be a positive finite float32 (it floors absmax so that an all-zero group does not divide by "
            f"zero), got {eps!r}",
        )
    (min_name, lo, lo_limit), (max_name, hi, hi_limit) = qmin, qmax
    for name, value in ((min_name, lo), (max_name, hi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            v.fail(op, f"{name} must be a float, got {value!r}")
    if not 0 < hi <= hi_limit:
        v.fail(op, f"{max_name} must be in (0, {hi_limit:g}], got {hi!r}")
    if not lo_limit <= lo <= hi:
        v.fail(op, f"{min_name} must be in [{lo_limit:g}, {max_name} = {hi:g}], got {lo!r}")
