#!/usr/bin/env python3
"""Eager host time per call of every kernelkit op at T = 1, next to its raw torch op and torch built-ins.

What an engine that runs without CUDA graphs pays on the CPU for each call: the Python wrapper (with and
without ``out=`` where the op has it), the raw ``torch.ops.kernelkit.<op>.default(...)`` with every argument
preallocated (the stable-ABI boxed dispatch and the binding's checks), and ``torch.add``,
``torch.empty_like`` and ``F.rms_norm`` for scale. The target (issue 20): wrapper <= raw + 2 µs.

Method: warm up, then N back-to-back calls timed with ``time.perf_counter_ns`` around the loop, divided by
N; the median of R repeats, in which an op's wrapper, out= and raw calls take turns. The GPU work of a
T = 1 call (~1.5 µs) is shorter than its host time, so the host sets the pace; a
``torch.cuda.synchronize()`` between chunks of calls, outside the timed loops, keeps the launch queue from
ever filling (a full queue would block the host and time the GPU instead). The synced time (each call
followed by ``torch.cuda.synchronize()``, inside the loop) is what one isolated call costs end to end.

Usage (on a machine with a CUDA GPU; the library built): ``python tools/eager_overhead.py --out PATH``
writes PATH.md (a table) and PATH.json (device, torch, git commit, date, every number).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_US = 2.0  # wrapper - raw, per op
HIDDEN = 4096


@dataclass
class Case:
    """One op's calls: the wrapper (and its out= form), and the raw torch op on preallocated arguments."""

    op: str
    shape: str
    wrapper: Callable[[], object]
    raw: Callable[[], object]
    wrapper_out: Callable[[], object] | None = None


@dataclass
class Row:
    op: str
    shape: str
    wrapper_us: float
    raw_us: float
    wrapper_out_us: float | None = None
    wrapper_synced_us: float | None = None
    raw_synced_us: float | None = None

    @property
    def overhead_us(self) -> float:
        """Like for like: the wrapper given every output (out=) where the op has it, against the raw op."""
        best = self.wrapper_out_us if self.wrapper_out_us is not None else self.wrapper_us
        return best - self.raw_us

    @property
    def meets_target(self) -> bool:
        return self.overhead_us <= TARGET_US


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="write OUT.md and OUT.json (a .md/.json suffix is dropped)")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed repeat (default 2000)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats; the median is reported (default 7)")
    parser.add_argument("--chunk", type=int, default=100, help="calls between synchronizations (default 100)")
    parser.add_argument("--ops", default="", help="comma-separated ops to time (default: all)")
    return parser.parse_args(argv)


def refuse(message: str) -> None:
    print(f"eager_overhead: {message}", file=sys.stderr)
    sys.exit(2)


# ------------------------------------------------------------------------------------------ timing


def time_per_call_us(fns: dict[str, Callable[[], object]], calls: int, repeats: int, chunk: int) -> dict[str, float]:
    """Per function, the median over repeats of the host time per call, µs; the GPU is drained between
    chunks, untimed. The functions take turns within each repeat (in a rotating order), so a drift of
    the machine (clocks, other processes) shifts them alike instead of biasing the one timed last."""
    import torch

    for fn in fns.values():
        for _ in range(max(50, chunk)):
            fn()
    torch.cuda.synchronize()
    chunk = max(1, min(chunk, calls))
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.disable()  # a collection inside a timed loop would land on whichever call allocated last
    try:
        for rep in range(repeats):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                fn, elapsed, done = fns[name], 0, 0
                while done < calls:
                    n = min(chunk, calls - done)
                    torch.cuda.synchronize()
                    start = time.perf_counter_ns()
                    for _ in range(n):
                        fn()
                    elapsed += time.perf_counter_ns() - start
                    done += n
                torch.cuda.synchronize()
                samples[name].append(elapsed / calls / 1e3)
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in samples.items()}


