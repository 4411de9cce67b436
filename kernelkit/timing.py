"""GPU timing that does not flatter: many calls captured in one CUDA graph, replayed, with inputs
rotated over enough copies that large cases stream from HBM rather than L2.

Per-call GPU time = replay time / calls in the graph, so Python launch overhead stays out.
Needs torch with CUDA; imported lazily by the commands that time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    us: float  # median per call
    us_p20: float
    us_p80: float
    us_min: float
    us_max: float
    samples: int


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile, q in [0, 1]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(per_call_us: Sequence[float]) -> Timing:
    return Timing(
        us=statistics.median(per_call_us),
        us_p20=quantile(per_call_us, 0.2),
        us_p80=quantile(per_call_us, 0.8),
        us_min=min(per_call_us),
        us_max=max(per_call_us),
        samples=len(per_call_us),
    )


def rotation_count(bytes_per_call: int, l2_bytes: int, max_copies: int = 64) -> int:
    """Input copies so that one pass over them exceeds 2x L2 (cold cache), capped for memory."""
    if bytes_per_call <= 0:
        return 1
    return max(1, min(max_copies, math.ceil(2 * l2_bytes / bytes_per_call)))


def time_graph(
    make_call: Callable[[int], Callable[[], object]],
    copies: int,
    *,
    calls_per_graph: int | None = None,
    replays: int = 10,
    warmup: int = 3,
) -> Timing:
    """Time `make_call(i)()` (i = input copy) captured `calls_per_graph` times in a CUDA graph."""
    import torch

    calls = [make_call(i) for i in range(copies)]
    n = calls_per_graph or max(copies, 32)
    for call in calls:  # warm up eagerly first: lazy init, autotuning, allocator growth
        call()
    torch.cuda.synchronize()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.stream(stream):
        for i in range(min(n, copies)):
            calls[i % copies]()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=stream):
            for i in range(n):
                calls[i % copies]()
    torch.cuda.synchronize()
    for _ in range(warmup):
        graph.replay()
    torch.cuda.synchronize()
    per_call = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        per_call.append(start.elapsed_time(end) * 1e3 / n)
    return summarize(per_call)


def copy_ceiling_gbs(nbytes: int = 2 << 30) -> float:
    """Device-to-device copy bandwidth in GB/s, counting bytes read + written: the memory-bound ceiling.

    The better of cudaMemcpy (a same-dtype `copy_`) and an elementwise kernel copy (`mul(x, 1)`):
    on the H100 the kernel streams faster than the copy engine path, and kernels are what we compare.
    """
    import torch

    src = torch.randn(nbytes // 4, dtype=torch.bfloat16, device="cuda")
    dst = torch.empty_like(src)
    memcpy = time_graph(lambda i: (lambda: dst.copy_(src)), 1, calls_per_graph=8, replays=10)
    kernel = time_graph(lambda i: (lambda: torch.mul(src, 1, out=dst)), 1, calls_per_graph=8, replays=10)
    best_us = min(memcpy.us, kernel.us)
    return 2 * src.numel() * src.element_size() / (best_us * 1e-6) / 1e9
