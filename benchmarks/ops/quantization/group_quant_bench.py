"""Bench definitions shared by the per-token-group quant ops (fp8, int8): bf16 input, the T sweep at
hidden 7168 / group 128 (DeepSeek-V3), 4096 / 128 and 4096 / 64; the fp8 op also at 7168 / 128 with
column-major TMA-aligned scales (what SGLang's DeepGEMM path passes).

Bytes (exact, what the op must move): input read once, output_q (1 byte per element) and output_s
(one fp32 per group) written once:  T * H * (itemsize + 1) + T * (H / group_size) * 4.
sgl_kernel is timed too when installed (same call).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

EPS = 1e-10


def group_quant_bench(op: str, *, int8: bool) -> OpBench:
    lo, hi = (-128.0, 127.0) if int8 else (-448.0, 448.0)

    def make_inputs(case: Case) -> dict:
        import torch

        t, h, g = case.tokens, case.size("hidden"), case.size("group_size")
        x = torch.randn(t, h, device="cuda", dtype=getattr(torch, case.dtype))
        q = torch.empty(t, h, device="cuda", dtype=torch.int8 if int8 else torch.float8_e4m3fn)
        if dict(case.shape).get("col_major_scales"):
            s = torch.empty(h // g, (t + 3) // 4 * 4, device="cuda")[:, :t].T  # TMA-aligned column-major
        else:
            s = torch.empty(t, h // g, device="cuda")
        return {"args": [x, q, s, g, EPS, lo, hi] + ([] if int8 else [False])}

    def kernelkit_impl(inputs: dict):
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(*inputs["args"])

    def kernelkit_no_pdl(inputs: dict):
        """The same call with enable_pdl=False: what programmatic dependent launch adds (torch.compile has none)."""
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(*inputs["args"], enable_pdl=False)

    def reference(inputs: dict):
        """The op in plain torch (sgl-kernel's v2 formulas in IEEE arithmetic; int8 truncates), written into
        output_q/output_s."""
        x, q, s, g, eps, lo_, hi_ = inputs["args"][:7]
        xg = x.float().unflatten(-1, (-1, g))
        amax = xg.abs().amax(-1, keepdim=True).clamp(min=eps)
        y = (xg * (amax.reciprocal() * hi_)).clamp(lo_, hi_)
        q.copy_((y.trunc() if int8 else y).flatten(-2).to(q.dtype))
        s.copy_((amax * (1 / hi_)).squeeze(-1))

    impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
    if installed("sgl_kernel"):

        def sgl(inputs: dict):
            return getattr(importlib.import_module("sgl_kernel"), op)(*inputs["args"])

        impls["sgl_kernel"] = sgl

    cases = (
        token_sweep("bfloat16", hidden=7168, group_size=128)
        + token_sweep("bfloat16", hidden=4096, group_size=128)
        + token_sweep("bfloat16", hidden=4096, group_size=64)
    )
    if not int8:
        cases += token_sweep("bfloat16", hidden=7168, group_size=128, col_major_scales=1)

    def bytes_moved(case: Case) -> int:
        t, h = case.tokens, case.size("hidden")
        return t * h * (case.itemsize + 1) + t * (h // case.size("group_size")) * 4

    return OpBench(
        op=op,
        cases=cases,
        make_inputs=make_inputs,
        impls=impls,
        reference=reference,
        bytes_moved=bytes_moved,
    )
