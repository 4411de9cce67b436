"""`kernelkit size`: machine-code bytes per op and per arch in the built library, and the total."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from kernelkit.builder import size as size_core
from kernelkit.builder.buildsys import parse_archs
from kernelkit.cli._ui import console, handles_errors, print_json
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project


def _kb(n: int) -> str:
    return f"{n / 1000:,.1f}"


@handles_errors
def size(
    arch: Annotated[
        Optional[str], typer.Option("--arch", metavar="ARCH", help="Only this arch's cubins, e.g. 90a.")
    ] = None,
    cuobjdump: Annotated[
        Optional[str],
        typer.Option(
            "--cuobjdump",
            metavar="PATH",
            help=f"The cuobjdump to use (else ${size_core.CUOBJDUMP_ENV}, PATH, CUDA_HOME, the nvidia wheel).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the sizes as JSON (for scripts).")] = False,
) -> None:
    """Machine code (SASS) per op and arch, from each op's object file in the build; the biggest first."""
    if arch is not None:
        archs = parse_archs(arch)
        if len(archs) != 1:
            raise KernelkitError("--arch: give one arch, e.g. --arch 90a")
        arch = archs[0]
    report = size_core.measure(find_project(), cuobjdump, arch)
    if json_out:
        print_json(report.to_json())
        return
    archs = report.archs
    table = Table(title="machine code per op (kB = 1000 bytes), biggest first")
    table.add_column("op", overflow="fold")
    for a in archs:
        table.add_column(f"sm_{a} SASS kB", justify="right")
    table.add_column("kernels", justify="right")
    table.add_column("cubin kB", justify="right")
    table.add_column("share", justify="right")
    total = report.sass_bytes or 1
    for op in report.ops:
        cells = [_kb(op.archs[a].sass_bytes) if a in op.archs else "-" for a in archs]
        kernels = sum(s.kernels for s in op.archs.values())
        table.add_row(op.op, *cells, str(kernels), _kb(op.cubin_bytes), f"{op.sass_bytes / total:.1%}")
    per_arch = [_kb(sum(op.archs[a].sass_bytes for op in report.ops if a in op.archs)) for a in archs]
    kernels = sum(s.kernels for op in report.ops for s in op.archs.values())
    table.add_row("[bold]total[/]", *per_arch, str(kernels), _kb(report.cubin_bytes), "100%", end_section=True)
    console.print(table)
    if report.library_bytes is not None:
        line = f"{report.library.name}: {report.library_bytes / size_core.MB:.1f} MB"
        if report.budget_mb is not None:
            over = size_core.over_budget(report.library_bytes, report.budget_mb)
            line += f" ({'[red]over[/]' if over else 'within'} the budget of {report.budget_mb:g} MB)"
        console.print(line)
    else:
        console.print("the library (.so) is not linked yet: run `kernelkit build`")
