"""NVFP4 quantization as sgl-kernel code calls it: ``scaled_fp4_quant`` (FP4 builds; skipped otherwise).

What sgl-kernel's API and tests establish, and callers rely on:
* ``output, output_scale = scaled_fp4_quant(x, global_scale)``: x ``[..., n]`` bf16/fp16 with ``n % 16 == 0``
  is taken as rows ``[m, n]`` (a 1-D x as one row); ``global_scale`` float32 with one value, a 0-d tensor in
  its tests (``448 * 6 / amax``); ``output`` uint8 ``[m, n / 2]``, two e2m1 codes a byte, the even element in
  the low nibble; ``output_scale`` float8_e4m3fn ``[round_up(m, 128), round_up(n / 16, 4)]`` whose bytes hold
  the scale of row r, block k in the 128x4 tiles of Blackwell's block-scaled MMA -- the layout sgl-kernel's
  test undoes with ``reshape(rm / 128, rn / 4, 32, 4, 4).permute(0, 3, 2, 1, 4)`` -- padding zero;
* the numbers: per 16 values ``sf = e4m3(gs * (max|x| * rcp(6)))`` and ``q = e2m1(x * rcp(sf * rcp(gs)))`` (0
  where sf is 0), ``rcp`` the PTX instruction ``rcp.approx.ftz.f32`` as sgl-kernel's kernel issues it
  (``csrc/gemm/nvfp4_quant_kernels.cu``, ``cvt_warp_fp16_to_fp4``), products IEEE; on its tests' shapes
  (multiples of 128 x 64, and padded ones like 90 x 48), bit for bit with fp4_reference.py, which runs the
  instruction itself and which the FP4 op's own tests hold the kernel to.
sgl-kernel runs these kernels on sm_100+ only; kernelkit also on sm_90 (the same reciprocal instruction, a
bit-identical software e2m1 rounding).
"""

from __future__ import annotations

import fp4_reference
import kernelkit_ops
import pytest
import torch
from compat_helpers import requires_fp4

pytestmark = [pytest.mark.gpu, requires_fp4]

SHAPES = [(128, 64), (128, 128), (256, 64), (256, 128)]
PAD_SHAPES = [
    (90, 64),
    (150, 64),
    (128, 48),
    (128, 80),
    (150, 80),
    (90, 48),
    (90, 128),
    (150, 128),
    (150, 48),
    (90, 80),
]
FP8_MAX, E2M1_MAX = 448.0, 6.0


def global_scale_of(x: torch.Tensor) -> torch.Tensor:
    """sgl-kernel's tests' global scale: a 0-d float32 CUDA tensor."""
    return FP8_MAX * E2M1_MAX / x.abs().max().to(torch.float32)


def row_major_scales(output_scale: torch.Tensor, m: int, n: int) -> torch.Tensor:
    """The [m, n / 16] scales out of the swizzled tensor, undone the way sgl-kernel's test does it."""
    rows, cols = output_scale.shape
    tiles = output_scale.view(torch.uint8).reshape(rows // 128, cols // 4, 32, 4, 4)
    return tiles.permute(0, 3, 2, 1, 4).reshape(rows, cols)[:m, : n // 16].view(torch.float8_e4m3fn)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES + PAD_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_upstream_shapes_bit_for_bit(dtype, shape):
    m, n = shape
    x = torch.randn(shape, device="cuda", dtype=dtype)
    gs = global_scale_of(x)
    assert gs.dim() == 0
    output, output_scale = kernelkit_ops.scaled_fp4_quant(x, gs)

    assert output.dtype == torch.uint8 and output.shape == (m, n // 2)
    assert output_scale.dtype == torch.float8_e4m3fn
    assert output_scale.shape == ((m + 127) // 128 * 128, (n // 16 + 3) // 4 * 4)
    want_q, want_scale = fp4_reference.reference(x, gs)
    assert torch.equal(output, want_q)
    assert torch.equal(output_scale.view(torch.uint8), want_scale.view(torch.uint8))
    _, want_sf = fp4_reference.quantize(x, gs)
    assert torch.equal(row_major_scales(output_scale, m, n).view(torch.uint8), want_sf.view(torch.uint8))


@pytest.mark.parametrize("lead", [(), (3, 50)], ids=["1-d", "3-d"])
def test_other_ranks_are_rows(lead):
    """A 1-D input is one row; higher ranks flatten their leading dims into rows."""
    x = torch.randn(*lead, 256, device="cuda", dtype=torch.bfloat16)
    gs = torch.tensor([FP8_MAX * E2M1_MAX], device="cuda") / x.abs().max().float()  # shape [1] works too
    output, output_scale = kernelkit_ops.scaled_fp4_quant(x, gs)
    rows = x.reshape(-1, 256)
    assert output.shape == (rows.shape[0], 128)
    want_q, want_scale = fp4_reference.reference(rows, gs)
    assert torch.equal(output, want_q)
    assert torch.equal(output_scale.view(torch.uint8), want_scale.view(torch.uint8))


def test_even_element_in_the_low_nibble():
    """The packing sgl-kernel's test decodes: byte = code(x[2i]) | code(x[2i + 1]) << 4."""
    x = torch.tensor([[1.0, -6.0] + [0.5, 3.0] * 7], device="cuda", dtype=torch.bfloat16)
    output, _ = kernelkit_ops.scaled_fp4_quant(x, torch.tensor(FP8_MAX * E2M1_MAX / 6.0, device="cuda"))
    # gs = 448: sf = e4m3(448 * (6 * rcp(6))) = 448, so x * rcp(sf * rcp(gs)) is x to within an ulp or two, far from
    # any rounding threshold; codes 1.0 -> 2, -6 -> 15, 0.5 -> 1, 3 -> 5
    assert output[0].tolist() == [0x2 | 0xF << 4] + [0x1 | 0x5 << 4] * 7
