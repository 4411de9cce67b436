"""Tests of `scaled_fp4_grouped_quant` (NVFP4 of the masked MoE layout), against fp4_reference bit for bit.

The arithmetic is sgl-kernel's (rcp.approx.ftz.f32 reciprocals, fp4_reference's docstring): on the GPU the
reference runs the instruction itself; the kernel code emulated on the CPU and its CPU reference both take the
correctly rounded reciprocal in its place, and check everything else bit for bit.

An FP4 op: built only with `kernelkit build --fp4`; without the FP4 kernels only the wrapper's error, the
reference and the kernel code run on the CPU (KERNELKIT_FP4_EMULATION, compiled with nvcc) are testable, and the
rest skips, saying why. Every run writes into poisoned buffers and compares all of them: the bytes of rows past
an expert's mask (and the padding rows) must keep their poison, as sgl-kernel leaves them unwritten.
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
    poisoned,
)
from fp4_reference import (
    OUT_POISON,
    SCALE_POISON,
    block_scales_exact_division,
    grouped_reference,
    padded_shape,
    quantize,
    scale_offsets,
    swizzle,
    unswizzle,
)
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "scaled_fp4_grouped_quant"
KERNEL = ROOT / "library/csrc/quantization/scaled_fp4_grouped_quant.cu"

# Need no FP4 kernels: the wrapper's error, the reference, the kernel code compiled and run on the CPU.
_RUN_WITHOUT_FP4 = (
    "test_without_fp4_kernels_the_wrapper_says_how_to_build",
    "test_reference_writes_only_valid_rows",
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
    return torch.ops.kernelkit.scaled_fp4_grouped_quant.default


def run_op(x, gs, mask, *, scale_dtype=torch.uint8, enable_pdl=True):
    """The torch op on poisoned buffers; returns them (codes, scale bytes) as the op left them."""
    n_exp, m, k = x.shape
    out, scales = poisoned(n_exp, m, k, x.device)
    buffer = scales.view(torch.int32) if scale_dtype == torch.int32 else scales.view(scale_dtype)
    torch_op()(out, buffer, x, gs, mask, enable_pdl)
    return out, scales


# ----------------------------------------------------------------------------- without FP4 kernels


def test_without_fp4_kernels_the_wrapper_says_how_to_build():
    if kernelkit_ops.fp4_enabled():
        pytest.skip("the library has the FP4 kernels")
    message = (
        rf"{NAME}: kernelkit_ops was built without FP4 kernels; "
        r"rebuild with `kernelkit build --fp4` \(CMake: -DKERNELKIT_ENABLE_FP4=ON\)"
    )
    # The FP4 error comes first, before any check of the arguments.
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_grouped_quant(torch.randn(2, 4, 32), torch.ones(2), torch.ones(2, dtype=torch.int32))
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_grouped_quant(None, None, None)


def test_reference_writes_only_valid_rows():
    """The reference itself: expert e's first valid rows hold scaled_fp4_quant's reference (codes, and scales
    with 0 in the padding columns), everything else keeps its poison."""
    x = make_input(3, 130, 48, torch.bfloat16, device="cpu", seed=1)
    gs = global_scales_for(x)
    mask = torch.tensor([0, 130, 7], dtype=torch.int32)
    out, scales = grouped_reference(x, gs, mask)
    rows, cols = padded_shape(130, 48)
    assert out.shape == (3, 130, 24) and scales.shape == (3, rows, cols) == (3, 256, 4)
    assert bool((out[0] == OUT_POISON).all()) and bool((scales[0] == SCALE_POISON).all())
    for e, v in ((1, 130), (2, 7)):
        packed, sf = quantize(x[e, :v], gs[e : e + 1])
        assert torch.equal(out[e, :v], packed) and bool((out[e, v:] == OUT_POISON).all())
        flat = scales[e].reshape(-1)
        offsets = scale_offsets(v, cols).reshape(-1)
        assert torch.equal(flat[offsets], swizzle(sf).view(torch.uint8).reshape(-1)[offsets])
        assert torch.equal(unswizzle(scales[e], v, 3).view(torch.uint8), sf.view(torch.uint8))
        assert bool((flat[scale_offsets(v, cols)[:, 3]] == 0).all())  # the padding column
        untouched = torch.ones_like(flat, dtype=torch.bool)
        untouched[offsets] = False
        assert int(untouched.sum()) == rows * cols - v * cols and bool((flat[untouched] == SCALE_POISON).all())


@pytest.mark.slow
def test_kernel_compiles_for_sm90a_and_sm100a(tmp_path):
    compile_for_archs(KERNEL, tmp_path)


# ------------------------------------------------- the kernel's own code, run on the CPU (no GPU)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    return build_emulator(tmp_path_factory.mktemp("fp4_grouped_emulator"))


EMULATED = [
    # (dtype, experts, m, k, mask, row_pad, expert_pad, offset, capacity)
    (torch.bfloat16, 1, 1, 16, [1], 0, 0, 0, 660),
    (torch.float16, 3, 100, 128, [50, 0, 100], 0, 0, 0, 660),
    (torch.bfloat16, 2, 128, 96, [128, 127], 0, 0, 0, 660),  # 6 blocks: 2 padding scale columns per row
    (torch.bfloat16, 4, 130, 48, [130, 200, -5, 1], 0, 0, 0, 660),  # past m clamps, negative is none
    (torch.bfloat16, 2, 37, 4096, [37, 20], 64, 8, 0, 660),  # row and expert strides, still 16-byte loads
    (torch.bfloat16, 2, 37, 512, [30, 37], 5, 3, 3, 660),  # odd strides and offset: one element per load
    (torch.float16, 3, 21, 96, [21, 0, 10], 4, 4, 4, 660),  # 8-byte loads
    (torch.bfloat16, 8, 300, 256, [300, 300, 0, 0, 0, 0, 0, 299], 0, 0, 0, 5),  # a one-SM grid: long row walks
    (torch.bfloat16, 5, 1000, 64, [0, 0, 1000, 0, 0], 0, 0, 0, 660),  # every token in one expert
    (torch.float16, 2, 64, 7168, [64, 3], 0, 0, 0, 660),
    (torch.bfloat16, 3, 5, 64, [0, 0, 0], 0, 0, 0, 660),  # nothing to do
]


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "n_exp", "m", "k", "mask", "row_pad", "expert_pad", "offset", "capacity"), EMULATED)
def test_kernel_code_on_the_cpu_matches_reference(
    emulator, tmp_path, dtype, n_exp, m, k, mask, row_pad, expert_pad, offset, capacity
):
    x = make_input(n_exp, m, k, dtype, device="cpu", seed=n_exp * 1000 + m + k)
    gs = global_scales_for(x)
    mask = torch.tensor(mask, dtype=torch.int32)
    out, scales = emulate(
        emulator, tmp_path, x, gs, mask, silu=False, row_pad=row_pad, expert_pad=expert_pad, offset=offset,
        capacity=capacity,
    )  # fmt: skip
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))


@pytest.mark.slow
def test_kernel_code_on_the_cpu_follows_the_reciprocals(emulator, tmp_path):
    """A case on which sgl-kernel's order of operations and exact division give other codes: the kernel's code
    takes the former (the CPU stand-in for rcp.approx on both sides)."""
    x = make_input(2, 37, 512, torch.bfloat16, device="cpu", seed=2 * 1000 + 37 + 512)
    gs = global_scales_for(x)
    mask = torch.tensor([30, 37], dtype=torch.int32)
    out, scales = emulate(emulator, tmp_path, x, gs, mask, silu=False, row_pad=5, expert_pad=3, offset=3)
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))
    exact_out, _ = grouped_reference(x, gs, mask, block_scales_exact_division)
    assert int((out != exact_out).sum()) > 0


def special_input(dtype: torch.dtype, device: str) -> torch.Tensor:
    """[6, 128] rows of zeros, -0, NaN, +-inf, underflow and the e2m1 ties (at scale 1)."""
    x = make_input(1, 6, 128, dtype, device=device, seed=11)[0]
    x[0, :] = 0
    x[1, 32:48] = -0.0
    x[2, 3] = float("nan")
    x[2, 40] = float("inf")
    x[2, 70] = float("-inf")
    x[3, 48:64] = float("nan")
    x[4, 0:16] = torch.tensor([1e-30] * 8 + [-1e-30] * 8)
    x[5, 0:16] = torch.tensor(
        [6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, -6.0]
    )
    return x


SPECIAL_SCALES = [None, 1.0, 0.37, 3e4, -1.0, 0.0, float("inf"), float("nan")]  # None: 448 * 6 / amax


def special_case(dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One expert per global scale (the sane one, e4m3 saturation, subnormal and zero block scales, and the
    ones no caller should pass, which the formula still defines), each with the special rows."""
    rows = special_input(dtype, device)
    x = rows.unsqueeze(0).repeat(len(SPECIAL_SCALES), 1, 1)
    sane = float(global_scales_for(x[:1])[0])
    gs = torch.tensor([sane if v is None else v for v in SPECIAL_SCALES], dtype=torch.float32, device=device)
    mask = torch.full((len(SPECIAL_SCALES),), 6, dtype=torch.int32, device=device)
    return x, gs, mask


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_code_on_the_cpu_special_values(emulator, tmp_path, dtype):
    x, gs, mask = special_case(dtype, "cpu")
    out, scales = emulate(emulator, tmp_path, x, gs, mask, silu=False)
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))
    assert out[0, 1, 16:24].tolist() == [0x88] * 8 and out[0, 3, 24:32].tolist() == [0x77] * 8
    for e in range(len(SPECIAL_SCALES)):  # an all-NaN block's scale is NaN (sgl-kernel's maximum), whatever gs
        assert unswizzle(scales[e], 6, 8)[3, 3].float().isnan()


