"""`kernelkit list`: the ops of the project, with their dtypes, tests, benches and last bench result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kernelkit.builder import features
from kernelkit.cli._ui import console, handles_errors, print_json
from kernelkit.model import registry
from kernelkit.project import Project, find_project


def last_bench_results(project: Project) -> dict[str, str]:
    """op -> 'X µs (Y% of copy) @ case' from the newest saved `kernelkit bench` results, if any."""
    results_dir = project.benchmarks_dir / "results"
    files = sorted(results_dir.glob("*/*.json"), key=lambda p: p.stat().st_mtime) if results_dir.is_dir() else []
    summary: dict[str, str] = {}
    for path in files:  # newest last, so newer results overwrite older ones
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        for row in data.get("rows", []):
            if row.get("impl") != "kernelkit" or "op" not in row or "us" not in row:
                continue
            pct = row.get("pct_of_ceiling")
            summary[row["op"]] = (
                f"{row['us']:.3g} µs" + (f" {pct:.0f}%" if pct is not None else "") + f" T={row.get('tokens', '?')}"
            )
    return summary


@handles_errors
def list_ops(json_out: Annotated[bool, typer.Option("--json", help="Print the ops as JSON.")] = False) -> None:
    """List the ops: category, dtypes, test, bench, last benchmark result; which build features (FP4, CUTLASS)
    the built library has."""
    project = find_project()
    ops = registry.scan(project)
    bench = last_bench_results(project)
    found = {s.feature.name: s for s in features.statuses(project)}  # from the library's bytes: no import, no torch
    rows = []
    for op in ops.values():
        row = {
            "op": op.name,
            "category": op.category,
            "dtypes": op.dtypes,
            "schema": op.schema.render() if op.schema else None,
            "test": op.test is not None,
            "bench": op.bench is not None,
        }
        for name, state in found.items():  # per feature: is the op in its list, and is its kernel in the library
            row[name] = name in op.needs
            row[f"{name}_built"] = state.built if name in op.needs else None
        row["last_bench"] = bench.get(op.name)
        rows.append(row)
    if json_out:
        print_json(rows)
        return
    caption = "\n".join(state.describe() for state in found.values()) or None
    table = Table(title=f"{project.name}: {len(rows)} ops (torch.ops.{project.namespace})", caption=caption)
    table.add_column("op", no_wrap=True)  # the name users copy into other commands: never cut
    for col in ("category", "dtypes", "test", "bench", "last bench"):
        table.add_column(col)
    for r, op in zip(rows, ops.values()):
        table.add_row(
            r["op"]
            + (f" [dim]({', '.join(_feature_cell(f, r.get(f'{f}_built')) for f in op.needs)})[/]" if op.needs else ""),
            r["category"] or "?",
            ",".join(r["dtypes"]),
            "✓" if r["test"] else "[red]✗[/]",
            "✓" if r["bench"] else "[red]✗[/]",
            r["last_bench"] or "[dim]—[/]",
        )
    console.print(table)


def _feature_cell(feature: str, built: bool | None) -> str:
    return {True: f"{feature}: built", False: f"{feature}: not built"}.get(built, feature)
