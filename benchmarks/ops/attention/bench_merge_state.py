"""merge_state benchmark (base-2 LSEs): kernelkit vs the torch reference (eager and torch.compile) and sgl-kernel
when installed. Cases and bytes: merge_state_bench.py."""

from merge_state_bench import merge_state_bench

BENCH = merge_state_bench("merge_state", base="2")
