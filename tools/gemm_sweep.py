#!/usr/bin/env python3
"""fp8_scaled_mm's large-M configurations, measured side by side on the GPU (a measuring instrument, not an op).

The candidates are CUTLASS sm90 configurations of the library's own scaled GEMM (tools/gemm_sweep/sweep_kernel.cu,
built by tools/gemm_sweep/build.sh into one shared library and called through ctypes): other tiles, clusters and
schedules, and, at run time, the persistent scheduler's swizzle and raster order and the fp8 mainloop's promotion
interval. For each problem (M from --m, (N, K) from benchmarks/ops/gemm/scaled_mm_bench.py, inputs from its
make_inputs("fp8")):

  1. first pass: every candidate at the default knobs (swizzle 1, heuristic raster, promotion every 4 MMAs), beside
     torch._scaled_mm row-wise (use_fast_accum False: "torch", the accuracy reference, and True: "torch_fast") and
     the library's own fp8_scaled_mm when it is importable ("kernelkit_ops"; at M > 128 it runs candidate 0);
  2. knobs: the baseline and the two fastest accurate candidates of pass 1, at swizzle {1, 4, 8} x raster
     {heuristic, along M, along N};
  3. promotion: those three at their best knobs, promoting every 4 and every 8 MMAs (K = 128 / 256).

Before its timing, every setting's output (poisoned with NaN first) is compared with torch._scaled_mm's
(use_fast_accum=False): the max |difference| over max |reference| and the mean |difference| over mean |reference|.
An accurate setting beyond 2^-6 / 2^-10 (two bf16 ulps at the top of the range / a quarter of one on average: the
two kernels round fp32 sums that differ only in order) FAILS loudly, is not timed, and makes the exit code 1; the
FP8FastAccum candidates (flagged "fast-accum" everywhere) are held to 2^-3 / 2^-5 only, which still catches wrong
results. The error against an fp32 reference (dequantized operands, fp32 matmul) is reported beside it; torch's own
row shows torch's error against that reference rounded once to bf16, and should torch be off it beyond the accurate
bounds, a setting within those bounds of the exact result passes with a note instead of failing on torch's error.

Timing, per pass: each setting's calls are captured in one CUDA graph (enough calls that a replay takes
>= --target-ms, rotating over input copies that together exceed 2x the L2 like the library's bench), and the graphs
are replayed in --rounds rounds, each round starting with another setting, --reps timed replays each; a row's time
is the median of its samples. Every pass times torch too, and a row's "x torch" divides by the same pass's torch.
"% ceiling" is against torch._scaled_mm at 8192^3 (per-tensor scales, as the library's bench measures its fp8
ceiling) timed in the same run.

  GPU:  python3 tools/gemm_sweep.py [--lib build/gemm_sweep/libsweep.so] [--json out.json] [--m 512,4096] ...
  Plan: python3 tools/gemm_sweep.py --plan    (no GPU: the settings per pass and the estimated device time)

Without --lib, build/gemm_sweep/libsweep.so is used, built first (tools/gemm_sweep/build.sh) if missing.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import importlib.util
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LIB = ROOT / "build" / "gemm_sweep" / "libsweep.so"
BUILD_SH = ROOT / "tools" / "gemm_sweep" / "build.sh"
BENCH_FILE = ROOT / "benchmarks" / "ops" / "gemm" / "scaled_mm_bench.py"
# A kernelkit eager call with this set synchronizes, which CUDA-graph capture forbids.
os.environ.setdefault("KERNELKIT_CHECK_POSITIONS", "0")

M_VALUES = (512, 1024, 2048, 4096)
SWIZZLES = (1, 4, 8)
RASTERS = ("H", "M", "N")  # heuristic, along M, along N: the codes sweep_run_<n> takes are their indices
PROMOTIONS = (4, 8)
TORCH, TORCH_FAST, LIBRARY = "torch", "torch_fast", "kernelkit_ops"
REFERENCE_IMPLS = (TORCH, TORCH_FAST, LIBRARY)

# Output error bounds (module docstring): max |d| / max |ref| and mean |d| / mean |ref|.
ACCURATE_BOUND, ACCURATE_MEAN_BOUND = 2.0**-6, 2.0**-10
FAST_BOUND, FAST_MEAN_BOUND = 2.0**-3, 2.0**-5

# sweep_run_<n>'s own refusals (sweep_kernel.cu); other nonzero codes are cudaError_t values.
SWEEP_CODES = {
    -1: "CUTLASS can_implement refused the problem",
    -2: "the configuration needs a workspace",
    -3: "out dtype not compiled (bf16 only)",
    -4: "no promotion-interval knob (FastAccum, or the overlapped mainloop: once per K tile)",
    -5: "bad knob value",
}

# For the time estimate (--plan and the budget): a dense fp8 rate a little under what the H100 reaches, and the
# host-side cost per setting per problem (correctness check, graph capture).
ASSUMED_TFLOPS = 1000.0
SETTING_OVERHEAD_S = 0.08
MAX_CALLS_PER_GRAPH = 1000


@dataclass(frozen=True)
class Candidate:
    index: int  # SWEEP_CONFIG: the library exports sweep_run_<index>
    name: str  # sweep_name_<index>() returns it (checked when the library is loaded)
    fast_accum: bool
    what: str
    overlapped: bool = False  # the library's overlapped promotion (no interval knob); else CUTLASS's mainloop

    @property
    def promotion_knob(self) -> bool:
        """Whether its promotion interval can be varied (pass 3): CUTLASS's accurate mainloop only."""
        return not self.fast_accum and not self.overlapped

    @property
    def cluster_size(self) -> int:
        """CTAs per cluster, from the name's c<M>x<N>."""
        m, n = re.search(r"_c(\d+)x(\d+)", self.name).groups()
        return int(m) * int(n)


