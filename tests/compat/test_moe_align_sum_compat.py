"""sgl-kernel compatibility of `moe_align_block_size`, `moe_sum` and `moe_sum_reduce` (self-contained).

Facts from sgl-kernel's Python API (``sgl_kernel/moe.py``, the release with ``ignore_invalid_expert``), its
kernels (``csrc/moe/moe_align_kernel.cu``, ``moe_sum.cu``, ``moe_sum_reduce.cu``) and its upstream tests
(``tests/test_moe_align.py``), re-stated as our own checks:

* signatures: the positional order, names and defaults below (kernelkit adds ``enable_pdl=None`` last);
  every function returns None and writes into the buffers it is given;
* moe_align_block_size: ``num_experts`` is the bucket count, callers pass E + 1 and id -1 lands in bucket 0
  (experts_ids -1); padding slots hold ``topk_ids.numel()``; ``pad_sorted_token_ids=True`` fills the whole
  buffer, False leaves unused slots to the caller's fill; upstream's test allocates
  ``numel + (E + 1) * (block_size - 1)`` slots and ``// block_size`` blocks, sglang's caller ``numel *
  block_size`` slots when numel < E + 1 and ``cdiv`` blocks, both with uninitialised buffers;
* moe_sum: k in {2, 3, 4} accumulates in the dtype; other k is ``torch.sum(input, dim=1)``;
* moe_sum_reduce: fp32 sum times the fp32 factor, one rounding; default factor 0.

Signature checks are CPU tests; everything that launches is marked ``gpu``.
"""

from __future__ import annotations

import inspect

import kernelkit_ops as sgl_kernel
import pytest
import torch

REQUIRED = inspect.Parameter.empty

