"""`moe_align_block_size` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (topk_ids read, sorted_token_ids written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.randn(shape, device=device, dtype=dtype),  # topk_ids
        1,  # num_experts
        1,  # block_size
        torch.empty(shape, device=device, dtype=dtype),  # sorted_token_ids
        torch.empty(shape, device=device, dtype=dtype),  # experts_ids
        torch.empty(shape, device=device, dtype=dtype),  # num_tokens_post_pad
        torch.empty(shape, device=device, dtype=dtype),  # cumsum_buffer
        False,  # pad_sorted_token_ids
        False,  # ignore_invalid_expert
        False,  # enable_pdl
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_align_block_size(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * 1.0


BENCH = OpBench(
    op="moe_align_block_size",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
