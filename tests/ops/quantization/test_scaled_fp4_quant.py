"""Tests of `scaled_fp4_quant` (NVFP4), against tests/ops/quantization/fp4_reference.py bit for bit.

The arithmetic is sgl-kernel's: scales and the factor values are multiplied by come from rcp.approx.ftz.f32
reciprocals (fp4_reference's docstring). On the GPU the reference runs that instruction itself (Triton), so the
op is held to sgl-kernel's bytes; and a test checks that this tells it apart from exact division. The kernel's
code run on the CPU (KERNELKIT_FP4_EMULATION) and its CPU reference both take the correctly rounded reciprocal
in place of the instruction (which the CPU lacks): there they check everything else -- the order of the
operations, lanes, loads, layout, NaN and inf -- bit for bit.

An FP4 op: built only with `kernelkit build --fp4`; without the FP4 kernels the op is not registered at all,
so only the wrapper's error is testable and the rest skips, saying why. The e2m1 rounding itself
is checked on the CPU: the kernel's software conversion (fp4.cuh) against cuda_fp4.hpp's emulation of
the sm_100 instruction for every float, and the PyTorch reference against both.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import kernelkit_ops
import pytest
import torch
from fp4_reference import (
    E2M1_VALUES,
    RCP_E2M1_MAX,
    block_absmax,
    block_scales_exact_division,
    dequantize,
    e2m1_codes,
    padded_shape,
    quantize,
    rcp_ieee_ftz,
    reference,
    scale_offsets,
    swizzle,
    unswizzle,
)
from quant_reference import assert_fp8_equal
from sgl_math import f32, f32_bits
from torch._subclasses.fake_tensor import FakeTensorMode

DTYPES = [torch.bfloat16, torch.float16]
ROOT = Path(__file__).resolve().parents[3]  # tests/ops/quantization/this file
KERNEL = ROOT / "library/csrc/quantization/scaled_fp4_quant.cu"
INCLUDE = ROOT / "library/include"

FP4_SKIP_REASON = "kernelkit_ops was built without FP4 kernels (kernelkit build --fp4)"
# Need no FP4 kernels: the wrapper's error, the checks of the reference and of the kernel code on the CPU.
_RUN_WITHOUT_FP4 = (
    "test_without_fp4_kernels_the_wrapper_says_how_to_build",
    "test_reference_e2m1_table",
    "test_reference_swizzle_layout",
    "test_reference_round_trip",
    "test_reference_absmax_and_the_cpu_reciprocal",
    "test_reference_is_not_exact_division",
    "test_software_e2m1_matches_the_cuda_emulation_for_every_float",
    "test_reference_e2m1_matches_the_cuda_emulation",
    "test_kernel_compiles_for_sm90a_and_sm100a",
    "test_kernel_code_on_the_cpu_matches_reference",
    "test_kernel_code_on_the_cpu_zero_nan_inf_and_ties",
    "test_kernel_code_on_the_cpu_follows_the_reciprocals",
)


@pytest.fixture(autouse=True)
def _needs_fp4_kernels(request):
    if not kernelkit_ops.fp4_enabled() and request.node.originalname not in _RUN_WITHOUT_FP4:
        pytest.skip(FP4_SKIP_REASON)


def make_input(m: int, n: int, dtype: torch.dtype, device: str = "cuda", seed: int = 0) -> torch.Tensor:
    """Random rows whose magnitudes differ by row and by block (many different block scales, never zeros)."""
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(m, n, generator=g, device=device)
    row_scale = torch.exp2(torch.randint(-4, 5, (m, 1), generator=g, device=device).float())
    block_scale = torch.exp2(torch.randn(m, max(n // 16, 1), 1, generator=g, device=device) * 1.5)
    x = (x.reshape(m, -1, 16) * block_scale).reshape(m, n) * row_scale if n else x
    return x.to(dtype)


def global_scale_for(x: torch.Tensor) -> torch.Tensor:
    """What a serving stack passes: 448 * 6 / amax (so the largest block scale lands near 448)."""
    amax = x.float().abs().nan_to_num(nan=0.0, posinf=0.0).amax().clamp(min=1e-12)
    return (448.0 * 6.0 / amax).reshape(1).to(torch.float32)


def assert_matches_reference(x, gs, out, scales):
    want_out, want_scales = reference(x, gs)
    assert out.dtype == torch.uint8 and out.shape == want_out.shape, (out.dtype, out.shape)
    assert scales.dtype == torch.float8_e4m3fn and scales.shape == want_scales.shape, (scales.dtype, scales.shape)
    mismatch = out != want_out
    if mismatch.any():
        idx = torch.nonzero(mismatch)[:5].tolist()
        detail = [(i, int(out[tuple(i)]), int(want_out[tuple(i)])) for i in idx]
        raise AssertionError(f"{int(mismatch.sum())} packed bytes differ (index, got, want): {detail}")
    assert_fp8_equal(scales, want_scales)


def run_op(x, gs, *, poison: bool = True, scale_dtype=torch.float8_e4m3fn, enable_pdl: bool = True):
    """The torch op itself on poisoned buffers (every byte must be written, padding included)."""
    m, n = x.shape
    rows, cols = padded_shape(m, n)
    out = torch.full((m, n // 2), 0xAB if poison else 0, device=x.device, dtype=torch.uint8)
    scales = torch.full((rows, cols), 0x7F if poison else 0, device=x.device, dtype=torch.uint8)  # 0x7f: e4m3 NaN
    buffer = scales.view(torch.int32) if scale_dtype == torch.int32 else scales.view(scale_dtype)
    torch.ops.kernelkit.scaled_fp4_quant.default(out, x, buffer, gs, enable_pdl)
    return out, scales.view(torch.float8_e4m3fn)


# ----------------------------------------------------------------------------- without FP4 kernels


def test_without_fp4_kernels_the_wrapper_says_how_to_build():
    if kernelkit_ops.fp4_enabled():
        pytest.skip("the library has the FP4 kernels")
    message = (
        r"scaled_fp4_quant: kernelkit_ops was built without FP4 kernels; "
        r"rebuild with `kernelkit build --fp4` \(CMake: -DKERNELKIT_ENABLE_FP4=ON\)"
    )
    # The FP4 error comes first, before any check of the arguments (CPU tensors here).
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_quant(torch.randn(4, 32), torch.ones(1))
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_quant(None, None)


def test_schema_registered():
    schema = torch.ops.kernelkit.scaled_fp4_quant.default._schema
    args = schema.arguments
    assert [a.name for a in args] == ["output", "input", "output_scale", "input_global_scale", "enable_pdl"]
    written = [a.name for a in args if a.alias_info is not None and a.alias_info.is_write]
    assert written == ["output", "output_scale"]
    assert len(schema.returns) == 0


# --------------------------------------------------------------------------------- the reference


def test_reference_e2m1_table():
    """The rounding written out by hand: representable values, ties, saturation, signs, NaN."""
    cases = [
        (0.0, 0), (0.24, 0), (0.25, 0), (0.26, 1), (0.5, 1), (0.75, 2), (1.0, 2), (1.25, 2), (1.3, 3), (1.5, 3),
        (1.75, 4), (2.0, 4), (2.5, 4), (2.6, 5), (3.0, 5), (3.5, 6), (4.0, 6), (5.0, 6), (5.01, 7), (6.0, 7),
        (7.0, 7), (1e30, 7), (float("inf"), 7), (-0.0, 8), (-0.1, 8), (-0.25, 8), (-0.75, 10), (-1.25, 10),
        (-1.75, 12), (-2.5, 12), (-3.5, 14), (-5.0, 14), (-6.0, 15), (-100.0, 15), (float("-inf"), 15),
        (float("nan"), 7), (-float("nan"), 7), (1e-45, 0), (-1e-45, 8),
    ]  # fmt: skip
    y = torch.tensor([v for v, _ in cases], dtype=torch.float32)
    assert torch.signbit(y[-3]) and torch.isnan(y[-3])  # the negative NaN really has its sign bit
    assert e2m1_codes(y).tolist() == [c for _, c in cases]
    for code, value in enumerate(E2M1_VALUES):  # every representable value maps to its own code
        assert int(e2m1_codes(torch.tensor([value]))[0]) == code


def test_reference_swizzle_layout():
    """The offset formula (the kernel's) and the reshape/permute (the reference's) are one layout,
    pinned at a few hand-computed places: row r%32 strides 16 bytes, r/32%4 strides 4, block%4 strides 1,
    a 4-block column tile 512, a 128-row tile 512 * tiles."""
    m, blocks = 300, 10  # 3 row tiles, 3 block tiles (padded to 12 blocks)
    sf = torch.arange(m * blocks, dtype=torch.int64).remainder(251).add(1).to(torch.uint8).reshape(m, blocks)
    swizzled = swizzle(sf.view(torch.float8_e4m3fn))
    assert swizzled.shape == (384, 12)
    flat = swizzled.view(torch.uint8).reshape(-1)
    offsets = scale_offsets(m, blocks)
    assert torch.equal(flat[offsets], sf)
    pinned = [(0, 0), (1, 0), (32, 0), (64, 0), (0, 1), (0, 4), (128, 0), (129, 5)]
    assert {(r, k): int(offsets[r, k]) for r, k in pinned} == {
        (0, 0): 0, (1, 0): 16, (32, 0): 4, (64, 0): 8, (0, 1): 1, (0, 4): 512, (128, 0): 3 * 512,
        (129, 5): 3 * 512 + 512 + 16 + 1,
    }  # fmt: skip
    written = torch.zeros_like(flat, dtype=torch.bool)
    written[offsets.reshape(-1)] = True
    assert int(written.sum()) == m * blocks and bool((flat[~written] == 0).all())  # padding is zero
    assert torch.equal(unswizzle(swizzled, m, blocks).view(torch.uint8), sf)


def test_reference_round_trip():
    """Sanity of the reference's own math: dequantized values are within half an e2m1 step of the input."""
    x = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))  # block maxima near amax: normal scales
    gs = global_scale_for(x)
    out, scales = reference(x, gs)
    back = dequantize(out, scales, gs)
    sf = unswizzle(scales, 64, 16).float().repeat_interleave(16, dim=1) / gs
    # the coarsest e2m1 step is 2 (between 4 and 6): error <= 1 * scale; saturation (|x * inv| <= 6.4) less
    assert bool(((back - x).abs() <= sf * 1.0 + 1e-6 * x.abs()).all())
    packed, plain = quantize(x, gs)
    assert torch.equal(packed, out) and plain.shape == (64, 16)


