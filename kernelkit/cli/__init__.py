"""The kernelkit command line: thin Typer commands over the core modules, rendered with Rich."""

from __future__ import annotations

import typer

from kernelkit import __version__
from kernelkit.cli import (
    bench,
    build,
    check,
    doctor,
    init,
    list_ops,
    new,
    profile,
    release,
    remove,
    sanitize,
    size,
    test,
)
from kernelkit.cli._ui import console

app = typer.Typer(
    name="kernelkit",
    help="Add, build, test and benchmark CUDA kernels of a PyTorch op library.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"kernelkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Add, build, test and benchmark CUDA kernels of a PyTorch op library."""


app.command("new")(new.new)
app.command("build")(build.build)
app.command("test")(test.test)
app.command("bench")(bench.bench)
app.command("check")(check.check)
app.command("list")(list_ops.list_ops)
app.command("size")(size.size)
app.command("profile")(profile.profile)
app.command("sanitize")(sanitize.sanitize)
app.command("remove")(remove.remove)
app.command("init")(init.init)
app.command("doctor")(doctor.doctor)
app.command("release")(release.release)


def main() -> None:
    app()
