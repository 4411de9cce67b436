"""`kernelkit doctor`: is this machine ready to build and test the library, and if not, what fixes it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from kernelkit import recovery
from kernelkit.builder import doctor as checks_core
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project


@handles_errors
def doctor(
    json_out: Annotated[bool, typer.Option("--json", help="Print the checks as JSON (for scripts).")] = False,
) -> None:
    """Check the toolchain, torch, the GPU and the built library; exit 1 when a build requisite is missing."""
    try:
        project = find_project()
    except KernelkitError:
        project = None
    if project is not None:
        report_repairs(recovery.repair_if_needed(project.root).messages)
    checks, archs = checks_core.run_checks(project)
    report = checks_core.to_json(checks, archs)
    if json_out:
        print_json(report)
    else:
        table = Table(title="kernelkit doctor", show_lines=False)
        table.add_column("item")
        table.add_column("status")
        table.add_column("details", overflow="fold")
        table.add_column("fix", overflow="fold")
        for c in checks:
            problem = "broken" if c.detail.startswith("broken") else "too old" if "too old" in c.detail else None
            status = "[green]ok[/]" if c.ok else f"[red]{problem or 'missing'}[/]" if c.required else "[yellow]no[/]"
            table.add_row(c.name, status, c.detail, c.fix)
        table.add_row("archs", "", ",".join(archs) + " (a build without --arch)", "")
        console.print(table)
        if not report["ok"]:
            console.print("[red]a build requisite is missing: see the fix column[/]")
    raise typer.Exit(0 if report["ok"] else 1)
