"""What every command shares: the consoles, and turning KernelkitError into one red line + exit code."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from kernelkit.codegen import transaction
from kernelkit.errors import KernelkitError, shown

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1, details: list[str] | None = None) -> typer.Exit:
    # One line whatever the input it quotes held (a newline, a tab, a NUL); details carry what takes several.
    err_console.print(f"[bold red]error:[/] {escape(shown(message, None))}", soft_wrap=True)  # may hold [..]
    for line in details or []:
        err_console.print(f"  {line}", soft_wrap=True, markup=False)
    return typer.Exit(code)


def handles_errors(fn: F) -> F:
    """KernelkitError -> one red line (plus its details) and its exit code; never a traceback.

    Ctrl-C before a change is made: exit 130, saying what was undone. Ctrl-C after the change's point of no
    return (transaction.complete): the command finishes and reports, then a note says the change is whole."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with transaction.command_scope() as interrupts:
            try:
                return _run(fn, args, kwargs)
            finally:
                if interrupts.late:
                    err_console.print(
                        "[bold yellow]note:[/] Ctrl-C came when the change could no longer stop cleanly; kernelkit "
                        "finished it rather than leave it half made (nothing to redo)",
                        soft_wrap=True,
                    )

    return wrapper  # type: ignore[return-value]


def _run(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """`fn`, with every failure turned into one red line and an exit code."""
    try:
        return fn(*args, **kwargs)
    except KernelkitError as exc:
        raise fail(str(exc), exc.exit_code, exc.details) from None
    except KeyboardInterrupt as exc:
        raise fail(f"interrupted; {exc}" if str(exc) else "interrupted", 130) from None
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        raise typer.Exit(0) from None
    except Exception as exc:  # a kernelkit bug: still one line, the traceback on request
        if os.environ.get("KERNELKIT_TRACEBACK"):
            raise
        raise fail(
            f"internal error: {type(exc).__name__}: {exc} (set KERNELKIT_TRACEBACK=1 for the traceback and report it)",
            70,
        ) from None


def report_repairs(messages: list[str]) -> None:
    """What the repair of a cut-off earlier run did or asks for, on stderr (--json output stays clean)."""
    for message in messages:
        err_console.print(f"[bold yellow]earlier run:[/] {escape(message)}", soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for scripts.
    print(json.dumps(data, indent=2, default=str))


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (`timeout`, a job scheduler) as Ctrl-C, so the runs in flight are ended, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt("terminated")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
