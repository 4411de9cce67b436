"""`kernelkit profile`: one bench case of an op under Nsight Compute, read back as a short report per kernel.

How it runs: a child Python (kernelkit.perf.profile_target) makes the case's inputs with the op's bench file, warms
the op up, then calls its kernelkit implementation once between cudaProfilerStart and cudaProfilerStop, inside an
NVTX range. ncu runs that child with `--profile-from-start off`, so exactly the kernels of that one call are
profiled, and exports the full report (.ncu-rep, for the GUI). `ncu --import REP --csv --page raw --print-units base`
then prints one row per kernel launch with every metric collected (first row the metric names, second their units),
which `parse_raw_csv` reads with the csv module; `kernel_profile` turns a row into the numbers the report states.

Metric names are Nsight Compute's (its "Kernel Profiling Guide": `<unit>__<counter>.<rollup>.<submetric>`); each
quantity below lists the names that carry it, newer first where ncu renamed one, and the first present is used.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernelkit.benchspec import Case, OpBench
from kernelkit.errors import KernelkitError
from kernelkit.perf.harness import Ceilings, copy_us_at, device_slug, pct_of_ceiling
from kernelkit.project import Project

# The sections whose metrics the report reads; the .ncu-rep holds their full pages for the GUI.
SECTIONS = ("SpeedOfLight", "Occupancy", "LaunchStats", "MemoryWorkloadAnalysis", "WarpStateStats")
# Counters read directly, collected whether or not a section asks for them (local-memory bytes, which no section
# above collects, and the headline numbers in case a section renames its own). An ncu that does not know one
# refuses the whole run ("Failed to find metric"): the run is then repeated with the sections alone.
EXTRA_METRICS = (
    "gpu__time_duration.sum",
    "dram__bytes.sum.per_second",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "lts__t_sector_hit_rate.pct",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "sm__maximum_warps_per_active_cycle_pct",
    "launch__registers_per_thread",
    "l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum",
    "l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum",
)

DURATION = ("gpu__time_duration.sum",)
DRAM_PCT = (
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed",
)
DRAM_RATE = ("dram__bytes.sum.per_second",)
DRAM_BYTES = (("dram__bytes_read.sum", "dram__bytes_write.sum"), ("dram__bytes.sum",))
ACHIEVED_OCCUPANCY = ("sm__warps_active.avg.pct_of_peak_sustained_active",)
THEORETICAL_OCCUPANCY = ("sm__maximum_warps_per_active_cycle_pct",)
REGISTERS = ("launch__registers_per_thread",)
L2_HIT = ("lts__t_sector_hit_rate.pct",)
LOCAL_BYTES = ("l1tex__t_bytes_pipe_lsu_mem_local_op_ld.sum", "l1tex__t_bytes_pipe_lsu_mem_local_op_st.sum")
SPILL_REQUESTS = ("derived__local_spilling_requests", "sass__inst_executed_register_spilling")
WAVES = ("launch__waves_per_multiprocessor",)
GRID = ("launch__grid_size",)
BLOCK = ("launch__block_size",)
SHARED_PER_BLOCK = ("launch__shared_mem_per_block_static", "launch__shared_mem_per_block_dynamic")
SM_COUNT = ("device__attribute_multiprocessor_count",)
DEVICE_NAME = ("device__attribute_display_name",)
# Blocks per SM each resource allows (the Occupancy section's "Block Limit ..." rows); the smallest binds.
OCCUPANCY_LIMITS = {
    "registers": "launch__occupancy_limit_registers",
    "shared memory": "launch__occupancy_limit_shared_mem",
    "block size (warps per block)": "launch__occupancy_limit_warps",
    "the blocks-per-SM maximum (blocks too small)": "launch__occupancy_limit_blocks",
    "barriers": "launch__occupancy_limit_barriers",
}
# WarpStateStats: warps stalled for each reason per issued instruction; sampling (SourceCounters) as a fallback.
_STALL_RE = re.compile(r"^smsp__average_warps?_issue_stalled_(?P<reason>\w+?)_per_issue_active\.ratio$")
_STALL_SAMPLED_RE = re.compile(r"^smsp__pcsamp_warps_issue_stalled_(?P<reason>\w+?)$")
_NOT_A_STALL = {"selected", "not_issued"}  # "selected": the warp issued; the cycles of work, not of waiting
STALL_MEANINGS = {
    "long_scoreboard": "waiting on global or local memory loads",
    "short_scoreboard": "waiting on shared memory or special-function results",
    "barrier": "waiting at a block barrier for the other warps",
    "membar": "waiting on a memory fence",
    "wait": "fixed-latency dependencies between instructions",
    "math_pipe_throttle": "the math pipe it needs is busy, compute-bound",
    "mio_throttle": "the memory input/output queue is full: shared memory or special functions",
    "lg_throttle": "the local/global memory queue is full: many small memory instructions",
    "tex_throttle": "the texture/L1TEX queue is full",
    "drain": "draining stores before the warp exits",
    "dispatch_stall": "the dispatcher could not issue",
    "no_instruction": "waiting for instructions: an instruction-cache miss or a branch target",
    "not_selected": "ready, but another warp issued: enough parallel work, fine",
    "imc_miss": "a constant-cache miss",
    "branch_resolving": "resolving a branch target",
    "sleeping": "sleeping in nanosleep",
    "misc": "miscellaneous hardware reasons",
}

_TIME_UNITS = {"nsecond": 1e-9, "usecond": 1e-6, "msecond": 1e-3, "second": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3}
_PREFIXES = {"K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


# ------------------------------------------------------------------------------------------------
# ncu's CSV


@dataclass(frozen=True)
class Metric:
    value: str
    unit: str


def parse_raw_csv(text: str) -> list[dict[str, Metric]]:
    """`ncu --import REP --csv --page raw [--print-units base]` -> one {column: Metric} per kernel launch.

    The raw page's first row names the columns (ID, Process ID, Process Name, Host Name, Kernel Name, Context,
    Stream, Block Size, Grid Size, Device, CC, then one column per metric), the second gives each column's unit
    (empty for the identifying columns), then one row per launch. Lines ncu prints around the table (==PROF==,
    ==WARNING==) are skipped: every table line is a quoted CSV record."""
    lines = [line for line in text.splitlines() if line.startswith('"')]
    rows = list(csv.reader(lines))
    if not rows or "Kernel Name" not in rows[0]:
        raise KernelkitError("ncu's CSV has no table of kernels (no 'Kernel Name' column): nothing was profiled")
    header, body = rows[0], rows[1:]
    id_col = header.index("ID") if "ID" in header else None
    units = [""] * len(header)
    if body and (id_col is None or not body[0][id_col].strip().isdigit()):
        units, body = body[0], body[1:]  # the units row: no launch ID
    kernels = []
    for row in body:
        if len(row) != len(header):
            raise KernelkitError(f"ncu's CSV: a row of {len(row)} cells under a header of {len(header)}")
        kernels.append({name: Metric(cell, unit) for name, cell, unit in zip(header, row, units)})
    return kernels


def number(metric: Metric | None) -> float | None:
    """The metric's value in base units (seconds, bytes, bytes/second, %, counts), or None when absent or n/a.
    Values may carry thousands separators ("1,234.5": ncu prints in an en_US locale)."""
    if metric is None:
        return None
    text = metric.value.strip().replace(",", "")
    try:
        value = float(text)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    unit = metric.unit.strip()
    if unit in _TIME_UNITS:
        return value * _TIME_UNITS[unit]
    base, _, per = unit.partition("/")
    if base[:1] in _PREFIXES and base[1:] in ("byte", "B"):
        value *= _PREFIXES[base[0]]
    if per[:1] in _PREFIXES and per[1:] == "second":
        value /= _PREFIXES[per[0]]
    elif per in _TIME_UNITS and per != "second":
        value /= _TIME_UNITS[per]
    return value


def first(row: dict[str, Metric], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = number(row.get(name))
        if value is not None:
            return value
    return None


def _dims(text: str) -> str:
    """ "(256, 1, 1)" -> "256"; "(64, 32, 1)" -> "64×32"."""
    parts = [p for p in re.findall(r"\d+", text)]
    while len(parts) > 1 and parts[-1] == "1":
        parts.pop()
    return "×".join(parts) if parts else text


def short_kernel_name(name: str) -> str:
    """ "void kernelkit::(anonymous namespace)::rmsnorm_kernel<__nv_bfloat16, 8>(T1 *, ...)" ->
    "rmsnorm_kernel<__nv_bfloat16, 8>": no return type, namespaces or parameter list."""
    text = name.strip()
    text = re.sub(r"^(?:void|__global__)\s+", "", text)
    depth, cut = 0, len(text)
    for i, ch in enumerate(text):  # the parameter list: the first "(" outside template brackets
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "(" and depth == 0 and not text.startswith("(anonymous namespace)", i):
            cut = i
            break
    text = text[:cut]
    depth, start = 0, 0
    for i in range(len(text)):  # the last "::" outside template brackets starts the kernel's own name
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
        elif depth == 0 and text.startswith("::", i):
            start = i + 2
    return text[start:] or name


# ------------------------------------------------------------------------------------------------
# One kernel's numbers


@dataclass
class Stall:
    reason: str
    value: float  # warps stalled for it per issued instruction (or sampled share)
    meaning: str


@dataclass
class KernelProfile:
    id: int
    name: str
    short_name: str
    grid: str
    block: str
    duration_us: float | None
    dram_pct: float | None  # DRAM throughput, % of the device's peak
    dram_gbs: float | None  # DRAM bytes (read + written) per second, 1e9 bytes
    dram_bytes: float | None
    achieved_occupancy_pct: float | None
    theoretical_occupancy_pct: float | None
    occupancy_limiters: list[str]  # the resources that allow the fewest blocks per SM
    blocks_per_sm: float | None  # what the binding limiters allow
    registers_per_thread: float | None
    shared_bytes_per_block: float | None
    local_bytes: float | None  # local-memory traffic (register spills, or local arrays), bytes
    spill_requests: float | None
    l2_hit_pct: float | None
    waves_per_sm: float | None
    stalls: list[Stall] = field(default_factory=list)  # the largest first

    @property
    def top_stall(self) -> Stall | None:
        return self.stalls[0] if self.stalls else None


def kernel_profile(row: dict[str, Metric]) -> KernelProfile:
    duration = first(row, DURATION)
    rate = first(row, DRAM_RATE)
    moved = None
    for names in DRAM_BYTES:
        parts = [number(row.get(n)) for n in names]
        if all(p is not None for p in parts):
            moved = sum(parts)  # type: ignore[arg-type]
            break
    if moved is None and rate is not None and duration is not None:
        moved = rate * duration
    if rate is None and moved is not None and duration:
        rate = moved / duration
    limits = {label: number(row.get(name)) for label, name in OCCUPANCY_LIMITS.items()}
    limits = {label: value for label, value in limits.items() if value is not None and value > 0}
    fewest = min(limits.values()) if limits else None
    local = [number(row.get(n)) for n in LOCAL_BYTES]
    shared = [number(row.get(n)) for n in SHARED_PER_BLOCK]
    stalls = _stalls(row, _STALL_RE) or _stalls(row, _STALL_SAMPLED_RE)  # sampled counts only without the ratios
    stalls.sort(key=lambda s: -s.value)
    grid = row.get("Grid Size")
    block = row.get("Block Size")
    grid_text = _dims(grid.value) if grid else _count(first(row, GRID))
    block_text = _dims(block.value) if block else _count(first(row, BLOCK))
    return KernelProfile(
        id=int(number(row.get("ID")) or 0),
        name=row["Kernel Name"].value,
        short_name=short_kernel_name(row["Kernel Name"].value),
        grid=grid_text,
        block=block_text,
        duration_us=duration * 1e6 if duration is not None else None,
        dram_pct=first(row, DRAM_PCT),
        dram_gbs=rate / 1e9 if rate is not None else None,
        dram_bytes=moved,
        achieved_occupancy_pct=first(row, ACHIEVED_OCCUPANCY),
        theoretical_occupancy_pct=first(row, THEORETICAL_OCCUPANCY),
        occupancy_limiters=[label for label, value in limits.items() if value == fewest],
        blocks_per_sm=fewest,
        registers_per_thread=first(row, REGISTERS),
        shared_bytes_per_block=sum(s for s in shared if s is not None) if any(s is not None for s in shared) else None,
        local_bytes=sum(v for v in local if v is not None) if any(v is not None for v in local) else None,
        spill_requests=first(row, SPILL_REQUESTS),
        l2_hit_pct=first(row, L2_HIT),
        waves_per_sm=first(row, WAVES),
        stalls=stalls[:3],
    )


def _stalls(row: dict[str, Metric], pattern: re.Pattern[str]) -> list[Stall]:
    found = []
    for name, metric in row.items():
        match = pattern.match(name)
        value = number(metric)
        reason = match.group("reason") if match else ""
        if match and value is not None and reason not in _NOT_A_STALL and not reason.endswith("_not_issued"):
            found.append(Stall(reason, value, STALL_MEANINGS.get(reason, reason.replace("_", " "))))
    return found


def _count(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


# ------------------------------------------------------------------------------------------------
# The report


def _bytes(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def describe(k: KernelProfile) -> list[str]:
    """The kernel's numbers as short sentences, one per line (what the console and the Markdown report print)."""
    lines = []
    where = f"grid {k.grid} × block {k.block}"
    lines.append(f"time: {k.duration_us:.2f} µs ({where})" if k.duration_us is not None else f"time: n/a ({where})")
    if k.dram_gbs is not None or k.dram_pct is not None:
        rate = f"{k.dram_gbs:,.0f} GB/s" if k.dram_gbs is not None else "n/a GB/s"
        moved = f", {_bytes(k.dram_bytes)} moved" if k.dram_bytes is not None else ""
        lines.append(f"DRAM: {rate} = {_pct(k.dram_pct)} of the device's peak{moved}")
    if k.achieved_occupancy_pct is not None or k.theoretical_occupancy_pct is not None:
        text = f"occupancy: {_pct(k.achieved_occupancy_pct)} of the SM's warps active"
        if k.theoretical_occupancy_pct is not None:
            text += f" (theoretical {_pct(k.theoretical_occupancy_pct)}"
            if k.occupancy_limiters and k.theoretical_occupancy_pct < 100:
                blocks = (
                    f", {k.blocks_per_sm:.0f} block{'s' if k.blocks_per_sm != 1 else ''}/SM" if k.blocks_per_sm else ""
                )
                text += f", limited by {' and '.join(k.occupancy_limiters)}{blocks})"
            else:
                text += ", not limited by registers, shared memory or block size)"
        if k.waves_per_sm is not None and k.waves_per_sm < 1:
            text += f"; the grid fills {k.waves_per_sm:.2f} of one wave: too few blocks to occupy every SM"
        elif (
            k.achieved_occupancy_pct is not None
            and k.theoretical_occupancy_pct
            and k.achieved_occupancy_pct < 0.8 * k.theoretical_occupancy_pct
        ):
            text += "; well below theoretical: blocks finish unevenly (tail effect) or too few blocks per SM"
        lines.append(text)
    parts = []
    if k.registers_per_thread is not None:
        parts.append(f"{k.registers_per_thread:.0f} registers/thread")
    if k.shared_bytes_per_block:
        parts.append(f"{_bytes(k.shared_bytes_per_block)} shared memory/block")
    if k.local_bytes is not None:
        parts.append(
            "no local-memory traffic (no spills)"
            if k.local_bytes == 0
            else f"{_bytes(k.local_bytes)} of local-memory traffic (register spills or local arrays)"
        )
    if k.spill_requests:
        parts.append(f"{k.spill_requests:,.0f} spill requests")
    if parts:
        lines.append("resources: " + ", ".join(parts))
    if k.l2_hit_pct is not None:
        lines.append(f"L2 hit rate: {_pct(k.l2_hit_pct)}")
    if k.top_stall is not None:
        s = k.top_stall
        lines.append(f"top stall: {s.reason}, {s.meaning} ({s.value:.2f} warps stalled per issued instruction)")
    return lines


