"""sgl-kernel's fp32 arithmetic on an H100, elementwise, for the quantizer tests' references.

sgl-kernel's sm_90 build is compiled with -use_fast_math, so its quantizers compute with these PTX
instructions (the kernels under test issue the same ones, kernelkit/families/quant.cuh):

    RCP(x)    rcp.approx.ftz.f32       approximate 1 / x (not always IEEE's), RCP(0) = +inf
    MUL(a, b) mul.rn.ftz.f32           IEEE product, denormal inputs and results flushed to +-0
    LG2(x)    lg2.approx.ftz.f32       approximate log2
    EX2(x)    ex2.approx.ftz.f32       approximate 2^x
    CEIL(x)   cvt.rpi.ftz.f32.f32      round to an integer toward +inf

PyTorch has none of the approximate ones and no flush-to-zero product, so the GPU helpers below run the
instructions themselves (Triton's inline asm, _sgl_ptx.py; Triton is imported on first use, so CPU CI,
which has no Triton, still imports this module). What is exact in plain PyTorch stays here on the CPU
too: the float32 constants and flushing denormals.
"""

from __future__ import annotations

import struct

import torch

FP8_MAX = 448.0
MIN_NORMAL = 2.0**-126  # the smallest normal float32: below it, ftz reads and writes +-0


def f32(value: float) -> float:
    """value rounded to float32 (round to nearest even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def f32_bits(value: float) -> int:
    """The IEEE bits of value rounded to float32."""
    return struct.unpack("<I", struct.pack("<f", value))[0]


C448 = f32(1 / 448)  # 0x3B124925: what x / 448.0f compiles to under fast math (a multiply by it)
C127 = f32(1 / 127)  # 0x3C010204


def flush_denormals(t: torch.Tensor) -> torch.Tensor:
    """float32 denormals to zero of the same sign (what an ftz instruction reads); NaN and the rest kept."""
    t = t.float()
    return torch.where(t.abs() < MIN_NORMAL, torch.zeros_like(t).copysign(t), t)


# ------------------------------------------------------------------ GPU: the instructions themselves


def _ptx():
    import _sgl_ptx  # Triton: the GPU machine has it, CPU CI does not

    return _sgl_ptx


def _operand(t: torch.Tensor | float, like: torch.Tensor | None = None) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        t = torch.tensor(t, dtype=torch.float32, device=like.device if like is not None else "cuda")
    if not t.is_cuda or t.dtype != torch.float32:
        raise TypeError(f"sgl_math needs float32 CUDA tensors, got {t.dtype} on {t.device}")
    return t


def rcp_approx(t: torch.Tensor) -> torch.Tensor:
    """RCP: rcp.approx.ftz.f32 of every element."""
    t = _operand(t)
    return _ptx().unary("rcp.approx.ftz.f32 $0, $1;", t)


def mul_ftz(a: torch.Tensor | float, b: torch.Tensor | float) -> torch.Tensor:
    """MUL: mul.rn.ftz.f32 of a and b broadcast together (a Python float is taken as float32)."""
    if not isinstance(a, torch.Tensor):
        a, b = b, a  # commutative; at least one is a tensor
    a = _operand(a)
    b = _operand(b, a)
    return _ptx().binary("mul.rn.ftz.f32 $0, $1, $2;", a, b)


def lg2_approx(t: torch.Tensor) -> torch.Tensor:
    """LG2: lg2.approx.ftz.f32 of every element."""
    t = _operand(t)
    return _ptx().unary("lg2.approx.ftz.f32 $0, $1;", t)


def ex2_approx(t: torch.Tensor) -> torch.Tensor:
    """EX2: ex2.approx.ftz.f32 of every element."""
    t = _operand(t)
    return _ptx().unary("ex2.approx.ftz.f32 $0, $1;", t)


def ceil_ftz(t: torch.Tensor) -> torch.Tensor:
    """CEIL: cvt.rpi.ftz.f32.f32 of every element."""
    t = _operand(t)
    return _ptx().unary("cvt.rpi.ftz.f32.f32 $0, $1;", t)
