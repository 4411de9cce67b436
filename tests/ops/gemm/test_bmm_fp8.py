"""Tests of `bmm_fp8`: batched e4m3 GEMM with per-tensor scales (device scalars), against a float64 reference.

CPU tests check the schema, the fake and every refusal of the binding through CPU tensors (the op is registered for
them too and refuses the device last). GPU tests: the shapes sgl-kernel's test and sglang's MLA use (one batch per
head, K and N of 128 / 512, A a transposed [T, H, K] activation), odd sizes, the ``out`` argument, strided views, the
scales read at run time (CUDA graph replay), opcheck and torch.compile.

Tolerance as for fp8_scaled_mm (tests/ops/gemm/test_fp8_scaled_mm.py says why): ``|out - ref| <= ulp(out_dtype) *
|ref| + 2^-8 * rms(ref)``, the reference ``(A @ B) * A_scale * B_scale`` in float64 from an exact fp32 product of the
e4m3 values.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from scaled_mm_cases import OPCHECK_UTILS_FP8, OUT_DTYPES, OUT_ULP, assert_within, requires_cutlass, rms
from torch._subclasses.fake_tensor import FakeTensorMode

OP = "bmm_fp8"
FP8 = torch.float8_e4m3fn
RUN_WITHOUT_CUTLASS = ("test_without_cutlass_the_wrapper_says_how_to_build",)


@pytest.fixture(autouse=True)
def _needs_cutlass(request):
    requires_cutlass(request, RUN_WITHOUT_CUTLASS)


def torch_op():
    return torch.ops.kernelkit.bmm_fp8.default


def make_fp8(*shape, generator, scale=64.0):
    return (torch.randn(*shape, generator=generator, device="cuda") * scale).clamp(-448, 448).to(FP8)


def make_case(b, m, k, n, seed=0):
    """A [b, m, k] contiguous, B [b, k, n] column-major per batch (a transposed contiguous [b, n, k], as sgl-kernel's
    test builds it), 0-d scales (what its test passes)."""
    g = torch.Generator("cuda").manual_seed(seed)
    A = make_fp8(b, m, k, generator=g)
    B = make_fp8(b, n, k, generator=g).transpose(-2, -1)
    A_scale = (torch.rand((), generator=g, device="cuda") + 0.5) * 1e-3
    B_scale = (torch.rand((), generator=g, device="cuda") + 0.5) * 1e-3
    return A, B, A_scale, B_scale


def reference(A, B, A_scale, B_scale):
    acc = torch.bmm(A.float(), B.float()).double()  # e4m3 products are exact in fp32 (test_fp8_scaled_mm says why)
    return acc * (A_scale.double().reshape(()) * B_scale.double().reshape(()))


def check(out, ref, out_dtype):
    assert out.dtype == out_dtype
    assert_within(out, ref, rtol=OUT_ULP[out_dtype], atol=2.0**-8 * rms(ref))


def cpu_args(b=2, m=4, k=32, n=16):
    A = torch.zeros(b, m, k, dtype=FP8)
    B = torch.zeros(b, n, k, dtype=FP8).transpose(-2, -1)
    return [A, B, torch.ones(()), torch.ones(1), torch.bfloat16]


# ------------------------------------------------------------------------------------ without CUTLASS / CPU


def test_without_cutlass_the_wrapper_says_how_to_build():
    if kernelkit_ops.cutlass_enabled():
        pytest.skip("the library has the CUTLASS GEMM ops")
    message = r"bmm_fp8: kernelkit_ops was built without the CUTLASS GEMM ops"
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.bmm_fp8(*cpu_args())
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.bmm_fp8(None, None, None, None, None)


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["out", "A", "B", "A_scale", "B_scale"]
    written = [a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    assert written == ["out"]
    assert len(schema.returns) == 0


@pytest.mark.parametrize("dtype", OUT_DTYPES, ids=str)
def test_fake_impl_allocates_or_takes_out(dtype):
    with FakeTensorMode():
        A = torch.empty(16, 48, 64, dtype=FP8, device="cuda")
        B = torch.empty(16, 80, 64, dtype=FP8, device="cuda").transpose(-2, -1)
        s = torch.ones((), device="cuda")
        out = kernelkit_ops.bmm_fp8(A, B, s, s, dtype)
        assert out.shape == (16, 48, 80) and out.dtype == dtype and out.device.type == "cuda"
        given = torch.empty(16, 48, 80, dtype=torch.float16, device="cuda")
        assert kernelkit_ops.bmm_fp8(A, B, s, s, dtype, given) is given


def test_cpu_tensors_pass_every_check_then_are_refused():
    for scale_shape in [(), (1,), (1, 1)]:
        args = cpu_args()
        args[2] = torch.ones(scale_shape)
        with pytest.raises(RuntimeError, match="bmm_fp8: A must be a CUDA tensor"):
            kernelkit_ops.bmm_fp8(*args)
    args = cpu_args()
    with pytest.raises(RuntimeError, match="bmm_fp8: A must be a CUDA tensor"):
        kernelkit_ops.bmm_fp8(*args, torch.empty(2, 4, 16, dtype=torch.float16))  # out= (its dtype wins)


BAD = [
    ({0: torch.zeros(2, 4, 32, dtype=torch.bfloat16)}, "A must be float8_e4m3fn, got bfloat16"),
    (
        {1: torch.zeros(2, 16, 32, dtype=torch.float8_e5m2).transpose(-2, -1)},
        r"B must be float8_e4m3fn, got float8_e5m2 \(kernelkit's bmm_fp8 takes e4m3 operands only\)",
    ),
    ({0: torch.zeros(4, 32, dtype=FP8)}, r"A must be 3-D \[b, m, k\], got shape \[4, 32\]"),
    ({1: torch.zeros(16, 32, dtype=FP8).t()}, r"B must be 3-D \[b, k, n\]"),
    ({1: torch.zeros(3, 16, 32, dtype=FP8).transpose(-2, -1)}, r"A \[b, m, k\] and B \[b, k, n\] must share b and k"),
    ({1: torch.zeros(2, 16, 48, dtype=FP8).transpose(-2, -1)}, r"A \[b, m, k\] and B \[b, k, n\] must share b and k"),
    (
        {0: torch.zeros(2, 4, 40, dtype=FP8), 1: torch.zeros(2, 16, 40, dtype=FP8).transpose(-2, -1)},
        r"K \(A.size\(2\) = 40\) must be a multiple of 16",
    ),
    ({1: torch.zeros(2, 12, 32, dtype=FP8).transpose(-2, -1)}, r"N \(B.size\(2\) = 12\) must be a multiple of 8"),
    (
        {0: torch.zeros(2, 32, 4, dtype=FP8).transpose(-2, -1)},
        r"A must be row-major in each batch \(stride\(2\) == 1\)",
    ),
    ({1: torch.zeros(2, 32, 16, dtype=FP8)}, r"B must be column-major in each batch \(stride\(1\) == 1\)"),
    (
        {0: torch.zeros(2, 4, 40, dtype=FP8)[:, :, :32]},
        r"A's row stride \(40 elements, stride\(1\)\) must be a multiple of 16",
    ),
    (
        {1: torch.zeros(1, 16, 32, dtype=FP8).transpose(-2, -1).expand(2, 32, 16)},
        r"B's batch stride \(0 elements, stride\(0\)\) must be a positive multiple of 16",
    ),
    (
        {0: torch.zeros(2 * 4 * 32 + 4, dtype=FP8)[4:].view(2, 4, 32)},
        r"A's data must be 16-byte aligned \(TMA reads it\), got an address 4 bytes past",
    ),
    ({4: torch.float32}, r"out must be bfloat16 or float16 \(the output dtype\), got float32"),
    ({2: torch.ones((), dtype=torch.float16)}, "A_scale must be float32, got float16"),
    ({3: torch.ones(2)}, r"B_scale must hold one value \(a per-tensor scale\), got shape \[2\]"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=range(len(BAD)))
def test_binding_refuses_bad_input_by_name(change, message):
    args = cpu_args()
    for i, value in change.items():
        args[i] = value
    with pytest.raises(RuntimeError, match=f"bmm_fp8: {message}"):
        kernelkit_ops.bmm_fp8(*args)


def test_binding_refuses_a_bad_out():
    A, B, As, Bs, _ = cpu_args()
    cases = [
        (
            torch.empty(2, 4, 8, dtype=torch.bfloat16),
            r"out must have shape \[b, m, n\] = \[2, 4, 16\], got \[2, 4, 8\]",
        ),
        (torch.empty(2, 16, 4, dtype=torch.bfloat16).transpose(-2, -1), r"out must be row-major in each batch"),
        (torch.empty(2, 4, 20, dtype=torch.bfloat16)[:, :, :16], r"out's row stride \(20 elements, stride\(1\)\)"),
        (torch.empty(2, 4, 16, dtype=torch.float32), r"out must be bfloat16 or float16"),
    ]
    for out, message in cases:
        with pytest.raises(RuntimeError, match=f"bmm_fp8: {message}"):
            kernelkit_ops.bmm_fp8(A, B, As, Bs, torch.bfloat16, out)


def test_bench_model():
    from pathlib import Path

    from kernelkit.perf import harness
    from kernelkit.project import find_project

    bench = harness.load_bench(find_project(Path(__file__).resolve().parents[3]), OP)
    case = next(c for c in bench.cases if c.tokens == 128 and c.size("k") == 512)
    assert case.size("n") == 128
    # 16 heads: A [128, 512] and B [512, 128] read once (1 byte each), out [128, 128] bf16 written
    assert bench.bytes_moved(case) == 16 * (128 * 512 + 512 * 128 + 128 * 128 * 2)
    assert bench.flops(case) == 2 * 16 * 128 * 512 * 128


# ---------------------------------------------------------------------------------------------- on the GPU

SHAPES = [  # (b, m, k, n)
    (16, 48, 64, 80),  # sgl-kernel's test
    (1, 1, 16, 8),  # the smallest
    (3, 7, 48, 24),
    (16, 1, 128, 512),  # MLA decode: q_nope x w_kc per head
    (16, 7, 512, 128),  # MLA decode: attention output x w_vc
    (128, 64, 128, 512),  # 128 heads, the small-M table entry's edge
    (16, 65, 512, 128),  # just past it
    (8, 1000, 128, 512),  # prefill
    (2, 129, 272, 136),  # partial tiles everywhere
    (4, 2048, 4096, 1024),  # a long K
]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", OUT_DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(shape, dtype):
    b, m, k, n = shape
    A, B, As, Bs = make_case(b, m, k, n, seed=sum(shape))
    out = kernelkit_ops.bmm_fp8(A, B, As, Bs, dtype)
    assert out.shape == (b, m, n) and out.is_contiguous()
    check(out, reference(A, B, As, Bs), dtype)


@pytest.mark.gpu
def test_out_argument_is_written_and_returned():
    A, B, As, Bs = make_case(5, 33, 256, 200, seed=1)
    out = torch.full((5, 33, 200), float("nan"), device="cuda", dtype=torch.float16)
    assert kernelkit_ops.bmm_fp8(A, B, As, Bs, torch.bfloat16, out) is out  # out's dtype, not `dtype`, is the output's
    check(out, reference(A, B, As, Bs), torch.float16)


@pytest.mark.gpu
@pytest.mark.parametrize("tokens", [1, 9, 300])
def test_mla_layouts(tokens):
    """sglang's absorbed MLA: A is a [T, H, K] activation seen as [H, T, K] (batch stride K, row stride H * K), B a
    per-head weight made column-major by transpose(1, 2).contiguous().transpose(1, 2), the output written into a
    [T, H, N] buffer seen as [H, T, N]: every stride is a view's, none is packed."""
    heads, k, n = 16, 512, 128
    g = torch.Generator("cuda").manual_seed(tokens)
    x = make_fp8(tokens, heads, k, generator=g)
    w = make_fp8(heads, k, n, generator=g).transpose(1, 2).contiguous().transpose(1, 2)
    A = x.transpose(0, 1)
    assert A.stride() == (k, heads * k, 1) and w.stride() == (k * n, 1, k)
    As, Bs = torch.tensor([0.01], device="cuda"), torch.tensor(0.02, device="cuda")
    y = torch.full((tokens, heads, n), float("nan"), device="cuda", dtype=torch.bfloat16)
    kernelkit_ops.bmm_fp8(A, w, As, Bs, torch.bfloat16, y.transpose(0, 1))
    check(y.transpose(0, 1), reference(A, w, As, Bs), torch.bfloat16)


