"""sgl-kernel compatibility of `apply_rope_with_cos_sin_cache_inplace` and `FusedSetKVBufferArg` (issue 22).

Facts established by sgl-kernel's Python API (`sgl_kernel/elementwise.py`, 0.3.x) and its test
`tests/test_rotary_embedding.py` (the version with `save_kv_cache`), restated as literals here; the tests are our
own. Self-contained: no fixture from tests/compat/conftest.py is needed.

Deliberate differences, each a superset of sgl-kernel's behaviour (a call that works there works here the same):
  * `enable_pdl=True` without the fused store runs (sgl-kernel: `RuntimeError("Expected !enable_pdl to be true")`),
    and `enable_pdl=None` turns PDL on for sm_90+ on both paths (sgl-kernel: only with the store);
  * every head_size is accepted (sgl-kernel: 64, 128, 256, 512, else "Unsupported head_dim");
  * a cache slot outside the cache is not written (sgl-kernel writes through it) and is reported by check_positions.
"""

from __future__ import annotations

import dataclasses
import inspect

import kernelkit_ops as sgl_kernel  # the drop-in, imported the way a user swaps it in
import pytest
import torch


def needs_gpu(test):
    """GPU-marked, and skipped without one even where no conftest handles the marker."""
    skip = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible to torch)")
    return pytest.mark.gpu(skip(test))


# ---------------------------------------------------------------------- CPU: the Python surface


def test_signature_is_sgl_kernels():
    params = inspect.signature(sgl_kernel.apply_rope_with_cos_sin_cache_inplace).parameters
    assert [(name, p.default) for name, p in params.items()] == [
        ("positions", inspect.Parameter.empty),
        ("query", inspect.Parameter.empty),
        ("key", inspect.Parameter.empty),
        ("head_size", inspect.Parameter.empty),
        ("cos_sin_cache", inspect.Parameter.empty),
        ("is_neox", True),
        ("fused_set_kv_buffer_arg", None),
        ("enable_pdl", None),
    ]
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values())


def test_fused_set_kv_buffer_arg_is_sgl_kernels_dataclass():
    # `from sgl_kernel import FusedSetKVBufferArg`: a plain dataclass, six fields in this order, none defaulted.
    cls = sgl_kernel.FusedSetKVBufferArg
    assert dataclasses.is_dataclass(cls) and "FusedSetKVBufferArg" in sgl_kernel.__all__
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == ["value", "k_buffer", "v_buffer", "k_scale", "v_scale", "cache_loc"]
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)
    x = torch.empty(2, 8)
    arg = cls(value=x, k_buffer=x, v_buffer=x, k_scale=None, v_scale=None, cache_loc=x)  # the keywords sglang uses
    assert arg == cls(x, x, x, None, None, x)


def _cpu_call(cache_dtype=torch.float32, **fused):
    positions = torch.zeros(2, dtype=torch.int64)
    query, key = torch.empty(2, 4 * 64, dtype=torch.bfloat16), torch.empty(2, 2 * 64, dtype=torch.bfloat16)
    cache = torch.empty(16, 64, dtype=cache_dtype)
    arg = None
    if fused:
        fields = dict(value=torch.empty(2, 2 * 64, dtype=torch.bfloat16), k_buffer=torch.empty(8, 2 * 64,
                      dtype=torch.bfloat16), v_buffer=torch.empty(8, 2 * 64, dtype=torch.bfloat16), k_scale=None,
                      v_scale=None, cache_loc=torch.zeros(2, dtype=torch.int64))  # fmt: skip
        fields.update(fused)
        arg = sgl_kernel.FusedSetKVBufferArg(**fields)
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(
        positions=positions, query=query, key=key, head_size=64, cos_sin_cache=cache, is_neox=True,
        fused_set_kv_buffer_arg=arg,
    )  # fmt: skip


