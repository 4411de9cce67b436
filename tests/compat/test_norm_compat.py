"""RMSNorm ops as sgl-kernel code calls them: ``rmsnorm``, ``gemma_rmsnorm``, ``fused_add_rmsnorm``,
``gemma_fused_add_rmsnorm``.

What sgl-kernel's API and tests establish, and callers rely on:
* ``rmsnorm(x, w)`` returns a new tensor of x's shape and dtype; ``rmsnorm(x, w, out=y)`` writes ``y`` and
  returns it; ``eps`` is the third positional (default 1e-6); ``enable_pdl`` is accepted, e.g. sgl-kernel's
  tests pass ``enable_pdl=is_arch_support_pdl()`` from ``sgl_kernel.utils``;
* ``fused_add_rmsnorm(x, r, w, eps)`` returns None and works in place: ``r <- x + r`` (rounded to the dtype),
  ``x <- norm(x + r) * w``; ``weight`` is ``[H]``;
* the Gemma variants scale by ``1 + w``;
* the numbers: within ``rtol = atol = 1e-3`` of sgl-kernel's test references (fp32 math, one rounding; for
  the Gemma fused op its reference normalises the sum rounded to the dtype), fp16 (fp32 too for
  ``fused_add_rmsnorm``), batch 1 .. 989 rows, any hidden size (111 included) up to 16384.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from kernelkit_ops.utils import is_arch_support_pdl

BATCHES = (1, 19, 989)
HIDDEN = (111, 3584, 16384)


def norm_reference(x: torch.Tensor, w: torch.Tensor, eps: float, gemma: bool) -> torch.Tensor:
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (y * ((1.0 + w.float()) if gemma else w.float())).to(x.dtype)


def fused_add_reference(x, r, w, eps, gemma):
    """(x, r) after the op, as sgl-kernel's tests compute them: the Llama form adds in fp32 and normalises that
    sum; the Gemma form adds in the dtype and normalises the rounded sum."""
    if gemma:
        s = x + r
        return norm_reference(s, w, eps, gemma=True), s
    s = x.float() + r.float()
    return norm_reference(s, w, eps, gemma=False).to(x.dtype), s.to(x.dtype)


def make(batch, hidden, dtype):
    x = torch.randn(batch, hidden, device="cuda", dtype=dtype)
    return x, torch.randn(hidden, device="cuda", dtype=dtype)


@pytest.mark.gpu
@pytest.mark.parametrize("gemma", [False, True], ids=["rmsnorm", "gemma_rmsnorm"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_norm_returns_new_or_given_out(gemma, batch, hidden):
    fn = kernelkit_ops.gemma_rmsnorm if gemma else kernelkit_ops.rmsnorm
    x, w = make(batch, hidden, torch.float16)
    x_before = x.clone()
    want = norm_reference(x, w, 1e-6, gemma)

    y = fn(x, w)
    assert y.shape == x.shape and y.dtype == x.dtype and y.data_ptr() != x.data_ptr()
    torch.testing.assert_close(y, want, rtol=1e-3, atol=1e-3)

    out = torch.full_like(x, float("nan"))
    assert fn(x, w, out=out) is out
    torch.testing.assert_close(out, want, rtol=1e-3, atol=1e-3)
    assert torch.equal(x, x_before)


@pytest.mark.gpu
@pytest.mark.parametrize("gemma", [False, True], ids=["rmsnorm", "gemma_rmsnorm"])
def test_norm_positional_eps_and_explicit_pdl(gemma):
    """eps by position (a large one, so using the default instead would show), out and enable_pdl by keyword."""
    fn = kernelkit_ops.gemma_rmsnorm if gemma else kernelkit_ops.rmsnorm
    x, w = make(19, 500, torch.float16)
    x = x * 0.01  # mean square ~1e-4: eps = 0.5 dominates it
    want = norm_reference(x, w, 0.5, gemma)
    torch.testing.assert_close(fn(x, w, 0.5), want, rtol=1e-3, atol=1e-3)
    out = torch.empty_like(x)
    fn(x, w, 0.5, out, is_arch_support_pdl())
    torch.testing.assert_close(out, want, rtol=1e-3, atol=1e-3)
    for pdl in (False, True):
        torch.testing.assert_close(fn(x, w, eps=0.5, enable_pdl=pdl), want, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("gemma", [False, True], ids=["fused_add_rmsnorm", "gemma_fused_add_rmsnorm"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_fused_add_is_in_place_and_returns_none(gemma, dtype, batch, hidden):
    fn = kernelkit_ops.gemma_fused_add_rmsnorm if gemma else kernelkit_ops.fused_add_rmsnorm
    x, w = make(batch, hidden, dtype)
    r = torch.randn_like(x)
    want_x, want_r = fused_add_reference(x, r, w, 1e-6, gemma)

    x_ptr, r_ptr = x.data_ptr(), r.data_ptr()
    assert fn(x, r, w, 1e-6) is None  # eps by position, as sgl-kernel's test passes it
    assert x.data_ptr() == x_ptr and r.data_ptr() == r_ptr
    torch.testing.assert_close(x, want_x, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(r, want_r, rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.parametrize("gemma", [False, True], ids=["fused_add_rmsnorm", "gemma_fused_add_rmsnorm"])
def test_fused_add_keywords_and_default_eps(gemma):
    fn = kernelkit_ops.gemma_fused_add_rmsnorm if gemma else kernelkit_ops.fused_add_rmsnorm
    x, w = make(7, 4096, torch.bfloat16)
    r = torch.randn_like(x)
    x2, r2 = x.clone(), r.clone()
    fn(x, r, w)  # eps defaults to 1e-6
    fn(input=x2, residual=r2, weight=w, eps=1e-6, enable_pdl=is_arch_support_pdl())
    assert torch.equal(x, x2) and torch.equal(r, r2)
