"""`bmm_fp8` benchmark: kernelkit's CUTLASS kernel vs torch on the batched products of DeepSeek-V3's absorbed MLA.

Cases: 16 heads (128 heads over 8-way TP), per head [M, 512] x [512, 128] (the attention output through w_vc) and
[M, 128] x [128, 512] (q_nope through w_kc), M (tokens) in {1, 16, 128, 1024, 4096}, bf16 output; A and B
contiguous as sgl-kernel's test makes them (B column-major per batch), 0-d fp32 scales. FLOPs 2 b M N K; bytes: A
and B read once (1 byte each), the output written (2 bytes).

Baselines: the reference (timed eager as "torch" and under torch.compile) dequantizes to bf16 and runs ``torch.bmm``
(what a torch user without an fp8 batched GEMM writes); "torch_scaled_mm_loop" runs ``torch._scaled_mm`` (per-tensor
scales) once per batch into slices of one output. sgl-kernel's op (cuBLASLt) is timed when installed. "% of ceiling"
is against the bf16 GEMM peak (scaled_mm_bench.py says why and what to add).
"""

from __future__ import annotations

from collections.abc import Callable

from kernelkit.benchspec import Case, OpBench, installed

HEADS = 16
TOKENS = (1, 16, 128, 1024, 4096)
KN = ((512, 128), (128, 512))


def make_inputs(case: Case) -> dict:
    import torch

    b, m, k, n = HEADS, case.tokens, case.size("k"), case.size("n")
    return {
        "A": (torch.randn(b, m, k, device="cuda") * 64).clamp(-448, 448).to(torch.float8_e4m3fn),
        "B": (torch.randn(b, n, k, device="cuda") * 64).clamp(-448, 448).to(torch.float8_e4m3fn).transpose(-2, -1),
        "A_scale": torch.tensor(1e-3, device="cuda"),
        "B_scale": torch.tensor(2e-3, device="cuda"),
        "dtype": getattr(torch, case.dtype),
    }


def kernelkit_impl(i: dict):
    import kernelkit_ops

    return kernelkit_ops.bmm_fp8(i["A"], i["B"], i["A_scale"], i["B_scale"], i["dtype"])


def reference(i: dict):
    import torch

    a, b = i["A"].to(torch.bfloat16), i["B"].to(torch.bfloat16)
    return (torch.bmm(a, b).float() * (i["A_scale"] * i["B_scale"])).to(i["dtype"])


def torch_scaled_mm_loop(i: dict):
    import torch

    A, B = i["A"], i["B"]
    out = torch.empty(A.shape[0], A.shape[1], B.shape[2], device="cuda", dtype=i["dtype"])
    for h in range(A.shape[0]):
        out[h] = torch._scaled_mm(A[h], B[h], scale_a=i["A_scale"], scale_b=i["B_scale"], out_dtype=i["dtype"])
    return out


impls: dict[str, Callable] = {"kernelkit": kernelkit_impl, "torch_scaled_mm_loop": torch_scaled_mm_loop}
if installed("sgl_kernel"):

    def sgl_kernel_impl(i: dict):
        import sgl_kernel

        return sgl_kernel.bmm_fp8(i["A"], i["B"], i["A_scale"], i["B_scale"], i["dtype"])

    impls["sgl_kernel"] = sgl_kernel_impl


BENCH = OpBench(
    op="bmm_fp8",
    cases=[Case(tokens=m, dtype="bfloat16", shape=(("k", k), ("n", n))) for k, n in KN for m in TOKENS],
    make_inputs=make_inputs,
    impls=impls,
    reference=reference,
    bytes_moved=lambda c: HEADS * (c.tokens * c.size("k") + c.size("k") * c.size("n") + c.tokens * c.size("n") * 2),
    flops=lambda c: 2 * HEADS * c.tokens * c.size("k") * c.size("n"),
    math="fp8",
)
