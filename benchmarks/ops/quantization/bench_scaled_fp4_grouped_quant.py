"""scaled_fp4_grouped_quant benchmark (FP4 builds only): the masked MoE layout, 32 experts x hidden 7168
(DeepSeek-V3's first MoE GEMM input per rank) and 8 x 4096, bf16, T in {1, 128, 2048, 16384} tokens over the
experts; definitions, bytes model and baselines in fp4_grouped_bench.py."""

from __future__ import annotations

from fp4_grouped_bench import grouped_bench

BENCH = grouped_bench("scaled_fp4_grouped_quant", silu_and_mul=False, sizes=[(32, 7168), (8, 4096)])
