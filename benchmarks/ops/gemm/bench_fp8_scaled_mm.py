"""`fp8_scaled_mm` benchmark: kernelkit's CUTLASS kernel vs ``torch._scaled_mm`` with row-wise scales.

The reference (timed eager as "torch" and under torch.compile) is torch's own row-wise scaled fp8 GEMM,
``torch._scaled_mm(a, b, scale_a=[M, 1], scale_b=[1, N], out_dtype=bf16)``, which accumulates as kernelkit does
(no fast accumulation); sgl-kernel's op (fast accumulation) is timed when installed. Cases, bytes and FLOPs:
scaled_mm_bench.py (which also says how to read "% of ceiling" for 8-bit GEMMs).
"""

from __future__ import annotations

from collections.abc import Callable

import scaled_mm_bench

from kernelkit.benchspec import OpBench, installed


def make_inputs(case) -> dict:
    return scaled_mm_bench.make_inputs(case, "fp8")


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.fp8_scaled_mm(i["a"], i["b"], i["scales_a"], i["scales_b"], i["out_dtype"])


def reference(i: dict):
    import torch

    return torch._scaled_mm(
        i["a"], i["b"], scale_a=i["scales_a"], scale_b=i["scales_b"].reshape(1, -1), out_dtype=i["out_dtype"]
    )


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.fp8_scaled_mm(i["a"], i["b"], i["scales_a"], i["scales_b"], i["out_dtype"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="fp8_scaled_mm",
    cases=scaled_mm_bench.cases(),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=scaled_mm_bench.bytes_moved,
    flops=scaled_mm_bench.flops,
    math="fp8",
)
