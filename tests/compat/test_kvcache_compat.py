"""sgl-kernel compatibility of the KV-cache ops (self-contained): `store_kv_cache`, `concat_mla_k`,
`concat_mla_absorb_q`, `downcast_fp8`, `copy_to_gpu_no_ce`.

Facts from sgl-kernel's ``csrc/memory/store.cu`` and ``python/sgl_kernel/memory.py``, re-stated as our own checks:

* ``torch.ops.sgl_kernel.store_kv_cache(k_cache, v_cache, out_loc, k, v)`` (``set_kv_buffer_kernel`` calls it and
  falls back to ``k_cache[loc] = k; v_cache[loc] = v``): the same positional order here, plus ``enable_pdl=None``;
  returns None; writes the caches in place;
* every tensor is viewed ``[rows, -1]`` and a row is copied as bytes (dtype-agnostic: fp8 caches work); the last
  dimension must be dense, the leading stride is free (k/v may be qkv slices); loc is 1-D contiguous int32/int64;
* upstream refuses rows whose size in bytes is not a multiple of 128; kernelkit accepts any row size (a superset);
* upstream skips no slot: sglang's CUDA-graph padding (loc 0, its reserved slot) is written like any slot. It
  does not bounds-check loc; kernelkit skips slots outside the cache instead of writing out of bounds.
* ``concat_mla_k(k, k_nope, k_rope)`` (``sgl_kernel/elementwise.py``) writes k in place and returns None: k [T, 128,
  192] = k_nope [T, 128, 128] ++ k_rope [T, 1, 64] broadcast over heads, bf16, last dims dense (upstream's only
  shapes; kernelkit takes any);
* ``concat_mla_absorb_q(a, b)`` returns a new ``[*a.shape[:-1], a_dim + b_dim]`` tensor: a [.., .., 512] ++ b
  [.., .., 64], bf16 (upstream's only shapes; kernelkit takes any).
* ``downcast_fp8(k, v, k_out, v_out, k_scale, v_scale, loc, mult=1, offset=0)`` (``sgl_kernel/elementwise.py``,
  ``csrc/elementwise/cast.cu``) returns None and writes ``k_out[loc * mult + offset]`` (and v_out) in place: k, v
  [T, H, D] bf16/fp16, the outputs [S, H, D] fp8 bytes (uint8), the scales [1] fp32, loc [T] int64. In k's dtype:
  the scale is rounded to it, its reciprocal rounded to it, x * reciprocal rounded to it, clamped to [-448, 448],
  then e4m3 (satfinite, round to nearest even). Upstream does not bounds-check the row; kernelkit skips rows outside
  the output.
* ``copy_to_gpu_no_ce(input, output)`` (``sgl_kernel/elementwise.py``, ``csrc/elementwise/copy.cu``) returns None
  and writes output in place: input a 1-D contiguous int32 CPU tensor, output a 1-D contiguous int32 CUDA tensor of
  its size; the values travel as kernel parameters (no copy engine). Upstream takes n of 32, 64 or 72 only;
  kernelkit takes 0..1024 (a superset).

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
    "downcast_fp8": [
        ("k", REQUIRED),
        ("v", REQUIRED),
        ("k_out", REQUIRED),
        ("v_out", REQUIRED),
        ("k_scale", REQUIRED),
        ("v_scale", REQUIRED),
        ("loc", REQUIRED),
        ("mult", 1),
        ("offset", 0),
    ],
    "copy_to_gpu_no_ce": [("input", REQUIRED), ("output", REQUIRED)],
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


@pytest.mark.gpu
def test_concat_mla_upstream_shapes_and_returns():
    t = 37
    k = torch.empty(t, 128, 192, device="cuda", dtype=torch.bfloat16)
    k_nope = torch.randn(t, 128, 128, device="cuda", dtype=torch.bfloat16)
    k_rope = torch.randn(t, 1, 64, device="cuda", dtype=torch.bfloat16)
    assert sgl_kernel.concat_mla_k(k, k_nope, k_rope) is None
    assert torch.equal(k, torch.cat([k_nope, k_rope.expand(-1, 128, -1)], dim=-1))
    a = torch.randn(t, 128, 512, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(t, 128, 64, device="cuda", dtype=torch.bfloat16)
    out = sgl_kernel.concat_mla_absorb_q(a, b)
    assert out.shape == (t, 128, 576) and torch.equal(out, torch.cat([a, b], dim=-1))


def test_downcast_fp8_op_schema_order():
    args = [a.name for a in torch.ops.kernelkit.downcast_fp8.default._schema.arguments]
    assert args[:9] == ["k", "v", "k_out", "v_out", "k_scale", "v_scale", "loc", "mult", "offset"]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_downcast_fp8_upstream_layout(dtype):
    """sglang's call: k, v [T, H, D], uint8 caches [S, H, D], [1] fp32 scales, int64 loc, mult 1 / offset 0
    defaulted; rows equal the upstream arithmetic in k's dtype, other rows untouched."""
    slots, t, h, d = 256, 20, 8, 128
    k, v = torch.randn(t, h, d, device="cuda").to(dtype) * 8, torch.randn(t, h, d, device="cuda").to(dtype) * 8
    k_out = torch.zeros(slots, h, d, device="cuda", dtype=torch.uint8)
    v_out = torch.zeros(slots, h, d, device="cuda", dtype=torch.uint8)
    k_scale, v_scale = torch.tensor([0.02], device="cuda"), torch.tensor([0.7], device="cuda")
    loc = torch.randperm(slots, device="cuda")[:t]
    assert sgl_kernel.downcast_fp8(k, v, k_out, v_out, k_scale, v_scale, loc) is None
    for x, out, s in ((k, k_out, k_scale), (v, v_out, v_scale)):
        inv = (1.0 / s.to(dtype).double()).to(dtype)
        q = (x.float() * inv.float()).to(dtype).float().clamp(-448, 448).to(torch.float8_e4m3fn).view(torch.uint8)
        ref = torch.zeros_like(out)
        ref[loc] = q
        assert torch.equal(out, ref)


def test_copy_to_gpu_no_ce_op_schema():
    schema = torch.ops.kernelkit.copy_to_gpu_no_ce.default._schema
    assert [a.name for a in schema.arguments] == ["input", "output"] and schema.arguments[1].alias_info.is_write


@pytest.mark.gpu
@pytest.mark.parametrize("n", [32, 64, 72])
def test_copy_to_gpu_no_ce_upstream_sizes(n):
    """sglang's copy_list_to_gpu_no_ce: a CPU int32 tensor of a list, an empty_like CUDA output."""
    x = torch.tensor(list(range(-n // 2, n - n // 2)), dtype=torch.int32)
    out = torch.empty_like(x, device="cuda")
    assert sgl_kernel.copy_to_gpu_no_ce(x, out) is None
    assert torch.equal(out.cpu(), x)
