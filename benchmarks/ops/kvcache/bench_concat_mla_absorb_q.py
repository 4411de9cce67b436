"""`concat_mla_absorb_q` benchmark: DeepSeek-V3 MLA's absorbed query (128 heads, latent 512 + rope 64, bf16), the T
sweep, kernelkit vs ``torch.cat([a, b], -1)`` (eager and torch.compile) and sgl-kernel when installed.

Bytes (exact): a and b read, out written: T * 128 * (512 + 64) * 2 * 2.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

HEADS, A_DIM, B_DIM = 128, 512, 64


def make_inputs(case: Case) -> dict:
    import torch

    t = case.tokens
    return {
        "a": torch.randn(t, HEADS, A_DIM, device="cuda", dtype=torch.bfloat16),
        "b": torch.randn(t, HEADS, B_DIM, device="cuda", dtype=torch.bfloat16),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.concat_mla_absorb_q(i["a"], i["b"])


def reference(i: dict):
    import torch

    return torch.cat([i["a"], i["b"]], dim=-1)


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.concat_mla_absorb_q(i["a"], i["b"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="concat_mla_absorb_q",
    cases=token_sweep("bfloat16"),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: c.tokens * HEADS * (A_DIM + B_DIM) * 2 * 2,
)
