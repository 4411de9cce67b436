"""Bench definition shared by the gated activations: [T, 2d] in, [T, d] out, d = 14336 (Llama-3 70B MLP).

Other libraries with the same op are timed too when installed (never required): sgl_kernel and
flashinfer (same signature), Liger (SwiGLU only: silu(a) * b on separate halves).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep



def library_impls(op: str) -> dict[str, Callable]:
    impls: dict[str, Callable] = {}
    for lib in ("sgl_kernel", "flashinfer"):
        if installed(lib):

            def call(inputs: dict, lib=lib):
                return getattr(importlib.import_module(lib), op)(inputs["input"], inputs["out"])

            impls[lib] = call
    if op == "silu_and_mul" and installed("liger_kernel"):

        def liger(inputs: dict):
            from liger_kernel.ops.swiglu import LigerSiLUMulFunction

            x = inputs["input"]
            d = x.shape[-1] // 2
            return LigerSiLUMulFunction.apply(x[..., :d], x[..., d:])

        impls["liger"] = liger
    return impls


def gated_activation_bench(op: str, act: Callable) -> OpBench:
    def make_inputs(case: Case) -> dict:
        import torch

        dtype = getattr(torch, case.dtype)
        d = case.size("d")
        x = torch.randn(case.tokens, 2 * d, device="cuda", dtype=dtype)
        return {"input": x, "out": torch.empty(case.tokens, d, device="cuda", dtype=dtype)}

    def kernelkit_impl(inputs: dict):
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(inputs["input"], inputs["out"])

    def reference(inputs: dict):
        x = inputs["input"]
        d = x.shape[-1] // 2
        return act(x[..., :d]) * x[..., d:]

    return OpBench(
        op=op,
        cases=token_sweep("bfloat16", d=14336),
        make_inputs=make_inputs,
        impls={"kernelkit": kernelkit_impl, **library_impls(op)},
        reference=reference,
        bytes_moved=lambda case: case.tokens * 3 * case.size("d") * case.itemsize,  # read 2d, write d
        flops=lambda case: case.tokens * case.size("d") * 6,  # act (~4) + mul, per output element
    )
