"""`int8_scaled_mm` benchmark: kernelkit's CUTLASS kernel vs ``torch._int_mm`` followed by the scaling.

The reference (timed eager as "torch" and under torch.compile, where the scaling fuses into one kernel after the
int8 GEMM) is ``(torch._int_mm(a, b) * scales_a * scales_b).to(bf16)``. ``torch._int_mm`` refuses M <= 16, so for
those cases A is padded to 32 rows (zeros, made outside the timing) and the result sliced: the price a torch user
pays at decode sizes. sgl-kernel's op is timed when installed. Cases, bytes and FLOPs: scaled_mm_bench.py (which
also says how to read "% of ceiling" for 8-bit GEMMs).
"""

from __future__ import annotations

from collections.abc import Callable

import scaled_mm_bench

from kernelkit.benchspec import OpBench, installed

INT_MM_MIN_ROWS = 17  # torch._int_mm: "self.size(0) needs to be greater than 16"


def make_inputs(case) -> dict:
    import torch

    i = scaled_mm_bench.make_inputs(case, "int8")
    m, k = i["a"].shape
    if m < INT_MM_MIN_ROWS:
        padded = torch.zeros(32, k, device="cuda", dtype=torch.int8)
        padded[:m] = i["a"]
        i["a_int_mm"] = padded
    else:
        i["a_int_mm"] = i["a"]
    return i


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.int8_scaled_mm(i["a"], i["b"], i["scales_a"], i["scales_b"], i["out_dtype"])


def reference(i: dict):
    import torch

    m = i["a"].shape[0]
    acc = torch._int_mm(i["a_int_mm"], i["b"])[:m]
    return (acc.float() * i["scales_a"] * i["scales_b"].reshape(1, -1)).to(i["out_dtype"])


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.int8_scaled_mm(i["a"], i["b"], i["scales_a"], i["scales_b"], i["out_dtype"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="int8_scaled_mm",
    cases=scaled_mm_bench.cases(),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=scaled_mm_bench.bytes_moved,
    flops=scaled_mm_bench.flops,
    math="int8",
)