@dataclass
class CeilingVerdict:
    bytes_moved: int
    flops: int
    bound: str  # the ceiling that binds: copy_gbs, or a math peak
    floor_us: float  # the model's bytes (FLOPs) at the measured copy bandwidth (GEMM peak)
    pct_of_ceiling: float
    size_copy_us: float | None  # a copy of the same bytes, timed as the bench times it
    pct_of_size_copy: float | None


def ceiling_verdict(bench: OpBench, case: Case, total_us: float, ceilings: Ceilings) -> CeilingVerdict:
    nbytes, flops = bench.bytes_moved(case), bench.flops(case)
    pct, bound = pct_of_ceiling(total_us, nbytes, flops, ceilings, bench.math)
    size_copy = (
        copy_us_at(nbytes, ceilings.copy_curve) if ceilings.copy_curve and bound == "copy_gbs" and nbytes else None
    )
    return CeilingVerdict(
        bytes_moved=nbytes,
        flops=flops,
        bound=bound,
        floor_us=pct / 100.0 * total_us,
        pct_of_ceiling=pct,
        size_copy_us=size_copy,
        pct_of_size_copy=100.0 * size_copy / total_us if size_copy else None,
    )


def verdict_line(
    v: CeilingVerdict, ceilings: Ceilings, total_us: float, n_kernels: int, dram_bytes: float | None = None
) -> str:
    if v.bound == "copy_gbs":
        floor = f"the bench's {_bytes(v.bytes_moved)} at the measured copy bandwidth, {ceilings.copy_gbs:,.0f} GB/s"
    else:
        peak = getattr(ceilings, v.bound)
        name = v.bound.removesuffix("_tflops").removesuffix("_tops")
        floor = f"the bench's {v.flops / 1e9:,.1f} GFLOP at the measured {name} GEMM peak, {peak:,.0f} T/s"
    kernels = f"{n_kernels} kernel{'s' if n_kernels != 1 else ''}"
    text = (
        f"vs the ceiling: {kernels}, {total_us:.2f} µs; the floor is {v.floor_us:.2f} µs ({floor}): "
        f"{v.pct_of_ceiling:.0f}% of the ceiling"
    )
    if v.size_copy_us is not None:
        text += (
            f"; a copy of the same bytes takes {v.size_copy_us:.2f} µs, so this runs at {v.pct_of_size_copy:.0f}% "
            "of its speed"
        )
    if dram_bytes and v.bytes_moved:
        text += (
            f"; ncu counted {_bytes(dram_bytes)} of DRAM traffic, {dram_bytes / v.bytes_moved:.2f}× the model's bytes"
        )
    return text


