"""Tests of `apply_rope_with_cos_sin_cache_inplace` against an fp32 PyTorch reference of sglang's RoPE, and of its
fused KV-cache store (`FusedSetKVBufferArg`) against the same op followed by a torch scatter, bit for bit.

CPU (CI): schema, sgl-kernel signature, the wrapper and fake impl under FakeTensorMode, the binding's
checks (the op takes CPU tensors, checks them and refuses them by name), the out-of-range report
(check_positions) and the bench's bytes model.
GPU: numerics for both pairing styles, partial rotary dims, odd shapes and the scalar path, int32/int64
positions, strided and 3-D views, untouched dims bit-exact, out-of-range positions and cache slots, the fused
store (every dtype, both pairings, 2-D/3-D caches, strided value, permuted slots, T = 0/1/odd/large, narrow
vectors, PDL on/off), CUDA graphs, opcheck and torch.compile.
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
ERROR_FIELDS = 8  # [count, token, position, max_pos] of bad positions, then the same of bad cache slots


def raw(positions, query, key, head_size, cache, is_neox, errors, value=None, k_buffer=None, v_buffer=None,
        cache_loc=None, enable_pdl=False):  # fmt: skip
    """The raw op, positionally; without the store its k_buffer/v_buffer are empty tensors."""
    if k_buffer is None:
        k_buffer = query.new_empty(0)
    if v_buffer is None:
        v_buffer = query.new_empty(0)
    return torch_op(positions, query, key, head_size, cache, is_neox, errors, value, k_buffer, v_buffer, cache_loc,
                    enable_pdl)  # fmt: skip


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
        ("value", "Optional[Tensor]"),
        ("k_buffer", "Tensor"),
        ("v_buffer", "Tensor"),
        ("cache_loc", "Optional[Tensor]"),
        ("enable_pdl", "bool"),
    ]
    written = {a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write}
    assert written == {"query", "key", "position_errors", "k_buffer", "v_buffer"}
    assert schema.returns == []


def test_exported_with_sgl_kernel_signature():
    params = inspect.signature(rope).parameters
    assert list(params) == [
        "positions",
        "query",
        "key",
        "head_size",
        "cos_sin_cache",
        "is_neox",
        "fused_set_kv_buffer_arg",
        "enable_pdl",
    ]
    defaults = {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}
    assert defaults == {"is_neox": True, "fused_set_kv_buffer_arg": None, "enable_pdl": None}
    assert all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params.values())
    assert OP in kernelkit_ops.__all__
    assert "FusedSetKVBufferArg" in kernelkit_ops.__all__
    assert kernelkit_ops.FusedSetKVBufferArg is module.FusedSetKVBufferArg
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
        errors = torch.zeros(ERROR_FIELDS, device="cuda", dtype=torch.int64)
        assert raw(positions, query, key, head_size, cache, is_neox, errors) is None
        # The fused store: 2-D and 3-D caches, a strided value
        value = qkv.narrow(1, 6 * 64, 2 * 64)
        for k_buffer in (
            torch.empty(10, 2 * 64, device="cuda", dtype=dtype),
            torch.empty(10, 2, 64, device="cuda", dtype=dtype),
        ):
            arg = kernelkit_ops.FusedSetKVBufferArg(
                value=value,
                k_buffer=k_buffer,
                v_buffer=torch.empty_like(k_buffer),
                k_scale=None,
                v_scale=None,
                cache_loc=torch.zeros(3, device="cuda", dtype=torch.int64),
            )
            assert rope(positions, q3, k3, 64, cache32, is_neox, fused_set_kv_buffer_arg=arg, enable_pdl=True) is None
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


def test_cache_of_another_dtype_raises_value_error_as_sgl_kernel():
    # sgl-kernel's wrapper raises ValueError("cos_sin_cache should be float32"); the raw op names it too.
    args = fake_args(device="cpu")
    args[4] = args[4].bfloat16()
    with pytest.raises(ValueError, match=r"cos_sin_cache should be float32"):
        rope(*args)
    with pytest.raises(RuntimeError, match=rf"{OP}: cos_sin_cache must be float32, got bfloat16"):
        raw(*args, True, torch.zeros(ERROR_FIELDS, dtype=torch.int64))


def kv_arg(num_tokens=3, k_heads=2, head_size=64, slots=10, dtype=torch.bfloat16, device="cpu", **changes):
    """A FusedSetKVBufferArg for fake_args' key (2 heads of 64), with fields replaced by name."""
    fields = dict(
        value=torch.empty(num_tokens, k_heads * head_size, device=device, dtype=dtype),
        k_buffer=torch.empty(slots, k_heads * head_size, device=device, dtype=dtype),
        v_buffer=torch.empty(slots, k_heads, head_size, device=device, dtype=dtype),
        k_scale=None,
        v_scale=None,
        cache_loc=torch.zeros(num_tokens, device=device, dtype=torch.int64),
    )
    fields.update({name: value() if callable(value) else value for name, value in changes.items()})
    return kernelkit_ops.FusedSetKVBufferArg(**fields)


