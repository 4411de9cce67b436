"""`kimi_k2_moe_fused_gate` benchmark: Kimi K2 routing (E = 384, k = 6, fp32), the T sweep, against the same
sigmoid + bias + topk + renormalise in plain torch (eager and torch.compile) and sgl_kernel when installed."""

from __future__ import annotations

from collections.abc import Callable

from moe_gate_bench import gate_bytes, gate_cases, gate_inputs, sigmoid_topk_reference

from kernelkit.benchspec import OpBench, installed

SCALE = 2.872


def make_inputs(case):
    return gate_inputs(case, bias_dtype="float32")


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.kimi_k2_moe_fused_gate(i["x"], i["bias"], i["k"], True, SCALE)


def reference(i: dict):
    w, ids = sigmoid_topk_reference(i)
    return w / w.sum(dim=-1, keepdim=True), ids


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.kimi_k2_moe_fused_gate(i["x"], i["bias"], i["k"], True, SCALE)

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="kimi_k2_moe_fused_gate",
    cases=gate_cases("float32", [(384, 6)]),
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: gate_bytes(c, bias_bytes=4),
)
