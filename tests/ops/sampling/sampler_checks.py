"""The checks every sampler's tests run, parametrised by a SamplerSpec: statistical exactness (chi-square against the
filtered, renormalised float64 distribution), the support on real vocabularies, per-row thresholds, `indices`,
reproducibility, CUDA-graph replays, check_nan, empty batches, opcheck and torch.compile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from sampling_reference import chi_square_check, draw_counts, filtered, random_probs

DRAWS_PER_ROW = 200_000  # >= 10^5 draws per distribution
LARGE_VOCABS = (128256, 151936)


@dataclass
class SamplerSpec:
    op: str
    # call(probs, thresholds, **kwargs) -> samples; thresholds is the spec's own dict (scalars or [P] tensors)
    call: Callable
    # kept(probs, thresholds) -> [P, V] bool (CPU): the reference's kept set
    kept: Callable
    # raw torch op arguments after (probs, samples, indices): the thresholds as the schema takes them
    op_thresholds: Callable


def check_distribution(spec: SamplerSpec, probs: torch.Tensor, thr: dict, index_dtype=torch.int64) -> None:
    counts = draw_counts(lambda p, idx: spec.call(p, thr, indices=idx), probs, DRAWS_PER_ROW, index_dtype)
    q = filtered(probs, spec.kept(probs, thr))
    for r in range(probs.shape[0]):
        chi_square_check(counts[r], q[r], f"{spec.op} row {r} {thr}")


def check_large_vocab_support(
    spec: SamplerSpec, vocab: int, thr: dict, loose: dict | None = None, rows: int = 48, repeats: int = 8
) -> None:
    """Never a token outside the kept set, never a zero-probability token (rows with zeros in them too). `loose`:
    thresholds widened by far more than the kernel's rounding (top-p sums are exact to ~1e-7), for the reference."""
    probs = random_probs(rows, vocab, scale=3.0, seed=vocab)
    probs[::3, ::7] = 0.0  # zero probabilities among the large ones too
    probs[1, : vocab // 2] = 0.0
    indices = torch.arange(rows, device="cuda").repeat_interleave(repeats)
    samples = spec.call(probs, thr, indices=indices).long()
    kept = spec.kept(probs, loose or thr).cuda() & (probs > 0)
    assert bool(kept[indices, samples].all()), f"{spec.op}: a token outside the kept set"


def check_reproducible(spec: SamplerSpec, thr: dict) -> None:
    probs = random_probs(512, 1000, scale=2.0)
    a = spec.call(probs, thr, generator=torch.Generator(device="cuda").manual_seed(1234))
    b = spec.call(probs, thr, generator=torch.Generator(device="cuda").manual_seed(1234))
    assert torch.equal(a, b), "the same seed gave different tokens"
    g = torch.Generator(device="cuda").manual_seed(99)
    c, d = spec.call(probs, thr, generator=g), spec.call(probs, thr, generator=g)
    assert not torch.equal(c, d), "successive calls on one generator gave the same tokens"
    # The default generator: torch.manual_seed reproduces, and it advances.
    torch.manual_seed(5)
    e, f = spec.call(probs, thr), spec.call(probs, thr)
    torch.manual_seed(5)
    assert torch.equal(e, spec.call(probs, thr)) and not torch.equal(e, f)


def check_graph_replays(spec: SamplerSpec, thr: dict, replays: int = 400) -> None:
    """A captured call draws fresh numbers on every replay, and the replayed draws have the right distribution."""
    probs = random_probs(2, 24, scale=1.0, seed=3)
    indices = torch.arange(2, device="cuda").repeat_interleave(1024)
    spec.call(probs, thr, indices=indices)  # warm up outside the capture
    graph = torch.cuda.CUDAGraph()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.cuda.graph(graph, stream=stream):
        out = spec.call(probs, thr, indices=indices)
    torch.cuda.current_stream().wait_stream(stream)
    counts = torch.zeros(2, 24, dtype=torch.int64)
    previous = None
    differ = 0
    for _ in range(replays):
        graph.replay()
        s = out.long().cpu()
        if previous is not None:
            differ += int(not torch.equal(s, previous))
        previous = s.clone()
        counts.index_put_((indices.cpu(), s), torch.ones_like(s), accumulate=True)
    assert differ == replays - 1, f"{differ} of {replays - 1} replays drew new tokens"
    q = filtered(probs, spec.kept(probs, thr))
    for r in range(2):
        chi_square_check(counts[r], q[r], f"{spec.op} replayed row {r}")


def check_nan_raises(spec: SamplerSpec, thr: dict, device: str = "cuda") -> None:
    import pytest  # noqa: PLC0415

    probs = torch.rand(3, 40, device=device)
    probs[1, 5] = float("nan")
    with pytest.raises(ValueError, match="Input probs contains NaN"):
        spec.call(probs, thr, check_nan=True)


def check_empty(spec: SamplerSpec, thr: dict) -> None:
    probs = random_probs(4, 100)
    out = spec.call(probs, thr, indices=torch.empty(0, dtype=torch.int64, device="cuda"))
    assert out.shape == (0,) and out.dtype == torch.int32
    empty = torch.empty(0, 100, device="cuda")
    assert spec.call(empty, {k: (v[:0] if isinstance(v, torch.Tensor) else v) for k, v in thr.items()}).shape == (0,)


def check_opcheck(spec: SamplerSpec, thr: dict) -> None:
    probs = random_probs(6, 300)
    samples = torch.empty(9, dtype=torch.int32, device="cuda")
    indices = torch.tensor([0, 5, 3, 3, 1, 2, 4, 0, 5], device="cuda", dtype=torch.int32)
    op = getattr(torch.ops.kernelkit, spec.op).default
    args = (probs, samples, indices, *spec.op_thresholds(thr), 1234, 8, None, False)
    torch.library.opcheck(op, args)
    state = torch.tensor([77, 12], dtype=torch.int64, device="cuda")
    samples6 = torch.empty(6, dtype=torch.int32, device="cuda")
    torch.library.opcheck(op, (probs, samples6, None, *spec.op_thresholds(thr), 0, 0, state, True))


def check_compile(spec: SamplerSpec, thr: dict) -> None:
    probs = random_probs(64, 500, scale=2.0)

    @torch.compile(fullgraph=True)
    def fn(p):
        return spec.call(p, thr) + 0

    s = fn(probs).long()
    kept = spec.kept(probs, thr).cuda() & (probs > 0)
    assert bool(kept[torch.arange(64, device="cuda"), s].all())
