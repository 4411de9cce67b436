"""Tests of `silu_and_mul_scaled_fp4_grouped_quant`: SiLU-and-mul, then NVFP4 of the masked MoE layout, bit for bit.

The quantized values are silu_and_mul's (fp4_reference.silu_and_mul_values: silu(g) = g / (1 + ex2.approx(g *
-log2 e)), times up, one rounding to the input dtype); from there the op is scaled_fp4_grouped_quant, sgl-kernel's
arithmetic with rcp.approx.ftz.f32 reciprocals. On the GPU the reference runs the ex2.approx and rcp.approx
instructions themselves (Triton); the CPU emulation of the kernel code takes exp2 in float64 and the correctly
rounded reciprocal instead, and so does its reference. An FP4 op: without the FP4 kernels only the wrapper's
error, the reference and the emulated kernel code run; the rest skips, saying why.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from fp4_grouped_cases import (
    DTYPES,
    FP4_SKIP_REASON,
    ROOT,
    assert_grouped_equal,
    assert_written_equal,
    build_emulator,
    compile_for_archs,
    emulate,
    global_scales_for,
    make_input,
    masks_for,
    physical,
    poison_unwritten,
    poisoned,
)
from fp4_reference import (
    LOG2E_F32,
    OUT_POISON,
    SCALE_POISON,
    block_scales_exact_division,
    ex2_approx_gpu,
    grouped_reference,
    padded_shape,
    silu_and_mul_values,
)
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "silu_and_mul_scaled_fp4_grouped_quant"
KERNEL = ROOT / "library/csrc/quantization/silu_and_mul_scaled_fp4_grouped_quant.cu"

_RUN_WITHOUT_FP4 = (
    "test_without_fp4_kernels_the_wrapper_says_how_to_build",
    "test_reference_silu_and_mul",
    "test_kernel_compiles_for_sm90a_and_sm100a",
    "test_kernel_code_on_the_cpu_matches_reference",
    "test_kernel_code_on_the_cpu_special_values",
    "test_kernel_code_on_the_cpu_follows_the_reciprocals",
    "test_bench_bytes_model",
)


@pytest.fixture(autouse=True)
def _needs_fp4_kernels(request):
    if not kernelkit_ops.fp4_enabled() and request.node.originalname not in _RUN_WITHOUT_FP4:
        pytest.skip(FP4_SKIP_REASON)


def torch_op():
    return torch.ops.kernelkit.silu_and_mul_scaled_fp4_grouped_quant.default


def run_op(x, gs, mask, *, enable_pdl=True):
    """The torch op on poisoned buffers; returns them (codes, scale bytes) as the op left them."""
    n_exp, m, n = x.shape
    out, scales = poisoned(n_exp, m, n // 2, x.device)
    torch_op()(out, scales, x, gs, mask, enable_pdl)
    return out, scales


def expected_gpu(x, gs, mask):
    """The reference on the GPU: SiLU-and-mul with the ex2.approx instruction, then the grouped quantization."""
    return grouped_reference(silu_and_mul_values(x, ex2_approx_gpu), gs, mask)


def gate_up_input(n_exp: int, m: int, k: int, dtype: torch.dtype, device: str = "cuda", seed: int = 0):
    """[experts, m, 2k] gate | up, and a global scale per expert from the SiLU-and-mul values (448 * 6 / amax)."""
    x = make_input(n_exp, m, 2 * k, dtype, device=device, seed=seed)
    return x, global_scales_for(silu_and_mul_values(x))


# ----------------------------------------------------------------------------- without FP4 kernels


def test_without_fp4_kernels_the_wrapper_says_how_to_build():
    if kernelkit_ops.fp4_enabled():
        pytest.skip("the library has the FP4 kernels")
    message = (
        rf"{NAME}: kernelkit_ops was built without FP4 kernels; "
        r"rebuild with `kernelkit build --fp4` \(CMake: -DKERNELKIT_ENABLE_FP4=ON\)"
    )
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(
            torch.randn(2, 4, 64), torch.ones(2), torch.ones(2, dtype=torch.int32)
        )
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(None, None, None)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reference_silu_and_mul(dtype):
    """The reference's SiLU-and-mul: float64 SiLU times up within one rounding to T; its special values."""
    x = make_input(2, 64, 256, dtype, device="cpu", seed=3)
    g, u = x[..., :128].double(), x[..., 128:].double()
    want = torch.nn.functional.silu(g) * u
    got = silu_and_mul_values(x)
    assert got.dtype == dtype and got.shape == (2, 64, 128)
    # one rounding to T (a unit in the last place at most), fp16 subnormals in absolute terms
    torch.testing.assert_close(got.double(), want, rtol=2 ** -(7 if dtype == torch.bfloat16 else 10), atol=2**-24)
    inf, nan = float("inf"), float("nan")
    specials = torch.tensor([[inf, -inf, nan, 0.0, -0.0, 100.0, -100.0, 1.0], [2.0, 2.0, 1.0, 3.0, 3.0, 1.0, 1.0, 0.0]])
    y = silu_and_mul_values(specials.reshape(1, 16).to(dtype)).float().flatten().tolist()
    assert y[0] == inf and str(y[1]) == "nan" and str(y[2]) == "nan"  # -inf / (1 + inf): NaN, as on the GPU
    assert y[3] == 0.0 and y[4] == 0.0 and torch.signbit(torch.tensor(y[4]))
    assert y[5] == 100.0 and y[6] == 0.0 and y[7] == 0.0
    assert LOG2E_F32 == torch.tensor(1.4426950408889634, dtype=torch.float32).item()


