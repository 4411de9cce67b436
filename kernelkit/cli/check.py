"""`kernelkit check`: every op has all its files and shared lines (CMake, export), and they agree;
`--abi` also audits the built library's undefined symbols (one build, every torch >= 2.10)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from kernelkit import recovery
from kernelkit.builder import abi as abi_core
from kernelkit.builder import size as size_core
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.errors import shown
from kernelkit.model import registry
from kernelkit.project import find_project


@handles_errors
def check(
    abi: Annotated[
        bool,
        typer.Option(
            "--abi", help="Also audit the built .so: nothing from torch beyond the stable C shim (exit 1 otherwise)."
        ),
    ] = False,
    library: Annotated[
        Optional[Path],
        typer.Option("--library", metavar="SO", help="The .so --abi audits (default: the built library)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print findings as JSON.")] = False,
) -> None:
    """Report, with file:line, every op missing a piece or whose pieces disagree. Exit 1 on any finding."""
    project = find_project()
    report_repairs(recovery.repair_if_needed(project.root).messages)  # a cut-off run's leftovers are no finding
    ops = registry.scan(project)
    findings = registry.check(project, ops)
    over_budget = size_core.budget_message(project)
    if over_budget:
        findings.append(registry.Finding("(library)", over_budget, str(project.root / "pyproject.toml")))
    audit = None
    if abi or library is not None:
        audit = abi_core.audit(library or abi_core.built_library(project.python_package_dir))
    ok = not findings and (audit is None or audit.ok)
    if json_out:
        data = {"ok": ok, "ops": len(ops), "findings": [asdict(f) for f in findings]}
        if audit is not None:
            data["abi"] = audit.to_json()
        print_json(data)
        raise typer.Exit(0 if ok else 1)
    if findings:
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
    if audit is not None:
        print_abi(audit)
    raise typer.Exit(0 if ok else 1)


def print_abi(audit: abi_core.AbiReport) -> None:
    table = Table(title=f"undefined symbols of {audit.library.name}")
    table.add_column("kind")
    table.add_column("count", justify="right")
    table.add_column("verdict")
    table.add_column("examples", overflow="fold")
    for category, symbols in audit.by_category.items():
        if category in abi_core.ALLOWED:
            verdict = "[green]allowed[/]"
        elif category in abi_core.WARNING:
            verdict = "[yellow]needs a torch that declares it[/]"
        else:
            verdict = "[red]forbidden[/]"
        examples = ", ".join(shown(s.shown, 48) for s in symbols[:2]) + (", ..." if len(symbols) > 2 else "")
        table.add_row(category, str(len(symbols)), verdict, examples)
    console.print(table)
    newest = ", ".join(audit.newest[k] for k in ("GLIBC", "GLIBCXX", "CXXABI", "GCC") if k in audit.newest)
    console.print(f"newest runtime versions needed: {newest or 'none'}", markup=False)
    if not audit.shim_headers_found:
        console.print("[yellow]note:[/] torch's shim headers not found: every aoti_torch_*/torch_* C name counted")
    if audit.ok:
        console.print("[green]abi passed[/]: nothing from torch beyond the stable C shim; loads in any torch >= 2.10")
        return
    console.print(
        f"[red]abi failed[/]: {len(audit.forbidden)} symbol{'s' if len(audit.forbidden) != 1 else ''} tie this "
        "build to one torch or an unknown library:"
    )
    for sym in audit.forbidden:
        console.print(f"  {sym.shown}", markup=False, soft_wrap=True)
