"""Tests of `apply_rope_with_cos_sin_cache_inplace` against an fp32 PyTorch reference of sglang's RoPE.

CPU (CI): schema, sgl-kernel signature, the wrapper and fake impl under FakeTensorMode, the binding's
checks (the op takes CPU tensors, checks them and refuses them by name), the out-of-range report
(check_positions) and the bench's bytes model.
GPU: numerics for both pairing styles, partial rotary dims, odd shapes and the scalar path, int32/int64
positions, strided and 3-D views, untouched dims bit-exact, out-of-range positions, CUDA graphs,
opcheck and torch.compile.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "apply_rope_with_cos_sin_cache_inplace"
DTYPES = [torch.bfloat16, torch.float16]
# (rtol, atol) against a float32 reference of the same math, rounded once.
TOLERANCES = {torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1e-2)}

rope = kernelkit_ops.apply_rope_with_cos_sin_cache_inplace
module = importlib.import_module("kernelkit_ops.rope.apply_rope_with_cos_sin_cache_inplace")
torch_op = torch.ops.kernelkit.apply_rope_with_cos_sin_cache_inplace.default


def as_heads(x: torch.Tensor, head_size: int) -> torch.Tensor:
    """[T, H * D] or [T, H, D] -> [T, H, D] (no -1: T or H may be 0)."""
    heads = x.shape[1] // head_size if x.dim() == 2 else x.shape[1]
    return x.reshape(x.shape[0], heads, head_size)


def reference(positions, query, key, head_size, cache, is_neox):
    """sglang's RotaryEmbedding.forward_native in float32: the rotated (query, key), in their dtypes."""
    rd = cache.shape[1]
    half = rd // 2
    cos, sin = cache.float()[positions.long()].split(half, dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]
    out = []
    for x in (query, key):
        x3 = as_heads(x, head_size).float()
        y = x3.clone()
        if is_neox:
            x1, x2 = x3[..., :half], x3[..., half:rd]
            y[..., :half], y[..., half:rd] = x1 * cos - x2 * sin, x2 * cos + x1 * sin
        else:
            x1, x2 = x3[..., 0:rd:2], x3[..., 1:rd:2]
            y[..., 0:rd:2], y[..., 1:rd:2] = x1 * cos - x2 * sin, x2 * cos + x1 * sin
        out.append(y.to(x.dtype).reshape(x.shape))
    return out


def make_positions(num_tokens: int, max_pos: int, dtype=torch.int64, device="cuda") -> torch.Tensor:
    """Random positions that include both ends of the cache (0 and max_pos - 1)."""
    positions = torch.randint(0, max_pos, (num_tokens,), device=device, dtype=dtype)
    if num_tokens >= 2:
        positions[0], positions[-1] = 0, max_pos - 1
    return positions


def make_case(num_tokens, q_heads, k_heads, head_size, rotary_dim, dtype, pos_dtype=torch.int64, max_pos=4096):
    positions = make_positions(num_tokens, max_pos, pos_dtype)
    query = torch.randn(num_tokens, q_heads * head_size, device="cuda", dtype=dtype)
    key = torch.randn(num_tokens, k_heads * head_size, device="cuda", dtype=dtype)
    # Random values rather than real cos/sin: a swapped or misread half cannot hide behind cos^2 + sin^2 = 1.
    cache = torch.randn(max_pos, rotary_dim, device="cuda", dtype=torch.float32)
    return positions, query, key, head_size, cache


def assert_rotated(positions, query, key, head_size, cache, is_neox, *, before=None):
    """Run the wrapper on (query, key) and compare with the reference of their values before the call;
    dims past rotary_dim must come back bit for bit."""
    q0, k0 = (query.clone(), key.clone()) if before is None else before
    expected_q, expected_k = reference(positions, q0, k0, head_size, cache, is_neox)
    assert rope(positions, query, key, head_size, cache, is_neox) is None
    rtol, atol = TOLERANCES[query.dtype]
    torch.testing.assert_close(query, expected_q, rtol=rtol, atol=atol)
    torch.testing.assert_close(key, expected_k, rtol=rtol, atol=atol)
    rd = cache.shape[1]
    for now, was in ((query, q0), (key, k0)):
        assert torch.equal(as_heads(now, head_size)[..., rd:], as_heads(was, head_size)[..., rd:]), (
            "dims past rotary_dim changed"
        )


