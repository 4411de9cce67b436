"""Tests of `store_kv_cache`: bit-exact against torch indexing (``k_cache[loc] = k; v_cache[loc] = v``), every
other cache row untouched.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors.
"""

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "store_kv_cache"
OP = kernelkit_ops.store_kv_cache
FP8 = torch.float8_e4m3fn


def torch_op():
    return torch.ops.kernelkit.store_kv_cache.default


def rand(shape, dtype, device="cuda"):
    x = torch.randn(shape, device=device)
    return x.to(dtype)


def bits(x: torch.Tensor) -> torch.Tensor:
    return (
        x.view(torch.uint8) if x.element_size() == 1 else x.view(torch.int16 if x.element_size() == 2 else torch.int32)
    )


def assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v):
    """The caches equal their former contents with rows loc replaced by k / v (slots outside the cache skipped)."""
    k_ref, v_ref = bits(k_before).clone(), bits(v_before).clone()  # on the bits: index_put has no fp8 kernel
    inside = (loc >= 0) & (loc < k_cache.shape[0])
    k_ref[loc[inside].long()] = bits(k)[inside]
    v_ref[loc[inside].long()] = bits(v)[inside]
    assert torch.equal(bits(k_cache), k_ref) and torch.equal(bits(v_cache), v_ref)


def cpu_args(t=3, slots=16, h=2, d=64):
    return [
        torch.zeros(slots, h, d, dtype=torch.bfloat16),
        torch.zeros(slots, h, d, dtype=torch.bfloat16),
        torch.arange(t, dtype=torch.int64),
        torch.zeros(t, h, d, dtype=torch.bfloat16),
        torch.zeros(t, h, d, dtype=torch.bfloat16),
    ]


# ---------------- CPU: schema, fake, the binding's checks ----------------


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["k_cache", "v_cache", "loc", "k", "v", "enable_pdl"]
    for i in (0, 1):
        assert schema.arguments[i].alias_info is not None and schema.arguments[i].alias_info.is_write
    for i in (2, 3, 4):
        assert schema.arguments[i].alias_info is None
    assert schema.returns == []


def test_fake_impl_runs():
    with FakeTensorMode():
        k_cache = torch.empty(16, 2, 64, device="cuda", dtype=torch.bfloat16)
        k = torch.empty(3, 2, 64, device="cuda", dtype=torch.bfloat16)
        loc = torch.empty(3, device="cuda", dtype=torch.int64)
        assert OP(k_cache, k_cache.clone(), loc, k, k.clone()) is None


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=f"{NAME}: k_cache must be a CUDA tensor"):
        OP(*cpu_args())


def test_rejects_loc():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: loc must be int32 or int64, got float32"):
        OP(a[0], a[1], a[2].float(), a[3], a[4])
    with pytest.raises(RuntimeError, match=rf"{NAME}: loc must be a 1-D contiguous tensor, got shape \[3, 1\]"):
        OP(a[0], a[1], a[2].view(3, 1), a[3], a[4])
    with pytest.raises(RuntimeError, match=f"{NAME}: loc must be a 1-D contiguous tensor"):
        OP(a[0], a[1], torch.arange(6)[::2], a[3], a[4])


def test_rejects_shapes():
    a = cpu_args()
    with pytest.raises(
        RuntimeError, match=rf"{NAME}: k must have one row of k_cache's row size per slot in loc \[3, 128\]"
    ):
        OP(a[0], a[1], a[2], torch.zeros(4, 2, 64, dtype=torch.bfloat16), a[4])
    with pytest.raises(RuntimeError, match=rf"{NAME}: v must have one row of k_cache's row size per slot in loc"):
        OP(a[0], a[1], a[2], a[3], torch.zeros(3, 2, 32, dtype=torch.bfloat16))
    with pytest.raises(RuntimeError, match=rf"{NAME}: v_cache must have k_cache's rows and row size \[16, 128\]"):
        OP(a[0], torch.zeros(8, 2, 64, dtype=torch.bfloat16), a[2], a[3], a[4])