def test_reference_absmax_and_the_cpu_reciprocal():
    """The block maximum ignores NaN and is NaN only for an all-NaN block (sgl-kernel's __hmax); rcp(6) is the
    constant fl32(1/6); the CPU stand-in for rcp.approx.ftz.f32 is the correctly rounded 1 / x with denormals
    flushed, in and out."""
    nan, inf = float("nan"), float("inf")
    x = torch.zeros(4, 32)
    x[0, :16] = torch.linspace(-3, 2, 16)
    x[0, 3] = nan
    x[1, :16] = nan
    x[2, 16] = -inf
    x[3, 16:] = nan
    x[3, 20] = -0.5
    got = block_absmax(x)
    assert got[0, 0] == 3 and got[0, 1] == 0 and got[1, 0].isnan() and got[1, 1] == 0
    assert got[2, 1] == inf and got[3, 1] == 0.5
    assert f32_bits(RCP_E2M1_MAX) == 0x3E2AAAAB  # what sgl-kernel's compiled kernels multiply max |x| by
    r = rcp_ieee_ftz(torch.tensor([6.0, 448.0, -4.0, 0.0, -0.0, 1e-40, -1e-40, 2.0**127, 2.0**-126, nan, inf]))
    assert r[0].item() == f32(1 / 6) and r[1].item() == f32(1 / 448)
    assert r[2] == -0.25 and r[3] == inf and r[4] == -inf and r[5] == inf and r[6] == -inf
    assert r[7] == 0 and r[8] == 2.0**126 and r[9].isnan() and r[10] == 0


