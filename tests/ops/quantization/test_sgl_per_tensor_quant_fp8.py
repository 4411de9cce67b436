"""Tests of `sgl_per_tensor_quant_fp8` (static and dynamic scale): q bit-exact against sgl-kernel's
arithmetic on an H100 (fp8_quant_cases.per_tensor_reference, run with sgl_math's PTX instructions), the
dynamic scale equal (fp32).

CPU (CI): schema (with the workspace argument), sgl-kernel's Python signature, fake impl under
FakeTensorMode, the binding's checks (the op takes CPU tensors, checks them and refuses them by name),
bench model.
GPU: every path of the dynamic kernel -- one CTA, registers only, registers + shared memory, a tensor
larger than the chip (streamed part), the scalar path, row-strided 2-D addressing --, static scales
(with saturation, zero, denormal and huge scales), bf16/fp16/fp32, empty / 1-D / 3-D inputs, all-zero /
NaN / inf tensors, a dynamic scale that ignores what output_s held, sgl-kernel's own test shapes, poisoned
outputs, unaligned output_q, streams, CUDA-graph capture and replay (the cooperative launch),
opcheck and torch.compile.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from fp8_quant_cases import FP8_448_BYTE, FP8_NAN_BYTE, per_tensor_reference, poisoned_q, poisoned_scales
from quant_reference import FP8_MAX, assert_fp8_equal
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "sgl_per_tensor_quant_fp8"
DTYPES = [torch.bfloat16, torch.float16, torch.float32]
quant = kernelkit_ops.sgl_per_tensor_quant_fp8
torch_op = torch.ops.kernelkit.sgl_per_tensor_quant_fp8.default
# opcheck without its "test_schema" util: that one compares every argument before and after the call with
# torch.allclose, which has no float8 kernel (pytorch/pytorch#135998, #115757). What it would prove --
# the schema declares exactly the arguments the op writes -- test_schema_registered checks on the schema
# and the numerics tests check on the data (input and weight come back unchanged, poisoned outputs are
# fully overwritten).
OPCHECK_UTILS = ("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")

# Dynamic-kernel paths on an H100 (132 SMs, 46 MB on chip; 16-byte vectors): tensors of <= 8192
# vectors take one plain CTA (per_tensor_dynamic_small): (1, 4096) 1 vector per thread, (16, 4096) 8 per
# thread (full), (9, 1000) 8 per thread (partial, rows of 125 vectors); (128, 4096) the 2-register-slot
# cooperative kernel, 128 CTAs x 1 vector per thread; (512, 4096) bf16 the same, 264 CTAs, 2 vectors in
# most threads (fp32, twice the vectors: the 16-slot kernel); (540, 4096) just past the 2-slot kernel's
# capacity (270336 vectors): the 16-slot kernel, 132 CTAs, 5 of its slots used;
# (2048, 4096) bf16 registers (fp32: + shared memory); (2048, 7168) registers + shared memory;
# (16384, 4096) larger than the chip: two passes (absmax kernel, scale kernel, static kernel); (7, 13)
# odd numel -> scalar path, one CTA; (1001, 4097) scalar path larger than the scalar kernel's on-chip
# share (registers only) -> two passes; empty, 1-D, 3-D.
SHAPES = [
    (1, 4096), (16, 4096), (9, 1000), (128, 4096), (512, 4096), (540, 4096), (2048, 4096), (2048, 7168), (16384, 4096),
    (7, 13), (1001, 4097),
    (0, 4096), (4096,), (2, 3, 1024),
]  # fmt: skip


def make(shape, dtype, device="cuda", scale_shape=(1,)):
    x = (torch.randn(shape, device=device, dtype=torch.float32) * 3).to(dtype)
    return x, poisoned_q(shape, device), poisoned_scales(scale_shape, device)


def check_dynamic(x, q, s):
    q_ref, s_ref = per_tensor_reference(x)
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s_ref.reshape(s.shape)), f"scale {s.tolist()} != {s_ref.tolist()}"


# ---------------------------------------------------------------------- CPU: schema, signature, checks


def test_schema_registered():
    schema = torch_op._schema
    assert [a.name for a in schema.arguments] == [
        "input",
        "output_q",
        "output_s",
        "is_static",
        "workspace",
        "enable_pdl",
    ]
    writes = [a.alias_info is not None and a.alias_info.is_write for a in schema.arguments]
    assert writes == [False, True, True, False, True, False]


def test_sgl_kernel_signature():
    """The workspace is the wrapper's business: the Python signature is sgl-kernel's, then FlashInfer's
    enable_pdl=None keyword."""
    params = inspect.signature(quant).parameters
    assert list(params) == ["input", "output_q", "output_s", "is_static", "enable_pdl"]
    assert all(p.default is inspect.Parameter.empty for name, p in params.items() if name != "enable_pdl")
    assert params["enable_pdl"].default is None
    assert OP in kernelkit_ops.__all__ and f"sgl_kernel.{OP}" in quant.__doc__


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("is_static", [False, True])
@pytest.mark.parametrize("scale_shape", [(1,), ()], ids=["[1]", "[]"])
def test_fake_impl(dtype, is_static, scale_shape):
    with FakeTensorMode():
        x, q, s = make((3, 5, 64), dtype, scale_shape=scale_shape)
        assert quant(x, q, s, is_static) is None


@pytest.mark.parametrize("is_static", [False, True])
def test_rejects_cpu_tensor(is_static):
    x, q, s = make((4, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        quant(x, q, s, is_static)
    x, q, s = make((0, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        quant(x, q, s, is_static)  # an empty input is checked before it returns


BAD_INPUTS = [
    (lambda x, q, s: (x, q.view(torch.uint8), s), "output_q must be float8_e4m3fn, got uint8"),
    (
        lambda x, q, s: (x, poisoned_q((4, 8), "cpu"), s),
        r"output_q must have the shape of input \[4, 16\], got \[4, 8\]",
    ),
    (lambda x, q, s: (x, poisoned_q((16, 4), "cpu").t(), s), "output_q must be contiguous in its last dimension"),
    (lambda x, q, s: (x, q, s.double()), "output_s must be float32, got float64"),
    (lambda x, q, s: (x, q, poisoned_scales((2,), "cpu")), r"output_s must have shape \[1\] \(or \[\]\), got \[2\]"),
    (
        lambda x, q, s: (x, q, poisoned_scales((1, 1), "cpu")),
        r"output_s must have shape \[1\] \(or \[\]\), got \[1, 1\]",
    ),
    (lambda x, q, s: (x.half().int(), q, s), "input must be bfloat16, float16 or float32, got int32"),
    (lambda x, q, s: (torch.empty(16, 4, dtype=x.dtype).t(), q, s), "input must be contiguous in its last dimension"),
]


@pytest.mark.parametrize("mutate, message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
@pytest.mark.parametrize("is_static", [False, True])
def test_rejects_bad_input(mutate, message, is_static):
    x, q, s = mutate(*make((4, 16), torch.bfloat16, device="cpu"))
    with pytest.raises(RuntimeError, match=rf"{OP}: {message}"):
        quant(x, q, s, is_static)


def test_the_raw_op_needs_a_workspace_argument():
    """The raw op takes a workspace of at least one float for a dynamic scale (it allocates the scratch a
    large tensor needs itself; the wrapper passes output_s); an empty or non-float one is refused by name."""
    x, q, s = make((4, 16), torch.bfloat16, device="cpu")
    with pytest.raises(RuntimeError, match=rf"{OP}: workspace must hold at least one float32"):
        torch_op(x, q, s, False, torch.empty(0), False)
    with pytest.raises(RuntimeError, match=rf"{OP}: workspace must be float32, got int32"):
        torch_op(x, q, s, False, torch.empty(16, dtype=torch.int32), False)
    with pytest.raises(RuntimeError, match=rf"{OP}: input must be a CUDA tensor"):
        torch_op(x, q, s, True, torch.empty(0), False)  # a static scale needs none


def test_bench_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), OP)
    assert sorted({c.size("hidden") for c in b.cases}) == [4096, 7168]
    assert sorted({c.size("is_static") for c in b.cases}) == [0, 1]
    assert sorted({c.tokens for c in b.cases}) == [1, 128, 2048, 16384]
    case = next(c for c in b.cases if c.tokens == 2048 and c.size("hidden") == 4096)
    assert b.bytes_moved(case) == 2048 * 4096 * (2 + 1) + 4  # x read, q written, one scale


# ------------------------------------------------------------------------------------- GPU: numerics


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dynamic_matches_reference(dtype, shape):
    x, q, s = make(shape, dtype, scale_shape=(1,) if len(shape) != 1 else ())
    x0 = x.clone()
    assert quant(x, q, s, False) is None
    if x.numel():
        check_dynamic(x, q, s)
    else:  # nothing launched, nothing written
        assert bool(s.isnan().all())
    assert torch.equal(x, x0), "input was modified"


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
# Partial last CTAs per row: (37, 4104) with one 16-byte vector per thread; (2053, 4104), (2053, 4103)
# (scalars), (2048, 7168) and (16384, 4096) with two per thread, the launch for tensors of >= 2^19 vectors
@pytest.mark.parametrize(
    "shape",
    [(1, 4096), (2048, 7168), (16384, 4096), (37, 4104), (2053, 4104), (2053, 4103), (7, 13), (2, 3, 1024)],
    ids=str,
)
def test_static_matches_reference(dtype, shape):
    """The given scale is used as is (0.7 x the dynamic one, so the largest values saturate at ±448) and
    output_s is not written."""
    x, q, _ = make(shape, dtype)
    s = (x.float().abs().amax() / FP8_MAX * 0.7).reshape(1)
    s0 = s.clone()
    quant(x, q, s, True)
    q_ref, _ = per_tensor_reference(x, s)
    assert_fp8_equal(q, q_ref)
    assert torch.equal(s, s0)
    assert bool((q.float().abs() == FP8_MAX).any())


@pytest.mark.gpu
@pytest.mark.parametrize(
    "scale",
    # 0 and a denormal: RCP gives inf (the denormal is read as 0), so every value saturates and 0 * inf =
    # NaN -> +448; 1e-30 and 1e-5: x * (1 / s) overflows to inf for the large values (saturates to +-448);
    # just below 2^100 and 3e38: 1 / s is tiny or (3e38) a denormal flushed to 0.
    [0.0, 1e-40, 1e-30, 2.0**-60, 1e-5, 0.37, 2.0**100 * (1 - 2**-24), 3e38],
    ids=lambda v: f"{v:.3g}",
)
def test_static_scale_edges(scale):
    """A static scale does not bound |x * (1 / s)|: signed zeros, fp32 denormals (read as 0), huge values
    (overflow -> +-448), +-inf, NaN (-> +448), against the reference's RCP and MUL."""
    specials = torch.tensor(
        [
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            1e-30,
            -1e-30,
            3e-8,
            -3e-8,
            1e38,
            -1e38,
            3.4e38,
            float("inf"),
            float("-inf"),
            float("nan"),
        ],
        device="cuda",
    )
    x = torch.randn(64, 256, device="cuda") * torch.logspace(-20, 20, 256, device="cuda")
    x.view(-1)[: specials.numel()] = specials
    q = poisoned_q(x.shape)
    s = torch.tensor([scale], device="cuda", dtype=torch.float32)
    quant(x, q, s, True)
    q_ref, _ = per_tensor_reference(x, s)
    assert_fp8_equal(q, q_ref)
    assert q.view(torch.uint8).view(-1)[13] == FP8_448_BYTE  # NaN -> +448, whatever the scale