def test_fused_set_kv_buffer_arg_is_sgl_kernels_dataclass():
    import dataclasses

    cls = kernelkit_ops.FusedSetKVBufferArg
    assert dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == ["value", "k_buffer", "v_buffer", "k_scale", "v_scale", "cache_loc"]
    assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in fields)
    arg = kv_arg()
    assert cls(arg.value, arg.k_buffer, arg.v_buffer, None, None, arg.cache_loc) == arg  # positional, in this order


# sgl-kernel asserts these in its wrapper (AssertionError), before any kernel.
SGL_ASSERTIONS = {
    "k_scale": (dict(k_scale=1.0), r"k_scale is not yet supported"),
    "v_scale": (dict(v_scale=0.5), r"v_scale is not yet supported"),
    "cache-loc-int32": (
        dict(cache_loc=lambda: torch.zeros(3, dtype=torch.int32)),
        r"a\.cache_loc\.dtype=torch\.int32",
    ),
}


@pytest.mark.parametrize("name", list(SGL_ASSERTIONS))
def test_fused_store_assertions_as_sgl_kernel(name):
    changes, message = SGL_ASSERTIONS[name]
    with pytest.raises(AssertionError, match=message):
        rope(*fake_args(device="cpu"), True, kv_arg(**changes))


def _cpu_bf16(*shape, dtype=torch.bfloat16):
    return lambda: torch.empty(*shape, dtype=dtype)


BAD_STORES = {
    "value-dtype": (
        dict(value=_cpu_bf16(3, 128, dtype=torch.float16)),
        r"value must have the dtype of query \(bfloat16\), got float16",
    ),
    "k-buffer-fp8": (
        dict(k_buffer=_cpu_bf16(10, 128, dtype=torch.float8_e4m3fn)),
        r"k_buffer must have the dtype of query \(bfloat16\), got float8_e4m3fn; the fused store writes the "
        r"rotated key as it is \(no fp8 KV cache",
    ),
    "v-buffer-fp32": (dict(v_buffer=_cpu_bf16(10, 128, dtype=torch.float32)), r"v_buffer must have the dtype of query"),
    "cache-loc-2d": (
        dict(cache_loc=lambda: torch.zeros(3, 1, dtype=torch.int64)),
        r"cache_loc must be 1-D with one slot per position \[3\], got shape \[3, 1\]",
    ),
    "cache-loc-short": (
        dict(cache_loc=lambda: torch.zeros(2, dtype=torch.int64)),
        r"cache_loc must be 1-D with one slot per position \[3\], got shape \[2\]",
    ),
    "cache-loc-strided": (
        dict(cache_loc=lambda: torch.zeros(6, dtype=torch.int64)[::2]),
        r"cache_loc must be contiguous",
    ),
    "value-rows": (dict(value=_cpu_bf16(4, 128)), r"value must have one row per position \(3\), got shape \[4, 128\]"),
    "value-heads": (
        dict(value=_cpu_bf16(3, 192)),
        r"value must have key's heads \(2 of head_size 64\), got shape \[3, 192\]",
    ),
    "value-not-heads": (
        dict(value=_cpu_bf16(3, 100)),
        r"value's last dimension \(100\) must be a multiple of head_size",
    ),
    "value-1d": (dict(value=_cpu_bf16(384)), r"value must be \[T, heads \* head_size\] or \[T, heads, head_size\]"),
    "k-buffer-heads": (
        dict(k_buffer=_cpu_bf16(10, 4, 64)),
        r"k_buffer must have key's heads \(2 of head_size 64\) per slot, got shape \[10, 4, 64\]",
    ),
    "k-buffer-1d": (
        dict(k_buffer=_cpu_bf16(1280)),
        r"k_buffer must be \[slots, heads \* head_size\] or \[slots, heads, head_size\], got \[1280\]",
    ),
    "k-buffer-head-size": (dict(k_buffer=_cpu_bf16(10, 2, 32)), r"k_buffer's last dimension must be head_size \(64\)"),
    "v-buffer-slots": (
        dict(v_buffer=_cpu_bf16(9, 2, 64)),
        r"v_buffer must have as many slots as k_buffer \(10\), got shape \[9, 2, 64\]",
    ),
    "v-buffer-strided-last-dim": (
        dict(v_buffer=lambda: torch.empty(128, 10, dtype=torch.bfloat16).t()),
        r"v_buffer must be contiguous in its last dimension",
    ),
    "k-buffer-overlapping-slots": (
        dict(k_buffer=lambda: torch.empty(1, 128, dtype=torch.bfloat16).expand(10, 128)),
        r"k_buffer of shape \[10, 128\] has overlapping heads or rows",
    ),
}


