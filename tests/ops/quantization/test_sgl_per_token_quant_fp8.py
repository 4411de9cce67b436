"""Tests of `sgl_per_token_quant_fp8`: q bit-exact against sgl-kernel's arithmetic on an H100
(fp8_quant_cases.per_token_reference, run with sgl_math's PTX instructions) and s equal (fp32).

CPU (CI): schema, sgl-kernel signature, fake impl under FakeTensorMode, the binding's checks (the op takes
CPU tensors, checks them and refuses them by name), bench model.
GPU: every launch shape (few rows / many rows, 1 to 8 vectors per thread, two-pass rows, the scalar
path), bf16/fp16/fp32, 0 / 1 / odd / 16385 tokens, 1-D and 3-D inputs, row-strided and unaligned
outputs, all-zero / NaN / inf / tiny / denormal rows, zero rows below and at sgl-kernel's many-rows
switch (16 rows per SM), poisoned outputs, streams, CUDA graphs, opcheck, torch.compile.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from fp8_quant_cases import (
    FP8_448_BYTE,
    FP8_NAN_BYTE,
    ZERO_ROW_GUARD_ROWS_PER_SM,
    per_token_reference,
    poisoned_q,
    poisoned_scales,
    rows_of_varied_scale,
    sm_count,
)
from quant_reference import assert_fp8_equal
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "sgl_per_token_quant_fp8"
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
quant = kernelkit_ops.sgl_per_token_quant_fp8
torch_op = torch.ops.kernelkit.sgl_per_token_quant_fp8.default
# opcheck without its "test_schema" util: that one compares every argument before and after the call with
# torch.allclose, which has no float8 kernel (pytorch/pytorch#135998, #115757). What it would prove --
# the schema declares exactly the arguments the op writes -- test_schema_registered checks on the schema
# and the numerics tests check on the data (input and weight come back unchanged, poisoned outputs are
# fully overwritten).
OPCHECK_UTILS = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")

# The launch shapes on an H100 (132 SMs; "few rows" = T < 264), bf16: (1|128|7, 4096|7168) few rows, one
# vector per thread; (300, 4096) many rows, 4 vectors x 128 threads; (2048, 7168) 8 vectors; (33, 16384)
# few rows, 2 vectors x 1024 threads; (600, 16384) 8 vectors x 256 threads; (2, 40000) two-pass;
# (5, 4100) and (3, 13) the scalar path (two-pass / registers); fp32 (33, 16384) two-pass.
SHAPES = [
    (1, 4096), (128, 4096), (7, 7168), (300, 4096), (2048, 7168), (33, 16384), (600, 16384), (2, 40000),
    (5, 4100), (3, 13), (0, 4096), (16385, 4096), (2, 3, 1024), (4096,),
]  # fmt: skip


def make(shape, dtype, scale_shape="T1", device="cuda"):
    x = rows_of_varied_scale(shape, dtype, device)
    rows = tuple(shape[:-1])
    s_shape = rows + (1,) if scale_shape == "T1" else rows
    return x, poisoned_q(shape, device), poisoned_scales(s_shape, device)


def check(x, q, s):
    q_ref, s_ref = per_token_reference(x)
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s_ref.reshape(s.shape)), "scales differ"


# ---------------------------------------------------------------------- CPU: schema, signature, checks


def test_schema_registered():
    schema = torch_op._schema
    assert [a.name for a in schema.arguments] == ["input", "output_q", "output_s", "enable_pdl"]
    assert [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments] == [False, True, True, False]


def test_sgl_kernel_signature():
    params = inspect.signature(quant).parameters
    # sgl-kernel's three arguments, then FlashInfer's enable_pdl=None keyword
    assert list(params) == ["input", "output_q", "output_s", "enable_pdl"]
    assert params["enable_pdl"].default is None
    assert OP in kernelkit_ops.__all__ and f"sgl_kernel.{OP}" in quant.__doc__


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("scale_shape", ["T1", "T"])
def test_fake_impl(dtype, scale_shape):
    with FakeTensorMode():
        x, q, s = make((3, 5, 64), dtype, scale_shape)
        assert quant(x, q, s) is None


def test_rejects_cpu_tensor():
    x, q, s = make((4, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        quant(x, q, s)
    x, q, s = make((0, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        quant(x, q, s)  # an empty input is checked before it returns


BAD_INPUTS = [
    (lambda x, q, s: (x, q.view(torch.uint8), s), "output_q must be float8_e4m3fn, got uint8"),
    (lambda x, q, s: (x, torch.empty(4, 16, dtype=torch.bfloat16), s), "output_q must be float8_e4m3fn"),
    (
        lambda x, q, s: (x, poisoned_q((4, 8), "cpu"), s),
        r"output_q must have the shape of input \[4, 16\], got \[4, 8\]",
    ),
    (lambda x, q, s: (x, poisoned_q((16, 4), "cpu").t(), s), "output_q must be contiguous in its last dimension"),
    (lambda x, q, s: (x, q, s.half()), "output_s must be float32, got float16"),
    (lambda x, q, s: (x, q, torch.empty(4, 2)), r"output_s must have shape \[4, 1\] or \[4\]"),
    (lambda x, q, s: (x, q, torch.empty_strided((4, 1), (2, 1))), "output_s must be contiguous"),
    (lambda x, q, s: (x.int(), q, s), "input must be bfloat16, float16 or float32, got int32"),
    (lambda x, q, s: (torch.empty(16, 4, dtype=x.dtype).t(), q, s), "input must be contiguous in its last dimension"),
]


@pytest.mark.parametrize("mutate, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_rejects_bad_input(mutate, message):
    x, q, s = mutate(*make((4, 16), torch.bfloat16, device="cpu"))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        quant(x, q, s)


def test_bench_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert sorted({c.size("hidden") for c in b.cases}) == [4096, 7168]
    assert sorted({c.tokens for c in b.cases}) == [1, 128, 2048, 16384]
    case = next(c for c in b.cases if c.tokens == 2048 and c.size("hidden") == 4096)
    assert b.bytes_moved(case) == 2048 * 4096 * (2 + 1) + 2048 * 4  # x read, q + s written


# ------------------------------------------------------------------------------------- GPU: numerics


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_reference(dtype, shape):
    x, q, s = make(shape, dtype, "T1" if len(shape) % 2 == 0 else "T")
    x0 = x.clone()
    assert quant(x, q, s) is None
    if x.numel():
        check(x, q, s)
    else:  # nothing launched, nothing written
        assert bool((q.view(torch.uint8) == FP8_NAN_BYTE).all()) and bool(s.isnan().all())
    assert torch.equal(x, x0), "input was modified"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_special_rows(dtype):
    """Few rows (sgl-kernel's small-batch kernel: RCP(0) = inf). All-zero row: s = 0, every q +448 (0 * inf
    = NaN -> +448). NaN: ignored by the absmax, +448 itself (the min is taken first). An inf: s = inf,
    inv = 0, so the row's finite values become +-0 and the inf NaN -> +448. All-NaN row: s = 0, all +448.
    fp32 only: a row of tiny normal values gets its own (unfloored) scale; a row of denormals reads as
    zeros; a row whose scale underflows (absmax * fl32(1/448) < 2^-126) gets s = 0 (flushed), so its
    values saturate to +-448."""
    x = torch.randn(9, 4096, device="cuda", dtype=dtype) * 3
    x[0] = 0
    x[1, 5] = float("nan")
    x[2, 7] = float("inf")
    x[3] = float("nan")
    x[4, 9] = float("-inf")
    x[4, 10] = float("nan")
    if dtype == torch.float32:
        x[5] *= 1e-13
        x[7] = torch.randn(4096, device="cuda") * 1e-40  # denormals
        x[8] = torch.randn(4096, device="cuda") * 1e-37  # normal, but absmax / 448 is not
    x[6, 100] = 1e4 if dtype != torch.float16 else 6e4  # one large value: the rest quantize small
    q = poisoned_q(x.shape)
    s = poisoned_scales((9, 1))
    quant(x, q, s)
    check(x, q, s)
    bits = q.view(torch.uint8)
    assert s[0, 0] == 0 and bool((bits[0] == FP8_448_BYTE).all())
    assert bits[1, 5] == FP8_448_BYTE and torch.isfinite(s[1, 0]) and s[1, 0] > 0
    assert torch.isinf(s[2, 0]) and torch.isinf(s[4, 0]) and s[3, 0] == 0
    assert bits[2, 7] == FP8_448_BYTE and bits[4, 9] == FP8_448_BYTE and bits[4, 10] == FP8_448_BYTE
    assert bool((bits[3] == FP8_448_BYTE).all())
    assert bool((q[2].float()[torch.arange(4096, device="cuda") != 7] == 0).all())  # finite * 0 = +-0
    if dtype == torch.float32:
        assert 0 < s[5, 0] < 1e-14 and q[5].float().abs().max() == 448
        assert s[7, 0] == 0 and bool((bits[7] == FP8_448_BYTE).all())
        assert s[8, 0] == 0 and bool((q[8].float().abs() == 448).all())


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("where", ["below", "at"])
@pytest.mark.parametrize("hidden", [256, 7168, 40000])  # one vector per thread, 8 per thread, two-pass rows
def test_zero_rows_below_and_at_the_many_rows_switch(dtype, where, hidden):
    """sgl-kernel quantizes an all-zero row (s = 0) to +448 with its small-batch kernel and to 0 with its
    many-rows kernel, which it takes from 16 rows per SM on: the op follows it at the same row count. -0
    rows too: the many-rows kernel gives -0 * 0 = -0 (0x80)."""
    rows = ZERO_ROW_GUARD_ROWS_PER_SM * sm_count() - (1 if where == "below" else 0)
    x = rows_of_varied_scale((rows, hidden), dtype)
    x[0] = 0
    x[rows // 2] = -0.0
    x[rows - 1] = 0
    q, s = poisoned_q(x.shape), poisoned_scales((rows, 1))
    quant(x, q, s)
    check(x, q, s)
    bits = q.view(torch.uint8)
    for row, zero_byte in ((0, 0x00), (rows // 2, 0x80), (rows - 1, 0x00)):
        assert s[row, 0] == 0
        want = FP8_448_BYTE if where == "below" else zero_byte
        assert bool((bits[row] == want).all()), f"row {row}: {bits[row, :4].tolist()}, want {want:#x}"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_signed_zeros_keep_their_sign(dtype):
    """-0 quantizes to e4m3 -0 (0x80): MUL(-0, inv) = -0. (An all -0 row has s = 0: +448 with few rows.)"""
    x = torch.randn(3, 4096, device="cuda", dtype=dtype)
    x[0, ::7] = -0.0
    x[1, ::5] = 0.0
    x[2] = -0.0
    q = poisoned_q(x.shape)
    s = poisoned_scales((3, 1))
    quant(x, q, s)
    check(x, q, s)
    bits = q.view(torch.uint8)
    assert bool((bits[0, ::7] == 0x80).all()) and bool((bits[1, ::5] == 0x00).all())
    assert bool((bits[2] == FP8_448_BYTE).all())


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [128, 256, 512])
@pytest.mark.parametrize("hidden", [512, 1368, 2048, 4096])
def test_sgl_kernel_upstream_shapes(rows, hidden):
    """sgl-kernel's own test data: fp16 torch.rand (non-negative), T x H as in its test; bit-exact here."""
    x = torch.rand(rows, hidden, device="cuda", dtype=torch.float16)
    q, s = poisoned_q(x.shape), poisoned_scales((rows, 1))
    quant(x, q, s)
    check(x, q, s)


