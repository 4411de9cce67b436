"""`copy_to_gpu_no_ce` benchmark: a small int32 host array to the GPU through a kernel's launch parameters, vs the
torch copy through the copy engine (``out.copy_(x, non_blocking=True)`` from pinned memory; eager and torch.compile)
and sgl-kernel's op when installed (its sizes only: 32, 64, 72).

Cases: n = 32, 64, 72 (upstream's sizes: per-expert and per-rank lists), 256 and 1024 (kernelkit's maximum). Launch
latency, not bandwidth, is what these measure.

Bytes (exact): n int32 values read on the host and written to the GPU: 2 * 4 * n.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed

SIZES = (32, 64, 72, 256, 1024)


def make_inputs(case: Case) -> dict:
    import torch

    n = case.tokens
    return {
        "input": torch.randint(-(2**31), 2**31 - 1, (n,), dtype=torch.int32).pin_memory(),
        "output": torch.empty(n, device="cuda", dtype=torch.int32),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.copy_to_gpu_no_ce(i["input"], i["output"])


def reference(i: dict):
    i["output"].copy_(i["input"], non_blocking=True)


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel  # noqa: F401  (registers torch.ops.sgl_kernel)
        import torch

        if i["input"].numel() in (32, 64, 72):  # upstream refuses every other size
            torch.ops.sgl_kernel.copy_to_gpu_no_ce(i["input"], i["output"])
        else:
            i["output"].copy_(i["input"], non_blocking=True)

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="copy_to_gpu_no_ce",
    cases=[Case(tokens=n, dtype="int32") for n in SIZES],
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: 2 * 4 * c.tokens,
)
