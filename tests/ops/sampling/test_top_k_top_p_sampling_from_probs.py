"""Tests of `top_k_top_p_sampling_from_probs`, both filter orders: "top_k_first" (top-k, renormalised, then its
top-p nucleus: sgl-kernel's top_k_renorm_probs + top_p_sampling_from_probs, fused here) and "joint" (both filters on
the raw row). Statistically exact (chi-square, 2e5 draws per distribution, false-failure rate 1e-6 per case) against
the float64 reference; support on 128256/151936-token rows; per-row thresholds, `indices`, reproducibility,
CUDA-graph replays, check_nan, empty batches, an unknown order, opcheck, torch.compile."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import sampler_checks as sc
import torch
from sampling_reference import filtered, kept_top_k, kept_top_k_top_p, nudge_top_p, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_k_top_p_sampling_from_probs"
fn = kernelkit_ops.top_k_top_p_sampling_from_probs
torch_op = torch.ops.kernelkit.top_k_top_p_sampling_from_probs.default


def _arr(x, cast):
    return (x.int() if cast is int else x.float(), cast(0)) if isinstance(x, torch.Tensor) else (None, cast(x))


def spec(order: str) -> sc.SamplerSpec:
    joint = order == "joint"
    return sc.SamplerSpec(
        op=OP,
        call=lambda p, t, **kw: fn(p, t["top_k"], t["top_p"], filter_apply_order=order, **kw),
        kept=lambda p, t: kept_top_k_top_p(p, t["top_k"], t["top_p"], joint),
        op_thresholds=lambda t: (*_arr(t["top_k"], int), *_arr(t["top_p"], float), joint),
    )


SPEC = spec("top_k_first")
ORDERS = ["top_k_first", "joint"]


def safe_top_p(probs, k, top_p, order):
    """top_p away from near-ties of the distribution it applies to (the top-k renormalised one for top_k_first)."""
    base = filtered(probs, kept_top_k(probs, k)) if order == "top_k_first" else probs
    return nudge_top_p(base, top_p)


# ---------------------------------------------------------------------------------------- CPU


def test_schema_registered():
    names = [a.name for a in torch_op._schema.arguments]
    assert names == ["probs", "samples", "indices", "top_k_arr", "top_k_val", "top_p_arr", "top_p_val", "joint",
                     "seed", "offset", "rng_state", "enable_pdl"]  # fmt: skip
    assert [a.alias_info is not None and a.alias_info.is_write for a in torch_op._schema.arguments][1]


def test_signature():
    params = inspect.signature(fn).parameters
    assert list(params) == ["probs", "top_k", "top_p", "indices", "filter_apply_order", "deterministic", "generator",
                            "check_nan"]  # fmt: skip
    assert [params[n].default for n in list(params)[3:]] == [None, "top_k_first", True, None, False]


def test_unknown_order_raises():
    with pytest.raises(ValueError, match="Invalid filter_apply_order: both"):
        fn(torch.rand(2, 8), 3, 0.5, filter_apply_order="both")


def test_fake_impl():
    with FakeTensorMode():
        probs = torch.empty(3, 50, device="cuda")
        samples = torch.empty(5, dtype=torch.int32, device="cuda")
        idx = torch.zeros(5, dtype=torch.int64, device="cuda")
        torch_op(probs, samples, idx, None, 4, None, 0.5, True, 1, 2, None, False)


def test_check_nan_raises_before_anything():
    sc.check_nan_raises(SPEC, {"top_k": 3, "top_p": 0.5}, device="cpu")
    sc.check_nan_raises(spec("joint"), {"top_k": 3, "top_p": 0.5}, device="cpu")


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
        torch_op(*args, None, 0.5, False, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: probs must be a CUDA tensor"):
        torch_op(p, s, None, None, 3, None, 0.5, False, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: rng_state must have shape \[2\]"):
        torch_op(p, s, None, None, 3, None, 0.5, False, 1, 2, torch.zeros(3, dtype=torch.int64), False)


# ---------------------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("case", ["k10_p08", "per_row", "ties", "v1000", "k_keeps_all", "p_keeps_all", "int32_indices"])
def test_distribution(order, case):
    sp = spec(order)
    if case == "k10_p08":
        probs = random_probs(3, 64, seed=1)
        sc.check_distribution(sp, probs, {"top_k": 10, "top_p": safe_top_p(probs, 10, 0.8, order)})
    elif case == "per_row":
        probs = random_probs(3, 64, scale=2.0, seed=2)
        ks = [1, 20, 64]
        tp = [safe_top_p(probs[r : r + 1], ks[r], v, order) for r, v in enumerate([0.5, 0.7, 0.95])]
        thr = {"top_k": torch.tensor(ks, device="cuda"), "top_p": torch.tensor(tp, device="cuda")}
        sc.check_distribution(sp, probs, thr)
    elif case == "ties":
        probs = tied_probs(3, 40)
        sc.check_distribution(sp, probs, {"top_k": 15, "top_p": safe_top_p(probs, 15, 0.6, order)})
    elif case == "v1000":
        probs = random_probs(2, 1000, scale=3.0, seed=4)
        sc.check_distribution(sp, probs, {"top_k": 50, "top_p": safe_top_p(probs, 50, 0.9, order)})
    elif case == "k_keeps_all":
        probs = random_probs(2, 30, seed=5)
        sc.check_distribution(sp, probs, {"top_k": 0, "top_p": safe_top_p(probs, 0, 0.7, order)})
    elif case == "p_keeps_all":
        sc.check_distribution(sp, random_probs(2, 30, seed=6), {"top_k": 7, "top_p": 1.0})
    else:
        probs = random_probs(2, 33, seed=8)
        sc.check_distribution(sp, probs, {"top_k": 12, "top_p": safe_top_p(probs, 12, 0.6, order)}, torch.int32)


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("vocab", sc.LARGE_VOCABS)
def test_large_vocab_support(order, vocab):
    k = torch.randint(1, 3000, (48,), device="cuda")
    tp = torch.rand(48, device="cuda") * 0.98 + 0.01
    sc.check_large_vocab_support(spec(order), vocab, {"top_k": k, "top_p": tp}, {"top_k": k, "top_p": tp + 1e-5})


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
def test_reproducible(order):
    sc.check_reproducible(spec(order), {"top_k": 50, "top_p": 0.9})


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
def test_cuda_graph_replays_draw_anew(order):
    sc.check_graph_replays(spec(order), {"top_k": 10, "top_p": 0.8})


@pytest.mark.gpu
def test_check_nan():
    for order in ORDERS:
        sc.check_nan_raises(spec(order), {"top_k": 3, "top_p": 0.5})


@pytest.mark.gpu
def test_empty_batch():
    sc.check_empty(SPEC, {"top_k": 3, "top_p": 0.5})


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
def test_opcheck(order):
    sc.check_opcheck(spec(order), {"top_k": 20, "top_p": 0.8})
    per_row = {"top_k": torch.arange(1, 7, device="cuda"), "top_p": torch.linspace(0.2, 1.0, 6, device="cuda")}
    sc.check_opcheck(spec(order), per_row)


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS)
def test_torch_compile_fullgraph(order):
    sc.check_compile(spec(order), {"top_k": 20, "top_p": 0.8})
