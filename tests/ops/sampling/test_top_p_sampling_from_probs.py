"""Tests of `top_p_sampling_from_probs`: statistically exact (chi-square, 2e5 draws per distribution, false-failure
rate 1e-6 per case) against the float64 nucleus (a token is kept when the values strictly larger than it sum to less
than top_p: FlashInfer's rule, ties kept together), thresholds kept away from near-ties by nudge_top_p; never a token
outside the nucleus or of zero probability on 128256/151936-token rows; per-row top_p, `indices`, reproducibility,
CUDA-graph replays, check_nan, empty batches, opcheck, torch.compile. CPU: schema, signature, fake, binding checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import sampler_checks as sc
import torch
from sampling_reference import kept_top_p, nudge_top_p, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_p_sampling_from_probs"
fn = kernelkit_ops.top_p_sampling_from_probs
torch_op = torch.ops.kernelkit.top_p_sampling_from_probs.default


def _arr(x):
    return (x.float(), 0.0) if isinstance(x, torch.Tensor) else (None, float(x))


SPEC = sc.SamplerSpec(
    op=OP,
    call=lambda p, t, **kw: fn(p, t["top_p"], **kw),
    kept=lambda p, t: kept_top_p(p, t["top_p"]),
    op_thresholds=lambda t: _arr(t["top_p"]),
)


# ---------------------------------------------------------------------------------------- CPU


def test_schema_registered():
    names = [a.name for a in torch_op._schema.arguments]
    assert names == [
        "probs",
        "samples",
        "indices",
        "top_p_arr",
        "top_p_val",
        "seed",
        "offset",
        "rng_state",
        "enable_pdl",
    ]
    assert [a.alias_info is not None and a.alias_info.is_write for a in torch_op._schema.arguments][1]


def test_signature():
    params = inspect.signature(fn).parameters
    assert list(params) == ["probs", "top_p", "indices", "deterministic", "generator", "check_nan"]
    assert [params[n].default for n in list(params)[2:]] == [None, True, None, False]


def test_fake_impl():
    with FakeTensorMode():
        probs = torch.empty(3, 50, device="cuda")
        samples = torch.empty(5, dtype=torch.int32, device="cuda")
        idx = torch.zeros(5, dtype=torch.int64, device="cuda")
        torch_op(probs, samples, idx, None, 0.9, 1, 2, None, False)


def test_check_nan_raises_before_anything():
    sc.check_nan_raises(SPEC, {"top_p": 0.5}, device="cpu")


BAD = [
    (lambda p, s: (p.double(), s, None, None, 0.5), "probs must be float32, got float64"),
    (lambda p, s: (p[0], s, None, None, 0.5), r"probs must be 2-D \[batch, vocab\], got \[16\]"),
    (lambda p, s: (p.t(), s, None, None, 0.5), "probs must be contiguous in its last dimension"),
    (lambda p, s: (p, s.long(), None, None, 0.5), "samples must be int32, got int64"),
    (lambda p, s: (p, s[:2], None, None, 0.5), r"samples must have shape \[4\] \(one per row of probs\), got \[2\]"),
    (lambda p, s: (p, s, torch.zeros(4, dtype=torch.int16), None, 3), "indices must be int32 or int64, got"),
    (
        lambda p, s: (p, s, torch.zeros(3, dtype=torch.int32), None, 3),
        r"samples must have shape \[3\] \(one per index\)",
    ),
    (lambda p, s: (p, s, None, torch.ones(3), 0), r"top_p_arr must have shape \[4\]"),
    (lambda p, s: (p, s, None, torch.ones(4, dtype=torch.int32), 0), "top_p_arr must be float32, got int32"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    p = torch.rand(4, 16)
    s = torch.empty(4, dtype=torch.int32)
    args = mutate(p, s)
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        torch_op(*args, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: probs must be a CUDA tensor"):
        torch_op(p, s, None, None, 0.5, 1, 2, None, False)
    with pytest.raises(RuntimeError, match=rf"{OP}: rng_state must have shape \[2\]"):
        torch_op(p, s, None, None, 3, 1, 2, torch.zeros(3, dtype=torch.int64), False)


@pytest.mark.gpu
@pytest.mark.parametrize("case", ["p07", "per_row", "ties", "v1000_p09", "p1_keeps_all", "tiny_p", "int32_indices"])
def test_distribution(case):
    if case == "p07":
        probs = random_probs(3, 64, seed=1)
        sc.check_distribution(SPEC, probs, {"top_p": nudge_top_p(probs, 0.7)})
    elif case == "per_row":
        probs = random_probs(3, 64, scale=2.0, seed=2)
        tp = [nudge_top_p(probs[r : r + 1], v) for r, v in enumerate([0.3, 0.9, 1.0])]
        sc.check_distribution(SPEC, probs, {"top_p": torch.tensor(tp, device="cuda")})
    elif case == "ties":  # tokens tied at the boundary are kept together
        probs = tied_probs(3, 40)
        sc.check_distribution(SPEC, probs, {"top_p": nudge_top_p(probs, 0.5)})
    elif case == "v1000_p09":
        probs = random_probs(2, 1000, scale=3.0, seed=4)
        sc.check_distribution(SPEC, probs, {"top_p": nudge_top_p(probs, 0.9)})
    elif case == "p1_keeps_all":
        sc.check_distribution(SPEC, random_probs(2, 16, seed=5), {"top_p": 1.0})
    elif case == "tiny_p":  # below the largest value: only the top token(s)
        sc.check_distribution(SPEC, random_probs(3, 200, scale=2.0, seed=6), {"top_p": 1e-4})
    else:
        probs = random_probs(2, 33, seed=8)
        sc.check_distribution(SPEC, probs, {"top_p": nudge_top_p(probs, 0.6)}, index_dtype=torch.int32)


@pytest.mark.gpu
@pytest.mark.parametrize("vocab", sc.LARGE_VOCABS)
@pytest.mark.parametrize("per_row", [False, True])
def test_large_vocab_support(vocab, per_row):
    tp = torch.rand(48, device="cuda") * 0.98 + 0.01 if per_row else 0.9
    loose = tp + 1e-5
    sc.check_large_vocab_support(SPEC, vocab, {"top_p": tp}, {"top_p": loose})


@pytest.mark.gpu
def test_reproducible():
    sc.check_reproducible(SPEC, {"top_p": 0.9})


@pytest.mark.gpu
def test_cuda_graph_replays_draw_anew():
    sc.check_graph_replays(SPEC, {"top_p": 0.8})


@pytest.mark.gpu
def test_check_nan():
    sc.check_nan_raises(SPEC, {"top_p": 0.9})


@pytest.mark.gpu
def test_empty_batch():
    sc.check_empty(SPEC, {"top_p": 0.9})


@pytest.mark.gpu
def test_opcheck():
    sc.check_opcheck(SPEC, {"top_p": 0.9})
    sc.check_opcheck(SPEC, {"top_p": torch.linspace(0.1, 1.0, 6, device="cuda")})


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    sc.check_compile(SPEC, {"top_p": 0.9})
