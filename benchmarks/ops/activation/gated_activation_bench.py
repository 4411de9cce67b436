"""Bench definition shared by the gated activations: [T, 2d] in, [T, d] out, d = 14336 (Llama-3 70B MLP).

Other libraries with the same op are timed too when installed (never required): sgl_kernel and
flashinfer (same signature), Liger (SwiGLU and GEGLU-tanh: act(a) * b on two separate tensors).
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
    liger_fn = {
        "silu_and_mul": ("swiglu", "LigerSiLUMulFunction"),
        "gelu_tanh_and_mul": ("geglu", "LigerGELUMulFunction"),
    }
    if op in liger_fn and installed("liger_kernel"):
        module, name = liger_fn[op]

        def liger(inputs: dict):
            fn = getattr(importlib.import_module(f"liger_kernel.ops.{module}"), name)
            return fn.apply(inputs["gate"], inputs["up"])

        impls["liger"] = liger
    return impls


def gated_activation_bench(op: str, act: Callable) -> OpBench:
    def make_inputs(case: Case) -> dict:
        import torch

        dtype = getattr(torch, case.dtype)
        d = case.size("d")
        x = torch.randn(case.tokens, 2 * d, device="cuda", dtype=dtype)
        inputs = {"input": x, "out": torch.empty(case.tokens, d, device="cuda", dtype=dtype)}
        if installed("liger_kernel"):
            # Liger takes gate and up as two tensors and copies non-contiguous ones (ensure_contiguous):
            # given the halves of x it would time a copy too. Its own layout moves the same bytes.
            inputs["gate"], inputs["up"] = x[:, :d].contiguous(), x[:, d:].contiguous()
        return inputs

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
