"""silu_and_mul_scaled_fp4_grouped_quant benchmark (FP4 builds only): the masked MoE layout, 32 experts x
[gate | up] of 2 x 2048 (DeepSeek-V3's second MoE GEMM input per rank) and 8 x 2 x 4096, bf16, T in {1, 128,
2048, 16384} tokens over the experts, next to silu_and_mul + scaled_fp4_grouped_quant; definitions, bytes model
and baselines in fp4_grouped_bench.py."""

from __future__ import annotations

from fp4_grouped_bench import grouped_bench

BENCH = grouped_bench("silu_and_mul_scaled_fp4_grouped_quant", silu_and_mul=True, sizes=[(32, 2048), (8, 4096)])
