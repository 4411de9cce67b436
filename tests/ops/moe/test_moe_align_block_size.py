"""Tests of `moe_align_block_size` against a torch reference of the whole contract, exactly.

The reference fixes everything the op writes: each bucket's entries in ascending flat index, the padding
value (topk_ids.numel()), experts_ids per block, num_tokens_post_pad and the bucket starts in cumsum_buffer.
Slots the op must not write (padding without pad_sorted_token_ids, experts_ids past the padded total) are
poisoned first and must come back unchanged.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "moe_align_block_size"
OP = kernelkit_ops.moe_align_block_size
POISON = -7777


def torch_op():
    return torch.ops.kernelkit.moe_align_block_size.default


def capacity(numel: int, num_buckets: int, block_size: int) -> int:
    """The smallest sorted_token_ids the op accepts: the most slots the padding can need."""
    return numel + min(numel, num_buckets) * (block_size - 1)


def reference(topk_ids: torch.Tensor, num_buckets: int, block_size: int, sorted_len: int, ignore: bool) -> dict:
    """Everything the op defines, computed on the CPU in int64."""
    flat = topk_ids.flatten().long().cpu()
    n = flat.numel()
    valid = (flat >= (0 if ignore else -1)) & (flat < num_buckets - 1)
    bucket = flat + 1
    vb, vi = bucket[valid], torch.nonzero(valid).flatten()
    counts = torch.bincount(vb, minlength=num_buckets)
    padded = (counts + block_size - 1) // block_size * block_size
    starts = torch.zeros(num_buckets + 1, dtype=torch.int64)
    starts[1:] = torch.cumsum(padded, 0)
    total = int(starts[-1])
    order = torch.argsort(vb, stable=True)  # ascending flat index inside each bucket
    sb, si = vb[order], vi[order]
    first = torch.cumsum(counts, 0) - counts
    pos = starts[sb] + torch.arange(sb.numel()) - first[sb]
    sorted_ids = torch.full((sorted_len,), n, dtype=torch.int64)
    sorted_ids[pos] = si
    taken = torch.zeros(sorted_len, dtype=torch.bool)
    taken[pos] = True
    expert_ids = torch.repeat_interleave(torch.arange(num_buckets) - 1, padded // block_size)
    return {"sorted": sorted_ids, "taken": taken, "expert_ids": expert_ids, "total": total, "starts": starts}


def make_buffers(numel: int, num_buckets: int, block_size: int, device="cuda", extra: int = 0):
    sorted_len = capacity(numel, num_buckets, block_size) + extra
    return (
        torch.full((sorted_len,), POISON, dtype=torch.int32, device=device),
        torch.full((sorted_len // block_size,), POISON, dtype=torch.int32, device=device),
        torch.full((1,), POISON, dtype=torch.int32, device=device),
        torch.full((num_buckets + 1,), POISON, dtype=torch.int32, device=device),
    )


def routed_ids(tokens: int, experts: int, k: int, dtype=torch.int32, device="cuda") -> torch.Tensor:
    """k distinct experts per token, uniformly at random (what a top-k router gives)."""
    if tokens == 0:
        return torch.empty(0, k, dtype=dtype, device=device)
    return torch.argsort(torch.rand(tokens, experts, device=device), dim=1)[:, :k].to(dtype).contiguous()


def run_and_check(topk_ids, num_buckets, block_size, pad, ignore=False, extra=0, enable_pdl=False):
    sorted_ids, expert_ids, total, cumsum = make_buffers(topk_ids.numel(), num_buckets, block_size, extra=extra)
    OP(topk_ids, num_buckets, block_size, sorted_ids, expert_ids, total, cumsum, pad, ignore, enable_pdl=enable_pdl)
    ref = reference(topk_ids, num_buckets, block_size, sorted_ids.numel(), ignore)
    got_sorted = sorted_ids.long().cpu()
    if pad:
        assert torch.equal(got_sorted, ref["sorted"])
    else:
        assert torch.equal(got_sorted[ref["taken"]], ref["sorted"][ref["taken"]])
        assert bool((got_sorted[~ref["taken"]] == POISON).all()), "slots without an entry were written"
    assert int(total.item()) == ref["total"]
    nblocks = ref["total"] // block_size
    got_experts = expert_ids.long().cpu()
    assert torch.equal(got_experts[:nblocks], ref["expert_ids"])
    assert bool((got_experts[nblocks:] == POISON).all()), "experts_ids past the padded total were written"
    assert torch.equal(cumsum.long().cpu(), ref["starts"])
    return ref


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    names = [a.name for a in schema.arguments]
    assert names == [
        "topk_ids",
        "num_experts",
        "block_size",
        "sorted_token_ids",
        "experts_ids",
        "num_tokens_post_pad",
        "cumsum_buffer",
        "pad_sorted_token_ids",
        "ignore_invalid_expert",
        "enable_pdl",
    ]
    written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
    assert written == {"sorted_token_ids", "experts_ids", "num_tokens_post_pad", "cumsum_buffer"}
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        ids = torch.empty(4, 2, dtype=torch.int32, device="cuda")
        bufs = make_buffers(8, 9, 16, device="cuda")
        assert OP(ids, 9, 16, *bufs, True, False) is None


def cpu_args(numel=8, num_buckets=9, block_size=16):
    ids = torch.zeros(numel // 2, 2, dtype=torch.int32)
    return [ids, num_buckets, block_size, *make_buffers(numel, num_buckets, block_size, device="cpu"), False, False]


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be a CUDA tensor"):
        OP(*cpu_args())


@pytest.mark.parametrize("dtype", [torch.float32, torch.int16, torch.uint8], ids=str)
def test_rejects_id_dtype(dtype):
    args = cpu_args()
    args[0] = args[0].to(dtype)
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be int32 or int64"):
        OP(*args)


def test_op_rejects_noncontiguous_ids():
    """The op reads ids as one flat run: a torch.ops caller passing a strided view is refused..."""
    args = cpu_args()
    args[0] = torch.zeros(2, 8, dtype=torch.int32)[:, ::2]
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be contiguous"):
        torch.ops.kernelkit.moe_align_block_size.default(*args, False)


def test_wrapper_reads_strided_ids_in_logical_order():
    """...while the wrapper, like sgl-kernel's callers expect, takes a column slice (argsort(...)[:, :k])."""
    ids = torch.tensor([[3, 0, 9, 9], [1, 2, 9, 9]], dtype=torch.int32)[:, :2]
    args = [ids, 5, 4, *make_buffers(4, 5, 4, device="cpu"), True, False]
    # On the CPU the binding's last check (the device) is what refuses: the strided view passed the others.
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be a CUDA tensor"):
        OP(*args)


