"""`transfer_kv_all_layer_lf_ph` benchmark: kernelkit vs the torch reference (eager and torch.compile).

Counts the default kernel's traffic (src_k_layers read, dst_k written); update it with the math.
"""

from kernelkit.benchspec import Case, OpBench, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    shape = (case.tokens, case.size("hidden"))
    device = "cuda"
    args = [
        torch.randn(shape, device=device, dtype=dtype),  # src_k_layers
        torch.empty(shape, device=device, dtype=dtype),  # dst_k
        torch.randn(shape, device=device, dtype=dtype),  # src_v_layers
        torch.empty(shape, device=device, dtype=dtype),  # dst_v
        torch.randn(shape, device=device, dtype=dtype),  # src_indices
        torch.randn(shape, device=device, dtype=dtype),  # dst_indices
        1,  # item_size
        1,  # dst_layout_dim
        1,  # num_layers
        1,  # page_size
        1,  # head_num
        2,  # block_quota
        32,  # num_warps_per_block
    ]
    return {"args": args}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.transfer_kv_all_layer_lf_ph(*inputs["args"])


def reference(inputs: dict):
    args = inputs["args"]
    return args[0] * 1.0


BENCH = OpBench(
    op="transfer_kv_all_layer_lf_ph",
    cases=token_sweep("bfloat16", hidden=4096),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 2 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: case.tokens * case.size("hidden"),
)
