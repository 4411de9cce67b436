"""What the tests of the grouped NVFP4 quantizers share: inputs, masks, the run on poisoned buffers, the comparison
with fp4_reference.grouped_reference, and the kernels' own code run on the CPU (KERNELKIT_FP4_EMULATION in
kernelkit/families/fp4_grouped.cuh), compiled with nvcc, for machines without a GPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from fp4_reference import (
    OUT_POISON,
    SCALE_POISON,
    fp8_bytes_equal,
    grouped_reference,
    padded_shape,
    scale_offsets,
    valid_rows,
)

ROOT = Path(__file__).resolve().parents[3]  # tests/ops/quantization/this file
INCLUDE = ROOT / "library/include"
DTYPES = [torch.bfloat16, torch.float16]
FP4_SKIP_REASON = "kernelkit_ops was built without FP4 kernels (kernelkit build --fp4)"


def make_input(n_exp: int, m: int, n: int, dtype: torch.dtype, device: str = "cuda", seed: int = 0) -> torch.Tensor:
    """[l, m, n] (n % 16 == 0) random values whose magnitudes differ by expert, row and block of 16 (many
    block scales), never zeros."""
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randn(n_exp, m, n, generator=g, device=device)
    if x.numel() == 0:
        return x.to(dtype)
    row_scale = torch.exp2(torch.randint(-4, 5, (n_exp, m, 1), generator=g, device=device).float())
    block_scale = torch.exp2(torch.randn(n_exp, m, n // 16, 1, generator=g, device=device) * 1.5)
    return ((x.reshape(n_exp, m, n // 16, 16) * block_scale).reshape(n_exp, m, n) * row_scale).to(dtype)


def global_scales_for(y: torch.Tensor) -> torch.Tensor:
    """One per expert, as a serving stack computes them: 448 * 6 / amax of the expert's values."""
    amax = y.float().abs().nan_to_num(nan=0.0, posinf=0.0).amax(dim=(1, 2)) if y.numel() else torch.ones(y.shape[0])
    return (448.0 * 6.0 / amax.clamp(min=1e-12)).to(torch.float32).to(y.device)


