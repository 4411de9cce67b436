"""Tests of `softmax`: against torch.softmax(logits.float() / temperature) within fp32 tolerance, temperature None /
scalar / per-row tensor (float16..float64), fp32/fp16/bf16 logits (fp32 out), 128256/151936 columns, a row wider than
the on-chip limit (read from memory each pass), odd V, row-strided logits, -inf logits, B = 0, FlashInfer's
temperature errors, opcheck, torch.compile. CPU: schema, signature, fake, the binding's checks."""

from __future__ import annotations

import inspect

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "softmax"
fn = kernelkit_ops.softmax
torch_op = torch.ops.kernelkit.softmax.default
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def reference(logits, temperature=None):
    x = logits.double()
    if isinstance(temperature, torch.Tensor):
        x = x / temperature.double()[:, None]
    elif temperature is not None:
        x = x / temperature
    return torch.softmax(x, -1)


def check(logits, temperature=None):
    out = fn(logits, temperature)
    assert out.dtype == torch.float32 and out.shape == logits.shape
    torch.testing.assert_close(out.double(), reference(logits, temperature), rtol=1e-5, atol=1e-9)


def test_schema_and_signature():
    assert [a.name for a in torch_op._schema.arguments] == ["logits", "probs", "temperature_arr", "temperature_val",
                                                             "enable_pdl"]  # fmt: skip
    params = inspect.signature(fn).parameters
    assert list(params) == ["logits", "temperature", "enable_pdl"]
    assert params["temperature"].default is None and params["enable_pdl"].default is None


def test_fake_impl():
    with FakeTensorMode():
        x = torch.empty(3, 64, device="cuda", dtype=torch.bfloat16)
        torch_op(x, torch.empty(3, 64, device="cuda"), None, 1.0, False)


def test_temperature_errors_as_flashinfer():
    x = torch.randn(4, 16)
    with pytest.raises(ValueError, match="temperature tensor must be 1D"):
        fn(x, torch.ones(4, 1))
    with pytest.raises(ValueError, match=r"temperature tensor length must equal logits.size\(0\) \(4\), got 3"):
        fn(x, torch.ones(3))
    with pytest.raises(ValueError, match="temperature tensor must have dtype"):
        fn(x, torch.ones(4, dtype=torch.int32))
    with pytest.raises(TypeError, match="temperature must be None, a real scalar"):
        fn(x, True)
    with pytest.raises(RuntimeError, match="softmax: logits must be a CUDA tensor"):
        fn(x, 0.7)


BAD = [
    (lambda x, o: (x, o.half(), None, 1.0), "probs must be float32, got float16"),
    (lambda x, o: (x, o[:, :3], None, 1.0), r"probs must have the shape of logits \[4, 16\]"),
    (lambda x, o: (x, o, torch.ones(4, dtype=torch.float64), 0.0), "temperature_arr must be float32, got float64"),
    (lambda x, o: (x.int(), o, None, 1.0), "logits must be bfloat16, float16 or float32, got int32"),
]


@pytest.mark.parametrize("mutate, message", BAD, ids=[m for _, m in BAD])
def test_binding_rejects_bad_input(mutate, message):
    args = mutate(torch.randn(4, 16), torch.empty(4, 16))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        torch_op(*args, False)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 128256), (16, 151936), (64, 128256), (3, 1000), (5, 33), (300, 4096),
                                   (2, 500001), (1, 7)])  # fmt: skip
def test_matches_reference(dtype, shape):
    logits = (torch.randn(shape, device="cuda") * 5).to(dtype)
    check(logits)
    check(logits, 0.7)


@pytest.mark.gpu
@pytest.mark.parametrize("tdtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_per_row_temperature(tdtype):
    logits = torch.randn(6, 3000, device="cuda") * 3
    t = torch.tensor([0.1, 0.5, 1.0, 1.5, 2.0, 10.0], device="cuda", dtype=tdtype)
    check(logits, t)


@pytest.mark.gpu
def test_row_strided_and_minus_inf():
    buf = torch.randn(4, 2100, device="cuda")
    x = buf[:, 100:2100]
    x[:, ::3] = float("-inf")
    check(x, 1.3)


@pytest.mark.gpu
def test_pdl_and_empty():
    x = torch.randn(8, 1024, device="cuda")
    for pdl in (True, False):
        torch.testing.assert_close(fn(x, enable_pdl=pdl).double(), reference(x), rtol=1e-5, atol=1e-9)
    assert fn(torch.empty(0, 100, device="cuda")).shape == (0, 100)


@pytest.mark.gpu
def test_opcheck():
    x = torch.randn(8, 300, device="cuda", dtype=torch.bfloat16)
    out = torch.empty(8, 300, device="cuda")
    torch.library.opcheck(torch_op, (x, out, None, 0.8, False))
    torch.library.opcheck(torch_op, (x, out, torch.rand(8, device="cuda") + 0.5, 0.0, True))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x = torch.randn(16, 700, device="cuda")
    out = torch.compile(lambda t: fn(t, 0.9) * 2, fullgraph=True)(x)
    torch.testing.assert_close(out.double(), reference(x, 0.9) * 2, rtol=1e-5, atol=1e-9)
