"""merge_state_v2 benchmark (natural-log LSEs, infinite = empty): kernelkit vs the torch reference (eager and
torch.compile) and sgl-kernel when installed. Cases and bytes: merge_state_bench.py."""

from merge_state_bench import merge_state_bench

BENCH = merge_state_bench("merge_state_v2", base="e")
