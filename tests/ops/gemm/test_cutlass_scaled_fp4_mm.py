"""cutlass_scaled_fp4_mm: the NVFP4 GEMM (e2m1 operands, one e4m3 scale per 16 values along K) on CUTLASS's sm_100a
block-scaled kernel.

An FP4 CUTLASS op: its line is in CMake's fp4-cutlass-ops list, compiled only in FP4 builds (`kernelkit build --fp4`)
that find the CUTLASS headers, its kernel TU for sm_100a only. Without either feature only the wrapper's error is
testable and everything else skips, saying why.

CPU: the schema, the fake, every refusal of the binding (registered for CPU tensors too, it checks them like CUDA ones
before refusing them for not being on a GPU), the wrapper's errors, the reference itself, and that the object the FP4
build compiled from the kernel holds sm_100a SASS of the block-scaled MMA and nothing for other archs (read from the
development build after `kernelkit build --fp4`; CI builds without --fp4, never compiles the kernel, and skips it).

GPU, sm_100 only (B200/GB200; skipped elsewhere with the reason): the kernel against an fp64 reference of the
dequantized operands, ``alpha * (deq(a) @ deq(b).T)`` with ``deq(x)[r, k] = e2m1(x[r, k]) * sf[r, k // 16]``
(fp4_reference.dequantize, the scales read from the swizzled layout), on sgl-kernel's test shapes, padded M / N / K,
decode to prefill M, model shapes, strided operands, the scales scaled_fp4_quant writes, opcheck, torch.compile and
CUDA-graph capture. GPU, any other GPU (the H100): the op refuses it naming the compute capability.

Tolerance, per element: ``|out - ref| <= rtol * |ref| + 4e-3 * rms(ref)``.
* Every product e2m1 * e4m3 * e2m1 * e4m3 is exact in fp32 (2 + 4 + 2 + 4 significant bits), so the reference rounds
  nothing; rtol is the output rounding with a 2x margin (bf16 keeps 8 significant bits: 2^-9, rtol 1e-2; fp16 11:
  2^-12, rtol 2e-3).
* The absolute part covers how the tensor cores add: NVIDIA does not document the internal precision of
  tcgen05.mma.blockscaled's sums; if it aligns each chunk's products to the largest before adding, as Hopper's fp8
  wgmma does with ~14 significant bits (DeepSeek-V3 report, sec. 3.3.2), that costs ~2^-14 of each chunk's partial
  sum, ~1e-4 of rms(ref) over K <= 16384. 4e-3 * rms(ref) is a wide margin that still catches one wrong scale of a
  row (a scale e^+-1 off changes an output by >= ~3 % of rms(ref) here), a lost K slice or an unwritten element.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from kernelkit_ops import _library
from torch._subclasses.fake_tensor import FakeTensorMode

# fp4_reference (the NVFP4 layout and values, shared with the quantizers' tests) lives with tests/ops/quantization.
sys.path.append(str(Path(__file__).resolve().parents[1] / "quantization"))
import fp4_reference  # noqa: E402

NAME = "cutlass_scaled_fp4_mm"
OP = kernelkit_ops.cutlass_scaled_fp4_mm  # the wrapper under test
ROOT = Path(__file__).resolve().parents[3]
KERNEL = ROOT / "library/csrc/gemm/cutlass_scaled_fp4_mm.cu"
FP8 = torch.float8_e4m3fn
OUT_DTYPES = [torch.bfloat16, torch.float16]


def torch_op():
    """The registered op (looked up when used: it is registered only in FP4 builds with CUTLASS)."""
    return torch.ops.kernelkit.cutlass_scaled_fp4_mm.default


# Tests that need no FP4/CUTLASS build: the wrapper's errors, the reference, the bench's model, the compile check.
_RUNS_WITHOUT_THE_FEATURES = (
    "test_without_fp4_kernels_the_wrapper_says_how_to_build",
    "test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build",
    "test_reference_dequantizes_the_swizzled_layout",
    "test_bench_cases_and_bytes_model",
    "test_fp4_build_object_holds_sm100a_sass_only",
    "test_the_kernel_is_compiled_for_sm100a_whatever_the_build_archs",
)
FP4_SKIP_REASON = "kernelkit_ops was built without FP4 kernels (kernelkit build --fp4)"
CUTLASS_SKIP_REASON = "kernelkit_ops was built without the CUTLASS GEMM ops (kernelkit doctor says how to get them)"


@pytest.fixture(autouse=True)
def _needs_fp4_kernels(request):
    if not kernelkit_ops.fp4_enabled() and request.node.originalname not in _RUNS_WITHOUT_THE_FEATURES:
        pytest.skip(FP4_SKIP_REASON)


@pytest.fixture(autouse=True)
def _needs_cutlass_gemm_ops(request):
    if not kernelkit_ops.cutlass_enabled() and request.node.originalname not in _RUNS_WITHOUT_THE_FEATURES:
        pytest.skip(CUTLASS_SKIP_REASON)


def _is_sm100() -> bool:
    return torch.cuda.is_available() and torch.cuda.get_device_capability() == (10, 0)


def requires_sm100(fn):
    """A GPU test of the kernel: runs on sm_100 (B200/GB200) only; skipped with the reason elsewhere (and, like every
    GPU test, by tests/conftest.py where torch sees no GPU)."""
    other_gpu = torch.cuda.is_available() and not _is_sm100()
    fn = pytest.mark.skipif(other_gpu, reason="the kernel is sm_100a only (B200/GB200); this GPU is not sm_100")(fn)
    return pytest.mark.gpu(fn)


@pytest.fixture(autouse=True)
def _fp32_reference_without_tf32():
    """Reference matmuls in true fp32/fp64 (TF32 would round their inputs to 10 bits)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = before


