"""`kimi_k2_moe_fused_gate` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (input_tensor read, topk_weights written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.randn(shape, device=device, dtype=dtype),  # input_tensor
        torch.randn(shape, device=device, dtype=dtype),  # bias
        torch.empty(shape, device=device, dtype=dtype),  # topk_weights
        torch.empty(shape, device=device, dtype=dtype),  # topk_ids
        False,  # renormalize
        0.5,  # routed_scaling_factor
        False,  # apply_routed_scaling_factor_on_output
        False,  # enable_pdl
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.kimi_k2_moe_fused_gate(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * args[5]


BENCH = OpBench(
    op="kimi_k2_moe_fused_gate",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
