"""The program `kernelkit profile` runs under Nsight Compute: one bench case of one op, called once.

It makes the case's inputs with the op's bench file (as `kernelkit bench` does), warms the op up (first calls
load the library, pick configurations, fill caches of the wrapper), then calls the kernelkit implementation once
between cudaProfilerStart and cudaProfilerStop — ncu runs it with `--profile-from-start off`, so that call's kernels
and nothing else are profiled — inside an NVTX range named after the op, which the GUI shows. Last it writes a small
JSON status file, so the parent can tell a failure of this program from a failure of ncu.

    python -m kernelkit.perf.profile_target OP CASE_LABEL --status FILE [--warmup N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _nvtx_range(name: str) -> Iterator[None]:
    """An NVTX range around the profiled call (the GUI shows it); a torch without NVTX gets none: it is a label."""
    import torch

    try:
        torch.cuda.nvtx.range_push(name)
    except (AttributeError, RuntimeError):
        yield
        return
    try:
        yield
    finally:
        torch.cuda.nvtx.range_pop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernelkit.perf.profile_target")
    parser.add_argument("op")
    parser.add_argument("case")
    parser.add_argument("--status", type=Path, required=True)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    import torch

    from kernelkit.perf.harness import load_bench
    from kernelkit.project import find_project

    bench = load_bench(find_project(), args.op)
    case = next(c for c in bench.cases if c.label == args.case)
    run = bench.impls["kernelkit"]
    inputs = bench.make_inputs(case)
    for _ in range(args.warmup):
        run(inputs)
    torch.cuda.synchronize()
    torch.cuda.profiler.start()
    try:
        with _nvtx_range(f"kernelkit {args.op}"):
            run(inputs)
        torch.cuda.synchronize()
    finally:
        torch.cuda.profiler.stop()
    args.status.write_text(
        json.dumps({"op": args.op, "case": case.label, "device": torch.cuda.get_device_name(0)}) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