def test_reference_is_not_exact_division():
    """sgl-kernel's reciprocal arithmetic and exact division (what kernelkit computed before) give other codes
    for some values: even with the CPU's correctly rounded stand-in for rcp.approx, the order of the operations
    alone makes ~0.1% of these bf16 bytes differ (x * inv within an ulp of an e2m1 tie, which gs = 448 * 6 /
    amax makes reachable); elsewhere the two agree."""
    x = torch.randn(2048, 2048, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    gs = global_scale_for(x)
    ours, ours_sf = quantize(x, gs)
    exact, exact_sf = quantize(x, gs, block_scales_exact_division)
    differ = int((ours != exact).sum())
    assert 0 < differ < 0.01 * ours.numel(), differ
    assert torch.equal(ours_sf.view(torch.uint8), exact_sf.view(torch.uint8))  # here only the factors differ


# --------------------------------------------------------------- e2m1 against CUDA's own emulation

E2M1_CHECK_SOURCE = r"""
// Reads float32 values from argv[1], writes for each: CUDA's e2m1 (cuda_fp4.hpp's emulation of
// cvt.rn.satfinite.e2m1x2.f32) and kernelkit's software e2m1 (fp4.cuh), one byte each, to argv[2].
// With argv[1] == "all": compares the two for every float and prints the mismatch count.
#include <cuda_fp4.h>
#include <cstdio>
#include <cstring>
#include "kernelkit/families/fp4.cuh"
int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "all") == 0) {
    unsigned long long bad = 0;
    for (unsigned long long u = 0; u <= 0xffffffffull; ++u) {
      unsigned int bits = static_cast<unsigned int>(u);
      float f;
      std::memcpy(&f, &bits, 4);
      if (__nv_cvt_float_to_fp4(f, __NV_E2M1, cudaRoundNearest) != kernelkit::e2m1_code(f)) {
        if (bad < 5) std::printf("differs at 0x%08x\n", bits);
        ++bad;
      }
    }
    std::printf("mismatches %llu\n", bad);
    return bad != 0;
  }
  FILE* in = std::fopen(argv[1], "rb");
  FILE* out = std::fopen(argv[2], "wb");
  float f;
  while (std::fread(&f, 4, 1, in) == 1) {
    unsigned char pair[2] = {static_cast<unsigned char>(__nv_cvt_float_to_fp4(f, __NV_E2M1, cudaRoundNearest)),
                             static_cast<unsigned char>(kernelkit::e2m1_code(f))};
    std::fwrite(pair, 1, 2, out);
  }
  std::fclose(in);
  std::fclose(out);
  return 0;
}
"""


def _nvcc() -> str:
    nvcc = os.environ.get("CUDACXX") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not Path(nvcc).is_file():
        pytest.skip("needs nvcc")
    return nvcc


@pytest.fixture(scope="module")
def e2m1_checker(tmp_path_factory) -> Path:
    nvcc = _nvcc()
    folder = tmp_path_factory.mktemp("e2m1")
    (folder / "check.cu").write_text(E2M1_CHECK_SOURCE)
    built = subprocess.run(
        [nvcc, "-O2", "-std=c++17", f"-I{INCLUDE}", str(folder / "check.cu"), "-o", str(folder / "check")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return folder / "check"


@pytest.mark.slow
def test_software_e2m1_matches_the_cuda_emulation_for_every_float(e2m1_checker):
    """All 2^32 floats: the conversion the kernel uses below sm_100 is the instruction's (~10 s)."""
    result = subprocess.run([str(e2m1_checker), "all"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and "mismatches 0" in result.stdout, result.stdout[-2000:]


def _probe_floats() -> torch.Tensor:
    """Every tie and representable value with its 64 float neighbours each side, both signs, specials,
    subnormals, a sweep of every 4096th bit pattern and random values."""
    points = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0])
    bits = points.view(torch.int32).unsqueeze(1) + torch.arange(-64, 65, dtype=torch.int32).unsqueeze(0)
    near = bits[bits >= 0].view(torch.float32)
    sweep = torch.arange(0, 1 << 20, dtype=torch.int64).mul(4096).to(torch.int64)
    sweep = (sweep - (1 << 32) * (sweep >= (1 << 31)).long()).to(torch.int32).view(torch.float32)
    special = torch.tensor([float("inf"), float("nan"), 1e-45, 1e-40, 3.4e38])
    random = torch.randn(1 << 16, generator=torch.Generator().manual_seed(1)) * 4
    values = torch.cat([near, sweep, special, random])
    return torch.cat([values, -values])


@pytest.mark.slow
def test_reference_e2m1_matches_the_cuda_emulation(e2m1_checker, tmp_path):
    values = _probe_floats()
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    src.write_bytes(values.numpy().tobytes())
    subprocess.run([str(e2m1_checker), str(src), str(dst)], check=True, timeout=300)
    pairs = torch.frombuffer(bytearray(dst.read_bytes()), dtype=torch.uint8).reshape(-1, 2)
    cuda, software = pairs[:, 0], pairs[:, 1]
    ours = e2m1_codes(values)
    for name, got in (("reference", ours), ("fp4.cuh", software)):
        bad = torch.nonzero(got != cuda).flatten()[:5]
        detail = [(struct.pack("<f", float(values[i])).hex(), int(got[i]), int(cuda[i])) for i in bad]
        assert not len(bad), f"{name} differs from cuda_fp4.hpp at (float bits, got, cuda): {detail}"


@pytest.mark.slow
def test_kernel_compiles_for_sm90a_and_sm100a(tmp_path):
    """Both paths compile: the software e2m1 for sm_90a (the H100), the cvt instruction for sm_100a."""
    nvcc = _nvcc()
    for arch, uses_cvt in (("90a", False), ("100a", True)):
        common = [nvcc, "-std=c++17", "-O3", "--expt-relaxed-constexpr", "-DKERNELKIT_ENABLE_FP4=1", f"-I{INCLUDE}"]
        gencode = f"-gencode=arch=compute_{arch},code=sm_{arch}"
        obj = subprocess.run(
            [*common, gencode, "-c", str(KERNEL), "-o", str(tmp_path / f"k{arch}.o")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert obj.returncode == 0, f"sm_{arch}:\n{obj.stderr[-3000:]}"
        ptx = subprocess.run(
            [*common, f"-arch=compute_{arch}", "-ptx", str(KERNEL), "-o", str(tmp_path / f"k{arch}.ptx")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert ptx.returncode == 0, ptx.stderr[-3000:]
        text = (tmp_path / f"k{arch}.ptx").read_text()
        assert ("cvt.rn.satfinite.e2m1x2.f32" in text) is uses_cvt, arch


# ------------------------------------------------- the kernel's own code, run on the CPU (no GPU)

EMULATOR_SOURCE = r"""
// The kernel's lanes, loads, scales, codes and stores on the CPU (KERNELKIT_FP4_EMULATION in the .cu).
// argv: input.bin output.bin rows cols row_stride offset dtype(bf16|fp16) global_scale capacity
#define KERNELKIT_FP4_EMULATION 1
#include "quantization/scaled_fp4_quant.cu"
#include <cstdio>
#include <cstdlib>
#include <vector>
int main(int argc, char** argv) {
  const long long rows = std::atoll(argv[3]), cols = std::atoll(argv[4]), stride = std::atoll(argv[5]);
  const long long offset = std::atoll(argv[6]);
  const bool bf16 = std::string(argv[7]) == "bf16";
  const float gs = static_cast<float>(std::atof(argv[8]));
  const int capacity = std::atoi(argv[9]);
  std::FILE* in = std::fopen(argv[1], "rb");
  std::vector<unsigned short> input;
  unsigned short v;
  while (std::fread(&v, 2, 1, in) == 1) input.push_back(v);
  std::fclose(in);
  const long long padded_rows = (rows + 127) / 128 * 128, padded_cols = (cols / 16 + 3) / 4 * 4;
  std::vector<unsigned int> out(rows * cols / 8, 0xababababu);
  std::vector<unsigned char> scales(padded_rows * padded_cols, 0x7f);
  kernelkit::emulate_scaled_fp4_quant(out.data(), scales.data(), input.data() + offset, stride, rows, cols, &gs, bf16,
                                      capacity);
  std::FILE* o = std::fopen(argv[2], "wb");
  std::fwrite(out.data(), 4, out.size(), o);
  std::fwrite(scales.data(), 1, scales.size(), o);
  std::fclose(o);
  return 0;
}
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory) -> Path:
    nvcc = _nvcc()
    folder = tmp_path_factory.mktemp("fp4_emulator")
    (folder / "emulate.cu").write_text(EMULATOR_SOURCE)
    built = subprocess.run(
        [nvcc, "-O2", "-std=c++17", "--expt-relaxed-constexpr", "-DKERNELKIT_ENABLE_FP4=1", f"-I{INCLUDE}",
         f"-I{ROOT / 'library/csrc'}", "-gencode=arch=compute_90a,code=sm_90a", str(folder / "emulate.cu"),
         "-o", str(folder / "emulate")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return folder / "emulate"


def emulate(emulator: Path, folder: Path, x: torch.Tensor, gs: float, *, stride_pad=0, offset=0, capacity=660):
    """The kernel code on the CPU for x [m, n]: rows `n + stride_pad` elements apart, `offset` elements
    into the buffer (16-byte loads only when both allow), the launch shape of a GPU holding `capacity`
    CTAs at once (660: the H100, 132 SMs x 5)."""
    m, n = x.shape
    stride = n + stride_pad
    buffer = torch.zeros(offset + max(m - 1, 0) * stride + n, dtype=x.dtype)
    if m:
        buffer[offset:].as_strided((m, n), (stride, 1)).copy_(x)
    (folder / "in.bin").write_bytes(buffer.view(torch.int16).numpy().tobytes())
    dtype = "bf16" if x.dtype == torch.bfloat16 else "fp16"
    subprocess.run(
        [str(emulator), str(folder / "in.bin"), str(folder / "out.bin"), str(m), str(n), str(stride), str(offset),
         dtype, repr(gs), str(capacity)],
        check=True, timeout=600,
    )  # fmt: skip
    data = torch.frombuffer(bytearray((folder / "out.bin").read_bytes()), dtype=torch.uint8)
    rows, cols = padded_shape(m, n)
    out = data[: m * n // 2].reshape(m, n // 2)
    scales = data[m * n // 2 :].reshape(rows, cols).view(torch.float8_e4m3fn)
    return out, scales


EMULATED = [
    # (dtype, m, n, stride_pad, offset, capacity)
    (torch.bfloat16, 1, 16, 0, 0, 660),
    (torch.float16, 7, 32, 0, 0, 660),
    (torch.bfloat16, 129, 64, 0, 0, 660),
    (torch.bfloat16, 300, 48, 0, 0, 660),  # 3 blocks: a padding column per row
    (torch.float16, 3, 7168, 0, 0, 660),
    (torch.bfloat16, 130, 4096, 64, 0, 660),  # row-strided, still 16-byte loads
    (torch.bfloat16, 37, 4096, 5, 3, 660),  # odd stride and offset: one element per load
    (torch.float16, 21, 96, 4, 4, 660),  # 8-byte loads
    (torch.bfloat16, 2053, 4096, 0, 0, 660),  # more rows than one wave: every thread loops
    (torch.bfloat16, 700, 7168, 0, 0, 5),  # a one-SM launch shape: many iterations per thread
]


@pytest.mark.slow
@pytest.mark.parametrize(("dtype", "m", "n", "stride_pad", "offset", "capacity"), EMULATED, ids=str)
def test_kernel_code_on_the_cpu_matches_reference(emulator, tmp_path, dtype, m, n, stride_pad, offset, capacity):
    x = make_input(m, n, dtype, device="cpu", seed=m + n)
    gs = float(global_scale_for(x))
    out, scales = emulate(emulator, tmp_path, x, gs, stride_pad=stride_pad, offset=offset, capacity=capacity)
    assert_matches_reference(x, torch.tensor([gs]), out, scales)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_kernel_code_on_the_cpu_zero_nan_inf_and_ties(emulator, tmp_path, dtype):
    x = make_input(6, 128, dtype, device="cpu", seed=11)
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
    for gs in (float(global_scale_for(x)), 1.0, 0.37, 3e4, -1.0, 0.0, float("inf"), float("nan")):
        out, scales = emulate(emulator, tmp_path, x, gs)
        assert_matches_reference(x, torch.tensor([gs]), out, scales)
        assert unswizzle(scales, 6, 8)[3, 3].float().isnan()  # the all-NaN block's scale, whatever gs
        if 0 < gs < float("inf"):
            assert out[1, 16:24].tolist() == [0x88] * 8 and out[3, 24:32].tolist() == [0x77] * 8


@pytest.mark.slow
def test_kernel_code_on_the_cpu_follows_the_reciprocals(emulator, tmp_path):
    """An input on which sgl-kernel's order of operations and exact division give other codes and scales: the
    kernel's code takes the former (the CPU stand-in for the instruction on both sides)."""
    x = make_input(300, 48, torch.bfloat16, device="cpu", seed=348)
    gs = global_scale_for(x)
    out, scales = emulate(emulator, tmp_path, x, float(gs))
    assert_matches_reference(x, gs, out, scales)
    exact_out, exact_scales = reference(x, gs, block_scales_exact_division)
    assert int((out != exact_out).sum()) > 0
    assert int((scales.view(torch.uint8) != exact_scales.view(torch.uint8)).sum()) > 0


# ------------------------------------------ the wrapper on fake tensors, the binding on CPU tensors


@pytest.mark.parametrize(
    ("shape", "m"), [((1, 16), 1), ((3, 64), 3), ((129, 4096), 129), ((0, 32), 0), ((2, 3, 32), 6), ((48,), 1)]
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_fake_impl_shapes(shape, m, dtype):
    n = shape[-1]
    with FakeTensorMode():
        x = torch.empty(shape, device="cuda", dtype=dtype)
        out, scales = kernelkit_ops.scaled_fp4_quant(x, torch.ones(1, device="cuda"))
        assert out.shape == (m, n // 2) and out.dtype == torch.uint8 and out.device.type == "cuda"
        assert scales.shape == padded_shape(m, n) and scales.dtype == torch.float8_e4m3fn


# The op is registered for CPU tensors too: its binding checks them as it checks CUDA tensors and then
# refuses them by name, so every check runs here, through the wrapper, without a GPU.
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: (torch.randn(4, 32, dtype=torch.bfloat16), torch.ones(1)), "input must be a CUDA tensor"),
        (lambda: (torch.empty(0, 32, dtype=torch.bfloat16), torch.ones(1)), "input must be a CUDA tensor"),
        (lambda: (torch.empty(2, 3, 32, dtype=torch.float16), torch.ones(1)), "input must be a CUDA tensor"),
        (lambda: (torch.empty(4, 32), torch.ones(1)), "input must be one of bfloat16, float16, got float32"),
        (
            lambda: (torch.empty(4, 40, dtype=torch.bfloat16), torch.ones(1)),
            r"input's last dimension \(40\) must be a multiple of 16",
        ),
        (
            lambda: (torch.empty_strided((4, 32), (64, 2), dtype=torch.bfloat16), torch.ones(1)),
            "input must be contiguous in its last dimension",
        ),
        (lambda: (torch.empty((), dtype=torch.bfloat16), torch.ones(1)), r"input must be 2-D \[m, n\], got shape \[\]"),
        (
            lambda: (torch.empty(4, 32, dtype=torch.bfloat16), torch.ones(1, dtype=torch.float16)),
            "input_global_scale must be float32, got float16",
        ),
        (
            lambda: (torch.empty(4, 32, dtype=torch.bfloat16), torch.ones(2)),
            r"input_global_scale must hold one value, got shape \[2\]",
        ),
    ],
    ids=["cpu", "cpu-empty", "cpu-3d", "fp32", "n-not-16", "strided-last-dim", "0-d", "scale-fp16", "scale-2-values"],
)
def test_wrapper_rejects_bad_input(make, message):
    x, gs = make()
    with pytest.raises(RuntimeError, match=f"scaled_fp4_quant: {message}"):
        kernelkit_ops.scaled_fp4_quant(x, gs)


def test_wrapper_rejects_a_non_tensor_scale():
    # torch's own argument parsing names it.
    message = r"Expected a value of type 'Tensor' for argument 'input_global_scale' but instead found type 'float'"
    with pytest.raises(RuntimeError, match=message):
        kernelkit_ops.scaled_fp4_quant(torch.empty(4, 32, dtype=torch.bfloat16), 1.0)


# --------------------------------------------------------------------------------------- on the GPU

SIZES_M = [1, 7, 128, 129, 1000]
SIZES_N = [16, 32, 64, 4096, 7168]


@pytest.mark.gpu
@pytest.mark.parametrize("n", SIZES_N)
@pytest.mark.parametrize("m", SIZES_M)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_matches_reference(dtype, m, n):
    x = make_input(m, n, dtype, seed=m * 7 + n)
    gs = global_scale_for(x)
    out, scales = kernelkit_ops.scaled_fp4_quant(x, gs)
    assert_matches_reference(x, gs, out, scales)
    # The op itself into poisoned buffers: every byte written, padding rows and columns as 0.
    raw_out, raw_scales = run_op(x, gs)
    assert torch.equal(raw_out, out) and torch.equal(raw_scales.view(torch.uint8), scales.view(torch.uint8))


@pytest.mark.gpu
@pytest.mark.parametrize("n", [4096, 7168])
def test_large_m(n):
    m = 16384
    x = make_input(m, n, torch.bfloat16, seed=n)
    gs = global_scale_for(x)
    out, scales = run_op(x, gs)
    assert_matches_reference(x, gs, out, scales)


@pytest.mark.gpu
@pytest.mark.parametrize(
    "gs_value", [1.0, 0.37, 1e-3, 3e4, -1.0, 0.0, float("inf"), float("nan")], ids=lambda v: f"gs={v}"
)
def test_other_global_scales(gs_value):
    """Scales far from 448 * 6 / amax: e4m3 saturation (large), subnormal and zero block scales (small);
    and the ones no caller should pass, which the formula still defines (negative, 0, inf, NaN)."""
    x = make_input(130, 512, torch.bfloat16, seed=3)
    gs = torch.tensor([gs_value], device="cuda", dtype=torch.float32)
    out, scales = run_op(x, gs)
    assert_matches_reference(x, gs, out, scales)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_follows_sgl_kernels_reciprocals_not_exact_division(dtype):
    """The reference runs rcp.approx.ftz.f32 itself, and the op matches it on inputs where exact division
    (kernelkit's arithmetic before issue 22) gives other codes. Such codes need an x * inv within an ulp of an
    e2m1 tie, which the serving stack's gs = 448 * 6 / amax makes reachable for some global scales only (about
    every second one on bf16 data, every third on fp16, measured with the CPU's stand-in): 48 inputs of other
    magnitudes, so that some certainly do."""
    g = torch.Generator("cuda").manual_seed(22)
    differ = 0
    for _ in range(48):
        magnitude = torch.exp2(torch.rand(1, device="cuda", generator=g) * 8 - 4)
        x = (torch.randn(256, 2048, device="cuda", generator=g) * magnitude).to(dtype)
        gs = global_scale_for(x)
        out, scales = run_op(x, gs)
        assert_matches_reference(x, gs, out, scales)
        exact_out, _ = reference(x, gs, block_scales_exact_division)
        differ += int((out != exact_out).sum())
    assert differ > 0, "no input told sgl-kernel's arithmetic from exact division"


@pytest.mark.gpu
def test_exact_ties_and_saturation():
    """gs = 1 and a block max of 6 make the scale exactly 1, so x * inv = x hits every tie: checked
    against hand-written codes (not only the reference)."""
    row = [6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, -6.0]
    codes = [7, 0, 2, 2, 4, 4, 6, 6, 8, 10, 10, 12, 12, 14, 14, 15]
    x = torch.tensor([row, [-v for v in row]], device="cuda", dtype=torch.bfloat16)
    gs = torch.ones(1, device="cuda")
    out, scales = run_op(x, gs)
    want = torch.tensor([codes, [c ^ 8 for c in codes]], dtype=torch.uint8)
    packed = (want[:, 0::2] | (want[:, 1::2] << 4)).cuda()
    assert torch.equal(out, packed), (out.tolist(), packed.tolist())
    assert unswizzle(scales, 2, 1).float().flatten().tolist() == [1.0, 1.0]
    assert_matches_reference(x, gs, out, scales)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_zero_nan_inf_blocks(dtype):
    """All-zero blocks (scale 0, codes 0, no division by zero), -0 (code 8), NaN (ignored by the max,
    quantized to +6), +-inf (scale saturates at 448, inf -> +-6), all-NaN blocks (scale NaN, as sgl-kernel's
    maximum gives it; codes +6)."""
    m, n = 5, 128
    x = make_input(m, n, dtype, seed=11)
    x[0, :] = 0
    x[1, 16:32] = 0
    x[1, 32:48] = -0.0
    x[2, 3] = float("nan")
    x[2, 40] = float("inf")
    x[2, 70] = float("-inf")
    x[3, 48:64] = float("nan")
    x[4, 0:16] = torch.tensor([1e-30] * 8 + [-1e-30] * 8, device="cuda")  # underflow, sign kept
    gs = global_scale_for(x)
    out, scales = run_op(x, gs)
    assert_matches_reference(x, gs, out, scales)
    assert int(out[0].max()) == 0 and unswizzle(scales, m, n // 16)[0].float().abs().max() == 0
    assert bool((out[1, 16:24] == 0x88).all())  # -0 -> 0b1000 in both nibbles
    assert bool((out[3, 24:32] == 0x77).all())  # all-NaN block -> +6
    assert unswizzle(scales, m, n // 16)[3, 3].float().isnan()  # ... and its scale NaN
    assert unswizzle(scales, m, n // 16)[2, 2].float() == 448.0  # the block with +inf


@pytest.mark.gpu
def test_row_strided_and_unaligned_input():
    wide = make_input(37, 4096 + 64, torch.bfloat16, seed=5)
    for x in (wide[:, :4096], wide[:, 8:4104], wide[:, 3:4099]):  # 16-byte rows; 8-aligned; odd offset
        gs = global_scale_for(x)
        out, scales = kernelkit_ops.scaled_fp4_quant(x, gs)
        assert_matches_reference(x.contiguous(), gs, out, scales)


@pytest.mark.gpu
def test_3d_and_1d_inputs_flatten_into_rows():
    x = make_input(6, 96, torch.float16, seed=9)
    gs = global_scale_for(x)
    out, scales = kernelkit_ops.scaled_fp4_quant(x.reshape(2, 3, 96), gs)
    assert_matches_reference(x, gs, out, scales)
    out1, scales1 = kernelkit_ops.scaled_fp4_quant(x[0], gs)
    assert out1.shape == (1, 48) and scales1.shape == (128, 8)
    assert_matches_reference(x[:1], gs, out1, scales1)


@pytest.mark.gpu
def test_empty_input_launches_nothing():
    x = torch.empty(0, 4096, device="cuda", dtype=torch.bfloat16)
    out, scales = kernelkit_ops.scaled_fp4_quant(x, torch.ones(1, device="cuda"))
    assert out.shape == (0, 2048) and scales.shape == (0, 256) and scales.dtype == torch.float8_e4m3fn


@pytest.mark.gpu
def test_sgl_int32_scale_buffer():
    """sgl-kernel's wrapper hands the op an int32 [round_up(m, 128), round_up(n / 16, 4) / 4] buffer."""
    x = make_input(130, 7168, torch.bfloat16, seed=2)
    gs = global_scale_for(x)
    out, scales = run_op(x, gs, scale_dtype=torch.int32)
    assert_matches_reference(x, gs, out, scales)


@pytest.mark.gpu
def test_opcheck():
    x = make_input(130, 256, torch.bfloat16, seed=4)
    gs = global_scale_for(x)
    rows, cols = padded_shape(130, 256)
    out = torch.empty(130, 128, device="cuda", dtype=torch.uint8)
    scales = torch.empty(rows, cols // 4, device="cuda", dtype=torch.int32)
    for pdl in (True, False):
        torch.library.opcheck(torch.ops.kernelkit.scaled_fp4_quant.default, (out, x, scales, gs, pdl))


@pytest.mark.gpu
@pytest.mark.parametrize("m", [1, 2048])
def test_pdl_reads_what_the_previous_kernel_wrote(m):
    # With PDL the launch overlaps the previous kernel; griddepcontrol.wait must still see its writes (the
    # input and the global scale). Producers: plain copies, then fused_add_rmsnorm launched with PDL.
    x = make_input(m, 4096, torch.bfloat16, seed=m)
    gs_value = global_scale_for(x)
    r, w = torch.randn_like(x), torch.rand(4096, device="cuda", dtype=x.dtype) + 0.5
    buf, gs = torch.empty_like(x), torch.empty(1, device="cuda")
    results = []
    for pdl in (True, False):
        buf.fill_(float("nan"))
        buf.copy_(x)
        gs.fill_(float("nan"))
        gs.copy_(gs_value)
        out, scales = run_op(buf, gs, enable_pdl=pdl)
        assert_matches_reference(x, gs_value, out, scales)
        kernelkit_ops.fused_add_rmsnorm(buf, r.clone(), w, enable_pdl=True)
        out, scales = run_op(buf, gs, enable_pdl=pdl)
        assert_matches_reference(buf, gs_value, out, scales)
        results.append(out)
    assert torch.equal(results[0], results[1])


@pytest.mark.gpu
def test_torch_compile_fullgraph():
    fn = torch.compile(kernelkit_ops.scaled_fp4_quant, fullgraph=True)
    x = make_input(200, 1024, torch.bfloat16, seed=6)
    gs = global_scale_for(x)
    out, scales = fn(x, gs)
    assert_matches_reference(x, gs, out, scales)


@pytest.mark.gpu
def test_wrapper_rejects_a_scale_on_another_device():
    x = torch.randn(4, 32, device="cuda", dtype=torch.bfloat16)
    with pytest.raises(RuntimeError, match="scaled_fp4_quant: input_global_scale must be a CUDA tensor"):
        kernelkit_ops.scaled_fp4_quant(x, torch.ones(1))
    if torch.cuda.device_count() > 1:
        with pytest.raises(
            RuntimeError, match="scaled_fp4_quant: input and input_global_scale must be on the same device"
        ):
            kernelkit_ops.scaled_fp4_quant(x, torch.ones(1, device="cuda:1"))


@pytest.mark.gpu
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": lambda: torch.empty(4, 15, device="cuda", dtype=torch.uint8)}, r"output must have shape \[4, 16\]"),
        ({"output": lambda: torch.empty(4, 16, device="cuda", dtype=torch.int8)}, "output must be uint8, got int8"),
        (
            {"output_scale": lambda: torch.empty(128, 3, device="cuda", dtype=torch.uint8)},
            r"output_scale must have shape \[128, 4\]",
        ),
        (
            {"output_scale": lambda: torch.empty(128, 4, device="cuda", dtype=torch.float32)},
            "output_scale must be float8_e4m3fn",
        ),
        (
            {"output_scale": lambda: torch.empty(128, 2, device="cuda", dtype=torch.int32)},
            r"output_scale must have shape \[128, 1\]",
        ),
        ({"input": lambda: torch.randn(4, 32, device="cuda")}, "input must be one of bfloat16, float16, got float32"),
        (
            {"input": lambda: torch.randn(4, 40, device="cuda", dtype=torch.bfloat16)},
            r"input's last dimension \(40\) must be a multiple of 16",
        ),
        ({"input_global_scale": lambda: torch.ones(1)}, "input_global_scale must be a CUDA tensor"),
        ({"input_global_scale": lambda: torch.ones(2, device="cuda")}, "input_global_scale must hold one value"),
        (
            {"input_global_scale": lambda: torch.ones(1, device="cuda", dtype=torch.float64)},
            "input_global_scale must be float32, got float64",
        ),
    ],
    ids=[
        "out-shape",
        "out-dtype",
        "scale-shape",
        "scale-dtype",
        "scale-int32-shape",
        "input-fp32",
        "n-not-16",
        "gs-cpu",
        "gs-numel",
        "gs-dtype",
    ],
)
def test_binding_rejects_bad_input(change, message):
    args = {
        "output": lambda: torch.empty(4, 16, device="cuda", dtype=torch.uint8),
        "input": lambda: torch.randn(4, 32, device="cuda", dtype=torch.bfloat16),
        "output_scale": lambda: torch.empty(128, 4, device="cuda", dtype=torch.float8_e4m3fn),
        "input_global_scale": lambda: torch.ones(1, device="cuda"),
    }
    args.update(change)
    with pytest.raises(RuntimeError, match=f"scaled_fp4_quant: {message}"):
        torch.ops.kernelkit.scaled_fp4_quant.default(
            *(args[k]() for k in ("output", "input", "output_scale", "input_global_scale")), True
        )
