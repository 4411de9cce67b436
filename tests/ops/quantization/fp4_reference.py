"""The NVFP4 rounding the FP4 quantizer tests hold the kernels to, written once in PyTorch (fp32).

sgl-kernel's arithmetic (cvt_warp_fp16_to_fp4 in its csrc/gemm/nvfp4_quant_kernels.cu, the same in
nvfp4_expert_quant.cu). Per block of 16 values along the last dim, with gs the global scale (fp32), in this order:
    vmax = max |x|                                 NaN ignored; NaN when all 16 are NaN
    sf   = e4m3_rn_sat(gs * (vmax * RCP_E2M1_MAX))  = (...).clamp(-448, 448).to(float8_e4m3fn)
    inv  = 0 if float(sf) == 0 else RCP(float(sf) * RCP(gs))
    q    = e2m1_rn_satfinite(x * inv)
RCP is rcp.approx.ftz.f32, the instruction sgl-kernel's kernels issue (inline PTX) and kernelkit's too, on every
GPU: on CUDA tensors the reference runs the instruction itself (sgl_math.rcp_approx, Triton); on CPU tensors
(the tests of the kernels' code emulated on the CPU) it takes rcp_ieee_ftz, the correctly rounded 1 / x with
the same flushing of denormals, which the CPU emulation takes too. RCP(6.0f) of sgl-kernel's source is a
constant that ptxas folds to fl32(1/6) = 0x3E2AAAAB (its sm_100a SASS multiplies by 0.16666667163372039795):
RCP_E2M1_MAX, on both devices. The products are IEEE (mul.rn.f32, denormals kept: sgl-kernel's sm_100 build,
the only one that runs these kernels, has no fast math).

e2m1: |q| in {0, 0.5, 1, 1.5, 2, 3, 4, 6} -> code 0..7, sign in bit 3. Round to nearest, ties to the even
code (0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4); above 6 and +-inf -> +-6;
NaN -> +6 (0b0111); the sign is kept for zero and underflow (-0, -0.1 -> 0b1000). That is PTX
cvt.rn.satfinite.e2m1x2.f32 (checked against cuda_fp4.hpp's emulation of it in the tests).

Scales: [round_up(m, 128), round_up(n / 16, 4)] e4m3 in the 128x4 swizzled layout (Blackwell block-scaled
MMA), padding 0.
"""

from __future__ import annotations

import torch
from sgl_math import f32, flush_denormals, rcp_approx

BLOCK = 16
E2M1_MAX = 6.0
RCP_E2M1_MAX = f32(1 / 6)  # 0x3E2AAAAB: rcp.approx.ftz.f32(6.0f) folded at compile time (fp4.cuh: kRcpE2m1Max)
FP8_MAX = 448.0
# code -> value (codes 8..15 are the negatives; 8 is -0)
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


def e2m1_codes(y: torch.Tensor) -> torch.Tensor:
    """fp32 values -> e2m1 codes (uint8, 0..15). Each threshold is the midpoint of two neighbours;
    `>` leaves the tie with the lower (even) code, `>=` gives it to the upper (even) one."""
    y = y.float()
    a = y.abs()
    code = (a > 0.25).int() + (a >= 0.75).int() + (a > 1.25).int() + (a >= 1.75).int()
    code += (a > 2.5).int() + (a >= 3.5).int() + (a > 5.0).int()
    nan = torch.isnan(y)
    code = torch.where(nan, torch.full_like(code, 7), code)
    negative = torch.signbit(y) & ~nan
    return (code | (negative.int() << 3)).to(torch.uint8)


def e2m1_values(codes: torch.Tensor) -> torch.Tensor:
    return torch.tensor(E2M1_VALUES, device=codes.device)[codes.long()]