def test_bench_bytes_model():
    from pathlib import Path

    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), NAME)
    assert sorted({(c.size("experts"), c.size("hidden")) for c in b.cases}) == [(8, 4096), (32, 7168)]
    assert sorted({c.tokens for c in b.cases}) == [1, 128, 2048, 16384]
    case = next(c for c in b.cases if c.tokens == 2048 and c.size("experts") == 32)
    # valid rows: input read, codes and scales (448 per row, no padding) written; masks and scales read
    assert b.bytes_moved(case) == 2048 * (7168 * 2 + 3584 + 448) + 32 * 8


# ------------------------------------------ the wrapper on fake tensors, the binding on CPU tensors


def test_schema_registered():
    schema = torch_op()._schema
    args = schema.arguments
    assert [a.name for a in args] == ["output", "output_scale", "input", "input_global_scale", "mask", "enable_pdl"]
    assert [a.name for a in args if a.alias_info is not None and a.alias_info.is_write] == ["output", "output_scale"]
    assert len(schema.returns) == 0


@pytest.mark.parametrize("shape", [(1, 1, 16), (2, 100, 128), (3, 130, 96), (0, 8, 32), (2, 0, 64), (4, 8, 0)])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fake_impl_shapes(shape, dtype):
    """sgl-kernel's return convention: codes (m, k / 2, l) and scales (32, 4, rm, 4, rk, l), both permutes of
    contiguous physical tensors (l, m, k / 2) and (l, rm, rk, 32, 4, 4)."""
    n_exp, m, k = shape
    rows, cols = padded_shape(m, k)
    with FakeTensorMode():
        x = torch.empty(shape, device="cuda", dtype=dtype)
        gs = torch.ones(n_exp, device="cuda")
        mask = torch.ones(n_exp, device="cuda", dtype=torch.int32)
        out, scales = kernelkit_ops.scaled_fp4_grouped_quant(x, gs, mask)
        assert out.shape == (m, k // 2, n_exp) and out.dtype == torch.uint8 and out.device.type == "cuda"
        assert scales.shape == (32, 4, rows // 128, 4, cols // 4, n_exp) and scales.dtype == torch.float8_e4m3fn
        assert out.permute(2, 0, 1).is_contiguous() and scales.permute(5, 2, 4, 0, 1, 3).is_contiguous()


# The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then refuses
# them by name, so every check runs here, through the wrapper, without a GPU.
def _args(x_shape=(2, 4, 32), x_dtype=torch.bfloat16, gs=None, mask=None):
    x = torch.randn(x_shape).to(x_dtype) if x_dtype.is_floating_point else torch.zeros(x_shape, dtype=x_dtype)
    return (
        x,
        torch.ones(x_shape[0] if len(x_shape) == 3 else 2) if gs is None else gs,
        torch.ones(x_shape[0] if len(x_shape) == 3 else 2, dtype=torch.int32) if mask is None else mask,
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _args(), "input must be a CUDA tensor"),
        (lambda: _args((2, 0, 32)), "input must be a CUDA tensor"),
        (lambda: _args(x_dtype=torch.float32), "input must be one of bfloat16, float16, got float32"),
        (lambda: _args((4, 32)), r"input must be 3-D \[l, m, k\] \(experts, rows per expert, values\), got shape"),
        (lambda: _args((2, 4, 40)), r"input's last dimension \(40\) must be a multiple of 16"),
        (
            lambda: (torch.empty_strided((2, 4, 32), (256, 64, 2), dtype=torch.bfloat16), torch.ones(2),
                     torch.ones(2, dtype=torch.int32)),
            r"input must be contiguous in its last dimension \(stride 2\)",
        ),
        (lambda: _args((4097, 1, 16)), "input has 4097 experts; at most 4096 are supported"),
        (lambda: _args(gs=torch.ones(3)), r"input_global_scale must have shape \[2\] \(one per expert\), got \[3\]"),
        (lambda: _args(gs=torch.ones(1)), r"input_global_scale must have shape \[2\] \(one per expert\), got \[1\]"),
        (lambda: _args(gs=torch.ones(2, dtype=torch.float16)), "input_global_scale must be float32, got float16"),
        (lambda: _args(gs=torch.ones(4)[::2]), "input_global_scale must be contiguous"),
        (lambda: _args(mask=torch.ones(2, dtype=torch.int64)), "mask must be int32, got int64"),
        (lambda: _args(mask=torch.ones(1, 2, dtype=torch.int32)), r"mask must have shape \[2\] \(valid rows"),
        (lambda: _args(mask=torch.ones(4, dtype=torch.int32)[::2]), "mask must be contiguous"),
    ],
    ids=[
        "cpu", "cpu-empty", "fp32", "2-d", "k-not-16", "strided-last-dim", "too-many-experts", "gs-shape",
        "gs-one-value", "gs-fp16", "gs-strided", "mask-int64", "mask-2-d", "mask-strided",
    ],
)  # fmt: skip
def test_wrapper_rejects_bad_input(make, message):
    with pytest.raises(RuntimeError, match=f"{NAME}: {message}"):
        kernelkit_ops.scaled_fp4_grouped_quant(*make())