@pytest.mark.parametrize("name", list(BAD_STORES))
def test_fused_store_rejects_bad_input_naming_the_argument(name):
    changes, message = BAD_STORES[name]
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        rope(*fake_args(device="cpu"), True, kv_arg(**changes))


def test_fused_store_accepts_an_overlapping_value():
    # value is only read: an expand()ed value is checked through to the device check.
    arg = kv_arg(value=lambda: torch.empty(1, 128, dtype=torch.bfloat16).expand(3, 128))
    with pytest.raises(RuntimeError, match=rf"{OP}: query must be a CUDA tensor"):
        rope(*fake_args(device="cpu"), True, arg)


def test_raw_op_store_arguments_come_together():
    args = fake_args(device="cpu")
    errors = torch.zeros(ERROR_FIELDS, dtype=torch.int64)
    arg = kv_arg()
    with pytest.raises(RuntimeError, match=rf"{OP}: cache_loc must be given with value"):
        raw(*args, True, errors, arg.value, arg.k_buffer, arg.v_buffer, None)
    with pytest.raises(RuntimeError, match=rf"{OP}: value must be given with cache_loc"):
        raw(*args, True, errors, None, None, None, arg.cache_loc)
    with pytest.raises(RuntimeError, match=rf"{OP}: k_buffer and v_buffer must be empty without value"):
        raw(*args, True, errors, None, arg.k_buffer, arg.v_buffer, None)
    with pytest.raises(RuntimeError, match=rf"{OP}: cache_loc must be int64, got int32"):
        raw(*args, True, errors, arg.value, arg.k_buffer, arg.v_buffer, arg.cache_loc.int())
    with pytest.raises(RuntimeError, match=rf"{OP}: query must be a CUDA tensor"):
        raw(*args, True, errors, arg.value, arg.k_buffer, arg.v_buffer, arg.cache_loc, True)


def test_no_store_buffers_are_cached_and_distinct():
    with FakeTensorMode():
        _, query, *_ = fake_args()
        k_buffer, v_buffer = module._no_store(query)  # fake tensors: fresh ones, never cached
        assert k_buffer.numel() == 0 and v_buffer.numel() == 0
    assert all(type(t) is torch.Tensor for pair in module._NO_STORE.values() for t in pair)
    cpu = torch.empty(2, 64, dtype=torch.bfloat16)
    first = module._no_store(cpu)
    assert first is module._no_store(cpu) and first[0] is not first[1]


# ------------------------------------------------- CPU: the out-of-range report (check_positions)


def test_check_positions_reports_and_clears_the_record(monkeypatch):
    # The record the kernel writes, on a device the test can read without a GPU.
    record = torch.tensor([3, 5, 9000, 4096, 0, 0, 0, 0], dtype=torch.int64)
    monkeypatch.setitem(module._ERROR_BUFFERS, torch.device("cpu"), record)
    with pytest.raises(ValueError) as info:
        module.check_positions("cpu")
    message = str(info.value)
    assert message.startswith(f"{OP}: positions[5] = 9000 is outside [0, 4096)")
    assert "3 token(s)" in message and "left unrotated" in message
    assert "cache_loc" not in message
    assert record.tolist() == [0] * ERROR_FIELDS  # cleared: the next check passes
    module.check_positions("cpu")


