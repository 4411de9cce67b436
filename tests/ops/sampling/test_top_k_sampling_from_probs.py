"""Tests of `top_k_sampling_from_probs`: statistically exact (chi-square, 2e5 draws per distribution, false-failure
rate 1e-6 per case) against the float64 top-k-filtered distribution, ties at the k-th value kept (FlashInfer's rule),
never a token outside the top-k set or of zero probability on 128256/151936-token rows, per-row k, `indices`,
reproducible with a seeded generator, fresh draws on every CUDA-graph replay, check_nan, empty batches, opcheck,
torch.compile. CPU: schema, signature, fake impl, the binding's checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import sampler_checks as sc
import torch
from sampling_reference import kept_top_k, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_k_sampling_from_probs"
fn = kernelkit_ops.top_k_sampling_from_probs
torch_op = torch.ops.kernelkit.top_k_sampling_from_probs.default


def _arr(x):
    return (x.int(), 0) if isinstance(x, torch.Tensor) else (None, int(x))


SPEC = sc.SamplerSpec(
    op=OP,
    call=lambda p, t, **kw: fn(p, t["top_k"], **kw),
    kept=lambda p, t: kept_top_k(p, t["top_k"]),
    op_thresholds=lambda t: _arr(t["top_k"]),
)


# ---------------------------------------------------------------------------------------- CPU


def test_schema_registered():
    names = [a.name for a in torch_op._schema.arguments]
    assert names == ["probs", "samples", "indices", "top_k_arr", "top_k_val", "seed", "offset", "rng_state",
                     "enable_pdl"]  # fmt: skip
    assert [a.alias_info is not None and a.alias_info.is_write for a in torch_op._schema.arguments][1]


def test_signature():
    params = inspect.signature(fn).parameters
    assert list(params) == ["probs", "top_k", "indices", "deterministic", "generator", "check_nan"]
    assert [params[n].default for n in list(params)[2:]] == [None, True, None, False]


def test_fake_impl():
    with FakeTensorMode():
        probs = torch.empty(3, 50, device="cuda")
        samples = torch.empty(5, dtype=torch.int32, device="cuda")
        idx = torch.zeros(5, dtype=torch.int64, device="cuda")
        torch_op(probs, samples, idx, None, 4, 1, 2, None, False)


def test_check_nan_raises_before_anything():
    sc.check_nan_raises(SPEC, {"top_k": 3}, device="cpu")


BAD = [
    (lambda p, s: (p.double(), s, None, None, 3), "probs must be float32, got float64"),
    (lambda p, s: (p[0], s, None, None, 3), r"probs must be 2-D \[batch, vocab\], got \[16\]"),
    (lambda p, s: (p.t(), s, None, None, 3), "probs must be contiguous in its last dimension"),
    (lambda p, s: (p, s.long(), None, None, 3), "samples must be int32, got int64"),
    (lambda p, s: (p, s[:2], None, None, 3), r"samples must have shape \[4\] \(one per row of probs\), got \[2\]"),
    (lambda p, s: (p, s, torch.zeros(4, dtype=torch.int16), None, 3), "indices must be int32 or int64, got"),
    (
        lambda p, s: (p, s, torch.zeros(3, dtype=torch.int32), None, 3),
        r"samples must have shape \[3\] \(one per index\)",
    ),
    (lambda p, s: (p, s, None, torch.ones(3, dtype=torch.int32), 0), r"top_k_arr must have shape \[4\]"),
    (lambda p, s: (p, s, None, torch.ones(4), 0), "top_k_arr must be int32, got float32"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    p = torch.rand(4, 16)
    s = torch.empty(4, dtype=torch.int32)
    args = mutate(p, s)
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        torch_op(*args, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: probs must be a CUDA tensor"):
        torch_op(p, s, None, None, 3, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: rng_state must have shape \[2\]"):
        torch_op(p, s, None, None, 3, 1, 2, torch.zeros(3, dtype=torch.int64), False)


# ---------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["k5", "per_row", "ties", "v1000_k50", "k0_keeps_all", "k1_greedy", "int32_indices"])
def test_distribution(case):
    if case == "k5":
        sc.check_distribution(SPEC, random_probs(3, 64, seed=1), {"top_k": 5})
    elif case == "per_row":
        probs = random_probs(4, 64, scale=2.0, seed=2)
        sc.check_distribution(SPEC, probs, {"top_k": torch.tensor([1, 10, 64, 200], device="cuda")})
    elif case == "ties":  # values equal to the k-th largest are all kept
        probs = tied_probs(3, 40)
        kept = kept_top_k(probs, 7)
        assert bool((kept.sum(-1) > 7).any()), "the test rows must have ties at the k-th value"
        sc.check_distribution(SPEC, probs, {"top_k": 7})
    elif case == "v1000_k50":
        sc.check_distribution(SPEC, random_probs(2, 1000, scale=3.0, seed=4), {"top_k": 50})
    elif case == "k0_keeps_all":
        sc.check_distribution(SPEC, random_probs(2, 16, seed=5), {"top_k": 0})
    elif case == "k1_greedy":
        sc.check_distribution(SPEC, random_probs(3, 500, scale=2.0, seed=6), {"top_k": 1})
    else:
        sc.check_distribution(SPEC, random_probs(2, 33, seed=8), {"top_k": 9}, index_dtype=torch.int32)


@pytest.mark.gpu
def test_unnormalised_rows_and_zeros():
    probs = random_probs(3, 48, seed=9) * torch.tensor([[1.0], [3.5], [0.01]], device="cuda")
    probs[:, ::5] = 0.0
    sc.check_distribution(SPEC, probs, {"top_k": 12})


@pytest.mark.gpu
@pytest.mark.parametrize("vocab", sc.LARGE_VOCABS)
@pytest.mark.parametrize("per_row", [False, True])
def test_large_vocab_support(vocab, per_row):
    k = torch.randint(1, 2000, (48,), device="cuda") if per_row else 50
    sc.check_large_vocab_support(SPEC, vocab, {"top_k": k})


@pytest.mark.gpu
def test_row_strided_probs():
    buf = random_probs(3, 80, seed=11)
    probs = buf[:, :64]
    probs = probs / probs.sum(-1, keepdim=True)
    wide = torch.zeros(3, 80, device="cuda")
    wide[:, :64] = probs
    sc.check_distribution(SPEC, wide[:, :64], {"top_k": 6})


@pytest.mark.gpu
def test_reproducible():
    sc.check_reproducible(SPEC, {"top_k": 50})


@pytest.mark.gpu
def test_cuda_graph_replays_draw_anew():
    sc.check_graph_replays(SPEC, {"top_k": 6})


@pytest.mark.gpu
def test_check_nan():
    sc.check_nan_raises(SPEC, {"top_k": 3})


@pytest.mark.gpu
def test_empty_batch():
    sc.check_empty(SPEC, {"top_k": 3})


@pytest.mark.gpu
def test_opcheck():
    sc.check_opcheck(SPEC, {"top_k": 20})
    sc.check_opcheck(SPEC, {"top_k": torch.arange(1, 7, device="cuda", dtype=torch.int32)})


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    sc.check_compile(SPEC, {"top_k": 20})
