"""``sgl_kernel.utils``'s public helpers, for code that imports them next to the ops
(``from kernelkit_ops.utils import is_arch_support_pdl`` where it had ``from sgl_kernel.utils import ...``).

Same names, signatures and results as sgl-kernel's; not used by kernelkit_ops' own wrappers (they keep a
per-device PDL default, ``kernelkit_ops._defaults``).
"""

from __future__ import annotations

import functools

import torch

__all__ = [
    "get_cuda_stream",
    "is_arch_support_pdl",
    "is_hopper_arch",
    "is_hopper_or_later_arch",
]


def get_cuda_stream() -> int:
    """The raw handle (``cudaStream_t`` as an int) of the current CUDA stream of the current device."""
    return torch.cuda.current_stream().cuda_stream


# Scratch buffers by (name, device), allocated once and handed out again on every later request.
_cache_buf: dict[tuple[str, torch.device], torch.Tensor] = {}


def _get_cache_buf(name: str, bytes: int, device: torch.device) -> torch.Tensor:
    """A uint8 scratch buffer of ``bytes`` bytes for (name, device), allocated on first request and reused after.

    As in sgl-kernel, a later request for the same (name, device) gets the first buffer whatever ``bytes``
    it asks for; the contents are never initialised.
    """
    key = (name, device)
    buf = _cache_buf.get(key)
    if buf is None:
        buf = _cache_buf[key] = torch.empty(bytes, dtype=torch.uint8, device=device)
    return buf


def _to_tensor_scalar_tuple(x):
    """``(x, 0)`` for a tensor, ``(None, x)`` for a scalar: the (tensor, scalar) pair sampling ops take."""
    if isinstance(x, torch.Tensor):
        return (x, 0)
    return (None, x)


def _current_major() -> int | None:
    """Compute-capability major of the current CUDA device; None where torch sees no CUDA GPU."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(torch.cuda.current_device())[0]


@functools.lru_cache(maxsize=1)
def is_arch_support_pdl() -> bool:
    """Whether the current GPU has programmatic dependent launch (compute capability 9.0 or newer).

    Asked once per process, as sgl-kernel does. Where sgl-kernel's raises for want of a GPU, this returns False.
    """
    major = _current_major()
    return major is not None and major >= 9


@functools.lru_cache(maxsize=1)
def is_hopper_arch() -> bool:
    """Whether the current GPU is a Hopper (compute capability 9.x); asked once per process."""
    return _current_major() == 9


@functools.lru_cache(maxsize=1)
def is_hopper_or_later_arch() -> bool:
    """Whether the current GPU is a Hopper or newer (compute capability 9.0+); asked once per process."""
    major = _current_major()
    return major is not None and major >= 9
