"""Tests of `top_p_renorm_probs`: the kept set exactly the float64 reference's (a value is kept when the values
strictly larger sum to less than top_p, ties kept together; thresholds nudged away from near-ties), kept values
renormalised within fp32 rounding, others exactly 0; per-row top_p, top_p >= 1 keeps the row, 128256/151936-wide rows,
row-strided input, fp16 input (converted with .float() as sgl-kernel does), B = 0, opcheck, torch.compile.
CPU: schema, signature, alias, fake, binding checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import torch
from sampling_reference import kept_top_p, nudge_top_p, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_p_renorm_probs"
fn = kernelkit_ops.top_p_renorm_probs
torch_op = torch.ops.kernelkit.top_p_renorm_probs.default


def reference(probs, k):
    kept = kept_top_p(probs, k)
    q = probs.double().cpu() * kept
    return q / q.sum(-1, keepdim=True).clamp_min(1e-8), kept


def check(probs, k):
    out = fn(probs, k)
    ref, kept = reference(probs, k)
    assert out.dtype == torch.float32 and out.shape == probs.shape
    got = out.cpu()
    assert torch.equal(got != 0, kept & (probs.cpu() != 0)), "kept set differs from the reference"
    torch.testing.assert_close(got.double(), ref, rtol=2e-6, atol=1e-9)


def test_schema_and_signature():
    assert [a.name for a in torch_op._schema.arguments] == ["probs", "renorm_probs", "top_p_arr", "top_p_val",
                                                             "enable_pdl"]  # fmt: skip
    assert list(inspect.signature(fn).parameters) == ["probs", "top_p"]
    assert kernelkit_ops.top_p_renorm_prob is fn


def test_fake_impl():
    with FakeTensorMode():
        p = torch.empty(3, 64, device="cuda")
        torch_op(p, torch.empty_like(p), None, 0.5, False)


BAD = [
    (lambda p, o: (p.half(), o, None, 0.5), "probs must be float32, got float16"),
    (lambda p, o: (p, o.double(), None, 0.5), "renorm_probs must be float32, got float64"),
    (lambda p, o: (p, o[:, :8], None, 0.5), r"renorm_probs must have the shape of probs \[4, 16\]"),
    (lambda p, o: (p, o, torch.ones(2), 0.0), r"top_p_arr must have shape \[4\]"),
    (lambda p, o: (p[None], o, None, 0.5), "probs must be 2-D"),
    (lambda p, o: (p, o, None, 0.5), "probs must be a CUDA tensor"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    args = mutate(torch.rand(4, 16), torch.empty(4, 16))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        torch_op(*args, False)


# Few rows (clusters of up to 8 CTAs), many rows, 128256/151936 columns, odd V, one CTA per row.
CASES = [
    ((3, 64), 0.7),
    ((7, 1000), 0.9),
    ((2, 33), 1e-4),
    ((1, 16), 1.0),
    ((2, 16), 0.5),
    ((4, 128256), 0.9),
    ((3, 151936), 0.5),
    ((300, 4096), 0.8),
    ((1, 40000), 0.95),
]


@pytest.mark.gpu
@pytest.mark.parametrize("shape, p", CASES)
def test_matches_reference(shape, p):
    probs = random_probs(*shape, scale=3.0, seed=shape[1])
    check(probs, nudge_top_p(probs, p, 1e-6) if p < 1 else p)


@pytest.mark.gpu
def test_per_row_k_and_ties():
    probs = tied_probs(5, 200)
    tp = [nudge_top_p(probs[r : r + 1], v) for r, v in enumerate([0.1, 0.3, 0.5, 0.9, 0.99])]
    check(probs, torch.tensor(tp, device="cuda"))
    check(probs, nudge_top_p(probs, 0.6))


@pytest.mark.gpu
def test_row_strided_and_fp16_input():
    buf = random_probs(6, 1030, seed=3)
    check(buf[:, :1000], nudge_top_p(buf[:, :1000], 0.8))
    half = random_probs(4, 512, seed=4).half()
    tp = nudge_top_p(half.float(), 0.7)
    out = fn(half, tp)
    ref, _ = reference(half.float(), tp)
    torch.testing.assert_close(out.cpu().double(), ref, rtol=2e-6, atol=1e-9)


@pytest.mark.gpu
def test_empty():
    assert fn(torch.empty(0, 100, device="cuda"), 0.5).shape == (0, 100)


@pytest.mark.gpu
def test_opcheck():
    p = random_probs(8, 300)
    torch.library.opcheck(torch_op, (p, torch.empty_like(p), None, 0.7, False))
    per_row_p = torch.linspace(0.1, 1.0, 8, device="cuda")
    torch.library.opcheck(torch_op, (p, torch.empty_like(p), per_row_p, 0.0, True))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    p = random_probs(16, 700)
    tp = nudge_top_p(p, 0.8)
    out = torch.compile(lambda x: fn(x, tp) * 2, fullgraph=True)(p)
    ref, _ = reference(p, tp)
    torch.testing.assert_close(out.cpu().double(), ref * 2, rtol=2e-6, atol=1e-9)
