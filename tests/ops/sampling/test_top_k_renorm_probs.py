"""Tests of `top_k_renorm_probs`: the kept set exactly the float64 reference's (values tied with the k-th largest
all kept, FlashInfer's pivot rule), kept values renormalised within fp32 rounding (rows sum to 1), others exactly 0;
per-row k, k <= 0 / k >= V keep the row, 128256/151936-wide rows, row-strided input, fp16 input (converted with
.float() as sgl-kernel does), B = 0, opcheck, torch.compile. CPU: schema, signature, alias, fake, binding checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import torch
from sampling_reference import kept_top_k, random_probs, tied_probs
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_k_renorm_probs"
fn = kernelkit_ops.top_k_renorm_probs
torch_op = torch.ops.kernelkit.top_k_renorm_probs.default


def reference(probs, k):
    kept = kept_top_k(probs, k)
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
    assert [a.name for a in torch_op._schema.arguments] == ["probs", "renorm_probs", "top_k_arr", "top_k_val",
                                                             "enable_pdl"]  # fmt: skip
    assert list(inspect.signature(fn).parameters) == ["probs", "top_k"]
    assert kernelkit_ops.top_k_renorm_prob is fn


def test_fake_impl():
    with FakeTensorMode():
        p = torch.empty(3, 64, device="cuda")
        torch_op(p, torch.empty_like(p), None, 5, False)


BAD = [
    (lambda p, o: (p.half(), o, None, 3), "probs must be float32, got float16"),
    (lambda p, o: (p, o.double(), None, 3), "renorm_probs must be float32, got float64"),
    (lambda p, o: (p, o[:, :8], None, 3), r"renorm_probs must have the shape of probs \[4, 16\]"),
    (lambda p, o: (p, o, torch.ones(2, dtype=torch.int32), 0), r"top_k_arr must have shape \[4\]"),
    (lambda p, o: (p[None], o, None, 3), "probs must be 2-D"),
    (lambda p, o: (p, o, None, 3), "probs must be a CUDA tensor"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    args = mutate(torch.rand(4, 16), torch.empty(4, 16))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        torch_op(*args, False)


# Few rows (clusters of up to 8 CTAs), many rows, 128256/151936 columns, odd V, one CTA per row.
CASES = [
    ((3, 64), 5),
    ((7, 1000), 50),
    ((2, 33), 1),
    ((1, 16), 16),
    ((2, 16), 0),
    ((4, 128256), 50),
    ((3, 151936), 1000),
    ((300, 4096), 20),
    ((1, 40000), 3),
]


@pytest.mark.gpu
@pytest.mark.parametrize("shape, k", CASES)
def test_matches_reference(shape, k):
    check(random_probs(*shape, scale=3.0, seed=shape[1]), k)


@pytest.mark.gpu
def test_per_row_k_and_ties():
    probs = tied_probs(5, 200)
    check(probs, torch.tensor([1, 7, 50, 200, 0], device="cuda"))
    check(probs, 13)


@pytest.mark.gpu
def test_row_strided_and_fp16_input():
    buf = random_probs(6, 1030, seed=3)
    check(buf[:, :1000], 40)
    half = random_probs(4, 512, seed=4).half()
    out = fn(half, 10)
    ref, _ = reference(half.float(), 10)
    torch.testing.assert_close(out.cpu().double(), ref, rtol=2e-6, atol=1e-9)


@pytest.mark.gpu
def test_empty():
    assert fn(torch.empty(0, 100, device="cuda"), 5).shape == (0, 100)


@pytest.mark.gpu
def test_opcheck():
    p = random_probs(8, 300)
    torch.library.opcheck(torch_op, (p, torch.empty_like(p), None, 7, False))
    torch.library.opcheck(
        torch_op, (p, torch.empty_like(p), torch.arange(8, device="cuda", dtype=torch.int32), 0, True)
    )


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    p = random_probs(16, 700)
    out = torch.compile(lambda x: fn(x, 9) * 2, fullgraph=True)(p)
    ref, _ = reference(p, 9)
    torch.testing.assert_close(out.cpu().double(), ref * 2, rtol=2e-6, atol=1e-9)
