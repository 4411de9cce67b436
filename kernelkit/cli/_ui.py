"""What every command shares: the consoles, and turning KernelkitError into one red line + exit code."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

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
    """KernelkitError -> one red line (plus its details) and its exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KernelkitError as exc:
            raise fail(str(exc), exc.exit_code, exc.details) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            raise typer.Exit(0) from None
        except Exception as exc:  # a kernelkit bug: still one line, the traceback on request
            if os.environ.get("KERNELKIT_TRACEBACK"):
                raise
            raise fail(
                f"internal error: {type(exc).__name__}: {exc} (set KERNELKIT_TRACEBACK=1 for the traceback "
                "and report it)",
                70,
            ) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for scripts.
    print(json.dumps(data, indent=2, default=str))
