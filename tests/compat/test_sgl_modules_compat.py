"""The non-op modules code written for sgl_kernel imports: ``kernelkit_ops.utils`` (for ``sgl_kernel.utils``),
``kernelkit_ops.test_utils`` (``sgl_kernel.test_utils``) and ``kernelkit_ops.testing.rotary_embedding``
(``sgl_kernel.testing.rotary_embedding``) -- the behaviour of their public names (their signatures are in
test_signature_compat.py).
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from kernelkit_ops import test_utils, utils
from kernelkit_ops.testing import rotary_embedding as rope_testing

FP8 = torch.float8_e4m3fn


def _has_gpu_of_major(predicate) -> bool:
    return torch.cuda.is_available() and predicate(torch.cuda.get_device_capability()[0])


# ------------------------------------------------------------------------------------------- utils


def test_cache_buf_is_allocated_once_per_name_and_device():
    buf = utils._get_cache_buf("compat_test_workspace", 64, torch.device("cpu"))
    assert buf.dtype == torch.uint8 and buf.shape == (64,)
    assert utils._get_cache_buf("compat_test_workspace", 128, torch.device("cpu")) is buf  # the size of the first
    assert utils._get_cache_buf("compat_test_other", 64, torch.device("cpu")) is not buf


def test_tensor_scalar_tuple():
    t = torch.ones(2)
    assert utils._to_tensor_scalar_tuple(t) == (t, 0)
    assert utils._to_tensor_scalar_tuple(0.5) == (None, 0.5)
    assert utils._to_tensor_scalar_tuple(3) == (None, 3)


def test_arch_predicates_follow_the_current_gpu():
    """PDL and "Hopper or later" from compute capability 9.0; "Hopper" for 9.x only; False without a GPU."""
    assert utils.is_arch_support_pdl() is _has_gpu_of_major(lambda major: major >= 9)
    assert utils.is_hopper_or_later_arch() is _has_gpu_of_major(lambda major: major >= 9)
    assert utils.is_hopper_arch() is _has_gpu_of_major(lambda major: major == 9)


@pytest.mark.gpu
def test_cuda_stream_is_the_current_one():
    assert utils.get_cuda_stream() == torch.cuda.current_stream().cuda_stream
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        assert utils.get_cuda_stream() == side.cuda_stream


# -------------------------------------------------------------------------------------- test_utils


def fp8_bytes(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.uint8).view(FP8)


def test_tiny_diff_accepts_equal_and_rare_one_step_differences():
    a = fp8_bytes(list(range(0, 100)) * 40)  # 4000 elements
    test_utils.assert_all_close_or_tiny_diff(a, a.clone())
    b = a.view(torch.uint8).clone()
    b[:100] += 1  # 2.5%: allowed while numel <= 4096
    test_utils.assert_all_close_or_tiny_diff(a, b.view(FP8))


def test_tiny_diff_refuses_large_or_frequent_differences():
    a = fp8_bytes([10] * 8192)
    b = a.view(torch.uint8).clone()
    b[0] = 12  # two codes apart
    with pytest.raises(AssertionError):
        test_utils.assert_all_close_or_tiny_diff(a, b.view(FP8))
    b = a.view(torch.uint8).clone()
    b[:50] = 11  # one code apart on 0.6% of more than 4096 elements
    with pytest.raises(AssertionError):
        test_utils.assert_all_close_or_tiny_diff(a, b.view(FP8))
    b[:40] = 10  # 10 left: 0.12%
    test_utils.assert_all_close_or_tiny_diff(a, b.view(FP8))


def test_tiny_diff_refuses_other_shapes_dtypes_and_formats():
    with pytest.raises(AssertionError):
        test_utils.assert_all_close_or_tiny_diff(fp8_bytes([1, 2]), fp8_bytes([1, 2, 3]))
    with pytest.raises(AssertionError):
        test_utils.assert_all_close_or_tiny_diff(fp8_bytes([1, 2]), torch.tensor([1, 2], dtype=torch.int8))
    with pytest.raises(NotImplementedError):
        test_utils.assert_all_close_or_tiny_diff(torch.ones(2), torch.ones(2))


def test_tiny_diff_int8_checks_signs_only_as_sgl_kernel_does():
    """sgl-kernel's int8 branch compares no code distances (it subtracts a from itself): only a non-negative
    a facing a negative b fails. Its tests pass and fail here exactly as there."""
    a = torch.tensor([5, -3, 0, 100], dtype=torch.int8)
    test_utils.assert_all_close_or_tiny_diff(a, torch.tensor([90, -100, 7, 1], dtype=torch.int8))
    with pytest.raises(AssertionError):
        test_utils.assert_all_close_or_tiny_diff(a, torch.tensor([5, -3, -1, 100], dtype=torch.int8))


def flags(fuse=False, mode=None):
    return dict(fuse_silu_and_mul=fuse, masked_layout_mode=mode)


@pytest.mark.gpu
@pytest.mark.parametrize("fuse", [False, True])
def test_test_data_plain_layout(fuse):
    x, masked_m = test_utils.create_per_token_group_quant_test_data(
        num_tokens=37, hidden_dim=256, num_ranks=None, flags=flags(fuse)
    )
    assert masked_m is None
    assert x.shape == (37, 512 if fuse else 256) and x.dtype == torch.bfloat16 and x.is_cuda
    again, _ = test_utils.create_per_token_group_quant_test_data(37, 256, None, flags(fuse))
    assert torch.equal(x, again)  # seeded from (num_tokens, hidden_dim)
    other, _ = test_utils.create_per_token_group_quant_test_data(38, 256, None, flags(fuse))
    assert not torch.equal(x, other[:37])
    # about half the elements scaled by 10 (drawn where a second normal sample falls below 0.001)
    assert 2.5 < x.float().abs().mean().item() / 0.7979 < 8.5


@pytest.mark.gpu
@pytest.mark.parametrize("num_ranks", [8, 16, 32, 48])
@pytest.mark.parametrize("mode", ["balanced", "imbalanced", "extreme"])
def test_test_data_masked_layout(num_ranks, mode):
    tokens = 4 * 8 + 3
    x, masked_m = test_utils.create_per_token_group_quant_test_data(
        num_tokens=tokens, hidden_dim=64, num_ranks=num_ranks, flags=flags(True, mode)
    )
    experts = 288 // num_ranks
    assert x.shape == (experts, 768 * num_ranks, 128) and x.dtype == torch.bfloat16
    assert masked_m.dtype == torch.int32 and masked_m.is_cuda and masked_m.shape == (experts,)
    counts = masked_m.tolist()
    assert sum(counts) == tokens and min(counts) >= 0
    if mode == "balanced":
        assert max(counts) - min(counts) <= 1 and counts == sorted(counts, reverse=True)
    if mode == "extreme":
        assert counts == [tokens] + [0] * (experts - 1)
    again = test_utils.create_per_token_group_quant_test_data(tokens, 64, num_ranks, flags(True, mode))
    assert torch.equal(again[0], x) and torch.equal(again[1], masked_m)


@pytest.mark.gpu
def test_test_data_earlier_form():
    """The generator's earlier form: (num_tokens, hidden_dim, flags) with 48 ranks, i.e. 6 local experts."""
    x, masked_m = test_utils.create_per_token_group_quant_test_data(
        12, 64, {"fuse_silu_and_mul": False, "masked_layout_mode": "balanced"}
    )
    assert x.shape == (6, 768 * 48, 64)
    assert masked_m.tolist() == [2] * 6


