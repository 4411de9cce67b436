"""sgl-kernel compatibility of the KV-cache ops (self-contained): `store_kv_cache`.

Facts from sgl-kernel's ``csrc/memory/store.cu`` and ``python/sgl_kernel/memory.py``, re-stated as our own checks:

* ``torch.ops.sgl_kernel.store_kv_cache(k_cache, v_cache, out_loc, k, v)`` (``set_kv_buffer_kernel`` calls it and
  falls back to ``k_cache[loc] = k; v_cache[loc] = v``): the same positional order here, plus ``enable_pdl=None``;
  returns None; writes the caches in place;
* every tensor is viewed ``[rows, -1]`` and a row is copied as bytes (dtype-agnostic: fp8 caches work); the last
  dimension must be dense, the leading stride is free (k/v may be qkv slices); loc is 1-D contiguous int32/int64;
* upstream refuses rows whose size in bytes is not a multiple of 128; kernelkit accepts any row size (a superset);
* upstream skips no slot: sglang's CUDA-graph padding (loc 0, its reserved slot) is written like any slot. It
  does not bounds-check loc; kernelkit skips slots outside the cache instead of writing out of bounds.

Signature checks are CPU tests; everything that launches is marked ``gpu``.
"""

from __future__ import annotations

import kernelkit_ops as sgl_kernel
import pytest
import torch
from compat_helpers import REQUIRED, assert_drop_in_signature

UPSTREAM = {
    "store_kv_cache": [
        ("k_cache", REQUIRED),
        ("v_cache", REQUIRED),
        ("loc", REQUIRED),
        ("k", REQUIRED),
        ("v", REQUIRED),
    ],
}


@pytest.mark.parametrize("name", sorted(UPSTREAM))
def test_signature(name):
    assert_drop_in_signature(getattr(sgl_kernel, name), UPSTREAM[name])


def test_store_kv_cache_op_schema_order():
    args = [a.name for a in torch.ops.kernelkit.store_kv_cache.default._schema.arguments]
    assert args[:5] == ["k_cache", "v_cache", "loc", "k", "v"]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float8_e4m3fn], ids=str)
def test_store_kv_cache_is_the_torch_fallback(dtype):
    """What set_kv_buffer_kernel's fallback computes, bit for bit, on sglang's layout: caches [slots, H, D], k/v
    [T, H, D] slices of a qkv, loc int64 with the CUDA-graph padding slot 0."""
    slots, t, h, d = 1024, 40, 8, 128
    k_cache = torch.randn(slots, h, d, device="cuda").to(dtype)
    v_cache = torch.randn(slots, h, d, device="cuda").to(dtype)
    qkv = torch.randn(t, 3, h, d, device="cuda").to(dtype)
    k, v = qkv[:, 1], qkv[:, 2]
    loc = torch.randperm(slots - 1, device="cuda")[:t] + 1
    loc[-1] = 0
    k_ref, v_ref = k_cache.view(torch.uint8).clone(), v_cache.view(torch.uint8).clone()
    k_ref[loc] = k.contiguous().view(torch.uint8)
    v_ref[loc] = v.contiguous().view(torch.uint8)
    assert sgl_kernel.store_kv_cache(k_cache, v_cache, loc, k, v) is None
    assert torch.equal(k_cache.view(torch.uint8), k_ref) and torch.equal(v_cache.view(torch.uint8), v_ref)


@pytest.mark.gpu
def test_store_kv_cache_accepts_rows_upstream_refuses():
    """A 3 x 7 bf16 row (42 bytes) is refused upstream (not a multiple of 128 bytes) and stored here."""
    k_cache, v_cache = torch.randn(64, 3, 7, device="cuda").bfloat16(), torch.randn(64, 3, 7, device="cuda").bfloat16()
    k, v = torch.randn(5, 3, 7, device="cuda").bfloat16(), torch.randn(5, 3, 7, device="cuda").bfloat16()
    loc = torch.tensor([9, 3, 60, 0, 17], device="cuda", dtype=torch.int32)
    sgl_kernel.store_kv_cache(k_cache, v_cache, loc, k, v)
    assert torch.equal(k_cache[loc.long()], k) and torch.equal(v_cache[loc.long()], v)
