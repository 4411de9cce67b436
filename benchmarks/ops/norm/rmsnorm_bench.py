"""Bench definitions shared by the RMSNorm family: hidden 4096 and 8192, the T sweep, bf16.

Bytes: rmsnorm reads x and writes out; fused_add reads input and residual and writes both; the
weight (H elements) is read once per call. Other libraries are timed when installed (never
required): sgl_kernel and flashinfer (same call), Liger (all four; its RMSNorm also writes a [T] fp32
rstd for its backward, 0.02% of the bytes at h4096).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep

EPS = 1e-6


def _norm(x, w, gemma: bool):
    import torch

    xf = x.float()
    wf = w.float()
    return xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + EPS) * ((1.0 + wf) if gemma else wf)


def rmsnorm_bench(op: str, *, fused: bool, gemma: bool) -> OpBench:
    def make_inputs(case: Case) -> dict:
        import torch

        dtype = getattr(torch, case.dtype)
        shape = (case.tokens, case.size("hidden"))
        inputs = {
            "input": torch.randn(shape, device="cuda", dtype=dtype),
            "weight": torch.randn(shape[1], device="cuda", dtype=dtype),
        }
        if fused:
            inputs["residual"] = torch.randn(shape, device="cuda", dtype=dtype)
        else:
            inputs["out"] = torch.empty(shape, device="cuda", dtype=dtype)
        return inputs

    def kernelkit_impl(i: dict):
        import kernelkit_ops

        if fused:
            return getattr(kernelkit_ops, op)(i["input"], i["residual"], i["weight"], EPS)
        return getattr(kernelkit_ops, op)(i["input"], i["weight"], EPS, i["out"])

    def reference(i: dict):
        if fused:
            r = i["residual"]
            r.add_(i["input"])
            i["input"].copy_(_norm(r, i["weight"], gemma).to(r.dtype))
            return i["input"]
        return _norm(i["input"], i["weight"], gemma).to(i["input"].dtype)

    impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
    for lib in ("sgl_kernel", "flashinfer"):
        if installed(lib):

            def call(i: dict, lib=lib):
                module = importlib.import_module(lib if lib == "sgl_kernel" else "flashinfer.norm")
                if fused:
                    return getattr(module, op)(i["input"], i["residual"], i["weight"], EPS)
                return getattr(module, op)(i["input"], i["weight"], EPS, out=i["out"])

            impls[lib] = call
    if installed("liger_kernel"):
        # Liger's casting modes match ours: "llama" (w) and "gemma" (1 + w, all in fp32). Its fused op
        # is out of place (two new [T, H] tensors), which moves the same bytes as our in-place one.
        offset, casting_mode = (1.0, "gemma") if gemma else (0.0, "llama")

        def liger(i: dict):
            if fused:
                from liger_kernel.ops.fused_add_rms_norm import LigerFusedAddRMSNormFunction

                return LigerFusedAddRMSNormFunction.apply(
                    i["input"], i["residual"], i["weight"], EPS, offset, casting_mode
                )
            from liger_kernel.ops.rms_norm import LigerRMSNormFunction

            return LigerRMSNormFunction.apply(i["input"], i["weight"], EPS, offset, casting_mode)

        impls["liger"] = liger

    itemsize_rw = 4 if fused else 2  # tensors of [T, H] read or written per call
    return OpBench(
        op=op,
        cases=token_sweep("bfloat16", hidden=4096) + token_sweep("bfloat16", hidden=8192),
        make_inputs=make_inputs,
        impls=impls,
        reference=reference,
        bytes_moved=lambda c: (itemsize_rw * c.tokens * c.size("hidden") + c.size("hidden")) * c.itemsize,
        flops=lambda c: 4 * c.tokens * c.size("hidden"),
    )
