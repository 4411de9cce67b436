"""`apply_rope_with_cos_sin_cache_inplace` benchmark: kernelkit vs the torch reference (eager and torch.compile),
FlashInfer / sgl-kernel when installed (same signature), and Liger when installed (its own layout: see make_inputs).

Case: a Llama-3-8B-like attention layer, 32 query + 8 kv heads x head_size 128, rotary_dim 128, NeoX style,
bf16, query and key the q and k slices of one fused qkv projection output (row-strided, as in serving).

kv_store=1 cases: the same call with sgl-kernel's fused_set_kv_buffer_arg (the rotated key and the value, the v
slice of the same qkv, stored at cache_loc, a random permutation of the slots of a [32768, 8 * 128] cache). Their
rows answer issue 22's three targets in one run:
  * "kernelkit_rope+index_put": our RoPE, then `k_buffer[cache_loc] = key; v_buffer[cache_loc] = value` (what
    the fused call replaces) -- the fused call should be >= 1.3x faster at T >= 2048;
  * the harness's same-size copy column -- >= 90% of it at T = 16384;
  * "kernelkit_rope_only": our RoPE without the store -- the fused call within 10% of it at T <= 128.
On the plain cases those two rows are the plain call itself (nothing to store). "kernelkit_no_pdl" is the same
call with enable_pdl=False (issue 22 item 4: the launch shape alone, against FlashInfer's RoPE, which has no PDL).
Libraries without the store (FlashInfer, Liger) run their RoPE, then the same torch store; sgl-kernel gets the
fused argument.

Bytes model (exact, what the op must move): every rotated element of query and key read once and written
once, each token's cos/sin row (rotary_dim fp32) read once, each position (int64) read once:
    T * (Hq + Hk) * rotary_dim * 2 * 2 bytes  +  T * rotary_dim * 4  +  T * 8
Positions are distinct (a random permutation of the cache rows), so no cos/sin row is shared between tokens
and the cache term is really moved. V and the dims past rotary_dim (none here) are not counted: not touched.
The store adds: the rotated key written again (k_buffer), the value read and written (v_buffer), cache_loc read:
    T * Hk * head_size * 2 * 3  +  T * 8
(the key is read once: it is rotated in registers and written to key and k_buffer).
FLOPs: 6 per rotated pair (4 multiplies, 2 adds).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

MAX_POS = 32768  # >= the largest case, so positions can be distinct
ROPE_BASE = 500000.0  # Llama 3
KV_SLOTS = 32768  # the KV cache's slots (>= the largest case, so cache_loc can be a permutation)
_KV_CACHES: dict[tuple, tuple] = {}  # one cache per shape, shared by every input copy (only cache_loc rows change)


def kv_store(case: Case) -> bool:
    return dict(case.shape).get("kv_store", 0) == 1


def cos_sin_cache(max_pos: int, rotary_dim: int, device: str = "cuda"):
    """[max_pos, rotary_dim] fp32, [cos | sin], as sglang's RotaryEmbedding builds it."""
    import torch

    inv_freq = 1.0 / (ROPE_BASE ** (torch.arange(0, rotary_dim, 2, dtype=torch.float32, device=device) / rotary_dim))
    freqs = torch.outer(torch.arange(max_pos, dtype=torch.float32, device=device), inv_freq)
    return torch.cat((freqs.cos(), freqs.sin()), dim=-1)


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    t, hq, hk, hs = case.tokens, case.size("q_heads"), case.size("kv_heads"), case.size("head_size")
    qkv = torch.randn(t, (hq + 2 * hk) * hs, device="cuda", dtype=dtype)
    query, key = qkv[:, : hq * hs], qkv[:, hq * hs : (hq + hk) * hs]
    positions = torch.randperm(MAX_POS, device="cuda")[:t]
    cache = cos_sin_cache(MAX_POS, case.size("rotary_dim"))  # one per input copy: cold like the rest
    inputs = {"args": [positions, query, key, hs, cache, True], "qkv": qkv}
    if kv_store(case):
        import kernelkit_ops

        shape = (KV_SLOTS, hk * hs, dtype)
        if shape not in _KV_CACHES:
            _KV_CACHES.clear()  # the previous case's caches go
            _KV_CACHES[shape] = tuple(torch.randn(KV_SLOTS, hk * hs, device="cuda", dtype=dtype) for _ in range(2))
        k_buffer, v_buffer = _KV_CACHES[shape]
        value = qkv[:, (hq + hk) * hs :]
        cache_loc = torch.randperm(KV_SLOTS, device="cuda")[:t]
        inputs["kv"] = (value, k_buffer, v_buffer, cache_loc)
        inputs["fused"] = kernelkit_ops.FusedSetKVBufferArg(value, k_buffer, v_buffer, None, None, cache_loc)
    if installed("liger_kernel"):
        # Liger's layout: q [1, Hq, T, D] and k as transposed views of contiguous [1, T, H, D] (it copies
        # anything else, which would time a copy), cos/sin [1, T, rotary] already gathered by position in
        # the model dtype (HF style): the same bytes as our fp32 half-width cache rows, minus the gather.
        half = case.size("rotary_dim") // 2
        cos, sin = cache.index_select(0, positions).to(dtype).split(half, dim=-1)
        inputs["liger"] = (
            query.contiguous().view(1, t, hq, hs).transpose(1, 2),
            key.contiguous().view(1, t, hk, hs).transpose(1, 2),
            torch.cat((cos, cos), dim=-1).unsqueeze(0),
            torch.cat((sin, sin), dim=-1).unsqueeze(0),
        )
    return inputs


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(*inputs["args"], inputs.get("fused"))


