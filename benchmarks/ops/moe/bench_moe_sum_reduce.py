"""`moe_sum_reduce` benchmark: the scaled sum over the top-k slots, ``[T, k, H] -> [T, H]`` (factor 2.5),
bf16, k = 8, hidden 4096 and 7168, the T sweep.

Bytes: the input read once (T*k*H elements), the output written once (T*H). The reference is the same sum
in PyTorch, timed eager and under torch.compile; sgl_kernel's op is timed when installed.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

TOPK = 8


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    t, h = case.tokens, case.size("hidden")
    return {
        "input": torch.randn(t, TOPK, h, device="cuda", dtype=dtype),
        "output": torch.empty(t, h, device="cuda", dtype=dtype),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_sum_reduce(i["input"], i["output"], 2.5)


def kernelkit_no_pdl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_sum_reduce(i["input"], i["output"], 2.5, enable_pdl=False)


def reference(i: dict):
    return (i["input"].float().sum(dim=1) * 2.5).to(i["input"].dtype)


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.moe_sum_reduce(i["input"], i["output"], 2.5)

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="moe_sum_reduce",
    cases=token_sweep("bfloat16", hidden=4096) + token_sweep("bfloat16", hidden=7168),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: c.tokens * c.size("hidden") * c.itemsize * (TOPK + 1),
    flops=lambda c: c.tokens * c.size("hidden") * TOPK,
)
