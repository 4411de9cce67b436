"""`apply_rope_with_cos_sin_cache_inplace` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (positions read, query written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    args = [
        torch.randn(shape, device="cuda", dtype=dtype),  # positions
        torch.empty(shape, device="cuda", dtype=dtype),  # query
        torch.empty(shape, device="cuda", dtype=dtype),  # key
        1,  # head_size
        torch.randn(shape, device="cuda", dtype=dtype),  # cos_sin_cache
        False,  # is_neox
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * 1.0


BENCH = OpBench(
    op="apply_rope_with_cos_sin_cache_inplace",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
