"""`sgl_per_token_group_quant_fp8` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (input read, output_q written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    args = [
        torch.randn(shape, device="cuda", dtype=dtype),  # input
        torch.empty(shape, device="cuda", dtype=dtype),  # output_q
        torch.empty(shape, device="cuda", dtype=dtype),  # output_s
        1,  # group_size
        0.5,  # eps
        0.5,  # fp8_min
        0.5,  # fp8_max
        False,  # scale_ue8m0
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.sgl_per_token_group_quant_fp8(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * args[4]


BENCH = OpBench(
    op="sgl_per_token_group_quant_fp8",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
