"""sgl-kernel compatibility of `merge_state` and `merge_state_v2` (self-contained).

Facts from sgl-kernel's Python API (``sgl_kernel/attention.py``), its kernels (``csrc/attention/cascade.cu``, which
calls FlashInfer's ``MergeState``, and ``csrc/attention/merge_attn_states.cu``) and its upstream tests
(``tests/test_merge_state.py``, ``tests/test_merge_state_v2.py``), re-stated as our own checks:

* signatures: ``(v_a, s_a, v_b, s_b, v_merged=None, s_merged=None)`` (kernelkit adds ``enable_pdl=None`` last);
  both return ``(v_merged, s_merged)``, the given buffers when passed, else ``empty_like(v_a)`` and a float32
  ``empty_like(s_a)``; s_a and s_b are converted to float32 first, so LSEs of another dtype are accepted;
* v [T, H, D] in fp16/bf16 (merge_state_v2 also fp32), s [T, H] float32 indexed ``t * H + h``;
* merge_state: base-2 LSEs (FlashInfer's "logsumexp values with base 2"): the merged LSE of two equal LSEs s is
  s + 1; the LSEs are used as given (-inf on one side weighs 0; +inf gives NaN);
* merge_state_v2: natural-log LSEs (``expf``/``logf``): two equal LSEs merge to s + ln 2; ``isinf`` LSEs of either
  sign become -inf (an empty state weighs 0), which upstream's test exercises with +inf on ~10% of each side.

Signature checks are CPU tests; everything that launches is marked ``gpu``.
"""

from __future__ import annotations

import math

import kernelkit_ops as sgl_kernel
import pytest
import torch
from compat_helpers import REQUIRED, assert_drop_in_signature

UPSTREAM = [
    ("v_a", REQUIRED),
    ("s_a", REQUIRED),
    ("v_b", REQUIRED),
    ("s_b", REQUIRED),
    ("v_merged", None),
    ("s_merged", None),
]


@pytest.mark.parametrize("name", ["merge_state", "merge_state_v2"])
def test_signature(name):
    assert_drop_in_signature(getattr(sgl_kernel, name), UPSTREAM)


def _states(t=64, h=8, d=128, dtype=torch.float16):
    return (
        torch.randn(t, h, d, device="cuda", dtype=dtype),
        torch.randn(t, h, device="cuda"),
        torch.randn(t, h, d, device="cuda", dtype=dtype),
        torch.randn(t, h, device="cuda"),
    )


@pytest.mark.gpu
@pytest.mark.parametrize("name,lse_of_two", [("merge_state", 1.0), ("merge_state_v2", math.log(2.0))])
def test_lse_base(name, lse_of_two):
    v_a, s, v_b, _ = _states()
    _, s_m = getattr(sgl_kernel, name)(v_a, s, v_b, s.clone())
    torch.testing.assert_close(s_m, s + lse_of_two, rtol=1e-6, atol=1e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["merge_state", "merge_state_v2"])
def test_returns_given_buffers_and_allocates_otherwise(name):
    fn = getattr(sgl_kernel, name)
    v_a, s_a, v_b, s_b = _states()
    v_out, s_out = torch.empty_like(v_a), torch.empty_like(s_a)
    v, s = fn(v_a, s_a, v_b, s_b, v_out, s_out)
    assert v is v_out and s is s_out
    v2, s2 = fn(v_a, s_a.bfloat16(), v_b, s_b.bfloat16())  # converted to float32 first, as upstream
    assert v2.dtype == v_a.dtype and v2.shape == v_a.shape and s2.dtype == torch.float32 and s2.shape == s_a.shape


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["merge_state", "merge_state_v2"])
def test_upstream_test_tolerance(name):
    """Upstream's own comparison: fp16 [2048, 32, 128] against a torch merge, atol 1e-2 (v1) / 1e-3 + rtol (v2)."""
    v_a = torch.randn(2048, 32, 128, device="cuda").half()
    v_b = torch.randn(2048, 32, 128, device="cuda").half()
    s_a, s_b = torch.randn(2048, 32, device="cuda"), torch.randn(2048, 32, device="cuda")
    exp, log = (torch.exp2, torch.log2) if name == "merge_state" else (torch.exp, torch.log)
    m = torch.maximum(s_a, s_b)
    ea, eb = exp(s_a - m), exp(s_b - m)
    v_ref = v_a.float() * (ea / (ea + eb)).unsqueeze(-1) + v_b.float() * (eb / (ea + eb)).unsqueeze(-1)
    v, s = getattr(sgl_kernel, name)(v_a, s_a, v_b, s_b)
    torch.testing.assert_close(v.float(), v_ref, atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(s, log(ea + eb) + m, atol=1e-3, rtol=1e-3)


@pytest.mark.gpu
def test_infinities():
    v_a, s_a, v_b, s_b = _states(t=4)
    s_a[0], s_b[1], s_a[2] = math.inf, -math.inf, -math.inf
    v1, s1 = sgl_kernel.merge_state(v_a, s_a, v_b, s_b)
    v2, s2 = sgl_kernel.merge_state_v2(v_a, s_a, v_b, s_b)
    # v2: +inf and -inf both mean "empty": the other state passes through.
    assert torch.equal(v2[0], v_b[0]) and torch.equal(s2[0], s_b[0])
    assert torch.equal(v2[1], v_a[1]) and torch.equal(s2[1], s_a[1])
    assert torch.equal(v2[2], v_b[2]) and torch.equal(s2[2], s_b[2])
    # v1: -inf is empty too, +inf is not special-cased: inf - inf is NaN.
    assert torch.equal(v1[1], v_a[1]) and torch.equal(v1[2], v_b[2])
    assert torch.isnan(v1[0]).all() and torch.isnan(s1[0]).all()
