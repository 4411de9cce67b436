#!/usr/bin/env python3
"""Issue 27's performance table: the custom all-reduce against NCCL on several GPUs of one node (a measuring tool).

One process per GPU (rank r on cuda:r, torch.multiprocessing spawn), an NCCL process group (NCCL_NVLS_ENABLE=0: the
machines forbid NCCL's multicast path), a gloo group beside it for the tool's own barriers and gathers, and a
`kernelkit_ops.allreduce.CustomAllreduce` on the NCCL group (max_size: the largest size, at least the helper's
default). For each size, in order:

  1. correctness: every rank's input is drawn from seeded generators, so each rank knows all of them. The custom
     result must be within a bf16/fp16/fp32 sum's rounding of NCCL's (|custom - NCCL| <= (world * u * (1 + world * u)
     + world * 2^-24) * sum_r |x_r| elementwise, u the dtype's unit roundoff: NCCL rounds each of its world - 1
     partial sums, the custom kernel rounds one fp32 sum), carry the same bits on every rank (digests gathered), and
     equal the fp32 rank-order sum rounded once (the kernel's documented arithmetic), counted as differing elements;
  2. timing inside CUDA graphs: N back-to-back all-reduces per graph (N from an optimistic estimate of one call, so
     a replay takes >= --target-us), the custom one captured under `comm.capture()`, NCCL's
     (`torch.distributed.all_reduce`, in place on a zeroed buffer, so values stay finite) captured the same way after
     a warm-up on the capture stream; the two graphs take turns over --rounds rounds, each starting with a barrier,
     --warmup untimed and --reps timed replays queued back to back (host skew between ranks is paid once per round,
     not per replay); a rank's time is the median per call, the row's the slowest rank's;
  3. both eager (no graph; the custom path stages its input through the registered buffer) for reference.

Rank 0 writes the rows after every size (a run stopped by its time budget or killed keeps what finished); the parent
prints the table: size, custom and NCCL us (graphs), x NCCL, the algorithm the kernel picks (a mirror of the rule
in library/csrc/allreduce/all_reduce.cu's launch(), tested against the source), bus bandwidth (NCCL's definition for
all-reduce: bytes / time * 2 (n - 1) / n), the path CustomAllreduce.all_reduce takes at that size with its default
max_size, and the eager times; then the helper's hand-over rule, the measured crossover and whether they agree, and
issue 27's targets, met or not.

  GPU:  python3 tools/allreduce_bench.py --world 2 [--sizes 8K,64K,512K,2M,8M] [--dtype bf16] [--json PATH]
                                         [--time-budget-s 240]
  CPU:  python3 tools/allreduce_bench.py --world 2 --dry-cpu    (gloo group, the torch reference sum in place of the
        kernel, host-timed eager calls, no graphs: the spawn/group/gather/report machinery without a GPU)

Exit status: 0 when every size run passed its checks (a run the budget cut short included), 1 on a failed check, a
failed or hung rank, or a custom path that could not be set up for lack of the library; 2 on a refusal (arguments,
fewer GPUs than --world).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import math
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALL_REDUCE_CU = ROOT / "library" / "csrc" / "allreduce" / "all_reduce.cu"
if str(ROOT / "library" / "python") not in sys.path:
    sys.path.insert(0, str(ROOT / "library" / "python"))  # this checkout's kernelkit_ops

PROG = "allreduce_bench"
DEFAULT_SIZES = "8K,64K,512K,2M,8M"
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
ELEMENT_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11, "fp32": 2.0**-24}
PACK_BYTES = 16  # the kernel moves whole 16-byte packs; the helper hands anything else to NCCL
DEFAULT_MAX_SIZE = 8 << 20  # CustomAllreduce's default max_size (read from its signature where importable)

# Mirror of launch() in library/csrc/allreduce/all_reduce.cu (tests/tools/test_allreduce_bench.py reads the .cu and
# checks these): two-shot on more than two ranks with full NVLink from 512 KB (<= 4 ranks) or 256 KB (6-8 ranks),
# one-shot otherwise; blocks of 512 threads, one pack each per step, at most 36.
TWO_SHOT_MIN_RANKS = 3
TWO_SHOT_FROM_BYTES_UP_TO_4 = 512 << 10
TWO_SHOT_FROM_BYTES_ABOVE_4 = 256 << 10
KERNEL_THREADS = 512
KERNEL_MAX_BLOCKS = 36

# The plan for one graph: an optimistic call (2 us of launch and barriers, 1 MB per us of peer reads) so that even a
# call that fast fills the target; at least MIN_CALLS (a replay's own launch cost is then small per call).
EST_FIXED_US = 2.0
EST_BYTES_PER_US = 1e6
MIN_CALLS = 10
MAX_CALLS = 1000
DRY_MAX_CALLS = 8  # gloo on the host: a few calls are enough to exercise the loop

# issue 27's targets (inside CUDA graphs)
TARGET_SMALL_US = 5.0
TARGET_SMALL_MAX_BYTES = 64 << 10
TARGET_SPEEDUP = 1.5
TARGET_SPEEDUP_MAX_BYTES = 512 << 10
TARGET_BUSBW_FRACTION = 0.8
TARGET_BUSBW_BYTES = 8 << 20

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


# ------------------------------------------------------------------------------------------------ pure helpers


def parse_size(text: str) -> int:
    """Bytes of '8K', '2M', '1G' (binary units; 'KB'/'KiB' also read), or a plain byte count; whole 16-byte packs."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:([KMG])(?:I?B)?|B)?\s*", text, re.I)
    if m is None:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected bytes as an integer with K, M or G (e.g. 8K, 2M)")
    nbytes = int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]
    if nbytes <= 0 or nbytes % PACK_BYTES:
        raise argparse.ArgumentTypeError(
            f"size {text!r} = {nbytes} bytes: the custom all-reduce moves whole {PACK_BYTES}-byte packs "
            f"(a positive multiple of {PACK_BYTES})"
        )
    return nbytes


