"""`top_k_renorm_probs` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (probs read, renorm_probs written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.randn(shape, device=device, dtype=dtype),  # probs
        torch.empty(shape, device=device, dtype=dtype),  # renorm_probs
        None,  # top_k_arr
        1,  # top_k_val
        False,  # enable_pdl
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.top_k_renorm_probs(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * 1.0


BENCH = OpBench(
    op="top_k_renorm_probs",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
