"""`sgl_per_tensor_quant_fp8`: fp8 (e4m3) quantization with one scale for the whole tensor, static or dynamic."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def sgl_per_tensor_quant_fp8(
    input: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    is_static: bool,
    enable_pdl: bool | None = None,
) -> None:
    """``output_q = e4m3(clamp(input * (1 / s)))`` with one scale ``s`` for the whole tensor.

    * ``is_static=True``: ``s = output_s`` as given (read on the GPU, never written);
    * ``is_static=False`` (dynamic): ``s = absmax(input) / 448`` is written to ``output_s``.

    Same signature and the same numbers as ``sgl_kernel.sgl_per_tensor_quant_fp8``, bit for bit on the GPU it
    runs on (its arithmetic as in ``sgl_per_token_quant_fp8``): ``q = e4m3(max(min(x * (1 / s), 448), -448))``,
    NaN -> +448; an all-zero tensor gets ``s = 0`` and q = +448; an inf makes ``s`` inf, the finite values 0.
    One difference: sgl-kernel's dynamic scale is the max of the new one and what ``output_s`` held (an
    atomic max), so its callers pass zeros; here the old value is not read, which agrees for those calls.

    Dynamic mode is one kernel and, while the tensor fits on chip (about 46 MB on an H100: e.g. bf16
    ``[2048, 7168]``), one pass over memory: a persistent cooperative grid keeps each CTA's share of the
    tensor in registers and shared memory across the grid-wide max (a tensor one CTA holds, up to bf16
    ``[16, 4096]``, takes one plain CTA and no grid barrier). Larger tensors take two passes, as
    sgl-kernel does: an absmax kernel, a one-CTA scale kernel, then the static kernel (1.67x the bytes
    of one pass for bf16, but each pass at full occupancy; the absmax pass walks the tensor back to
    front, so the quantize pass starts on lines still in L2). A tensor one CTA does not hold gets a small
    float32 scratch per call (16 KB, no initialisation), allocated by the op itself.

    Args:
        input: ``[..., H]`` CUDA tensor, bfloat16/float16/float32, rows contiguous in the last dim with one
            row stride (a row slice is fine; contiguous tensors are processed as one flat array). Only read.
        output_q: float8_e4m3fn, input's shape (rows with one row stride); overwritten.
        output_s: float32 with one element, shape ``[1]`` (what sglang allocates) or ``[]``.
        is_static: see above.
        enable_pdl: launch with programmatic dependent launch (overlaps the previous kernel's tail);
            None (default) means on for sm_90+ GPUs (the cooperative one-pass dynamic kernel always
            launches without it). Not part of sgl-kernel's signature (FlashInfer's keyword).

    Empty input: nothing is launched or written (a dynamic ``output_s`` keeps its value). The op checks its
    arguments and raises ``RuntimeError`` naming the one to fix.
    """
    # output_s stands in for the op's `workspace` argument: the op allocates the scratch a dynamic scale needs
    # itself, and only when one CTA does not hold the tensor, so a call allocates nothing in Python.
    torch.ops.kernelkit.sgl_per_tensor_quant_fp8.default(
        input, output_q, output_s, is_static, output_s, pdl_default(input, enable_pdl)
    )