@pytest.fixture
def no_recorded_errors():
    """GPU tests start and end with no recorded out-of-range positions (the record is per device, global)."""
    for buf in module._ERROR_BUFFERS.values():
        buf.zero_()
    yield
    for buf in module._ERROR_BUFFERS.values():
        buf.zero_()


# ------------------------------------------------------- CPU: schema, fake, the binding's checks


def test_schema_registered():
    schema = torch_op._schema
    assert schema.name == f"kernelkit::{OP}"
    args = [(a.name, str(a.type)) for a in schema.arguments]
    assert args == [
        ("positions", "Tensor"),
        ("query", "Tensor"),
        ("key", "Tensor"),
        ("head_size", "int"),
        ("cos_sin_cache", "Tensor"),
        ("is_neox", "bool"),
        ("position_errors", "Tensor"),
    ]
    written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
    assert written == {"query", "key", "position_errors"}
    assert schema.returns == []


def test_exported_with_sgl_kernel_signature():
    params = inspect.signature(rope).parameters
    assert list(params) == ["positions", "query", "key", "head_size", "cos_sin_cache", "is_neox"]
    assert params["is_neox"].default is True
    assert all(p.default is inspect.Parameter.empty for name, p in params.items() if name != "is_neox")
    assert OP in kernelkit_ops.__all__
    assert f"sgl_kernel.{OP}" in rope.__doc__
    assert "check_positions" in rope.__doc__ and "KERNELKIT_CHECK_POSITIONS" in rope.__doc__


def fake_args(num_tokens=3, q_heads=4, k_heads=2, head_size=64, rotary_dim=64, dtype=torch.bfloat16, device="cuda"):
    return [
        torch.zeros(num_tokens, device=device, dtype=torch.int64),
        torch.empty(num_tokens, q_heads * head_size, device=device, dtype=dtype),
        torch.empty(num_tokens, k_heads * head_size, device=device, dtype=dtype),
        head_size,
        torch.empty(128, rotary_dim, device=device, dtype=torch.float32),
    ]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("is_neox", [True, False])
def test_wrapper_and_fake_impl_under_fake_mode(dtype, is_neox):
    buffers_before = dict(module._ERROR_BUFFERS)
    with FakeTensorMode():
        positions, query, key, head_size, cache = fake_args(dtype=dtype)
        assert rope(positions, query, key, head_size, cache, is_neox) is None
        assert query.shape == (3, 4 * 64) and key.shape == (3, 2 * 64)
        # 3-D views, int32 positions, rotary_dim < head_size, a row-strided slice of a fused qkv
        # (narrow, not indexing: indexing a fake CUDA tensor needs a CUDA build of torch)
        qkv = torch.empty(3, (4 + 2 * 2) * 64, device="cuda", dtype=dtype)
        q3 = qkv.narrow(1, 0, 4 * 64).view(3, 4, 64)
        k3 = qkv.narrow(1, 4 * 64, 2 * 64).view(3, 2, 64)
        cache32 = torch.empty(128, 32, device="cuda", dtype=torch.float32)
        assert rope(positions.int(), q3, k3, 64, cache32, is_neox) is None
        # T = 0 returns before the op
        assert rope(*fake_args(num_tokens=0)) is None
        # The raw op's fake impl
        errors = torch.zeros(4, device="cuda", dtype=torch.int64)
        assert torch_op(positions, query, key, head_size, cache, is_neox, errors) is None
    # Fake tensors never become the device's error record.
    assert module._ERROR_BUFFERS == buffers_before


def test_fake_calls_record_nothing():
    with FakeTensorMode():
        _, query, *_ = fake_args()
        buf = module._error_buffer(query)
        assert buf.numel() == 0 and buf.dtype == torch.int64


# The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then
# refuses them by name, so every check runs here, through the wrapper, without a GPU.


