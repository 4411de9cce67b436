"""What the fp8_scaled_mm and int8_scaled_mm benchmarks share: their cases, inputs, bytes and FLOPs.

Cases: M (tokens) in {1, 16, 64, 128, 512, 4096} on the issue's (N, K) shapes -- Llama-3 70B's 8192 x 8192,
28672 x 8192 and 8192 x 28672, DeepSeek-V3's 7168 x 2048 and 2112 x 7168 -- bf16 output, no bias (what a serving
stack's linear layers run). FLOPs 2 M N K; bytes: A and B read once (1 byte each), the output written (2 bytes),
the scales read.

"% of ceiling" takes the larger of bytes / copy bandwidth and FLOPs / the measured peak of the math's type
(``OpBench.math``: fp8 for fp8_scaled_mm, int8 for int8_scaled_mm; the int8 ceiling is the faster of torch._int_mm and
the fp8 peak, harness.int8_ceiling).
"""

from __future__ import annotations

from kernelkit.benchspec import Case

TOKENS = (1, 16, 64, 128, 512, 4096)
SHAPES = ((8192, 8192), (28672, 8192), (8192, 28672), (7168, 2048), (2112, 7168))


def cases() -> list[Case]:
    return [Case(tokens=m, dtype="bfloat16", shape=(("n", n), ("k", k))) for n, k in SHAPES for m in TOKENS]


def make_inputs(case: Case, operand: str) -> dict:
    """a [M, K] row-major, b [K, N] column-major (w.t() of a contiguous [N, K] weight), fp32 scales [M, 1] / [N, 1]
    (sglang's shapes), random values of the operand type (e4m3 over a wide range, or int8)."""
    import torch

    m, n, k = case.tokens, case.size("n"), case.size("k")
    if operand == "fp8":
        a = (torch.randn(m, k, device="cuda") * 64).clamp(-448, 448).to(torch.float8_e4m3fn)
        w = (torch.randn(n, k, device="cuda") * 64).clamp(-448, 448).to(torch.float8_e4m3fn)
    else:
        a = torch.randint(-127, 128, (m, k), device="cuda", dtype=torch.int8)
        w = torch.randint(-127, 128, (n, k), device="cuda", dtype=torch.int8)
    return {
        "a": a,
        "b": w.t(),
        "scales_a": torch.rand(m, 1, device="cuda") * 1e-3 + 1e-4,
        "scales_b": torch.rand(n, 1, device="cuda") * 1e-3 + 1e-4,
        "out_dtype": getattr(torch, case.dtype),
    }


def bytes_moved(case: Case) -> int:
    m, n, k = case.tokens, case.size("n"), case.size("k")
    return m * k + n * k + m * n * case.itemsize + 4 * (m + n)


def flops(case: Case) -> int:
    return 2 * case.tokens * case.size("n") * case.size("k")