def test_check_positions_without_a_record_is_quiet(monkeypatch):
    monkeypatch.setitem(module._ERROR_BUFFERS, torch.device("cpu"), torch.zeros(ERROR_FIELDS, dtype=torch.int64))
    module.check_positions("cpu")
    module.check_positions(torch.device("meta"))  # never ran there: nothing to check


def test_check_positions_of_all_devices(monkeypatch):
    monkeypatch.setattr(module, "_ERROR_BUFFERS", {torch.device("cpu"): torch.tensor([1, 0, -1, 8, 0, 0, 0, 0])})
    with pytest.raises(ValueError, match=r"positions\[0\] = -1 is outside \[0, 8\)"):
        module.check_positions()


# --------------------------------------------------------------------------- CPU: the bench model


def test_bench_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert [c.tokens for c in b.cases] == [1, 128, 2048, 16384] * 2
    case, fused = b.cases[2], b.cases[6]
    assert (case.size("q_heads"), case.size("kv_heads"), case.size("head_size"), case.size("rotary_dim")) == (
        32,
        8,
        128,
        128,
    )
    assert case.dtype == "bfloat16"
    assert "kv_store" not in case.label and fused.size("kv_store") == 1  # the plain cases keep their labels
    # q + k read and written once (bf16), the cos/sin row read once (fp32), the position (int64)
    assert b.bytes_moved(case) == 2048 * (40 * 128 * 2 * 2 + 128 * 4 + 8)
    # the store: the rotated k written again, v read and written, the slot (int64) read
    assert b.bytes_moved(fused) == b.bytes_moved(case) + 2048 * (8 * 128 * 2 * 3 + 8)
    # the three targets of issue 22 are rows of the same run
    assert {"kernelkit", "kernelkit_rope+index_put", "kernelkit_rope_only"} <= set(b.impls)
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
    raw(positions, query, key, head_size, cache, True, torch.zeros(ERROR_FIELDS, device="cuda", dtype=torch.int64))
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
    raw(positions, query, key, head_size, cache, True, torch.empty(0, device="cuda", dtype=torch.int64))
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
    errors = torch.zeros(ERROR_FIELDS, device="cuda", dtype=torch.int64)
    empty = query.new_empty(0), query.new_empty(0)
    torch.library.opcheck(
        torch_op, (positions, query, key, head_size, cache, is_neox, errors, None, *empty, None, True)
    )


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
    errors = torch.zeros(ERROR_FIELDS, device="cuda", dtype=torch.int64)

    def call(**changes):
        args = dict(positions=positions, query=query, key=key, head_size=head_size, cos_sin_cache=cache,
                    is_neox=True, position_errors=errors)  # fmt: skip
        args.update(changes)
        raw(*args.values())

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
            r"position_errors must be empty \(no recording\) or a contiguous int64 tensor of 8",
        ),
        (dict(position_errors=errors.int()), r"position_errors must be int64"),
        (dict(positions=positions.cpu()), r"positions must be a CUDA tensor"),
    ]
    for changes, message in cases:
        with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
            call(**changes)


# ------------------------------------------------------------------ GPU: the fused KV-cache store


def bits(x: torch.Tensor) -> torch.Tensor:
    """The raw 16-bit patterns (NaN-poisoned rows compare equal; any changed bit does not)."""
    return x.view(torch.int16)


