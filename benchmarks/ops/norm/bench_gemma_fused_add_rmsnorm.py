"""gemma_fused_add_rmsnorm benchmark: kernelkit vs the torch reference (eager and torch.compile), hidden 4096
and 8192."""

from rmsnorm_bench import rmsnorm_bench

BENCH = rmsnorm_bench("gemma_fused_add_rmsnorm", fused=True, gemma=True)
