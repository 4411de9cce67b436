"""`kernelkit init PATH`: a new standalone kernel library project where every kernelkit command works."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.tree import Tree

from kernelkit import recovery
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.codegen import initproject, transaction
from kernelkit.errors import KernelkitError


@handles_errors
def init(
    path: Annotated[Path, typer.Argument(help="Folder to create (must not exist, or be empty).")],
    name: Annotated[
        Optional[str], typer.Option("--name", help="Python package name (default: the folder's name).")
    ] = None,
    namespace: Annotated[
        Optional[str], typer.Option("--namespace", help="torch.ops namespace (default: the name).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the created files as JSON.")] = False,
) -> None:
    """Create a kernel library project: library/, tests/, benchmarks/, Makefile, README, pyproject."""
    package = name or re.sub(r"\W", "_", path.resolve().name).lower()
    report_repairs(recovery.repair_init_target(path.resolve()).messages)  # an earlier init of it, cut off
    changes = initproject.plan_init(path, package, namespace)
    created = [str(p.relative_to(changes.root)) for p in changes.created]
    changes.label = f"kernelkit init {path}"
    try:
        transaction.apply(changes)  # makes the folder too; rolled back, it is gone again
    except OSError as exc:
        raise KernelkitError(f"cannot create {path}: {exc.strerror or exc}", exit_code=2) from None
    if json_out:
        print_json({"path": str(changes.root), "name": package, "namespace": namespace or package, "created": created})
        return
    tree = Tree(f"[bold]{changes.root}[/] ({package}, torch.ops.{namespace or package})")
    for rel in created:
        tree.add(rel)
    console.print(tree)
    console.print(f"next: [bold]cd {path} && kernelkit new my_op --category demo && make test[/]")