def parse_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated sizes, ascending, each once."""
    items = text.split(",")
    if not text.strip() or any(not item.strip() for item in items):
        raise argparse.ArgumentTypeError(f"sizes {text!r}: expected a comma-separated list such as {DEFAULT_SIZES}")
    return tuple(sorted({parse_size(item) for item in items}))


def format_size(nbytes: int) -> str:
    for suffix, unit in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes >= unit and nbytes % unit == 0:
            return f"{nbytes // unit}{suffix}"
    return f"{nbytes}B"


def algorithm(world: int, full_nvlink: bool, nbytes: int) -> str:
    """The kernel the custom all-reduce launches for a message of nbytes (all_reduce.cu's launch())."""
    threshold = TWO_SHOT_FROM_BYTES_UP_TO_4 if world <= 4 else TWO_SHOT_FROM_BYTES_ABOVE_4
    return "two-shot" if world >= TWO_SHOT_MIN_RANKS and full_nvlink and nbytes >= threshold else "one-shot"


def kernel_blocks(world: int, full_nvlink: bool, nbytes: int) -> int:
    """The grid launch() uses: one thread per pack of this rank's share, at most KERNEL_MAX_BLOCKS blocks."""
    packs = nbytes // PACK_BYTES
    work = -(-packs // world) if algorithm(world, full_nvlink, nbytes) == "two-shot" else packs
    return max(1, min(-(-work // KERNEL_THREADS), KERNEL_MAX_BLOCKS))


def alg_bandwidth_gbs(nbytes: int, us: float) -> float:
    return nbytes / (us * 1e-6) / 1e9


def bus_bandwidth_gbs(nbytes: int, us: float, world: int) -> float:
    """NCCL's bus bandwidth of an all-reduce (nccl-tests' PERFORMANCE.md): algbw * 2 (n - 1) / n, in GB/s."""
    return alg_bandwidth_gbs(nbytes, us) * 2 * (world - 1) / world


def estimated_call_us(nbytes: int) -> float:
    return EST_FIXED_US + nbytes / EST_BYTES_PER_US


def calls_per_graph(nbytes: int, target_us: float = 200.0, dry: bool = False) -> int:
    """All-reduces captured in one graph: enough that a replay of optimistic calls takes >= target_us."""
    calls = max(MIN_CALLS, min(MAX_CALLS, math.ceil(target_us / estimated_call_us(nbytes))))
    return min(calls, DRY_MAX_CALLS) if dry else calls


def check_world(world: int, gpu_count: int) -> str | None:
    """Why `world` ranks (one per GPU) cannot run here, or None."""
    if world < 2:
        return f"--world {world}: an all-reduce needs at least 2 ranks"
    if gpu_count < world:
        return (
            f"--world {world} needs {world} GPUs (one rank per GPU), {gpu_count} visible "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')}); --dry-cpu runs the "
            "machinery without GPUs"
        )
    return None


def sum_tolerance_factor(world: int, dtype: str) -> float:
    """|custom - NCCL| <= factor * sum_r |x_r|: NCCL rounds world - 1 partial sums to the dtype (each off by at most
    u of a partial sum, which is at most sum |x_r| grown by (1 + u) per step), the custom kernel one fp32 sum (fp32
    roundings on the way, then u once)."""
    u = UNIT_ROUNDOFF[dtype]
    return world * u * (1 + world * u) + world * 2.0**-24


def handover_rule(default_max_size: int) -> str:
    return (
        "CustomAllreduce.all_reduce takes the custom path for bf16/fp16/fp32, contiguous, 16-byte aligned tensors of "
        f"whole {PACK_BYTES}-byte packs up to max_size ({format_size(default_max_size)} by default) and hands "
        "everything else, larger messages included, to the group's all-reduce (NCCL)"
    )


def path_at(nbytes: int, enabled: bool, default_max_size: int) -> str:
    """Which path CustomAllreduce.all_reduce (default max_size) takes for a contiguous message of nbytes."""
    if not enabled:
        return "NCCL (custom off)"
    return "custom" if 0 < nbytes <= default_max_size and nbytes % PACK_BYTES == 0 else "NCCL"


def crossover(rows: list[dict]) -> dict:
    """Where NCCL (graph) starts to beat the custom path for good, and whether the helper's hand-over agrees."""
    timed = [r for r in rows if r.get("custom_graph_us") and r.get("nccl_graph_us")]
    if not timed:
        return {"measured": None, "agrees": None, "disagreements": [], "text": "no size timed on both paths"}
    faster = {r["bytes"]: r["custom_graph_us"] < r["nccl_graph_us"] for r in timed}
    sizes = sorted(faster)
    nccl_from = next((s for i, s in enumerate(sizes) if not any(faster[t] for t in sizes[i:])), None)
    disagreements = [
        format_size(r["bytes"])
        for r in timed
        if (r["path"] == "custom") != faster[r["bytes"]] and not r["path"].startswith("NCCL (")
    ]
    if nccl_from is None:
        measured = f"custom faster at every size up to {format_size(sizes[-1])}"
    else:
        measured = f"NCCL faster from {format_size(nccl_from)}"
    slower_inside = [format_size(s) for s in sizes if not faster[s] and (nccl_from is None or s < nccl_from)]
    if slower_inside:
        measured += f" (and at {', '.join(slower_inside)})"
    agrees = not disagreements
    text = measured + (
        "; the helper's hand-over agrees"
        if agrees
        else f"; the helper's hand-over disagrees at {', '.join(disagreements)} (the faster path is not the one taken)"
    )
    return {
        "measured": None if nccl_from is None else nccl_from,
        "agrees": agrees,
        "disagreements": disagreements,
        "text": text,
    }


def targets(rows: list[dict], world: int) -> list[dict]:
    """Issue 27's targets, judged on the graph times of the rows that have them."""
    out = []
    small = [r for r in rows if r["bytes"] <= TARGET_SMALL_MAX_BYTES and r.get("custom_graph_us")]
    if world == 2 and small:
        bad = [r for r in small if r["custom_graph_us"] > TARGET_SMALL_US]
        out.append(
            {
                "target": f"<= {TARGET_SMALL_US:g} us at <= {format_size(TARGET_SMALL_MAX_BYTES)} on 2 GPUs",
                "met": not bad,
                "detail": ", ".join(f"{format_size(r['bytes'])} {r['custom_graph_us']:.1f} us" for r in small),
            }
        )
    mid = [r for r in rows if r["bytes"] <= TARGET_SPEEDUP_MAX_BYTES and r.get("x_nccl")]
    if mid:
        out.append(
            {
                "target": f">= {TARGET_SPEEDUP:g}x NCCL up to {format_size(TARGET_SPEEDUP_MAX_BYTES)}",
                "met": all(r["x_nccl"] >= TARGET_SPEEDUP for r in mid),
                "detail": ", ".join(f"{format_size(r['bytes'])} {r['x_nccl']:.2f}x" for r in mid),
            }
        )
    big = next((r for r in rows if r["bytes"] == TARGET_BUSBW_BYTES and r.get("status") == "ok"), None)
    if big is not None:
        pct = big.get("busbw_pct_of_nccl")
        handed = big["path"] != "custom"
        met = handed or (pct is not None and pct >= 100 * TARGET_BUSBW_FRACTION)
        detail = "handed to NCCL" if handed else ("not timed" if pct is None else f"{pct:.0f}% of NCCL's busbw")
        out.append(
            {
                "target": f"busbw >= {100 * TARGET_BUSBW_FRACTION:.0f}% of NCCL's at "
                f"{format_size(TARGET_BUSBW_BYTES)}, or handed to NCCL",
                "met": met,
                "detail": detail,
            }
        )
    return out


def finish_row(row: dict, world: int) -> dict:
    """Derived columns of a row from its times: x NCCL, bus bandwidths, busbw share."""
    cg, ng = row.get("custom_graph_us"), row.get("nccl_graph_us")
    row["x_nccl"] = ng / cg if cg and ng else None
    ce, ne = row.get("custom_eager_us"), row.get("nccl_eager_us")
    row["x_nccl_eager"] = ne / ce if ce and ne else None
    row["busbw_custom_gbs"] = bus_bandwidth_gbs(row["bytes"], cg, world) if cg else None
    row["busbw_nccl_gbs"] = bus_bandwidth_gbs(row["bytes"], ng, world) if ng else None
    bc, bn = row["busbw_custom_gbs"], row["busbw_nccl_gbs"]
    row["busbw_pct_of_nccl"] = 100 * bc / bn if bc and bn else None
    return row


def results_document(meta: dict, rows: list[dict]) -> dict:
    rows = [finish_row(dict(r), meta["world"]) for r in rows]
    doc = {**meta, "rows": rows}
    doc["handover_rule"] = handover_rule(meta["custom"]["default_max_size"])
    doc["crossover"] = crossover(rows)
    doc["targets"] = targets(rows, meta["world"])
    doc["failures"] = [f"{format_size(r['bytes'])}: {r['status']}" for r in rows if r["status"] != "ok"]
    doc["notes"] = list(dict.fromkeys(f"{format_size(r['bytes'])}: {n}" for r in rows for n in r.get("notes", [])))
    return doc


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{suffix}"


def table(doc: dict) -> str:
    """The report: a header line, the markdown table, then the hand-over rule, the crossover and the targets."""
    custom = doc["custom"]
    state = "on" if custom["enabled"] else f"off ({custom['disabled_reason']})"
    devices = sorted(set(doc.get("devices") or ["?"]))
    mode = (
        " [dry-cpu: gloo, the torch reference sum stands in for the kernel, host-timed, no graphs]"
        if doc.get("mode") == "dry-cpu"
        else ""
    )
    lines = [
        f"{PROG}: {doc['world']} x {' / '.join(devices)}, {doc['dtype']}, torch {doc.get('torch')}, "
        f"NCCL {doc.get('nccl')}, commit {doc.get('commit')}{mode}",
        f"custom all-reduce: {state}; full_nvlink={custom.get('full_nvlink')}; max_size "
        f"{format_size(custom['max_size'])}",
        "",
        "| size | custom us | NCCL us | x NCCL | algorithm | busbw custom GB/s | busbw NCCL GB/s | % NCCL busbw "
        "| path | custom eager us | NCCL eager us | calls/graph | check |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {format_size(r['bytes'])} | {_fmt(r.get('custom_graph_us'), '.2f')} | "
            f"{_fmt(r.get('nccl_graph_us'), '.2f')} | {_fmt(r.get('x_nccl'), '.2f', 'x')} | {r.get('algorithm', '—')} "
            f"| {_fmt(r.get('busbw_custom_gbs'), '.1f')} | {_fmt(r.get('busbw_nccl_gbs'), '.1f')} | "
            f"{_fmt(r.get('busbw_pct_of_nccl'), '.0f', '%')} | {r['path']} | {_fmt(r.get('custom_eager_us'), '.2f')} "
            f"| {_fmt(r.get('nccl_eager_us'), '.2f')} | {r.get('calls', '—')} | {r['status']} |"
        )
    lines += ["", f"hand-over rule: {doc['handover_rule']}", f"measured crossover: {doc['crossover']['text']}"]
    for t in doc["targets"]:
        lines.append(f"target {t['target']}: {'met' if t['met'] else 'MISSED'} ({t['detail']})")
    for note in doc.get("notes", []):
        lines.append(f"note: {note}")
    if doc.get("not_run"):
        lines.append(f"not run ({doc.get('stopped_by', 'stopped')}): {', '.join(doc['not_run'])}")
    return "\n".join(lines)


def summary_line(doc: dict) -> str:
    """One line for tools/gpu_check.sh's step summary."""
    parts = [f"{format_size(r['bytes'])} {_fmt(r.get('x_nccl'), '.2f', 'x')}" for r in doc["rows"]]
    verdict = "ok" if not doc["failures"] else f"{len(doc['failures'])} FAILED"
    return f"{PROG}: summary world={doc['world']} {doc['dtype']}: x NCCL {', '.join(parts) or '—'}; {verdict}"


def write_results(path: Path | None, doc: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    path.with_suffix(".md").write_text(table(doc) + "\n")


def git_commit() -> str:
    """The bench harness's label (KERNELKIT_COMMIT first: the GPU machine's copy of the tree may carry a stale .git;
    else HEAD, marked -dirty when the tree is)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from kernelkit.perf.harness import git_commit as harness_git_commit

    return harness_git_commit(ROOT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------ arguments


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--world", type=int, default=2, help="ranks, one per GPU (rank r on cuda:r)")
    p.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES), help="message sizes (bytes)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    p.add_argument("--json", type=Path, default=None, help="write the results here (and the table beside, .md)")
    p.add_argument(
        "--time-budget-s",
        type=nonnegative_float,
        default=240.0,
        help="start no size that would end past this many seconds after launch (setup included)",
    )
    p.add_argument(
        "--grace-s",
        type=nonnegative_float,
        default=60.0,
        help="ranks still running this long after the budget are killed (a hung collective)",
    )
    p.add_argument("--target-us", type=nonnegative_float, default=200.0, help="a graph replay's length, at least")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the graphs taking turns")
    p.add_argument("--reps", type=int, default=5, help="timed replays per graph per round")
    p.add_argument("--warmup", type=int, default=2, help="untimed replays before them")
    p.add_argument(
        "--dry-cpu",
        action="store_true",
        help="no GPU: gloo, the torch reference sum in place of the kernel (tests the orchestration)",
    )
    p.add_argument("--inject-failure", type=int, default=None, help=argparse.SUPPRESS)  # rank that raises (tests)
    p.add_argument("--inject-hang", type=int, default=None, help=argparse.SUPPRESS)  # rank that hangs (tests)
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    if args.rounds < 1 or args.reps < 1 or args.warmup < 0:
        p.error("--rounds and --reps must be >= 1, --warmup >= 0")
    if args.rounds * args.reps < 10 and not args.dry_cpu:
        p.error(f"--rounds x --reps = {args.rounds * args.reps}: at least 10 timed replays per graph")
    esize = ELEMENT_BYTES[args.dtype]
    if any(s % esize for s in args.sizes):  # 16-byte packs are whole elements of every dtype: kept as a guard
        p.error(f"every size must be whole {args.dtype} elements")
    return args


# ------------------------------------------------------------------------------------------------ the ranks


class _Rank:
    """What one spawned rank holds: its groups, device, communicator and the run's settings."""

    def __init__(self, rank: int, world: int, cfg: dict):
        import torch
        import torch.distributed as dist

        self.torch, self.dist = torch, dist
        self.rank, self.world, self.cfg = rank, world, cfg
        self.dry = cfg["dry_cpu"]
        self.dtype_name = cfg["dtype"]
        self.dtype = getattr(torch, DTYPES[self.dtype_name])
        self.comm = None
        self.default_max_size = DEFAULT_MAX_SIZE
        self.import_error: str | None = None

    # -- setup

    def init_groups(self, port: int) -> None:
        from datetime import timedelta

        torch, dist = self.torch, self.dist
        os.environ["NCCL_NVLS_ENABLE"] = "0"  # before the communicator exists: NCCL reads it at init
        timeout = timedelta(seconds=max(60.0, self.cfg["time_budget_s"] + self.cfg["grace_s"]))
        url = f"tcp://127.0.0.1:{port}"
        if self.dry:
            torch.set_num_threads(1)  # world processes share the host's cores
            self.device = torch.device("cpu")
            dist.init_process_group("gloo", init_method=url, rank=self.rank, world_size=self.world, timeout=timeout)
            self.ctrl = dist.group.WORLD
        else:
            torch.cuda.set_device(self.rank)
            self.device = torch.device("cuda", self.rank)
            # device_id: the NCCL communicator is created now (collectively), not inside the first captured call
            dist.init_process_group(
                "nccl", init_method=url, rank=self.rank, world_size=self.world, timeout=timeout, device_id=self.device
            )
            self.ctrl = dist.new_group(backend="gloo")  # the tool's barriers and gathers stay off the GPU streams

    def init_comm(self) -> None:
        import inspect

        error = None
        try:
            from kernelkit_ops.allreduce import CustomAllreduce
        except Exception as e:  # noqa: BLE001 - any import failure: NCCL is still timed, the report says why
            error = f"kernelkit_ops not importable ({type(e).__name__}: {e})"
        # the setup is collective: every rank makes the communicator, or none does
        self.import_error = next((e for e in self.gather(error) if e), None)
        if self.import_error is not None:
            return
        default = inspect.signature(CustomAllreduce.__init__).parameters["max_size"].default
        if isinstance(default, int):
            self.default_max_size = default
        max_size = max(self.default_max_size, max(self.cfg["sizes"]))
        self.comm = CustomAllreduce(group=self.dist.group.WORLD, max_size=max_size)

    @property
    def enabled(self) -> bool:
        return self.comm is not None and not self.comm.disabled

    def disabled_reason(self) -> str | None:
        if self.import_error:
            return self.import_error
        return None if self.enabled else self.comm.disabled_reason

    # -- collectives of the tool (gloo)

    def gather(self, value: object) -> list:
        out: list = [None] * self.world
        self.dist.all_gather_object(out, value, group=self.ctrl)
        return out

    def barrier(self) -> None:
        if not self.dry:
            self.torch.cuda.synchronize(self.device)
        self.dist.barrier(group=self.ctrl)

    def decide(self, value: object) -> object:
        """Rank 0's value, on every rank."""
        box = [value]
        self.dist.broadcast_object_list(box, src=0, group=self.ctrl)
        return box[0]

    # -- one size

    def rank_input(self, numel: int, salt: int):
        """This rank's input: seeded values of a few units (sums keep their rounding visible)."""
        torch = self.torch
        gen = torch.Generator(device=self.device).manual_seed(1_000_003 * (salt % 997) + self.rank)
        return torch.randn(numel, generator=gen, device=self.device, dtype=torch.float32).to(self.dtype)

    def every_input(self, mine) -> list:
        """Every rank's input, bit for bit (gathered as bytes: a copy, no arithmetic, whatever the GPUs' RNG)."""
        torch = self.torch
        flat = mine.view(torch.uint8)
        parts = [torch.empty_like(flat) for _ in range(self.world)]
        self.dist.all_gather(parts, flat)
        return [p.view(self.dtype) for p in parts]

    def nccl_all_reduce(self, t) -> None:
        if self.dry:  # gloo reduces fp32 host tensors (not every dtype): rounded once, as the helper's fallback does
            host = t.float()
            self.dist.all_reduce(host)
            t.copy_(host)
        else:
            self.dist.all_reduce(t)

    def check(self, nbytes: int) -> tuple[dict, object]:
        """Correctness of one size on this rank (gathered and judged by the caller); this rank's input."""
        torch = self.torch
        numel = nbytes // ELEMENT_BYTES[self.dtype_name]
        mine = self.rank_input(numel, nbytes)
        inputs = self.every_input(mine)
        rounded = self.reference_sum(inputs)  # the kernel's arithmetic: fp32 in rank order, rounded once
        s_abs = sum(x.double().abs() for x in inputs)
        exact = sum(x.double() for x in inputs)
        if self.dry:
            self.dry_inputs = inputs  # the stand-in's work when timed
        del inputs
        nccl = mine.clone()
        self.nccl_all_reduce(nccl)
        result: dict = {"custom_ran": False}
        custom = None
        if self.dry:
            custom, result["custom_ran"] = rounded.clone(), True
        elif self.enabled:
            custom = torch.empty_like(mine)
            self.comm.all_reduce(mine, out=custom)
            result["custom_ran"] = True
        if not self.dry:
            torch.cuda.synchronize(self.device)
        bound = sum_tolerance_factor(self.world, self.dtype_name) * s_abs
        if custom is not None:
            diff = (custom.double() - nccl.double()).abs()
            over = diff > bound
            result["over_tolerance"] = int(over.sum())
            ratio = diff / bound.clamp_min(1e-300)
            result["max_err_over_bound"] = float(ratio.max()) if numel else 0.0
            result["inexact"] = int((_bits(torch, custom) != _bits(torch, rounded)).sum())
            result["digest"] = hashlib.sha256(bytes(custom.contiguous().view(torch.uint8).cpu().numpy())).hexdigest()
            self.custom_eager_out = custom
        nccl_err = (nccl.double() - exact).abs() / bound.clamp_min(1e-300)
        result["nccl_max_err_over_bound"] = float(nccl_err.max()) if numel else 0.0
        return result, mine

    def time_graphs(self, graphs: dict, calls: int) -> dict[str, list[float]]:
        """Per-call us samples of each graph; the graphs take turns, each round starting at another one."""
        torch = self.torch
        keys = list(graphs)
        samples: dict[str, list[float]] = {k: [] for k in keys}
        for r in range(self.cfg["rounds"]):
            for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
                graph = graphs[key]
                self.barrier()  # every rank replays the same graph at the same time
                for _ in range(self.cfg["warmup"]):
                    graph.replay()
                events = [
                    (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                    for _ in range(self.cfg["reps"])
                ]
                for start, end in events:  # queued back to back: the GPU never waits for this host
                    start.record()
                    graph.replay()
                    end.record()
                torch.cuda.synchronize(self.device)
                samples[key] += [start.elapsed_time(end) * 1e3 / calls for start, end in events]
        return samples

    def time_eager(self, fn, calls: int, reps: int = 3) -> list[float]:
        torch = self.torch
        self.barrier()
        fn()
        self.barrier()
        out = []
        for _ in range(reps):
            if self.dry:
                t0 = time.perf_counter()
                for _ in range(calls):
                    fn()
                out.append((time.perf_counter() - t0) * 1e6 / calls)
                continue
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(calls):
                fn()
            end.record()
            torch.cuda.synchronize(self.device)
            out.append(start.elapsed_time(end) * 1e3 / calls)
        return out

    def capture(self, calls: int, mine, run_custom: bool) -> tuple[dict, dict, str | None]:
        """The custom and NCCL graphs of `calls` all-reduces each; NCCL's capture error, if any (not fatal)."""
        torch, dist = self.torch, self.dist
        graphs, keep = {}, {}
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream())
        if run_custom:
            out = torch.empty_like(mine)
            with torch.cuda.stream(side):  # warm-up on the capture stream, eager, as engines do
                self.comm.all_reduce(mine, out=out)
            side.synchronize()
            graph = torch.cuda.CUDAGraph()
            # thread_local: the NCCL watchdog's event queries from its own thread do not invalidate the capture
            with self.comm.capture():
                with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                    for _ in range(calls):
                        self.comm.all_reduce(mine, out=out)
            graphs["custom"], keep["custom_out"] = graph, out
        nbuf = torch.zeros_like(mine)  # in place, zeros: N sums in a row stay finite
        error = None
        try:
            with torch.cuda.stream(side):  # NCCL's warm-up on the stream that captures
                dist.all_reduce(nbuf)
            side.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=side, capture_error_mode="thread_local"):
                for _ in range(calls):
                    dist.all_reduce(nbuf)
            graphs["nccl"], keep["nccl_buf"] = graph, nbuf
        except Exception as e:  # noqa: BLE001 - reported in the row; eager NCCL is still timed
            error = f"NCCL graph capture failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            torch.cuda.synchronize(self.device)
        return graphs, keep, error

    def measure(self, nbytes: int) -> dict:
        """One size on this rank: checks, then (if they pass on every rank) times; every rank returns the same row
        skeleton, rank 0's is the one kept."""
        torch = self.torch
        t_start = time.monotonic()
        numel = nbytes // ELEMENT_BYTES[self.dtype_name]
        calls = calls_per_graph(nbytes, self.cfg["target_us"], self.dry)
        mine_check, mine = self.check(nbytes)
        checks = self.gather(mine_check)
        row: dict = {"bytes": nbytes, "numel": numel, "calls": calls}
        full = bool(self.comm.full_nvlink) if self.enabled else False
        row["algorithm"] = algorithm(self.world, full, nbytes) if self.enabled else "—"
        row["blocks"] = kernel_blocks(self.world, full, nbytes) if self.enabled else None
        custom_ok = self.enabled and self.comm.should_custom_ar(mine)
        row["path"] = path_at(nbytes, self.enabled, self.default_max_size)
        if self.enabled and not custom_ok:
            row["path"] = "NCCL"  # the helper's own test of this tensor (dtype, contiguity, alignment, max_size)
        problems = []
        ran = [c for c in checks if c["custom_ran"]]
        if ran:
            if any(c["over_tolerance"] for c in ran):
                worst = max(c["max_err_over_bound"] for c in ran)
                problems.append(f"custom vs NCCL beyond the sum's rounding ({worst:.2f}x the bound)")
            if len({c["digest"] for c in ran}) != 1:
                problems.append("ranks' custom results differ in their bits")
            if any(c["inexact"] for c in ran):
                problems.append(f"{max(c['inexact'] for c in ran)} elements differ from the fp32 rank-order sum")
        nccl_worst = max(c["nccl_max_err_over_bound"] for c in checks)
        row["check"] = {
            "custom_checked": bool(ran),
            "max_err_over_bound": max((c["max_err_over_bound"] for c in ran), default=None),
            "inexact_elements": max((c["inexact"] for c in ran), default=None),
            "ranks_same_bits": len({c["digest"] for c in ran}) == 1 if ran else None,
            "nccl_max_err_over_bound": nccl_worst,
        }
        custom_failed = bool(problems)  # NCCL's own check below does not keep the custom path from its timing
        if nccl_worst > 1:
            problems.append(f"NCCL off the exact sum beyond the rounding bound ({nccl_worst:.2f}x)")
        timings: dict[str, list[float]] = {}
        notes = []
        if self.dry:
            timings["custom_eager"] = self.time_eager(lambda: self.reference_sum(self.dry_inputs), calls)
            nbuf = torch.zeros_like(mine)
            timings["nccl_eager"] = self.time_eager(lambda: self.nccl_all_reduce(nbuf), calls)
        else:
            run_custom = custom_ok and not custom_failed
            graphs, keep, error = self.capture(calls, mine, run_custom)
            errors = [e for e in self.gather(error) if e]
            if errors:  # every rank drops NCCL's graph, so all replay the same ones
                graphs.pop("nccl", None)
                notes.append(errors[0])
            timings.update({f"{k}_graph": v for k, v in self.time_graphs(graphs, calls).items()})
            if "custom" in graphs:
                same = bool(torch.equal(_bits(torch, keep["custom_out"]), _bits(torch, self.custom_eager_out)))
                if not all(self.gather(same)):
                    problems.append("the graph's result differs from the eager call's")
            del graphs, keep
            if run_custom:
                out_e = torch.empty_like(mine)
                timings["custom_eager"] = self.time_eager(lambda: self.comm.all_reduce(mine, out=out_e), calls)
            nbuf = torch.zeros_like(mine)
            timings["nccl_eager"] = self.time_eager(lambda: self.dist.all_reduce(nbuf), calls)
        medians = {k: statistics.median(v) for k, v in timings.items() if v}
        everyone = self.gather({"medians": medians, "samples": {k: len(v) for k, v in timings.items()}})
        for key in ("custom_graph", "nccl_graph", "custom_eager", "nccl_eager"):
            per_rank = [e["medians"].get(key) for e in everyone]
            row[f"{key}_us"] = max(per_rank) if all(v is not None for v in per_rank) else None
            row.setdefault("per_rank_us", {})[key] = per_rank
        row["samples"] = everyone[0]["samples"]
        row["status"] = "ok" if not problems else "FAILED: " + "; ".join(problems)
        row["notes"] = notes
        row["seconds"] = round(time.monotonic() - t_start, 2)
        return row

    def reference_sum(self, inputs: list):
        acc = inputs[0].float()
        for x in inputs[1:]:
            acc = acc + x.float()
        return acc.to(self.dtype)


def _bits(torch, t):
    return t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def rank_main(rank: int, world: int, port: int, cfg: dict, result_dir: str, t0: float) -> None:
    """Entry point of one spawned rank; rank 0 writes <result_dir>/doc.json after every size. A failure leaves
    <result_dir>/<rank>.err (its traceback) and a non-zero exit."""
    out_dir = Path(result_dir)
    try:
        r = _Rank(rank, world, cfg)
        r.init_groups(port)
        r.init_comm()
        torch = r.torch
        devices = r.gather(torch.cuda.get_device_name(rank) if not r.dry else "cpu")
        meta = dict(cfg["meta"])
        meta.update(
            {
                "mode": "dry-cpu" if r.dry else "gpu",
                "devices": devices,
                "torch": torch.__version__,
                "cuda": torch.version.cuda,
                "nccl": _nccl_version(torch) if not r.dry else None,
                "custom": {
                    "enabled": r.enabled,
                    "disabled_reason": r.disabled_reason(),
                    "full_nvlink": bool(r.comm.full_nvlink) if r.comm is not None else None,
                    "max_size": r.comm.max_size if r.comm is not None else max(cfg["sizes"]),
                    "default_max_size": r.default_max_size,
                    "import_error": r.import_error,
                },
                "complete": False,
                "not_run": [format_size(s) for s in cfg["sizes"]],
            }
        )
        rows: list[dict] = []
        last_seconds = None
        for i, nbytes in enumerate(cfg["sizes"]):
            if cfg.get("inject_failure") == rank:
                raise RuntimeError(f"injected failure on rank {rank} (--inject-failure)")
            if cfg.get("inject_hang") == rank:
                time.sleep(3600)
            estimate = 1.5 * last_seconds if last_seconds is not None else (3.0 if r.dry else 15.0)
            go = r.decide(time.time() - t0 + estimate <= cfg["time_budget_s"])
            if not go:
                meta["stopped_by"] = f"the time budget, {cfg['time_budget_s']:.0f} s"
                break
            row = r.measure(nbytes)
            last_seconds = row["seconds"]
            rows.append(row)
            meta["not_run"] = [format_size(s) for s in cfg["sizes"][i + 1 :]]
            meta["elapsed_s"] = round(time.time() - t0, 1)
            if rank == 0:
                doc = results_document(meta, rows)
                _write_atomic(out_dir / "doc.json", json.dumps(doc))
                row_done = doc["rows"][-1]
                print(
                    f"{PROG}: [{meta['elapsed_s']:.0f} s] {format_size(nbytes)}: custom "
                    f"{_fmt(row_done['custom_graph_us'] or row_done['custom_eager_us'], '.2f')} us, NCCL "
                    f"{_fmt(row_done['nccl_graph_us'] or row_done['nccl_eager_us'], '.2f')} us; "
                    f"{row_done['status']}",
                    flush=True,
                )
        meta["complete"] = not meta["not_run"]
        meta["elapsed_s"] = round(time.time() - t0, 1)
        if rank == 0:
            _write_atomic(out_dir / "doc.json", json.dumps(results_document(meta, rows)))
        if r.comm is not None:
            r.comm.close()
        r.dist.barrier(group=r.ctrl)
        r.dist.destroy_process_group()
        (out_dir / f"{rank}.ok").write_text("ok")
    except BaseException:
        (out_dir / f"{rank}.err").write_text(traceback.format_exc())
        raise


def _nccl_version(torch) -> str | None:
    try:
        v = torch.cuda.nccl.version()
    except Exception:  # noqa: BLE001 - a torch without NCCL: reported as unknown
        return None
    if isinstance(v, tuple):
        return ".".join(str(x) for x in v)
    return f"{v // 10000}.{v // 100 % 100}.{v % 100}" if v >= 10000 else f"{v // 1000}.{v // 100 % 10}.{v % 100}"


# ------------------------------------------------------------------------------------------------ the parent


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_ranks(args: argparse.Namespace, cfg: dict, t0: float, result_dir: Path) -> tuple[str | None, bool]:
    """Spawns the ranks and waits (at most the budget plus the grace); (the first failed rank's report, whether the
    ranks were killed for running too long)."""
    deadline = t0 + args.time_budget_s + args.grace_s
    killed, interrupted, ctx = False, False, None
    try:
        # Inside the try: a Ctrl-C or SIGTERM while torch is imported and the ranks start (seconds on a busy
        # machine) must stop those already started, not leave them running without their parent.
        import torch.multiprocessing as mp

        ctx = mp.start_processes(
            rank_main,
            args=(args.world, free_port(), cfg, str(result_dir), t0),
            nprocs=args.world,
            join=False,
            start_method="spawn",
        )
        while True:
            try:
                if ctx.join(timeout=max(0.0, min(1.0, deadline - time.time()))):
                    break
            except (mp.ProcessRaisedException, mp.ProcessExitedException):
                break  # join has stopped the other ranks; the .err files say what happened
            if time.time() >= deadline:
                killed = True
                break
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (gpu_check's `timeout`): the ranks must not outlive this process
        interrupted = True
    finally:
        stop_time = time.time()
        # The ranks this call started; interrupted while starting them, the children started so far (this process
        # starts no other multiprocessing children).
        if ctx is not None:
            ranks = ctx.processes
        else:
            import multiprocessing

            ranks = multiprocessing.active_children()
        alive = [p for p in ranks if p.is_alive()]
        for p in alive:  # all at once: a rank that outlives its peers would report their death as its own failure
            p.kill()
        for p in alive:
            p.join(timeout=10)
    errors = sorted(result_dir.glob("*.err"), key=lambda p: p.stat().st_mtime)
    errors = [e for e in errors if not (killed or interrupted) or e.stat().st_mtime < stop_time]
    if errors:
        first = errors[0]
        return f"rank {first.stem} failed (the other ranks were stopped):\n{first.read_text().rstrip()}", killed
    oks = {p.stem for p in result_dir.glob("*.ok")}
    missing = ", ".join(sorted(set(map(str, range(args.world))) - oks, key=int))
    if interrupted:
        return f"interrupted (SIGINT/SIGTERM): ranks {missing} stopped", True
    if killed:
        return (
            f"ranks {missing} still running {args.time_budget_s + args.grace_s:.0f} s after launch "
            "(a collective hung?): killed"
        ), True
    if len(oks) != args.world:
        codes = [p.exitcode for p in ctx.processes]
        return f"ranks exited without a result (exit codes {codes}; killed by a signal?)", False
    return None, False


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _one_line(failure: str) -> str:
    """A failure's first line and, for a traceback, its last (the exception)."""
    lines = failure.strip().splitlines()
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1].strip()}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    if not args.dry_cpu:
        why = check_world(args.world, gpu_count())
        if why is not None:
            print(f"{PROG}: {why}", file=sys.stderr)
            return 2
    elif args.world < 2:
        print(f"{PROG}: {check_world(args.world, args.world)}", file=sys.stderr)
        return 2
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the ranks see no GPU, also on a GPU machine
    for rank in (args.inject_failure, args.inject_hang):
        if rank is not None and not 0 <= rank < args.world:
            print(f"{PROG}: the injected rank {rank} is not one of the {args.world}", file=sys.stderr)
            return 2
    os.environ["NCCL_NVLS_ENABLE"] = "0"  # inherited by the ranks; each sets it again before its group exists
    signal.signal(signal.SIGTERM, _interrupt)  # `timeout` stops the ranks too, and the finished rows are kept
    alloc = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")
    if "expandable_segments:true" in alloc.replace(" ", "").lower():
        # captured inputs are shared through cudaIpcGetMemHandle, which expandable segments do not support
        print(f"{PROG}: PYTORCH_CUDA_ALLOC_CONF={alloc!r}: expandable segments turned off for the ranks", flush=True)
        os.environ["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:False"
    meta = {
        "tool": PROG,
        "world": args.world,
        "dtype": args.dtype,
        "sizes": [format_size(s) for s in args.sizes],
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "env": {k: os.environ.get(k) for k in ("NCCL_NVLS_ENABLE", "CUDA_VISIBLE_DEVICES", "NCCL_ALGO", "NCCL_PROTO")},
        "time_budget_s": args.time_budget_s,
        "timing": {
            "target_us": args.target_us,
            "rounds": args.rounds,
            "reps": args.reps,
            "warmup": args.warmup,
            "per_row": "median per call of each rank, the slowest rank's",
        },
    }
    cfg = {
        "dry_cpu": args.dry_cpu,
        "dtype": args.dtype,
        "sizes": list(args.sizes),
        "time_budget_s": args.time_budget_s,
        "grace_s": args.grace_s,
        "target_us": args.target_us,
        "rounds": args.rounds,
        "reps": args.reps,
        "warmup": args.warmup,
        "inject_failure": args.inject_failure,
        "inject_hang": args.inject_hang,
        "meta": meta,
    }
    print(
        f"{PROG}: {args.world} ranks{' (dry-cpu)' if args.dry_cpu else ''}, {args.dtype}, sizes "
        f"{', '.join(meta['sizes'])}, budget {args.time_budget_s:.0f} s",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="allreduce-bench-") as tmp:
            result_dir = Path(tmp)
            failure, killed = run_ranks(args, cfg, t0, result_dir)  # stops its ranks on an interrupt itself
            doc_path = result_dir / "doc.json"
            doc = json.loads(doc_path.read_text()) if doc_path.is_file() else None
    except KeyboardInterrupt:  # before run_ranks started a rank, or after it stopped them all
        print(f"{PROG}: interrupted (SIGINT/SIGTERM) with no rank running", file=sys.stderr)
        return 1
    if doc is not None:
        if failure is not None:
            doc["complete"] = False
            doc["error"] = _one_line(failure)
            doc.setdefault("stopped_by", _one_line(failure) if killed else "a failed rank")
        write_results(args.json, doc)
        print()
        print(table(doc))
        print(summary_line(doc))
    elif args.json is not None and failure is not None:  # no rank got as far as a row: the error alone, no table
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**meta, "error": _one_line(failure), "complete": False, "rows": []}))
    if failure is not None:
        print(f"{PROG}: {failure}", file=sys.stderr)
        return 1
    if doc is None:
        print(f"{PROG}: rank 0 wrote no results", file=sys.stderr)
        return 1
    if doc.get("stopped_by"):
        print(f"{PROG}: stopped by {doc['stopped_by']}; the table holds what finished")
    if doc["failures"]:
        print(f"{PROG}: {len(doc['failures'])} sizes FAILED their checks", file=sys.stderr)
        return 1
    if doc["custom"].get("import_error") and not args.dry_cpu:
        print(f"{PROG}: the custom path was not measured: {doc['custom']['import_error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
