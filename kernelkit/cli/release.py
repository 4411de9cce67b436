"""`kernelkit release [patch|minor|major|X.Y.Z]`: bump the version everywhere, changelog, commit, tag."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kernelkit import recovery
from kernelkit import release as core
from kernelkit.cli._ui import console, err_console, handles_errors, print_json, report_repairs
from kernelkit.codegen import transaction
from kernelkit.errors import KernelkitError
from kernelkit.model import layout
from kernelkit.project import find_project


@handles_errors
def release(
    bump: Annotated[
        str, typer.Argument(metavar="patch|minor|major|X.Y.Z", help="Which part to bump, or the new version itself.")
    ] = "patch",
    wheel: Annotated[
        bool,
        typer.Option(
            "--wheel",
            help="Also build the wheels (the library's with the manylinux tag its audit proves, the CLI's) and "
            "check each installs and imports in a fresh venv, the library's with only torch (before committing).",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff and the commit/tag it would make; change nothing.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a summary as JSON (for scripts).")] = False,
) -> None:
    """Bump every version place, add a CHANGELOG section, commit and tag vX.Y.Z (all or nothing).

    The CHANGELOG section lists the ops added, removed or changed in schema and the commits since
    the last tag."""
    project = find_project()
    with transaction.project_lock(project.root):
        # A release cut off between its commit and its tag is finished here (tagged), and is this run's result.
        repairs = recovery.repair(project.root, finish_release=not dry_run)
        report_repairs(repairs.messages)
        if repairs.released:
            _report_finished(repairs.released, json_out)
            return
        plan = core.plan_release(project, bump, wheel=wheel)
        if plan.warning:
            # stderr: the warning must not break --json on stdout.
            err_console.print(f"[bold yellow]warning:[/] [yellow]{escape(plan.warning)}[/]", soft_wrap=True)
        if dry_run:
            _report_dry_run(plan, json_out)
            return
        if not yes:
            if not typer.get_text_stream("stdin").isatty():
                raise KernelkitError(f"refusing to release {plan.tag} without confirmation; pass --yes", exit_code=2)
            _summary(plan)
            if not typer.confirm(f"Release {plan.tag}?"):
                raise typer.Exit(1)
        with err_console.status("releasing", spinner="dots") as status:
            done = core.execute(plan, on_step=lambda message: status.update(message))
    if json_out:
        print_json(done.to_json())
        return
    rel = lambda p: layout.rel(project, p)  # noqa: E731
    console.print(f"[green]released[/] [bold]{plan.tag}[/] ({plan.current} → {plan.version})")
    console.print(f"  commit  {done.commit[:12]}  {plan.commit_message}", markup=False, soft_wrap=True)
    console.print(f"  tag     {plan.tag} (annotated: the changelog section)", markup=False, soft_wrap=True)
    console.print(f"  files   {', '.join(rel(p) for p in plan.files)}", markup=False, soft_wrap=True)
    for wheel in done.wheels:
        console.print(f"  wheel   {_wheel_line(wheel, rel)}", markup=False, soft_wrap=True)
    console.print(f"next: [bold]git push && git push origin {plan.tag}[/]")


def _wheel_line(wheel: core.WheelCheck, rel) -> str:
    imported = ", ".join(f"{m} {v}" for m, v in wheel.imported.items())
    where = "in a fresh venv with only torch installed" if wheel.alone else "in a fresh venv"
    line = f"{rel(wheel.path)} ({_size(wheel.size)}); imports {imported} {where}"
    if wheel.ops is not None:
        line += f", {wheel.ops} ops registered"
    if wheel.audits:
        needs = [f"{p}_{a.needs[p]}" for a in wheel.audits[:1] for p in ("GLIBC", "GLIBCXX") if p in a.needs]
        torch_libs = sorted({lib for a in wheel.audits for lib in a.left_to_torch})
        line += f"; {wheel.tag}: needs {', '.join(needs)}"
        if torch_libs:
            line += f", {', '.join(torch_libs)} left to torch"
    return line


def _report_finished(tag: str, json_out: bool) -> None:
    if json_out:
        print_json({"dry_run": False, "finished": tag})
        return
    console.print(
        f"[green]released[/] [bold]{tag}[/] (the earlier, cut-off run's release, finished); not starting another: "
        "run `kernelkit release` again for a further one",
        soft_wrap=True,
    )
    console.print(f"next: [bold]git push && git push origin {tag}[/]")


def _summary(plan: core.Plan) -> None:
    rel = lambda p: layout.rel(plan.project, p)  # noqa: E731
    console.print(
        f"release [bold]{plan.tag}[/] ({plan.current} → {plan.version}), "
        f"since {escape(plan.previous_tag or 'the first commit')}",
        soft_wrap=True,
    )
    console.print(f"  edits   {', '.join(rel(p) for p in plan.files)}", markup=False, soft_wrap=True)
    console.print(f"  commit  {plan.commit_message}; annotated tag {plan.tag}", markup=False, soft_wrap=True)
    if plan.wheel:
        names = ", ".join(d.name for d in core.distributions(plan.project))
        console.print(
            f"  wheels  {names}: built, audited for a manylinux tag and import-checked in a fresh venv before the "
            "commit",
            markup=False,
            soft_wrap=True,
        )
    console.print(plan.section, markup=False, highlight=False, soft_wrap=True)


def _report_dry_run(plan: core.Plan, json_out: bool) -> None:
    diff = plan.changes.diff()
    if json_out:
        print_json({**plan.to_json(), "dry_run": True, "commit": None, "wheels": [], "diff": diff})
        return
    print(diff, end="")  # plain: a diff must survive copy/paste and pipes unwrapped
    console.print(
        f"would commit [bold]{plan.commit_message!r}[/] and tag [bold]{plan.tag}[/] "
        "(annotated, message: the CHANGELOG section)",
        soft_wrap=True,
    )
    if plan.wheel:
        names = ", ".join(d.name for d in core.distributions(plan.project))
        console.print(
            f"would build the wheels ({names}) into dist/, tag the library's manylinux as its audit proves, and "
            "check each installs and imports in a fresh venv, before committing",
            markup=False,
            soft_wrap=True,
        )
    console.print("[yellow]dry run: nothing was changed[/]")


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024**2:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 1024**2:.1f} MiB"
