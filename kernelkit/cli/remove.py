"""`kernelkit remove NAME`: the exact inverse of `new`, all or nothing."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.tree import Tree

from kernelkit import recovery
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.codegen import scaffold, transaction
from kernelkit.errors import KernelkitError
from kernelkit.model import layout
from kernelkit.project import find_project


@handles_errors
def remove(
    name: Annotated[str, typer.Argument(help="The op to take out.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the unified diff; change nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print removed/modified files as JSON.")] = False,
) -> None:
    """Remove an op's kernel, launcher header, binding, wrapper, test and bench, its CMake line and its export."""
    project = find_project()
    with transaction.project_lock(project.root):
        report_repairs(recovery.repair(project.root).messages)  # what a cut-off earlier run left, first
        changes = scaffold.plan_remove(project, name)
        files = {k: [layout.rel(project, p) for p in v] for k, v in scaffold.files_of(changes).items()}
        if dry_run:
            if json_out:
                print_json({"dry_run": True, **files, "diff": changes.diff()})
            else:
                print(changes.diff(), end="")  # plain: a diff must survive pipes unwrapped (git apply)
                console.print("[yellow]dry run: nothing was changed[/]")
            return
        if not yes:
            if not typer.get_text_stream("stdin").isatty():
                raise KernelkitError(f"refusing to remove '{name}' without confirmation; pass --yes", exit_code=2)
            deleted, modified = files["deleted"], files["modified"]
            console.print(f"removes {len(deleted)} files and edits {len(modified)}: {', '.join(deleted)}")
            if not typer.confirm(f"Remove op '{name}'?"):
                raise typer.Exit(1)
        changes.label = f"kernelkit remove {name}"
        transaction.apply(changes)  # the point of no return: Ctrl-C from here on lets `remove` finish and report
    if json_out:
        print_json({"dry_run": False, **files})
        return
    tree = Tree(f"[bold]{name}[/] removed")
    for kind, style in (("deleted", "red"), ("modified", "yellow")):
        if files[kind]:
            branch = tree.add(f"[{style}]{kind}[/]")
            for path in files[kind]:
                branch.add(path)
    console.print(tree)
