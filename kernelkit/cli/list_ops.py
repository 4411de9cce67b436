"""`kernelkit list`: the ops of the project, with their dtypes, tests, benches and last bench result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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
    """List the ops: the build features each needs, category, dtypes, test, bench and last benchmark result.

    One line per op: the columns a narrow terminal has no room for are left out and named under the table (--json
    has every field). Which build features (FP4, CUTLASS) the built library has is read from its bytes."""
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
    captions = [state.describe() for state in found.values()]
    columns = [  # (header, cells, drop order when the terminal is too narrow: lowest first; None = always shown)
        ("op", [r["op"] for r in rows], None),  # the name users copy into other commands: never cut
        (
            "needs",
            [" ".join(_feature_cell(f, r.get(f"{f}_built")) for f in op.needs) for r, op in zip(rows, ops.values())],
            4,
        ),
        ("category", [r["category"] or "?" for r in rows], 3),
        ("dtypes", [",".join(r["dtypes"]) for r in rows], 0),
        ("test", ["✓" if r["test"] else "[red]✗[/]" for r in rows], None),
        ("bench", ["✓" if r["bench"] else "[red]✗[/]" for r in rows], None),
        ("last bench", [r["last_bench"] or "[dim]—[/]" for r in rows], 1),
    ]
    if not any(columns[1][1]):
        columns.pop(1)  # no op needs a build feature: no empty column
    shown_columns, left_out = fit_columns(columns, console.width)
    if left_out:
        captions.append(
            f"left out at {console.width} columns: {', '.join(left_out)} (a wider terminal or --json shows them)"
        )
    table = Table(
        title=f"{project.name}: {len(rows)} ops (torch.ops.{project.namespace})", caption="\n".join(captions) or None
    )
    for header, _, _ in shown_columns:
        table.add_column(header, no_wrap=True)  # one line per op: a wrapped cell doubles the table's height
    for i in range(len(rows)):
        table.add_row(*(cells[i] for _, cells, _ in shown_columns))
    console.print(table)


def fit_columns(columns: list[tuple[str, list[str], int | None]], width: int) -> tuple[list, list[str]]:
    """The columns that fit `width` on one line per row, dropping droppable ones lowest order first, and the headers
    of those dropped. Widths as rich draws them: each column its widest cell + 2 of padding + 1 rule, plus 1."""

    def needed(cols) -> int:
        return 1 + sum(
            3 + max([Text.from_markup(c).cell_len for c in cells] + [len(header)]) for header, cells, _ in cols
        )

    kept = list(columns)
    left_out: list[str] = []
    for column in sorted((c for c in columns if c[2] is not None), key=lambda c: c[2]):
        if needed(kept) <= width:
            break
        kept.remove(column)
        left_out.append(column[0])
    return kept, left_out


def _feature_cell(feature: str, built: bool | None) -> str:
    """`fp4 ✓` built, `fp4 ✗` not built, `fp4 ?` unknown: the caption under the table says why and how."""
    return {True: f"{feature} ✓", False: f"[red]{feature} ✗[/]"}.get(built, f"{feature} ?")
