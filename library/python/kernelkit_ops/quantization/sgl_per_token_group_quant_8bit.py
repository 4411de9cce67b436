"""`sgl_per_token_group_quant_8bit`: sgl-kernel's unified per-token-group 8-bit quantizer (fp8 e4m3 or int8 by
the output's dtype), with its fused SiLU-and-mul and masked MoE layout."""

from __future__ import annotations

import torch

from kernelkit_ops._defaults import pdl_default
from kernelkit_ops.quantization._group_defaults import use_v2

_FULL_RANGE = {torch.int8: (-128.0, 127.0)}
_FP8_RANGE = (-448.0, 448.0)


def sgl_per_token_group_quant_8bit(
    input: torch.Tensor,
    output_q: torch.Tensor,
    output_s: torch.Tensor,
    group_size: int,
    eps: float,
    fp8_min: float,
    fp8_max: float,
    scale_ue8m0: bool = False,
    fuse_silu_and_mul: bool = False,
    masked_m: torch.Tensor | None = None,
    enable_v2: bool | None = None,
    enable_pdl: bool | None = None,
    *,
    round_to_nearest: bool = False,
) -> None:
    """Quantize ``input`` per group of ``group_size`` consecutive elements of its last dim into ``output_q``
    (``torch.float8_e4m3fn`` or ``torch.int8``: its dtype picks the 8-bit type) and ``output_s``, in place; the
    signature of ``sgl_kernel.sgl_per_token_group_quant_8bit`` (sgl-kernel's ``sgl_per_token_group_quant_fp8`` and
    ``_int8`` are this function under other names; ``fp8_min`` / ``fp8_max`` are the int8 bounds for int8).

    The numbers are sgl-kernel's, bit for bit, on the GPU it runs on (``sgl_per_token_group_quant_fp8`` describes
    the v1 and v2 arithmetic; int8 uses 127 for 448 and truncates toward zero, as sgl-kernel's cast does). Per
    row ``t`` and group ``j``: ``amax = max(absmax(group), eps)``, scale ``s``, multiplier ``y``, then
    ``output_q = cvt(min(max(x * y, fp8_min), fp8_max))`` and ``output_s[t, j] = s``.

    Args:
        input: ``[..., H]`` bfloat16/float16/float32 CUDA tensor, contiguous in its last dim (rows may be
            strided); ``[..., 2H]`` with ``fuse_silu_and_mul``; ``[E, M, H or 2H]`` with ``masked_m``.
        output_q: ``[..., H]`` float8_e4m3fn or int8, contiguous in its last dim.
        output_s: the scales, ``[..., H / group_size]`` float32 in any layout whose leading dims collapse into
            rows (row-major, column-major ``torch.empty(G, T).T``, TMA-aligned column-major with the T stride
            padded), or int32 ``[..., ceil(H / group_size / 4)]`` holding UE8M0 scales packed four to a word
            (``scale_ue8m0=True`` only): group ``j``'s exponent byte ``e + 127`` of ``s = 2^e`` at byte ``j % 4`` of
            word ``j // 4`` (little-endian), the unused bytes of a row's last word zeroed -- sgl-kernel's
            column-major UE8M0 layout, e.g. ``torch.empty(ceil(G/4), align(T, 4), dtype=torch.int32)[:, :T].T``.
            With ``masked_m``: ``[E, M, ·]`` with any expert, token and group strides.
        group_size: 8, 16, 32, 64, 128 or 256; must divide ``H``.
        eps: floor of ``absmax`` (> 0, a finite float32). sgl-kernel's v2 takes only 1e-10.
        fp8_min, fp8_max: the clamp range, within the 8-bit type's (``[-448, 448]``, int8 ``[-128, 127]``).
        scale_ue8m0: each scale a power of two (v2: the one >= amax / fp8_max exactly; v1: ``2^ceil(log2 s)``
            through sgl-kernel's approximate log2/exp2); float32 powers of two, or bytes in an int32 output_s.
        fuse_silu_and_mul: quantize ``v = T(T(silu(gate)) * up)`` of ``input = [gate | up]`` (each ``H`` wide;
            ``silu`` in float32 as sgl-kernel's fast-math build has it, rounded to the input dtype, the product
            rounded once more): sgl-kernel's v2 fusion, v2 only.
        masked_m: int32 ``[E]``: the masked MoE layout, where expert ``e`` has ``masked_m[e]`` valid rows of its
            ``M``; rows ``t >= masked_m[e]`` of output_q and output_s are not written (a count above ``M`` means
            all ``M`` rows). v2 only.
        enable_v2: True for sgl-kernel's v2 arithmetic, False for v1; None (default): v2 wherever v2 takes the
            call (bf16/fp16, ``eps = 1e-10``, the full range, group_size 16..128), as sgl-kernel's newest releases
            choose for those group sizes. ``fuse_silu_and_mul`` and ``masked_m`` need v2 (with False, or a call v2
            does not take, they are refused, as sgl-kernel refuses them).
        enable_pdl: programmatic dependent launch; None (default) means on for sm_90+ GPUs. Not in sgl-kernel's
            signature.
        round_to_nearest: keyword only, not in sgl-kernel: int8 codes rounded half to even instead of truncated.

    Returns:
        None. Empty inputs launch nothing. The op checks its arguments and raises ``RuntimeError`` naming the
        one to fix.

    Unlike sgl-kernel, the fused and masked modes and UE8M0 scales work with every scale layout (sgl-kernel's
    v2 takes them only with column-major UE8M0 scales and ignores them otherwise), and masked_m works without
    the fusion.
    """
    v2 = use_v2(enable_v2, input, group_size, eps, fp8_min, fp8_max, _FULL_RANGE.get(output_q.dtype, _FP8_RANGE))
    torch.ops.kernelkit.sgl_per_token_group_quant_8bit.default(
        input,
        output_q,
        output_s,
        group_size,
        eps,
        fp8_min,
        fp8_max,
        scale_ue8m0,
        fuse_silu_and_mul,
        masked_m,
        v2,
        round_to_nearest,
        pdl_default(input, enable_pdl),
    )