@pytest.mark.gpu
@pytest.mark.parametrize("hidden", [4096, 4104])
@pytest.mark.parametrize("rows", [3, 37, 16384])
@pytest.mark.parametrize("is_static", [False, True])
def test_row_strided_input_and_output(rows, is_static, hidden):
    """Slices of wider buffers: the kernels address rows with their strides (3 rows: one CTA; 16384: two
    passes, and for a static scale two vectors per thread, with a partial last CTA per row at 4104)."""
    buf = torch.randn(rows, hidden + 64, device="cuda", dtype=torch.bfloat16)
    x = buf[:, 64:]
    qbuf = poisoned_q((rows, hidden + 32))
    q = qbuf[:, :hidden]
    s = torch.full((1,), 0.01, device="cuda") if is_static else poisoned_scales((1,))
    quant(x, q, s, is_static)
    if is_static:
        assert_fp8_equal(q, per_tensor_reference(x, s)[0])
    else:
        check_dynamic(x, q, s)
    assert bool((qbuf[:, hidden:].view(torch.uint8) == FP8_NAN_BYTE).all()), "wrote outside output_q's rows"


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [300, 2053, 16384])  # static: 300 rows one vector per thread, the others two
@pytest.mark.parametrize("offset", [1, 4])
@pytest.mark.parametrize("is_static", [False, True])
def test_unaligned_output_q(offset, is_static, rows):
    x = torch.randn(rows, 4096, device="cuda", dtype=torch.bfloat16)
    qbuf = poisoned_q((rows * 4096 + 8,))
    q = qbuf[offset : offset + rows * 4096].view(rows, 4096)
    s = torch.full((1,), 0.01, device="cuda") if is_static else poisoned_scales((1,))
    quant(x, q, s, is_static)
    if is_static:
        assert_fp8_equal(q, per_tensor_reference(x, s)[0])
    else:
        check_dynamic(x, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(4, 4096), (2048, 7168)], ids=str)