@pytest.mark.gpu
def test_saturation_and_rounding_are_exact():
    """Values at the row max map to exactly ±448; the rest round to nearest even (compared bit for bit)."""
    x = torch.linspace(-3, 3, 4096, device="cuda", dtype=torch.float32).repeat(64, 1)
    x = x * torch.arange(1, 65, device="cuda", dtype=torch.float32)[:, None]
    q, s = poisoned_q(x.shape), poisoned_scales((64, 1))
    quant(x, q, s)
    check(x, q, s)
    assert bool((q.float().abs().amax(dim=1) == 448).all())


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [37, 1000])
def test_row_strided_input_and_output(rows):
    buf = torch.randn(rows, 4096 + 64, device="cuda", dtype=torch.bfloat16)
    x = buf[:, 64:]
    qbuf = poisoned_q((rows, 4096 + 32))
    q = qbuf[:, :4096]
    s = poisoned_scales((rows,))
    quant(x, q, s)
    check(x, q, s)
    assert bool((qbuf[:, 4096:].view(torch.uint8) == FP8_NAN_BYTE).all()), "wrote outside output_q's rows"


@pytest.mark.gpu
@pytest.mark.parametrize("offset", [1, 4])
def test_unaligned_output_q(offset):
    """output_q at an odd byte offset: the kernel stores bytes instead of 8-byte vectors."""
    x = torch.randn(300, 4096, device="cuda", dtype=torch.bfloat16)
    qbuf = poisoned_q((300 * 4096 + 8,))
    q = qbuf[offset : offset + 300 * 4096].view(300, 4096)
    s = poisoned_scales((300, 1))
    quant(x, q, s)
    check(x, q, s)