def report_document(
    op: str,
    case: Case,
    kernels: list[KernelProfile],
    verdict: CeilingVerdict | None,
    ceilings: Ceilings | None,
    device: str,
    files: dict[str, str],
    commit: str,
) -> dict:
    total = sum(k.duration_us or 0.0 for k in kernels)
    dram = sum(k.dram_bytes for k in kernels if k.dram_bytes is not None) or None
    return {
        "op": op,
        "case": case.label,
        "device": device,
        "commit": commit,
        "date": datetime.date.today().isoformat(),
        "method": "ncu, one call after warm-up, caches flushed before each kernel (--cache-control all), clocks "
        "not locked (--clock-control none, as the bench runs); kernel durations are ncu's gpu__time_duration",
        "total_us": total,
        "kernels": [{**asdict(k), "summary": describe(k)} for k in kernels],
        "ceiling": asdict(verdict) if verdict else None,
        "dram_bytes": dram,
        "ceiling_summary": verdict_line(verdict, ceilings, total, len(kernels), dram) if verdict and ceilings else None,
        "files": files,
    }


def markdown(doc: dict) -> str:
    lines = [
        f"# kernelkit profile — {doc['op']} ({doc['case']})",
        "",
        f"{doc['device']}, {doc['date']}, commit {doc['commit']}. {doc['method']}.",
        "",
    ]
    for k in doc["kernels"]:
        lines += [f"## {k['short_name']}", "", f"`{k['name']}`", ""]
        lines += [f"- {line}" for line in k["summary"]]
        lines.append("")
    if doc.get("ceiling_summary"):
        lines += [doc["ceiling_summary"][0].upper() + doc["ceiling_summary"][1:] + ".", ""]
    lines.append(f"Full report for Nsight Compute's GUI: `{Path(doc['files']['ncu_rep']).name}`.")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# Running ncu