def test_wrapper_rejects_a_non_tensor_scale():
    message = r"Expected a value of type 'Tensor' for argument 'input_global_scale' but instead found type 'float'"
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_grouped_quant(
            torch.empty(2, 4, 32, dtype=torch.bfloat16), 1.0, torch.ones(2, dtype=torch.int32)
        )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": torch.empty(2, 4, 15, dtype=torch.uint8)}, r"output must have shape \[2, 4, 16\]"),
        ({"output": torch.empty(2, 4, 16, dtype=torch.int8)}, "output must be uint8, got int8"),
        ({"output": torch.empty(2, 16, 4, dtype=torch.uint8).transpose(1, 2)}, "output must be contiguous"),
        ({"output_scale": torch.empty(2, 128, 3, dtype=torch.uint8)}, r"output_scale must have shape \[2, 128, 4\]"),
        ({"output_scale": torch.empty(2, 4, 4, dtype=torch.uint8)}, r"output_scale must have shape \[2, 128, 4\]"),
        ({"output_scale": torch.empty(2, 128, 4)}, "output_scale must be float8_e4m3fn"),
        ({"output_scale": torch.empty(2, 128, 4, dtype=torch.int32)}, r"output_scale must have shape \[2, 128, 1\]"),
        (
            {"output_scale": torch.empty(2, 4, 128, dtype=torch.float8_e4m3fn).transpose(1, 2)},
            "output_scale must be contiguous",
        ),
    ],
    ids=[
        "out-shape", "out-dtype", "out-strided", "scale-cols", "scale-rows", "scale-dtype", "scale-int32",
        "scale-strided",
    ],
)  # fmt: skip
def test_binding_rejects_bad_outputs(change, message):
    args = {
        "output": torch.empty(2, 4, 16, dtype=torch.uint8),
        "output_scale": torch.empty(2, 128, 4, dtype=torch.float8_e4m3fn),
        "input": torch.randn(2, 4, 32).to(torch.bfloat16),
        "input_global_scale": torch.ones(2),
        "mask": torch.ones(2, dtype=torch.int32),
    }
    args.update(change)
    with pytest.raises(RuntimeError, match=f"{NAME}: {message}"):
        torch_op()(*args.values(), True)