def kernelkit_no_pdl(inputs: dict):
    """The same call launched without PDL: what the launch shape gives alone (FlashInfer's RoPE has no PDL)."""
    import kernelkit_ops

    return kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(*inputs["args"], inputs.get("fused"), False)


def torch_store(inputs: dict) -> None:
    """The KV-cache store as a separate step (sglang's set_kv_buffer): two index_put_ of the rows at cache_loc."""
    if "kv" in inputs:
        value, k_buffer, v_buffer, cache_loc = inputs["kv"]
        k_buffer[cache_loc] = inputs["args"][2]
        v_buffer[cache_loc] = value


def kernelkit_rope_then_index_put(inputs: dict):
    import kernelkit_ops

    kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(*inputs["args"])
    torch_store(inputs)


def kernelkit_rope_only(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(*inputs["args"])


def reference(inputs: dict):
    """The same math in plain torch (NeoX; sglang's forward_native): fp32, written back in place, then the store."""
    rotate_reference(inputs)
    torch_store(inputs)


def rotate_reference(inputs: dict):
    import torch

    positions, query, key, head_size, cache, _ = inputs["args"]
    rotary_dim = cache.shape[-1]
    half = rotary_dim // 2
    cos, sin = cache.index_select(0, positions).unsqueeze(1).chunk(2, dim=-1)  # [T, 1, half]
    for x in (query, key):
        heads = x.view(x.shape[0], -1, head_size)
        x1, x2 = heads[..., :half].float(), heads[..., half:rotary_dim].float()
        heads[..., :rotary_dim].copy_(torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1))


def library_impls() -> dict[str, Callable]:
    impls: dict[str, Callable] = {}
    if installed("sgl_kernel"):

        def sgl(inputs: dict):
            sgl_kernel = importlib.import_module("sgl_kernel")
            fused = None
            if "kv" in inputs:
                fused = sgl_kernel.FusedSetKVBufferArg(*inputs["kv"][:3], None, None, inputs["kv"][3])
            return sgl_kernel.apply_rope_with_cos_sin_cache_inplace(*inputs["args"], fused_set_kv_buffer_arg=fused)

        impls["sgl_kernel"] = sgl
    if installed("flashinfer"):

        def flashinfer(inputs: dict):
            fi = importlib.import_module("flashinfer")
            fn = (
                getattr(fi, "apply_rope_with_cos_sin_cache_inplace", None)
                or importlib.import_module("flashinfer.rope").apply_rope_with_cos_sin_cache_inplace
            )
            fn(*inputs["args"])
            torch_store(inputs)

        impls["flashinfer"] = flashinfer
    if installed("liger_kernel"):

        def liger(inputs: dict):
            from liger_kernel.ops.rope import LigerRopeFunction

            LigerRopeFunction.apply(*inputs["liger"])
            torch_store(inputs)

        impls["liger"] = liger
    return impls


def bytes_moved(case: Case) -> int:
    t, heads, rd = case.tokens, case.size("q_heads") + case.size("kv_heads"), case.size("rotary_dim")
    rope = t * heads * rd * 2 * case.itemsize + t * rd * 4 + t * 8
    if not kv_store(case):
        return rope
    # k rows past rotary_dim are read once too (none here: rotary_dim == head_size)
    hk, hs = case.size("kv_heads"), case.size("head_size")
    return rope + t * hk * (hs - rd) * case.itemsize + t * hk * hs * case.itemsize * 3 + t * 8


SHAPE = dict(q_heads=32, kv_heads=8, head_size=128, rotary_dim=128)

BENCH = OpBench(
    op="apply_rope_with_cos_sin_cache_inplace",
    # the plain cases keep their labels (and so their committed results); then the fused store
    cases=token_sweep("bfloat16", **SHAPE) + token_sweep("bfloat16", **SHAPE, kv_store=1),
    make_inputs=make_inputs,
    impls={
        "kernelkit": kernelkit_impl,
        "kernelkit_rope+index_put": kernelkit_rope_then_index_put,
        "kernelkit_rope_only": kernelkit_rope_only,
        "kernelkit_no_pdl": kernelkit_no_pdl,
        **library_impls(),
    },
    reference=reference,
    bytes_moved=bytes_moved,
    flops=lambda case: case.tokens * (case.size("q_heads") + case.size("kv_heads")) * case.size("rotary_dim") // 2 * 6,
)