def test_special_values(shape):
    """All zeros: s = 0 (no floor) and every q +448 (0 * RCP(0) = 0 * inf = NaN -> +448). NaN: ignored by
    the absmax, +448 in q. inf: the scale is inf, RCP(inf) = 0, finite values -> +-0, the inf -> NaN ->
    +448. All NaN: s = 0, every q +448."""
    x = torch.zeros(shape, device="cuda", dtype=torch.bfloat16)
    q, s = poisoned_q(shape), poisoned_scales((1,))
    quant(x, q, s, False)
    check_dynamic(x, q, s)
    assert s.item() == 0 and bool((q.view(torch.uint8) == FP8_448_BYTE).all())

    x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    x[1, 3] = float("nan")
    quant(x, q, s, False)
    check_dynamic(x, q, s)
    assert torch.isfinite(s).all() and q.view(torch.uint8)[1, 3] == FP8_448_BYTE

    x[2, 5] = float("-inf")
    quant(x, q, s, False)
    check_dynamic(x, q, s)
    bits = q.view(torch.uint8)
    assert torch.isinf(s).all() and bits[2, 5] == FP8_448_BYTE and bits[1, 3] == FP8_448_BYTE
    finite = torch.isfinite(x)
    assert bool((q.float()[finite] == 0).all())

    x.fill_(float("nan"))
    quant(x, q, s, False)
    check_dynamic(x, q, s)
    assert s.item() == 0 and bool((q.view(torch.uint8) == FP8_448_BYTE).all())


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(4, 4096), (2048, 7168), (16384, 4096)], ids=str)
@pytest.mark.parametrize("old", [1e30, -5.0, float("inf"), 0.0])
def test_dynamic_scale_ignores_what_output_s_held(shape, old):
    """sgl-kernel takes the max of the new scale and output_s's old value (its callers pass zeros); here the
    old value is not read, on every path (one CTA, cooperative, two passes)."""
    x, q, _ = make(shape, torch.bfloat16)
    s = torch.full((1,), old, device="cuda")
    quant(x, q, s, False)
    check_dynamic(x, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("rows", [128, 256, 512])
@pytest.mark.parametrize("hidden", [512, 1368, 2048, 4096])
@pytest.mark.parametrize("is_static", [False, True])
def test_sgl_kernel_upstream_shapes(rows, hidden, is_static):
    """sgl-kernel's own test data: fp16 torch.rand (non-negative), T x H and, static, a torch.rand(1) scale
    as in its test; bit-exact here."""
    x = torch.rand(rows, hidden, device="cuda", dtype=torch.float16)
    q = poisoned_q(x.shape)
    if is_static:
        s = torch.rand(1, device="cuda")
        quant(x, q, s, True)
        assert_fp8_equal(q, per_tensor_reference(x, s)[0])
    else:
        s = torch.zeros(1, device="cuda")
        quant(x, q, s, False)
        check_dynamic(x, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(128, 4096), (512, 4096), (2048, 4096)], ids=str)
