"""sgl_per_token_group_quant_8bit benchmark: bf16 in, e4m3 out, group 128, the T sweep, in three modes:

* mode 0: plain, hidden 7168, column-major TMA-aligned fp32 scales (as sgl_per_token_group_quant_fp8's bench);
* mode 1: fuse_silu_and_mul, [T, 2 * 2048] in, int32 packed UE8M0 scales column-major (sgl-kernel's own fused
  configuration, what DeepGEMM reads);
* mode 2: mode 1 over the masked MoE layout, 8 experts of ceil(T / 8) rows, all rows valid.

Bytes (exact, what the op must move): the input read once, output_q (1 byte per element) and the scales written
once: rows * (in_width * 2 + H) plus 4 bytes per fp32 scale (mode 0) or per int32 word of four (modes 1, 2).
Impls: the op; "kernelkit_unfused" (modes 1, 2: our silu_and_mul, then the op on its output: what the fusion
saves; mode 0: the op with enable_pdl=False); sgl_kernel's when installed. The reference is the math in torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

EPS = 1e-10
G = 128
EXPERTS = 8


def _rows(case: Case) -> tuple[int, ...]:
    """The leading shape: [T], or [experts, ceil(T / experts)] in the masked mode."""
    if dict(case.shape)["mode"] == 2:
        return (EXPERTS, -(-case.tokens // EXPERTS))
    return (case.tokens,)


def make_inputs(case: Case) -> dict:
    import torch

    mode, h = dict(case.shape)["mode"], case.size("hidden")
    lead = _rows(case)
    x = torch.randn(*lead, 2 * h if mode else h, device="cuda", dtype=getattr(torch, case.dtype))
    q = torch.empty(*lead, h, device="cuda", dtype=torch.float8_e4m3fn)
    m = lead[-1]
    padded = (m + 3) // 4 * 4
    if mode == 0:
        s = torch.empty(h // G, padded, device="cuda")[:, :m].T
        return {"args": [x, q, s, G, EPS, -448.0, 448.0, False], "mode": 0}
    s = torch.empty(*lead[:-1], (h // G + 3) // 4, padded, device="cuda", dtype=torch.int32)[..., :m].transpose(-1, -2)
    masked = torch.full((EXPERTS,), m, device="cuda", dtype=torch.int32) if mode == 2 else None
    return {"args": [x, q, s, G, EPS, -448.0, 448.0, True, True, masked], "mode": mode}


def kernelkit_impl(inputs: dict):
    import kernelkit_ops

    return kernelkit_ops.sgl_per_token_group_quant_8bit(*inputs["args"])


def kernelkit_unfused(inputs: dict):
    """Modes 1, 2: silu_and_mul into a buffer, then the op on it; mode 0: the op without PDL."""
    import kernelkit_ops

    if inputs["mode"] == 0:
        return kernelkit_ops.sgl_per_token_group_quant_8bit(*inputs["args"], enable_pdl=False)
    x, q, s, g, eps, lo, hi, ue8m0, _, masked = inputs["args"]
    act = kernelkit_ops.silu_and_mul(x)
    return kernelkit_ops.sgl_per_token_group_quant_8bit(act, q, s, g, eps, lo, hi, ue8m0, False, masked)


def reference(inputs: dict):
    """The op in plain torch (v2's formulas in IEEE arithmetic), written into output_q / output_s."""
    import torch

    x, q, s, g, eps, lo, hi = inputs["args"][:7]
    if inputs["mode"]:
        h = x.shape[-1] // 2
        x = (torch.nn.functional.silu(x[..., :h]) * x[..., h:]).to(x.dtype)
    xg = x.float().unflatten(-1, (-1, g))
    amax = xg.abs().amax(-1, keepdim=True).clamp(min=eps)
    sc = amax * (1 / hi)
    if inputs["mode"]:
        sc = torch.exp2(torch.ceil(torch.log2(sc)))
    q.copy_((xg / sc).clamp(lo, hi).flatten(-2).to(q.dtype))
    if inputs["mode"]:
        b = (sc.squeeze(-1).view(torch.int32) >> 23).to(torch.uint8)
        b = torch.nn.functional.pad(b, (0, (-b.shape[-1]) % 4))
        s.copy_(b.contiguous().view(torch.int32))
    else:
        s.copy_(sc.squeeze(-1))


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_unfused": kernelkit_unfused}
if installed("sgl_kernel"):

    def sgl(inputs: dict):
        return importlib.import_module("sgl_kernel").sgl_per_token_group_quant_8bit(*inputs["args"])

    impls["sgl_kernel"] = sgl


def bytes_moved(case: Case) -> int:
    mode, h = dict(case.shape)["mode"], case.size("hidden")
    rows = 1
    for n in _rows(case):
        rows *= n
    if mode == 0:
        return rows * (h * (case.itemsize + 1) + (h // G) * 4)
    return rows * (2 * h * case.itemsize + h + (h // G + 3) // 4 * 4)


BENCH = OpBench(
    op="sgl_per_token_group_quant_8bit",
    cases=token_sweep("bfloat16", hidden=7168, mode=0)
    + token_sweep("bfloat16", hidden=2048, mode=1)
    + token_sweep("bfloat16", hidden=2048, mode=2),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=bytes_moved,
)