def make_store(num_tokens, q_heads, k_heads, head_size, rotary_dim, dtype, slots=None, layout="2d", is_neox=True):
    """Inputs of a fused call: q/k/v slices of one fused qkv projection (row-strided, as in serving), NaN-poisoned
    caches of `slots` rows in `layout` (2d [S, H*D], 3d [S, H, D], strided: every other slot of a bigger pool),
    and a random permutation of slots for cache_loc."""
    slots = slots or 2 * num_tokens + 3
    positions, *_ = make_case(num_tokens, 1, 1, head_size, rotary_dim, dtype)
    cache = torch.randn(4096, rotary_dim, device="cuda", dtype=torch.float32)
    qkv = torch.randn(num_tokens, (q_heads + 2 * k_heads) * head_size, device="cuda", dtype=dtype)
    query = qkv[:, : q_heads * head_size]
    key = qkv[:, q_heads * head_size : (q_heads + k_heads) * head_size]
    value = qkv[:, (q_heads + k_heads) * head_size :]
    if layout == "2d":
        k_buffer = torch.full((slots, k_heads * head_size), float("nan"), device="cuda", dtype=dtype)
        v_buffer = torch.full((slots, k_heads * head_size), float("nan"), device="cuda", dtype=dtype)
    elif layout == "3d":
        k_buffer = torch.full((slots, k_heads, head_size), float("nan"), device="cuda", dtype=dtype)
        v_buffer = torch.full((slots, k_heads, head_size), float("nan"), device="cuda", dtype=dtype)
    else:  # strided slots: a [2S, H, D] pool seen every other row
        k_buffer = torch.full((2 * slots, k_heads, head_size), float("nan"), device="cuda", dtype=dtype)[::2]
        v_buffer = torch.full((2 * slots, k_heads, head_size), float("nan"), device="cuda", dtype=dtype)[::2]
    cache_loc = torch.randperm(slots, device="cuda")[:num_tokens]
    return dict(positions=positions, query=query, key=key, value=value, head_size=head_size, cache=cache,
                is_neox=is_neox, k_buffer=k_buffer, v_buffer=v_buffer, cache_loc=cache_loc, qkv=qkv)  # fmt: skip


def run_fused(c, enable_pdl=None):
    arg = kernelkit_ops.FusedSetKVBufferArg(
        value=c["value"], k_buffer=c["k_buffer"], v_buffer=c["v_buffer"], k_scale=None, v_scale=None,
        cache_loc=c["cache_loc"],
    )  # fmt: skip
    return rope(c["positions"], c["query"], c["key"], c["head_size"], c["cache"], c["is_neox"], arg, enable_pdl)


def store_reference(c):
    """Our RoPE, then a torch scatter into the caches, on copies of everything: what the fused call must leave."""
    q, k, v = c["query"].clone(), c["key"].clone(), c["value"].clone()
    kb, vb = c["k_buffer"].clone(), c["v_buffer"].clone()
    assert rope(c["positions"], q, k, c["head_size"], c["cache"], c["is_neox"]) is None
    hs = c["head_size"]
    as_heads(kb, hs)[c["cache_loc"]] = as_heads(k, hs)
    as_heads(vb, hs)[c["cache_loc"]] = as_heads(v, hs)
    return q, k, v, kb, vb


def assert_stored(c, enable_pdl=None):
    before_q, before_k = c["query"].clone(), c["key"].clone()
    ref_q, ref_k, ref_v, ref_kb, ref_vb = store_reference(c)
    value_before = c["value"].clone()
    assert run_fused(c, enable_pdl) is None
    # q and k: rotated in place as without the store (fp32 reference of the math), and bit for bit as our RoPE
    expected_q, expected_k = reference(c["positions"], before_q, before_k, c["head_size"], c["cache"], c["is_neox"])
    rtol, atol = TOLERANCES[c["query"].dtype]
    torch.testing.assert_close(c["query"], expected_q, rtol=rtol, atol=atol)
    torch.testing.assert_close(c["key"], expected_k, rtol=rtol, atol=atol)
    assert torch.equal(bits(c["query"]), bits(ref_q)) and torch.equal(bits(c["key"]), bits(ref_k))
    assert torch.equal(bits(c["value"]), bits(value_before)), "value was written"
    # the caches: exactly RoPE-then-scatter, so the rows at cache_loc hold the rotated key and the value (whole
    # heads, dims past rotary_dim included) and every other row is still NaN
    assert torch.equal(bits(c["k_buffer"]), bits(ref_kb))
    assert torch.equal(bits(c["v_buffer"]), bits(ref_vb))
    hs, loc = c["head_size"], c["cache_loc"]
    assert torch.equal(bits(as_heads(c["k_buffer"], hs)[loc]), bits(as_heads(c["key"], hs)))
    others = torch.ones(c["k_buffer"].shape[0], dtype=torch.bool, device="cuda")
    others[loc] = False
    assert torch.isnan(c["k_buffer"][others]).all() and torch.isnan(c["v_buffer"][others]).all()
    module.check_positions(c["query"].device)


