"""`all_reduce` benchmark on one GPU: two ranks in one process, each on its own stream, over local buffers.

What it measures: the protocol's floor -- two kernels that meet in the start and end barriers, stage their input
into the registered buffer and read both ranks' copies -- with no NVLink in the way. It is not the issue's
performance table (latency against NCCL on 2-8 GPUs), which needs a machine of several GPUs.

Messages of 8 KB (T = 1) to 8 MB (T = 1024) of bf16 rows of 4096. Bytes per call, both ranks: each stages its input
(read + write, 2 S), reads both copies (2 S) and writes the sum (S): 10 S. The reference: what the two ranks' sums
cost as torch ops on one GPU (x0 + x1, twice: 6 S).
"""

from kernelkit.benchspec import Case, OpBench

HIDDEN = 4096
TOKENS = (1, 8, 64, 256, 1024)  # 8 KB, 64 KB, 512 KB, 2 MB, 8 MB of bf16
MAX_SIZE = 8 << 20

_COMMUNICATORS: dict = {}  # one pair of ranks per process, made on first use


def _ranks() -> dict:
    if not _COMMUNICATORS:
        import torch
        from kernelkit_ops import allreduce

        metas = [allreduce.allocate_shared_buffer(allreduce.meta_size() + MAX_SIZE)[0] for _ in range(2)]
        bufs = [allreduce.allocate_shared_buffer(MAX_SIZE)[0] for _ in range(2)]
        rank_data = [torch.empty(1 << 16, dtype=torch.uint8, device="cuda") for _ in range(2)]
        fas = [allreduce.init_custom_ar(metas, rank_data[r], r, False) for r in range(2)]
        for fa in fas:
            allreduce.register_buffer(fa, bufs)
        _COMMUNICATORS.update(fas=fas, bufs=bufs, rank_data=rank_data, side=torch.cuda.Stream())
    return _COMMUNICATORS


def make_inputs(case: Case) -> dict:
    import torch

    shape = (case.tokens, case.size("hidden"))
    return {
        "x": [torch.randn(shape, device="cuda", dtype=torch.bfloat16) for _ in range(2)],
        "out": [torch.empty(shape, device="cuda", dtype=torch.bfloat16) for _ in range(2)],
    }


def kernelkit_impl(i: dict):
    import torch
    from kernelkit_ops import allreduce

    ranks = _ranks()
    main, side = torch.cuda.current_stream(), ranks["side"]
    side.wait_stream(main)
    with torch.cuda.stream(side):  # rank 1
        allreduce.all_reduce(ranks["fas"][1], i["x"][1], i["out"][1], ranks["bufs"][1], MAX_SIZE)
    allreduce.all_reduce(ranks["fas"][0], i["x"][0], i["out"][0], ranks["bufs"][0], MAX_SIZE)  # rank 0
    main.wait_stream(side)
    return i["out"]


def reference(i: dict):
    return [i["x"][0] + i["x"][1], i["x"][0] + i["x"][1]]


BENCH = OpBench(
    op="all_reduce",
    cases=[Case(tokens=t, dtype="bfloat16", shape=(("hidden", HIDDEN),)) for t in TOKENS],
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=lambda case: 10 * case.tokens * case.size("hidden") * case.itemsize,
    flops=lambda case: 2 * case.tokens * case.size("hidden"),
)
