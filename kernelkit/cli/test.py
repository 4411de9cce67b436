"""`kernelkit test`: pytest over the chosen ops' tests, saying what was skipped for want of a GPU."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kernelkit.builder import testrun
from kernelkit.cli._ui import console, handles_errors
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project


@handles_errors
def test(
    ops: Annotated[
        Optional[list[str]], typer.Argument(help="Ops whose tests to run (default: the whole suite).")
    ] = None,
    keyword: Annotated[Optional[str], typer.Option("-k", help="Only tests matching this pytest -k expression.")] = None,
    gpu: Annotated[
        Optional[bool], typer.Option("--gpu/--cpu", help="Only the GPU tests, or only the CPU tests (default: both).")
    ] = None,
    pytest_args: Annotated[
        Optional[list[str]], typer.Option("--pytest-arg", help="Extra argument passed to pytest (repeatable).")
    ] = None,
) -> None:
    """Run the tests of the given ops (or all) with pytest."""
    project = find_project()
    device = None if gpu is None else ("gpu" if gpu else "cpu")
    if device == "gpu" and not _cuda_visible():
        raise KernelkitError("--gpu: no CUDA GPU is visible to torch here, so no GPU test can run", exit_code=1)
    summary = testrun.run_tests(project, ops or [], keyword, device, pytest_args or [])
    if summary.gpu_skipped:
        console.print(
            f"[yellow]{summary.gpu_skipped} GPU test{'s' if summary.gpu_skipped != 1 else ''} skipped:[/] "
            "no CUDA GPU visible to torch; run them on a machine with one.",
            soft_wrap=True,
        )
    if summary.passed + summary.failed + summary.skipped == 0 and summary.exit_code in (0, 5):
        raise KernelkitError("no tests selected (check the op names and -k)", exit_code=5)
    raise typer.Exit(summary.exit_code)


def _cuda_visible() -> bool:
    import torch

    return torch.cuda.is_available()
