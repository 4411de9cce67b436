"""`moe_align_block_size` benchmark: DeepSeek-V3 routing (E = 256 experts, k = 8, block 64), the T sweep.

Bytes: topk_ids read (4 B/entry), sorted_token_ids written in full (pad_sorted_token_ids, what sglang asks
for), experts_ids up to the padded total (bounded by its length), cumsum_buffer and the total. The
reference is the same contract in PyTorch (counts, padded starts, a stable argsort, a scatter, and a
searchsorted for the block owners), timed eager and under torch.compile; sgl_kernel's op is timed when
installed (its num_experts is the bucket count, E + 1, as here).
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

EXPERTS, TOPK, BLOCK = 256, 8, 64
BUCKETS = EXPERTS + 1


def sorted_len(tokens: int) -> int:
    n = tokens * TOPK
    return n + min(n, BUCKETS) * (BLOCK - 1)


def make_inputs(case: Case) -> dict:
    import torch

    t = case.tokens
    ids = torch.argsort(torch.rand(t, EXPERTS, device="cuda"), dim=1)[:, :TOPK].to(torch.int32).contiguous()
    length = sorted_len(t)
    return {
        "topk_ids": ids,
        "sorted": torch.empty(length, device="cuda", dtype=torch.int32),
        "experts": torch.empty(length // BLOCK, device="cuda", dtype=torch.int32),
        "total": torch.empty(1, device="cuda", dtype=torch.int32),
        "cumsum": torch.empty(BUCKETS + 1, device="cuda", dtype=torch.int32),
    }


def _args(i: dict) -> tuple:
    return (i["topk_ids"], BUCKETS, BLOCK, i["sorted"], i["experts"], i["total"], i["cumsum"], True)


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_align_block_size(*_args(i))


def kernelkit_no_pdl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_align_block_size(*_args(i), enable_pdl=False)


def reference(i: dict):
    """The contract in torch, with static shapes so torch.compile takes it whole."""
    import torch

    ids = i["topk_ids"].flatten()
    n = ids.numel()
    bucket = ids.long() + 1
    counts = torch.zeros(BUCKETS, device=ids.device, dtype=torch.int64).scatter_add_(0, bucket, torch.ones_like(bucket))
    padded = (counts + BLOCK - 1) // BLOCK * BLOCK
    ends = torch.cumsum(padded, 0)
    starts = ends - padded
    order = torch.argsort(bucket, stable=True)
    sb = bucket[order]
    first = torch.cumsum(counts, 0) - counts
    pos = starts[sb] + torch.arange(n, device=ids.device) - first[sb]
    sorted_ids = torch.full((i["sorted"].numel(),), n, device=ids.device, dtype=torch.int64)
    sorted_ids = sorted_ids.scatter(0, pos, order)
    block_starts = torch.arange(i["experts"].numel(), device=ids.device) * BLOCK
    experts = torch.searchsorted(ends, block_starts, right=True) - 1
    return sorted_ids.int(), experts.int(), ends[-1:].int(), starts.int()


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.moe_align_block_size(*_args(i))

    impls["sgl_kernel"] = sgl_kernel_impl


def bytes_moved(case: Case) -> int:
    n = case.tokens * TOPK
    length = sorted_len(case.tokens)
    return 4 * n + 4 * length + 4 * (length // BLOCK) + 4 * (BUCKETS + 2)


BENCH = OpBench(
    op="moe_align_block_size",
    cases=token_sweep("int32", tokens=(1, 16, 256, 1024, 4096, 16384), experts=EXPERTS, topk=TOPK, block=BLOCK),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=bytes_moved,
    flops=lambda case: 0,
)
