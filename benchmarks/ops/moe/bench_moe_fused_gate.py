"""`moe_fused_gate` benchmark: DeepSeek-V3 routing (E = 256, 8 groups, topk_group 4, k = 8; bf16 and fp32 logits),
the T sweep, against sglang's biased grouped top-k in plain torch (eager and torch.compile) and sgl_kernel when
installed. The outputs are allocated by the op, as in sgl-kernel (their bytes are counted as written)."""

from __future__ import annotations

from collections.abc import Callable

from moe_gate_bench import gate_bytes, gate_cases, gate_inputs, grouped_topk_reference

from kernelkit.benchspec import DTYPE_BYTES, OpBench, installed

GROUPS, TOPK_GROUP = 8, 4


def make_inputs(case):
    return gate_inputs(case, bias_dtype=case.dtype)


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.moe_fused_gate(i["x"], i["bias"], GROUPS, TOPK_GROUP, i["k"])


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.moe_fused_gate(i["x"], i["bias"], GROUPS, TOPK_GROUP, i["k"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="moe_fused_gate",
    cases=gate_cases("bfloat16", [(256, 8)]) + gate_cases("float32", [(256, 8)]),
    make_inputs=make_inputs,
    impls=impls,
    reference=lambda i: grouped_topk_reference(i, GROUPS, TOPK_GROUP),
    bytes_moved=lambda c: gate_bytes(c, bias_bytes=DTYPE_BYTES[c.dtype]),
)