def test_rejects_inner_strides():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: k_cache of shape .* must be contiguous after its first dimension"):
        OP(torch.zeros(16, 2, 128, dtype=torch.bfloat16)[:, :, ::2], a[1], a[2], a[3], a[4])
    with pytest.raises(RuntimeError, match=f"{NAME}: k of shape .* must be contiguous after its first dimension"):
        OP(a[0], a[1], a[2], torch.zeros(3, 64, 2, dtype=torch.bfloat16).transpose(1, 2), a[4])


def test_rejects_element_size_mismatch():
    a = cpu_args()
    with pytest.raises(RuntimeError, match=f"{NAME}: k, v, k_cache and v_cache must have one element size"):
        OP(a[0], a[1], a[2], a[3].float(), a[4].float())


def test_accepts_token_strided_rows_on_cpu_up_to_the_device_check():
    a = cpu_args()
    qkv = torch.zeros(3, 3 * 128, dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match=f"{NAME}: k_cache must be a CUDA tensor"):
        OP(a[0].view(16, 128), a[1].view(16, 128), a[2], qkv[:, 128:256], qkv[:, 256:])


# ---------------- GPU: bit-exact against torch indexing ----------------

DTYPES = [torch.bfloat16, torch.float16, torch.float32, FP8]
# (kv heads, head dim): Llama-3 (8 x 128), MLA's one latent row (1 x 576), 64/256 head dims, odd rows (no 16-byte
# word: 3 x 7 bf16 is 42 bytes).
ROWS = [(8, 128), (1, 576), (4, 64), (2, 256), (3, 7), (1, 1)]


@pytest.mark.gpu
@pytest.mark.parametrize("loc_dtype", [torch.int32, torch.int64], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("heads,head_dim", ROWS)
@pytest.mark.parametrize("tokens", [1, 7, 129, 1000])
def test_matches_indexing(tokens, heads, head_dim, dtype, loc_dtype):
    slots = 2048
    k_cache, v_cache = rand((slots, heads, head_dim), dtype), rand((slots, heads, head_dim), dtype)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.randperm(slots, device="cuda")[:tokens].to(loc_dtype)
    k, v = rand((tokens, heads, head_dim), dtype), rand((tokens, heads, head_dim), dtype)
    assert OP(k_cache, v_cache, loc, k, v) is None
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, FP8], ids=str)
def test_strided_rows_and_flat_cache(dtype):
    """k and v are slices of a fused qkv (token stride 3 rows); the caches are [slots, H*D] windows of a wider
    buffer (slot stride larger than a row)."""
    tokens, slots, row = 300, 4096, 8 * 128
    qkv = rand((tokens, 3 * row), dtype)
    k, v = qkv[:, row : 2 * row], qkv[:, 2 * row :]
    k_cache = rand((slots, row + 64), dtype)[:, 64:]
    v_cache = rand((slots, row + 32), dtype)[:, :row]
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.randperm(slots, device="cuda")[:tokens]
    OP(k_cache, v_cache, loc, k, v)
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)


@pytest.mark.gpu
def test_cache_graph_padding_writes_the_reserved_slot():
    """sglang pads a CUDA-graph batch with loc 0, its reserved dummy slot: the padded rows land there and every real
    slot holds its own row, as upstream (which skips nothing). The padded rows race for slot 0 vector by vector (as
    upstream's do), so each element there comes from one of them, not necessarily all from the same one."""
    slots, real, padded = 512, 5, 3
    k_cache, v_cache = rand((slots, 8, 128), torch.bfloat16), rand((slots, 8, 128), torch.bfloat16)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.cat([torch.randperm(slots - 1, device="cuda")[:real] + 1, torch.zeros(padded, device="cuda")]).long()
    k, v = rand((real + padded, 8, 128), torch.bfloat16), rand((real + padded, 8, 128), torch.bfloat16)
    OP(k_cache, v_cache, loc, k, v)
    for cache, rows in ((k_cache, k), (v_cache, v)):
        from_a_padded_row = (bits(cache[0]).unsqueeze(0) == bits(rows[real:])).any(dim=0)
        assert from_a_padded_row.all()
    assert_stored(k_cache[1:], v_cache[1:], k_before[1:], v_before[1:], loc[:real] - 1, k[:real], v[:real])


