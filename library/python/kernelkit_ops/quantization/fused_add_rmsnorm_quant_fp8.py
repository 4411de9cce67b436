"""`fused_add_rmsnorm_quant_fp8`: residual add + RMSNorm + per-token fp8 quantization in one pass."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default


def fused_add_rmsnorm_quant_fp8(
    input: torch.Tensor,
    residual: torch.Tensor,
    weight: torch.Tensor,
    eps: float = 1e-6,
    enable_pdl: bool | None = None,
    *,
    output_q: torch.Tensor | None = None,
    output_s: torch.Tensor | None = None,
    match_unfused: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``fused_add_rmsnorm`` and per-token fp8 quantization of its result, in one pass over memory; the
    signature and return convention of ``sgl_kernel.fused_add_rmsnorm_quant_fp8``:
    ``output_q, output_s = fused_add_rmsnorm_quant_fp8(input, residual, weight, eps=1e-6)``.

    * ``residual <- input + residual`` (in place, the fp32 sum ``f`` rounded once to the input dtype);
    * ``y = (f * rsqrt(mean(f²) + eps)) * weight`` in float32, not rounded (as sgl-kernel's fused kernel);
    * per row t: ``output_s[t] = absmax(y[t]) / 448`` and ``output_q[t] = e4m3(clamp(y[t] * inv, -448, 448))``
      with ``inv = 1 / output_s[t]``, or 0 for an all-zero row (whose q is then 0). The division by 448 and
      ``1 / s`` are sgl-kernel's fast-math instructions on sm_90 (a multiply by fl32(1/448), ``rcp.approx``),
      IEEE elsewhere, as for ``sgl_per_token_quant_fp8``. The sum of squares is reduced in
      ``fused_add_rmsnorm``'s order, not in sgl-kernel's, so ``y`` can differ from sgl-kernel's by an ulp of
      the rms (then a q value near a rounding boundary by one e4m3 step); everything after the rms is
      sgl-kernel's arithmetic.

    ``input`` is only read: 7 bytes of memory traffic per bf16 element instead of the 11 of
    ``fused_add_rmsnorm`` followed by ``sgl_per_token_quant_fp8``.

    Args:
        input: ``[..., H]`` CUDA tensor (sgl-kernel: ``[T, H]``), bfloat16/float16/float32, contiguous in its
            last dim; only read.
        residual: same shape and dtype as input; receives input + residual.
        weight: ``[H]``, input's dtype, contiguous.
        eps: added to the mean square (>= 0).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs.
        output_q: keyword only, not in sgl-kernel: write q here (float8_e4m3fn, input's shape, rows may be
            strided) instead of a new tensor.
        output_s: keyword only, not in sgl-kernel: write the scales here (float32, contiguous,
            ``input.shape[:-1] + (1,)`` or ``input.shape[:-1]``) instead of a new ``[..., 1]`` tensor.
        match_unfused: keyword only, not in sgl-kernel: True rounds y to the input dtype before the
            quantization and handles an all-zero row as ``sgl_per_token_quant_fp8`` does, so q and s are bit
            for bit those of ``fused_add_rmsnorm`` followed by ``sgl_per_token_quant_fp8`` (kernelkit's earlier
            behaviour of this op).

    Returns:
        ``(output_q, output_s)``: float8_e4m3fn ``input``'s shape, float32 ``[..., 1]`` (the tensors passed
        as ``output_q`` / ``output_s`` when given).

    The op checks its arguments and raises ``RuntimeError`` naming the one to fix; empty inputs launch nothing.
    """
    if output_q is None:
        output_q = torch.empty(input.shape, device=input.device, dtype=torch.float8_e4m3fn)
    if output_s is None:
        output_s = torch.empty((*input.shape[:-1], 1), device=input.device, dtype=torch.float32)
    torch.ops.kernelkit.fused_add_rmsnorm_quant_fp8.default(
        input, residual, weight, output_q, output_s, eps, match_unfused, pdl_default(input, enable_pdl)
    )
    return output_q, output_s
