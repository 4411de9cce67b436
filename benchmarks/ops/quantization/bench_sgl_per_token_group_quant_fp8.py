"""sgl_per_token_group_quant_fp8 benchmark: kernelkit vs the torch reference (eager and torch.compile);
cases and bytes model in group_quant_bench.py."""

from group_quant_bench import group_quant_bench

BENCH = group_quant_bench("sgl_per_token_group_quant_fp8", int8=False)
