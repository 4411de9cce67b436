"""What the merge_state and merge_state_v2 benchmarks share: the cases, the inputs, the torch reference in
either LSE base, and the bytes model.

Cases: the partial outputs of split attention at real shapes, the T sweep 1..16384:
  * Llama-3 8B: 32 q heads x 128; Llama-3 70B: 64 q heads x 128 (bf16);
  * DeepSeek-V3 MLA (absorbed, the latent is the value): 128 heads x 512, T up to 2048 (at 16384 one set of
    inputs is 6 GB: the eager and compiled references' fp32 temporaries would not fit next to it).

Bytes (exact, what the op must move): v_a and v_b read, v_merged written (3 * T*H*D elements), the two LSEs
read and the merged LSE written (3 * T*H * 4 bytes). FLOPs: ~3 per element (two multiplies, one add).
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed, token_sweep


def make_inputs(case: Case) -> dict:
    import torch

    dtype = getattr(torch, case.dtype)
    t, h, d = case.tokens, case.size("heads"), case.size("head_dim")
    return {
        "v_a": torch.randn(t, h, d, device="cuda", dtype=dtype),
        "s_a": 3 * torch.randn(t, h, device="cuda"),
        "v_b": torch.randn(t, h, d, device="cuda", dtype=dtype),
        "s_b": 3 * torch.randn(t, h, device="cuda"),
        "v_merged": torch.empty(t, h, d, device="cuda", dtype=dtype),
        "s_merged": torch.empty(t, h, device="cuda"),
    }


def reference_in_base(base: str) -> Callable[[dict], object]:
    """The merge as plain torch (upstream's test formula), fp32 math, v back in its dtype."""

    def reference(i: dict):
        import torch

        sa, sb = i["s_a"], i["s_b"]
        if base == "e":
            sa = torch.where(torch.isinf(sa), float("-inf"), sa)
            sb = torch.where(torch.isinf(sb), float("-inf"), sb)
        exp, log = (torch.exp2, torch.log2) if base == "2" else (torch.exp, torch.log)
        m = torch.maximum(sa, sb)
        ea, eb = exp(sa - m), exp(sb - m)
        d = ea + eb
        v = i["v_a"].float() * (ea / d).unsqueeze(-1) + i["v_b"].float() * (eb / d).unsqueeze(-1)
        return v.to(i["v_a"].dtype), log(d) + m

    return reference


def merge_state_bench(op: str, base: str) -> OpBench:
    def kernelkit_impl(i: dict):
        import kernelkit_ops

        return getattr(kernelkit_ops, op)(i["v_a"], i["s_a"], i["v_b"], i["s_b"], i["v_merged"], i["s_merged"])

    def kernelkit_no_pdl(i: dict):
        import kernelkit_ops

        fn = getattr(kernelkit_ops, op)
        return fn(i["v_a"], i["s_a"], i["v_b"], i["s_b"], i["v_merged"], i["s_merged"], enable_pdl=False)

    impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "kernelkit_no_pdl": kernelkit_no_pdl}
    if installed("sgl_kernel"):

        def sgl_kernel_impl(i: dict):
            import sgl_kernel

            return getattr(sgl_kernel, op)(i["v_a"], i["s_a"], i["v_b"], i["s_b"], i["v_merged"], i["s_merged"])

        impls["sgl_kernel"] = sgl_kernel_impl

    cases = (
        token_sweep("bfloat16", heads=32, head_dim=128)
        + token_sweep("bfloat16", heads=64, head_dim=128)
        + token_sweep("bfloat16", tokens=(1, 128, 2048), heads=128, head_dim=512)
    )

    def bytes_moved(c: Case) -> int:
        rows = c.tokens * c.size("heads")
        return 3 * rows * c.size("head_dim") * c.itemsize + 3 * rows * 4

    return OpBench(
        op=op,
        cases=cases,
        make_inputs=make_inputs,
        impls=impls,
        reference=reference_in_base(base),
        bytes_moved=bytes_moved,
        flops=lambda c: 3 * c.tokens * c.size("heads") * c.size("head_dim"),
    )