@pytest.mark.parametrize("num_experts", [0, -1, 4098])
def test_rejects_num_experts(num_experts):
    args = cpu_args()
    args[1] = num_experts
    with pytest.raises(RuntimeError, match=rf"{NAME}: num_experts must be in \[1, 4097\]"):
        OP(*args)


def test_rejects_block_size():
    args = cpu_args()
    args[2] = 0
    with pytest.raises(RuntimeError, match=f"{NAME}: block_size must be positive"):
        OP(*args)


def test_rejects_small_sorted_token_ids():
    args = cpu_args(numel=8, num_buckets=9, block_size=16)  # needs 8 + 8 * 15 = 128
    args[3] = torch.zeros(127, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=f"{NAME}: sorted_token_ids must hold at least 128 elements"):
        OP(*args)


def test_rejects_small_experts_ids():
    args = cpu_args(numel=8, num_buckets=9, block_size=16)
    args[4] = torch.zeros(7, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=f"{NAME}: experts_ids must hold at least 8 elements"):
        OP(*args)


def test_rejects_small_cumsum_buffer():
    args = cpu_args(numel=8, num_buckets=9, block_size=16)
    args[6] = torch.zeros(9, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=f"{NAME}: cumsum_buffer must hold at least 10 elements"):
        OP(*args)


@pytest.mark.parametrize("index", [3, 4, 5, 6])
def test_rejects_int64_buffers(index):
    args = cpu_args()
    args[index] = args[index].long()
    with pytest.raises(RuntimeError, match=f"{NAME}: .* must be int32, got int64"):
        OP(*args)


