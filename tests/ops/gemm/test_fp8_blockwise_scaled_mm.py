"""fp8_blockwise_scaled_mm: DeepSeek-V3 blockwise fp8 GEMM (1 x 128 activation groups, 128 x 128 weight blocks).

CPU: the schema, the fake, every refusal of the binding (it is registered for CPU tensors too and checks them like
CUDA ones before refusing them for not being on a GPU), and the wrapper's error in a build without CUTLASS.

GPU: the kernel against an fp32 reference of the dequantized operands, ``(a * sa) @ (b * sb)`` with each scale
spread over its block; M from 1 (decode) to 4096, DeepSeek-V3's projection shapes, both output dtypes, every scale
layout the op takes (in place or repacked: the results must be bit-identical), the quantizer's own scales, strided
operands, a partial last weight block, one K block, M = 0, opcheck, torch.compile, CUDA-graph capture.

Tolerance, per element: ``|out - ref| <= rtol * |ref| + 4e-3 * rms(ref)``.
* rtol is the output rounding with a 2x margin: bf16 keeps 8 significant bits (relative rounding error <= 2^-9,
  rtol 1e-2), fp16 11 (<= 2^-12, rtol 2e-3); the reference is fp32 and rounds nothing.
* the absolute part covers what the tensor cores lose before rounding: inside each 128-deep K block wgmma
  accumulates fp8 products with ~14 significant bits (DeepSeek-V3 report, sec. 3.3.2), then the block is scaled
  and added in fp32. That costs ~4 x 2^-14 of each block's partial sum, random in sign across blocks: ~2.5e-4 of
  rms(ref) per element, so 4e-3 * rms(ref) is a ~16x margin that still catches a scale of the wrong block, a lost
  K block (>= 1/sqrt(K/128) of rms(ref), >= 9 % here) or an unwritten row.
"""

from __future__ import annotations

import kernelkit_ops
import pytest
import torch
from kernelkit_ops import _library
from torch._subclasses.fake_tensor import FakeTensorMode

NAME = "fp8_blockwise_scaled_mm"
OP = kernelkit_ops.fp8_blockwise_scaled_mm
FP8 = torch.float8_e4m3fn
BLOCK = 128

requires_cutlass = pytest.mark.skipif(
    not kernelkit_ops.cutlass_enabled(),
    reason="kernelkit_ops was built without the CUTLASS GEMM ops (no CUTLASS headers): the op is not registered",
)


def requires_sm90(fn):
    """A GPU test of the sm_90 kernel: skipped with the reason in a build without CUTLASS or on another GPU (and,
    like every GPU test, by tests/conftest.py where torch sees no GPU)."""
    other_gpu = torch.cuda.is_available() and torch.cuda.get_device_capability() != (9, 0)
    fn = pytest.mark.skipif(other_gpu, reason="the kernel is sm_90 (H100/H200) only")(fn)
    fn = requires_cutlass(fn)
    return pytest.mark.gpu(fn)


def torch_op():
    return torch.ops.kernelkit.fp8_blockwise_scaled_mm.default


# ------------------------------------------------------------------------------------------------ operands


