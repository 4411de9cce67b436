"""`kernelkit check`: every op has all its files and shared lines (CMake, export), and they agree."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from kernelkit import recovery
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.model import registry
from kernelkit.project import find_project


@handles_errors
def check(json_out: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False) -> None:
    """Report, with file:line, every op missing a piece or whose pieces disagree. Exit 1 on any finding."""
    project = find_project()
    report_repairs(recovery.repair_if_needed(project.root).messages)  # a cut-off run's leftovers are no finding
    ops = registry.scan(project)
    findings = registry.check(project, ops)
    if json_out:
        print_json({"ok": not findings, "ops": len(ops), "findings": [asdict(f) for f in findings]})
    elif findings:
        table = Table(title=f"kernelkit check: {len(findings)} finding{'s' if len(findings) != 1 else ''}")
        table.add_column("op")
        table.add_column("where", overflow="fold")
        table.add_column("finding", overflow="fold")
        for f in findings:
            table.add_row(f.op, f.where, f.message)
        console.print(table)
    else:
        console.print(
            f"[green]check passed[/]: {len(ops)} ops, each with kernel, launcher header, binding and registration, "
            "CMake entry, wrapper, export, test and bench, all agreeing"
        )
    raise typer.Exit(1 if findings else 0)