def profile_command(ncu: str, report: Path, target: list[str], extra_metrics: bool = True) -> list[str]:
    cmd = [
        ncu,
        "--target-processes", "all",
        "--profile-from-start", "off",  # only between the target's cudaProfilerStart and cudaProfilerStop
        "--nvtx",
        "--clock-control", "none",  # the clocks the bench runs at; ncu's default locks them to base
        "--cache-control", "all",  # cold caches, as the bench's rotated inputs
    ]  # fmt: skip
    for section in SECTIONS:
        cmd += ["--section", section]
    if extra_metrics:
        cmd += ["--metrics", ",".join(EXTRA_METRICS)]
    return [*cmd, "--export", str(report), "--force-overwrite", *target]


def import_command(ncu: str, report: Path) -> list[str]:
    return [
        ncu,
        "--import",
        str(report),
        "--csv",
        "--page",
        "raw",
        "--print-units",
        "base",
        "--print-kernel-base",
        "demangled",
    ]


PERMISSION_HELP = "https://developer.nvidia.com/ERR_NVGPUCTRPERM"


def blocker(output: str) -> str | None:
    """Why ncu could not profile at all on this machine, from what it printed; None when nothing says so."""
    if "ERR_NVGPUCTRPERM" in output:
        return (
            "ncu may not read this GPU's performance counters (ERR_NVGPUCTRPERM): profile as root, or load the "
            f"nvidia driver with NVreg_RestrictProfilingToAdminUsers=0 ({PERMISSION_HELP})"
        )
    if "LibraryNotLoaded" in output:
        return "ncu could not initialise its profiler here (LibraryNotLoaded): this machine exposes no GPU counters"
    return None


