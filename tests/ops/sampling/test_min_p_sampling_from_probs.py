"""Tests of `min_p_sampling_from_probs`: statistically exact (chi-square, 2e5 draws per distribution, false-failure
rate 1e-6 per case) against the float64 distribution over the values >= max * min_p (the product in fp32, values equal
to it kept: FlashInfer's rule); never a token below the threshold or of zero probability on 128256/151936-token rows;
per-row min_p, `indices`, reproducibility, CUDA-graph replays, check_nan, empty batches, opcheck, torch.compile.
CPU: schema, signature, fake, the binding's checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import sampler_checks as sc
import torch
from sampling_reference import kept_min_p, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "min_p_sampling_from_probs"
fn = kernelkit_ops.min_p_sampling_from_probs
torch_op = torch.ops.kernelkit.min_p_sampling_from_probs.default


def _arr(x):
    return (x.float(), 0.0) if isinstance(x, torch.Tensor) else (None, float(x))


SPEC = sc.SamplerSpec(
    op=OP,
    call=lambda p, t, **kw: fn(p, t["min_p"], **kw),
    kept=lambda p, t: kept_min_p(p, t["min_p"]),
    op_thresholds=lambda t: _arr(t["min_p"]),
)


# ---------------------------------------------------------------------------------------- CPU


def test_schema_registered():
    names = [a.name for a in torch_op._schema.arguments]
    assert names == [
        "probs",
        "samples",
        "indices",
        "min_p_arr",
        "min_p_val",
        "seed",
        "offset",
        "rng_state",
        "enable_pdl",
    ]
    assert [a.alias_info is not None and a.alias_info.is_write for a in torch_op._schema.arguments][1]


def test_signature():
    params = inspect.signature(fn).parameters
    assert list(params) == ["probs", "min_p", "indices", "deterministic", "generator", "check_nan"]
    assert [params[n].default for n in list(params)[2:]] == [None, True, None, False]


def test_fake_impl():
    with FakeTensorMode():
        probs = torch.empty(3, 50, device="cuda")
        samples = torch.empty(5, dtype=torch.int32, device="cuda")
        idx = torch.zeros(5, dtype=torch.int64, device="cuda")
        torch_op(probs, samples, idx, None, 0.1, 1, 2, None, False)


def test_check_nan_raises_before_anything():
    sc.check_nan_raises(SPEC, {"min_p": 0.5}, device="cpu")


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
    (lambda p, s: (p, s, None, torch.ones(3), 0), r"min_p_arr must have shape \[4\]"),
    (lambda p, s: (p, s, None, torch.ones(4, dtype=torch.int32), 0), "min_p_arr must be float32, got int32"),
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
@pytest.mark.parametrize("case", ["m01", "per_row", "ties", "v1000_m005", "int32_indices"])
def test_distribution(case):
    if case == "m01":
        sc.check_distribution(SPEC, random_probs(3, 64, scale=2.0, seed=1), {"min_p": 0.1})
    elif case == "per_row":
        probs = random_probs(3, 64, scale=2.0, seed=2)
        sc.check_distribution(SPEC, probs, {"min_p": torch.tensor([0.0, 0.5, 0.999], device="cuda")})
    elif case == "ties":  # values equal to max * min_p are kept
        sc.check_distribution(SPEC, tied_probs(3, 40), {"min_p": 0.4})
    elif case == "v1000_m005":
        sc.check_distribution(SPEC, random_probs(2, 1000, scale=3.0, seed=4), {"min_p": 0.05})
    else:
        sc.check_distribution(SPEC, random_probs(2, 33, seed=8), {"min_p": 0.2}, index_dtype=torch.int32)


@pytest.mark.gpu
@pytest.mark.parametrize("vocab", sc.LARGE_VOCABS)
@pytest.mark.parametrize("per_row", [False, True])
def test_large_vocab_support(vocab, per_row):
    mp = torch.rand(48, device="cuda") if per_row else 0.1
    sc.check_large_vocab_support(SPEC, vocab, {"min_p": mp})


@pytest.mark.gpu
def test_reproducible():
    sc.check_reproducible(SPEC, {"min_p": 0.05})


@pytest.mark.gpu
def test_cuda_graph_replays_draw_anew():
    sc.check_graph_replays(SPEC, {"min_p": 0.1})


@pytest.mark.gpu
def test_check_nan():
    sc.check_nan_raises(SPEC, {"min_p": 0.05})


@pytest.mark.gpu
def test_empty_batch():
    sc.check_empty(SPEC, {"min_p": 0.05})


@pytest.mark.gpu
def test_opcheck():
    sc.check_opcheck(SPEC, {"min_p": 0.05})
    sc.check_opcheck(SPEC, {"min_p": torch.linspace(0.0, 0.9, 6, device="cuda")})


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    sc.check_compile(SPEC, {"min_p": 0.05})