def test_max_at_every_cta_boundary(shape):
    """The grid-wide max must see every CTA's slots: put the only large value in each position in turn
    (first, last, around the 512-thread x 8-element stretches one CTA reads per round, and around the
    rounds of a 128-, 132- or 264-CTA grid)."""
    x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    n = x.numel()
    stretch = 512 * 8
    rounds = [stretch * g for g in (128, 132, 264)]
    for flat in [0, n - 1, n // 2, stretch - 1, stretch, *rounds, *(r - 1 for r in rounds), n - stretch - 1]:
        if flat >= n:
            continue
        y = x.clone()
        y.view(-1)[flat] = -1000.0
        q, s = poisoned_q(y.shape), poisoned_scales((1,))
        quant(y, q, s, False)
        check_dynamic(y, q, s)
        assert s.item() == pytest.approx(1000.0 / FP8_MAX)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(16384, 4096), (1001, 4097)], ids=str)
def test_max_anywhere_in_a_two_pass_tensor(shape):
    """Tensors larger than the chip take the absmax pass: its grid-stride loop (4 vectors per thread per
    step, then a remainder loop) must see every element, including the very last ones."""
    x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    n = x.numel()
    for flat in [0, n - 1, n - 9, n // 3, 1056 * 256 * 8 * 4 - 1]:
        y = x.clone()
        y.view(-1)[flat % n] = 1000.0
        q, s = poisoned_q(y.shape), poisoned_scales((1,))
        quant(y, q, s, False)
        check_dynamic(y, q, s)
        assert s.item() == pytest.approx(1000.0 / FP8_MAX)


@pytest.mark.gpu
def test_runs_on_current_stream():
    x, q, s = make((2048, 4096), torch.bfloat16)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        quant(x, q, s, False)
    stream.synchronize()
    check_dynamic(x, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(1, 4096), (2048, 7168), (16384, 4096)], ids=str)