def test_binding_accepts_every_scale_buffer_dtype_up_to_the_device_check():
    """float8_e4m3fn, uint8 [l, padded_m, padded_k] and sgl-kernel's int32 [l, padded_m, padded_k / 4] pass
    every check but the CPU one."""
    x, gs, mask = torch.randn(2, 4, 32).to(torch.bfloat16), torch.ones(2), torch.ones(2, dtype=torch.int32)
    out = torch.empty(2, 4, 16, dtype=torch.uint8)
    for scales in (
        torch.empty(2, 128, 4, dtype=torch.float8_e4m3fn),
        torch.empty(2, 128, 4, dtype=torch.uint8),
        torch.empty(2, 128, 1, dtype=torch.int32),
    ):
        with pytest.raises(RuntimeError, match=f"{NAME}: input must be a CUDA tensor"):
            torch_op()(out, scales, x, gs, mask, False)


# --------------------------------------------------------------------------------------- on the GPU

SHAPES = [(1, 1, 16), (2, 100, 128), (2, 128, 96), (3, 7, 48), (4, 130, 4096), (2, 512, 2048), (8, 33, 7168)]


@pytest.mark.gpu
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_reference(dtype, shape):
    n_exp, m, k = shape
    x = make_input(n_exp, m, k, dtype, seed=n_exp * 100 + m + k)
    gs = global_scales_for(x)
    mask = masks_for(n_exp, m, seed=m + k)
    want = grouped_reference(x, gs, mask)
    # The op into poisoned buffers: the valid rows' bytes as the reference, every other byte untouched.
    out, scales = run_op(x, gs, mask)
    assert_grouped_equal(out, scales, *want)
    # The wrapper: sgl-kernel's views of fresh (torch.empty) buffers, whose valid rows hold the same bytes.
    output, output_scales = kernelkit_ops.scaled_fp4_grouped_quant(x, gs, mask)
    assert output.shape == (m, k // 2, n_exp) and output_scales.shape[:2] == (32, 4) and output_scales.shape[5] == n_exp
    assert_written_equal(*physical(output, output_scales), *want, mask)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(2, 512, 2048), (2, 100, 128), (2, 128, 96)], ids=str)
