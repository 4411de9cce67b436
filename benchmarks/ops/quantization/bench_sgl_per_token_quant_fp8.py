"""`sgl_per_token_quant_fp8` benchmark: hidden 4096 and 7168, bf16, the T sweep.

Bytes: x read (2 B/element), q written (1 B/element), one fp32 scale per row written. The reference is
the same math in PyTorch (absmax per row, scale, multiply by its reciprocal, clamp, cast), timed eager and
under torch.compile; sgl_kernel's op is timed when installed.
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

FP8_MAX = 448.0


def make_inputs(case: Case) -> dict:
    import torch

    shape = (case.tokens, case.size("hidden"))
    return {
        "input": torch.randn(shape, device="cuda", dtype=getattr(torch, case.dtype)),
        "output_q": torch.empty(shape, device="cuda", dtype=torch.float8_e4m3fn),
        "output_s": torch.empty(shape[0], 1, device="cuda", dtype=torch.float32),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.sgl_per_token_quant_fp8(i["input"], i["output_q"], i["output_s"])


def kernelkit_no_pdl(i: dict):
    """The same call with enable_pdl=False: what programmatic dependent launch adds (torch.compile has none)."""
    import kernelkit_ops

    return kernelkit_ops.sgl_per_token_quant_fp8(i["input"], i["output_q"], i["output_s"], enable_pdl=False)


def reference(i: dict):
    import torch

    x = i["input"].float()
    s = x.abs().amax(dim=-1, keepdim=True) * (1 / FP8_MAX)
    return (x * s.reciprocal()).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn), s


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.sgl_per_token_quant_fp8(i["input"], i["output_q"], i["output_s"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="sgl_per_token_quant_fp8",
    cases=token_sweep("bfloat16", hidden=4096) + token_sweep("bfloat16", hidden=7168),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: c.tokens * c.size("hidden") * (c.itemsize + 1) + 4 * c.tokens,
    flops=lambda c: 0,
)