def test_small_numel_needs_less_room():
    """Fewer entries than buckets: numel * block_size slots suffice (what sglang allocates then)."""
    args = cpu_args(numel=2, num_buckets=257, block_size=64)
    args[3] = torch.zeros(2 * 64, dtype=torch.int32)
    with pytest.raises(RuntimeError, match=f"{NAME}: topk_ids must be a CUDA tensor"):  # past every size check
        OP(*args)


def test_reference_on_the_docstring_example():
    """sglang's worked example: 4 tokens, top-3 of experts 0..4 (0 unused), block 4; 6 buckets with -1's."""
    ids = torch.tensor([[2, 3, 4], [1, 2, 4], [1, 3, 4], [1, 2, 3]])
    ref = reference(ids, 6, 4, capacity(12, 6, 4), ignore=False)
    assert ref["total"] == 16
    assert ref["sorted"][:16].tolist() == [3, 6, 9, 12, 0, 4, 10, 12, 1, 7, 11, 12, 2, 5, 8, 12]
    assert ref["expert_ids"].tolist() == [1, 2, 3, 4]


# ---------------- GPU: exact against the reference ----------------

EXPERTS = [8, 60, 64, 160, 256, 384, 512]  # real experts; the op gets E + 1 buckets


@pytest.mark.gpu
@pytest.mark.parametrize("block_size", [16, 32, 64, 128])
@pytest.mark.parametrize("experts", EXPERTS)
@pytest.mark.parametrize("tokens", [0, 1, 7, 33, 256, 1025, 4096])
def test_matches_reference(tokens, experts, block_size):
    ids = routed_ids(tokens, experts, min(8, experts))
    run_and_check(ids, experts + 1, block_size, pad=True)


@pytest.mark.gpu
@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize("k", [1, 2, 6, 8])
@pytest.mark.parametrize("tokens", [1, 5, 127, 3000])
def test_topk_and_padding_modes(tokens, k, pad):
    run_and_check(routed_ids(tokens, 128, k), 129, 64, pad=pad)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("tokens", [3, 2048])
def test_id_dtypes(tokens, dtype):
    run_and_check(routed_ids(tokens, 256, 8, dtype=dtype), 257, 64, pad=True)


@pytest.mark.gpu
@pytest.mark.parametrize("tokens", [65536, 30001])
def test_large_batch(tokens):
    run_and_check(routed_ids(tokens, 256, 8), 257, 64, pad=True)


@pytest.mark.gpu
@pytest.mark.parametrize("pad", [False, True])
@pytest.mark.parametrize(("buckets", "tokens", "k"), [(257, 16384, 8), (1026, 20000, 4), (4097, 20000, 4)])
def test_cluster_staged_and_direct(buckets, tokens, k, pad):
    """Clusters of 8 CTAs whose warps run several 256-entry chunks: each CTA's entries staged in shared memory
    (257 and 1026 buckets) or scattered straight to global memory (4097: the histograms leave no room)."""
    if buckets == 257:
        ids = routed_ids(tokens, 256, k)
    else:
        ids = torch.randint(-1, buckets - 1, (tokens, k), device="cuda", dtype=torch.int32)
    run_and_check(ids, buckets, 64, pad=pad)


@pytest.mark.gpu
@pytest.mark.parametrize("tokens", [1, 300, 9000])
def test_skewed_routing(tokens):
    """Most entries to one expert (whole warps agree in match.any), the rest to a few."""
    ids = torch.randint(0, 4, (tokens, 8), device="cuda", dtype=torch.int32)
    ids[torch.rand(tokens, 8, device="cuda") < 0.8] = 37
    run_and_check(ids, 257, 128, pad=True)
    run_and_check(torch.full((tokens, 8), 255, device="cuda", dtype=torch.int32), 257, 16, pad=True)


