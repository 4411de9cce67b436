"""silu_and_mul benchmark: kernelkit vs the torch reference (eager and torch.compile)."""

import torch.nn.functional as F
from gated_activation_bench import gated_activation_bench

BENCH = gated_activation_bench("silu_and_mul", lambda x: F.silu(x))