def test_each_expert_equals_scaled_fp4_quant(shape):
    """sgl-kernel's own test of the op: expert i's rows below mask[i] are scaled_fp4_quant(x[i], gs[i])'s,
    codes and (unswizzled) scales."""
    n_exp, m, k = shape
    x = torch.randn(shape, device="cuda", generator=torch.Generator("cuda").manual_seed(42)).to(torch.bfloat16)
    mask = torch.randint(1, m // 2, (n_exp,), device="cuda", dtype=torch.int32)
    gs = 448.0 * 6.0 / x.abs().amax(dim=(1, 2)).float()
    output, output_scales = kernelkit_ops.scaled_fp4_grouped_quant(x, gs, mask)
    out, scales = physical(output, output_scales)
    for i in range(n_exp):
        v = int(mask[i])
        ref_out, ref_scales = kernelkit_ops.scaled_fp4_quant(x[i], gs[i])
        assert torch.equal(out[i, :v], ref_out[:v])
        got = unswizzle(scales[i], m, k // 16)[:v].view(torch.uint8)
        assert torch.equal(got, unswizzle(ref_scales, m, k // 16)[:v].view(torch.uint8))


@pytest.mark.gpu
def test_large():
    n_exp, m, k = 32, 768, 7168
    x = make_input(n_exp, m, k, torch.bfloat16, seed=5)
    gs = global_scales_for(x)
    mask = masks_for(n_exp, m, seed=5)
    out, scales = run_op(x, gs, mask)
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))


@pytest.mark.gpu
@pytest.mark.parametrize(("n_exp", "m", "k"), [(257, 3, 32), (600, 2, 64), (4096, 1, 16)], ids=str)
def test_many_experts(n_exp, m, k):
    """More experts than a CTA has threads: each CTA's row offsets take several scan passes (shared memory holds
    all 4096 at the limit)."""
    x = make_input(n_exp, m, k, torch.bfloat16, seed=n_exp)
    gs = global_scales_for(x)
    mask = torch.randint(-1, m + 2, (n_exp,), device="cuda", dtype=torch.int32)
    assert_grouped_equal(*run_op(x, gs, mask), *grouped_reference(x, gs, mask))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_special_values(dtype):
    x, gs, mask = special_case(dtype, "cuda")
    out, scales = run_op(x, gs, mask)
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))
    assert out[0, 1, 16:24].tolist() == [0x88] * 8 and out[0, 3, 24:32].tolist() == [0x77] * 8  # -0, all-NaN
    assert unswizzle(scales[0], 6, 8)[3, 3].float().isnan()  # the all-NaN block's scale, as sgl-kernel's
    assert unswizzle(scales[0], 6, 8)[2, 2].float() == 448.0  # the block with +inf


