"""`store_kv_cache` benchmark: this step's K/V rows scattered into the KV cache, kernelkit vs the torch reference
(``k_cache[loc] = k; v_cache[loc] = v``, eager and torch.compile) and sgl-kernel's op when installed.

Cases, bf16, the T sweep 1..16384:
  * Llama-3 8B / 70B (both 8 kv heads x 128: a 2 KiB row);
  * DeepSeek-V3 MLA's one latent row per token (512 + 64 = 576 elements, 1152 bytes), in both caches.
k and v are the k and v slices of a fused qkv projection (token-strided, as in serving); loc is a random
permutation of the cache's slots (a scatter: no two tokens share a row). The caches (32768 slots) are shared
by every input copy: only the rows loc names are touched, and those differ per copy.

Bytes (exact): k and v read, their rows written: 2 * T * row_bytes * 2, plus loc (T * 8).
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

SLOTS = 32768  # >= the largest T, so loc can be a permutation
_CACHES: dict[tuple, tuple] = {}


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    t, h, d = case.tokens, case.size("kv_heads"), case.size("head_dim")
    key = (h, d, dtype)
    if key not in _CACHES:
        _CACHES.clear()  # the previous case's caches go
        _CACHES[key] = tuple(torch.randn(SLOTS, h, d, device="cuda", dtype=dtype) for _ in range(2))
    k_cache, v_cache = _CACHES[key]
    qkv = torch.randn(t, 3, h, d, device="cuda", dtype=dtype)
    return {
        "k_cache": k_cache,
        "v_cache": v_cache,
        "loc": torch.randperm(SLOTS, device="cuda")[:t],
        "k": qkv[:, 1],
        "v": qkv[:, 2],
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.store_kv_cache(i["k_cache"], i["v_cache"], i["loc"], i["k"], i["v"])


def kernelkit_no_pdl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.store_kv_cache(i["k_cache"], i["v_cache"], i["loc"], i["k"], i["v"], enable_pdl=False)


def reference(i: dict):
    i["k_cache"][i["loc"]] = i["k"]
    i["v_cache"][i["loc"]] = i["v"]


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel  # noqa: F401  (registers torch.ops.sgl_kernel)
        import torch

        return torch.ops.sgl_kernel.store_kv_cache(i["k_cache"], i["v_cache"], i["loc"], i["k"], i["v"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="store_kv_cache",
    cases=token_sweep("bfloat16", kv_heads=8, head_dim=128) + token_sweep("bfloat16", kv_heads=1, head_dim=576),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: 2 * c.tokens * c.size("kv_heads") * c.size("head_dim") * c.itemsize * 2 + c.tokens * 8,
)