@pytest.mark.gpu
def test_out_of_range_slots_are_skipped():
    slots = 256
    k_cache, v_cache = rand((slots, 4, 64), torch.float16), rand((slots, 4, 64), torch.float16)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.tensor([3, -1, slots, 7, slots + 1000, -(2**40)], device="cuda")
    k, v = rand((6, 4, 64), torch.float16), rand((6, 4, 64), torch.float16)
    OP(k_cache, v_cache, loc, k, v)
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)


@pytest.mark.gpu
def test_zero_tokens_launches_nothing():
    k_cache = rand((64, 8, 128), torch.bfloat16)
    before = k_cache.clone()
    empty = torch.empty(0, 8, 128, device="cuda", dtype=torch.bfloat16)
    OP(k_cache, k_cache, torch.empty(0, device="cuda", dtype=torch.int64), empty, empty)
    assert torch.equal(k_cache, before)


@pytest.mark.gpu
def test_large():
    slots, tokens = 32768, 16384
    k_cache, v_cache = rand((slots, 8, 128), torch.bfloat16), rand((slots, 8, 128), torch.bfloat16)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.randperm(slots, device="cuda")[:tokens]
    k, v = rand((tokens, 8, 128), torch.bfloat16), rand((tokens, 8, 128), torch.bfloat16)
    OP(k_cache, v_cache, loc, k, v)
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [False, True])
def test_pdl_on_and_off(enable_pdl):
    k_cache, v_cache = rand((128, 8, 128), torch.bfloat16), rand((128, 8, 128), torch.bfloat16)
    k_before, v_before = k_cache.clone(), v_cache.clone()
    loc = torch.randperm(128, device="cuda")[:33]
    k, v = rand((33, 8, 128), torch.bfloat16), rand((33, 8, 128), torch.bfloat16)
    OP(k_cache, v_cache, loc, k, v, enable_pdl=enable_pdl)
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)


@pytest.mark.gpu
def test_opcheck():
    k_cache, v_cache = rand((64, 2, 64), torch.bfloat16), rand((64, 2, 64), torch.bfloat16)
    loc = torch.randperm(64, device="cuda")[:9]
    k, v = rand((9, 2, 64), torch.bfloat16), rand((9, 2, 64), torch.bfloat16)
    torch.library.opcheck(torch_op(), (k_cache, v_cache, loc, k, v, False))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def step(k_cache, v_cache, loc, k, v):
        OP(k_cache, v_cache, loc, k, v)
        return k_cache[loc].float().sum() + v_cache[loc].float().sum()

    fn = torch.compile(step, fullgraph=True)
    k_cache, v_cache = rand((256, 8, 128), torch.bfloat16), rand((256, 8, 128), torch.bfloat16)
    loc = torch.randperm(256, device="cuda")[:17]
    k, v = rand((17, 8, 128), torch.bfloat16), rand((17, 8, 128), torch.bfloat16)
    total = fn(k_cache, v_cache, loc, k, v)
    torch.testing.assert_close(total, k.float().sum() + v.float().sum())
    assert torch.equal(k_cache[loc], k) and torch.equal(v_cache[loc], v)


@pytest.mark.gpu
def test_cuda_graph_replay():
    slots = 1024
    k_cache, v_cache = rand((slots, 8, 128), torch.bfloat16), rand((slots, 8, 128), torch.bfloat16)
    loc = torch.randperm(slots, device="cuda")[:64]
    k, v = rand((64, 8, 128), torch.bfloat16), rand((64, 8, 128), torch.bfloat16)
    OP(k_cache, v_cache, loc, k, v)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        OP(k_cache, v_cache, loc, k, v)
    loc.copy_(torch.randperm(slots, device="cuda")[:64])
    k.copy_(rand((64, 8, 128), torch.bfloat16))
    v.copy_(rand((64, 8, 128), torch.bfloat16))
    k_before, v_before = k_cache.clone(), v_cache.clone()
    graph.replay()
    torch.cuda.synchronize()
    assert_stored(k_cache, v_cache, k_before, v_before, loc, k, v)
