"""`topk_sigmoid` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (gating_output read, topk_weights written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.empty(shape, device=device, dtype=dtype),  # topk_weights
        torch.empty(shape, device=device, dtype=dtype),  # topk_ids
        torch.randn(shape, device=device, dtype=dtype),  # gating_output
        False,  # renormalize
        None,  # correction_bias
        False,  # enable_pdl
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.topk_sigmoid(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[2] * 1.0


BENCH = OpBench(
    op="topk_sigmoid",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
