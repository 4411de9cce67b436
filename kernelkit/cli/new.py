"""`kernelkit new NAME`: the five pieces of an op (plus test and bench), written all or nothing."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.tree import Tree

from kernelkit import layout, scaffold, transaction
from kernelkit.cli._ui import console, handles_errors, print_json
from kernelkit.project import Project, find_project


@handles_errors
def new(
    name: Annotated[str, typer.Argument(help="Op name: a lowercase identifier, e.g. fused_add_rmsnorm.")],
    category: Annotated[str, typer.Option("--category", "-c", help="Folder under library/csrc (existing or new).")] = "misc",
    template: Annotated[
        Optional[str],
        typer.Option("--template", "-t", help="elementwise (vectorised map; the default), rowwise (one reduction per row) or custom (from --schema)."),
    ] = None,
    schema: Annotated[
        Optional[str], typer.Option("--schema", help="For --template custom: 'NAME(Tensor! out, Tensor input, float eps) -> ()'.")
    ] = None,
    dtypes: Annotated[str, typer.Option("--dtypes", help="Comma-separated: bf16, fp16, fp32.")] = "bf16,fp16,fp32",
    fp4: Annotated[
        bool,
        typer.Option(
            "--fp4",
            help="An FP4 op: compiled only in FP4 builds (kernelkit build --fp4); kernel, binding and m.impl go to the "
            "fp4 regions, its wrapper raises a clear error and its tests skip without them.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the unified diff; change nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print created/modified files as JSON.")] = False,
) -> None:
    """Add an op: kernel, launcher declaration, m.def + m.impl, CMake entry, Python wrapper, test, bench."""
    project = find_project()
    if template is None:
        template = "custom" if schema else "elementwise"  # --schema alone means a custom op
    request = scaffold.NewOp(name, category, template, scaffold.parse_dtypes(dtypes), schema, fp4)
    with transaction.project_lock(project.root):
        changes = scaffold.plan_new(project, request)
        files = scaffold.files_of(changes)
        if dry_run:
            _report(project, files, json_out, dry_run=True, diff=changes.diff())
            return
        transaction.apply(changes)
    _report(project, files, json_out, dry_run=False, name=name, fp4=fp4)


def _report(
    project: Project, files: dict, json_out: bool, *, dry_run: bool, diff: str = "", name: str = "", fp4: bool = False
) -> None:
    rel = {k: [layout.rel(project, p) for p in v] for k, v in files.items()}
    if json_out:
        print_json({"dry_run": dry_run, **rel, **({"diff": diff} if dry_run else {})})
        return
    if dry_run:
        print(diff, end="")  # plain: a diff must survive copy/paste and pipes unwrapped
        console.print("[yellow]dry run: nothing was changed[/]")
        return
    tree = Tree(f"[bold]{name}[/] added")
    for kind, style in (("created", "green"), ("modified", "yellow"), ("deleted", "red")):
        if rel[kind]:
            branch = tree.add(f"[{style}]{kind}[/]")
            for path in rel[kind]:
                branch.add(path)
    console.print(tree)
    build = "kernelkit build --fp4" if fp4 else "kernelkit build"
    console.print(f"next: [bold]{build} && kernelkit test {name}[/]   (then `kernelkit bench {name}`)")