def test_cuda_graph_replay(shape):
    """The cooperative launch captured in a CUDA graph, replayed on new data (as `kernelkit bench` times it)."""
    x, q, s = make(shape, torch.bfloat16)
    quant(x, q, s, False)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        quant(x, q, s, False)
    torch.cuda.current_stream().wait_stream(stream)
    for scale in (5.0, 0.25):
        x.copy_(torch.randn(shape, device="cuda", dtype=torch.float32) * scale)
        graph.replay()
        torch.cuda.synchronize()
        check_dynamic(x, q, s)


@pytest.mark.gpu
@pytest.mark.parametrize("is_static", [False, True])
def test_opcheck(is_static):
    x, q, s = make((16, 256), torch.bfloat16)
    if is_static:
        s.fill_(0.02)
    workspace = torch.zeros(0 if is_static else 4096, device="cuda")  # zeros: unused slots compare equal
    for pdl in (True, False):
        torch.library.opcheck(torch_op, (x, q, s, is_static, workspace, pdl), test_utils=OPCHECK_UTILS)


@pytest.mark.gpu
@pytest.mark.parametrize("is_static", [False, True])
@pytest.mark.parametrize("shape", [(1, 4096), (2048, 4096), (16384, 4096)], ids=str)
def test_pdl_reads_what_the_previous_kernel_wrote(shape, is_static):
    # With PDL the launch overlaps the previous kernel; griddepcontrol.wait must still see its writes (the
    # input, and for a static scale the scale). Shapes: the one-CTA kernel, the cooperative kernel (never
    # launched with PDL: the kernel after it must still wait for it), and the two-pass chain of three
    # PDL kernels. Producers: plain copies, then fused_add_rmsnorm launched with PDL.
    x, _, _ = make(shape, torch.bfloat16)
    r, w = torch.randn_like(x), torch.rand(shape[-1], device="cuda", dtype=x.dtype) + 0.5
    buf, scale = torch.empty_like(x), torch.empty(1, device="cuda")
    want_s = (x.float().abs().amax() / FP8_MAX * 0.7).reshape(1)
    results = []
    for pdl in (True, False, None):
        q, s = poisoned_q(shape), poisoned_scales((1,))
        buf.fill_(float("nan"))
        buf.copy_(x)
        if is_static:
            scale.fill_(float("nan"))
            scale.copy_(want_s)
        quant(buf, q, scale if is_static else s, is_static, enable_pdl=pdl)
        quant(buf, q, scale if is_static else s, is_static, enable_pdl=pdl)  # after itself, too
        q_ref, s_ref = per_tensor_reference(x, want_s if is_static else None)
        assert_fp8_equal(q, q_ref)
        if not is_static:
            assert torch.equal(s, s_ref.reshape(1))
        kernelkit_ops.fused_add_rmsnorm(buf, r.clone(), w, enable_pdl=True)
        q2, s2 = poisoned_q(shape), poisoned_scales((1,))
        quant(buf, q2, scale if is_static else s2, is_static, enable_pdl=pdl)
        q_ref, s_ref = per_tensor_reference(buf, want_s if is_static else None)
        assert_fp8_equal(q2, q_ref)
        if not is_static:
            assert torch.equal(s2, s_ref.reshape(1))
        results.append(q2.view(torch.uint8))
    assert torch.equal(results[0], results[1]) and torch.equal(results[0], results[2])


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    x, q, s = make((8, 512), torch.bfloat16)
    q_ref, s_ref = per_tensor_reference(x)

    @torch.compile(fullgraph=True)
    def fn(a, b, c):
        quant(a, b, c, False)
        return c * 2

    got = fn(x, q, s)
    assert torch.equal(got, (s_ref * 2).reshape(1))
    assert_fp8_equal(q, q_ref)


