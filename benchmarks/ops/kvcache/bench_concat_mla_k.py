"""`concat_mla_k` benchmark: DeepSeek-V3 MLA's key (128 heads, nope 128 + shared rope 64, bf16), the T sweep, kernelkit
vs ``torch.cat([k_nope, k_rope.expand(...)], -1)`` (eager and torch.compile) and sgl-kernel when installed.

k_nope is the nope slice of the kv projection ([T, 128, 128 + 128 v], token- and head-strided), as in serving.
Bytes (exact): k_nope read (T*H*128), k_rope read once per token (T*64), k written (T*H*192), 2 bytes each.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

HEADS, NOPE, ROPE, V = 128, 128, 64, 128


def make_inputs(case: Case) -> dict:
    import torch

    t = case.tokens
    kv = torch.randn(t, HEADS, NOPE + V, device="cuda", dtype=torch.bfloat16)
    return {
        "k": torch.empty(t, HEADS, NOPE + ROPE, device="cuda", dtype=torch.bfloat16),
        "k_nope": kv[:, :, :NOPE],
        "k_rope": torch.randn(t, 1, ROPE, device="cuda", dtype=torch.bfloat16),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.concat_mla_k(i["k"], i["k_nope"], i["k_rope"])


def reference(i: dict):
    import torch

    return torch.cat([i["k_nope"], i["k_rope"].expand(-1, HEADS, -1)], dim=-1)


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.concat_mla_k(i["k"], i["k_nope"], i["k_rope"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="concat_mla_k",
    cases=token_sweep("bfloat16"),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: c.tokens * (HEADS * NOPE + ROPE + HEADS * (NOPE + ROPE)) * 2,
)