def test_rejects_cpu_tensor():
    with pytest.raises(RuntimeError, match=rf"{OP}: query must be a CUDA tensor"):
        rope(*fake_args(device="cpu"))
    with pytest.raises(RuntimeError, match=rf"{OP}: query must be a CUDA tensor"):
        rope(*fake_args(num_tokens=0, device="cpu"))  # an empty input is checked before it returns
    assert torch.device("cpu") not in module._ERROR_BUFFERS  # nothing to record off the GPU


def test_rejects_non_tensor():
    # torch's own argument parsing names it.
    with pytest.raises(
        RuntimeError, match=r"Expected a value of type 'Tensor' for argument 'positions' but instead found type 'list'"
    ):
        rope([0, 1], torch.randn(2, 64), torch.randn(2, 64), 64, torch.randn(8, 64))
    with pytest.raises(
        RuntimeError, match=r"Expected a value of type 'int' for argument 'head_size' but instead found type 'float'"
    ):
        rope(*_bad(head_size=64.0)())


def _bad(**changes):
    """CPU fake_args with one argument replaced (by name)."""

    def make():
        args = dict(zip(["positions", "query", "key", "head_size", "cos_sin_cache"], fake_args(device="cpu")))
        for name, value in changes.items():
            args[name] = value() if callable(value) else value
        return list(args.values())

    return make


def _cpu(*shape, dtype=torch.bfloat16):
    return lambda: torch.empty(*shape, dtype=dtype)


