"""`silu_and_mul_scaled_fp4_grouped_quant` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (input read, output written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.empty(shape, device=device, dtype=dtype),  # output
        torch.empty(shape, device=device, dtype=dtype),  # output_scale
        torch.randn(shape, device=device, dtype=dtype),  # input
        torch.randn(shape, device=device, dtype=dtype),  # input_global_scale
        torch.randn(shape, device=device, dtype=dtype),  # mask
        False,  # enable_pdl
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[2] * 1.0


BENCH = OpBench(
    op="silu_and_mul_scaled_fp4_grouped_quant",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
