"""`downcast_fp8` benchmark: this step's K/V rows quantized to fp8 e4m3 and scattered into the fp8 KV cache,
kernelkit vs the torch reference (scale, clamp, cast, index-put; eager and torch.compile) and sgl-kernel's op when
installed.

Cases, bf16 in, the T sweep 1..16384:
  * Llama-3 8B / 70B (both 8 kv heads x 128);
  * DeepSeek-V3 MLA's one latent row per token (512 + 64 = 576 elements).
loc is a random permutation of the cache's slots (a scatter), mult 1, offset 0. The caches (32768 slots) are shared
by every input copy: only the rows loc names are touched.

Bytes (exact): k and v read (2 bytes an element), their fp8 rows written (1 byte), plus loc (T * 8) and the two
scales: 2 * T * row * 3 + T * 8 + 8.
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
    key = (h, d)
    if key not in _CACHES:
        _CACHES.clear()  # the previous case's caches go
        _CACHES[key] = tuple(torch.zeros(SLOTS, h, d, device="cuda", dtype=torch.uint8) for _ in range(2))
    k_out, v_out = _CACHES[key]
    return {
        "k": torch.randn(t, h, d, device="cuda", dtype=dtype),
        "v": torch.randn(t, h, d, device="cuda", dtype=dtype),
        "k_out": k_out,
        "v_out": v_out,
        "k_scale": torch.tensor([0.5], device="cuda"),
        "v_scale": torch.tensor([0.25], device="cuda"),
        "loc": torch.randperm(SLOTS, device="cuda")[:t],
    }


def _args(i: dict) -> tuple:
    return i["k"], i["v"], i["k_out"], i["v_out"], i["k_scale"], i["v_scale"], i["loc"]


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.downcast_fp8(*_args(i))


def kernelkit_no_pdl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.downcast_fp8(*_args(i), enable_pdl=False)


def reference(i: dict):
    import torch

    for x, out, scale in ((i["k"], i["k_out"], i["k_scale"]), (i["v"], i["v_out"], i["v_scale"])):
        inv = 1.0 / scale.to(x.dtype)
        out[i["loc"]] = (x * inv).clamp(-448.0, 448.0).to(torch.float8_e4m3fn).view(torch.uint8)


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel  # noqa: F401  (registers torch.ops.sgl_kernel)
        import torch

        return torch.ops.sgl_kernel.downcast_fp8(*_args(i), 1, 0)

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="downcast_fp8",
    cases=token_sweep("bfloat16", kv_heads=8, head_dim=128) + token_sweep("bfloat16", kv_heads=1, head_dim=576),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: 2 * c.tokens * c.size("kv_heads") * c.size("head_dim") * 3 + c.tokens * 8 + 8,
)
