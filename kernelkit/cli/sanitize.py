"""`kernelkit sanitize`: the ops' GPU tests under compute-sanitizer, a summary per op."""

from __future__ import annotations

import datetime
import importlib.util
import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from kernelkit.builder import cudatools
from kernelkit.builder import sanitize as core
from kernelkit.cli._ui import console, err_console, handles_errors, print_json, sigterm_interrupts
from kernelkit.errors import KernelkitError
from kernelkit.perf.harness import device_slug, git_commit
from kernelkit.project import Project, find_project

_STYLE = {"clean": "green", "no GPU tests": "dim", "errors": "bold red"}


@handles_errors
def sanitize(
    ops: Annotated[Optional[list[str]], typer.Argument(help="Ops whose GPU tests to run (default: every op).")] = None,
    tool: Annotated[
        str, typer.Option("--tool", help=f"The sanitizer tool: {', '.join(core.TOOLS)}.", metavar="TOOL")
    ] = "memcheck",
    print_limit: Annotated[
        int, typer.Option("--print-limit", min=1, help="Reports printed per process (all are counted).")
    ] = core.DEFAULT_PRINT_LIMIT,
    keyword: Annotated[Optional[str], typer.Option("-k", help="Only tests matching this pytest -k expression.")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Ops sanitized at the same time.")] = 1,
    test_workers: Annotated[
        int,
        typer.Option(
            "--test-workers",
            min=1,
            help="pytest-xdist workers per op, under the op's one sanitizer (it follows them): an op with thousands "
            "of GPU tests finishes in a fraction of the time.",
        ),
    ] = 1,
    op_timeout: Annotated[
        Optional[float], typer.Option("--op-timeout", min=1, metavar="SECONDS", help="Stop an op's run after this.")
    ] = None,
    api_errors: Annotated[
        bool, typer.Option("--api-errors", help="memcheck: also report failed CUDA API calls (torch's probes too).")
    ] = False,
    padding: Annotated[
        int,
        typer.Option("--padding", min=0, metavar="BYTES", help="memcheck: guard bytes after every allocation."),
    ] = core.DEFAULT_PADDING,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (for scripts).")] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Write the summary to benchmarks/sanitize/<device>/<tool>.json and .md.")
    ] = False,
    sanitizer: Annotated[
        Optional[str],
        typer.Option(
            "--sanitizer",
            metavar="PATH",
            help=f"The compute-sanitizer to use (else ${cudatools.COMPUTE_SANITIZER.env}, PATH, CUDA_HOME, the wheel).",
        ),
    ] = None,
) -> None:
    """Run each op's GPU tests under compute-sanitizer and summarise the errors per op.

    Per op: errors by kind and the first report with file:line. Exit 1 when any op has errors, or its sanitizer run
    did not finish."""
    if tool not in core.TOOLS:
        raise KernelkitError(f"--tool {tool}: expected one of {', '.join(core.TOOLS)}", exit_code=2)
    if test_workers > 1 and importlib.util.find_spec("xdist") is None:
        raise KernelkitError(
            f"--test-workers {test_workers}: pytest-xdist is not installed (pip install pytest-xdist)", exit_code=2
        )
    project = find_project()
    selected = core.select(project, ops or [])
    if not selected:
        raise KernelkitError("no op has tests under tests/ops/: nothing to sanitize", exit_code=5)
    path = cudatools.find(cudatools.COMPUTE_SANITIZER, sanitizer)
    device = _gpu_name()
    out = err_console if json_out else console
    out.print(
        f"compute-sanitizer --tool {tool}: {len(selected)} op{'s' if len(selected) != 1 else ''}, {jobs} at a time"
        + (f", {test_workers} test workers each" if test_workers > 1 else "")
        + "; "
        f"logs in {escape(str(core.log_folder(project, tool)))}",
        soft_wrap=True,
    )
    commit, date = git_commit(project.root), datetime.date.today().isoformat()
    done: list[core.OpResult] = []

    def report(result: core.OpResult) -> None:
        done.append(result)
        style = _STYLE.get(result.status, "yellow")
        errors = f", {result.sanitizer.errors} error(s)" if result.sanitizer.errors else ""
        out.print(
            f"  [{style}]{escape(result.status)}[/] {escape(result.op)}{errors} ({result.seconds:.0f} s)",
            soft_wrap=True,
        )
        if save:  # after every op: a run stopped part-way still leaves what finished
            _save(project, core.summary_document(done, tool, device, commit, date))

    with sigterm_interrupts():
        results = core.run(
            project,
            selected,
            path,
            tool,
            jobs=jobs,
            on_done=report,
            print_limit=print_limit,
            keyword=keyword,
            timeout=op_timeout,
            api_errors=api_errors,
            padding=padding,
            test_workers=test_workers,
        )
    doc = core.summary_document(results, tool, device, commit, date)
    if save:
        for written in _save(project, doc):
            out.print(f"wrote {escape(str(written))}", soft_wrap=True)
    if json_out:
        print_json(doc)
    else:
        _render(doc)
    raise typer.Exit(0 if doc["ok"] else 1)