# -------------------------------------------------------------------------- testing.rotary_embedding

# sgl-kernel's RoPE test cases: (head_size, rotary_dim, max_positions, base, neox, batch, seq, q heads, kv heads)
ROPE_CASES = [
    (64, 64, 4096, 8000, True, 2, 512, 64, 8),
    (64, 64, 32, 8000, True, 32, 32, 1, 1),
    (256, 128, 4096, 10000, True, 2, 512, 4, 2),
    (512, 128, 311, 10000, True, 3, 39, 4, 2),
    (128, 128, 2048, 10000, False, 2, 512, 32, 8),
    (512, 128, 311, 10000, False, 3, 39, 4, 2),
]


def rope_float64(x, positions, head_size, rotary_dim, base, neox):
    """RoPE in float64 from first principles (angles pos * base^(-2i/rotary_dim)), for the reference module."""
    t = x.double().view(x.shape[0], -1, head_size)
    inv_freq = base ** (-torch.arange(0, rotary_dim, 2, dtype=torch.float64, device=x.device) / rotary_dim)
    angles = positions.double()[:, None, None] * inv_freq
    cos, sin = angles.cos(), angles.sin()
    rot = t[..., :rotary_dim]
    x1, x2 = (rot[..., : rotary_dim // 2], rot[..., rotary_dim // 2 :]) if neox else (rot[..., 0::2], rot[..., 1::2])
    o1, o2 = x1 * cos - x2 * sin, x2 * cos + x1 * sin
    out = torch.cat((o1, o2), -1) if neox else torch.stack((o1, o2), -1).flatten(-2)
    return torch.cat((out, t[..., rotary_dim:]), -1).view(x.shape)


def test_reference_module_cache():
    m = rope_testing.RotaryEmbedding(128, 64, 100, 10000, True, torch.bfloat16)
    assert m.cos_sin_cache.shape == (100, 64) and m.cos_sin_cache.dtype == torch.float32
    assert "cos_sin_cache" not in m.state_dict()  # a non-persistent buffer: follows .to(), not checkpoints
    inv_freq = 10000.0 ** (-torch.arange(0, 64, 2, dtype=torch.float64) / 64)
    angles = torch.arange(100, dtype=torch.float64)[:, None] * inv_freq
    want = torch.cat((angles.cos(), angles.sin()), -1)
    torch.testing.assert_close(m.cos_sin_cache.double(), want, rtol=0, atol=2e-4)  # fp32 angles up to ~100 rad


@pytest.mark.parametrize("case", ROPE_CASES, ids=str)
def test_reference_module_forward_native(case):
    head, rot, max_pos, base, neox, _, _, hq, hk = case
    batch, seq = 2, 17  # a CPU test: sgl-kernel's heads and dims, fewer tokens
    m = rope_testing.RotaryEmbedding(head, rot, max_pos, base, neox, torch.bfloat16)
    positions = torch.arange(seq).repeat(batch)
    q = torch.randn(batch * seq, hq * head, dtype=torch.bfloat16)
    k = torch.randn(batch * seq, hk * head, dtype=torch.bfloat16)
    q_in, k_in = q.clone(), k.clone()
    q_out, k_out = m.forward_native(positions, q, k)
    assert torch.equal(q, q_in) and torch.equal(k, k_in)  # returns new tensors
    assert q_out.dtype == torch.bfloat16 and q_out.shape == q.shape and k_out.shape == k.shape
    for got, x in ((q_out, q), (k_out, k)):
        want = rope_float64(x, positions, head, rot, base, neox).to(torch.bfloat16)
        torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2)
    offsets = -(positions > 0).long()  # stays inside the cache
    q_off, _ = m.forward_native(positions, q, k, offsets)
    assert torch.equal(q_off, m.forward_native(positions + offsets, q, k)[0])


@pytest.mark.gpu
@pytest.mark.parametrize("case", ROPE_CASES, ids=str)
def test_flashinfer_module_matches_the_reference_in_place(case):
    """sgl-kernel's RoPE test: forward_cuda (in place, returning its inputs) within 1e-2 of forward_native."""
    head, rot, max_pos, base, neox, batch, seq, hq, hk = case
    config = dict(
        head_size=head,
        rotary_dim=rot,
        max_position_embeddings=max_pos,
        base=base,
        is_neox_style=neox,
        dtype=torch.bfloat16,
    )
    ref = rope_testing.RotaryEmbedding(**config).to("cuda")
    fi = rope_testing.FlashInferRotaryEmbedding(**config).to("cuda")
    inputs = rope_testing.create_inputs(
        head_size=head,
        batch_size=batch,
        seq_len=seq,
        device="cuda",
        dtype=torch.bfloat16,
        num_q_heads=hq,
        num_kv_heads=hk,
    )
    q_ref, k_ref = ref.forward_native(inputs["pos_ids"], inputs["query"].clone(), inputs["key"].clone())
    q, k = inputs["query"].clone(), inputs["key"].clone()
    q_out, k_out = fi.forward_cuda(inputs["pos_ids"], q, k)
    assert q_out is q and k_out is k
    torch.testing.assert_close(q_ref, q, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(k_ref, k, atol=1e-2, rtol=1e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_sgl_kernel_module_rounds_the_cache_to_the_query_dtype(dtype):
    ref = rope_testing.RotaryEmbedding(64, 64, 128, 10000, True, dtype).to("cuda")
    ref.cos_sin_cache = ref.cos_sin_cache.to(dtype).float()  # the same rounded cos/sin, rotated in fp32
    mod = rope_testing.SglKernelRotaryEmbedding(64, 64, 128, 10000, True, dtype).to("cuda")
    positions = torch.arange(4, device="cuda").repeat(8)
    q = torch.randn(32, 4 * 64, device="cuda", dtype=dtype)
    k = torch.randn(32, 2 * 64, device="cuda", dtype=dtype)
    q_ref, k_ref = ref.forward_native(positions, q.clone(), k.clone())
    q_out, k_out = mod.forward_cuda(positions, q, k)
    assert q_out is q and k_out is k and mod.cos_sin_cache.dtype == dtype
    torch.testing.assert_close(q_out, q_ref, rtol=1e-2, atol=1e-2)
    torch.testing.assert_close(k_out, k_ref, rtol=1e-2, atol=1e-2)
    with pytest.raises(AssertionError):
        mod.forward_cuda(positions, q, k, fused_set_kv_buffer_arg=object())


@pytest.mark.gpu
def test_kv_pool_and_inputs():
    pool = rope_testing.MHATokenToKVPool(head_num=8, head_dim=64)
    assert len(pool.k_buffer) == len(pool.v_buffer) == 1
    for buf in (pool.k_buffer[0], pool.v_buffer[0]):
        assert buf.shape == (16384 + 1, 8, 64) and buf.dtype == torch.bfloat16 and buf.is_cuda
        assert not buf.any()
    inputs = rope_testing.create_inputs(64, 3, 5, "cuda", torch.bfloat16, 16, 8)
    assert inputs["pos_ids"].tolist() == list(range(5)) * 3
    assert inputs["query"].shape == (15, 16 * 64) and inputs["key"].shape == inputs["value"].shape == (15, 8 * 64)
    loc = inputs["out_cache_loc"]
    assert loc.dtype == torch.int64 and loc.unique().numel() == 15 and int(loc.max()) < 16384
    k, v = inputs["key"].view(15, 8, 64), inputs["value"].view(15, 8, 64)
    pool.set_kv_buffer(loc=loc, cache_k=k, cache_v=v)
    assert torch.equal(pool.k_buffer[0][loc], k) and torch.equal(pool.v_buffer[0][loc], v)
    assert int((pool.k_buffer[0].flatten(1) != 0).any(-1).sum()) == 15


@pytest.mark.gpu
@pytest.mark.skipif(
    not hasattr(kernelkit_ops, "FusedSetKVBufferArg"), reason="FusedSetKVBufferArg is not in kernelkit_ops yet"
)
def test_flashinfer_module_passes_the_fused_kv_write_on():
    """sgl-kernel's fused RoPE + KV-store test flow: the module forwards fused_set_kv_buffer_arg to the op, and
    the pools written by the kernel match a reference pool written with set_kv_buffer."""
    head, hq, hk = 64, 64, 8
    config = dict(head_size=head, rotary_dim=head, max_position_embeddings=4096, base=8000, is_neox_style=True)
    ref = rope_testing.RotaryEmbedding(**config, dtype=torch.bfloat16).to("cuda")
    fi = rope_testing.FlashInferRotaryEmbedding(**config, dtype=torch.bfloat16).to("cuda")
    inputs = rope_testing.create_inputs(head, 2, 512, "cuda", torch.bfloat16, hq, hk)
    pool_ref = rope_testing.MHATokenToKVPool(head_num=hk, head_dim=head)
    pool = rope_testing.MHATokenToKVPool(head_num=hk, head_dim=head)

    q_ref, k_ref = ref.forward_native(inputs["pos_ids"], inputs["query"].clone(), inputs["key"].clone())
    pool_ref.set_kv_buffer(inputs["out_cache_loc"], k_ref.view(-1, hk, head), inputs["value"].view(-1, hk, head))
    arg = kernelkit_ops.FusedSetKVBufferArg(
        value=inputs["value"],
        k_buffer=pool.k_buffer[0].view(-1, hk * head),
        v_buffer=pool.v_buffer[0].view(-1, hk * head),
        k_scale=None,
        v_scale=None,
        cache_loc=inputs["out_cache_loc"],
    )
    q, k = inputs["query"].clone(), inputs["key"].clone()
    fi.forward_cuda(inputs["pos_ids"], q, k, fused_set_kv_buffer_arg=arg)
    torch.testing.assert_close(q, q_ref, atol=1e-2, rtol=1e-2)
    torch.testing.assert_close(k, k_ref, atol=1e-2, rtol=1e-2)
    for name in ("k_buffer", "v_buffer"):
        torch.testing.assert_close(getattr(pool, name)[0], getattr(pool_ref, name)[0], atol=1e-2, rtol=1e-2)