BAD_INPUTS = {
    "query-fp32": (
        _bad(query=_cpu(3, 256, dtype=torch.float32)),
        r"query must be one of bfloat16, float16, got float32",
    ),
    "key-dtype": (_bad(key=_cpu(3, 128, dtype=torch.float16)), r"key must have the dtype of query"),
    "positions-float": (_bad(positions=_cpu(3, dtype=torch.float32)), r"positions must be int64 or int32, got float32"),
    "positions-2d": (_bad(positions=_cpu(3, 1, dtype=torch.int64)), r"positions must be 1-D \[T\], got shape \[3, 1\]"),
    "positions-strided": (
        _bad(positions=lambda: torch.empty_strided((3,), (2,), dtype=torch.int64)),
        r"positions must be contiguous",
    ),
    "cache-bf16": (_bad(cos_sin_cache=_cpu(128, 64)), r"cos_sin_cache must be float32, got bfloat16"),
    "cache-1d": (
        _bad(cos_sin_cache=_cpu(128, dtype=torch.float32)),
        r"cos_sin_cache must be 2-D \[max_pos, rotary_dim\]",
    ),
    "rotary-odd": (
        _bad(cos_sin_cache=_cpu(128, 63, dtype=torch.float32)),
        r"cos_sin_cache's last dimension \(rotary_dim = 63\) must be even",
    ),
    "rotary-over-head": (
        _bad(cos_sin_cache=_cpu(128, 66, dtype=torch.float32)),
        r"cos_sin_cache's last dimension \(rotary_dim = 66\) must be even, positive and at most head_size \(64\)",
    ),
    "rotary-over-2048": (
        _bad(head_size=4096, query=_cpu(3, 4096), key=_cpu(3, 4096), cos_sin_cache=_cpu(8, 4096, dtype=torch.float32)),
        r"rotary_dim \(cos_sin_cache's last dimension\) must be at most 2048, got 4096",
    ),
    "cache-strided-last-dim": (
        _bad(cos_sin_cache=lambda: torch.empty(64, 128, dtype=torch.float32).t()),
        r"cos_sin_cache must be contiguous in its last dimension",
    ),
    "head-size-zero": (_bad(head_size=0), r"head_size must be positive, got 0"),
    "head-size-negative": (_bad(head_size=-64), r"head_size must be positive, got -64"),
    "query-not-heads": (
        _bad(query=_cpu(3, 100)),
        r"query's last dimension \(100\) must be a multiple of head_size \(64\)",
    ),
    "key-3d-head-size": (
        _bad(key=_cpu(3, 2, 32)),
        r"key's last dimension must be head_size \(64\), got shape \[3, 2, 32\]",
    ),
    "query-rows": (_bad(query=_cpu(4, 256)), r"query must have one row per position \(3\), got shape \[4, 256\]"),
    "key-rows": (_bad(key=_cpu(2, 128)), r"key must have one row per position \(3\)"),
    "query-1d": (_bad(query=_cpu(3 * 256)), r"query must be \[T, heads \* head_size\] or \[T, heads, head_size\]"),
    "query-strided-last-dim": (
        _bad(query=lambda: torch.empty(256, 3, dtype=torch.bfloat16).t()),
        r"query must be contiguous in its last dimension",
    ),
    "query-overlapping-rows": (
        _bad(query=lambda: torch.empty(1, 256, dtype=torch.bfloat16).expand(3, 256)),
        r"query of shape \[3, 256\] has overlapping heads or rows",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_rejects_bad_input_naming_the_argument(name):
    make, message = BAD_INPUTS[name]
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        rope(*make())


# ------------------------------------------------- CPU: the out-of-range report (check_positions)


def test_check_positions_reports_and_clears_the_record(monkeypatch):
    # The record the kernel writes, on a device the test can read without a GPU.
    record = torch.tensor([3, 5, 9000, 4096], dtype=torch.int64)
    monkeypatch.setitem(module._ERROR_BUFFERS, torch.device("cpu"), record)
    with pytest.raises(ValueError) as info:
        module.check_positions("cpu")
    message = str(info.value)
    assert message.startswith(f"{OP}: positions[5] = 9000 is outside [0, 4096)")
    assert "3 token(s)" in message and "left unrotated" in message
    assert record.tolist() == [0, 0, 0, 0]  # cleared: the next check passes
    module.check_positions("cpu")


def test_check_positions_without_a_record_is_quiet(monkeypatch):
    monkeypatch.setitem(module._ERROR_BUFFERS, torch.device("cpu"), torch.zeros(4, dtype=torch.int64))
    module.check_positions("cpu")
    module.check_positions(torch.device("meta"))  # never ran there: nothing to check


def test_check_positions_of_all_devices(monkeypatch):
    monkeypatch.setattr(module, "_ERROR_BUFFERS", {torch.device("cpu"): torch.tensor([1, 0, -1, 8])})
    with pytest.raises(ValueError, match=r"positions\[0\] = -1 is outside \[0, 8\)"):
        module.check_positions()


# --------------------------------------------------------------------------- CPU: the bench model


def test_bench_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert [c.tokens for c in b.cases] == [1, 128, 2048, 16384]
    case = b.cases[2]
    assert (case.size("q_heads"), case.size("kv_heads"), case.size("head_size"), case.size("rotary_dim")) == (
        32,
        8,
        128,
        128,
    )
    assert case.dtype == "bfloat16"
    # q + k read and written once (bf16), the cos/sin row read once (fp32), the position (int64)
    assert b.bytes_moved(case) == 2048 * (40 * 128 * 2 * 2 + 128 * 4 + 8)
    assert b.flops(case) == 2048 * 40 * 64 * 6


# ----------------------------------------------------------------------------- GPU: numerics

# (T, q heads, kv heads, head_size, rotary_dim)
SHAPES = [
    (1, 32, 8, 128, 128),  # decode
    (7, 4, 2, 64, 64),  # odd T, head_size 64
    (33, 8, 8, 256, 256),  # head_size 256
    (17, 6, 2, 128, 64),  # rotary_dim < head_size: dims 64..127 untouched
    (11, 7, 1, 128, 128),  # head groups of 4 straddle the query/key boundary
    (9, 3, 1, 80, 40),  # rotary_dim/2 = 20: 4-element vectors
    (5, 2, 2, 96, 34),  # rotary_dim/2 = 17: the scalar path
    (3, 5, 3, 130, 130),  # head_size not a multiple of 8
    (3, 160, 16, 128, 128),  # more head groups than one CTA row: the head loop
    (130, 32, 8, 128, 128),  # around one CTA per SM
]


@pytest.mark.gpu
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_fp32_reference(shape, dtype, is_neox, no_recorded_errors):
    assert_rotated(*make_case(*shape, dtype), is_neox)
    module.check_positions()


@pytest.mark.gpu
@pytest.mark.parametrize("pos_dtype", [torch.int64, torch.int32], ids=str)
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_position_dtypes_and_cache_ends(pos_dtype, is_neox, no_recorded_errors):
    positions, query, key, head_size, cache = make_case(64, 8, 2, 128, 128, torch.bfloat16, pos_dtype, max_pos=100)
    positions[:4] = torch.tensor([0, 99, 0, 99], dtype=pos_dtype)
    assert_rotated(positions, query, key, head_size, cache, is_neox)
    module.check_positions()


@pytest.mark.gpu
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_many_tokens(is_neox, no_recorded_errors):
    assert_rotated(*make_case(16384 + 5, 32, 8, 128, 128, torch.bfloat16, max_pos=32768), is_neox)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("rotary_dim", [128, 64])
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_row_strided_slices_of_a_fused_qkv(dtype, rotary_dim, is_neox, no_recorded_errors):
    t, hq, hk, hs = 37, 8, 2, 128
    qkv = torch.randn(t, (hq + 2 * hk) * hs, device="cuda", dtype=dtype)
    before = qkv.clone()
    query, key = qkv[:, : hq * hs], qkv[:, hq * hs : (hq + hk) * hs]
    positions = make_positions(t, 512)
    cache = torch.randn(512, rotary_dim, device="cuda")
    assert_rotated(positions, query, key, hs, cache, is_neox)
    assert torch.equal(qkv[:, (hq + hk) * hs :], before[:, (hq + hk) * hs :]), "wrote into V"


@pytest.mark.gpu
def test_3d_views(no_recorded_errors):
    t, hq, hk, hs = 21, 4, 2, 64
    qkv = torch.randn(t, (hq + 2 * hk) * hs, device="cuda", dtype=torch.bfloat16)
    query = qkv[:, : hq * hs].view(t, hq, hs)
    key = qkv[:, hq * hs : (hq + hk) * hs].view(t, hk, hs)
    assert_rotated(make_positions(t, 256), query, key, hs, torch.randn(256, 64, device="cuda"), True)
    # [T, H, D] whose heads are the outer dimension in memory (a transposed [H, T, D] buffer)
    q_ht = torch.randn(hq, t, hs, device="cuda", dtype=torch.bfloat16).transpose(0, 1)
    k_ht = torch.randn(hk, t, hs, device="cuda", dtype=torch.bfloat16).transpose(0, 1)
    assert_rotated(make_positions(t, 256), q_ht, k_ht, hs, torch.randn(256, 48, device="cuda"), False)


@pytest.mark.gpu
@pytest.mark.parametrize("offset", [1, 2, 4], ids=lambda o: f"offset{o}")
def test_misaligned_views_fall_back_to_narrow_vectors(offset, no_recorded_errors):
    # 2-, 4- and 8-byte offsets: 16-byte accesses would fault. Also rotary_dim 1024 with 1-element
    # vectors needs 512 threads per head chunk row.
    t, hq, hk = 5, 4, 2
    for hs in (128, 1024):
        buf = torch.randn(t, (hq + hk) * hs + offset, device="cuda", dtype=torch.float16)
        query = buf[:, offset : offset + hq * hs]
        key = buf[:, offset + hq * hs :]
        assert_rotated(make_positions(t, 64), query, key, hs, torch.randn(64, hs, device="cuda"), True)


@pytest.mark.gpu
def test_no_key_heads(no_recorded_errors):
    positions, query, _, head_size, cache = make_case(9, 4, 1, 64, 64, torch.bfloat16)
    key = torch.empty(9, 0, device="cuda", dtype=torch.bfloat16)
    assert_rotated(positions, query, key, head_size, cache, True)


@pytest.mark.gpu
def test_zero_and_one_token(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(0, 32, 8, 128, 128, torch.bfloat16)
    assert rope(positions, query, key, head_size, cache) is None
    torch_op(positions, query, key, head_size, cache, True, torch.zeros(4, device="cuda", dtype=torch.int64))
    assert_rotated(*make_case(1, 32, 8, 128, 128, torch.bfloat16), True)


# ----------------------------------------------------------------- GPU: out-of-range positions


@pytest.mark.gpu
@pytest.mark.parametrize("pos_dtype", [torch.int64, torch.int32], ids=str)
def test_out_of_range_positions_leave_their_tokens_and_are_reported(pos_dtype, no_recorded_errors):
    max_pos = 64
    positions, query, key, head_size, cache = make_case(12, 8, 2, 128, 128, torch.bfloat16, pos_dtype, max_pos)
    bad = {2: -1, 5: max_pos, 9: max_pos + 1000}
    if pos_dtype == torch.int64:
        bad[11] = 2**32 + 1  # would alias row 1 if the kernel narrowed positions to 32 bits
    for t, p in bad.items():
        positions[t] = p
    good = torch.tensor([t not in bad for t in range(12)], device="cuda")
    q0, k0 = query.clone(), key.clone()
    safe = torch.where(good, positions, torch.zeros_like(positions))
    expected_q, expected_k = reference(safe, q0, k0, head_size, cache, True)

    assert rope(positions, query, key, head_size, cache, True) is None
    assert torch.equal(query[~good], q0[~good]) and torch.equal(key[~good], k0[~good]), "bad tokens were changed"
    torch.testing.assert_close(query[good], expected_q[good], rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(key[good], expected_k[good], rtol=1.6e-2, atol=1e-2)

    with pytest.raises(ValueError) as info:
        module.check_positions(query.device)
    message = str(info.value)
    assert f"{len(bad)} token(s)" in message
    assert any(f"positions[{t}] = {p} is outside [0, {max_pos})" in message for t, p in bad.items()), message
    module.check_positions(query.device)  # cleared
    module.check_positions("cuda")  # an index-less device name means the current device


@pytest.mark.gpu
def test_check_positions_env_flag_raises_at_the_call(monkeypatch, no_recorded_errors):
    monkeypatch.setattr(module, "CHECK_POSITIONS", True)
    positions, query, key, head_size, cache = make_case(4, 4, 2, 64, 64, torch.bfloat16, max_pos=16)
    assert_rotated(positions, query, key, head_size, cache, True)  # in range: no error, and a sync
    positions[3] = 16
    with pytest.raises(ValueError, match=rf"{OP}: positions\[3\] = 16 is outside \[0, 16\)"):
        rope(positions, query, key, head_size, cache)


@pytest.mark.gpu
def test_raw_op_with_an_empty_record_still_guards(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(6, 4, 2, 64, 64, torch.bfloat16, max_pos=16)
    positions[1] = -5
    q0 = query.clone()
    torch_op(positions, query, key, head_size, cache, True, torch.empty(0, device="cuda", dtype=torch.int64))
    assert torch.equal(query[1], q0[1])
    module.check_positions(query.device)  # nothing recorded


@pytest.mark.gpu
def test_cuda_graph_replay_records_errors(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(8, 4, 2, 64, 64, torch.bfloat16, max_pos=32)
    rope(positions, query, key, head_size, cache)  # eager first: creates the device's record
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        rope(positions, query, key, head_size, cache)
    torch.cuda.current_stream().wait_stream(stream)
    # Replays rotate again from the current values.
    q0, k0 = query.clone(), key.clone()
    graph.replay()
    torch.cuda.synchronize()
    expected_q, expected_k = reference(positions, q0, k0, head_size, cache, True)
    torch.testing.assert_close(query, expected_q, rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(key, expected_k, rtol=1.6e-2, atol=1e-2)
    positions[6] = 32
    graph.replay()
    with pytest.raises(ValueError, match=r"positions\[6\] = 32 is outside \[0, 32\)"):
        module.check_positions(query.device)


# --------------------------------------------------------------- GPU: streams, opcheck, compile


@pytest.mark.gpu
def test_runs_on_current_stream(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(2048, 32, 8, 128, 128, torch.bfloat16)
    q0, k0 = query.clone(), key.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        rope(positions, query, key, head_size, cache)
    stream.synchronize()
    expected_q, expected_k = reference(positions, q0, k0, head_size, cache, True)
    torch.testing.assert_close(query, expected_q, rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(key, expected_k, rtol=1.6e-2, atol=1e-2)


@pytest.mark.gpu
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_opcheck(is_neox, no_recorded_errors):
    positions, query, key, head_size, cache = make_case(16, 4, 2, 64, 64, torch.bfloat16)
    errors = torch.zeros(4, device="cuda", dtype=torch.int64)
    torch.library.opcheck(torch_op, (positions, query, key, head_size, cache, is_neox, errors))


@pytest.mark.gpu
def test_torch_compile_fullgraph(no_recorded_errors):
    def step(positions, qkv, cache):
        query, key = qkv[:, : 8 * 64], qkv[:, 8 * 64 : 10 * 64]
        rope(positions, query, key, 64, cache, True)
        return qkv * 2

    fn = torch.compile(step, fullgraph=True)
    positions = make_positions(24, 128)
    qkv = torch.randn(24, 12 * 64, device="cuda", dtype=torch.bfloat16)
    cache = torch.randn(128, 64, device="cuda")
    q0, k0 = qkv[:, : 8 * 64].clone(), qkv[:, 8 * 64 : 10 * 64].clone()
    expected_q, expected_k = reference(positions, q0, k0, 64, cache, True)
    out = fn(positions, qkv, cache)
    torch.testing.assert_close(qkv[:, : 8 * 64], expected_q, rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(qkv[:, 8 * 64 : 10 * 64], expected_k, rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(out, qkv * 2)


@pytest.mark.gpu
def test_binding_rejects_a_tensor_on_another_device(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(4, 4, 2, 64, 64, torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: key must be a CUDA tensor"):
        rope(positions, query, key.cpu(), head_size, cache)
    with pytest.raises(RuntimeError, match=rf"{OP}: cos_sin_cache must be a CUDA tensor"):
        rope(positions, query, key, head_size, cache.cpu())
    if torch.cuda.device_count() > 1:
        with pytest.raises(RuntimeError, match=rf"{OP}: query and key must be on the same device"):
            rope(positions, query, key.to("cuda:1"), head_size, cache)


@pytest.mark.gpu
def test_binding_rejects_bad_input(no_recorded_errors):
    # The raw torch op is public too: its C++ binding checks and names the argument.
    positions, query, key, head_size, cache = make_case(4, 4, 2, 64, 64, torch.bfloat16)
    errors = torch.zeros(4, device="cuda", dtype=torch.int64)

    def call(**changes):
        args = dict(positions=positions, query=query, key=key, head_size=head_size, cos_sin_cache=cache,
                    is_neox=True, position_errors=errors)  # fmt: skip
        args.update(changes)
        torch_op(*args.values())

    cases = [
        (dict(query=query.float()), r"query must be one of bfloat16, float16, got float32"),
        (dict(key=key.half()), r"key must have the dtype of query"),
        (dict(positions=positions.float()), r"positions must be int64 or int32, got float32"),
        (dict(cos_sin_cache=cache.bfloat16()), r"cos_sin_cache must be float32, got bfloat16"),
        (dict(cos_sin_cache=cache[:, :63]), r"cos_sin_cache's last dimension \(rotary_dim = 63\) must be even"),
        (dict(head_size=96), r"query's last dimension \(256\) must be a multiple of head_size \(96\)"),
        (dict(head_size=0), r"head_size must be positive"),
        (dict(positions=positions[:3]), r"query must have one row per position \(3\)"),
        (dict(query=query[:1].expand(4, 256)), r"query of shape \[4, 256\] has overlapping heads or rows"),
        (dict(query=query.t().contiguous().t()), r"query must be contiguous in its last dimension"),
        (
            dict(position_errors=errors[:3]),
            r"position_errors must be empty \(no recording\) or a contiguous int64 tensor of 4",
        ),
        (dict(position_errors=errors.int()), r"position_errors must be int64"),
        (dict(positions=positions.cpu()), r"positions must be a CUDA tensor"),
    ]
    for changes, message in cases:
        with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
            call(**changes)