def synced_per_call_us(fn: Callable[[], object], calls: int, repeats: int) -> float:
    """Median over repeats of one call plus torch.cuda.synchronize(), µs: an isolated call, end to end."""
    import torch

    sync = torch.cuda.synchronize
    calls = max(1, calls // 4)  # each call waits for the GPU: fewer of them give as stable a median
    samples = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter_ns()
        for _ in range(calls):
            fn()
            sync()
        samples.append((time.perf_counter_ns() - start) / calls / 1e3)
    return statistics.median(samples)


# ------------------------------------------------------------------------------------------- cases


def build_cases(kernelkit_ops, torch, pdl: bool) -> list[Case]:
    """Every op at T = 1: H = 4096 bf16, or the op's natural small shape."""
    ops = torch.ops.kernelkit
    dev, bf16, fp8 = "cuda", torch.bfloat16, torch.float8_e4m3fn
    h = HIDDEN
    x = torch.randn(1, h, device=dev, dtype=bf16)
    w = torch.randn(h, device=dev, dtype=bf16)
    r = torch.randn(1, h, device=dev, dtype=bf16)
    y = torch.empty(1, h, device=dev, dtype=bf16)
    q8 = torch.empty(1, h, device=dev, dtype=fp8)
    s_row = torch.empty(1, 1, device=dev, dtype=torch.float32)
    cases: list[Case] = []

    gate_up = torch.randn(1, 2 * h, device=dev, dtype=bf16)
    for name in ("silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul"):
        fn, raw = getattr(kernelkit_ops, name), getattr(ops, name).default
        cases.append(
            Case(
                name,
                f"[1, {2 * h}] bf16",
                wrapper=lambda fn=fn: fn(gate_up),
                wrapper_out=lambda fn=fn: fn(gate_up, y),
                raw=lambda raw=raw: raw(y, gate_up, pdl),
            )
        )
    for name in ("rmsnorm", "gemma_rmsnorm"):
        fn, raw = getattr(kernelkit_ops, name), getattr(ops, name).default
        cases.append(
            Case(
                name,
                f"[1, {h}] bf16",
                wrapper=lambda fn=fn: fn(x, w),
                wrapper_out=lambda fn=fn: fn(x, w, out=y),
                raw=lambda raw=raw: raw(y, x, w, 1e-6, pdl),
            )
        )
    # In place, on the same tensors each call: the values drift, the host time does not.
    for name in ("fused_add_rmsnorm", "gemma_fused_add_rmsnorm"):
        fn, raw = getattr(kernelkit_ops, name), getattr(ops, name).default
        cases.append(
            Case(
                name,
                f"[1, {h}] bf16",
                wrapper=lambda fn=fn: fn(x, r, w),
                raw=lambda raw=raw: raw(x, r, w, 1e-6, pdl),
            )
        )
    cases.append(
        Case(
            "fused_add_rmsnorm_quant_fp8",
            f"[1, {h}] bf16",
            wrapper=lambda: kernelkit_ops.fused_add_rmsnorm_quant_fp8(x, r, w, output_q=q8, output_s=s_row),
            raw=lambda: ops.fused_add_rmsnorm_quant_fp8.default(x, r, w, q8, s_row, 1e-6, False, pdl),
        )
    )
    if kernelkit_ops.fp4_enabled():
        fp4_out = torch.empty(1, h // 2, device=dev, dtype=torch.uint8)
        fp4_scale = torch.empty(128, h // 16, device=dev, dtype=fp8)
        gs = torch.ones(1, device=dev)
        cases.append(
            Case(
                "scaled_fp4_quant",
                f"[1, {h}] bf16",
                wrapper=lambda: kernelkit_ops.scaled_fp4_quant(x, gs),
                raw=lambda: ops.scaled_fp4_quant.default(fp4_out, x, fp4_scale, gs, pdl),
            )
        )
    s_one = torch.full((1,), 0.01, device=dev)
    workspace = torch.empty(4096, device=dev)
    no_workspace = torch.empty(0, device=dev)
    for is_static in (False, True):
        cases.append(
            Case(
                f"sgl_per_tensor_quant_fp8 ({'static' if is_static else 'dynamic'})",
                f"[1, {h}] bf16",
                wrapper=lambda is_static=is_static: kernelkit_ops.sgl_per_tensor_quant_fp8(x, q8, s_one, is_static),
                raw=lambda is_static=is_static: ops.sgl_per_tensor_quant_fp8.default(
                    x, q8, s_one, is_static, no_workspace if is_static else workspace, pdl
                ),
            )
        )
    group = 128
    s_group = torch.empty(1, h // group, device=dev)
    q_int8 = torch.empty(1, h, device=dev, dtype=torch.int8)
    cases.append(
        Case(
            "sgl_per_token_group_quant_fp8",
            f"[1, {h}] bf16, group {group}",
            wrapper=lambda: kernelkit_ops.sgl_per_token_group_quant_fp8(x, q8, s_group, group, 1e-10, -448.0, 448.0),
            # scale_ue8m0=False, v2=True: what the wrapper's default picks for this call
            raw=lambda: ops.sgl_per_token_group_quant_fp8.default(
                x, q8, s_group, group, 1e-10, -448.0, 448.0, False, True, pdl
            ),
        )
    )
    cases.append(
        Case(
            "sgl_per_token_group_quant_int8",
            f"[1, {h}] bf16, group {group}",
            wrapper=lambda: kernelkit_ops.sgl_per_token_group_quant_int8(
                x, q_int8, s_group, group, 1e-10, -128.0, 127.0
            ),
            # v2=True (the wrapper's default pick), round_nearest=False
            raw=lambda: ops.sgl_per_token_group_quant_int8.default(
                x, q_int8, s_group, group, 1e-10, -128.0, 127.0, True, False, pdl
            ),
        )
    )
    cases.append(
        Case(
            "sgl_per_token_quant_fp8",
            f"[1, {h}] bf16",
            wrapper=lambda: kernelkit_ops.sgl_per_token_quant_fp8(x, q8, s_row),
            raw=lambda: ops.sgl_per_token_quant_fp8.default(x, q8, s_row, pdl),
        )
    )
    # Llama-3-8B's attention: 32 query heads, 8 KV heads of 128, the NeoX pairing.
    positions = torch.zeros(1, device=dev, dtype=torch.int64)
    query = torch.randn(1, 32 * 128, device=dev, dtype=bf16)
    key = torch.randn(1, 8 * 128, device=dev, dtype=bf16)
    cache = torch.randn(4096, 128, device=dev)
    rope_op = ops.apply_rope_with_cos_sin_cache_inplace.default
    if len(rope_op._schema.arguments) == 7:  # a build from before the fused KV store (an A/B's old side)
        errors = torch.zeros(4, device=dev, dtype=torch.int64)  # as the wrapper's per-device record
        rope_args = (positions, query, key, 128, cache, True, errors)
    else:  # the empty k_buffer / v_buffer the wrapper passes without the store
        errors = torch.zeros(8, device=dev, dtype=torch.int64)
        rope_args = (
            positions,
            query,
            key,
            128,
            cache,
            True,
            errors,
            None,
            query.new_empty(0),
            key.new_empty(0),
            None,
            pdl,
        )
    cases.append(
        Case(
            "apply_rope_with_cos_sin_cache_inplace",
            "q [1, 32x128], k [1, 8x128] bf16",
            wrapper=lambda: kernelkit_ops.apply_rope_with_cos_sin_cache_inplace(positions, query, key, 128, cache),
            raw=lambda: rope_op(*rope_args),
        )
    )
    return cases


def builtin_cases(torch) -> dict[str, Callable[[], object]]:
    import torch.nn.functional as F

    a = torch.randn(1, HIDDEN, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(1, HIDDEN, device="cuda", dtype=torch.bfloat16)
    c = torch.empty_like(a)
    w = torch.randn(HIDDEN, device="cuda", dtype=torch.bfloat16)
    return {
        "torch.add(a, b)": lambda: torch.add(a, b),
        "torch.add(a, b, out=c)": lambda: torch.add(a, b, out=c),
        "torch.empty_like(a)": lambda: torch.empty_like(a),
        "F.rms_norm(a, (H,), w, 1e-6)": lambda: F.rms_norm(a, (HIDDEN,), w, 1e-6),
    }


def pdl_default_cases(kernelkit_ops, torch) -> dict[str, Callable[[], object]]:
    """What enable_pdl=None costs: the cached default against asking the device every call."""
    try:
        from kernelkit_ops._defaults import pdl_default
    except ImportError:  # a build from before the defaults module (an A/B against an earlier build)
        from kernelkit_ops._validate import pdl_default
    x = torch.empty(1, device="cuda")
    return {
        "pdl_default(x, None)": lambda: pdl_default(x, None),
        "torch.cuda.get_device_capability(x.device)": lambda: torch.cuda.get_device_capability(x.device),
    }


# ------------------------------------------------------------------------------------------ output


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True)
        return head + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"  # a copy of the tree without .git (the GPU machine)


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render_markdown(meta: dict, rows: list[Row], reference: dict[str, float], pdl: dict[str, float]) -> str:
    lines = [
        "# Eager host time per call (T = 1, no CUDA graph)",
        "",
        f"{meta['device']}, torch {meta['torch']} (CUDA {meta['cuda']}), kernelkit_ops at {meta['commit']}, "
        f"{meta['date']}. Median of {meta['repeats']} repeats of {meta['calls']} back-to-back calls "
        f"(the GPU drained every {meta['chunk']} calls, untimed); synced: each call followed by "
        "torch.cuda.synchronize(). Target: wrapper (with out= where the op has it) <= raw + "
        f"{TARGET_US:g} µs.",
        "",
        "| op | shape | wrapper µs | wrapper out= µs | raw torch.ops µs | wrapper − raw µs | "
        "synced wrapper µs | synced raw µs | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.op} | {row.shape} | {fmt(row.wrapper_us)} | {fmt(row.wrapper_out_us)} | {fmt(row.raw_us)} | "
            f"{row.overhead_us:+.1f} | {fmt(row.wrapper_synced_us)} | {fmt(row.raw_synced_us)} | "
            f"{'met' if row.meets_target else 'missed'} |"
        )
    lines += ["", "| reference | µs |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in {**reference, **pdl}.items()]
    return "\n".join(lines) + "\n"


def write_results(out: str, meta: dict, rows: list[Row], reference: dict[str, float], pdl: dict[str, float]) -> Path:
    stem = Path(out)
    if stem.suffix in (".md", ".json"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    data = {
        **meta,
        "target_us": TARGET_US,
        "rows": [{**asdict(r), "overhead_us": r.overhead_us, "meets_target": r.meets_target} for r in rows],
        "reference_us": reference,
        "pdl_default_us": pdl,
    }
    stem.with_suffix(".json").write_text(json.dumps(data, indent=2) + "\n")
    markdown = render_markdown(meta, rows, reference, pdl)
    stem.with_suffix(".md").write_text(markdown)
    return stem


# -------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError:
        refuse("needs torch (not importable here)")
    if not torch.cuda.is_available():
        refuse("needs a CUDA GPU (none visible to torch); it times eager calls on the device")
    try:
        import kernelkit_ops
    except ImportError:
        sys.path.insert(0, str(REPO / "library" / "python"))
        try:
            import kernelkit_ops
        except ImportError as e:
            refuse(f"cannot import kernelkit_ops ({e}); build it with `kernelkit build`")

    pdl = torch.cuda.get_device_capability()[0] >= 9  # what enable_pdl=None resolves to in the wrappers
    cases = build_cases(kernelkit_ops, torch, pdl)
    wanted = {name.strip() for name in args.ops.split(",") if name.strip()}
    if wanted:
        cases = [c for c in cases if c.op.split(" ")[0] in wanted]
    timing = dict(calls=args.calls, repeats=args.repeats, chunk=args.chunk)
    rows = []
    for case in cases:
        variants = {"wrapper": case.wrapper, "raw": case.raw}
        if case.wrapper_out:
            variants["wrapper_out"] = case.wrapper_out
        us = time_per_call_us(variants, **timing)
        row = Row(
            op=case.op,
            shape=case.shape,
            wrapper_us=us["wrapper"],
            raw_us=us["raw"],
            wrapper_out_us=us.get("wrapper_out"),
            wrapper_synced_us=synced_per_call_us(case.wrapper, args.calls, args.repeats),
            raw_synced_us=synced_per_call_us(case.raw, args.calls, args.repeats),
        )
        rows.append(row)
        print(
            f"{row.op:45s} wrapper {fmt(row.wrapper_us):>6} out= {fmt(row.wrapper_out_us):>6} raw {fmt(row.raw_us):>6}"
            f"  {row.overhead_us:+.1f} µs",
            flush=True,
        )
    reference = time_per_call_us(builtin_cases(torch), **timing)
    pdl_times = time_per_call_us(pdl_default_cases(kernelkit_ops, torch), **timing)
    meta = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": sys.version.split()[0],
        "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "library": str(kernelkit_ops.LIBRARY_PATH),
        **timing,
    }
    stem = write_results(args.out, meta, rows, reference, pdl_times)
    print()
    print(stem.with_suffix(".md").read_text())
    print(f"wrote {stem}.md and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