def test_cache_not_float32_is_a_value_error():
    with pytest.raises(ValueError, match="cos_sin_cache should be float32"):
        _cpu_call(cache_dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="cos_sin_cache should be float32"):
        _cpu_call(cache_dtype=torch.float16, value=torch.empty(2, 128, dtype=torch.bfloat16))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (dict(k_scale=1.0), "k_scale is not yet supported"),
        (dict(v_scale=1.0), "v_scale is not yet supported"),
        (dict(cache_loc=torch.zeros(2, dtype=torch.int32)), r"cache_loc\.dtype"),
    ],
    ids=["k_scale", "v_scale", "cache_loc-int32"],
)
def test_fused_store_assertions(fields, message):
    # sgl-kernel's wrapper asserts these before any kernel: no scaled (fp8) KV cache, int64 slots.
    with pytest.raises(AssertionError, match=message):
        _cpu_call(**fields)


# ------------------------------------------------------------------ GPU: what upstream's test checks


def _cos_sin_cache(rotary_dim: int, max_position: int, base: float, device: str) -> torch.Tensor:
    """vLLM's / sglang's RotaryEmbedding cache: [max_position, rotary_dim] fp32, cos then sin."""
    inv_freq = 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float) / rotary_dim))
    freqs = torch.einsum("i,j -> ij", torch.arange(max_position, dtype=torch.float), inv_freq)
    return torch.cat((freqs.cos(), freqs.sin()), dim=-1).to(device)