# (T, q heads, kv heads, head_size, rotary_dim)
STORE_SHAPES = [
    (1, 32, 8, 128, 128),  # decode
    (7, 4, 2, 64, 64),  # odd T, head_size 64 (GPT-OSS's)
    (33, 8, 8, 256, 256),  # head_size 256
    (17, 6, 2, 128, 64),  # rotary_dim < head_size: the dims past it are copied to the cache, not rotated
    (11, 7, 1, 128, 128),  # one key head
    (5, 2, 2, 96, 32),  # rotary_dim/2 = 16, head_size 96: 8-element vectors, 8 of them past rotary_dim
    (9, 3, 3, 80, 40),  # rotary_dim/2 = 20: 4-element vectors, and 10 of them past rotary_dim
    (5, 2, 2, 96, 34),  # rotary_dim/2 = 17: the scalar path
    (3, 5, 3, 130, 130),  # head_size not a multiple of 8
    (130, 64, 8, 64, 64),  # GPT-OSS, around one CTA per SM
    (300, 32, 8, 128, 128),  # 256-thread CTAs from here (96000 threads)
]


@pytest.mark.gpu
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", STORE_SHAPES, ids=str)
def test_fused_store_matches_rope_then_scatter(shape, dtype, is_neox, no_recorded_errors):
    assert_stored(make_store(*shape, dtype, is_neox=is_neox))


@pytest.mark.gpu
@pytest.mark.parametrize("layout", ["2d", "3d", "strided"])
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_fused_store_cache_layouts(layout, is_neox, no_recorded_errors):
    assert_stored(make_store(45, 8, 2, 128, 128, torch.bfloat16, layout=layout, is_neox=is_neox))
    assert_stored(make_store(45, 8, 2, 128, 64, torch.float16, layout=layout, is_neox=is_neox))


@pytest.mark.gpu
@pytest.mark.parametrize("num_tokens", [4096, 16384 + 5])
def test_fused_store_many_tokens(num_tokens, no_recorded_errors):
    # From 4096 tokens the plain RoPE takes two heads per thread; the store keeps one (so its q/k are those of
    # another kernel instance, and must still be bit for bit the same).
    assert_stored(make_store(num_tokens, 32, 8, 128, 128, torch.bfloat16, slots=32768))


@pytest.mark.gpu
@pytest.mark.parametrize("enable_pdl", [True, False])
def test_fused_store_with_and_without_pdl(enable_pdl, no_recorded_errors):
    assert_stored(make_store(64, 16, 4, 128, 128, torch.bfloat16), enable_pdl=enable_pdl)
    assert_rotated(*make_case(64, 16, 4, 128, 128, torch.bfloat16), True)  # the plain op, PDL by default


@pytest.mark.gpu
def test_plain_rope_with_and_without_pdl_agree(no_recorded_errors):
    positions, query, key, head_size, cache = make_case(77, 8, 2, 128, 128, torch.bfloat16)
    q2, k2 = query.clone(), key.clone()
    rope(positions, query, key, head_size, cache, True, None, True)
    rope(positions, q2, k2, head_size, cache, True, enable_pdl=False)
    assert torch.equal(bits(query), bits(q2)) and torch.equal(bits(key), bits(k2))


@pytest.mark.gpu
def test_fused_store_3d_views_and_value(no_recorded_errors):
    c = make_store(21, 4, 2, 64, 64, torch.bfloat16, layout="3d")
    c["query"], c["key"], c["value"] = (c[n].view(21, -1, 64) for n in ("query", "key", "value"))
    assert_stored(c)


@pytest.mark.gpu
@pytest.mark.parametrize("offset", [1, 2, 4], ids=lambda o: f"offset{o}")
def test_fused_store_misaligned_falls_back_to_narrow_vectors(offset, no_recorded_errors):
    # The caches start 2-, 4-, 8-byte off a 16-byte boundary: 16-byte stores would fault.
    c = make_store(13, 4, 2, 128, 128, torch.float16)
    slots = c["k_buffer"].shape[0]
    pool = torch.full((2, slots * 2 * 128 + offset), float("nan"), device="cuda", dtype=torch.float16)
    c["k_buffer"] = pool[0, offset:].view(slots, 2 * 128)
    c["v_buffer"] = pool[1, offset:].view(slots, 2 * 128)
    assert_stored(c)