def cdiv(a: int, b: int) -> int:
    return -(a // -b)


def random_fp8(rows: int, cols: int, device="cuda") -> torch.Tensor:
    """Random e4m3 values, none zero-heavy: normals times 2, so most land in [-8, 8] with e4m3's full precision."""
    return (torch.randn(rows, cols, device=device) * 2).to(FP8)


def random_scales(rows: int, cols: int, device="cuda") -> torch.Tensor:
    """Positive scales that differ block to block (a factor of ~e between neighbours): a scale applied to the wrong
    block shows."""
    return torch.exp(torch.randn(rows, cols, device=device) * 0.5) * 1e-2


def scales_a_in(values: torch.Tensor, layout: str) -> torch.Tensor:
    """scales_a [M, K/128] with `values`, in one of the layouts callers pass.

    col:  torch.empty(K/128, M).T: sgl_per_token_group_quant_fp8's column-major scales (in place when M % 4 == 0)
    tma:  the same with the M stride padded to a multiple of 4 (plus 4): its TMA-aligned scales (always in place)
    row:  contiguous [M, K/128]: its default row-major scales (repacked)
    bcast: one row expanded over M (stride 0; repacked)
    """
    m, kb = values.shape
    if layout == "row":
        return values.clone()
    if layout == "col":
        return values.t().contiguous().t()
    if layout == "tma":
        buf = torch.full((kb, (m + 3) // 4 * 4 + 4), float("nan"), device=values.device)
        buf[:, :m] = values.t()
        return buf[:, :m].t()
    if layout == "bcast":
        return values[:1].expand(m, kb)
    raise ValueError(layout)


def scales_b_in(values: torch.Tensor, layout: str) -> torch.Tensor:
    """scales_b [K/128, ceil(N/128)] with `values`.

    sgl:   weight_scale_inv.t() of a contiguous [ceil(N/128), K/128] weight scale (stride(0) == 1; in place)
    nmajor: contiguous [K/128, ceil(N/128)] (repacked)
    bcast: one K block expanded (stride 0 along K; repacked)
    """
    kb, nb = values.shape
    if layout == "sgl":
        return values.t().contiguous().t()
    if layout == "nmajor":
        return values.clone()
    if layout == "bcast":
        return values[:1].expand(kb, nb)
    raise ValueError(layout)


def operands(m: int, n: int, k: int, a_layout="col", b_layout="sgl"):
    """(mat_a [M, K], mat_b [K, N] column-major, scales_a, scales_b) as sglang passes them."""
    kb, nb = k // BLOCK, cdiv(n, BLOCK)
    a = random_fp8(m, k)
    b = random_fp8(n, k).t()  # w.t() of a contiguous [N, K] weight
    return a, b, scales_a_in(random_scales(m, kb), a_layout), scales_b_in(random_scales(kb, nb), b_layout)


def reference(a: torch.Tensor, b: torch.Tensor, sa: torch.Tensor, sb: torch.Tensor) -> torch.Tensor:
    """fp32 (a * sa) @ (b * sb), each scale spread over its 1 x 128 / 128 x 128 block."""
    n = b.shape[1]
    a_deq = a.float() * sa.float().repeat_interleave(BLOCK, dim=1)
    sb_full = sb.float().repeat_interleave(BLOCK, dim=0).repeat_interleave(BLOCK, dim=1)[:, :n]
    return a_deq @ (b.float() * sb_full)


RTOL = {torch.bfloat16: 1e-2, torch.float16: 2e-3}
ATOL_OF_RMS = 4e-3


def assert_matches(out: torch.Tensor, ref: torch.Tensor) -> None:
    assert not out.isnan().any(), "NaN in the output (an element left unwritten, or NaN scales read)"
    got = out.float()
    atol = ATOL_OF_RMS * ref.pow(2).mean().sqrt().item()
    excess = (got - ref).abs() - (RTOL[out.dtype] * ref.abs() + atol)
    worst = excess.argmax()
    row, col = divmod(worst.item(), ref.shape[1])
    assert excess.max().item() <= 0, (
        f"out[{row}, {col}] = {got.flatten()[worst].item()} vs reference {ref.flatten()[worst].item()} "
        f"(rtol {RTOL[out.dtype]}, atol {atol:.3g})"
    )


def run_into_poisoned(a, b, sa, sb, out_dtype) -> torch.Tensor:
    """The raw op into a NaN-filled out: an unwritten element stays NaN."""
    out = torch.full((a.shape[0], b.shape[1]), float("nan"), device="cuda", dtype=out_dtype)
    torch_op()(out, a, b, sa, sb)
    return out


@pytest.fixture(autouse=True)
def _fp32_reference_without_tf32():
    """The reference matmul in true fp32 (TF32 would round its inputs to 10 bits)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = before


# ------------------------------------------------------------------------------------------------ CPU


@requires_cutlass
def test_schema_registered():
    schema = torch_op()._schema
    assert [a.name for a in schema.arguments] == ["out", "mat_a", "mat_b", "scales_a", "scales_b"]
    assert schema.arguments[0].alias_info is not None and schema.arguments[0].alias_info.is_write
    assert all(a.alias_info is None for a in schema.arguments[1:])
    assert schema.returns == []


@requires_cutlass
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16])
def test_fake_returns_m_by_n(out_dtype):
    with FakeTensorMode():
        a = torch.empty(7, 7168, device="cuda", dtype=FP8)
        b = torch.empty(2112, 7168, device="cuda", dtype=FP8).t()
        sa = torch.empty(56, 7, device="cuda").t()
        sb = torch.empty(17, 56, device="cuda").t()
        out = OP(a, b, sa, sb, out_dtype)
        assert out.shape == (7, 2112) and out.dtype == out_dtype and out.device.type == "cuda"


def cpu_operands(m=4, n=384, k=256):
    """Valid operands on the CPU (the binding checks them all, then refuses the device)."""
    a = torch.zeros(m, k, dtype=FP8)
    b = torch.zeros(n, k, dtype=FP8).t()
    sa = torch.ones(k // BLOCK, m).t()
    sb = torch.ones(cdiv(n, BLOCK), k // BLOCK).t()
    return a, b, sa, sb


def misaligned(shape, dtype, offset_elems=1) -> torch.Tensor:
    """A contiguous tensor whose data starts `offset_elems` elements past a 64-byte aligned allocation."""
    numel = shape[0] * shape[1]
    return torch.zeros(numel + 64, dtype=dtype)[offset_elems : offset_elems + numel].view(*shape)


def test_wrapper_without_cutlass_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(_library._FEATURES, "cutlass", "0")
    a, b, sa, sb = cpu_operands()
    with pytest.raises(
        RuntimeError, match=rf"{NAME}: kernelkit_ops was built without the CUTLASS GEMM ops.*nvidia-cutlass"
    ):
        OP(a, b, sa, sb, torch.bfloat16)


# (description, change to the valid CPU call, expected message). M = 4, N = 384, K = 256 unless changed.
def _refusals():
    a, b, sa, sb = cpu_operands()
    bf16 = torch.bfloat16
    return [
        ("a_dtype", dict(a=a.to(bf16)), r"mat_a must be float8_e4m3fn, got bfloat16"),
        ("b_dtype", dict(b=torch.zeros(384, 256, dtype=torch.int8).t()), r"mat_b must be float8_e4m3fn, got int8"),
        ("a_1d", dict(a=torch.zeros(256, dtype=FP8)), r"mat_a must be 2-D \[M, K\], got shape \[256\]"),
        ("b_3d", dict(b=torch.zeros(1, 256, 384, dtype=FP8)), r"mat_b must be 2-D \[K, N\], got shape \[1, 256, 384\]"),
        (
            "k_mismatch",
            dict(b=torch.zeros(384, 512, dtype=FP8).t()),
            r"mat_a \[4, 256\] and mat_b \[512, 384\] cannot be multiplied",
        ),
        (
            "k_not_128",
            dict(a=torch.zeros(4, 144, dtype=FP8), b=torch.zeros(384, 144, dtype=FP8).t()),
            r"K = mat_a.size\(1\) must be a positive multiple of 128 \(the scale block\), got 144",
        ),
        (
            "k_zero",
            dict(a=torch.zeros(4, 0, dtype=FP8), b=torch.zeros(384, 0, dtype=FP8).t()),
            r"K = mat_a.size\(1\) must be a positive multiple of 128 \(the scale block\), got 0",
        ),
        (
            "n_not_8",
            dict(b=torch.zeros(100, 256, dtype=FP8).t(), sb=torch.ones(1, 2).t()),
            r"N = mat_b.size\(1\) must be a multiple of 8 \(16-byte rows of out\), got 100",
        ),
        ("a_col_major", dict(a=torch.zeros(256, 4, dtype=FP8).t()), r"mat_a must be row-major \(stride\(1\) == 1\)"),
        (
            "a_row_stride",
            dict(a=torch.zeros(4, 264, dtype=FP8)[:, :256]),
            r"mat_a's row stride must be >= K and a multiple of 16 \(16-byte TMA rows\), got 264",
        ),
        (
            "b_row_major",
            dict(b=torch.zeros(256, 384, dtype=FP8)),
            r"mat_b must be column-major \(stride\(0\) == 1: pass w.t\(\) of a contiguous \[N, K\] weight\), "
            r"got strides \(384, 1\)",
        ),
        (
            "b_col_stride",
            dict(b=torch.zeros(384, 264, dtype=FP8)[:, :256].t()),
            r"mat_b's column stride must be >= K and a multiple of 16 \(16-byte TMA rows\), got 264",
        ),
        ("a_misaligned", dict(a=misaligned((4, 256), FP8)), r"mat_a's data must be 16-byte aligned \(TMA\)"),
        ("b_misaligned", dict(b=misaligned((384, 256), FP8).t()), r"mat_b's data must be 16-byte aligned \(TMA\)"),
        ("sa_dtype", dict(sa=sa.to(bf16)), r"scales_a must be float32, got bfloat16"),
        ("sb_dtype", dict(sb=sb.double()), r"scales_b must be float32, got float64"),
        (
            "sa_shape",
            dict(sa=torch.ones(4, 3)),
            r"scales_a must have shape \[M, K/128\] = \[4, 2\], got \[4, 3\]",
        ),
        (
            "sa_1d",
            dict(sa=torch.ones(8)),
            r"scales_a must have shape \[M, K/128\] = \[4, 2\], got \[8\]",
        ),
        (
            "sb_untransposed",
            dict(sb=torch.ones(3, 2)),
            r"scales_b must have shape \[K/128, ceil\(N/128\)\] = \[2, 3\] \(the transposed \[N/128, K/128\] weight "
            r"scale\), got \[3, 2\]",
        ),
        (
            "sb_floor_n",
            dict(b=torch.zeros(200, 256, dtype=FP8).t(), sb=torch.ones(1, 2).t()),
            r"scales_b must have shape \[K/128, ceil\(N/128\)\] = \[2, 2\]",
        ),
    ]


REFUSALS = _refusals()


@requires_cutlass
@pytest.mark.parametrize(("change", "message"), [(c, m) for _, c, m in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refuses_through_the_wrapper(change, message):
    a, b, sa, sb = cpu_operands()
    args = {"a": a, "b": b, "sa": sa, "sb": sb, **change}
    with pytest.raises(RuntimeError, match=f"^{NAME}: {message}"):
        OP(args["a"], args["b"], args["sa"], args["sb"], torch.bfloat16)


@requires_cutlass
@pytest.mark.parametrize(
    ("out", "message"),
    [
        (torch.empty(4, 384, dtype=torch.float32), r"out_dtype must be torch.bfloat16 or torch.float16, got float32"),
        (torch.empty(4, 384, dtype=FP8), r"out_dtype must be torch.bfloat16 or torch.float16, got float8_e4m3fn"),
        (torch.empty(4, 383, dtype=torch.bfloat16), r"out must have shape \[M, N\] = \[4, 384\], got \[4, 383\]"),
        (torch.empty(384, 4, dtype=torch.bfloat16).t(), r"out must be row-major \(stride\(1\) == 1\)"),
        (
            torch.empty(4, 388, dtype=torch.bfloat16)[:, :384],
            r"out's row stride must be >= N and a multiple of 8 elements \(16-byte TMA rows\), got 388",
        ),
        (misaligned((4, 384), torch.float16), r"out's data must be 16-byte aligned \(TMA\)"),
    ],
    ids=["fp32", "fp8", "shape", "col_major", "row_stride", "misaligned"],
)
def test_refuses_out(out, message):
    a, b, sa, sb = cpu_operands()
    with pytest.raises(RuntimeError, match=f"^{NAME}: {message}"):
        torch_op()(out, a, b, sa, sb)


@requires_cutlass
def test_out_dtype_is_named_through_the_wrapper():
    with pytest.raises(RuntimeError, match=rf"^{NAME}: out_dtype must be torch.bfloat16 or torch.float16, got float32"):
        OP(*cpu_operands(), torch.float32)


@requires_cutlass
@pytest.mark.parametrize("m", [0, 1, 4])
def test_valid_cpu_call_is_refused_for_the_device_only(m):
    a, b, sa, sb = cpu_operands(m=m)
    with pytest.raises(RuntimeError, match=f"^{NAME}: mat_a must be a CUDA tensor$"):
        OP(a, b, sa, sb, torch.bfloat16)


@requires_cutlass
def test_accepts_every_scale_layout_on_the_cpu_checks():
    """Layout is never refused (only shape and dtype): what the kernel cannot read in place is repacked."""
    m, n, k = 5, 384, 512
    a, b, _, _ = cpu_operands(m, n, k)
    values_a, values_b = torch.ones(m, k // BLOCK), torch.ones(k // BLOCK, cdiv(n, BLOCK))
    for layout_a in ("row", "col", "tma", "bcast"):
        for layout_b in ("sgl", "nmajor", "bcast"):
            sa, sb = scales_a_in(values_a, layout_a), scales_b_in(values_b, layout_b)
            with pytest.raises(RuntimeError, match=f"^{NAME}: mat_a must be a CUDA tensor$"):
                OP(a, b, sa, sb, torch.bfloat16)


def test_bench_cases_and_bytes_model():
    from pathlib import Path

    from kernelkit.perf import harness as bench
    from kernelkit.project import find_project

    b = bench.load_bench(find_project(Path(__file__).resolve().parents[2]), NAME)
    assert b.math == "fp8"
    assert {c.tokens for c in b.cases} >= {1, 4096}
    case = next(c for c in b.cases if c.tokens == 4096 and (c.size("n"), c.size("k")) == (2112, 7168))
    # A and B once, 1 x 128 and 128 x 128 fp32 scales (ceil(2112 / 128) = 17 weight rows), bf16 out
    assert b.bytes_moved(case) == 4096 * 7168 + 2112 * 7168 + 4 * (4096 * 56 + 17 * 56) + 2 * 4096 * 2112
    assert b.flops(case) == 2 * 4096 * 2112 * 7168


# ------------------------------------------------------------------------------------------------ GPU: numerics

DEEPSEEK_NK = [(2112, 7168), (7168, 2048), (3072, 1536), (32768, 512)]  # fused qkv_a, down, q_b-like, kv_b
MS = [1, 7, 16, 64, 128, 1000, 4096]


@requires_sm90
@pytest.mark.parametrize("out_dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize(("n", "k"), DEEPSEEK_NK, ids=lambda v: str(v))
@pytest.mark.parametrize("m", MS)
def test_matches_reference_deepseek_shapes(m, n, k, out_dtype):
    a, b, sa, sb = operands(m, n, k)  # column-major scales_a, as sglang's cutlass path quantizes
    assert_matches(run_into_poisoned(a, b, sa, sb, out_dtype), reference(a, b, sa, sb))


@requires_sm90
@pytest.mark.parametrize("m", [1, 64, 1000])
def test_matches_reference_long_k(m):
    """DeepSeek-V3's o_proj-like K = 16384: 128 K blocks, split across SMs at small M (stream-K)."""
    a, b, sa, sb = operands(m, 7168, 16384, a_layout="tma")
    assert_matches(run_into_poisoned(a, b, sa, sb, torch.bfloat16), reference(a, b, sa, sb))


@requires_sm90
@pytest.mark.parametrize("m", [5, 64, 333])
def test_every_scale_layout_gives_the_same_bits(m):
    """In place (TMA-aligned / column-major with M % 4 == 0, sgl's scales_b) or repacked (row-major, column-major
    with M % 4 != 0, broadcast, N-major scales_b): the same scales give the same output, bit for bit."""
    n, k = 1536, 1024
    a, b = random_fp8(m, k), random_fp8(n, k).t()
    values_a, values_b = random_scales(m, k // BLOCK), random_scales(k // BLOCK, cdiv(n, BLOCK))
    values_a_bcast = values_a[:1].expand(m, -1).contiguous()
    values_b_bcast = values_b[:1].expand(k // BLOCK, -1).contiguous()
    baseline = {}
    for bcast_a in (False, True):
        for bcast_b in (False, True):
            va = values_a_bcast if bcast_a else values_a
            vb = values_b_bcast if bcast_b else values_b
            ref = reference(a, b, va, vb)
            for layout_a in ("bcast",) if bcast_a else ("tma", "col", "row"):
                for layout_b in ("bcast",) if bcast_b else ("sgl", "nmajor"):
                    out = run_into_poisoned(a, b, scales_a_in(va, layout_a), scales_b_in(vb, layout_b), torch.bfloat16)
                    assert_matches(out, ref)
                    first = baseline.setdefault((bcast_a, bcast_b), out)
                    assert torch.equal(out, first), f"scales_a {layout_a}, scales_b {layout_b}"


def quantize_weight_blocks(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """DeepSeek-V3's weight quantization: one scale per 128 x 128 block (the last row block may be partial),
    s = amax / 448, q = e4m3(w / s). Returns (q [N, K], s [ceil(N/128), K/128])."""
    n, k = w.shape
    nb = cdiv(n, BLOCK)
    padded = torch.zeros(nb * BLOCK, k, device=w.device, dtype=torch.float32)
    padded[:n] = w.float()
    blocks = padded.view(nb, BLOCK, k // BLOCK, BLOCK)
    s = blocks.abs().amax(dim=(1, 3)).clamp(min=1e-10) / 448.0
    q = (blocks / s[:, None, :, None]).clamp(-448, 448).view(nb * BLOCK, k)[:n].to(FP8)
    return q, s


@requires_sm90
@pytest.mark.parametrize("layout", ["row", "col", "tma"])
@pytest.mark.parametrize("m", [1, 3, 64, 129])
def test_with_the_quantizers_scales(m, layout):
    """End to end as sglang runs a DeepSeek-V3 linear: activations quantized by sgl_per_token_group_quant_fp8 into
    each scale layout it writes, the weight in 128 x 128 blocks, out = x @ w.T in bf16."""
    n, k = 2112, 7168
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.02
    q = torch.empty(m, k, device="cuda", dtype=FP8)
    s = scales_a_in(torch.full((m, k // BLOCK), float("nan"), device="cuda"), layout)
    kernelkit_ops.sgl_per_token_group_quant_fp8(x, q, s, BLOCK, 1e-10, -448.0, 448.0)
    wq, ws = quantize_weight_blocks(w)
    out = OP(q, wq.t(), s, ws.t(), torch.bfloat16)
    assert out.shape == (m, n) and out.dtype == torch.bfloat16
    assert_matches(out, reference(q, wq.t(), s, ws.t()))
    # and it is the product it stands for, up to e4m3 rounding (~2.6 % rms per operand: cosine ~0.9993)
    exact = x.float() @ w.float().t()
    assert torch.nn.functional.cosine_similarity(out.float().flatten(), exact.flatten(), dim=0) > 0.99


@requires_sm90
def test_strided_operands_and_out():
    """A row slice of a wider activation buffer, a weight slice [N, K] of a wider [N, K + 64] buffer, and an out
    whose rows are padded: each used with its own stride, the padding of out left alone."""
    m, n, k = 77, 1024, 1536
    a_buf, w_buf = random_fp8(m, k + 128), random_fp8(n, k + 64)
    a, b = a_buf[:, :k], w_buf[:, :k].t()
    sa, sb = scales_a_in(random_scales(m, k // BLOCK), "col"), scales_b_in(random_scales(k // BLOCK, n // BLOCK), "sgl")
    out_buf = torch.full((m, n + 8), float("nan"), device="cuda", dtype=torch.bfloat16)
    torch_op()(out_buf[:, :n], a, b, sa, sb)
    assert_matches(out_buf[:, :n], reference(a, b, sa, sb))
    assert out_buf[:, n:].isnan().all()


@requires_sm90
@pytest.mark.parametrize(("n", "k"), [(136, 256), (8, 128), (2112, 1024)], ids=str)
@pytest.mark.parametrize("m", [1, 7, 200])
def test_partial_last_weight_block(m, n, k):
    """N % 128 != 0 (DeepSeek-V3's 2112): scales_b has ceil(N/128) columns, the last block covers N % 128 columns."""
    a, b, sa, sb = operands(m, n, k, a_layout="tma")
    assert_matches(run_into_poisoned(a, b, sa, sb, torch.float16), reference(a, b, sa, sb))


@requires_sm90
@pytest.mark.parametrize("layout", ["col", "row"])
@pytest.mark.parametrize("m", [1, 5, 300])
def test_single_k_block(m, layout):
    a, b, sa, sb = operands(m, 512, 128, a_layout=layout)
    assert_matches(run_into_poisoned(a, b, sa, sb, torch.bfloat16), reference(a, b, sa, sb))


@requires_sm90
def test_empty():
    a, b, sa, sb = operands(0, 256, 512)
    out = OP(a, b, sa, sb, torch.float16)
    assert out.shape == (0, 256) and out.dtype == torch.float16
    w = torch.empty(0, 512, device="cuda", dtype=FP8)
    out = OP(random_fp8(3, 512), w.t(), random_scales(3, 4), torch.empty(0, 4, device="cuda").t(), torch.bfloat16)
    assert out.shape == (3, 0)


@requires_sm90
def test_wrapper_returns_a_new_tensor():
    a, b, sa, sb = operands(33, 768, 512)
    out = OP(a, b, sa, sb, torch.bfloat16)
    assert out.shape == (33, 768) and out.dtype == torch.bfloat16 and out.is_contiguous()
    assert torch.equal(out, run_into_poisoned(a, b, sa, sb, torch.bfloat16))


# ------------------------------------------------------------------------------------------------ GPU: integration


@requires_sm90
@pytest.mark.parametrize("layout", ["col", "row"])
def test_opcheck(layout):
    # test_schema compares every argument before and after with torch.allclose, which has no float8 kernel: the
    # op runs the other checks (that only out is written is checked by the poisoned / padded-out tests above).
    a, b, sa, sb = operands(16, 256, 256, a_layout=layout)
    out = torch.empty(16, 256, device="cuda", dtype=torch.bfloat16)
    torch.library.opcheck(
        torch_op(),
        (out, a, b, sa, sb),
        test_utils=("test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic"),
    )


@requires_sm90
def test_torch_compile_fullgraph():
    fn = torch.compile(lambda a, b, sa, sb: OP(a, b, sa, sb, torch.bfloat16).float() * 2, fullgraph=True)
    a, b, sa, sb = operands(40, 1536, 1024)
    assert torch.equal(fn(a, b, sa, sb), OP(a, b, sa, sb, torch.bfloat16).float() * 2)


@requires_sm90
@pytest.mark.parametrize(
    ("m", "n", "k", "a_layout"),
    [(7, 1536, 7168, "row"), (1000, 2112, 7168, "tma")],
    ids=["decode_stream_k_repacked", "prefill_in_place"],
)
def test_cuda_graph_capture_and_replay(m, n, k, a_layout):
    """Captured once, replayed on new inputs copied into the captured buffers: the same bits as an eager call on
    those inputs (the workspace, the scale repack and the stream-K reduction all live inside the graph)."""
    a, b, sa, sb = operands(m, n, k, a_layout=a_layout)
    OP(a, b, sa, sb, torch.bfloat16)  # warm-up outside the graph
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = OP(a, b, sa, sb, torch.bfloat16)
    a2, b2, sa2, sb2 = operands(m, n, k, a_layout=a_layout)
    for dst, src in ((a, a2), (b, b2), (sa, sa2), (sb, sb2)):
        dst.copy_(src)
    graph.replay()
    torch.cuda.synchronize()
    want = OP(a, b, sa, sb, torch.bfloat16)
    assert torch.equal(out, want)
    assert_matches(out, reference(a, b, sa, sb))


@requires_sm90
def test_runs_on_the_current_stream():
    a, b, sa, sb = operands(7, 1536, 7168, a_layout="row")
    want = OP(a, b, sa, sb, torch.bfloat16)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        got = OP(a, b, sa, sb, torch.bfloat16)
    torch.cuda.current_stream().wait_stream(stream)
    assert torch.equal(got, want)