@pytest.mark.gpu
def test_empty_sizes():
    s = torch.ones((), device="cuda")
    for b, m, k, n in [(0, 4, 32, 16), (3, 0, 32, 16), (3, 4, 32, 0)]:
        A = torch.empty(b, m, k, dtype=FP8, device="cuda")
        B = torch.empty(b, n, k, dtype=FP8, device="cuda").transpose(-2, -1)
        out = kernelkit_ops.bmm_fp8(A, B, s, s, torch.bfloat16)
        assert out.shape == (b, m, n)
    # K = 0: an empty sum, zeros.
    A = torch.empty(3, 4, 0, dtype=FP8, device="cuda")
    B = torch.empty(3, 16, 0, dtype=FP8, device="cuda").transpose(-2, -1)
    out = torch.full((3, 4, 16), float("nan"), device="cuda", dtype=torch.float16)
    kernelkit_ops.bmm_fp8(A, B, s, s, torch.float16, out)
    assert bool((out == 0).all())


@pytest.mark.gpu
def test_opcheck():
    A, B, As, Bs = make_case(4, 40, 128, 64, seed=2)
    out = torch.empty(4, 40, 64, device="cuda", dtype=torch.bfloat16)
    a_bytes, b_bytes = A.view(torch.uint8).clone(), B.view(torch.uint8).clone()
    torch.library.opcheck(torch_op(), (out, A, B, As, Bs), test_utils=OPCHECK_UTILS_FP8)
    assert torch.equal(A.view(torch.uint8), a_bytes) and torch.equal(B.view(torch.uint8), b_bytes)


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    def layer(A, B, As, Bs):
        return kernelkit_ops.bmm_fp8(A, B, As, Bs, torch.bfloat16).float() * 2

    compiled = torch.compile(layer, fullgraph=True)
    A, B, As, Bs = make_case(8, 100, 256, 128, seed=3)
    check((compiled(A, B, As, Bs) / 2).to(torch.bfloat16), reference(A, B, As, Bs), torch.bfloat16)