def _forward_native(positions, query, key, cache, head_size, rotary_dim, is_neox, dtype):
    """The fp32 torch reference upstream's test compares with (rotate the first rotary_dim dims, keep the rest)."""
    cos, sin = cache.index_select(0, positions).chunk(2, dim=-1)
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    out = []
    for x in (query, key):
        x3 = x.float().view(x.shape[0], -1, head_size)
        rot, rest = x3[..., :rotary_dim], x3[..., rotary_dim:]
        if is_neox:
            x1, x2 = rot.chunk(2, dim=-1)
            rot = torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)
        else:
            x1, x2 = rot[..., ::2], rot[..., 1::2]
            rot = torch.stack((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).flatten(-2)
        out.append(torch.cat((rot, rest), dim=-1).reshape(x.shape).to(dtype))
    return out


POOL_SLOTS = 16384  # upstream's MHATokenToKVPool: 16384 slots + 1 padding slot, zeros, [slots, heads, head_size]

# (head_size, rotary_dim, max_position, base, is_neox, batch_size, seq_len, q_heads, kv_heads, save_kv_cache):
# upstream's parametrization (bf16), the GPT-OSS cases with and without the store, then the others.
UPSTREAM_CASES = [
    (64, 64, 4096, 8000, True, bs, seq, 64, 8, save)
    for bs, seq in ((1, 1), (32, 1), (128, 1), (512, 1), (2, 512), (4, 4096))
    for save in (False, True)
] + [
    (64, 64, 32, 8000, True, 32, 32, 1, 1, False),
    (256, 128, 4096, 10000, True, 2, 512, 4, 2, False),
    (512, 128, 311, 10000, True, 3, 39, 4, 2, False),
    (128, 128, 2048, 10000, False, 2, 512, 32, 8, False),
    (128, 128, 2048, 10000, False, 2, 512, 16, 4, False),
    (512, 128, 311, 10000, False, 3, 39, 4, 2, False),
]


@needs_gpu
@pytest.mark.parametrize("case", UPSTREAM_CASES, ids=str)
def test_upstream_correctness_cases(case):
    head_size, rotary_dim, max_position, base, is_neox, bs, seq, q_heads, kv_heads, save = case
    device, dtype = "cuda", torch.bfloat16
    torch.manual_seed(0)
    cache = _cos_sin_cache(rotary_dim, max_position, base, device)
    nnz = bs * seq
    positions = torch.arange(seq, device=device).repeat(bs)  # every sequence from position 0
    query = torch.randn(nnz, q_heads * head_size, device=device, dtype=dtype)
    key = torch.randn(nnz, kv_heads * head_size, device=device, dtype=dtype)
    value = torch.randn(nnz, kv_heads * head_size, device=device, dtype=dtype)
    cache_loc = torch.randperm(POOL_SLOTS, device=device, dtype=torch.int64)[:nnz]
    ref_q, ref_k = _forward_native(positions, query, key, cache, head_size, rotary_dim, is_neox, dtype)
    q, k = query.clone(), key.clone()
    arg = None
    if save:
        ref_kb = torch.zeros(POOL_SLOTS + 1, kv_heads, head_size, device=device, dtype=dtype)
        ref_vb = torch.zeros_like(ref_kb)
        ref_kb[cache_loc] = ref_k.view(-1, kv_heads, head_size)  # sglang's set_kv_buffer
        ref_vb[cache_loc] = value.view(-1, kv_heads, head_size)
        kb, vb = torch.zeros_like(ref_kb), torch.zeros_like(ref_vb)
        arg = sgl_kernel.FusedSetKVBufferArg(
            value=value, k_buffer=kb.view(-1, kv_heads * head_size), v_buffer=vb.view(-1, kv_heads * head_size),
            k_scale=None, v_scale=None, cache_loc=cache_loc,
        )  # fmt: skip
    result = sgl_kernel.apply_rope_with_cos_sin_cache_inplace(
        positions=positions, query=q, key=k, head_size=head_size, cos_sin_cache=cache, is_neox=is_neox,
        fused_set_kv_buffer_arg=arg,
    )  # fmt: skip
    assert result is None  # in place
    torch.testing.assert_close(q, ref_q, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(k, ref_k, atol=1e-2, rtol=1e-2)
    if save:
        for got, want in ((kb, ref_kb), (vb, ref_vb)):
            torch.testing.assert_close(got, want, atol=1e-2, rtol=1e-2)
            assert torch.equal(got != 0, want != 0)  # the same slots written, the rest left alone
        # and beyond upstream's tolerance: the stored key is the rotated key, bit for bit
        assert torch.equal(kb[cache_loc].view(nnz, -1).view(torch.int16), k.view(torch.int16))
        assert torch.equal(vb[cache_loc].view(nnz, -1), value)


@needs_gpu
def test_positional_call_and_int32_positions_as_upstream_long():
    # Upstream converts positions with .long(); int32 positions give the same result here.
    cache = _cos_sin_cache(128, 256, 10000, "cuda")
    positions = torch.randint(0, 256, (33,), device="cuda")
    query = torch.randn(33, 8 * 128, device="cuda", dtype=torch.float16)
    key = torch.randn(33, 2 * 128, device="cuda", dtype=torch.float16)
    q64, k64, q32, k32 = query.clone(), key.clone(), query.clone(), key.clone()
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(positions, q64, k64, 128, cache, False)
    sgl_kernel.apply_rope_with_cos_sin_cache_inplace(positions.int(), q32, k32, 128, cache, False)
    assert torch.equal(q64, q32) and torch.equal(k64, k32)
    ref_q, ref_k = _forward_native(positions, query, key, cache, 128, 128, False, torch.float16)
    torch.testing.assert_close(q64, ref_q, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(k64, ref_k, atol=1e-2, rtol=1e-2)


@needs_gpu
def test_enable_pdl_keyword_on_both_paths():
    # A superset of sgl-kernel (which refuses enable_pdl=True without the store): the same numbers either way.
    cache = _cos_sin_cache(64, 64, 10000, "cuda")
    positions = torch.randint(0, 64, (9,), device="cuda")
    query = torch.randn(9, 4 * 64, device="cuda", dtype=torch.bfloat16)
    key = torch.randn(9, 64, device="cuda", dtype=torch.bfloat16)
    outs = []
    for enable_pdl in (True, False, None):
        q, k = query.clone(), key.clone()
        sgl_kernel.apply_rope_with_cos_sin_cache_inplace(positions, q, k, 64, cache, enable_pdl=enable_pdl)
        outs.append((q, k))
    assert all(torch.equal(q, outs[0][0]) and torch.equal(k, outs[0][1]) for q, k in outs)