@pytest.mark.gpu
def test_no_valid_rows_and_empty_inputs_write_nothing():
    x = make_input(3, 40, 64, torch.bfloat16, seed=2)
    gs = global_scales_for(x)
    out, scales = run_op(x, gs, torch.tensor([0, -3, 0], device="cuda", dtype=torch.int32))
    assert bool((out == OUT_POISON).all()) and bool((scales == SCALE_POISON).all())
    for shape in ((0, 8, 64), (3, 0, 64), (3, 8, 0)):
        n_exp, m, k = shape
        x = torch.empty(shape, device="cuda", dtype=torch.bfloat16)
        output, output_scales = kernelkit_ops.scaled_fp4_grouped_quant(
            x, torch.ones(n_exp, device="cuda"), torch.full((n_exp,), m, device="cuda", dtype=torch.int32)
        )
        rows, cols = padded_shape(m, k)
        assert output.shape == (m, k // 2, n_exp) and output_scales.shape == (32, 4, rows // 128, 4, cols // 4, n_exp)


@pytest.mark.gpu
def test_strided_and_unaligned_input():
    wide = make_input(6, 40, 4096 + 64, torch.bfloat16, seed=7)
    for x in (
        wide[:3, :, :4096],  # row-strided, 16-byte loads
        wide[::2, :, 64:],  # expert-strided too
        wide[:3, :, 8:4104],  # 8 elements in: 16-byte aligned
        wide[1:4, :, 3:4099],  # odd offset: one element per load
        wide[:3, ::3, :512],  # every third row
    ):
        n_exp, m, _ = x.shape
        gs = global_scales_for(x)
        mask = masks_for(n_exp, m, seed=3)
        out, scales = run_op(x, gs, mask)
        assert_grouped_equal(out, scales, *grouped_reference(x.contiguous(), gs, mask))


@pytest.mark.gpu
def test_sgl_int32_scale_buffer():
    """sgl-kernel's wrapper hands its op an int32 [l, padded_m, padded_k / 4] buffer."""
    x = make_input(3, 130, 7168, torch.bfloat16, seed=2)
    gs = global_scales_for(x)
    mask = masks_for(3, 130, seed=2)
    out, scales = run_op(x, gs, mask, scale_dtype=torch.int32)
    assert_grouped_equal(out, scales, *grouped_reference(x, gs, mask))


@pytest.mark.gpu
def test_cuda_graph_reads_the_mask_on_the_device():
    """Captured once, replayed with other masks and inputs: the valid rows follow the mask tensor's contents
    (no host copy of it anywhere)."""
    n_exp, m, k = 4, 200, 256
    x_buf = torch.empty(n_exp, m, k, device="cuda", dtype=torch.bfloat16)
    gs_buf = torch.empty(n_exp, device="cuda")
    mask_buf = torch.empty(n_exp, device="cuda", dtype=torch.int32)
    out, scales = poisoned(n_exp, m, k, "cuda")
    x_buf.copy_(make_input(n_exp, m, k, torch.bfloat16, seed=0))
    gs_buf.copy_(global_scales_for(x_buf))
    mask_buf.fill_(m)
    torch_op()(out, scales, x_buf, gs_buf, mask_buf, True)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        torch_op()(out, scales, x_buf, gs_buf, mask_buf, True)
    for seed in range(3):
        x = make_input(n_exp, m, k, torch.bfloat16, seed=seed + 10)
        mask = masks_for(n_exp, m, seed=seed + 10)
        x_buf.copy_(x)
        gs_buf.copy_(global_scales_for(x))
        mask_buf.copy_(mask)
        out.fill_(OUT_POISON)
        scales.fill_(SCALE_POISON)
        graph.replay()
        assert_grouped_equal(out, scales, *grouped_reference(x, gs_buf, mask))


@pytest.mark.gpu
def test_opcheck():
    x = make_input(3, 130, 256, torch.bfloat16, seed=4)
    gs = global_scales_for(x)
    mask = masks_for(3, 130, seed=4)
    out, scales = poisoned(3, 130, 256, "cuda")
    for pdl in (True, False):
        # the scales as their uint8 bytes (the binding takes those too): opcheck's test_schema compares arguments
        # with torch.allclose, which has no float8 kernel
        torch.library.opcheck(torch_op(), (out, scales, x, gs, mask, pdl))


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    fn = torch.compile(kernelkit_ops.scaled_fp4_grouped_quant, fullgraph=True)
    x = make_input(4, 200, 1024, torch.bfloat16, seed=6)
    gs = global_scales_for(x)
    mask = masks_for(4, 200, seed=6)
    output, output_scales = fn(x, gs, mask)
    assert_written_equal(*physical(output, output_scales), *grouped_reference(x, gs, mask), mask)


@pytest.mark.gpu
def test_pdl_reads_what_the_previous_kernel_wrote():
    """With PDL the launch overlaps the previous kernel; griddepcontrol.wait must still see its writes (input,
    global scales and mask written by copies right before)."""
    n_exp, m, k = 8, 256, 4096
    x = make_input(n_exp, m, k, torch.bfloat16, seed=8)
    gs = global_scales_for(x)
    mask = masks_for(n_exp, m, seed=8)
    want = grouped_reference(x, gs, mask)
    x_buf, gs_buf, mask_buf = torch.empty_like(x), torch.empty_like(gs), torch.empty_like(mask)
    for pdl in (True, False):
        x_buf.fill_(float("nan"))
        gs_buf.fill_(float("nan"))
        mask_buf.fill_(0)
        x_buf.copy_(x)
        gs_buf.copy_(gs)
        mask_buf.copy_(mask)
        assert_grouped_equal(*run_op(x_buf, gs_buf, mask_buf, enable_pdl=pdl), *want)


@pytest.mark.gpu
def test_binding_rejects_tensors_on_other_devices():
    x = torch.randn(2, 4, 32, device="cuda", dtype=torch.bfloat16)
    mask = torch.ones(2, device="cuda", dtype=torch.int32)
    with pytest.raises(RuntimeError, match=f"{NAME}: input_global_scale must be a CUDA tensor"):
        kernelkit_ops.scaled_fp4_grouped_quant(x, torch.ones(2), mask)
    with pytest.raises(RuntimeError, match=f"{NAME}: mask must be a CUDA tensor"):
        kernelkit_ops.scaled_fp4_grouped_quant(x, torch.ones(2, device="cuda"), mask.cpu())
