"""Tests of `top_k_mask_logits`: bit-exact against a torch reference (logits >= the k-th largest kept with their bits,
ties all kept, the rest -inf), fp32/fp16/bf16 in and out, negative logits, per-row k, k <= 0 / k >= V, 128256/151936
columns, row-strided input, B = 0, opcheck, torch.compile. CPU: schema, signature, fake, the binding's checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "top_k_mask_logits"
fn = kernelkit_ops.top_k_mask_logits
torch_op = torch.ops.kernelkit.top_k_mask_logits.default
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def reference(logits, k):
    x = logits.float()
    v = x.shape[-1]
    ks = k.long() if isinstance(k, torch.Tensor) else torch.full((x.shape[0],), int(k), device=x.device)
    keep_all = (ks <= 0) | (ks >= v)
    kth = x.sort(-1, descending=True).values.gather(-1, (ks.clamp(1, v) - 1)[:, None])
    keep = keep_all[:, None] | (x >= kth)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))


def check(logits, k):
    out = fn(logits, k)
    assert out.dtype == logits.dtype and out.shape == logits.shape
    assert torch.equal(out, reference(logits, k))


def test_schema_and_signature():
    assert [a.name for a in torch_op._schema.arguments] == ["logits", "masked_logits", "top_k_arr", "top_k_val",
                                                             "enable_pdl"]  # fmt: skip
    assert list(inspect.signature(fn).parameters) == ["logits", "top_k"]


def test_fake_impl():
    with FakeTensorMode():
        x = torch.empty(3, 64, device="cuda", dtype=torch.bfloat16)
        torch_op(x, torch.empty_like(x), None, 5, False)


BAD = [
    (lambda x, o: (x.int(), o, None, 3), "logits must be bfloat16, float16 or float32, got int32"),
    (lambda x, o: (x, o.half(), None, 3), "masked_logits must be float32, got float16"),
    (lambda x, o: (x, o, torch.ones(4, dtype=torch.int64), 0), "top_k_arr must be int32, got int64"),
    (lambda x, o: (x, o, None, 3), "logits must be a CUDA tensor"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    args = mutate(torch.randn(4, 16), torch.empty(4, 16))
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
    ((1, 40001), 3),
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape, k", CASES)
def test_matches_reference(dtype, shape, k):
    check((torch.randn(shape, device="cuda") * 4).to(dtype), k)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_ties_negative_zero_and_per_row_k(dtype):
    x = torch.randint(-4, 4, (6, 300), device="cuda").to(dtype)  # many exact ties, -0 and +0 equal
    x[0, :5] = -0.0
    check(x, torch.tensor([1, 7, 50, 300, 0, 299], device="cuda"))
    check(x, 37)


@pytest.mark.gpu
def test_row_strided():
    buf = torch.randn(5, 1100, device="cuda")
    check(buf[:, 50:1050], 30)


@pytest.mark.gpu
def test_empty():
    assert fn(torch.empty(0, 100, device="cuda"), 5).shape == (0, 100)


@pytest.mark.gpu
def test_opcheck():
    x = torch.randn(8, 300, device="cuda", dtype=torch.bfloat16)
    torch.library.opcheck(torch_op, (x, torch.empty_like(x), None, 7, False))
    torch.library.opcheck(
        torch_op, (x, torch.empty_like(x), torch.arange(8, device="cuda", dtype=torch.int32), 0, True)
    )


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x = torch.randn(16, 700, device="cuda")
    out = torch.compile(lambda t: fn(t, 9).softmax(-1), fullgraph=True)(x)
    torch.testing.assert_close(out, reference(x, 9).softmax(-1))
