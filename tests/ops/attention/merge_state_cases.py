"""What the merge_state and merge_state_v2 tests share: inputs, the float64 reference in either LSE base, the
tolerances, and the GPU checks both ops must pass (each test file runs them for its op and base)."""

from __future__ import annotations

import math

import torch

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
# (rtol, atol) of v_merged against the float64 reference: one rounding to the dtype, plus fp32 weights.
V_TOL = {torch.float32: (1e-5, 1e-5), torch.float16: (2e-3, 2e-3), torch.bfloat16: (1.6e-2, 1e-2)}
LSE_TOL = (1e-5, 1e-5)
# Head dims real models use: 64 (small Llamas), 128 (Llama-3, Qwen), 256 (Gemma), 512 + 64 (DeepSeek MLA),
# and odd ones (upstream's 32/48/96; 7 has no 16-byte vector).
HEAD_DIMS = [64, 128, 256, 576, 32, 48, 96, 7]


def make_states(tokens: int, heads: int, head_dim: int, dtype: torch.dtype, strided: bool = False):
    """v_a, s_a, v_b, s_b with LSEs of a few units apart (weights far from 0.5 as well as near it).

    strided: v tensors are windows of wider buffers (heads and tokens not packed) and the LSEs are transposed
    views of [H, T] buffers (strides (1, T)).
    """
    if strided:
        v_a = torch.randn(tokens, heads + 1, head_dim + 8, device="cuda", dtype=dtype)[:, 1:, 8:]
        v_b = torch.randn(tokens, heads, head_dim + 16, device="cuda", dtype=dtype)[:, :, :head_dim]
        s_a = (3 * torch.randn(heads, tokens, device="cuda")).t()
        s_b = (3 * torch.randn(heads, tokens, device="cuda")).t()
    else:
        v_a = torch.randn(tokens, heads, head_dim, device="cuda", dtype=dtype)
        v_b = torch.randn(tokens, heads, head_dim, device="cuda", dtype=dtype)
        s_a = 3 * torch.randn(tokens, heads, device="cuda")
        s_b = 3 * torch.randn(tokens, heads, device="cuda")
    return v_a, s_a, v_b, s_b


def poisoned_outputs(v_a: torch.Tensor):
    t, h, d = v_a.shape
    v = torch.full((t, h, d), float("nan"), device=v_a.device, dtype=v_a.dtype)
    s = torch.full((t, h), float("nan"), device=v_a.device, dtype=torch.float32)
    return v, s


def reference(v_a, s_a, v_b, s_b, base: str):
    """The merge in float64. base "2": sgl-kernel's merge_state (LSEs as given); base "e": merge_state_v2
    (an infinite LSE counts as -inf)."""
    sa, sb = s_a.double(), s_b.double()
    if base == "e":
        sa = torch.where(torch.isinf(sa), -math.inf, sa)
        sb = torch.where(torch.isinf(sb), -math.inf, sb)
    exp = torch.exp2 if base == "2" else torch.exp
    log = torch.log2 if base == "2" else torch.log
    m = torch.maximum(sa, sb)
    ea, eb = exp(sa - m), exp(sb - m)
    d = ea + eb
    v = v_a.double() * (ea / d).unsqueeze(-1) + v_b.double() * (eb / d).unsqueeze(-1)
    return v, log(d) + m


def assert_merged(v, s, v_a, s_a, v_b, s_b, base: str):
    v_ref, s_ref = reference(v_a, s_a, v_b, s_b, base)
    rtol, atol = V_TOL[v.dtype]
    torch.testing.assert_close(v.double(), v_ref, rtol=rtol, atol=atol)
    torch.testing.assert_close(s.double(), s_ref, rtol=LSE_TOL[0], atol=LSE_TOL[1])