@pytest.mark.gpu
def test_fused_store_zero_and_one_token(no_recorded_errors):
    c = make_store(0, 32, 8, 128, 128, torch.bfloat16, slots=8)
    k_before, v_before = c["k_buffer"].clone(), c["v_buffer"].clone()
    assert run_fused(c) is None
    assert torch.equal(bits(c["k_buffer"]), bits(k_before)) and torch.equal(bits(c["v_buffer"]), bits(v_before))
    assert_stored(make_store(1, 32, 8, 128, 128, torch.bfloat16, slots=1))


@pytest.mark.gpu
def test_fused_store_no_key_heads(no_recorded_errors):
    # Nothing to store: the caches have no heads either.
    positions, query, _, head_size, cache = make_case(9, 4, 1, 64, 64, torch.bfloat16)
    empty = torch.empty(9, 0, device="cuda", dtype=torch.bfloat16)
    arg = kernelkit_ops.FusedSetKVBufferArg(empty, torch.empty(4, 0, device="cuda", dtype=torch.bfloat16),
                                            torch.empty(4, 0, device="cuda", dtype=torch.bfloat16), None, None,
                                            torch.arange(9, device="cuda"))  # fmt: skip
    q0 = query.clone()
    rope(positions, query, empty, head_size, cache, True, arg)
    expected_q, _ = reference(positions, q0, empty, head_size, cache, True)
    torch.testing.assert_close(query, expected_q, rtol=1.6e-2, atol=1e-2)


@pytest.mark.gpu
def test_fused_store_out_of_range_slots_are_not_written_and_are_reported(no_recorded_errors):
    c = make_store(12, 8, 2, 128, 128, torch.bfloat16, slots=40)
    bad = {3: -1, 7: 40, 10: 2**40}
    for t, slot in bad.items():
        c["cache_loc"][t] = slot
    good = torch.tensor([t not in bad for t in range(12)], device="cuda")
    q0, k0 = c["query"].clone(), c["key"].clone()
    value = c["value"].clone()
    assert run_fused(c) is None
    # every token is rotated; only the good ones are stored
    expected_q, expected_k = reference(c["positions"], q0, k0, 128, c["cache"], True)
    torch.testing.assert_close(c["query"], expected_q, rtol=1.6e-2, atol=1e-2)
    torch.testing.assert_close(c["key"], expected_k, rtol=1.6e-2, atol=1e-2)
    loc = c["cache_loc"][good]
    assert torch.equal(bits(c["k_buffer"][loc]), bits(c["key"][good]))
    assert torch.equal(bits(c["v_buffer"][loc]), bits(value[good]))
    written = torch.zeros(40, dtype=torch.bool, device="cuda")
    written[loc] = True
    assert torch.isnan(c["k_buffer"][~written]).all() and torch.isnan(c["v_buffer"][~written]).all()
    with pytest.raises(ValueError) as info:
        module.check_positions(c["query"].device)
    message = str(info.value)
    assert f"{len(bad)} token(s) with such slots" in message and "not stored" in message
    assert any(f"cache_loc[{t}] = {s} is outside [0, 40)" in message for t, s in bad.items()), message
    assert "positions[" not in message
    module.check_positions(c["query"].device)  # cleared


@pytest.mark.gpu
def test_fused_store_bad_position_skips_the_token(no_recorded_errors):
    c = make_store(10, 4, 2, 64, 64, torch.float16, slots=16)
    c["positions"][4] = 4096  # the cache has 4096 rows
    q0, k0 = c["query"].clone(), c["key"].clone()
    assert run_fused(c) is None
    assert torch.equal(bits(c["query"][4]), bits(q0[4])) and torch.equal(bits(c["key"][4]), bits(k0[4]))
    slot = int(c["cache_loc"][4])
    assert torch.isnan(c["k_buffer"][slot]).all() and torch.isnan(c["v_buffer"][slot]).all(), "a bad token was stored"
    others = [t for t in range(10) if t != 4]
    assert torch.equal(bits(c["k_buffer"][c["cache_loc"][others]]), bits(c["key"][others]))
    with pytest.raises(ValueError, match=r"positions\[4\] = 4096 is outside \[0, 4096\).*not stored"):
        module.check_positions(c["query"].device)


