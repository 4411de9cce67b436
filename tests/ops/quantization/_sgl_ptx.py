"""The Triton kernels behind sgl_math.py: one PTX instruction per float32 element.

Imported only by sgl_math's GPU helpers (Triton is on the GPU machine, not in CPU CI). Every value passes
through the instruction as an opaque inline-asm operand, so no compiler flag (ftz, fast math) can change it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK = 1024


@triton.jit
def _unary_kernel(x_ptr, out_ptr, n, ASM: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    y = tl.inline_asm_elementwise(ASM, "=f,f", [x], dtype=tl.float32, is_pure=True, pack=1)
    tl.store(out_ptr + offs, y, mask=mask)


@triton.jit
def _binary_kernel(a_ptr, b_ptr, out_ptr, n, ASM: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    a = tl.load(a_ptr + offs, mask=mask, other=0.0)
    b = tl.load(b_ptr + offs, mask=mask, other=0.0)
    y = tl.inline_asm_elementwise(ASM, "=f,f,f", [a, b], dtype=tl.float32, is_pure=True, pack=1)
    tl.store(out_ptr + offs, y, mask=mask)


def unary(asm: str, x: torch.Tensor) -> torch.Tensor:
    """`asm` ($0 = result, $1 = x) applied to every element of a float32 CUDA tensor."""
    x = x.contiguous()
    out = torch.empty_like(x)
    if x.numel():
        with torch.cuda.device(x.device):
            _unary_kernel[(triton.cdiv(x.numel(), BLOCK),)](x, out, x.numel(), ASM=asm, BLOCK=BLOCK)
    return out


def binary(asm: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`asm` ($0 = result, $1 = a, $2 = b) on a and b broadcast together (float32 CUDA tensors)."""
    a, b = (t.contiguous() for t in torch.broadcast_tensors(a, b))
    out = torch.empty_like(a)
    if a.numel():
        with torch.cuda.device(a.device):
            _binary_kernel[(triton.cdiv(a.numel(), BLOCK),)](a, b, out, a.numel(), ASM=asm, BLOCK=BLOCK)
    return out
