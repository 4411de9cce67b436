"""`topk_softmax` benchmark: E in {8, 64, 128, 256} x k in {2, 8} (bf16 logits), the T sweep, against torch's
softmax + topk (eager and torch.compile) and sgl_kernel when installed. Bytes: moe_gate_bench.gate_bytes."""

from __future__ import annotations

from collections.abc import Callable

from moe_gate_bench import gate_bytes, gate_cases, gate_inputs, softmax_topk_reference

from kernelkit.benchspec import OpBench, installed


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.topk_softmax(i["w"], i["ids"], i["x"])


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.topk_softmax(i["w"], i["ids"], i["x"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="topk_softmax",
    cases=gate_cases("bfloat16", [(e, k) for e in (8, 64, 128, 256) for k in (2, 8) if k <= e]),
    make_inputs=gate_inputs,
    impls=impls,
    reference=softmax_topk_reference,
    bytes_moved=gate_bytes,
)