@pytest.mark.gpu
def test_fused_store_cuda_graph_replay(no_recorded_errors):
    c = make_store(24, 8, 2, 128, 128, torch.bfloat16, slots=64)
    run_fused(c)  # eager first: creates the device's record
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        run_fused(c)
    torch.cuda.current_stream().wait_stream(stream)
    # New slots and values, written in place before the replay: the graph reads them.
    c["cache_loc"].copy_(torch.randperm(64, device="cuda")[:24])
    c["value"].copy_(torch.randn_like(c["value"]))
    c["k_buffer"].fill_(float("nan"))
    c["v_buffer"].fill_(float("nan"))
    ref_q, ref_k, _, ref_kb, ref_vb = store_reference(c)
    graph.replay()
    torch.cuda.synchronize()
    assert torch.equal(bits(c["query"]), bits(ref_q)) and torch.equal(bits(c["key"]), bits(ref_k))
    assert torch.equal(bits(c["k_buffer"]), bits(ref_kb)) and torch.equal(bits(c["v_buffer"]), bits(ref_vb))
    c["cache_loc"][5] = 64
    graph.replay()
    with pytest.raises(ValueError, match=r"cache_loc\[5\] = 64 is outside \[0, 64\)"):
        module.check_positions(c["query"].device)


@pytest.mark.gpu
@pytest.mark.parametrize("is_neox", [True, False], ids=["neox", "gptj"])
def test_fused_store_opcheck(is_neox, no_recorded_errors):
    c = make_store(16, 4, 2, 64, 64, torch.bfloat16, slots=32, is_neox=is_neox)
    errors = torch.zeros(ERROR_FIELDS, device="cuda", dtype=torch.int64)
    args = (c["positions"], c["query"], c["key"], 64, c["cache"], is_neox, errors, c["value"], c["k_buffer"],
            c["v_buffer"], c["cache_loc"], True)  # fmt: skip
    torch.library.opcheck(torch_op, args)


@pytest.mark.gpu
def test_fused_store_torch_compile_fullgraph(no_recorded_errors):
    t, hq, hk, hs = 24, 8, 2, 64

    def step(positions, qkv, cache, k_buffer, v_buffer, cache_loc):
        query, key, value = qkv.split([hq * hs, hk * hs, hk * hs], dim=-1)
        arg = kernelkit_ops.FusedSetKVBufferArg(
            value=value, k_buffer=k_buffer, v_buffer=v_buffer, k_scale=None, v_scale=None, cache_loc=cache_loc
        )
        rope(positions, query, key, hs, cache, True, fused_set_kv_buffer_arg=arg)
        return qkv * 2

    fn = torch.compile(step, fullgraph=True)
    c = make_store(t, hq, hk, hs, hs, torch.bfloat16, slots=50)
    ref_q, ref_k, _, ref_kb, ref_vb = store_reference(c)
    out = fn(c["positions"], c["qkv"], c["cache"], c["k_buffer"], c["v_buffer"], c["cache_loc"])
    assert torch.equal(bits(c["query"]), bits(ref_q)) and torch.equal(bits(c["key"]), bits(ref_k))
    assert torch.equal(bits(c["k_buffer"]), bits(ref_kb)) and torch.equal(bits(c["v_buffer"]), bits(ref_vb))
    torch.testing.assert_close(out, c["qkv"] * 2)


@pytest.mark.gpu
def test_fused_store_rejects_a_tensor_on_another_device(no_recorded_errors):
    c = make_store(4, 4, 2, 64, 64, torch.bfloat16, slots=8)
    for name in ("value", "k_buffer", "v_buffer", "cache_loc"):
        changed = dict(c, **{name: c[name].cpu()})
        with pytest.raises(RuntimeError, match=rf"{OP}: {name} must be a CUDA tensor"):
            run_fused(changed)
    fp8 = dict(c, k_buffer=c["k_buffer"].to(torch.float8_e4m3fn))
    with pytest.raises(RuntimeError, match=rf"{OP}: k_buffer must have the dtype of query"):
        run_fused(fp8)
