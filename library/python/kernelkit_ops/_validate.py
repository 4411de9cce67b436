"""Input checks shared by the wrappers: each failure names the op, the argument and what was expected.

The C++ bindings check again (the torch ops are public too); the wrappers check first so that
a CPU tensor or a wrong dtype gets a sentence instead of a dispatcher error.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

FLOAT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_DTYPE_NAMES = {torch.bfloat16: "bfloat16", torch.float16: "float16", torch.float32: "float32"}


def fail(op: str, message: str) -> None:
    raise ValueError(f"{op}: {message}")


def require_tensor(op: str, name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        fail(op, f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value  # type: ignore[return-value]


def require_cuda(op: str, name: str, t: torch.Tensor) -> None:
    if t.device.type != "cuda":
        fail(op, f"{name} must be a CUDA tensor, got a tensor on {t.device}")


def require_dtype(op: str, name: str, t: torch.Tensor, allowed: Sequence[torch.dtype] = FLOAT_DTYPES) -> None:
    if t.dtype not in allowed:
        names = ", ".join(_DTYPE_NAMES.get(d, str(d).removeprefix("torch.")) for d in allowed)
        fail(op, f"{name} must be one of {names}, got {str(t.dtype).removeprefix('torch.')}")


def require_same_dtype(op: str, name: str, t: torch.Tensor, like_name: str, like: torch.Tensor) -> None:
    if t.dtype != like.dtype:
        fail(op, f"{name} must have the dtype of {like_name} ({like.dtype}), got {t.dtype}")


def require_same_device(op: str, name: str, t: torch.Tensor, like_name: str, like: torch.Tensor) -> None:
    if t.device != like.device:
        fail(op, f"{name} must be on the device of {like_name} ({like.device}), got {t.device}")


def require_shape(op: str, name: str, t: torch.Tensor, expected: Sequence[int]) -> None:
    if tuple(t.shape) != tuple(expected):
        fail(op, f"{name} must have shape {list(expected)}, got {list(t.shape)}")


def require_contiguous(op: str, name: str, t: torch.Tensor) -> None:
    if not t.is_contiguous():
        fail(op, f"{name} must be contiguous; call .contiguous()")


def require_last_dim_contiguous(op: str, name: str, t: torch.Tensor) -> None:
    if t.dim() == 0:
        fail(op, f"{name} must have at least one dimension")
    if t.shape[-1] > 1 and t.stride(-1) != 1:
        fail(op, f"{name} must be contiguous in its last dimension (stride {t.stride(-1)}); call .contiguous()")


def require_rows(op: str, name: str, t: torch.Tensor) -> None:
    """[..., N] must be rows of N dense elements with one row stride (a slice of a 2-D buffer is fine)."""
    require_last_dim_contiguous(op, name, t)
    for i in range(t.dim() - 3, -1, -1):
        if t.shape[i] > 1 and t.stride(i) != t.stride(i + 1) * t.shape[i + 1]:
            fail(
                op,
                f"{name} of shape {list(t.shape)} and strides {list(t.stride())} does not collapse into rows "
                "with one stride; call .contiguous()",
            )


def pdl_default(x: torch.Tensor, enable_pdl: bool | None) -> bool:
    """sgl-kernel's default: programmatic dependent launch wherever the GPU has it (sm_90+)."""
    if enable_pdl is not None:
        return bool(enable_pdl)
    if not torch.cuda.is_available():  # tracing with fake CUDA tensors on a machine without a GPU
        return False
    return torch.cuda.get_device_capability(x.device)[0] >= 9