# ------------------------------------------------------------------------------------------------ operands


def round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to


def random_codes(rows: int, k: int, device="cuda") -> torch.Tensor:
    """[rows, K/2] uint8: every byte value, i.e. every pair of the 16 e2m1 codes (-0 included), uniformly."""
    return torch.randint(0, 256, (rows, k // 2), dtype=torch.uint8, device=device)


def random_scales(rows: int, k: int, device="cuda") -> torch.Tensor:
    """[rows, K/16] positive e4m3 scales that differ block to block (a factor of ~e between neighbours), so a scale
    read from the wrong block shows."""
    return (torch.exp(torch.randn(rows, k // 16, device=device) * 0.5)).to(FP8)


def operands(m: int, n: int, k: int, device="cuda"):
    """(a, b, block_scale_a, block_scale_b): random codes and scales, the scales in the swizzled padded layout with
    448 (the largest e4m3) in every padding byte: a padding scale read for a real one shows in the output."""
    a, b = random_codes(m, k, device), random_codes(n, k, device)
    sa, sb = (poisoned_padding(fp4_reference.swizzle(random_scales(r, k, device)), r, k) for r in (m, n))
    return a, b, sa, sb


# 448.0 in e4m3. Finite on purpose: the tensor cores multiply the scales of the padding columns (K/16 rounded up to
# 4 blocks) with the zeros TMA fills in past K, and 0 * NaN would be NaN; scaled_fp4_quant writes 0 there.
PADDING_POISON = 0x7E


def poisoned_padding(swizzled: torch.Tensor, rows: int, k: int) -> torch.Tensor:
    """The swizzled scales with every byte that is not the scale of (row < rows, block < K/16) set to 448."""
    flat = torch.full((swizzled.numel(),), PADDING_POISON, dtype=torch.uint8, device=swizzled.device)
    offsets = fp4_reference.scale_offsets(rows, k // 16, swizzled.device).reshape(-1)
    flat[offsets] = swizzled.contiguous().view(torch.uint8).reshape(-1)[offsets]
    return flat.view(FP8).reshape(swizzled.shape)


def dequantized(codes: torch.Tensor, swizzled: torch.Tensor) -> torch.Tensor:
    """fp32 [rows, K]: e2m1 values times their e4m3 scales (exact), through fp4_reference's unswizzle."""
    return fp4_reference.dequantize(codes, swizzled, torch.ones((), device=codes.device))


def reference(a, b, sa, sb, alpha: torch.Tensor) -> torch.Tensor:
    """fp64 alpha * (deq(a) @ deq(b).T): every product exact, the sum as good as fp64."""
    return float(alpha.reshape(-1)[0]) * (dequantized(a, sa).double() @ dequantized(b, sb).double().t())


RTOL = {torch.bfloat16: 1e-2, torch.float16: 2e-3}
ATOL_OF_RMS = 4e-3


def assert_matches(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert not out.isnan().any(), "NaN in the output (an element left unwritten)"
    got = out.double()
    atol = ATOL_OF_RMS * ref.pow(2).mean().sqrt().item()
    excess = (got - ref).abs() - (RTOL[out.dtype] * ref.abs() + atol)
    worst = excess.argmax()
    row, col = divmod(worst.item(), ref.shape[1])
    assert excess.max().item() <= 0, (
        f"out[{row}, {col}] = {got.flatten()[worst].item()} vs reference {ref.flatten()[worst].item()} "
        f"(rtol {RTOL[out.dtype]}, atol {atol:.3g})"
    )


def run_into_poisoned(a, b, sa, sb, alpha, out_dtype) -> torch.Tensor:
    """The raw op into a NaN-filled out: an unwritten element stays NaN."""
    out = torch.full((a.shape[0], b.shape[0]), float("nan"), device="cuda", dtype=out_dtype)
    torch_op()(out, a, b, sa, sb, alpha)
    return out


def alpha_of(value: float = 0.37, device="cuda") -> torch.Tensor:
    return torch.tensor([value], device=device, dtype=torch.float32)


# ------------------------------------------------------------------------------------------------ CPU


def test_without_fp4_kernels_the_wrapper_says_how_to_build(monkeypatch):
    monkeypatch.setitem(_library._FEATURES, "fp4", "0")
    with pytest.raises(RuntimeError, match=rf"^{NAME}: kernelkit_ops was built without FP4 kernels; rebuild with"):
        OP(*cpu_operands(), torch.bfloat16)


def test_without_cutlass_gemm_ops_the_wrapper_says_how_to_build(monkeypatch):
    monkeypatch.setitem(_library._FEATURES, "fp4", "1")  # FP4's check comes first: let it pass
    monkeypatch.setitem(_library._FEATURES, "cutlass", "0")
    with pytest.raises(RuntimeError, match=rf"^{NAME}: kernelkit_ops was built without the CUTLASS GEMM ops.*nvidia"):
        OP(*cpu_operands(), torch.bfloat16)


def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["out", "a", "b", "block_scale_a", "block_scale_b", "alpha"]
    assert schema.arguments[0].alias_info is not None and schema.arguments[0].alias_info.is_write
    assert all(a.alias_info is None for a in schema.arguments[1:])
    assert schema.returns == []


@pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
def test_fake_returns_m_by_n(out_dtype):
    with FakeTensorMode():
        a = torch.empty(7, 2048, device="cuda", dtype=torch.uint8)
        b = torch.empty(3072, 2048, device="cuda", dtype=torch.uint8)
        sa = torch.empty(128, 256, device="cuda", dtype=FP8)
        sb = torch.empty(3072, 256, device="cuda", dtype=FP8)
        out = OP(a, b, sa, sb, torch.empty((), device="cuda"), out_dtype)
        assert out.shape == (7, 3072) and out.dtype == out_dtype and out.device.type == "cuda"


def cpu_operands(m=4, n=48, k=96):
    """Valid operands on the CPU (the binding checks them all, then refuses the device). K = 96: K/16 = 6 scale
    columns, padded to 8."""
    a = torch.zeros(m, k // 2, dtype=torch.uint8)
    b = torch.zeros(n, k // 2, dtype=torch.uint8)
    sa = torch.zeros(round_up(m, 128), round_up(k // 16, 4), dtype=FP8)
    sb = torch.zeros(round_up(n, 128), round_up(k // 16, 4), dtype=FP8)
    return a, b, sa, sb, torch.ones(1)


def misaligned(shape, dtype, offset_elems=1) -> torch.Tensor:
    """A contiguous tensor whose data starts `offset_elems` elements past a 64-byte aligned allocation."""
    numel = shape[0] * shape[1]
    return torch.zeros(numel + 64, dtype=dtype)[offset_elems : offset_elems + numel].view(*shape)


# (description, change to the valid CPU call, expected message). M = 4, N = 48, K = 96 unless changed.
def _refusals():
    u8, bf16 = torch.uint8, torch.bfloat16
    sa_ok = torch.zeros(128, 8, dtype=FP8)
    return [
        ("a_dtype", dict(a=torch.zeros(4, 48, dtype=torch.int8)), r"a must be uint8, got int8"),
        ("b_dtype", dict(b=torch.zeros(48, 48, dtype=FP8)), r"b must be uint8, got float8_e4m3fn"),
        (
            "a_1d",
            dict(a=torch.zeros(48, dtype=u8)),
            r"a must be 2-D \[M, K/2\] \(two e2m1 values per byte\), got shape",
        ),
        ("b_3d", dict(b=torch.zeros(1, 48, 48, dtype=u8)), r"b must be 2-D \[N, K/2\] \(two e2m1 values per byte\)"),
        (
            "k_mismatch",
            dict(b=torch.zeros(48, 64, dtype=u8)),
            r"a \[4, 48\] and b \[48, 64\] cannot be multiplied \(both must be \[rows, K/2\] with the same K/2\)",
        ),
        (
            "k_not_32",
            dict(a=torch.zeros(4, 40, dtype=u8), b=torch.zeros(48, 40, dtype=u8)),
            r"K = 2 \* a.size\(1\) must be a positive multiple of 32 \(16-byte rows of packed e2m1\), got 80",
        ),
        (
            "k_zero",
            dict(a=torch.zeros(4, 0, dtype=u8), b=torch.zeros(48, 0, dtype=u8)),
            r"K = 2 \* a.size\(1\) must be a positive multiple of 32 .*, got 0",
        ),
        (
            "n_not_8",
            dict(b=torch.zeros(44, 48, dtype=u8)),
            r"N = b.size\(0\) must be a multiple of 8 \(16-byte rows of out\), got 44",
        ),
        ("a_col_major", dict(a=torch.zeros(48, 4, dtype=u8).t()), r"a must be row-major \(stride\(1\) == 1\)"),
        (
            "a_row_stride",
            dict(a=torch.zeros(4, 56, dtype=u8)[:, :48]),
            r"a's row stride must be >= K/2 and a multiple of 16 bytes \(TMA rows\), got 56",
        ),
        (
            "b_row_stride",
            dict(b=torch.zeros(48, 72, dtype=u8)[:, :48]),
            r"b's row stride must be >= K/2 and a multiple of 16 bytes \(TMA rows\), got 72",
        ),
        ("a_misaligned", dict(a=misaligned((4, 48), u8)), r"a's data must be 16-byte aligned \(TMA\)"),
        ("b_misaligned", dict(b=misaligned((48, 48), u8)), r"b's data must be 16-byte aligned \(TMA\)"),
        ("sa_dtype", dict(sa=sa_ok.view(u8)), r"block_scale_a must be float8_e4m3fn, got uint8"),
        ("sb_dtype", dict(sb=torch.zeros(128, 8, dtype=bf16)), r"block_scale_b must be float8_e4m3fn, got bfloat16"),
        (
            "sa_unpadded",
            dict(sa=torch.zeros(4, 6, dtype=FP8)),
            r"block_scale_a must have the padded swizzled shape \[round_up\(M, 128\), round_up\(K/16, 4\)\] = "
            r"\[128, 8\] \(what scaled_fp4_quant returns\), got \[4, 6\]",
        ),
        (
            "sb_k_cols",
            dict(sb=torch.zeros(128, 6, dtype=FP8)),
            r"block_scale_b must have the padded swizzled shape \[round_up\(N, 128\), round_up\(K/16, 4\)\] = "
            r"\[128, 8\]",
        ),
        ("sa_1d", dict(sa=torch.zeros(1024, dtype=FP8)), r"block_scale_a must have the padded swizzled shape"),
        (
            "sa_not_contiguous",
            dict(sa=torch.zeros(8, 128, dtype=FP8).t()),
            r"block_scale_a must be contiguous \(its bytes are the 128x4 swizzled layout\), got strides \(1, 128\)",
        ),
        (
            "sb_misaligned",
            dict(sb=misaligned((128, 8), FP8, offset_elems=8)),
            r"block_scale_b's data must be 16-byte aligned \(TMA\)",
        ),
        ("alpha_dtype", dict(alpha=torch.ones(1, dtype=torch.float64)), r"alpha must be float32, got float64"),
        (
            "alpha_two",
            dict(alpha=torch.ones(2)),
            r"alpha must hold one value \(1 / \(global_scale_a \* global_scale_b\)\), got shape \[2\]",
        ),
    ]


REFUSALS = _refusals()


@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refuses_through_the_wrapper(change, message):
    a, b, sa, sb, alpha = cpu_operands()
    args = {"a": a, "b": b, "sa": sa, "sb": sb, "alpha": alpha, **change}
    with pytest.raises(RuntimeError, match=f"^{NAME}: {message}"):
        OP(args["a"], args["b"], args["sa"], args["sb"], args["alpha"], torch.bfloat16)


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (torch.empty(4, 48, dtype=torch.float32), r"out_dtype must be torch.bfloat16 or torch.float16, got float32"),
        (torch.empty(4, 48, dtype=FP8), r"out_dtype must be torch.bfloat16 or torch.float16, got float8_e4m3fn"),
        (torch.empty(4, 40, dtype=torch.bfloat16), r"out must have shape \[M, N\] = \[4, 48\], got \[4, 40\]"),
        (torch.empty(48, 4, dtype=torch.bfloat16).t(), r"out must be row-major \(stride\(1\) == 1\)"),
        (
            torch.empty(4, 52, dtype=torch.bfloat16)[:, :48],
            r"out's row stride must be >= N and a multiple of 8 elements \(16-byte TMA rows\), got 52",
        ),
        (misaligned((4, 48), torch.float16), r"out's data must be 16-byte aligned \(TMA\)"),
    ],
    ids=["fp32", "fp8", "shape", "col_major", "row_stride", "misaligned"],
)
def test_refuses_out(out, message):
    a, b, sa, sb, alpha = cpu_operands()
    with pytest.raises(RuntimeError, match=f"^{NAME}: {message}"):
        torch_op()(out, a, b, sa, sb, alpha)


def test_out_dtype_is_named_through_the_wrapper():
    with pytest.raises(RuntimeError, match=rf"^{NAME}: out_dtype must be torch.bfloat16 or torch.float16, got float32"):
        OP(*cpu_operands(), torch.float32)


@pytest.mark.parametrize(("m", "n"), [(0, 48), (1, 48), (4, 48), (150, 136), (4, 0)])
def test_valid_cpu_call_is_refused_for_the_device_only(m, n):
    """What passes every check (a 0-d alpha too, as sgl-kernel's test passes it; padded M and N) meets only the
    device check on the CPU."""
    a, b, sa, sb, _ = cpu_operands(m=m, n=n)
    with pytest.raises(RuntimeError, match=f"^{NAME}: a must be a CUDA tensor$"):
        OP(a, b, sa, sb, torch.tensor(1.0), torch.float16)


def test_reference_dequantizes_the_swizzled_layout():
    """The reference reads the scale of (row, block) where scaled_fp4_quant writes it, and the low nibble first: a
    hand-built operand (one code per row, one non-zero scale) dequantizes to the values it stands for."""
    m, k = 130, 96  # two row tiles, 6 scale blocks padded to 8 columns
    codes = torch.zeros(m, k // 2, dtype=torch.uint8)
    codes[:, 0] = 0x72  # value 0 = code 2 (1.0), value 1 = code 7 (6.0)
    codes[:, 5] = 0xF0  # value 10 = code 0 (0), value 11 = code 15 (-6.0)
    codes[129, 47] = 0x9B  # value 94 = code 11 (-1.5), value 95 = code 9 (-0.5)
    sf = torch.full((m, k // 16), 2.0).to(FP8)
    sf[129, 5] = 0.25
    deq = dequantized(codes, fp4_reference.swizzle(sf))
    assert deq.shape == (m, k)
    assert (deq[:, 0] == 2.0).all() and (deq[:, 1] == 12.0).all() and (deq[:, 11] == -12.0).all()
    assert deq[129, 94].item() == -0.375 and deq[129, 95].item() == -0.125
    assert deq[128, 94].item() == 0.0 and deq[:, 2:10].abs().sum().item() == 0.0


def test_bench_cases_and_bytes_model():
    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(ROOT), NAME)
    assert b.math == "fp8"  # judged against the fp8 tensor-core ceiling: see the bench file
    assert {c.tokens for c in b.cases} >= {1, 4096}
    case = next(c for c in b.cases if c.tokens == 4096 and (c.size("n"), c.size("k")) == (7168, 2048))
    # a and b once (half a byte a value), their e4m3 scales (one per 16, padded), alpha, bf16 out
    scales = (4096 + 7168) * (2048 // 16)
    assert b.bytes_moved(case) == (4096 + 7168) * 2048 // 2 + scales + 4 + 2 * 4096 * 7168
    assert b.flops(case) == 2 * 4096 * 7168 * 2048


# ------------------------------------------------------------------------------ CPU: the FP4 build's object


def _find_cuobjdump() -> str | None:
    from kernelkit.builder import size
    from kernelkit.errors import KernelkitError

    try:
        return size.find_cuobjdump()
    except KernelkitError:
        return None


def _built_kernel_object() -> Path | None:
    """The object `kernelkit build --fp4` compiled from the kernel (its -o in the build's compile_commands.json)."""
    import json
    import shlex

    from kernelkit.project import find_project

    commands = find_project(ROOT).build_dir / "compile_commands.json"
    if not commands.is_file():
        return None
    for entry in json.loads(commands.read_text()):
        if Path(entry["file"]).resolve() == KERNEL.resolve():
            args = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
            obj = Path(entry["directory"]) / args[args.index("-o") + 1]
            return obj if obj.is_file() else None
    return None


def test_fp4_build_object_holds_sm100a_sass_only():
    """The object an FP4 build compiled from the kernel holds sm_100a SASS with the block-scaled FP4 MMA, and no
    other arch: the default (90a) build spends no pass on code that cannot run on sm_90. Reads the object of the
    development build (`kernelkit build --fp4`); skipped without one. CI builds without --fp4, so CI never compiles
    this translation unit (90 s on 2 cores) and this test skips there."""
    obj = _built_kernel_object()
    if obj is None:
        pytest.skip("no FP4 build of the kernel in the development build (kernelkit build --fp4)")
    cuobjdump = _find_cuobjdump()
    if cuobjdump is None:
        pytest.skip("no cuobjdump (pip install nvidia-cuda-cuobjdump, or set KERNELKIT_CUOBJDUMP)")
    listed = subprocess.run([cuobjdump, "--list-elf", str(obj)], capture_output=True, text=True, check=True).stdout
    assert [line.rsplit(".", 2)[-2] for line in listed.split() if line.endswith(".cubin")] == ["sm_100a"], listed
    sass = subprocess.run([cuobjdump, "-sass", str(obj)], capture_output=True, text=True, check=True).stdout
    # tcgen05.mma with block scales on e2m1 (UTCOMMA), issued by CTA pairs (2CTA): the 2-SM NVFP4 mainloop
    assert "UTCOMMA.2CTA" in sass, "no block-scaled FP4 tensor-core MMA in the kernel's SASS"


def test_the_kernel_is_compiled_for_sm100a_whatever_the_build_archs():
    """CMake gives the fp4-cutlass-ops kernels their own -gencode (sm_100a only), not KERNELKIT_CUDA_ARCHS."""
    import re

    text = (ROOT / "library/CMakeLists.txt").read_text()
    assert 'set(KERNELKIT_FP4_GEMM_GENCODE "-gencode=arch=compute_100a,code=sm_100a")' in text
    listed = text[text.index("set(KERNELKIT_FP4_CUTLASS_OPS") :]
    assert re.search(r"^  gemm/cutlass_scaled_fp4_mm$", listed[: listed.index(")")], re.M)


# ------------------------------------------------------------------------------------------------ GPU: other GPUs


@pytest.mark.gpu
@pytest.mark.skipif(_is_sm100(), reason="this GPU is sm_100: the kernel runs here (the tests below)")
def test_other_gpus_are_refused_by_compute_capability():
    """On an H100 (9.0) or any other non-sm_100 GPU: a RuntimeError naming the compute capability, before anything is
    launched; never CUDA's "no kernel image" error. Empty calls launch nothing and return."""
    a, b, sa, sb = operands(16, 64, 128)
    major, minor = torch.cuda.get_device_capability()
    with pytest.raises(
        RuntimeError, match=rf"^{NAME}: runs on sm_100 GPUs only .*compute capability {major}\.{minor}$"
    ):
        OP(a, b, sa, sb, alpha_of(), torch.bfloat16)
    empty = OP(a[:0], b, sa[:0], sb, alpha_of(), torch.bfloat16)
    assert empty.shape == (0, 64)
    torch.cuda.synchronize()  # nothing was left broken on the stream


# ------------------------------------------------------------------------------------------------ GPU: numerics

# sgl-kernel's test shapes (M, N, K/2), padded ones included: M 150, K/2 96 (K/16 = 12 scale columns)
UPSTREAM_SHAPES = [(128, 128, 64), (128, 128, 128), (256, 128, 64), (128, 256, 128), (150, 128, 64), (128, 128, 96)]
# N x K: Llama-3 8B qkv / gate_up / down, DeepSeek-V3 fused qkv_a and a down projection
MODEL_NK = [(6144, 4096), (28672, 4096), (4096, 14336), (2112, 7168), (7168, 2048)]
MS = [1, 7, 16, 64, 128, 1000, 4096]


@requires_sm100
@pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
@pytest.mark.parametrize(("m", "n", "half_k"), UPSTREAM_SHAPES, ids=lambda v: str(v))
def test_matches_reference_upstream_shapes(m, n, half_k, out_dtype):
    a, b, sa, sb = operands(m, n, 2 * half_k)
    alpha = alpha_of()
    assert_matches(run_into_poisoned(a, b, sa, sb, alpha, out_dtype), reference(a, b, sa, sb, alpha))


@requires_sm100
@pytest.mark.parametrize(("n", "k"), MODEL_NK, ids=lambda v: str(v))
@pytest.mark.parametrize("m", MS)
def test_matches_reference_model_shapes(m, n, k):
    a, b, sa, sb = operands(m, n, k)
    alpha = alpha_of(1 / 3)
    assert_matches(run_into_poisoned(a, b, sa, sb, alpha, torch.bfloat16), reference(a, b, sa, sb, alpha))


@requires_sm100
@pytest.mark.parametrize(("m", "n", "k"), [(1, 8, 32), (3, 136, 96), (130, 264, 160), (257, 8, 224), (5, 40, 32)])
def test_padded_sizes(m, n, k):
    """M, N not multiples of 128 (nor N of 32: sgl-kernel refuses those), K / 16 not a multiple of 4: the padding rows
    and columns of the scales hold 448, which must not reach out; every element of out is written."""
    a, b, sa, sb = operands(m, n, k)
    alpha = alpha_of(2.0)
    assert_matches(run_into_poisoned(a, b, sa, sb, alpha, torch.float16), reference(a, b, sa, sb, alpha))


@requires_sm100
def test_alpha_is_read_on_the_device_and_any_shape():
    """alpha as a 0-d tensor (sgl-kernel's test) or [1], its value read by the kernel: doubling it doubles out."""
    a, b, sa, sb = operands(64, 256, 256)
    once = OP(a, b, sa, sb, torch.tensor(0.5, device="cuda"), torch.bfloat16)
    twice = OP(a, b, sa, sb, alpha_of(1.0), torch.bfloat16)
    assert torch.equal(twice, once * 2)  # a power of two: exact in bf16 (fp32's exponent range: no subnormals here)
    assert_matches(once, reference(a, b, sa, sb, torch.tensor(0.5)))


@requires_sm100
def test_strided_operands_and_out():
    """Rows of a, b from wider buffers (16-byte-multiple row strides) and an out with padded rows: each used with its
    own stride, the padding of out left alone."""
    m, n, k = 77, 512, 768
    a_buf, b_buf = random_codes(m, k + 64), random_codes(n, k + 32)
    a, b = a_buf[:, : k // 2], b_buf[:, : k // 2]
    sa = fp4_reference.swizzle(random_scales(m, k))
    sb = fp4_reference.swizzle(random_scales(n, k))
    alpha = alpha_of()
    out_buf = torch.full((m, n + 8), float("nan"), device="cuda", dtype=torch.bfloat16)
    torch_op()(out_buf[:, :n], a, b, sa, sb, alpha)
    assert_matches(out_buf[:, :n], reference(a, b, sa, sb, alpha))
    assert out_buf[:, n:].isnan().all()


@requires_sm100
@pytest.mark.parametrize("out_dtype", OUT_DTYPES, ids=str)
@pytest.mark.parametrize(("m", "n", "k"), [(1, 4096, 4096), (33, 2112, 7168), (512, 1024, 1536)])
def test_with_the_quantizers_operands(m, n, k, out_dtype):
    """End to end as sglang runs an NVFP4 linear: x and w quantized by scaled_fp4_quant with global scales
    448 * 6 / amax, alpha = 1 / (gs_x * gs_w), out = x @ w.T."""
    x = torch.randn(m, k, device="cuda", dtype=out_dtype)
    w = torch.randn(n, k, device="cuda", dtype=out_dtype) * 0.05
    gs_x = (448.0 * 6.0 / x.abs().max().float()).reshape(1)
    gs_w = (448.0 * 6.0 / w.abs().max().float()).reshape(1)
    xq, xs = kernelkit_ops.scaled_fp4_quant(x, gs_x)
    wq, ws = kernelkit_ops.scaled_fp4_quant(w, gs_w)
    alpha = 1.0 / (gs_x * gs_w)
    out = OP(xq, wq, xs, ws, alpha, out_dtype)
    assert out.shape == (m, n) and out.dtype == out_dtype and out.is_contiguous()
    ref = fp4_reference.dequantize(xq, xs, gs_x).double() @ fp4_reference.dequantize(wq, ws, gs_w).double().t()
    assert_matches(out, ref)
    # and it is the product it stands for, up to NVFP4 rounding (~10 % rms per operand: cosine ~0.99)
    exact = x.double() @ w.double().t()
    assert torch.nn.functional.cosine_similarity(out.double().flatten(), exact.flatten(), dim=0) > 0.97


@requires_sm100
def test_empty():
    a, b, sa, sb = operands(0, 256, 512)
    out = OP(a, b, sa, sb, alpha_of(), torch.float16)
    assert out.shape == (0, 256) and out.dtype == torch.float16
    a, b, sa, sb = operands(3, 0, 512)
    assert OP(a, b, sa, sb, alpha_of(), torch.bfloat16).shape == (3, 0)


@requires_sm100
def test_wrapper_returns_a_new_tensor():
    a, b, sa, sb = operands(33, 768, 512)
    alpha = alpha_of()
    out = OP(a, b, sa, sb, alpha, torch.bfloat16)
    assert out.shape == (33, 768) and out.dtype == torch.bfloat16 and out.is_contiguous()
    assert torch.equal(out, run_into_poisoned(a, b, sa, sb, alpha, torch.bfloat16))


# ------------------------------------------------------------------------------------------------ GPU: integration


@requires_sm100
def test_opcheck():
    # test_schema compares every argument before and after with torch.allclose, which has no float8 kernel: the
    # other checks run (that only out is written is checked by the poisoned / padded-out tests above).
    a, b, sa, sb = operands(16, 256, 256)
    out = torch.empty(16, 256, device="cuda", dtype=torch.bfloat16)
    torch.library.opcheck(
        torch_op(),
        (out, a, b, sa, sb, alpha_of()),
        test_utils=("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic"),
    )


@requires_sm100
def test_torch_compile_fullgraph():
    a, b, sa, sb = operands(40, 512, 512)
    alpha = alpha_of()
    compiled = torch.compile(OP, fullgraph=True)
    assert torch.equal(compiled(a, b, sa, sb, alpha, torch.bfloat16), OP(a, b, sa, sb, alpha, torch.bfloat16))


@requires_sm100
def test_cuda_graph_capture_and_replay():
    """Captured once (workspace from the graph's pool, alpha read on the device), replayed on new operand values."""
    m, n, k = 64, 1024, 1024
    a, b, sa, sb = operands(m, n, k)
    alpha = alpha_of()
    OP(a, b, sa, sb, alpha, torch.bfloat16)  # warm up outside the capture (CUTLASS sets its smem attribute)
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream), torch.cuda.graph(graph):
        out = OP(a, b, sa, sb, alpha, torch.bfloat16)
    fresh = operands(m, n, k)
    for dst, src in zip((a, b, sa, sb), fresh):
        dst.copy_(src)
    alpha.fill_(0.25)
    graph.replay()
    torch.cuda.synchronize()
    assert_matches(out, reference(a, b, sa, sb, alpha))
