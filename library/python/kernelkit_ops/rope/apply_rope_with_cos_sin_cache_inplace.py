"""`apply_rope_with_cos_sin_cache_inplace`: rotary position embedding of query and key, in place, from a
precomputed [cos | sin] cache (sgl-kernel's API), and the check of out-of-range positions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch

from kernelkit_ops._defaults import pdl_default

OP = "apply_rope_with_cos_sin_cache_inplace"

# KERNELKIT_CHECK_POSITIONS=1: every eager call synchronizes and raises on out-of-range positions or cache
# slots (a debugging aid; off, nothing on the hot path waits for the GPU).
CHECK_POSITIONS = os.environ.get("KERNELKIT_CHECK_POSITIONS", "0") not in ("", "0")

# Per device: int64[8] = [count, token, position, max_pos] of out-of-range positions, then [count, token,
# cache_loc, num_slots] of out-of-range cache slots, since the last check (the first one seen of each, and how
# many). Written by the kernel with atomics, read by check_positions.
_ERROR_FIELDS = 8
_ERROR_BUFFERS: dict[torch.device, torch.Tensor] = {}
_NO_RECORDING = 0  # numel of the buffer passed when errors cannot be recorded
# Per device: the empty k_buffer / v_buffer passed without a KV-cache store (two, so no two written
# arguments alias).
_NO_STORE: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


@dataclass
class FusedSetKVBufferArg:
    """The KV-cache store fused into ``apply_rope_with_cos_sin_cache_inplace`` (sgl-kernel's dataclass, same fields).

    value : torch.Tensor
        ``(nnz, num_kv_heads * head_size)`` (or ``(nnz, num_kv_heads, head_size)``), query's dtype; rows may be
        strided (the v slice of a fused qkv).
    k_buffer : torch.Tensor
        The layer's key cache, ``(num_slots, num_kv_heads * head_size)`` or ``(num_slots, num_kv_heads, head_size)``,
        query's dtype.
    v_buffer : torch.Tensor
        The layer's value cache, the same shape.
    k_scale : Optional[float]
        Must be None (as in sgl-kernel: ``AssertionError("k_scale is not yet supported")``).
    v_scale : Optional[float]
        Must be None.
    cache_loc : torch.Tensor
        ``(nnz,)`` int64: the slot of each token.
    """

    value: torch.Tensor
    k_buffer: torch.Tensor
    v_buffer: torch.Tensor
    k_scale: Optional[float]  # noqa: UP045 -- sgl-kernel's annotations, kept as they are
    v_scale: Optional[float]  # noqa: UP045
    cache_loc: torch.Tensor


def apply_rope_with_cos_sin_cache_inplace(
    positions: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    head_size: int,
    cos_sin_cache: torch.Tensor,
    is_neox: bool = True,
    fused_set_kv_buffer_arg: FusedSetKVBufferArg | None = None,
    enable_pdl: bool | None = None,
) -> None:
    """Apply rotary position embedding to ``query`` and ``key`` in place, and optionally store the rotated key
    and the value into the KV cache in the same kernel (same signature as
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
        head_size: elements per head (> 0; any size, where sgl-kernel takes 64, 128, 256 and 512).
        cos_sin_cache: ``[max_pos, rotary_dim]`` float32, cos in the first half of each row, sin in the
            second; ``rotary_dim`` even and at most ``head_size`` (and 2048). Another dtype raises
            ``ValueError("cos_sin_cache should be float32")`` as sgl-kernel does.
        is_neox: pairing style, see above.
        fused_set_kv_buffer_arg: a ``FusedSetKVBufferArg``: after the rotation, for every token ``t`` and key
            head ``h``, ``k_buffer[cache_loc[t], h] = key[t, h]`` (the whole head, its rotated dims bit for bit
            as written into ``key``) and ``v_buffer[cache_loc[t], h] = value[t, h]``, in the same pass (q and k
            are still rotated in place). As in sgl-kernel: ``k_scale``/``v_scale`` must be None and
            ``cache_loc`` int64 (``AssertionError`` otherwise), the caches have query's dtype (no fp8 cache);
            duplicate slots in ``cache_loc`` race (which token's row lands is unspecified).
        enable_pdl: programmatic dependent launch (the launch overlaps the previous kernel's tail); None means
            on for sm_90+. sgl-kernel turns it on only with the fused store and refuses ``True`` without it;
            here it works on both paths.

    Returns:
        None; ``query`` and ``key`` (and the caches) are updated. T = 0 launches nothing. The op checks its
        arguments and raises ``RuntimeError`` naming the one to fix.

    Out-of-range positions: a position outside ``[0, max_pos)`` is never used to index the cache (no
    wild read). That token's query and key rows are left unchanged (and nothing of it is stored), and the
    kernel records it on the device (how many, and the first one's token, position and max_pos) without
    synchronizing. Likewise a ``cache_loc`` outside ``[0, num_slots)`` is never written through (no wild write):
    the token is rotated but not stored, and recorded. ``check_positions()`` (``from
    kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace import check_positions``) synchronizes and raises
    ``ValueError`` naming ``positions[t]`` or ``cache_loc[t]`` if any call since the last check met one; with
    ``KERNELKIT_CHECK_POSITIONS=1`` in the environment every eager call checks (and so synchronizes). Calls
    traced by ``torch.compile`` or made with fake tensors keep the guards but record nothing; calls inside
    CUDA-graph capture record into the device's buffer once an eager call outside capture has created it.
    """
    if cos_sin_cache.dtype != torch.float32:
        raise ValueError(f"cos_sin_cache should be float32, got {cos_sin_cache.dtype} ({OP})")
    errors = _error_buffer(query)
    a = fused_set_kv_buffer_arg
    if a is None:
        value = cache_loc = None
        k_buffer, v_buffer = _no_store(query)
    else:
        # sgl-kernel's assertions, raised even under python -O.
        if a.k_scale is not None:
            raise AssertionError("k_scale is not yet supported")
        if a.v_scale is not None:
            raise AssertionError("v_scale is not yet supported")
        if a.cache_loc.dtype != torch.int64:
            raise AssertionError(f"a.cache_loc.dtype={a.cache_loc.dtype} (cache_loc must be int64)")
        value, k_buffer, v_buffer, cache_loc = a.value, a.k_buffer, a.v_buffer, a.cache_loc
    torch.ops.kernelkit.apply_rope_with_cos_sin_cache_inplace.default(
        positions,
        query,
        key,
        head_size,
        cos_sin_cache,
        is_neox,
        errors,
        value,
        k_buffer,
        v_buffer,
        cache_loc,
        pdl_default(query, enable_pdl),
    )
    if CHECK_POSITIONS and errors.numel() != _NO_RECORDING:
        check_positions(query.device)


def check_positions(device: torch.device | str | int | None = None) -> None:
    """Raise ``ValueError`` if a call since the last check met a position outside ``[0, max_pos)`` or a
    ``cache_loc`` outside ``[0, num_slots)``.

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
        count, token, position, max_pos, loc_count, loc_token, loc, num_slots = buf.tolist()
        if count or loc_count:
            buf.zero_()
            found = []
            if count:
                found.append(
                    f"positions[{token}] = {position} is outside [0, {max_pos}) (the rows of cos_sin_cache); "
                    f"{count} token(s) with such positions since the last check on {dev}, their query and key rows "
                    "were left unrotated (and not stored)"
                )
            if loc_count:
                found.append(
                    f"cache_loc[{loc_token}] = {loc} is outside [0, {num_slots}) (the slots of k_buffer/v_buffer); "
                    f"{loc_count} token(s) with such slots since the last check on {dev}, their key and value were "
                    "not stored"
                )
            raise ValueError(f"{OP}: " + "; and ".join(found))


def _error_buffer(query: torch.Tensor) -> torch.Tensor:
    """The device's error record, or an empty tensor (record nothing) where a persistent one cannot be used."""
    # Traced (dynamo) or fake tensors: a module-level buffer would become a graph constant or a fake
    # tensor that outlives the trace; the kernel still guards the positions and slots.
    if torch.compiler.is_compiling() or type(query) is not torch.Tensor:
        return query.new_empty(_NO_RECORDING, dtype=torch.int64)
    buf = _ERROR_BUFFERS.get(query.device)
    if buf is None:
        # Allocating during CUDA-graph capture would put the buffer in the graph's private pool
        # and its zero-fill into every replay. A query on no CUDA device is on its way to the op's
        # refusal: nothing to record there.
        if query.device.type != "cuda" or torch.cuda.is_current_stream_capturing():
            return query.new_empty(_NO_RECORDING, dtype=torch.int64)
        buf = _ERROR_BUFFERS[query.device] = torch.zeros(_ERROR_FIELDS, dtype=torch.int64, device=query.device)
    return buf


def _no_store(query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Empty k_buffer / v_buffer for a call without the KV-cache store (cached per device: an empty tensor
    costs a few µs of host time to make)."""
    if torch.compiler.is_compiling() or type(query) is not torch.Tensor:  # as in _error_buffer
        return query.new_empty(0), query.new_empty(0)
    pair = _NO_STORE.get(query.device)
    if pair is None:
        pair = _NO_STORE[query.device] = (query.new_empty(0), query.new_empty(0))
    return pair