# The same list as sweep_kernel.cu's `#if SWEEP_CONFIG == n` blocks (tests/tools/test_gemm_sweep.py keeps them equal).
CANDIDATES = (
    Candidate(0, "coop_128x128_c2x1", False, "the library's M > 128 configuration (baseline)", overlapped=True),
    Candidate(1, "coop_128x128_c1x2", False, "cluster along N: A multicast instead of B"),
    Candidate(2, "coop_128x256_c1x1", False, "128x256 tile, no cluster"),
    Candidate(3, "coop_128x256_c2x1", False, "128x256 tile, B multicast"),
    Candidate(4, "ping_64x256_c1x1", False, "ping-pong, 64x256 tile per warpgroup"),
    Candidate(5, "coop_256x128_c1x2", False, "256x128 tile, A multicast"),
    Candidate(6, "coop_128x128_c2x1_fast", True, "baseline tile, FP8FastAccum (less accurate)"),
    Candidate(7, "coop_128x256_c2x1_fast", True, "128x256 tile, FP8FastAccum (less accurate)"),
    Candidate(8, "coop_128x128_c2x1_serial", False, "the baseline with CUTLASS's serial promotion (the A/B)"),
)
BASELINE = "coop_128x128_c2x1"


@dataclass(frozen=True)
class Problem:
    m: int
    n: int
    k: int

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k

    @property
    def label(self) -> str:
        return f"M={self.m} N={self.n} K={self.k}"

    def bytes_per_copy(self) -> int:
        """What one call's operands take: A, B (1 byte each), the bf16 output, the fp32 scales."""
        return self.m * self.k + self.n * self.k + 2 * self.m * self.n + 4 * (self.m + self.n)


@dataclass(frozen=True)
class Setting:
    impl: str  # a candidate's name, or TORCH / TORCH_FAST / LIBRARY
    swizzle: int = 1
    raster: str = "H"
    promotion: int = 4

    @property
    def is_candidate(self) -> bool:
        return self.impl not in REFERENCE_IMPLS

    @property
    def label(self) -> str:
        if not self.is_candidate:
            return self.impl
        return f"{self.impl} s{self.swizzle}{self.raster} p{self.promotion}"


@dataclass(frozen=True)
class Check:
    max_abs: float
    max_rel: float  # max |out - ref| / max |ref|
    mean_rel: float  # mean |out - ref| / mean |ref|
    bound: float
    mean_bound: float
    ok: bool
    reason: str = ""
    fp32_max_rel: float | None = None  # the same measure against the fp32 reference


@dataclass
class Row:
    problem: Problem
    phase: str  # "first", "knobs", "promotion"
    setting: Setting
    fast_accum: bool
    status: str = "ok"  # ok | failed (wrong output) | refused | error | not timed (budget)
    detail: str = ""
    us: float | None = None
    us_p20: float | None = None
    us_p80: float | None = None
    torch_us: float | None = None  # the same pass's torch time
    check: Check | None = None

    @property
    def tflops(self) -> float | None:
        return None if self.us is None else self.problem.flops / (self.us * 1e-6) / 1e12

    @property
    def x_torch(self) -> float | None:
        return None if self.us is None or self.torch_us is None else self.torch_us / self.us


# ------------------------------------------------------------------------------------------------ arguments