def poisoned(n_exp: int, m: int, k: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    rows, cols = padded_shape(m, k)
    out = torch.full((n_exp, m, k // 2), OUT_POISON, dtype=torch.uint8, device=device)
    scales = torch.full((n_exp, rows, cols), SCALE_POISON, dtype=torch.uint8, device=device)
    return out, scales


def assert_grouped_equal(out, scales, want_out, want_scales) -> None:
    """Codes byte for byte, scales byte for byte (NaN matching NaN), poison included: the bytes the op
    must not write are checked to be untouched."""
    assert out.dtype == torch.uint8 and out.shape == want_out.shape, (out.dtype, out.shape, want_out.shape)
    assert scales.shape == want_scales.shape, (scales.shape, want_scales.shape)
    bad = out != want_out
    if bad.any():
        idx = torch.nonzero(bad)[:5].tolist()
        detail = [(i, int(out[tuple(i)]), int(want_out[tuple(i)])) for i in idx]
        raise AssertionError(f"{int(bad.sum())} code bytes differ (index [e, row, byte], got, want): {detail}")
    bad = ~fp8_bytes_equal(scales.view(torch.uint8), want_scales.view(torch.uint8))
    if bad.any():
        idx = torch.nonzero(bad)[:5].tolist()
        got, want = scales.view(torch.uint8), want_scales.view(torch.uint8)
        detail = [(i, int(got[tuple(i)]), int(want[tuple(i)])) for i in idx]
        raise AssertionError(f"{int(bad.sum())} scale bytes differ (index [e, byte row, col], got, want): {detail}")


def physical(output: torch.Tensor, output_scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The wrapper's logical views back to the physical [l, m, k / 2] and [l, padded_m, padded_k] (no copy)."""
    out = output.permute(2, 0, 1)
    rm, rk, n_exp = output_scales.shape[2], output_scales.shape[4], output_scales.shape[5]
    scales = output_scales.permute(5, 2, 4, 0, 1, 3)
    assert out.is_contiguous() and scales.is_contiguous(), "the logical views must be permutes of contiguous tensors"
    return out, scales.reshape(n_exp, rm * 128, rk * 4)


# ------------------------------------------------- the kernels' own code, run on the CPU (no GPU)

EMULATOR_SOURCE = r"""
// The grouped kernels' launch shape, row walk, loads, values, scales, codes and stores on the CPU
// (KERNELKIT_FP4_EMULATION in kernelkit/families/fp4_grouped.cuh).
// argv: input.bin params.bin output.bin experts rows cols expert_stride row_stride offset dtype(bf16|fp16) silu
//       capacity
// params.bin: experts float32 global scales, then experts int32 masks. output.bin: the codes, then the scale bytes
// (buffers poisoned with 0xAB / 0xA5 first).
#define KERNELKIT_FP4_EMULATION 1
#include "kernelkit/families/fp4_grouped.cuh"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
int main(int argc, char** argv) {
  if (argc != 13) return 2;
  const long long experts = std::atoll(argv[4]), rows = std::atoll(argv[5]), cols = std::atoll(argv[6]);
  const long long expert_stride = std::atoll(argv[7]), row_stride = std::atoll(argv[8]), offset = std::atoll(argv[9]);
  const bool bf16 = std::string(argv[10]) == "bf16", silu = std::atoi(argv[11]) != 0;
  const int capacity = std::atoi(argv[12]);
  std::vector<unsigned short> input;
  std::FILE* in = std::fopen(argv[1], "rb");
  unsigned short v;
  while (std::fread(&v, 2, 1, in) == 1) input.push_back(v);
  std::fclose(in);
  std::vector<float> gs(experts);
  std::vector<int> mask(experts);
  std::FILE* p = std::fopen(argv[2], "rb");
  if (std::fread(gs.data(), 4, experts, p) != static_cast<size_t>(experts)) return 3;
  if (std::fread(mask.data(), 4, experts, p) != static_cast<size_t>(experts)) return 3;
  std::fclose(p);
  const long long padded_rows = (rows + 127) / 128 * 128, padded_cols = (cols / 16 + 3) / 4 * 4;
  const size_t out_bytes = experts * rows * cols / 2;
  std::vector<unsigned long long> out(out_bytes / 8 + 1);
  std::memset(out.data(), 0xAB, out.size() * 8);
  std::vector<unsigned char> scales(experts * padded_rows * padded_cols, 0xA5);
  const unsigned short* x = input.data() + offset;
  if (silu) {
    kernelkit::fp4_grouped::emulate<true>(out.data(), scales.data(), x, expert_stride, row_stride, experts, rows, cols,
                                          gs.data(), mask.data(), bf16, capacity);
  } else {
    kernelkit::fp4_grouped::emulate<false>(out.data(), scales.data(), x, expert_stride, row_stride, experts, rows, cols,
                                           gs.data(), mask.data(), bf16, capacity);
  }
  std::FILE* o = std::fopen(argv[3], "wb");
  std::fwrite(out.data(), 1, out_bytes, o);
  std::fwrite(scales.data(), 1, scales.size(), o);
  std::fclose(o);
  return 0;
}
"""


def nvcc() -> str:
    path = os.environ.get("CUDACXX") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not Path(path).is_file():
        pytest.skip("needs nvcc")
    return path


def build_emulator(folder: Path) -> Path:
    (folder / "emulate.cu").write_text(EMULATOR_SOURCE)
    built = subprocess.run(
        [nvcc(), "-O2", "-std=c++17", "--expt-relaxed-constexpr", f"-I{INCLUDE}",
         "-gencode=arch=compute_90a,code=sm_90a", str(folder / "emulate.cu"), "-o", str(folder / "emulate")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return folder / "emulate"


def emulate(
    emulator: Path,
    folder: Path,
    x: torch.Tensor,
    gs: torch.Tensor,
    mask: torch.Tensor,
    *,
    silu: bool,
    row_pad: int = 0,
    expert_pad: int = 0,
    offset: int = 0,
    capacity: int = 660,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The kernel code on the CPU for x [l, m, n] (silu: n = 2k), its rows `n + row_pad` elements apart, its
    experts `m * row stride + expert_pad` apart, `offset` elements into the buffer (16-byte loads only when
    all of them allow), the launch shape of a GPU holding `capacity` CTAs at once (660: an H100). Returns
    the poisoned buffers as the kernel left them: codes [l, m, k / 2], scale bytes [l, padded_m, padded_k]."""
    n_exp, m, n = x.shape
    k = n // 2 if silu else n
    row_stride = n + row_pad
    expert_stride = m * row_stride + expert_pad
    size = offset + (n_exp - 1) * expert_stride + (m - 1) * row_stride + n if x.numel() else offset + 1
    buffer = torch.zeros(size, dtype=x.dtype)
    if x.numel():
        buffer[offset:].as_strided((n_exp, m, n), (expert_stride, row_stride, 1)).copy_(x)
    (folder / "in.bin").write_bytes(buffer.view(torch.int16).numpy().tobytes())
    params = gs.float().contiguous().view(torch.int32).tolist() + mask.int().tolist()
    (folder / "params.bin").write_bytes(torch.tensor(params, dtype=torch.int32).numpy().tobytes())
    dtype = "bf16" if x.dtype == torch.bfloat16 else "fp16"
    subprocess.run(
        [str(emulator), str(folder / "in.bin"), str(folder / "params.bin"), str(folder / "out.bin"), str(n_exp), str(m),
         str(k), str(expert_stride), str(row_stride), str(offset), dtype, str(int(silu)), str(capacity)],
        check=True, timeout=600,
    )  # fmt: skip
    data = torch.frombuffer(bytearray((folder / "out.bin").read_bytes()), dtype=torch.uint8)
    rows, cols = padded_shape(m, k)
    out = data[: n_exp * m * k // 2].reshape(n_exp, m, k // 2)
    scales = data[n_exp * m * k // 2 :].reshape(n_exp, rows, cols)
    return out, scales


def expected(values: torch.Tensor, gs: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """grouped_reference on the values that get quantized (after SiLU-and-mul for the fused op)."""
    return grouped_reference(values, gs, mask)


def compile_for_archs(kernel: Path, tmp_path: Path) -> None:
    """The op's kernel compiles for sm_90a (software e2m1) and sm_100a (the cvt instruction), and its PTX
    uses the instruction exactly on sm_100a."""
    for arch, uses_cvt in (("90a", False), ("100a", True)):
        common = [nvcc(), "-std=c++17", "-O3", "--expt-relaxed-constexpr", "-DKERNELKIT_ENABLE_FP4=1", f"-I{INCLUDE}"]
        obj = subprocess.run(
            [*common, f"-gencode=arch=compute_{arch},code=sm_{arch}", "-c", str(kernel), "-o", str(tmp_path / "k.o")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert obj.returncode == 0, f"sm_{arch}:\n{obj.stderr[-3000:]}"
        ptx = subprocess.run(
            [*common, f"-arch=compute_{arch}", "-ptx", str(kernel), "-o", str(tmp_path / f"k{arch}.ptx")],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert ptx.returncode == 0, ptx.stderr[-3000:]
        text = (tmp_path / f"k{arch}.ptx").read_text()
        assert ("cvt.rn.satfinite.e2m1x2.f32" in text) is uses_cvt, arch


def written(n_exp: int, m: int, k: int, mask: torch.Tensor, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Which bytes the op writes: the codes of each expert's valid rows, and their scales (padding columns
    included) at the swizzled offsets. Boolean [l, m, k / 2] and [l, padded_m, padded_k]."""
    rows, cols = padded_shape(m, k)
    out_w = torch.zeros(n_exp, m, k // 2, dtype=torch.bool, device=device)
    scale_w = torch.zeros(n_exp, rows * cols, dtype=torch.bool, device=device)
    for e, v in enumerate(valid_rows(mask, m)):
        out_w[e, :v] = True
        if v and cols:
            scale_w[e, scale_offsets(v, cols, device).reshape(-1)] = True
    return out_w, scale_w.reshape(n_exp, rows, cols)


def poison_unwritten(out, scales, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Copies of codes and scale bytes with OUT_POISON / SCALE_POISON wherever the op does not write: what a
    run on poisoned buffers leaves, made from the wrapper's fresh (torch.empty) ones."""
    n_exp, m, half_k = out.shape
    out_w, scale_w = written(n_exp, m, 2 * half_k, mask, out.device)
    return torch.where(out_w, out, OUT_POISON), torch.where(scale_w, scales.view(torch.uint8), SCALE_POISON)


def assert_written_equal(out, scales, want_out, want_scales, mask) -> None:
    """Only the bytes the op writes (the wrapper's buffers come from torch.empty: the rest is garbage)."""
    assert_grouped_equal(*poison_unwritten(out, scales, mask), want_out, want_scales)


def masks_for(n_exp: int, m: int, seed: int, device="cuda") -> torch.Tensor:
    """Random valid-row counts, and among them a full expert, an empty one, one past m (clamped to m) and a
    negative one (none), as far as l allows."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.randint(0, m + 1, (n_exp,), generator=g, dtype=torch.int32)
    for e, v in enumerate([m, 0, m + 5, -1][:n_exp]):
        mask[e] = v
    return mask.to(device)