@pytest.mark.slow
def test_kernel_compiles_for_sm90a_and_sm100a(tmp_path):
    compile_for_archs(KERNEL, tmp_path)
    # silu_and_mul's exponential: __expf, a multiply by -log2(e) and ex2.approx.f32 (what the GPU reference runs).
    text = (tmp_path / "k90a.ptx").read_text()
    assert "ex2.approx.f32" in text and "0fBFB8AA3B" in text and "div.rn.f32" in text


# ------------------------------------------------- the kernel's own code, run on the CPU (no GPU)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    return build_emulator(tmp_path_factory.mktemp("fp4_grouped_emulator"))


EMULATED = [
    # (dtype, experts, m, k, mask, row_pad, expert_pad, offset, capacity)
    (torch.bfloat16, 1, 1, 16, [1], 0, 0, 0, 660),
    (torch.float16, 3, 100, 128, [50, 0, 100], 0, 0, 0, 660),
    (torch.bfloat16, 2, 128, 96, [128, 127], 0, 0, 0, 660),
    (torch.bfloat16, 4, 130, 48, [130, 200, -5, 1], 0, 0, 0, 660),
    (torch.bfloat16, 2, 37, 2048, [37, 20], 64, 8, 0, 660),  # strided, still 16-byte loads
    (torch.float16, 2, 37, 256, [30, 37], 5, 3, 3, 660),  # odd strides and offset: one element per load
    (torch.bfloat16, 8, 300, 128, [300, 300, 0, 0, 0, 0, 0, 299], 0, 0, 0, 5),
    (torch.float16, 2, 64, 2048, [64, 3], 0, 0, 0, 660),
]


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "n_exp", "m", "k", "mask", "row_pad", "expert_pad", "offset", "capacity"), EMULATED)
def test_kernel_code_on_the_cpu_matches_reference(
    emulator, tmp_path, dtype, n_exp, m, k, mask, row_pad, expert_pad, offset, capacity
):
    x, gs = gate_up_input(n_exp, m, k, dtype, device="cpu", seed=n_exp * 1000 + m + k)
    mask = torch.tensor(mask, dtype=torch.int32)
    out, scales = emulate(
        emulator, tmp_path, x, gs, mask, silu=True, row_pad=row_pad, expert_pad=expert_pad, offset=offset,
        capacity=capacity,
    )  # fmt: skip
    assert_grouped_equal(out, scales, *grouped_reference(silu_and_mul_values(x), gs, mask))


@pytest.mark.slow
def test_kernel_code_on_the_cpu_follows_the_reciprocals(emulator, tmp_path):
    """A case on which sgl-kernel's order of operations and exact division give other codes: the kernel's code
    takes the former (the CPU stand-in for rcp.approx on both sides)."""
    x, gs = gate_up_input(2, 37, 2048, torch.bfloat16, device="cpu", seed=2 * 1000 + 37 + 2048)
    mask = torch.tensor([37, 20], dtype=torch.int32)
    out, scales = emulate(emulator, tmp_path, x, gs, mask, silu=True, row_pad=64, expert_pad=8)
    values = silu_and_mul_values(x)
    assert_grouped_equal(out, scales, *grouped_reference(values, gs, mask))
    exact_out, _ = grouped_reference(values, gs, mask, block_scales_exact_division)
    assert int((out != exact_out).sum()) > 0


