"""`kernelkit profile`: one bench case of an op under Nsight Compute, as a short report per kernel."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.markup import escape

from kernelkit.builder import cudatools
from kernelkit.cli._ui import console, err_console, handles_errors, print_json
from kernelkit.errors import KernelkitError
from kernelkit.perf import harness
from kernelkit.perf import ncu as core
from kernelkit.project import find_project


@handles_errors
def profile(
    op: Annotated[str, typer.Argument(help="The op to profile (one with a bench file).")],
    case: Annotated[
        Optional[str],
        typer.Option(
            "--case",
            metavar="CASE",
            help='A bench case\'s label, e.g. "T=2048 hidden=4096 bfloat16" (default: the '
            "largest case, by bytes moved).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON (for scripts).")] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Write the report under benchmarks/profiles/<device>/ to commit (default: build/profiles/)."
        ),
    ] = False,
    ncu: Annotated[
        Optional[str],
        typer.Option(
            "--ncu", metavar="PATH", help=f"The ncu to use (else ${cudatools.NCU.env}, PATH, CUDA_HOME, /opt/nvidia)."
        ),
    ] = None,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Calls before the profiled one.")] = 3,
) -> None:
    """Run one bench case of OP once under Nsight Compute and report each kernel it launches in plain words.

    Per kernel: time, DRAM throughput, occupancy and what limits it, registers, spills, L2 hits and the top stall,
    and where the op sits against the measured ceiling."""
    project = find_project()
    bench = harness.load_bench(project, op)
    chosen = core.select_case(bench, case)
    tool = cudatools.find(cudatools.NCU, ncu)
    device = _gpu_name()
    with err_console.status("ceilings (measured once per device, then cached)"):
        ceilings = _ceilings()
    folder = core.output_folder(project.root, device, save)
    with err_console.status(f"ncu: {op} ({chosen.label})"):
        run = core.run_profile(project, bench, chosen, tool, folder, warmup=warmup)
    total = sum(k.duration_us or 0.0 for k in run.kernels)
    verdict = core.ceiling_verdict(bench, chosen, total, ceilings) if total > 0 else None
    stem = run.report.name.removesuffix(".ncu-rep")
    files = {"ncu_rep": str(run.report), "json": str(folder / f"{stem}.json"), "markdown": str(folder / f"{stem}.md")}
    doc = core.report_document(
        op, chosen, run.kernels, verdict, ceilings, run.device, files, harness.git_commit(project.root)
    )
    core.write_report(doc, folder, stem)
    if json_out:
        print_json(doc)
        return
    n = len(run.kernels)
    console.print(
        f"[bold]{escape(op)}[/] {escape(chosen.label)} on {escape(run.device)}: {n} kernel{'s' if n != 1 else ''}, "
        f"{total:.2f} µs under ncu (cold caches, clocks unlocked)",
        soft_wrap=True,
    )
    for k in doc["kernels"]:
        console.print(f"[bold cyan]{escape(k['short_name'])}[/]", soft_wrap=True)
        for line in k["summary"]:
            console.print(f"  {escape(line)}", soft_wrap=True)
    if doc["ceiling_summary"]:
        console.print(escape(doc["ceiling_summary"]), soft_wrap=True)
    console.print(
        f"full report: {escape(files['ncu_rep'])} (open it in Nsight Compute); summary: {escape(files['markdown'])}",
        soft_wrap=True,
    )


def _gpu_name() -> str:
    import torch

    if not torch.cuda.is_available():
        raise KernelkitError("kernelkit profile needs a CUDA GPU and none is visible to torch")
    return torch.cuda.get_device_name(0)


def _ceilings() -> harness.Ceilings:
    """The bench's ceilings for this device: its cache, or measured now (then cached) as `kernelkit bench` does."""
    import torch

    ceilings = harness.measure_ceilings()
    torch.cuda.empty_cache()  # the measuring buffers go before the profiled program starts
    return ceilings
