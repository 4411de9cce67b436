"""What the sampling wrappers share: sgl-kernel's scalar-or-tensor thresholds and the Philox seed/offset drawn from a
torch generator (the stable ABI has no Generator, so the kernel gets numbers, not the generator)."""

from __future__ import annotations

import torch

# Offset advance per call. Each call draws one Philox block per output row (counter = (offset, row)), so any step
# >= 1 keeps calls apart; 4 is the granularity torch's own Philox users advance by.
OFFSET_INCREMENT = 4
_U64 = 1 << 64


def to_tensor_scalar_tuple(x):
    """sgl-kernel's ``_to_tensor_scalar_tuple``: a tensor is per-row (``(x, 0)``), anything else a scalar
    (``(None, x)``)."""
    if isinstance(x, torch.Tensor):
        return (x, 0)
    return (None, x)


def _signed(v: int) -> int:
    """A uint64 as the int64 with the same bits (the schema's `int`)."""
    v %= _U64
    return v - _U64 if v >= 1 << 63 else v


def philox_seed_offset(generator: torch.Generator | None, device: torch.device):
    """(seed, offset, rng_state) for one sampling call.

    Eager: the generator's seed and Philox offset, read on the host, and the offset advanced, so a generator seeded
    the same way gives the same tokens and successive calls differ. While a CUDA graph is being captured (or under
    torch.compile), host numbers would be frozen into the graph: instead 2 x 62 random bits are drawn on the device
    with ``torch.randint`` on the same generator (torch makes its Philox ops replay-safe: every replay draws anew),
    and the kernel reads them from that int64 tensor.
    """
    if torch.compiler.is_compiling() or (device.type == "cuda" and torch.cuda.is_current_stream_capturing()):
        kwargs = {} if generator is None else {"generator": generator}
        state = torch.randint(0, 1 << 62, (2,), dtype=torch.int64, device=device, **kwargs)
        return 0, 0, state
    if device.type != "cuda":  # the binding refuses it with its own message
        return 0, 0, None
    if generator is None:
        index = device.index if device.index is not None else torch.cuda.current_device()
        generator = torch.cuda.default_generators[index]
    try:  # two integers, no tensor: cheaper on the host than get_state / set_state
        seed = generator.initial_seed()
        offset = generator.get_offset()
        generator.set_offset(offset + OFFSET_INCREMENT)
    except (RuntimeError, AttributeError):
        state = generator.get_state().view(torch.int64)
        seed, offset = int(state[0]), int(state[1])
        generator.set_state(torch.tensor([seed, offset + OFFSET_INCREMENT], dtype=torch.int64).view(torch.uint8))
    return _signed(seed), _signed(offset), None


def check_nan(probs: torch.Tensor) -> None:
    """sgl-kernel's ``check_nan``: ValueError when probs holds a NaN (a host sync, as upstream)."""
    if torch.any(torch.isnan(probs)):
        raise ValueError("Input probs contains NaN.")


def samples_for(probs: torch.Tensor, indices: torch.Tensor | None) -> torch.Tensor:
    """The int32 output: one token per index (FlashInfer's batch size), or per row of probs."""
    n = indices.size(0) if indices is not None else probs.size(0)
    return torch.empty(n, dtype=torch.int32, device=probs.device)