def special_input(dtype: torch.dtype, device: str) -> torch.Tensor:
    """[2, 4, 64]: gate/up pairs giving inf and NaN products, signed zeros, saturation of the exponential,
    overflow of the rounded product (fp16), and blocks of zeros."""
    x = make_input(2, 4, 64, dtype, device=device, seed=21)
    inf, nan = float("inf"), float("nan")
    x[0, 0, :8] = torch.tensor([inf, -inf, nan, 0.0, -0.0, 100.0, -100.0, 1e-30])  # gate
    x[0, 0, 32:40] = torch.tensor([2.0, 2.0, 1.0, 3.0, -3.0, 1.0, 1.0, 5.0])  # up
    x[0, 1, :16] = 300.0  # 300 * 300 = 90000: beyond fp16's range, inf after rounding
    x[0, 1, 32:48] = 300.0
    x[0, 2, 32:64] = 0.0  # up = 0: every value 0
    x[1, 3, 16:32] = nan
    return x


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_code_on_the_cpu_special_values(emulator, tmp_path, dtype):
    x = special_input(dtype, "cpu")
    for gs in (global_scales_for(silu_and_mul_values(x)), torch.tensor([0.0, float("nan")]), torch.ones(2)):
        mask = torch.tensor([4, 3], dtype=torch.int32)
        out, scales = emulate(emulator, tmp_path, x, gs, mask, silu=True)
        assert_grouped_equal(out, scales, *grouped_reference(silu_and_mul_values(x), gs, mask))


def test_bench_bytes_model():
    from pathlib import Path

    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), NAME)
    assert sorted({(c.size("experts"), c.size("hidden")) for c in b.cases}) == [(8, 4096), (32, 2048)]
    assert sorted({c.tokens for c in b.cases}) == [1, 128, 2048, 16384]
    assert {"kernelkit", "kernelkit_no_pdl", "kernelkit_unfused"} <= set(b.impls)
    case = next(c for c in b.cases if c.tokens == 2048 and c.size("experts") == 32)
    # valid rows: [gate | up] read, codes and scales (128 per row, no padding) written; masks and scales read
    assert b.bytes_moved(case) == 2048 * (2 * 2048 * 2 + 1024 + 128) + 32 * 8


# ------------------------------------------ the wrapper on fake tensors, the binding on CPU tensors


def test_schema_registered():
    schema = torch_op()._schema
    args = schema.arguments
    assert [a.name for a in args] == ["output", "output_scale", "input", "input_global_scale", "mask", "enable_pdl"]
    assert [a.name for a in args if a.alias_info is not None and a.alias_info.is_write] == ["output", "output_scale"]
    assert len(schema.returns) == 0


@pytest.mark.parametrize("shape", [(1, 1, 32), (2, 100, 256), (3, 130, 192), (0, 8, 64), (2, 0, 128), (4, 8, 0)])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fake_impl_shapes(shape, dtype):
    """The input's last dimension is 2k; the outputs are those of scaled_fp4_grouped_quant for k values."""
    n_exp, m, n = shape
    k = n // 2
    rows, cols = padded_shape(m, k)
    with FakeTensorMode():
        x = torch.empty(shape, device="cuda", dtype=dtype)
        gs = torch.ones(n_exp, device="cuda")
        mask = torch.ones(n_exp, device="cuda", dtype=torch.int32)
        out, scales = kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(x, gs, mask)
        assert out.shape == (m, k // 2, n_exp) and out.dtype == torch.uint8
        assert scales.shape == (32, 4, rows // 128, 4, cols // 4, n_exp) and scales.dtype == torch.float8_e4m3fn
        assert out.permute(2, 0, 1).is_contiguous() and scales.permute(5, 2, 4, 0, 1, 3).is_contiguous()


def _args(x_shape=(2, 4, 64), x_dtype=torch.bfloat16, gs=None, mask=None):
    n_exp = x_shape[0] if len(x_shape) == 3 else 2
    return (
        torch.randn(x_shape).to(x_dtype),
        torch.ones(n_exp) if gs is None else gs,
        torch.ones(n_exp, dtype=torch.int32) if mask is None else mask,
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _args(), "input must be a CUDA tensor"),
        (lambda: _args(x_dtype=torch.float32), "input must be one of bfloat16, float16, got float32"),
        (lambda: _args((4, 64)), r"input must be 3-D \[l, m, 2k\] \(experts, rows per expert, values\)"),
        (lambda: _args((2, 4, 48)), r"input's last dimension \(48\) must be 2k, gate then up, with k a multiple of 16"),
        (lambda: _args((2, 4, 40)), r"input's last dimension \(40\) must be 2k, gate then up"),
        (lambda: _args(gs=torch.ones(3)), r"input_global_scale must have shape \[2\] \(one per expert\), got \[3\]"),
        (lambda: _args(mask=torch.ones(2, dtype=torch.int64)), "mask must be int32, got int64"),
    ],
    ids=["cpu", "fp32", "2-d", "k-not-16", "odd-k", "gs-shape", "mask-int64"],
)
def test_wrapper_rejects_bad_input(make, message):
    with pytest.raises(RuntimeError, match=f"{NAME}: {message}"):
        kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(*make())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": torch.empty(2, 4, 32, dtype=torch.uint8)}, r"output must have shape \[2, 4, 16\]"),
        ({"output_scale": torch.empty(2, 128, 8, dtype=torch.uint8)}, r"output_scale must have shape \[2, 128, 4\]"),
    ],
    ids=["out-shape-of-2k", "scale-shape-of-2k"],
)
def test_binding_sizes_outputs_by_k_not_2k(change, message):
    args = {
        "output": torch.empty(2, 4, 16, dtype=torch.uint8),
        "output_scale": torch.empty(2, 128, 4, dtype=torch.float8_e4m3fn),
        "input": torch.randn(2, 4, 64).to(torch.bfloat16),
        "input_global_scale": torch.ones(2),
        "mask": torch.ones(2, dtype=torch.int32),
    }
    args.update(change)
    with pytest.raises(RuntimeError, match=f"{NAME}: {message}"):
        torch_op()(*args.values(), True)