def bench_module():
    """benchmarks/ops/gemm/scaled_mm_bench.py (its SHAPES and make_inputs), imported by path."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # it imports kernelkit.benchspec
    spec = importlib.util.spec_from_file_location("scaled_mm_bench", BENCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_shapes(text: str) -> tuple[tuple[int, int], ...]:
    shapes = []
    for item in (s.strip() for s in text.split(",")):
        n, sep, k = item.lower().partition("x")
        if not sep or not n.isdigit() or not k.isdigit() or int(n) <= 0 or int(k) <= 0:
            raise argparse.ArgumentTypeError(f"expected NxK[,NxK...] (e.g. 8192x8192), got {text!r}")
        shapes.append((int(n), int(k)))
    return tuple(shapes)


def parse_candidates(text: str) -> tuple[Candidate, ...]:
    by_name = {c.name: c for c in CANDIDATES}
    by_index = {str(c.index): c for c in CANDIDATES}
    chosen = []
    for item in (s.strip() for s in text.split(",") if s.strip()):
        cand = by_name.get(item) or by_index.get(item)
        if cand is None:
            known = ", ".join(f"{c.index}={c.name}" for c in CANDIDATES)
            raise argparse.ArgumentTypeError(f"unknown candidate {item!r} (known: {known})")
        if cand not in chosen:
            chosen.append(cand)
    if not chosen:
        raise argparse.ArgumentTypeError("no candidate named")
    return tuple(chosen)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gemm_sweep", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--lib",
        type=Path,
        help=f"prebuilt sweep library (default {DEFAULT_LIB.relative_to(ROOT)}, built first if missing)",
    )
    p.add_argument("--build", action="store_true", help="(re)build the default library first (gemm_sweep/build.sh)")
    p.add_argument("--m", type=parse_ints, default=M_VALUES, help="M values, e.g. 512,4096 (default %(default)s)")
    p.add_argument(
        "--shapes",
        type=parse_shapes,
        default=None,
        help="(N, K) shapes as NxK,... (default: scaled_mm_bench.py's SHAPES)",
    )
    p.add_argument(
        "--candidates",
        type=parse_candidates,
        default=CANDIDATES,
        help="candidates by name or index, comma-separated (default: all)",
    )
    p.add_argument(
        "--knob-candidates",
        type=int,
        default=2,
        help="accurate candidates besides the baseline that get the knob passes (default %(default)s)",
    )
    p.add_argument("--no-knobs", action="store_true", help="first pass only (no swizzle/raster/promotion passes)")
    p.add_argument("--no-library", action="store_true", help="do not time kernelkit_ops.fp8_scaled_mm")
    p.add_argument("--reps", type=int, default=7, help="timed replays per setting per round (default %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed replays per setting per round (default %(default)s)")
    p.add_argument("--target-ms", type=float, default=2.0, help="a replay's length, at least (default %(default)s)")
    p.add_argument("--min-calls", type=int, default=3, help="calls per graph, at least (default %(default)s)")
    p.add_argument(
        "--time-budget-s",
        type=float,
        default=240.0,
        help="stop cleanly before a pass that would end past this (default %(default)s)",
    )
    p.add_argument("--json", type=Path, help="write the results here (and the table beside it, .md)")
    p.add_argument("--plan", action="store_true", help="print the plan and its estimated device time, then exit")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.shapes is None:
        args.shapes = tuple(bench_module().SHAPES)
    for name in ("reps", "rounds", "min_calls"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0 or args.knob_candidates < 0 or args.target_ms <= 0 or args.time_budget_s <= 0:
        parser.error("--warmup and --knob-candidates must be >= 0, --target-ms and --time-budget-s > 0")
    return args


def problems(args: argparse.Namespace) -> list[Problem]:
    return [Problem(m, n, k) for n, k in args.shapes for m in args.m]


# ------------------------------------------------------------------------------------------------ the plan


def pass1_settings(candidates: tuple[Candidate, ...], with_library: bool) -> list[Setting]:
    refs = [TORCH, TORCH_FAST] + ([LIBRARY] if with_library else [])
    return [Setting(r) for r in refs] + [Setting(c.name) for c in candidates]


def choose_knob_candidates(first: list[Row], candidates: tuple[Candidate, ...], n_best: int) -> list[Candidate]:
    """The baseline (if it ran and passed) and the n_best fastest other accurate candidates of the first pass."""
    by_name = {c.name: c for c in candidates}
    timed = {r.setting.impl: r.us for r in first if r.status == "ok" and r.us is not None and r.setting.is_candidate}
    chosen = [by_name[BASELINE]] if BASELINE in timed and BASELINE in by_name else []
    accurate = [name for name in timed if name != BASELINE and name in by_name and not by_name[name].fast_accum]
    others = sorted((timed[name], name) for name in accurate)
    return chosen + [by_name[name] for _, name in others[:n_best]]


def pass2_settings(chosen: list[Candidate]) -> list[Setting]:
    return [Setting(TORCH)] + [Setting(c.name, s, r) for c in chosen for s in SWIZZLES for r in RASTERS]


def best_knobs(rows: list[Row], name: str) -> tuple[int, str]:
    """The fastest (swizzle, raster) of a candidate among its timed, passing rows at promotion 4 (else the defaults)."""
    timed = [
        (r.us, r.setting.swizzle, r.setting.raster)
        for r in rows
        if r.setting.impl == name and r.setting.promotion == 4 and r.status == "ok" and r.us is not None
    ]
    if not timed:
        return 1, "H"
    _, swizzle, raster = min(timed)
    return swizzle, raster


def pass3_settings(chosen: list[Candidate], knob_rows: list[Row]) -> list[Setting]:
    settings = [Setting(TORCH)]
    for c in chosen:
        if not c.promotion_knob:
            continue  # no promotion interval to vary
        swizzle, raster = best_knobs(knob_rows, c.name)
        settings += [Setting(c.name, swizzle, raster, p) for p in PROMOTIONS]
    return settings


def rotation_copies(problem: Problem, l2_bytes: int, cap: int = 16) -> int:
    """Input copies so that one pass over them exceeds 2x the L2 (the library's bench does the same)."""
    return max(1, min(cap, math.ceil(2 * l2_bytes / problem.bytes_per_copy())))


def estimated_call_us(problem: Problem) -> float:
    return max(5.0, problem.flops / (ASSUMED_TFLOPS * 1e12) * 1e6)


def calls_per_graph(problem: Problem, copies: int, target_ms: float, min_calls: int) -> int:
    wanted = math.ceil(target_ms * 1e3 / estimated_call_us(problem))
    return max(min_calls, copies, min(MAX_CALLS_PER_GRAPH, wanted))


def pass_seconds(problem: Problem, n_settings: int, args: argparse.Namespace, copies: int = 1) -> float:
    """Estimated wall time of one pass: its replays at the assumed rate, plus the per-setting host work."""
    calls = calls_per_graph(problem, copies, args.target_ms, args.min_calls)
    replays = args.rounds * (args.warmup + args.reps) + 2  # + the capture's warm-up and the check
    return n_settings * (replays * calls * estimated_call_us(problem) * 1e-6 + SETTING_OVERHEAD_S)


def plan_summary(args: argparse.Namespace, with_library: bool = True) -> tuple[list[str], float]:
    """The plan in words and its estimated seconds (all candidates assumed to pass; the knob passes at full size)."""
    first_settings = pass1_settings(args.candidates, with_library)
    first = len(first_settings)
    accurate = [c for c in args.candidates if not c.fast_accum]
    chosen = min(len(accurate), (1 if any(c.name == BASELINE for c in accurate) else 0) + args.knob_candidates)
    knobs = not args.no_knobs and chosen > 0
    second = 1 + chosen * len(SWIZZLES) * len(RASTERS) if knobs else 0
    baseline_fixed = any(c.name == BASELINE and not c.promotion_knob for c in accurate)  # no interval to vary
    third = 1 + (chosen - baseline_fixed) * len(PROMOTIONS) if knobs else 0
    total = sum(pass_seconds(p, n, args) for p in problems(args) for n in (first, second, third) if n)
    lines = [
        f"{len(problems(args))} problems: M in {list(args.m)} x (N, K) in {[f'{n}x{k}' for n, k in args.shapes]}",
        f"pass 1: {first} settings per problem ({', '.join(s.label for s in first_settings)})",
        f"pass 2 (knobs): {second} settings per problem (torch + {chosen} candidates x swizzle {list(SWIZZLES)} x "
        f"raster {list(RASTERS)})"
        if knobs
        else "pass 2 (knobs): off",
        f"pass 3 (promotion): {third} settings per problem (torch + {chosen - baseline_fixed} candidates x promotion "
        f"{list(PROMOTIONS)})"
        if knobs
        else "pass 3 (promotion): off",
        f"timing: {args.rounds} rounds x ({args.warmup} + {args.reps}) replays of >= {args.target_ms} ms;"
        f" estimated {total:.0f} s of device time at {ASSUMED_TFLOPS:.0f} TFLOP/s (budget {args.time_budget_s:.0f} s)",
    ]
    return lines, total


# ------------------------------------------------------------------------------------------------ correctness


def judge(out, ref, fast_accum: bool, fp32_ref=None) -> Check:
    """Compares a setting's output with the reference output (torch tensors, any float dtype, same shape)."""
    import torch

    out32, ref32 = out.float(), ref.float()
    bound, mean_bound = (FAST_BOUND, FAST_MEAN_BOUND) if fast_accum else (ACCURATE_BOUND, ACCURATE_MEAN_BOUND)
    if not bool(torch.isfinite(ref32).all()):
        raise ValueError("the reference output has non-finite values")
    if not bool(torch.isfinite(out32).all()):
        bad = int((~torch.isfinite(out32)).sum())
        return Check(math.inf, math.inf, math.inf, bound, mean_bound, False, f"{bad} non-finite values in the output")
    diff = (out32 - ref32).abs()
    max_abs = float(diff.max())
    ref_max, ref_mean = float(ref32.abs().max()), float(ref32.abs().mean())
    max_rel = max_abs / ref_max if ref_max > 0 else (0.0 if max_abs == 0 else math.inf)
    mean_rel = float(diff.mean()) / ref_mean if ref_mean > 0 else (0.0 if max_abs == 0 else math.inf)
    fp32_max_rel = None
    if fp32_ref is not None:
        fp32_max_rel = float((out32 - fp32_ref.float()).abs().max()) / max(float(fp32_ref.float().abs().max()), 1e-30)
    reasons = []
    if max_rel > bound:
        reasons.append(f"max |d| / max |ref| = {max_rel:.3g} > {bound:.3g}")
    if mean_rel > mean_bound:
        reasons.append(f"mean |d| / mean |ref| = {mean_rel:.3g} > {mean_bound:.3g}")
    return Check(max_abs, max_rel, mean_rel, bound, mean_bound, not reasons, "; ".join(reasons), fp32_max_rel)


# ------------------------------------------------------------------------------------------------ the library


class SweepLib:
    """The candidates' entry points in the prebuilt library."""

    def __init__(self, path: Path, candidates: tuple[Candidate, ...]):
        self.path = path
        self.lib = ctypes.CDLL(str(path))
        self.run = {}
        self.info: dict[str, dict] = {}
        self.missing: list[str] = []
        for c in candidates:
            try:
                fn = getattr(self.lib, f"sweep_run_{c.index}")
            except AttributeError:
                self.missing.append(c.name)
                continue
            fn.restype = ctypes.c_int
            fn.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int64,
                ctypes.c_void_p,
                ctypes.c_int64,
                ctypes.c_void_p,
                ctypes.c_int64,
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.c_int64,
                ctypes.c_int64,
                ctypes.c_int64,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_void_p,
            ]
            name_fn = getattr(self.lib, f"sweep_name_{c.index}")
            name_fn.restype = ctypes.c_char_p
            built = name_fn().decode()
            fast = bool(getattr(self.lib, f"sweep_fast_accum_{c.index}")())
            overlapped = bool(getattr(self.lib, f"sweep_overlapped_{c.index}")())
            if built != c.name or fast != c.fast_accum or overlapped != c.overlapped:
                raise SystemExit(
                    f"gemm_sweep: {path} config {c.index} is {built!r} (fast_accum={fast}, overlapped={overlapped}), "
                    f"the driver expects {c.name!r} (fast_accum={c.fast_accum}, overlapped={c.overlapped}): rebuild "
                    "it (tools/gemm_sweep/build.sh)"
                )
            self.run[c.name] = fn
            self.info[c.name] = {
                "stages": int(getattr(self.lib, f"sweep_stages_{c.index}")()),
                "smem_bytes": int(getattr(self.lib, f"sweep_smem_bytes_{c.index}")()),
            }

    def kernel_attrs(self, c: Candidate, sm_count: int) -> None:
        """Registers per thread and local memory (spills) of the compiled kernel, and how many of its clusters fit
        on the GPU at once against the clusters the persistent grid launches (sm_count / cluster size); needs the
        CUDA context."""
        regs, local, clusters = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        if getattr(self.lib, f"sweep_kernel_attrs_{c.index}")(ctypes.byref(regs), ctypes.byref(local)) == 0:
            self.info[c.name].update(regs=regs.value, local_bytes=local.value)
        if getattr(self.lib, f"sweep_max_active_clusters_{c.index}")(ctypes.byref(clusters)) == 0:
            self.info[c.name].update(max_active_clusters=clusters.value, grid_clusters=sm_count // c.cluster_size)


def load_library(args: argparse.Namespace) -> SweepLib:
    path = args.lib or DEFAULT_LIB
    if args.build or (args.lib is None and not path.exists()):
        print(f"gemm_sweep: building {path.relative_to(ROOT)} (tools/gemm_sweep/build.sh)", flush=True)
        subprocess.run(["bash", str(BUILD_SH)], check=True)
    if not path.exists():
        raise SystemExit(f"gemm_sweep: no sweep library at {path} (build it: tools/gemm_sweep/build.sh)")
    return SweepLib(path, args.candidates)


# ------------------------------------------------------------------------------------------------ GPU work


def make_copies(problem: Problem, copies: int) -> list[dict]:
    import torch

    bench = bench_module()  # first: it puts the checkout on sys.path, where kernelkit.benchspec is
    from kernelkit.benchspec import Case

    case = Case(tokens=problem.m, dtype="bfloat16", shape=(("n", problem.n), ("k", problem.k)))
    result = []
    for _ in range(copies):
        inputs = bench.make_inputs(case, "fp8")
        inputs["out"] = torch.empty(problem.m, problem.n, device="cuda", dtype=torch.bfloat16)
        result.append(inputs)
    return result


def make_call(setting: Setting, inputs: dict, lib: SweepLib | None):
    """A no-argument call of one setting on one input copy. Candidates write inputs["out"]; the torch and library
    impls return a new tensor (held during capture, so allocated outputs rotate like the inputs)."""
    import torch

    a, b, sa, sb = inputs["a"], inputs["b"], inputs["scales_a"], inputs["scales_b"]
    if setting.impl in (TORCH, TORCH_FAST):
        fast = setting.impl == TORCH_FAST
        sb_row = sb.reshape(1, -1)
        return lambda: torch._scaled_mm(a, b, scale_a=sa, scale_b=sb_row, out_dtype=torch.bfloat16, use_fast_accum=fast)
    if setting.impl == LIBRARY:
        import kernelkit_ops

        return lambda: kernelkit_ops.fp8_scaled_mm(a, b, sa, sb, torch.bfloat16)
    fn, out = lib.run[setting.impl], inputs["out"]
    m, k = a.shape
    n = b.shape[1]
    ptrs = (
        out.data_ptr(),
        out.stride(0),
        a.data_ptr(),
        a.stride(0),
        b.data_ptr(),
        b.stride(1),
        sa.data_ptr(),
        sb.data_ptr(),
        None,
        m,
        n,
        k,
        0,
        setting.swizzle,
        RASTERS.index(setting.raster),
        setting.promotion,
    )

    def call():
        code = fn(*ptrs, ctypes.c_void_p(torch.cuda.current_stream().cuda_stream))
        if code != 0:
            raise RuntimeError(SWEEP_CODES.get(code, f"CUDA error {code}"))
        return out

    return call


def judge_output(out, data: dict, fast: bool) -> tuple[str, str, Check]:
    """(status, detail, check) of one output against torch._scaled_mm's (data["ref"]). Should torch itself be off
    the exact result (data["exact"]: the fp32 reference rounded once to bf16) by more than the accurate bounds, an
    output that differs from torch but is within those bounds of the exact result passes, and its detail says so:
    the check is there to catch wrong kernels, not to hold them to torch's error."""
    check = judge(out, data["ref"], fast, data["fp32_ref"])
    if check.ok:
        return "ok", "", check
    if not data["torch_check"].ok:
        exact = judge(out, data["exact"], fast, data["fp32_ref"])
        if exact.ok:
            return (
                "ok",
                f"differs from torch ({check.reason}), which is off the fp32 reference; within bounds of it",
                check,
            )
    return "failed", check.reason, check


def check_setting(setting: Setting, fast: bool, data: dict, lib: SweepLib | None) -> tuple[str, str, Check | None]:
    """Runs a setting once on input copy 0 and judges its output: (status, detail, check)."""
    import torch

    copy0 = data["copies"][0]
    copy0["out"].fill_(float("nan"))  # a kernel that writes nothing leaves NaN
    try:
        out = make_call(setting, copy0, lib)()
        torch.cuda.synchronize()
    except RuntimeError as e:
        status = "refused" if "refused" in str(e) else "error"
        return status, str(e).splitlines()[0], None
    return judge_output(out, data, fast)


def capture(calls: list, n: int):
    import collections

    import torch

    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    graph = torch.cuda.CUDAGraph()
    held: collections.deque = collections.deque(maxlen=len(calls))
    with torch.cuda.stream(stream):
        for call in calls:  # warm the side stream
            call()
        torch.cuda.synchronize()
        with torch.cuda.graph(graph, stream=stream):
            for i in range(n):
                held.append(calls[i % len(calls)]())
    torch.cuda.synchronize()
    held.clear()
    return graph


def time_graphs(graphs: dict, n: int, args: argparse.Namespace) -> dict:
    """Per-call µs samples of each graph, the graphs taking turns over rounds (each round starts at another one)."""
    import torch

    keys = list(graphs)
    samples = {key: [] for key in keys}
    for r in range(args.rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for key in order:
            graph = graphs[key]
            for _ in range(args.warmup):
                graph.replay()
            torch.cuda.synchronize()
            for _ in range(args.reps):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                graph.replay()
                end.record()
                end.synchronize()
                samples[key].append(start.elapsed_time(end) * 1e3 / n)
    return samples


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def run_pass(
    phase: str, problem: Problem, settings: list[Setting], data: dict, lib: SweepLib | None, args: argparse.Namespace
) -> list[Row]:
    """Checks every setting, then times the ones that passed (graphs interleaved over rounds)."""
    import torch

    fast_names = {c.name for c in CANDIDATES if c.fast_accum}
    rows, graphs = [], {}
    for s in settings:
        fast = s.impl in fast_names or s.impl == TORCH_FAST
        row = Row(problem, phase, s, fast)
        rows.append(row)
        if s.is_candidate and s.impl not in lib.run:
            row.status, row.detail = "error", "not in the library"
            continue
        if s.impl == TORCH:  # the reference: its error is against the exact result
            row.check = data["torch_check"]
            row.detail = "" if row.check.ok else f"off the fp32 reference: {row.check.reason}"
        else:
            row.status, row.detail, row.check = check_setting(s, fast, data, lib)
        if row.status == "failed":
            kind = "(fast-accum, loose bounds)" if fast else "(accurate)"
            print(f"gemm_sweep: FAILED {problem.label} {s.label} {kind}: {row.detail}", file=sys.stderr, flush=True)
        if row.status != "ok" and not (fast and row.status == "failed" and not s.is_candidate):
            continue
        try:
            graphs[s] = capture([make_call(s, c, lib) for c in data["copies"]], data["calls"])
        except RuntimeError as e:
            torch.cuda.synchronize()
            row.status, row.detail = "error", f"capture: {str(e).splitlines()[0]}"
    samples = time_graphs(graphs, data["calls"], args)
    del graphs
    torch_us = statistics.median(samples[Setting(TORCH)]) if Setting(TORCH) in samples else None
    for row in rows:
        if row.setting in samples:
            s = samples[row.setting]
            row.us, row.us_p20, row.us_p80 = statistics.median(s), quantile(s, 0.2), quantile(s, 0.8)
            row.torch_us = torch_us
    return rows


def prepare_problem(problem: Problem, args: argparse.Namespace) -> dict:
    import torch

    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    copies = rotation_copies(problem, l2)
    data = {"copies": make_copies(problem, copies)}
    c0 = data["copies"][0]
    data["ref"] = torch._scaled_mm(
        c0["a"], c0["b"], scale_a=c0["scales_a"], scale_b=c0["scales_b"].reshape(1, -1), out_dtype=torch.bfloat16
    )
    # fp32 reference: the e4m3 values are exact in fp32 and so are their products; the sum is fp32 (no TF32)
    prev_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        data["fp32_ref"] = (c0["a"].float() @ c0["b"].float()) * c0["scales_a"] * c0["scales_b"].reshape(1, -1)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = prev_tf32
    data["exact"] = data["fp32_ref"].bfloat16()
    data["torch_check"] = judge(data["ref"], data["exact"], False, data["fp32_ref"])
    if not data["torch_check"].ok:
        print(
            f"gemm_sweep: {problem.label}: torch._scaled_mm is off the fp32 reference ({data['torch_check'].reason})",
            flush=True,
        )
    data["calls"] = calls_per_graph(problem, copies, args.target_ms, args.min_calls)
    data["n_copies"] = copies
    return data


def measure_ceiling(args: argparse.Namespace) -> float:
    """torch._scaled_mm at 8192^3 with per-tensor scales (the library bench's fp8 ceiling), in TFLOP/s."""
    import torch

    n = 8192
    a8 = torch.randn(n, n, device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn)
    b8 = torch.randn(n, n, device="cuda", dtype=torch.bfloat16).to(torch.float8_e4m3fn).t().contiguous().t()
    one = torch.ones((), device="cuda")
    call = lambda: torch._scaled_mm(a8, b8, one, one, out_dtype=torch.bfloat16)  # noqa: E731
    calls = 8
    samples = time_graphs({"ceiling": capture([call], calls)}, calls, args)["ceiling"]
    return 2 * n**3 / (statistics.median(samples) * 1e-6) / 1e12


# ------------------------------------------------------------------------------------------------ results


def best_rows(rows: list[Row]) -> dict[Problem, dict[str, Row | None]]:
    """Per problem: torch (first pass), the baseline at the default knobs, the fastest accurate candidate setting
    and the fastest fast-accum one, by x torch (each row against its own pass's torch)."""
    result: dict[Problem, dict[str, Row | None]] = {}
    for row in rows:
        entry = result.setdefault(row.problem, {"torch": None, "baseline": None, "accurate": None, "fast": None})
        if row.status != "ok" or row.x_torch is None:
            continue
        if row.setting.impl == TORCH and row.phase == "first":
            entry["torch"] = row
        if not row.setting.is_candidate:
            continue
        if row.setting == Setting(BASELINE) and row.phase == "first":
            entry["baseline"] = row
        key = "fast" if row.fast_accum else "accurate"
        if entry[key] is None or row.x_torch > entry[key].x_torch:
            entry[key] = row
    return result


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else format(value, spec) + suffix


def row_dict(row: Row, ceiling: float | None) -> dict:
    tflops = row.tflops
    return {
        "m": row.problem.m,
        "n": row.problem.n,
        "k": row.problem.k,
        "phase": row.phase,
        "impl": row.setting.impl,
        "swizzle": row.setting.swizzle,
        "raster": row.setting.raster,
        "promotion": row.setting.promotion,
        "label": row.setting.label,
        "fast_accum": row.fast_accum,
        "status": row.status,
        "detail": row.detail,
        "us": row.us,
        "us_p20": row.us_p20,
        "us_p80": row.us_p80,
        "tflops": tflops,
        "pct_ceiling": None if tflops is None or not ceiling else 100 * tflops / ceiling,
        "torch_us": row.torch_us,
        "x_torch": row.x_torch,
        "check": None if row.check is None else asdict(row.check),
    }


def results_document(rows: list[Row], ceiling: float | None, meta: dict) -> dict:
    best = []
    for problem, entry in best_rows(rows).items():
        base, acc = entry["baseline"], entry["accurate"]
        best.append(
            {
                "m": problem.m,
                "n": problem.n,
                "k": problem.k,
                **{
                    key: None
                    if r is None
                    else {"label": r.setting.label, "us": r.us, "tflops": r.tflops, "x_torch": r.x_torch}
                    for key, r in entry.items()
                },
                "best_vs_baseline": None if base is None or acc is None else acc.x_torch / base.x_torch,
            }
        )
    failures = [row_dict(r, ceiling) for r in rows if r.status in ("failed", "error") and not r.fast_accum]
    return {
        **meta,
        "ceiling_tflops": ceiling,
        "rows": [row_dict(r, ceiling) for r in rows],
        "best": best,
        "failures": failures,
    }


def markdown(doc: dict, every_setting: bool = True) -> str:
    """The results as markdown: the best per problem, every setting (unless every_setting is False), the
    candidates' build facts, and the failures."""
    ceiling = doc.get("ceiling_tflops")
    lines = [
        f"# gemm_sweep — {doc.get('device', '?')}",
        "",
        f"{doc.get('date', '?')}, commit {doc.get('commit', '?')}, torch {doc.get('torch', '?')}; fp8 ceiling "
        f"{_fmt(ceiling, '.0f')} TFLOP/s (torch._scaled_mm 8192³, same run)"
        + (" — **stopped by the time budget**" if doc.get("truncated") else ""),
        "x torch: against torch._scaled_mm row-wise (use_fast_accum=False) timed in the same pass. Labels: "
        "s<swizzle><raster H/M/N> p<promotion interval>. err: max |d| / max |torch| (torch's row: against the fp32 "
        "reference rounded to bf16); err vs fp32: against the unrounded fp32 reference.",
        "",
        "## Best per problem",
        "",
        "| M | N | K | torch µs | baseline µs | baseline × torch | best accurate | × torch | vs baseline "
        "| best fast-accum (less accurate) | × torch |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|",
    ]
    for b in doc["best"]:
        t, base, acc, fast = b["torch"], b["baseline"], b["accurate"], b["fast"]
        lines.append(
            f"| {b['m']} | {b['n']} | {b['k']} | {_fmt(t and t['us'], '.1f')} | {_fmt(base and base['us'], '.1f')} "
            f"| {_fmt(base and base['x_torch'], '.2f', '×')} | {acc['label'] if acc else '—'} "
            f"| {_fmt(acc and acc['x_torch'], '.2f', '×')} | {_fmt(b['best_vs_baseline'], '.2f', '×')} "
            f"| {fast['label'] if fast else '—'} | {_fmt(fast and fast['x_torch'], '.2f', '×')} |"
        )
    if every_setting:
        lines += [
            "",
            "## Every setting",
            "",
            "| M | N | K | pass | setting | µs | p20–p80 | TFLOP/s | % ceiling | × torch | err | err vs fp32 | note |",
            "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
    for r in doc["rows"] if every_setting else []:
        check = r["check"] or {}
        notes = []
        if r["fast_accum"]:
            notes.append("fast-accum (less accurate)")
        if r["status"] != "ok":
            notes.append(f"**{r['status'].upper()}**: {r['detail']}")
        spread = f"{r['us_p20']:.1f}–{r['us_p80']:.1f}" if r["us_p20"] is not None else "—"
        lines.append(
            f"| {r['m']} | {r['n']} | {r['k']} | {r['phase']} | {r['label']} | {_fmt(r['us'], '.1f')} | {spread} "
            f"| {_fmt(r['tflops'], '.0f')} | {_fmt(r['pct_ceiling'], '.0f', '%')} | {_fmt(r['x_torch'], '.2f', '×')} "
            f"| {_fmt(check.get('max_rel'), '.2g')} | {_fmt(check.get('fp32_max_rel'), '.2g')} | {'; '.join(notes)} |"
        )
    if doc.get("candidates"):
        lines += [
            "",
            "## Candidates",
            "",
            "| # | name | stages | smem B | regs | local B | clusters fitting / launched | what |",
            "|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for c in doc["candidates"]:
            fit = f"{c['max_active_clusters']} / {c['grid_clusters']}" if "max_active_clusters" in c else "—"
            lines.append(
                f"| {c['index']} | {c['name']} | {c.get('stages', '—')} | {c.get('smem_bytes', '—')} "
                f"| {c.get('regs', '—')} | {c.get('local_bytes', '—')} | {fit} | {c['what']} |"
            )
    if doc["failures"]:
        lines += ["", f"**{len(doc['failures'])} accurate settings FAILED or errored:**", ""]
        lines += [f"- {f['m']}x{f['n']}x{f['k']} {f['label']}: {f['status']}: {f['detail']}" for f in doc["failures"]]
    return "\n".join(lines) + "\n"


def summary_line(doc: dict) -> str:
    """One line for tools/gpu_check.sh's step summary."""
    best = [b for b in doc["best"] if b["accurate"]]
    beats_base = sum(1 for b in best if (b["best_vs_baseline"] or 0) > 1.02)
    beats_torch = sum(1 for b in best if b["accurate"]["x_torch"] >= 1.0)
    pct = [100 * b["accurate"]["tflops"] / doc["ceiling_tflops"] for b in best if doc.get("ceiling_tflops")]
    median_pct = f"{statistics.median(pct):.0f}%" if pct else "—"
    return (
        f"gemm_sweep: {len(best)}/{len(doc['best'])} problems; best accurate beats the baseline by > 2% on "
        f"{beats_base}, torch on {beats_torch}; median best {median_pct} of the ceiling"
    )


def write_results(path: Path | None, doc: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    path.with_suffix(".md").write_text(markdown(doc))


def git_commit() -> str:
    """The bench harness's label (KERNELKIT_COMMIT first: the GPU machine's copy of the tree may carry a stale .git;
    else HEAD, marked -dirty when the tree is)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from kernelkit.perf.harness import git_commit as harness_git_commit

    return harness_git_commit(ROOT)


# ------------------------------------------------------------------------------------------------ main


def library_available() -> str | None:
    """None when kernelkit_ops.fp8_scaled_mm (this checkout's) can run here, else why not."""
    package_dir = str(ROOT / "library" / "python")
    if package_dir not in sys.path:
        sys.path.insert(0, package_dir)
    try:
        import kernelkit_ops
    except Exception as e:  # noqa: BLE001 - any import failure means: not timed, say why
        return f"kernelkit_ops not importable ({type(e).__name__}: {e})"
    if not kernelkit_ops.cutlass_enabled():
        return "kernelkit_ops was built without CUTLASS"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.plan:
        lines, _ = plan_summary(args, with_library=not args.no_library)
        print("\n".join(lines))
        return 0
    import torch

    if not torch.cuda.is_available():
        print(
            "gemm_sweep: needs a CUDA GPU (none visible to torch); --plan shows the plan without one", file=sys.stderr
        )
        return 2
    t0 = time.monotonic()
    lib = load_library(args)
    with_library = not args.no_library
    if with_library and (why := library_available()) is not None:
        print(f"gemm_sweep: not timing {LIBRARY}: {why}", flush=True)
        with_library = False
    for line in plan_summary(args, with_library)[0]:
        print(f"gemm_sweep: {line}", flush=True)
    sm_count = torch.cuda.get_device_properties(0).multi_processor_count
    for c in args.candidates:
        if c.name in lib.run:
            lib.kernel_attrs(c, sm_count)
            info = lib.info[c.name]
            if info.get("max_active_clusters", 1 << 30) < info.get("grid_clusters", 0):
                print(
                    f"gemm_sweep: {c.name}: only {info['max_active_clusters']} clusters fit at once, the grid has "
                    f"{info['grid_clusters']}: the rest wait for the first ones to finish",
                    flush=True,
                )
    meta = {
        "tool": "gemm_sweep",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": _dt.date.today().isoformat(),
        "commit": git_commit(),
        "lib": str(lib.path),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("candidates",)},
        "candidates": [
            {**asdict(c), **lib.info.get(c.name, {}), "in_library": c.name in lib.run} for c in args.candidates
        ],
        "truncated": False,
    }
    meta["args"]["shapes"] = [list(s) for s in args.shapes]
    torch.manual_seed(0)
    ceiling = measure_ceiling(args)
    print(f"gemm_sweep: fp8 ceiling {ceiling:.0f} TFLOP/s (torch._scaled_mm 8192^3)", flush=True)

    rows: list[Row] = []

    def over_budget(problem: Problem, n_settings: int) -> bool:
        late = time.monotonic() - t0 + pass_seconds(problem, n_settings, args) > args.time_budget_s
        meta["truncated"] = meta["truncated"] or late
        return late

    def progress(problem: Problem, phase: str) -> None:
        meta["elapsed_s"] = round(time.monotonic() - t0, 1)
        doc = results_document(rows, ceiling, meta)
        write_results(args.json, doc)  # after every pass: a run cut short keeps what finished
        best = next(b for b in doc["best"] if (b["m"], b["n"], b["k"]) == (problem.m, problem.n, problem.k))
        acc = best["accurate"]
        print(
            f"gemm_sweep: [{meta['elapsed_s']:.0f} s] {problem.label} {phase}: torch "
            f"{_fmt(best['torch'] and best['torch']['us'], '.1f')} us, baseline "
            f"{_fmt(best['baseline'] and best['baseline']['x_torch'], '.2f', 'x')} torch, best accurate "
            f"{acc['label'] if acc else '-'} {_fmt(acc and acc['x_torch'], '.2f', 'x')} torch",
            flush=True,
        )

    # Pass 1 for every problem first, so that a run the budget stops still compares every candidate everywhere;
    # then the knob passes, problem by problem (fresh inputs: the same distribution, new values).
    first_rows: dict[Problem, list[Row]] = {}
    for problem in problems(args):
        settings = pass1_settings(args.candidates, with_library)
        if over_budget(problem, len(settings)):
            break
        data = prepare_problem(problem, args)
        first_rows[problem] = run_pass("first", problem, settings, data, lib, args)
        rows += first_rows[problem]
        del data
        torch.cuda.empty_cache()
        progress(problem, "pass 1")
    for problem, first in first_rows.items():
        chosen = [] if args.no_knobs else choose_knob_candidates(first, args.candidates, args.knob_candidates)
        if not chosen:
            continue
        settings = pass2_settings(chosen)
        if meta["truncated"] or over_budget(problem, len(settings)):
            break
        data = prepare_problem(problem, args)
        knob_rows = run_pass("knobs", problem, settings, data, lib, args)
        rows += knob_rows
        settings = pass3_settings(chosen, knob_rows)
        if len(settings) > 1 and not over_budget(problem, len(settings)):
            rows += run_pass("promotion", problem, settings, data, lib, args)
        del data
        torch.cuda.empty_cache()
        progress(problem, "knob passes")
    meta["elapsed_s"] = round(time.monotonic() - t0, 1)
    doc = results_document(rows, ceiling, meta)
    write_results(args.json, doc)
    print()
    print(markdown(doc, every_setting=False))  # every setting: the .md beside --json
    print(summary_line(doc))
    if meta["truncated"]:
        print(f"gemm_sweep: stopped by the time budget ({args.time_budget_s:.0f} s); the tables hold what finished")
    if doc["failures"]:
        print(f"gemm_sweep: {len(doc['failures'])} accurate settings FAILED or errored", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