def failure(output: str) -> str | None:
    """One line saying why an ncu run failed, from what it printed; None when it printed no error."""
    if reason := blocker(output):
        return reason
    errors = [line.strip() for line in output.splitlines() if line.startswith("==ERROR==")]
    if any("No kernels were profiled" in e for e in errors):
        return "ncu profiled no kernel: the op launched none for this case, or ncu could not follow the Python process"
    if errors:
        return "ncu: " + errors[0].removeprefix("==ERROR==").strip()
    return None


def target_failure(output: str) -> str | None:
    """The profiled program's own error (a Python traceback's last line), if it printed one."""
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("==")]
    if not any(line.startswith("Traceback") for line in lines):
        return None
    return lines[-1].strip()


def unknown_metric(output: str) -> bool:
    """ncu refused one of EXTRA_METRICS (an ncu that does not know it, e.g. "Failed to find metric ...")."""
    errors = [line for line in output.splitlines() if line.startswith("==ERROR==")]
    return any(metric in line for line in errors for metric in EXTRA_METRICS)


def run_ncu(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    # en_US: ncu groups thousands with "," (stripped when parsing) and writes "." decimals.
    env = {**env, "LC_ALL": "en_US.UTF-8"}
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise KernelkitError(f"ncu did not finish within {timeout:.0f} s") from None
    except OSError as exc:
        raise KernelkitError(f"cannot run {cmd[0]}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------------------------------------
# Choosing the case


def select_case(bench: OpBench, label: str | None) -> Case:
    """The case whose label is `label` (spaces and case ignored); without one, the largest (most bytes moved,
    then most FLOPs): the case where the kernel, not the launch, sets the time."""
    if label is None:
        return max(bench.cases, key=lambda c: (bench.bytes_moved(c), bench.flops(c)))

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    for case in bench.cases:
        if norm(case.label) == norm(label):
            return case
    labels = "; ".join(c.label for c in bench.cases)
    raise KernelkitError(f"--case '{label}': {bench.op} has no such case; its cases: {labels}", exit_code=2)


def case_slug(case: Case) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", case.label).strip("-").lower()


def output_folder(project_root: Path, device: str, save: bool) -> Path:
    """Saved (--save): benchmarks/profiles/<device>/, to commit next to the bench results. Otherwise
    build/profiles/, which git ignores: a .ncu-rep is a binary of one ncu version, remade by running again."""
    if save:
        return project_root / "benchmarks" / "profiles" / device_slug(device)
    return project_root / "build" / "profiles"


def write_report(doc: dict, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(doc, indent=2) + "\n")
    paths[1].write_text(markdown(doc))
    return paths


def child_env() -> dict[str, str]:
    """The environment of the profiled program: this process's import path first (what PYTHONPATH and .pth files
    added: the project's package, a checkout's kernelkit), so it imports what `kernelkit bench` would here. The
    interpreter's own folders are left out: the same interpreter finds them, after the standard library."""
    env = dict(os.environ)
    own = [Path(p).resolve() for p in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
    paths = []
    for entry in sys.path:
        path = Path(entry or os.getcwd()).resolve()
        if path.is_dir() and not any(path.is_relative_to(prefix) for prefix in own):
            paths.append(str(path))
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


@dataclass
class ProfileRun:
    kernels: list[KernelProfile]
    device: str
    report: Path  # the .ncu-rep


def run_profile(
    project: Project, bench: OpBench, case: Case, ncu: str, folder: Path, warmup: int = 3, timeout: float = 600
) -> ProfileRun:
    """Profile `case` of `bench` once under ncu; the .ncu-rep goes to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{bench.op}-{case_slug(case)}"
    report, status = folder / f"{stem}.ncu-rep", folder / f"{stem}.status.json"
    report.unlink(missing_ok=True)
    status.unlink(missing_ok=True)
    target = [sys.executable, "-m", "kernelkit.perf.profile_target", bench.op, case.label]
    target += ["--status", str(status), "--warmup", str(warmup)]
    env = child_env()
    proc = run_ncu(profile_command(ncu, report, target), project.root, env, timeout)
    output = proc.stdout + proc.stderr
    if unknown_metric(output):  # an ncu without one of the extra counters: the sections alone
        proc = run_ncu(profile_command(ncu, report, target, extra_metrics=False), project.root, env, timeout)
        output = proc.stdout + proc.stderr
    if reason := blocker(output):
        raise KernelkitError(reason)
    if not status.is_file():  # the profiled program did not finish
        reason = target_failure(output) or failure(output) or f"ncu exited {proc.returncode}"
        tail = [line for line in output.splitlines() if line.strip()][-15:]
        raise KernelkitError(f"profiling {bench.op} ({case.label}) failed: {reason}", details=tail)
    device = json.loads(status.read_text())["device"]
    status.unlink()
    if reason := failure(output):
        raise KernelkitError(reason)
    if not report.is_file():
        raise KernelkitError(f"ncu wrote no report ({report.name}); it printed: {output.strip()[-300:]}")
    imported = run_ncu(import_command(ncu, report), project.root, env, timeout)
    if imported.returncode != 0:
        said = failure(imported.stdout + imported.stderr) or (imported.stderr.strip() or "no output")[-300:]
        raise KernelkitError(f"ncu --import {report.name} failed: {said}")
    kernels = [kernel_profile(row) for row in parse_raw_csv(imported.stdout)]
    return ProfileRun(kernels, device, report)