# --------------------------------------------------------------------------------------- on the GPU

SHAPES = [(1, 1, 16), (2, 100, 128), (2, 128, 96), (3, 7, 48), (4, 130, 2048), (8, 33, 7168)]  # (experts, m, k)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_reference(dtype, shape):
    n_exp, m, k = shape
    x, gs = gate_up_input(n_exp, m, k, dtype, seed=n_exp * 100 + m + k)
    mask = masks_for(n_exp, m, seed=m + k)
    want = expected_gpu(x, gs, mask)
    assert_grouped_equal(*run_op(x, gs, mask), *want)
    output, output_scales = kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(x, gs, mask)
    assert output.shape == (m, k // 2, n_exp)
    assert_written_equal(*physical(output, output_scales), *want, mask)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_reference_is_silu_and_mul(dtype):
    """The reference's SiLU-and-mul (with the GPU's ex2.approx) is kernelkit_ops.silu_and_mul, bit for bit."""
    x = make_input(4, 300, 2 * 2048, dtype, seed=1)
    x[0, 0, :4] = torch.tensor([float("inf"), float("-inf"), 88.0, -88.0])
    want = kernelkit_ops.silu_and_mul(x)
    assert torch.equal(silu_and_mul_values(x, ex2_approx_gpu).view(torch.int16), want.view(torch.int16))


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(32, 100, 2048), (32, 512, 2048), (6, 6144, 2048)], ids=str)
def test_equals_grouped_quant_of_silu_and_mul(shape):
    """sgl-kernel's own test of the op: the fused op's valid rows are scaled_fp4_grouped_quant(silu_and_mul(x))'s,
    codes and scales."""
    n_exp, m, k = shape
    x = torch.randn(n_exp, m, 2 * k, device="cuda", generator=torch.Generator("cuda").manual_seed(42))
    x = x.to(torch.bfloat16)
    mask = torch.randint(1, m // 2, (n_exp,), device="cuda", dtype=torch.int32)
    y = kernelkit_ops.silu_and_mul(x)
    gs = 448.0 * 6.0 / y.abs().amax(dim=(1, 2)).float()
    want_out, want_scales = physical(*kernelkit_ops.scaled_fp4_grouped_quant(y, gs, mask))
    out, scales = physical(*kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(x, gs, mask))
    # Both come from torch.empty: compare the bytes both write.
    assert_written_equal(out, scales, *poison_unwritten(want_out, want_scales, mask), mask)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_special_values(dtype):
    x = special_input(dtype, "cuda")
    mask = torch.tensor([4, 3], device="cuda", dtype=torch.int32)
    for gs in (
        global_scales_for(silu_and_mul_values(x, ex2_approx_gpu)),
        torch.tensor([0.0, float("nan")], device="cuda"),
        torch.ones(2, device="cuda"),
    ):
        assert_grouped_equal(*run_op(x, gs, mask), *expected_gpu(x, gs, mask))


@pytest.mark.gpu
def test_no_valid_rows_and_empty_inputs_write_nothing():
    x, gs = gate_up_input(3, 40, 64, torch.bfloat16, seed=2)
    out, scales = run_op(x, gs, torch.tensor([0, -3, 0], device="cuda", dtype=torch.int32))
    assert bool((out == OUT_POISON).all()) and bool((scales == SCALE_POISON).all())
    for n_exp, m, n in ((0, 8, 64), (3, 0, 64), (3, 8, 0)):
        x = torch.empty(n_exp, m, n, device="cuda", dtype=torch.float16)
        output, output_scales = kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant(
            x, torch.ones(n_exp, device="cuda"), torch.full((n_exp,), m, device="cuda", dtype=torch.int32)
        )
        rows, cols = padded_shape(m, n // 2)
        assert output.shape == (m, n // 4, n_exp) and output_scales.shape == (32, 4, rows // 128, 4, cols // 4, n_exp)


@pytest.mark.gpu
def test_strided_and_unaligned_input():
    wide = make_input(6, 40, 2 * 2048 + 64, torch.bfloat16, seed=7)
    for x in (
        wide[:3, :, : 2 * 2048],  # row-strided, 16-byte loads
        wide[::2, :, 64:],  # expert-strided too
        wide[1:4, :, 3 : 3 + 2 * 2048],  # odd offset: one element per load
        wide[:3, ::3, : 2 * 256],  # every third row
    ):
        n_exp, m, _ = x.shape
        gs = global_scales_for(silu_and_mul_values(x, ex2_approx_gpu))
        mask = masks_for(n_exp, m, seed=3)
        assert_grouped_equal(*run_op(x, gs, mask), *expected_gpu(x.contiguous(), gs, mask))


@pytest.mark.gpu
def test_cuda_graph_reads_the_mask_on_the_device():
    n_exp, m, k = 4, 200, 256
    x_buf = torch.empty(n_exp, m, 2 * k, device="cuda", dtype=torch.bfloat16)
    gs_buf = torch.ones(n_exp, device="cuda")
    mask_buf = torch.full((n_exp,), m, device="cuda", dtype=torch.int32)
    out, scales = poisoned(n_exp, m, k, "cuda")
    x_buf.copy_(make_input(n_exp, m, 2 * k, torch.bfloat16, seed=0))
    torch_op()(out, scales, x_buf, gs_buf, mask_buf, True)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        torch_op()(out, scales, x_buf, gs_buf, mask_buf, True)
    for seed in range(3):
        x, gs = gate_up_input(n_exp, m, k, torch.bfloat16, seed=seed + 10)
        mask = masks_for(n_exp, m, seed=seed + 10)
        x_buf.copy_(x)
        gs_buf.copy_(gs)
        mask_buf.copy_(mask)
        out.fill_(OUT_POISON)
        scales.fill_(SCALE_POISON)
        graph.replay()
        assert_grouped_equal(out, scales, *expected_gpu(x, gs, mask))


@pytest.mark.gpu
def test_opcheck():
    x, gs = gate_up_input(3, 130, 256, torch.bfloat16, seed=4)
    mask = masks_for(3, 130, seed=4)
    out, scales = poisoned(3, 130, 256, "cuda")
    for pdl in (True, False):
        # the scales as their uint8 bytes (the binding takes those too): opcheck's test_schema compares arguments
        # with torch.allclose, which has no float8 kernel
        torch.library.opcheck(torch_op(), (out, scales, x, gs, mask, pdl))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    fn = torch.compile(kernelkit_ops.silu_and_mul_scaled_fp4_grouped_quant, fullgraph=True)
    x, gs = gate_up_input(4, 200, 512, torch.float16, seed=6)
    mask = masks_for(4, 200, seed=6)
    output, output_scales = fn(x, gs, mask)
    assert_written_equal(*physical(output, output_scales), *expected_gpu(x, gs, mask), mask)


@pytest.mark.gpu
def test_pdl_reads_what_the_previous_kernel_wrote():
    n_exp, m, k = 8, 256, 2048
    x, gs = gate_up_input(n_exp, m, k, torch.bfloat16, seed=8)
    mask = masks_for(n_exp, m, seed=8)
    want = expected_gpu(x, gs, mask)
    x_buf, gs_buf, mask_buf = torch.empty_like(x), torch.empty_like(gs), torch.empty_like(mask)
    for pdl in (True, False):
        x_buf.fill_(float("nan"))
        gs_buf.fill_(float("nan"))
        mask_buf.fill_(0)
        x_buf.copy_(x)
        gs_buf.copy_(gs)
        mask_buf.copy_(mask)
        assert_grouped_equal(*run_op(x_buf, gs_buf, mask_buf, enable_pdl=pdl), *want)