@pytest.mark.gpu
@pytest.mark.parametrize("buckets", [1, 2, 3, 1025, 1026, 4097])
def test_bucket_count_edges(buckets):
    ids = torch.randint(-1, buckets - 1, (777, 4), device="cuda", dtype=torch.int32)
    run_and_check(ids, buckets, 32, pad=True)


@pytest.mark.gpu
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("tokens", [9, 600, 20000])
def test_expert_parallel_minus_one(tokens, ignore):
    """-1 marks an expert another rank owns: bucket 0 (experts_ids -1), or dropped with ignore_invalid_expert."""
    ids = routed_ids(tokens, 64, 6)
    ids[torch.rand(tokens, 6, device="cuda") < 0.3] = -1
    ref = run_and_check(ids, 65, 32, pad=True, ignore=ignore)
    has_minus_one_blocks = bool((ref["expert_ids"] == -1).any())
    assert has_minus_one_blocks != ignore


@pytest.mark.gpu
@pytest.mark.parametrize("ignore", [False, True])
def test_ids_without_a_bucket_are_dropped(ignore):
    """Ids < -1 or >= num_experts - 1 are never placed (sgl-kernel writes out of bounds on them)."""
    ids = routed_ids(500, 32, 4)
    ids[torch.rand(500, 4, device="cuda") < 0.2] = 32  # one past the last expert
    ids[torch.rand(500, 4, device="cuda") < 0.1] = -5
    ids[0, 0] = 2**31 - 1
    run_and_check(ids, 33, 16, pad=True, ignore=ignore)


@pytest.mark.gpu
def test_int64_ids_beyond_int32_are_dropped():
    ids = routed_ids(100, 16, 2, dtype=torch.int64)
    ids[5, 1] = 2**32 + 3  # would alias expert 3 if truncated to int32
    ids[6, 0] = -(2**32)
    run_and_check(ids, 17, 16, pad=True)


@pytest.mark.gpu
def test_larger_buffers_than_needed():
    """sglang's allocation (numel + (E + 1) * (block - 1)) or more: the tail after the total is padding."""
    run_and_check(routed_ids(50, 256, 8), 257, 64, pad=True, extra=1000)
    run_and_check(routed_ids(50, 256, 8), 257, 64, pad=False, extra=1000)


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    run_and_check(routed_ids(512, 256, 8), 257, 64, pad=True, enable_pdl=enable_pdl)


@pytest.mark.gpu
def test_deterministic():
    ids = routed_ids(4096, 256, 8)
    a = make_buffers(ids.numel(), 257, 64)
    b = make_buffers(ids.numel(), 257, 64)
    OP(ids, 257, 64, *a, True, False)
    OP(ids, 257, 64, *b, True, False)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


@pytest.mark.gpu
def test_cuda_graph_replay():
    ids = routed_ids(1000, 256, 8)
    bufs = make_buffers(ids.numel(), 257, 64)
    OP(ids, 257, 64, *bufs, True, False)  # warm up outside capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(ids, 257, 64, *bufs, True, False)
    for _ in range(2):
        ids.copy_(routed_ids(1000, 256, 8))
        for b in bufs:
            b.fill_(POISON)
        graph.replay()
        torch.cuda.synchronize()
        ref = reference(ids, 257, 64, bufs[0].numel(), ignore=False)
        assert torch.equal(bufs[0].long().cpu(), ref["sorted"])
        assert int(bufs[2].item()) == ref["total"]


@pytest.mark.gpu
def test_opcheck():
    ids = routed_ids(40, 64, 4)
    torch.library.opcheck(torch_op(), (ids, 65, 16, *make_buffers(ids.numel(), 65, 16), True, False, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(ids, sorted_ids, expert_ids, total, cumsum):
        OP(ids, 257, 64, sorted_ids, expert_ids, total, cumsum, True, False)
        return total + 0

    fn = torch.compile(step, fullgraph=True)
    ids = routed_ids(200, 256, 8)
    bufs = make_buffers(ids.numel(), 257, 64)
    got = fn(ids, *bufs)
    ref = reference(ids, 257, 64, bufs[0].numel(), ignore=False)
    assert int(got.item()) == ref["total"]
    assert torch.equal(bufs[0].long().cpu(), ref["sorted"])
