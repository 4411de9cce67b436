"""``sgl_kernel.test_utils``: the test-data generator and the comparison sgl-kernel's per-token-group quant tests
import, so those tests run against kernelkit_ops with only their imports changed.

Same names, signatures, data (the same seeds draw the same numbers) and verdicts as sgl-kernel's.
"""

from __future__ import annotations

import torch

__all__ = ["assert_all_close_or_tiny_diff", "create_per_token_group_quant_test_data"]

# DeepEP's low-latency dispatch layout that the masked tests mimic: 288 experts spread over the ranks, each
# local expert with room for 768 tokens from every rank.
_GLOBAL_EXPERTS = 288
_MAX_DISPATCH_TOKENS_PER_RANK = 768
_DEFAULT_RANKS = 48  # the rank count of sgl-kernel's releases whose generator had no num_ranks argument


def create_per_token_group_quant_test_data(num_tokens, hidden_dim, num_ranks=None, flags=None):
    """``(x, masked_m)``: bf16 CUDA test input for a per-token-group quant test, and its rows per expert.

    ``flags["fuse_silu_and_mul"]`` doubles the width (gate and up halves). ``flags["masked_layout_mode"]``:
    None gives ``x [num_tokens, width]`` with about half its elements scaled by 10 and ``masked_m = None``;
    ``"balanced"`` / ``"imbalanced"`` / ``"extreme"`` give ``x [288 / num_ranks, 768 * num_ranks, width]``
    and ``masked_m`` int32 CUDA ``[288 / num_ranks]`` summing to ``num_tokens`` (even split; a random split
    skewed by cubing uniform noise; everything on the first expert). Deterministic: the generators are
    seeded with ``num_tokens * 10000 + hidden_dim``.

    Also takes the earlier form ``(num_tokens, hidden_dim, flags)`` (48 ranks) and its flag names
    ``masked_layout`` / ``masked_data_generation_mode`` (``"default"`` = balanced).
    """
    if flags is None and isinstance(num_ranks, dict):  # the earlier (num_tokens, hidden_dim, flags) form
        num_ranks, flags = None, num_ranks
    if flags is None:
        raise TypeError("create_per_token_group_quant_test_data() needs flags")
    mode = _masked_layout_mode(flags)

    seed = num_tokens * 10000 + hidden_dim
    gen_cpu = torch.Generator(device="cpu")
    gen_cpu.manual_seed(seed)
    gen_cuda = torch.Generator(device="cuda")
    gen_cuda.manual_seed(seed)
    device, dtype = torch.device("cuda"), torch.bfloat16
    width = hidden_dim * 2 if flags["fuse_silu_and_mul"] else hidden_dim

    if mode is None:
        x = torch.randn(num_tokens, width, device=device, dtype=dtype, generator=gen_cuda)
        outliers = torch.randn(x.shape, device=device, generator=gen_cuda) < 0.001
        x[outliers] *= 10
        return x, None

    ranks = _DEFAULT_RANKS if num_ranks is None else num_ranks
    experts, remainder = divmod(_GLOBAL_EXPERTS, ranks)
    if remainder:
        raise ValueError(f"num_ranks = {ranks} does not divide the {_GLOBAL_EXPERTS} experts")
    rows = _MAX_DISPATCH_TOKENS_PER_RANK * ranks
    x = torch.randn(experts, rows, width, device=device, dtype=dtype, generator=gen_cuda)
    if mode == "balanced":
        masked_m = _balanced_split(num_tokens, experts)
    elif mode == "imbalanced":
        masked_m = _imbalanced_split(num_tokens, experts, gen_cpu)
    elif mode == "extreme":
        masked_m = torch.tensor([num_tokens] + [0] * (experts - 1), dtype=torch.int)
    else:
        raise NotImplementedError(f"masked_layout_mode {mode!r}")
    return x, masked_m.to(device)


def _masked_layout_mode(flags) -> str | None:
    if "masked_layout_mode" in flags:
        return flags["masked_layout_mode"]
    if not flags.get("masked_layout", False):
        return None
    mode = flags.get("masked_data_generation_mode", "default")
    return "balanced" if mode == "default" else mode


def _balanced_split(total: int, parts: int) -> torch.Tensor:
    """``total`` split into ``parts`` counts differing by at most one, the larger first (int32)."""
    base, extra = divmod(total, parts)
    return torch.tensor([base + (i < extra) for i in range(parts)], dtype=torch.int)


def _imbalanced_split(total: int, parts: int, gen_cpu: torch.Generator) -> torch.Tensor:
    """``total`` split in proportion to cubed uniform noise, rounded, then nudged one unit at a time at random
    experts (never below zero) until it sums to ``total`` (int32)."""
    weights = torch.rand(parts, generator=gen_cpu) ** 3
    counts = (weights / weights.sum() * total).round().to(torch.int)
    missing = total - int(counts.sum())
    while missing:
        i = int(torch.randint(0, parts, (1,), generator=gen_cpu))
        if missing > 0:
            counts[i] += 1
            missing -= 1
        elif counts[i] > 0:
            counts[i] -= 1
            missing += 1
    return counts


def assert_all_close_or_tiny_diff(a: torch.Tensor, b: torch.Tensor) -> None:
    """Assert that two 8-bit quantized tensors agree up to rare one-step differences, as sgl-kernel's helper does.

    Same shape and dtype; then no element two or more codes apart (fp8: the raw bytes), no sign flip, and
    elements exactly one apart on fewer than 0.5% of all (4% when there are at most 4096 elements).
    The verdicts are sgl-kernel's, blind spots included, so its tests pass and fail here as they do there:
    for fp8 the signs are read off the unsigned bytes (no flip is ever seen; a flipped sign is still 128 codes
    away); for int8 only a non-negative ``a`` facing a negative ``b`` counts, and code distances are not
    compared at all (sgl-kernel's helper subtracts ``a`` from itself).
    """
    assert a.shape == b.shape and a.dtype == b.dtype, f"{a.shape=} {b.shape=} {a.dtype=} {b.dtype=}"
    numel = a.numel()
    if a.dtype == torch.float8_e4m3fn:
        a_bytes, b_bytes = a.view(torch.uint8), b.view(torch.uint8)
        distance = (a_bytes.to(torch.int16) - b_bytes.to(torch.int16)).abs()
        sign_flips = 0  # unsigned bytes are never negative
    elif a.dtype == torch.int8:
        distance = torch.zeros(a.shape, dtype=torch.int16, device=a.device)
        sign_flips = int(((a >= 0) & (b < 0)).sum())
    else:
        raise NotImplementedError(f"assert_all_close_or_tiny_diff: {a.dtype}")
    tiny = int((distance == 1).sum())
    large = int((distance >= 2).sum())
    few_tiny = tiny / numel < 0.005 or (tiny / numel < 0.04 and numel <= 4096)
    assert sign_flips == 0 and large == 0 and few_tiny, f"{sign_flips=} {tiny=} {large=} {numel=} {a=} {b=}"