def block_absmax(x: torch.Tensor) -> torch.Tensor:
    """[m, n] -> [m, n / 16] fp32: max |x| of each block of 16, NaN ignored (NaN for an all-NaN block, as
    sgl-kernel's __hmax gives it)."""
    m, n = x.shape
    a = x.float().abs().reshape(m, n // BLOCK, BLOCK)
    vmax = a.nan_to_num(nan=0.0, posinf=float("inf")).amax(dim=-1)
    return torch.where(a.isnan().all(dim=-1), float("nan"), vmax)


def rcp_ieee_ftz(t: torch.Tensor) -> torch.Tensor:
    """The CPU emulation's stand-in for rcp.approx.ftz.f32: the correctly rounded 1 / t, a denormal t read as
    +-0 (-> +-inf) and a denormal result flushed to +-0 (fp4.cuh's host rcp_approx_ftz)."""
    t = flush_denormals(t.float())
    return flush_denormals(torch.ones_like(t) / t)


def rcp(t: torch.Tensor) -> torch.Tensor:
    """RCP as the kernel on t's device computes it: rcp.approx.ftz.f32 itself on a CUDA tensor, the CPU
    emulation's stand-in (rcp_ieee_ftz) on a CPU tensor."""
    return rcp_approx(t.float().contiguous()) if t.is_cuda else rcp_ieee_ftz(t)


def block_scales(x: torch.Tensor, global_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sf e4m3 [m, n / 16], inv fp32 [m, n / 16]) as the kernel computes them (sgl-kernel's arithmetic)."""
    vmax = block_absmax(x)
    gs = global_scale.float().reshape(1, 1).to(x.device)
    scaled = gs * (vmax * RCP_E2M1_MAX)  # in this order, as the kernels
    sf = scaled.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    sf_value = sf.float()
    inv = rcp(sf_value * rcp(gs))
    inv = torch.where(sf_value == 0, torch.zeros_like(inv), inv)
    return sf, inv


def block_scales_exact_division(x: torch.Tensor, global_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What kernelkit computed before it followed sgl-kernel (IEEE division: sf = e4m3(gs * (vmax / 6)),
    inv = 1 / (sf / gs)); only for tests showing that they tell the two apart."""
    vmax = block_absmax(x)
    gs = global_scale.float().reshape(1, 1).to(x.device).expand_as(vmax).contiguous()
    # Every division divides by a full tensor: torch's CUDA division by a Python scalar multiplies by its
    # reciprocal instead, which differs in the last bit.
    scaled = gs * (vmax / torch.full_like(vmax, E2M1_MAX))
    sf = scaled.clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    sf_value = sf.float()
    inv = torch.ones_like(sf_value) / (sf_value / gs)
    return sf, torch.where(sf_value == 0, torch.zeros_like(inv), inv)


def quantize(x: torch.Tensor, global_scale: torch.Tensor, arithmetic=block_scales) -> tuple[torch.Tensor, torch.Tensor]:
    """[m, n] -> (packed uint8 [m, n / 2], sf e4m3 [m, n / 16] in plain row-major order). `arithmetic`:
    block_scales (the kernels'), or block_scales_exact_division for comparisons."""
    m, n = x.shape
    sf, inv = arithmetic(x, global_scale)
    y = x.float().reshape(m, n // BLOCK, BLOCK) * inv.unsqueeze(-1)
    codes = e2m1_codes(y).reshape(m, n)
    packed = codes[:, 0::2] | (codes[:, 1::2] << 4)
    return packed.contiguous(), sf


def padded_shape(m: int, n: int) -> tuple[int, int]:
    return (m + 127) // 128 * 128, (n // BLOCK + 3) // 4 * 4


def swizzle(sf: torch.Tensor) -> torch.Tensor:
    """[m, blocks] e4m3 -> [round_up(m, 128), round_up(blocks, 4)] e4m3 in the 128x4 layout, padding 0.

    The padded matrix's row r = 128 * tile + 32 * group + i and block k = 4 * ktile + j go to
    [tile][ktile][i][group][j] of the output's bytes.
    """
    m, blocks = sf.shape
    rows, cols = (m + 127) // 128 * 128, (blocks + 3) // 4 * 4
    padded = torch.zeros(rows, cols, dtype=torch.uint8, device=sf.device)
    padded[:m, :blocks] = sf.view(torch.uint8)
    tiles = padded.reshape(rows // 128, 4, 32, cols // 4, 4).permute(0, 3, 2, 1, 4).contiguous()
    return tiles.reshape(rows, cols).view(torch.float8_e4m3fn)


def scale_offsets(m: int, blocks: int, device=None) -> torch.Tensor:
    """Byte offset of the scale of (row, block) in the swizzled tensor (the formula the kernel uses)."""
    r = torch.arange(m, device=device).unsqueeze(1)
    k = torch.arange(blocks, device=device).unsqueeze(0)
    tiles = (blocks + 3) // 4
    return ((r // 128) * tiles + k // 4) * 512 + (r % 32) * 16 + (r % 128) // 32 * 4 + k % 4


def unswizzle(scales: torch.Tensor, m: int, blocks: int) -> torch.Tensor:
    """The [m, blocks] scales out of the swizzled tensor."""
    flat = scales.contiguous().view(torch.uint8).reshape(-1)
    return flat[scale_offsets(m, blocks, scales.device)].view(torch.float8_e4m3fn)


def reference(
    x: torch.Tensor, global_scale: torch.Tensor, arithmetic=block_scales
) -> tuple[torch.Tensor, torch.Tensor]:
    """What scaled_fp4_quant(x, global_scale) returns, for x [m, n] (n % 16 == 0); `arithmetic` as quantize's."""
    packed, sf = quantize(x, global_scale, arithmetic)
    return packed, swizzle(sf)


def dequantize(packed: torch.Tensor, scales: torch.Tensor, global_scale: torch.Tensor) -> torch.Tensor:
    """Back to fp32 (q * sf / gs): for sanity checks of the round trip."""
    m = packed.shape[0]
    n = packed.shape[1] * 2
    codes = torch.stack([packed & 0xF, packed >> 4], dim=-1).reshape(m, n)
    sf = unswizzle(scales, m, n // BLOCK).float() / global_scale.float()
    return (e2m1_values(codes).reshape(m, n // BLOCK, BLOCK) * sf.unsqueeze(-1)).reshape(m, n)


# ------------------------------------------------------- the grouped quantizers (masked MoE layout)

# log2(e) rounded to float32: what __expf multiplies by before ex2.approx (its PTX: mul.f32 by 0fBFB8AA3B, the
# negated constant, then ex2.approx.f32).
LOG2E_F32 = 1.44269502162933349609375
SCALE_POISON = 0xA5  # what the grouped tests fill the scale buffers with (not NaN: NaN bytes compare loosely)
OUT_POISON = 0xAB


def ex2_approx_gpu(t: torch.Tensor) -> torch.Tensor:
    """ex2.approx.f32 of every element of a float32 CUDA tensor (the instruction itself, through Triton)."""
    import _sgl_ptx  # Triton: the GPU machine has it, CPU CI does not

    return _sgl_ptx.unary("ex2.approx.f32 $0, $1;", t.float().contiguous())


def ex2_double(t: torch.Tensor) -> torch.Tensor:
    """2^t in float64 rounded to float32: what the CPU emulation of the kernels computes in place of ex2.approx."""
    return torch.exp2(t.double()).float()


def silu_and_mul_values(x: torch.Tensor, ex2=None) -> torch.Tensor:
    """[..., 2k] -> [..., k] in x's dtype: T(silu(g) * u), g = x[..., :k], u = x[..., k:], in float32 with
    silu(g) = g / (1 + ex2(g * -log2 e)) (an IEEE add and division), one rounding to T: what silu_and_mul and
    silu_and_mul_scaled_fp4_grouped_quant compute. `ex2` maps a float32 tensor to 2^t: ex2_approx_gpu for
    the GPU's instruction; by default ex2_double (the CPU emulation's)."""
    k = x.shape[-1] // 2
    g, u = x[..., :k].float(), x[..., k:].float()
    e = (ex2 or ex2_double)(g * -LOG2E_F32)
    return ((g / (1.0 + e)) * u).to(x.dtype)


def valid_rows(mask: torch.Tensor, m: int) -> list[int]:
    """Rows each expert quantizes: mask clamped to [0, m]."""
    return [min(max(int(v), 0), m) for v in mask.tolist()]


def grouped_reference(x: torch.Tensor, global_scale: torch.Tensor, mask: torch.Tensor, arithmetic=block_scales):
    """What scaled_fp4_grouped_quant leaves in buffers filled with OUT_POISON / SCALE_POISON, for x [l, m, k]:
    (codes uint8 [l, m, k / 2], scale bytes uint8 [l, round_up(m, 128), round_up(k / 16, 4)]). Expert e's rows
    r < valid_rows[e] hold reference(x[e, :v], gs[e]) (scales at their swizzled offsets, the row's padding
    columns 0); every other byte keeps its poison. `arithmetic` as quantize's."""
    n_exp, m, k = x.shape
    rows, cols = padded_shape(m, k)
    out = torch.full((n_exp, m, k // 2), OUT_POISON, dtype=torch.uint8, device=x.device)
    scales = torch.full((n_exp, rows * cols), SCALE_POISON, dtype=torch.uint8, device=x.device)
    for e, v in enumerate(valid_rows(mask, m)):
        if v == 0 or k == 0:
            continue
        packed, sf = quantize(x[e, :v], global_scale[e : e + 1], arithmetic)
        out[e, :v] = packed
        offsets = scale_offsets(v, cols, x.device).reshape(-1)  # the valid rows' columns, padding included
        scales[e, offsets] = swizzle(sf).view(torch.uint8).reshape(-1)[offsets]
    return out, scales.reshape(n_exp, rows, cols)


def fp8_bytes_equal(actual: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """Elementwise equality of e4m3 bytes (uint8), every NaN (0x7F / 0xFF) equal to every other."""
    a, e = actual.view(torch.uint8), expected.view(torch.uint8)
    return torch.where((a & 0x7F) == 0x7F, 0x7F, a) == torch.where((e & 0x7F) == 0x7F, 0x7F, e)
