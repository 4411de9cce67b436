"""Line wrapping for generated code, as the project's formatters would wrap it (clang-format with the
tree's .clang-format, ruff format), so a generated op is format-clean whatever the length of its name.

The templates wrap their own lines (only the shapes they produce are handled: a call or signature with
packed arguments, a call split ruff's way, comment and docstring paragraphs): no formatter needs to be
installed for `new` to write clean code. A copy of an existing op (`new --like`) is arbitrary code whose
names changed length; it goes through the project's formatters when they are at hand.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

COLUMNS = 120


def cpp_call(head: str, params: list[str], tail: str = "", indent: str = "") -> str:
    """`head(p1, p2, ...)tail`, a call, packed like clang-format's Google style: one line if it fits; else the
    fewer lines of the arguments aligned after the parenthesis and the arguments on the next lines (4 more
    spaces), the former on a tie."""
    one = f"{indent}{head}({', '.join(params)}){tail}"
    if len(one) <= COLUMNS:
        return one
    return _fewest_lines(_wrapped(head, params, tail, indent))


def cpp_signature(head: str, params: list[str], tail: str = "", indent: str = "") -> str:
    """A function's declaration or definition: as cpp_call, but aligned after the parenthesis unless that takes
    three more lines (or does not fit at all): clang-format weighs a break before the first parameter higher."""
    one = f"{indent}{head}({', '.join(params)}){tail}"
    if len(one) <= COLUMNS:
        return one
    candidates = _wrapped(head, params, tail, indent)
    aligned, below = candidates if len(candidates) == 2 else (None, candidates[0])
    if aligned is not None and aligned.count("\n") < below.count("\n") + 3:
        return aligned
    return below


def cpp_assign(lhs: str, callee: str, params: list[str], tail: str = "", indent: str = "") -> str:
    """`lhs = callee(p1, ...)tail` as clang-format wraps it: one line if it fits; else the fewest lines of the
    call on the next line (4 more spaces), the arguments aligned after the parenthesis, and the arguments on
    the next lines, preferred in that order on a tie."""
    one = f"{indent}{lhs} = {callee}({', '.join(params)}){tail}"
    if len(one) <= COLUMNS:
        return one
    below = f"{indent}{lhs} =\n" + cpp_call(callee, params, tail, indent + "    ")
    return _fewest_lines([below, *_wrapped(f"{lhs} = {callee}", params, tail, indent)])


def _wrapped(head: str, params: list[str], tail: str, indent: str) -> list[str]:
    """[aligned after the parenthesis (if every line fits), broken after it with 4 more spaces]."""
    pieces = [f"{p}," for p in params[:-1]] + [f"{params[-1]}){tail}"] if params else [f"){tail}"]
    aligned = _pack(f"{indent}{head}(", pieces, " " * (len(indent) + len(head) + 1))
    below = _pack(f"{indent}{head}(", pieces, indent + "    ", first_alone=True, force=True)
    return [text for text in (aligned, below) if text is not None]


def _fewest_lines(candidates: list[str]) -> str:
    return min(candidates, key=lambda text: text.count("\n"))  # min keeps the first of equals


def _pack(first: str, pieces: list[str], pad: str, first_alone: bool = False, force: bool = False) -> str | None:
    lines = [first] if first_alone else []
    current = "" if first_alone else first
    for piece in pieces:
        if not current:
            current = pad + piece
        elif current.endswith("(") and not first_alone:
            current += piece
        elif len(current) + 1 + len(piece) <= COLUMNS:
            current += " " + piece
        else:
            lines.append(current)
            current = pad + piece
        if len(current) > COLUMNS and not force:
            return None
    lines.append(current)
    return "\n".join(lines)


def py_call(head: str, args: list[str], indent: str = "    ", tail: str = "") -> str:
    """`head(a, b)tail` split as ruff format splits it: one line, else the arguments on one indented line,
    else one argument per line with a trailing comma."""
    one = f"{indent}{head}({', '.join(args)}){tail}"
    if len(one) <= COLUMNS:
        return one
    inner = f"{indent}    {', '.join(args)}"
    if len(inner) <= COLUMNS:
        return f"{indent}{head}(\n{inner}\n{indent}){tail}"
    body = "\n".join(f"{indent}    {a}," for a in args)
    return f"{indent}{head}(\n{body}\n{indent}){tail}"


def py_string(target: str, text: str, indent: str = "", prefix: str = "") -> str:
    """`target = "text"` (`prefix` before the quote: r, rf), else, as ruff format leaves a long string, its
    words in parenthesised pieces of at most COLUMNS characters; a piece without `{` drops an `f` prefix."""
    one = f'{indent}{target} = {prefix}"{text}"'
    if len(one) <= COLUMNS:
        return one
    width = COLUMNS - len(indent) - 4 - len(prefix) - 2
    pieces = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False, drop_whitespace=False)
    body = "\n".join(f'{indent}    {prefix if "{" in p else prefix.replace("f", "")}"{p}"' for p in pieces)
    return f"{indent}{target} = (\n{body}\n{indent})"


def comment(text: str, indent: str = "", prefix: str = "//") -> str:
    """Paragraphs (separated by blank lines) as `// ` comment lines of at most COLUMNS characters."""
    out = []
    for paragraph in text.strip("\n").split("\n\n"):
        words = " ".join(line.strip() for line in paragraph.splitlines())
        if not words:
            out.append(f"{indent}{prefix}")
            continue
        width = COLUMNS - len(indent) - len(prefix) - 1
        wrapped = textwrap.wrap(words, width=width, break_long_words=False, break_on_hyphens=False)
        if out:
            out.append(f"{indent}{prefix}")
        out += [f"{indent}{prefix} {line}" for line in wrapped]
    return "\n".join(out)


def docwrap(text: str, indent: str = "") -> str:
    """A docstring paragraph as lines of at most COLUMNS characters."""
    width = COLUMNS - len(indent)
    lines = textwrap.wrap(text, width=width, break_long_words=False, break_on_hyphens=False)
    return "\n".join(indent + line if i else line for i, line in enumerate(lines))


CPP_SUFFIXES = (".cu", ".cuh", ".cc", ".h")


def _clang_format(root: Path) -> str | None:
    """The clang-format of this environment (the PyPI wheel's, next to this Python) or on PATH, for a project
    that configures it (.clang-format at its root)."""
    if not (root / ".clang-format").is_file():
        return None
    beside = Path(sys.executable).parent / "clang-format"
    return str(beside) if beside.is_file() else shutil.which("clang-format")


def _ruff_configured(root: Path) -> bool:
    pyproject = root / "pyproject.toml"
    configured = (root / "ruff.toml").is_file() or (pyproject.is_file() and "[tool.ruff" in pyproject.read_text())
    return configured and importlib.util.find_spec("ruff") is not None


def with_project_formatters(root: Path, files: dict[Path, str]) -> dict[Path, str]:
    """`files` as the project's own formatters write them (clang-format with its .clang-format, ruff format
    with its ruff config), where the project has them and this environment has the tools; else unchanged.
    For code whose lines were not wrapped for it: an op copied under a name of another length."""
    clang_format, ruff = _clang_format(root), _ruff_configured(root)
    out = {}
    for path, text in files.items():
        cmd = None
        if clang_format and path.suffix in CPP_SUFFIXES:
            cmd = [clang_format, "--style=file", f"--assume-filename={path}"]
        elif ruff and path.suffix == ".py":
            cmd = [sys.executable, "-m", "ruff", "format", "--quiet", "--no-cache", "--stdin-filename", str(path), "-"]
        if cmd is None:
            out[path] = text
            continue
        proc = subprocess.run(cmd, input=text, capture_output=True, text=True, cwd=root)
        out[path] = proc.stdout if proc.returncode == 0 and proc.stdout else text
    return out
