"""`apply_rope_with_cos_sin_cache_inplace`: rotary position embedding of query and key, in place, from a
precomputed [cos | sin] cache (sgl-kernel's API), and the check of out-of-range positions."""

from __future__ import annotations

import os

import torch

OP = "apply_rope_with_cos_sin_cache_inplace"

# KERNELKIT_CHECK_POSITIONS=1: every eager call synchronizes and raises on out-of-range positions
# (a debugging aid; off, nothing on the hot path waits for the GPU).
CHECK_POSITIONS = os.environ.get("KERNELKIT_CHECK_POSITIONS", "0") not in ("", "0")

# Per device: int64[4] = [count, token, position, max_pos] of out-of-range positions since the last
# check (the first one seen, and how many). Written by the kernel with atomics, read by check_positions.
_ERROR_BUFFERS: dict[torch.device, torch.Tensor] = {}
_NO_RECORDING = 0  # numel of the buffer passed when errors cannot be recorded


def apply_rope_with_cos_sin_cache_inplace(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    head_size: int,
    cos_sin_cache: torch.Tensor,
    is_neox: bool = True,
) -> None:
    """Apply rotary position embedding to ``query`` and ``key`` in place (same signature as
    ``sgl_kernel.apply_rope_with_cos_sin_cache_inplace``).

    For token ``t`` at ``p = positions[t]``, the first ``rotary_dim`` dims of every head of ``query``
    and ``key`` are rotated by row ``p`` of ``cos_sin_cache``: with ``cos, sin = cos_sin_cache[p].chunk(2)``,
    each pair ``(x1, x2)`` becomes ``(x1*cos[i] - x2*sin[i], x2*cos[i] + x1*sin[i])``. ``is_neox=True``
    pairs dim ``i`` with ``i + rotary_dim/2`` (GPT-NeoX, Llama); ``False`` pairs ``2i`` with ``2i+1`` (GPT-J).
    Dims past ``rotary_dim`` are not touched. Math in float32, rounded once.

    Args:
        positions: ``[T]`` int64 (int32 accepted), contiguous.
        query: ``[T, Hq * head_size]`` or ``[T, Hq, head_size]``, bfloat16/float16, contiguous in its last
            dim; rows may be strided (e.g. the q slice of a fused qkv buffer).
        key: ``[T, Hk * head_size]`` or ``[T, Hk, head_size]``, query's dtype and device; ``Hk`` may differ.
        head_size: elements per head (> 0).
        cos_sin_cache: ``[max_pos, rotary_dim]`` float32, cos in the first half of each row, sin in the
            second; ``rotary_dim`` even and at most ``head_size`` (and 2048).
        is_neox: pairing style, see above.

    Returns:
        None; ``query`` and ``key`` are updated. T = 0 launches nothing. The op checks its arguments and
        raises ``RuntimeError`` naming the one to fix.

    Out-of-range positions: a position outside ``[0, max_pos)`` is never used to index the cache (no
    wild read). That token's query and key rows are left unchanged, and the kernel records it on the
    device (how many, and the first one's token, position and max_pos) without synchronizing.
    ``check_positions()`` (``from kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import
    check_positions``) synchronizes and raises ``ValueError`` naming ``positions[t]`` if any call since
    the last check met one; with ``KERNELKIT_CHECK_POSITIONS=1`` in the environment every eager call
    checks (and so synchronizes). Calls traced by ``torch.compile`` or made with fake
    tensors keep the guard but record nothing; calls inside CUDA-graph capture record into the device's
    buffer once an eager call outside capture has created it.
    """
    errors = _error_buffer(query)
    torch.ops.kernelkit.apply_rope_with_cos_sin_cache_inplace.default(
        positions, query, key, head_size, cos_sin_cache, is_neox, errors
    )
    if CHECK_POSITIONS and errors.numel() != _NO_RECORDING:
        check_positions(query.device)


def check_positions(device: torch.device | str | int | None = None) -> None:
    """Raise ``ValueError`` if a call since the last check met a position outside ``[0, max_pos)``.

    Synchronizes ``device`` (every device that has run the op when None), then clears the record.
    Cheap enough for a step boundary of a serving loop; a debugging aid per call
    (``KERNELKIT_CHECK_POSITIONS=1``).
    """
    if device is None:
        devices = list(_ERROR_BUFFERS)
    else:
        device = torch.device("cuda", device) if isinstance(device, int) else torch.device(device)
        if device.type == "cuda" and device.index is None:  # buffers are keyed by tensors' devices: indexed
            device = torch.device("cuda", torch.cuda.current_device())
        devices = [device]
    for dev in devices:
        buf = _ERROR_BUFFERS.get(dev)
        if buf is None:
            continue
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        count, token, position, max_pos = buf.tolist()
        if count:
            buf.zero_()
            raise ValueError(
                f"{OP}: positions[{token}] = {position} is outside [0, {max_pos}) (the rows of cos_sin_cache); "
                f"{count} token(s) with such positions since the last check on {dev}, their query and key rows "
                "were left unrotated"
            )


def _error_buffer(query: torch.Tensor) -> torch.Tensor:
    """The device's error record, or an empty tensor (record nothing) where a persistent one cannot be used."""
    # Traced (dynamo) or fake tensors: a module-level buffer would become a graph constant or a fake
    # tensor that outlives the trace; the kernel still guards the positions.
    if torch.compiler.is_compiling() or type(query) is not torch.Tensor:
        return query.new_empty(_NO_RECORDING, dtype=torch.int64)
    buf = _ERROR_BUFFERS.get(query.device)
    if buf is None:
        # Allocating during CUDA-graph capture would put the buffer in the graph's private pool
        # and its zero-fill into every replay. A query on no CUDA device is on its way to the op's
        # refusal: nothing to record there.
        if query.device.type != "cuda" or torch.cuda.is_current_stream_capturing():
            return query.new_empty(_NO_RECORDING, dtype=torch.int64)
        buf = _ERROR_BUFFERS[query.device] = torch.zeros(4, dtype=torch.int64, device=query.device)
    return buf