@pytest.mark.gpu
def test_torch_compile_fullgraph_static():
    """A static call hands the op output_s as its (unused) workspace too: one tensor as two mutated
    arguments, which functionalization under torch.compile must take."""
    x, q, _ = make((8, 512), torch.bfloat16)
    s = (x.float().abs().amax() / FP8_MAX * 0.7).reshape(1)
    s0 = s.clone()

    @torch.compile(fullgraph=True)
    def fn(a, b, c):
        quant(a, b, c, True)
        return c * 2

    got = fn(x, q, s)
    assert torch.equal(got, s0 * 2) and torch.equal(s, s0)
    assert_fp8_equal(q, per_tensor_reference(x, s0)[0])


@pytest.mark.gpu
def test_binding_rejects_a_tensor_on_another_device():
    x, q, s = make((4, 16), torch.bfloat16)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must be a CUDA tensor"):
        quant(x, q, s.cpu(), True)
    with pytest.raises(RuntimeError, match=rf"{OP}: workspace must be a CUDA tensor"):
        torch_op(x, q, s, False, torch.empty(16), True)


@pytest.mark.gpu
def test_binding_rejects_bad_input():
    x, q, s = make((4, 16), torch.bfloat16)
    ws = torch.empty(16, device="cuda")
    with pytest.raises(RuntimeError, match=rf"{OP}: workspace must hold at least one float32"):
        torch_op(x, q, s, False, torch.empty(0, device="cuda"), True)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_q must be float8_e4m3fn, got bfloat16"):
        torch_op(x, x.clone(), s, False, ws, True)
    with pytest.raises(RuntimeError, match=rf"{OP}: output_s must have shape \[1\] \(or \[\]\), got \[2\]"):
        torch_op(x, q, torch.empty(2, device="cuda"), False, ws, True)
    with pytest.raises(RuntimeError, match=rf"{OP}: workspace must be float32, got int32"):
        torch_op(x, q, s, False, ws.int(), True)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(16, 4096), (2048, 4096), (16384, 7168)], ids=str)
def test_the_op_allocates_the_scratch_a_large_dynamic_tensor_needs(shape):
    """Given a one-float workspace (what the wrapper passes: output_s), a tensor one CTA does not hold still
    gets the full grid's scratch from the op: the same bits as with a large workspace passed in."""
    x, q, s = make(shape, torch.bfloat16)
    torch_op(x, q, s, False, s, True)
    check_dynamic(x, q, s)
    q_big, s_big = torch.empty_like(q), torch.empty_like(s)
    torch_op(x, q_big, s_big, False, torch.empty(4096, device="cuda"), True)
    assert torch.equal(q.view(torch.uint8), q_big.view(torch.uint8)) and torch.equal(s, s_big)
