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


def _capture(calls: list[Callable[[], object]], n: int, offset: int):
    """A CUDA graph of n calls cycling over the input copies, starting at copy `offset`.

    What a call returns is held until as many later calls have been captured as there are input
    copies. An implementation that allocates its output (torch, torch.compile, Liger) would otherwise
    get the same block back from the graph's pool on every call, and its writes would land in lines
    still in L2 from the call before: on the H100 that made Liger's RMSNorm at [2048, 4096] look 15%
    faster than the same kernel writing to fresh memory (11.4 vs 13 µs), and torch.compile's fp8 quant
    reach "99% of copy". Held this way, allocated outputs rotate over as many buffers as the inputs do,
    so every implementation writes to memory that is as cold as the memory it reads.
    """
    import collections

    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    held: collections.deque = collections.deque(maxlen=len(calls))
    with torch.cuda.stream(stream):
        for i in range(min(n, len(calls))):  # warm the side stream (allocator, lazy init) before capture
            calls[(offset + i) % len(calls)]()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=stream):
            for i in range(n):
                held.append(calls[(offset + i) % len(calls)]())
    torch.cuda.synchronize()
    held.clear()
    return graph


def _replay_us(graph, n: int, replays: int, warmup: int) -> list[float]:
    import torch

    for _ in range(warmup):
        graph.replay()
    torch.cuda.synchronize()
    samples = []
    for _ in range(replays):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / n)
    return samples


def time_graphs(
    impls: dict[str, Callable[[int], Callable[[], object]]],
    copies: int,
    *,
    calls_per_graph: int | None = None,
    rounds: int = 5,
    replays: int = 6,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Time several implementations of one case, interleaved.

    Each round captures a fresh graph per impl (rotation starting at another copy) and replays it;
    the impls take turns round by round, so clock or thermal drift hits all of them alike, and the
    reported p20-p80 spans run-to-run variation (new capture, new input order), not just the
    replay-to-replay jitter of one graph, which under-states how much two runs differ.
    """
    import torch

    calls = {name: [make(i) for i in range(copies)] for name, make in impls.items()}
    n = calls_per_graph or max(copies, 32)
    for impl_calls in calls.values():  # eager warm-up: lazy init, compilation, autotuning
        for call in impl_calls:
            call()
    torch.cuda.synchronize()
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for r in range(rounds):
        for name, impl_calls in calls.items():
            graph = _capture(impl_calls, n, offset=(r * 7) % copies)
            samples[name] += _replay_us(graph, n, replays, warmup)
            del graph
    return {name: summarize(s) for name, s in samples.items()}


def time_graph(make_call: Callable[[int], Callable[[], object]], copies: int, **kwargs) -> Timing:
    """Time `make_call(i)()` (i = input copy) captured in CUDA graphs; see time_graphs."""
    return time_graphs({"_": make_call}, copies, **kwargs)["_"]


def copy_ceiling_gbs(nbytes: int = 2 << 30) -> float:
    """Device-to-device copy bandwidth in GB/s, counting bytes read + written: the memory-bound ceiling.

    The better of cudaMemcpy (a same-dtype `copy_`) and an elementwise kernel copy (`mul(x, 1)`):
    on the H100 the kernel streams faster than the copy engine path, and kernels are what we compare.
    """
    import torch

    src = torch.randn(nbytes // 4, dtype=torch.bfloat16, device="cuda")
    best_us = _copy_us([src], [torch.empty_like(src)], calls_per_graph=8)
    return 2 * src.numel() * src.element_size() / (best_us * 1e-6) / 1e9


def _copy_us(src: list, dst: list, **kwargs) -> float:
    """Per-call µs of copying src[i] -> dst[i] (rotating over the pairs): the better of cudaMemcpy
    (`copy_`) and an elementwise kernel copy (`mul(x, 1)`)."""
    import torch

    memcpy = time_graph(lambda i: lambda: dst[i].copy_(src[i]), len(src), **kwargs)
    kernel = time_graph(lambda i: lambda: torch.mul(src[i], 1, out=dst[i]), len(src), **kwargs)
    return min(memcpy.us, kernel.us)


def copy_curve(smallest: int = 64 << 10, largest: int = 1 << 30) -> list[tuple[int, float]]:
    """[(bytes moved, µs)] of a device-to-device copy at sizes from `smallest` to `largest` (doubling), timed
    like the ops: graph replay, source and destination rotated over copies > 2x L2.

    A copy of 34 MB does not run at the bandwidth of a 2 GB one (on the H100: 84% of it -- the first
    bytes take a DRAM round trip to arrive and the last CTAs drain alone), so an op is also judged against
    a copy of its own size: the honest "how close to the hardware" for mid-size cases.
    """
    import torch

    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    curve = []
    moved = smallest
    while moved <= largest:
        n = moved // 4  # bf16 elements per side: read n * 2 bytes + write n * 2 bytes
        copies = max(1, min(rotation_count(moved, l2), (4 << 30) // moved))
        src = [torch.randn(n, device="cuda", dtype=torch.bfloat16) for _ in range(copies)]
        dst = [torch.empty_like(s) for s in src]
        curve.append((4 * n, _copy_us(src, dst)))
        del src, dst
        torch.cuda.empty_cache()
        moved *= 2
    return curve


def empty_kernel_us() -> float:
    """GPU time per call of a kernel that does (almost) nothing -- a 1-element fill -- timed like the ops.

    The launch floor: no op can take less per call in a graph, so latency-bound cases are read against it.
    """
    import torch

    one = torch.empty(1, device="cuda")
    return time_graph(lambda i: lambda: one.fill_(0.0), 1, calls_per_graph=64).us
