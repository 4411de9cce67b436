"""`kernelkit new NAME`: an op's own files (kernel, launcher header, binding, wrapper, test, bench), its CMake
line and its export, written all or nothing."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.tree import Tree

from kernelkit import recovery
from kernelkit.cli._ui import console, handles_errors, print_json, report_repairs
from kernelkit.codegen import scaffold, transaction
from kernelkit.model import features, layout, registry
from kernelkit.project import Project, find_project


@handles_errors
def new(
    name: Annotated[str, typer.Argument(help="Op name: a lowercase identifier, e.g. fused_add_rmsnorm.")],
    category: Annotated[
        Optional[str],
        typer.Option(
            "--category", "-c", help="Folder under library/csrc (existing or new). Default: misc, or --like's."
        ),
    ] = None,
    template: Annotated[
        Optional[str],
        typer.Option(
            "--template",
            "-t",
            help="elementwise (vectorised map; the default), rowwise (reduce then map, shaped like a norm) or custom "
            "(from --schema).",
        ),
    ] = None,
    schema: Annotated[
        Optional[str],
        typer.Option("--schema", help="For --template custom: 'NAME(Tensor! out, Tensor input, float eps) -> ()'."),
    ] = None,
    like: Annotated[
        Optional[str],
        typer.Option(
            "--like",
            metavar="EXISTING",
            help="Start from an existing op: copy its kernel, header, binding, wrapper, test and bench with the name "
            "replaced (same family helpers; same category unless -c is given).",
        ),
    ] = None,
    dtypes: Annotated[
        Optional[str], typer.Option("--dtypes", help="Comma-separated: bf16, fp16, fp32 (default: all).")
    ] = None,
    fp4: Annotated[
        bool,
        typer.Option(
            "--fp4",
            help="An FP4 op: in CMake's fp4-ops list, compiled and registered only in FP4 builds (kernelkit build "
            "--fp4); its wrapper raises a clear error and its tests skip without them. With --cutlass: an FP4 GEMM "
            "on CUTLASS, in the fp4-cutlass-ops list, compiled only when the build has both.",
        ),
    ] = False,
    cutlass: Annotated[
        bool,
        typer.Option(
            "--cutlass",
            help="A CUTLASS op (a GEMM on CUTLASS headers): in CMake's cutlass-ops list, compiled with the CUTLASS "
            "include path, only where the build finds the headers; its wrapper raises a clear error and its tests "
            "skip without them.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the unified diff; change nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print created/modified files as JSON.")] = False,
) -> None:
    """Add an op: kernel, launcher header, binding + registration, wrapper, test and bench; CMake line and export."""
    # The flags name the features the op needs; its CMake line goes into the list of exactly those (both: the
    # fp4-cutlass-ops list, compiled only when the build has both).
    needs = tuple(f.name for f, on in ((features.FP4, fp4), (features.CUTLASS, cutlass)) if on)
    project = find_project()
    request = scaffold.NewOp(
        name,
        category,
        template,
        scaffold.parse_dtypes(dtypes) if dtypes is not None else None,
        schema,
        needs,
        like,
    )
    with transaction.project_lock(project.root):
        report_repairs(recovery.repair(project.root).messages)  # what a cut-off earlier run left, first
        changes = scaffold.plan_new(project, request)
        files = scaffold.files_of(changes)
        if dry_run:
            _report(project, files, json_out, dry_run=True, diff=changes.diff())
            return
        changes.label = f"kernelkit new {name}"
        transaction.apply(changes)  # the point of no return: Ctrl-C from here on lets `new` finish and report
    op_list = registry.scan(project)[name].op_list  # a copy of an FP4 op is one, and so on
    _report(project, files, json_out, dry_run=False, name=name, op_list=op_list)


def _report(
    project: Project,
    files: dict,
    json_out: bool,
    *,
    dry_run: bool,
    diff: str = "",
    name: str = "",
    op_list: features.OpList | None = None,
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
    build = op_list.build_command if op_list else "kernelkit build"
    console.print(f"next: [bold]{build} && kernelkit test {name}[/]   (then `kernelkit bench {name}`)")
    for feature in op_list.needs if op_list else ():
        if feature.on_by_default:  # the command names no flag for it: say what the build needs
            console.print(f"{feature.article} {feature.title} op: compiled {feature.built_when}", soft_wrap=True)