@pytest.mark.gpu
def test_cuda_graph_reads_the_scales_at_every_replay():
    """The scales are device scalars read by the kernel, not values baked into the launch: a replay after the scale
    tensors change (e.g. a new per-tensor activation scale every step) uses the new values."""
    A, B, As, Bs = make_case(16, 8, 512, 128, seed=4)
    kernelkit_ops.bmm_fp8(A, B, As, Bs, torch.bfloat16)  # warm-up outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = kernelkit_ops.bmm_fp8(A, B, As, Bs, torch.bfloat16)
    for a_value, b_value, seed in [(0.003, 0.0005, 5), (0.0007, 0.002, 6)]:
        A2, B2, _, _ = make_case(16, 8, 512, 128, seed=seed)
        A.copy_(A2)
        B.copy_(B2)
        As.fill_(a_value)
        Bs.fill_(b_value)
        graph.replay()
        torch.cuda.synchronize()
        check(out, reference(A2, B2, As, Bs), torch.bfloat16)


@pytest.mark.gpu
def test_refuses_e5m2_and_cpu_scales():
    A, B, As, Bs = make_case(2, 8, 64, 16, seed=5)
    with pytest.raises(RuntimeError, match="bmm_fp8: A must be float8_e4m3fn, got float8_e5m2"):
        kernelkit_ops.bmm_fp8(A.float().to(torch.float8_e5m2), B, As, Bs, torch.bfloat16)
    with pytest.raises(RuntimeError, match="bmm_fp8: A_scale must be a CUDA tensor"):
        kernelkit_ops.bmm_fp8(A, B, As.cpu(), Bs, torch.bfloat16)