@pytest.mark.gpu
def test_runs_on_current_stream():
    x, q, s = make((512, 4096), torch.bfloat16)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        quant(x, q, s)
    stream.synchronize()
    check(x, q, s)


@pytest.mark.gpu
def test_cuda_graph_replay():
    x, q, s = make((256, 4096), torch.bfloat16)
    quant(x, q, s)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        quant(x, q, s)
    torch.cuda.current_stream().wait_stream(stream)
    x.copy_(rows_of_varied_scale(x.shape, x.dtype))
    graph.replay()
    torch.cuda.synchronize()
    check(x, q, s)


@pytest.mark.gpu
def test_opcheck():
    x, q, s = make((16, 256), torch.bfloat16)
    for pdl in (True, False):
        torch.library.opcheck(torch_op, (x, q, s, pdl), test_utils=OPCHECK_UTILS)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(1, 4096), (2048, 7168)], ids=str)
def test_pdl_reads_what_the_previous_kernel_wrote(shape):
    # With PDL the launch overlaps the previous kernel; griddepcontrol.wait must still see its writes.
    # Producers: a plain copy, and fused_add_rmsnorm launched with PDL (which lets dependents launch early).
    x = rows_of_varied_scale(shape, torch.bfloat16)
    r, w = torch.randn_like(x), torch.rand(shape[-1], device="cuda", dtype=x.dtype) + 0.5
    buf = torch.empty_like(x)
    results = []
    for pdl in (True, False, None):
        q, s = poisoned_q(shape), poisoned_scales((shape[0], 1))
        buf.fill_(float("nan"))
        buf.copy_(x)
        quant(buf, q, s, enable_pdl=pdl)
        check(x, q, s)
        res = r.clone()
        kernelkit_ops.fused_add_rmsnorm(buf, res, w, enable_pdl=True)
        q2, s2 = poisoned_q(shape), poisoned_scales((shape[0], 1))
        quant(buf, q2, s2, enable_pdl=pdl)
        check(buf, q2, s2)
        results.append((q2.view(torch.uint8), s2))
    assert all(torch.equal(a, b) for got in results[1:] for a, b in zip(results[0], got))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x, q, s = make((8, 512), torch.bfloat16)
    q_ref, s_ref = per_token_reference(x)

    @torch.compile(fullgraph=True)
    def fn(a, b, c):
        quant(a, b, c)
        return c * 2

    got = fn(x, q, s)
    assert torch.equal(got, s_ref * 2)
    assert_fp8_equal(q, q_ref)


@pytest.mark.gpu
def test_binding_rejects_a_tensor_on_another_device():
    x, q, s = make((4, 16), torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must be a CUDA tensor"):
        quant(x, q, s.cpu())


@pytest.mark.gpu
def test_binding_rejects_bad_input():
    x, q, s = make((4, 16), torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_q must be float8_e4m3fn, got bfloat16"):
        torch_op(x, x.clone(), s, True)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must have shape \[4, 1\] or \[4\]"):
        torch_op(x, q, torch.empty(2, 2, device="cuda"), True)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must be float32, got float16"):
        torch_op(x, q, s.half(), True)
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        torch_op(x.cpu(), q, s, True)