# Literals from sgl-kernel's moe.py: (name, default) in positional order.
UPSTREAM = {
    "moe_align_block_size": [
        ("topk_ids", REQUIRED),
        ("num_experts", REQUIRED),
        ("block_size", REQUIRED),
        ("sorted_token_ids", REQUIRED),
        ("experts_ids", REQUIRED),
        ("num_tokens_post_pad", REQUIRED),
        ("cumsum_buffer", REQUIRED),
        ("pad_sorted_token_ids", False),
        ("ignore_invalid_expert", False),
    ],
    "moe_sum": [("input_tensor", REQUIRED), ("output_tensor", REQUIRED)],
    "moe_sum_reduce": [("input_tensor", REQUIRED), ("output_tensor", REQUIRED), ("routed_scaling_factor", 0)],
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_signature(name):
    params = list(inspect.signature(getattr(sgl_kernel, name)).parameters.values())
    upstream = UPSTREAM[name]
    assert [p.name for p in params[: len(upstream)]] == [n for n, _ in upstream]
    for p, (_, default) in zip(params, upstream, strict=False):
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        assert (
            p.default is REQUIRED
            if default is REQUIRED
            else (type(p.default) is type(default) and p.default == default)
        )
    extras = params[len(upstream) :]
    assert [p.name for p in extras] == ["enable_pdl"] and extras[0].default is None


def _routed(tokens: int, experts: int, k: int) -> torch.Tensor:
    """Upstream's test routing: k distinct experts per token."""
    return torch.argsort(torch.rand(tokens, experts, device="cuda"), dim=1)[:, :k]


def _expected_expert_ids(topk_ids: torch.Tensor, buckets: int, block_size: int) -> tuple[list[int], int]:
    counts = torch.bincount(topk_ids.flatten().long().cpu() + 1, minlength=buckets)
    blocks = (counts + block_size - 1) // block_size
    return torch.repeat_interleave(torch.arange(buckets) - 1, blocks).tolist(), int(blocks.sum()) * block_size


@pytest.mark.gpu
@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize("experts", [64, 160, 256, 257, 260, 264])
@pytest.mark.parametrize("tokens,topk", [(1, 1), (8, 2), (64, 8), (1024, 8), (4096, 8)])
@pytest.mark.parametrize("block_size", [32, 64, 128, 256])
def test_align_upstream_test_layout(block_size, tokens, topk, experts, pad):
    """Upstream test's call: num_experts + 1 buckets, its buffer sizes, sorted prefilled only without pad."""
    topk_ids = _routed(tokens, experts, topk)  # int64, as argsort gives
    numel = topk_ids.numel()
    max_padded = numel + (experts + 1) * (block_size - 1)
    sorted_ids = torch.empty(max_padded, dtype=torch.int32, device="cuda")
    if not pad:
        sorted_ids.fill_(numel)
    expert_ids = torch.zeros(max_padded // block_size, dtype=torch.int32, device="cuda")
    total = torch.empty(1, dtype=torch.int32, device="cuda")
    cumsum = torch.empty(experts + 2, dtype=torch.int32, device="cuda")
    result = sgl_kernel.moe_align_block_size(
        topk_ids, experts + 1, block_size, sorted_ids, expert_ids, total, cumsum, pad
    )
    assert result is None
    want_experts, want_total = _expected_expert_ids(topk_ids, experts + 1, block_size)
    assert int(total.item()) == want_total
    assert expert_ids[: len(want_experts)].tolist() == want_experts
    assert bool((expert_ids[len(want_experts) :] == 0).all())  # the caller's zeros stay
    # Upstream checks the set of ids in the last expert's blocks; every expert's set is checked here.
    flat = topk_ids.flatten().cpu()
    got = sorted_ids.cpu()
    for block, expert in enumerate(want_experts):
        if block == 0 or want_experts[block - 1] != expert:
            lo = block * block_size
            hi = lo + (want_experts.count(expert)) * block_size
            ids = got[lo:hi]
            real = ids[ids < numel]
            assert sorted(real.tolist()) == torch.nonzero(flat == expert).flatten().tolist()
            assert bool((ids[ids >= numel] == numel).all())
    assert bool((got[want_total:] == numel).all())


@pytest.mark.gpu
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("tokens", [1, 3, 30])
def test_align_sglang_caller_layout(tokens, ignore):
    """sglang's fused-MoE caller: E + 1 buckets, numel * block_size slots when numel < E + 1, cdiv blocks,
    uninitialised buffers, pad_sorted_token_ids=True; -1 from expert-parallel filtering."""
    experts, block_size = 256, 64
    topk_ids = _routed(tokens, experts, 8).to(torch.int32)
    topk_ids[:, -1] = -1
    numel = topk_ids.numel()
    slots = numel * block_size if numel < experts + 1 else numel + (experts + 1) * (block_size - 1)
    sorted_ids = torch.empty(slots, dtype=torch.int32, device="cuda")
    expert_ids = torch.empty((slots + block_size - 1) // block_size, dtype=torch.int32, device="cuda")
    total = torch.empty(1, dtype=torch.int32, device="cuda")
    cumsum = torch.empty(experts + 2, dtype=torch.int32, device="cuda")
    sgl_kernel.moe_align_block_size(
        topk_ids, experts + 1, block_size, sorted_ids, expert_ids, total, cumsum, True, ignore
    )
    kept = topk_ids[topk_ids >= 0] if ignore else topk_ids
    want_experts, want_total = _expected_expert_ids(kept, experts + 1, block_size)
    assert int(total.item()) == want_total
    assert expert_ids[: len(want_experts)].tolist() == want_experts
    assert (-1 in want_experts) != ignore
    got = sorted_ids.cpu()
    placed = got[got < numel]
    flat = topk_ids.flatten().cpu()
    want_placed = torch.nonzero(flat >= 0).flatten() if ignore else torch.arange(numel)
    assert sorted(placed.tolist()) == want_placed.tolist()
    assert int((got == numel).sum()) == slots - placed.numel()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("k", [128, 511, 1024])
@pytest.mark.parametrize("topk", [2, 6])
@pytest.mark.parametrize("m", [1, 33, 64, 222])
def test_moe_sum_upstream_cases(m, topk, k, dtype):
    """Upstream's moe_sum cases; its tolerance is atol 2e-2, these are the bits (topk 6 is torch.sum's)."""
    x = torch.randn(m, topk, k, device="cuda", dtype=dtype)
    out = torch.empty(m, k, device="cuda", dtype=dtype)
    assert sgl_kernel.moe_sum(x, out) is None
    if topk == 2:  # sgl-kernel adds in the dtype: one rounding for two slots
        expected = (x[:, 0].float() + x[:, 1].float()).to(dtype)
    else:
        expected = x.sum(dim=1)
    assert torch.equal(out, expected)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("topk", [2, 4, 8, 9, 5])
def test_moe_sum_reduce(topk, dtype):
    x = torch.randn(300, topk, 1024, device="cuda", dtype=dtype)
    out = torch.empty(300, 1024, device="cuda", dtype=dtype)
    assert sgl_kernel.moe_sum_reduce(x, out, 2.5) is None
    acc = torch.zeros(300, 1024, device="cuda")
    for j in range(topk):
        acc = acc + x[:, j].float()
    assert torch.equal(out, (acc * 2.5).to(dtype))
    sgl_kernel.moe_sum_reduce(x, out)  # the default factor, 0
    assert torch.equal(out, torch.zeros_like(out))