def _saved_folder(project: Project, device: str) -> Path:
    return project.root / "benchmarks" / "sanitize" / device_slug(device)


def _save(project: Project, doc: dict) -> list[Path]:
    folder = _saved_folder(project, doc["device"])
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{doc['tool']}.json", folder / f"{doc['tool']}.md"]
    paths[0].write_text(json.dumps(doc, indent=2) + "\n")
    paths[1].write_text(core.markdown(doc))
    return paths


def _render(doc: dict) -> None:
    table = Table(title=f"compute-sanitizer --tool {doc['tool']} on {doc['device']}", title_justify="left")
    for col in ("op", "status", "errors", "kinds (printed)", "first report", "tests ok/failed", "s"):
        table.add_column(col, justify="right" if col in ("errors", "s") else "left", overflow="fold")
    for o in doc["ops"]:
        first = o["first"]
        where = ""
        if first:
            where = first["where"] or (first.get("location") or {}).get("function") or ""
        kinds = ", ".join(f"{k} ×{n}" for k, n in o["by_kind"].items())
        table.add_row(
            o["op"],
            f"[{_STYLE.get(o['status'], 'yellow')}]{escape(o['status'])}[/]",
            str(o["errors"]),
            escape(kinds),
            escape(where),
            f"{o['tests']['passed']}/{o['tests']['failed']}",
            f"{o['seconds']:.0f}",
        )
    console.print(table)
    for o in doc["ops"]:
        if o["status"] == "clean" or o["status"] == "no GPU tests":
            continue
        console.print(f"[bold]{escape(o['op'])}[/]: {escape(o['status'])} — log {escape(o['log'])}", soft_wrap=True)
        if o["first"]:
            first = o["first"]
            loc = first.get("location") or {}
            console.print(f"  {escape(first['message'])}", soft_wrap=True)
            if loc:
                where = f" in {first['where']}" if first["where"] else ""
                console.print(f"    at {escape(loc.get('function') or '?')}{escape(where)}", soft_wrap=True)
            for line in first["details"]:
                console.print(f"    {escape(line)}", soft_wrap=True)
        for line in o["tool_errors"]:
            console.print(f"  sanitizer: {escape(line)}", soft_wrap=True)
        if o["first_failed_test"]:
            console.print(f"  first failed test: {escape(o['first_failed_test'])}", soft_wrap=True)
    failing = [o for o in doc["ops"] if o["status"] == "clean" and o["tests"]["failed"]]
    if failing:
        names = ", ".join(f"{o['op']} ({o['tests']['failed']})" for o in failing)
        console.print(
            f"[dim]tests failed under the sanitizer without a sanitizer error in {escape(names)}: with torch's caching "
            "allocator off (so memcheck sees each tensor's bounds) a CUDA graph capture that allocates is refused; "
            "`kernelkit test` judges correctness[/]",
            soft_wrap=True,
        )
    bad = [o["op"] for o in doc["ops"] if o["status"] not in ("clean", "no GPU tests")]
    console.print(
        f"{doc['errors']} sanitizer error(s); "
        + (f"[red]{len(bad)} op(s) not clean: {escape(', '.join(bad))}[/]" if bad else "[green]every op clean[/]"),
        soft_wrap=True,
    )


def _gpu_name() -> str:
    import torch

    if not torch.cuda.is_available():
        raise KernelkitError("kernelkit sanitize needs a CUDA GPU and none is visible to torch")
    return torch.cuda.get_device_name(0)
