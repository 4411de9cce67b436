"""`topk_sigmoid` benchmark: E in {8, 64, 128, 256} x k in {2, 8} (bf16 logits, fp32 correction bias), the T sweep,
against torch's sigmoid + bias + topk (eager and torch.compile) and sgl_kernel when installed."""

from __future__ import annotations

from collections.abc import Callable

from moe_gate_bench import gate_bytes, gate_cases, gate_inputs, sigmoid_topk_reference

from kernelkit.benchspec import OpBench, installed


def make_inputs(case):
    return gate_inputs(case, bias_dtype="float32")


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.topk_sigmoid(i["w"], i["ids"], i["x"], False, i["bias"])


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.topk_sigmoid(i["w"], i["ids"], i["x"], False, i["bias"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="topk_sigmoid",
    cases=gate_cases("bfloat16", [(e, k) for e in (8, 64, 128, 256) for k in (2, 8) if k <= e]),
    make_inputs=make_inputs,
    impls=impls,
    reference=sigmoid_topk_reference,
    bytes_moved=lambda c: gate_bytes(c, bias_bytes=4),
)
