"""`fp8_blockwise_scaled_mm` benchmark: TFLOP/s on DeepSeek-V3's projection shapes, M from decode to prefill.

Baseline ("torch" and "torch.compile" rows): the fastest blockwise path torch has on sm_90. torch >= 2.9 built with
CUDA >= 12.9 runs ``torch._scaled_mm`` with DeepSeek's recipes on sm_90 (cuBLASLt's block scaling), inferring them
from the scale shapes: 1 x 128 for ``scale_a [M, K/128]`` (outer-dim-major: stride (1, M)) and 128 x 128 for
``scale_b [K/128, N/128]`` given as the transposed contiguous ``[N/128, K/128]`` weight scale -- sgl-kernel's own
``scales_b``. Where that call is refused (older torch/CUDA, or a layout this torch wants otherwise: the 128 x 128
scale's K extent padded to a multiple of 4 is tried next), the baseline is what is left: dequantize both operands
to bf16 and run a bf16 GEMM. Each case probes once (cuBLASLt may take some shapes and refuse others) and prints
the path its `torch` rows time.

The activation scales are the TMA-aligned column-major ones (``sgl_per_token_group_quant_fp8`` with
``scale_tma_aligned``), which the kernel reads in place; the weight's are ``weight_scale_inv.T``. FLOPs = 2 M N K
(judged against the measured fp8 GEMM peak); bytes = both operands, both scale tensors and the output once.
"""

from kernelkit.benchspec import Case, OpBench

# (N, K) of DeepSeek-V3's linears (per GPU, TP = 1): fused q_a/kv_a projection, q_b, kv_b, o_proj-like, MLP down,
# and a 7168-row square-ish projection.
SHAPES = [(2112, 7168), (24576, 1536), (32768, 512), (7168, 16384), (7168, 2048), (4096, 7168)]
TOKENS = (1, 64, 512, 4096, 16384)
BLOCK = 128

BASELINE: dict[tuple[int, int, int], str] = {}  # (M, N, K) -> the torch path its reference runs (probed once)


def _cases() -> list[Case]:
    return [Case(tokens=m, dtype="bfloat16", shape=(("n", n), ("k", k))) for n, k in SHAPES for m in TOKENS]


def _probe(key: tuple[int, int, int], inputs: dict) -> str:
    """Which torch path runs DeepSeek's blockwise recipe for this shape (asked once, outside any graph capture)."""
    if key in BASELINE:
        return BASELINE[key]
    import torch

    a, b = inputs["a"], inputs["b"]
    BASELINE[key] = "dequant_bf16_mm"
    for path in ("scaled_mm", "scaled_mm_padded"):
        try:
            torch._scaled_mm(a, b, inputs["sa_torch"], inputs[f"sb_{path}"], out_dtype=torch.bfloat16)
            torch.cuda.synchronize()
        except (RuntimeError, NotImplementedError, ValueError):
            continue
        BASELINE[key] = path
        break
    print(f"bench_fp8_blockwise_scaled_mm: M={key[0]} N={key[1]} K={key[2]}: torch baseline = {BASELINE[key]}")
    return BASELINE[key]


def make_inputs(case: Case) -> dict:
    import torch

    m, n, k = case.tokens, case.size("n"), case.size("k")
    kb, nb = k // BLOCK, -(-n // BLOCK)
    a = (torch.randn(m, k, device="cuda") * 2).to(torch.float8_e4m3fn)
    w = (torch.randn(n, k, device="cuda") * 2).to(torch.float8_e4m3fn)
    sa_values = torch.rand(m, kb, device="cuda") * 1e-2 + 1e-3
    ws = torch.rand(nb, kb, device="cuda") * 1e-2 + 1e-3  # weight_scale_inv [N/128, K/128]
    padded_m = (m + 3) // 4 * 4
    sa = torch.empty(kb, padded_m, device="cuda")[:, :m].t()  # TMA-aligned column-major
    sa.copy_(sa_values)
    inputs = {"a": a, "b": w.t(), "sa": sa, "sb": ws.t(), "w": w, "ws": ws, "sa_values": sa_values}
    # torch._scaled_mm's recipes: scale_a outer-dim-major with stride exactly M; scale_b = weight scale .t()
    inputs["sa_torch"] = sa_values.t().contiguous().t()
    inputs["sb_scaled_mm"] = ws.t()
    kb4 = (kb + 3) // 4 * 4
    padded = torch.zeros(nb, kb4, device="cuda")
    padded[:, :kb] = ws
    inputs["sb_scaled_mm_padded"] = padded.t()[:kb]
    inputs["path"] = _probe((m, n, k), inputs)
    return inputs


def kernelkit_impl(inputs: dict):
    import kernelkit_ops
    import torch

    return kernelkit_ops.fp8_blockwise_scaled_mm(inputs["a"], inputs["b"], inputs["sa"], inputs["sb"], torch.bfloat16)


def reference(inputs: dict):
    import torch

    path = inputs["path"]
    if path != "dequant_bf16_mm":
        return torch._scaled_mm(
            inputs["a"], inputs["b"], inputs["sa_torch"], inputs[f"sb_{path}"], out_dtype=torch.bfloat16
        )
    a, w = inputs["a"], inputs["w"]
    n, k = w.shape
    a_deq = (a.float() * inputs["sa_values"].repeat_interleave(BLOCK, dim=1)).to(torch.bfloat16)
    ws_full = inputs["ws"].repeat_interleave(BLOCK, dim=0)[:n].repeat_interleave(BLOCK, dim=1)
    w_deq = (w.float() * ws_full).to(torch.bfloat16)
    return a_deq @ w_deq.t()


def bytes_moved(case: Case) -> int:
    m, n, k = case.tokens, case.size("n"), case.size("k")
    kb, nb = k // BLOCK, -(-n // BLOCK)
    return m * k + n * k + 4 * (m * kb + nb * kb) + 2 * m * n


BENCH = OpBench(
    op="fp8_blockwise_scaled_mm",
    cases=_cases(),
    make_inputs=make_inputs,
    impls={"kernelkit": kernelkit_impl},
    reference=reference,
    bytes_moved=bytes_moved,
    flops=lambda case: 2 * case.tokens * case.size("n") * case.size("k"),
    math="fp8",
)
