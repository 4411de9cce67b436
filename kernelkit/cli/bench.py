"""`kernelkit bench`: how close each op is to the hardware, next to torch eager and torch.compile."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelkit.builder import features
from kernelkit.cli._ui import console, handles_errors, sigterm_interrupts
from kernelkit.errors import KernelkitError
from kernelkit.model import registry
from kernelkit.perf import harness as core
from kernelkit.project import find_project


@handles_errors
def bench(
    ops: Annotated[
        Optional[list[str]], typer.Argument(help="Ops to benchmark (default: every op with a bench file).")
    ] = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", help="Only these token counts, e.g. 1,2048.")] = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Write the results JSON here.")] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Write benchmarks/results/<device>/<date>-<commit>.json and .md.")
    ] = False,
    plot: Annotated[bool, typer.Option("--plot", help="With --save: also a PNG of % of ceiling vs tokens.")] = False,
    compare: Annotated[
        Optional[Path],
        typer.Option(
            "--compare",
            help="Flag rows > 5% slower than this earlier results JSON, or with 'committed' than the newest committed "
            "result of each case on this device (benchmarks/results/<device>/); exit 1 if any.",
        ),
    ] = None,
    baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="Also time torch eager and torch.compile.")
    ] = True,
    remeasure: Annotated[bool, typer.Option("--remeasure-ceilings", help="Measure copy/GEMM ceilings again.")] = False,
    time_budget: Annotated[
        Optional[float],
        typer.Option(
            "--time-budget",
            min=1,
            metavar="SECONDS",
            help="Start no case after this many seconds; the cases that finished are reported and saved.",
        ),
    ] = None,
) -> None:
    """Time ops on the GPU (CUDA-graph replay, cold L2) and report % of the measured hardware ceiling."""
    project = find_project()
    available = core.bench_files(project)
    names = ops or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise KernelkitError(
            f"no benchmark for {', '.join(unknown)}; ops with one: {', '.join(available) or '(none)'}", exit_code=2
        )
    names = _without_unbuilt_feature_ops(project, names, named=bool(ops))
    token_filter = _parse_tokens(tokens) if tokens else None
    old = None
    against_committed = compare is not None and str(compare) == core.COMMITTED and not compare.is_file()
    if compare is not None and not against_committed:
        try:
            old = json.loads(compare.read_text())
        except (OSError, ValueError) as exc:
            raise KernelkitError(f"--compare {compare}: cannot read results JSON ({exc})", exit_code=2) from None
        if problem := core.results_problem(old):  # before the GPU run, not after it
            raise KernelkitError(f"--compare {compare}: not a results file: {problem}", exit_code=2)

    import torch

    if not torch.cuda.is_available():
        raise KernelkitError("kernelkit bench needs a CUDA GPU and none is visible to torch", exit_code=1)
    if against_committed:  # before the run: the results it may --save must not compare with themselves
        folder = project.benchmarks_dir / "results" / core.device_slug(torch.cuda.get_device_name(0))
        old = core.committed_results(folder)
        console.print(
            f"compare: against the newest of {len(old['sources'])} result files in {folder} for each case",
            soft_wrap=True,
        )
    benches = [core.load_bench(project, n) for n in names]
    with console.status("measuring ceilings (once per device, then cached)"):
        ceilings = core.measure_ceilings(remeasure)
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    rows: list[core.Row] = []
    plan = [(b, c) for b in benches for c in core.select_cases(b, token_filter)]
    if not plan:
        swept = sorted({c.tokens for b in benches for c in b.cases})
        raise KernelkitError(f"--tokens {tokens}: no case has that many tokens; the cases have {swept}", exit_code=2)
    with Progress(
        TextColumn("[bold]bench[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("", total=len(plan))
        compiled_for: dict[str, dict] = {}
        # One compile per case shape (dynamic=False): an op with more cases than dynamo's recompile
        # limit (8) would silently time eager under the torch.compile label from the 9th case on.
        knob = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
        setattr(torch._dynamo.config, knob, max(getattr(torch._dynamo.config, knob), 4 * len(plan)))
        # A bench bounded from outside (`timeout`, a job's limit) or by --time-budget keeps what finished: SIGTERM
        # and Ctrl-C end the case in flight, and the finished cases are reported and saved as an incomplete run.
        started, done, stopped = time.monotonic(), 0, None
        with sigterm_interrupts():
            try:
                for b, case in plan:
                    if time_budget is not None and time.monotonic() - started > time_budget:
                        stopped = f"--time-budget {time_budget:g} s spent"
                        break
                    progress.update(task, description=f"{b.op} {case.label}")
                    impls = dict(b.impls)
                    if baselines:
                        if b.op not in compiled_for:
                            # Ops may share one reference function (e.g. the gated activations): dynamo's
                            # recompile limit per code object would silently fall back to eager. Start clean.
                            torch._dynamo.reset()
                            compiled_for[b.op] = core.baseline_impls(b)
                        impls.update(compiled_for[b.op])
                    rows += core.run_case(b, case, impls, ceilings, l2)
                    done += 1
                    progress.advance(task)
            except KeyboardInterrupt:
                stopped = "interrupted"
    if stopped is not None and not rows:
        raise KernelkitError(f"bench {stopped} before any case finished: nothing to report or save", exit_code=1)
    core.add_speedups(rows)
    doc = core.results_document(rows, ceilings, core.environment(project))
    if stopped is not None:
        doc["incomplete"] = core.incomplete_record(stopped, [f"{b.op} {c.label}" for b, c in plan[done:]])
        console.print(
            f"[yellow]incomplete[/]: {stopped}; {done} of {len(plan)} cases finished, "
            f"{len(plan) - done} not run (listed in the results)",
            soft_wrap=True,
        )
    _render(doc)
    if json_path:
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    if save or plot:
        for path in core.save(doc, project, with_plot=plot):
            console.print(f"wrote {path}", markup=False)
    if old is not None:
        verdicts = core.compare(old, doc)
        slower = [v for v in verdicts if v.regressed]
        # Only our own rows fail the run: a baseline (torch.compile, Liger, ...) that got slower since is
        # news about its version or the machine, not a regression of this library.
        regressed = [v for v in slower if core.is_ours(v.impl)]
        for v in slower:
            label = "[red]regressed[/]" if core.is_ours(v.impl) else "[yellow]baseline slower[/]"
            since = f" (vs {v.old_source})" if v.old_source else ""
            console.print(
                f"{label} {v.op} {v.case} {v.impl}: {v.old_us:.2f} → {v.new_us:.2f} µs ({v.change:+.0%}){since}",
                soft_wrap=True,
            )
        agree = sum(v.within_spread for v in verdicts)
        console.print(
            f"compare: {len(verdicts)} rows matched, {len(regressed)} of ours regressed (> 5% slower beyond noise), "
            f"{len(slower) - len(regressed)} baseline rows slower; {agree}/{len(verdicts)} within each other's p20–p80",
            soft_wrap=True,
        )
        if regressed and stopped != "interrupted":
            raise typer.Exit(1)
    if stopped == "interrupted":  # as a shell reports Ctrl-C: the caller asked for all of it and did not get it
        raise typer.Exit(130)


def _without_unbuilt_feature_ops(project, names: list[str], named: bool) -> list[str]:
    """An op of a build feature's list (FP4, CUTLASS) has no kernel in a build without the feature: named ones
    are refused with the fix, the default 'every op' skips them with a note."""
    ops = None
    for state in features.statuses(project):
        if state.state is features.State.BUILT:
            continue
        ops = registry.scan(project) if ops is None else ops
        lacking = [n for n, op in ops.items() if state.feature.name in op.needs and n in names]
        if not lacking:
            continue
        feature = state.feature
        if named:
            # A feature off by default needs its flag whatever the state; for one on by default, the state says how.
            fix = "" if feature.on_by_default else f"; rebuild with `{feature.build_command}`"
            raise KernelkitError(
                f"{', '.join(lacking)}: {feature.title} op{'s' if len(lacking) > 1 else ''} but the library has no "
                f"{feature.gates} ({state.describe()}){fix}",
                exit_code=2,
            )
        console.print(
            f"[yellow]skipping {feature.title} ops[/] {', '.join(lacking)}: {state.describe()}", soft_wrap=True
        )
        names = [n for n in names if n not in lacking]
    return names


def _parse_tokens(text: str) -> list[int]:
    values = []
    for item in (t.strip() for t in text.split(",")):
        if not item.isdigit() or int(item) < 1:
            raise KernelkitError(
                f"--tokens: '{item}' is not a token count (positive integers, e.g. 1,2048)", exit_code=2
            )
        values.append(int(item))
    return values


def _render(doc: dict) -> None:
    c = doc["ceilings"]
    console.print(
        f"[bold]{doc['device']}[/]: copy {c['copy_gbs']:.0f} GB/s, "
        f"bf16 GEMM {c['bf16_tflops']:.0f} TFLOP/s"
        + (f", fp8 {c['fp8_tflops']:.0f} TFLOP/s" if c.get("fp8_tflops") else "")
        + (f", int8 {c['int8_tops']:.0f} TOP/s" if c.get("int8_tops") else "")
        + " (measured). "
        "µs: GPU time per call, median (p20–p80); %: share of the binding ceiling; "
        "@size: of a copy moving the same bytes (mid-size copies run below the ceiling).",
        soft_wrap=True,
    )
    by_op: dict[str, list[dict]] = {}
    for r in doc["rows"]:
        by_op.setdefault(r["op"], []).append(r)
    for op, rows in by_op.items():
        shape = " ".join(f"{k}={v}" for k, v in rows[0]["shape"].items())
        table = Table(title=f"{op}  ({shape} {rows[0]['dtype']})", title_justify="left")
        for col in ("T", "impl", "µs", "p20–p80", "GB/s", "%", "@size", "vs torch", "vs compile"):
            table.add_column(col, justify="left" if col == "impl" else "right")
        for r in rows:
            table.add_row(
                str(r["tokens"]),
                r["impl"],
                f"{r['us']:.2f}",
                f"{r['us_p20']:.2f}–{r['us_p80']:.2f}",
                f"{r['gbs']:.0f}",
                f"{r['pct_of_ceiling']:.0f}%",
                f"{r['pct_of_size_copy']:.0f}%" if r.get("pct_of_size_copy") else "",
                f"{r['speedup_vs_torch']:.2f}×" if r.get("speedup_vs_torch") else "",
                f"{r['speedup_vs_compile']:.2f}×" if r.get("speedup_vs_compile") else "",
                style="bold" if r["impl"] == "kernelkit" else None,
            )
        console.print(table)
