"""`sgl_per_tensor_quant_fp8` benchmark: hidden 4096 and 7168, bf16, the T sweep, dynamic (is_static=0)
and static (is_static=1) scale -- the mode is a case field, so both appear in one table.

Bytes (the model, for both modes): x read once (2 B/element), q written (1 B/element), the scale (4 B).
Dynamic mode cannot do better than that model but pays a grid-wide barrier, and tensors larger than
the chip (~46 MB on an H100: T=16384 here) re-read part of x (see the kernel's header comment).
The reference is the same math in PyTorch (eager: an absmax reduction, then the quantizing map);
sgl_kernel's op (two kernels in dynamic mode) is timed when installed.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

FP8_MAX = 448.0


def make_inputs(case: Case) -> dict:
    import torch

    shape = (case.tokens, case.size("hidden"))
    x = torch.randn(shape, device="cuda", dtype=getattr(torch, case.dtype))
    return {
        "input": x,
        "output_q": torch.empty(shape, device="cuda", dtype=torch.float8_e4m3fn),
        "output_s": torch.full((1,), 5.0 / FP8_MAX, device="cuda", dtype=torch.float32),  # static: a fixed scale
        "is_static": bool(case.size("is_static")),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.sgl_per_tensor_quant_fp8(i["input"], i["output_q"], i["output_s"], i["is_static"])


def kernelkit_no_pdl(i: dict):
    """The same call with enable_pdl=False: what programmatic dependent launch adds (torch.compile has none)."""
    import kernelkit_ops

    return kernelkit_ops.sgl_per_tensor_quant_fp8(
        i["input"], i["output_q"], i["output_s"], i["is_static"], enable_pdl=False
    )


def reference(i: dict):
    import torch

    x = i["input"].float()
    s = i["output_s"] if i["is_static"] else x.abs().amax() * (1 / FP8_MAX)
    return (x * s.reciprocal()).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn), s


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        if not i["is_static"]:
            i["output_s"].zero_()  # sgl-kernel's dynamic mode accumulates an atomicMax into output_s
        return sgl_kernel.sgl_per_tensor_quant_fp8(i["input"], i["output_q"], i["output_s"], i["is_static"])

    impls["sgl_kernel"] = sgl_kernel_impl


def cases() -> list[Case]:
    out = []
    for hidden in (4096, 7168):
        for is_static in (0, 1):
            out += token_sweep("bfloat16", hidden=hidden, is_static=is_static)
    return out


BENCH = OpBench(
    op="sgl_per_tensor_quant_fp8",
    cases=cases(),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: c.tokens * c.size("hidden") * (c.itemsize + 1) + 4,
    flops=lambda c: 0,
)
