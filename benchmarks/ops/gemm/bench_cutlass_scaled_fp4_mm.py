"""`cutlass_scaled_fp4_mm` benchmark: TFLOP/s of the NVFP4 GEMM on model shapes, M from decode to prefill.

Runs only on sm_100 GPUs (B200/GB200): the kernel is sm_100a's block-scaled tensor-core MMA. The project's device,
an H100, cannot run it (the op refuses sm_90 by name), so this file has produced no rows yet; it is listed in
benchmarks/results/awaiting-first-device-run.txt until a Blackwell GPU runs it.

Baseline ("torch" and "torch.compile" rows): torch's own NVFP4 GEMM where it has one, ``torch._scaled_mm`` on
``float4_e2m1fn_x2`` operands with the same swizzled e4m3 block scales (cuBLASLt's block-scaled path, torch >= 2.8
built with CUDA >= 12.8, sm_100), times alpha; where that call is refused, what is left: the bf16 GEMM of the layer
before quantization (same shape). Each case probes once and prints the path its `torch` rows time.

Ceiling: FLOPs = 2 M N K judged against the fp8 tensor-core peak the harness measures on the device (OpBench.math
has no fp4 peak, and none can be measured on the H100). On Blackwell the dense NVFP4 peak is twice the fp8 one, so
"% of ceiling" can reach 200 % here: read it as a share of twice the fp8 peak. Bytes: both packed operands (half a
byte a value), their e4m3 scales (one per 16 values, padded to the 128 x 4 tiles), alpha and the bf16 output once.
"""

from kernelkit.benchspec import Case, OpBench

# (N, K): Llama-3 8B qkv / gate_up / down, Llama-3 70B qkv, DeepSeek-V3 fused qkv_a and MLP down
SHAPES = [(6144, 4096), (28672, 4096), (4096, 14336), (10240, 8192), (2112, 7168), (7168, 2048)]
TOKENS = (1, 64, 512, 4096, 16384)
FP8_MAX, E2M1_MAX = 448.0, 6.0

BASELINE: dict[tuple[int, int, int], str] = {}  # (M, N, K) -> the torch path its reference runs (probed once)


def _cases() -> list[Case]:
    return [Case(tokens=m, dtype="bfloat16", shape=(("n", n), ("k", k))) for n, k in SHAPES for m in TOKENS]


def _round_up(x: int, to: int) -> int:
    return (x + to - 1) // to * to


def _torch_nvfp4(inputs: dict):
    import torch

    fp4 = torch.float4_e2m1fn_x2
    out = torch._scaled_mm(
        inputs["a"].view(fp4),
        inputs["b"].view(fp4).t(),
        inputs["sa"],
        inputs["sb"],
        out_dtype=torch.bfloat16,
    )
    return out * inputs["alpha"]


def _probe(key: tuple[int, int, int], inputs: dict) -> str:
    """Which torch path this torch has for the shape (asked once, outside any graph capture)."""
    if key in BASELINE:
        return BASELINE[key]
    import torch

    BASELINE[key] = "dequant_bf16_mm"
    if hasattr(torch, "float4_e2m1fn_x2"):
        try:
            _torch_nvfp4(inputs)
            torch.cuda.synchronize()
            BASELINE[key] = "scaled_mm_nvfp4"
        except (RuntimeError, NotImplementedError, ValueError, TypeError):
            pass
    print(f"bench_cutlass_scaled_fp4_mm: M={key[0]} N={key[1]} K={key[2]}: torch baseline = {BASELINE[key]}")
    return BASELINE[key]


def make_inputs(case: Case) -> dict:
    import kernelkit_ops
    import torch

    m, n, k = case.tokens, case.size("n"), case.size("k")
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * 0.05
    gs_x = (FP8_MAX * E2M1_MAX / x.abs().max().float()).reshape(1)
    gs_w = (FP8_MAX * E2M1_MAX / w.abs().max().float()).reshape(1)
    a, sa = kernelkit_ops.scaled_fp4_quant(x, gs_x)
    b, sb = kernelkit_ops.scaled_fp4_quant(w, gs_w)
    inputs = {"a": a, "b": b, "sa": sa, "sb": sb, "alpha": 1.0 / (gs_x * gs_w), "x": x, "w": w}
    inputs["path"] = _probe((m, n, k), inputs)
    return inputs


def kernelkit_impl(inputs: dict):
    import kernelkit_ops
    import torch

    return kernelkit_ops.cutlass_scaled_fp4_mm(
        inputs["a"], inputs["b"], inputs["sa"], inputs["sb"], inputs["alpha"], torch.bfloat16
    )


def reference(inputs: dict):
    if inputs["path"] == "scaled_mm_nvfp4":
        return _torch_nvfp4(inputs)
    # No NVFP4 GEMM in this torch: the bf16 GEMM the quantized layer replaces.
    return inputs["x"] @ inputs["w"].t()


def bytes_moved(case: Case) -> int:
    m, n, k = case.tokens, case.size("n"), case.size("k")
    scale_cols = _round_up(k // 16, 4)
    scales = (_round_up(m, 128) + _round_up(n, 128)) * scale_cols
    return (m + n) * k // 2 + scales + 4 + 2 * m * n


BENCH = OpBench(
    op="cutlass_scaled_fp4_mm",
    cases=_cases(),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=bytes_moved,
    flops=lambda case: 2 * case.tokens * case.size("n") * case.size("k"),
    math="fp8",
)
