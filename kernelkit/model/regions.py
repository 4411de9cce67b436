"""Marker-delimited regions of the files `new`/`remove` edit: `kernelkit:<name>-begin` ... `-end`.

A region holds entries sorted by key (the op name). An entry is one line ("lines" regions: the CMake
op lists, exports; a line with open parentheses takes the lines up to the one closing them) or a run of
lines separated from the next by a blank line ("blocks" regions). Edits only ever touch the inside of a region,
so what they do is deterministic and reversible: insert then remove gives back the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kernelkit.errors import KernelkitError


@dataclass(frozen=True)
class RegionSpec:
    name: str  # marker name: kernelkit:<name>-begin / -end
    key: Callable[[str], str | None]  # op name of an entry (first line of a block), None if not an entry
    blocks: bool = False
    sort_by_text: bool = False  # order entries by their text (e.g. paths) instead of by op name
    entry_shape: str = "one entry per line"  # what an entry looks like, for messages about a line that is none

    @property
    def begin(self) -> str:
        return f"kernelkit:{self.name}-begin"

    @property
    def end(self) -> str:
        return f"kernelkit:{self.name}-end"


def key_by(pattern: str) -> Callable[[str], str | None]:
    regex = re.compile(pattern)

    def key(text: str) -> str | None:
        match = regex.search(text)
        return match.group(1) if match else None

    return key


@dataclass(frozen=True)
class Entry:
    key: str
    text: str  # the entry's lines joined with "\n" (no trailing newline)
    line: int  # 1-based line of its first line in the file


def _bounds(lines: list[str], spec: RegionSpec, path: str) -> tuple[int, int]:
    begins = [i for i, line in enumerate(lines) if spec.begin in line]
    ends = [i for i, line in enumerate(lines) if spec.end in line]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        at = [
            f"{kind} at line {', '.join(str(i + 1) for i in found)}"
            for kind, found in (("begin", begins), ("end", ends))
            if found
        ]
        raise KernelkitError(
            f"{path}: expected exactly one '{spec.begin}' ... '{spec.end}' region "
            f"(found {len(begins)} begin and {len(ends)} end markers{'; ' if at else ''}{', '.join(at)}); kernelkit "
            "edits only between one pair of them: restore the markers (`git diff` shows what changed) and run it again"
        )
    return begins[0], ends[0]


def _split(body: list[str], spec: RegionSpec, first_line: int) -> list[tuple[list[str], int]]:
    """Body lines -> entries (lines, 1-based line). Blocks are separated by blank lines; in a lines region an
    entry whose parentheses are open goes on to the line that closes them (an import a formatter wrapped)."""
    if not spec.blocks:
        groups, depth = [], 0
        for i, line in enumerate(body):
            if depth > 0:
                groups[-1][0].append(line)
            else:
                groups.append(([line], first_line + i))
            depth = max(0, depth + line.count("(") - line.count(")"))
        return groups
    groups: list[tuple[list[str], int]] = []
    current: list[str] = []
    start = first_line
    for i, line in enumerate(body):
        if line.strip():
            if not current:
                start = first_line + i
            current.append(line)
        elif current:
            groups.append((current, start))
            current = []
    if current:
        groups.append((current, start))
    return groups


def _key_of(lines: list[str], spec: RegionSpec) -> str | None:
    if len(lines) > 1 and not spec.blocks:
        return spec.key("\n".join(lines))
    for line in lines:
        key = spec.key(line)
        if key:
            return key
    return None


def entries(text: str, spec: RegionSpec, path: str = "<file>") -> list[Entry]:
    lines = text.split("\n")
    begin, end = _bounds(lines, spec, path)
    out = []
    for group, line_no in _split(lines[begin + 1 : end], spec, begin + 2):
        key = _key_of(group, spec)
        if key is not None:
            out.append(Entry(key, "\n".join(group), line_no))
    return out


def _render(lines: list[str], begin: int, end: int, groups: list[list[str]], spec: RegionSpec) -> str:
    body: list[str] = []
    for i, group in enumerate(groups):
        if spec.blocks and i:
            body.append("")
        body.extend(group)
    return "\n".join(lines[: begin + 1] + body + lines[end:])


def _keeping_newlines(edit):
    """Edits work on "\n" lines; a CRLF file gets its CRLF back (new lines included)."""

    def wrapper(text: str, *args, **kwargs) -> str:
        if "\r\n" not in text:
            return edit(text, *args, **kwargs)
        return edit(text.replace("\r\n", "\n"), *args, **kwargs).replace("\n", "\r\n")

    return wrapper


def natural(text: str) -> list:
    """Sort key of `text` in natural order, digits by value (op9 before op10), as ruff's isort orders imports."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


@_keeping_newlines
def insert(text: str, spec: RegionSpec, key: str, entry: str, path: str = "<file>") -> str:
    """Insert `entry` (lines for `key`) keeping the region sorted; refuses a key already there."""
    lines = text.split("\n")
    begin, end = _bounds(lines, spec, path)
    groups = [g for g, _ in _split(lines[begin + 1 : end], spec, begin + 2)]
    keys = [_key_of(g, spec) for g in groups]
    if key in keys:
        raise KernelkitError(f"{path}: '{key}' already has an entry in region {spec.name}")
    new = entry.rstrip("\n").split("\n")
    if spec.sort_by_text:
        sort_keys = [natural("\n".join(g).strip()) if k is not None else None for g, k in zip(groups, keys)]
        mine = natural("\n".join(new).strip())
    else:
        sort_keys, mine = [natural(k) if k is not None else None for k in keys], natural(key)
    # After the last entry when it sorts last: a formatter's blank line (or a comment) before the end
    # marker stays where it is.
    last = max((i for i, k in enumerate(sort_keys) if k is not None), default=-1)
    position = next((i for i, k in enumerate(sort_keys) if k is not None and k > mine), last + 1)
    groups.insert(position, new)
    return _render(lines, begin, end, groups, spec)


@_keeping_newlines
def remove(text: str, spec: RegionSpec, key: str, path: str = "<file>") -> str:
    """Take out the one entry of `key` (refused as `removable` refuses)."""
    lines = text.split("\n")
    begin, end = _bounds(lines, spec, path)
    removable(text, spec, key, path)
    split = _split(lines[begin + 1 : end], spec, begin + 2)
    kept = [g for g, _ in split if _key_of(g, spec) != key]
    return _render(lines, begin, end, kept, spec)


def removable(text: str, spec: RegionSpec, key: str, path: str = "<file>", *, required: bool = True) -> None:
    """Refuses, saying where, when the region holds no entry of `key` (with `required`), two of them, or a line
    that names `key` but is no entry (hand-edited: only the user knows what it should become)."""
    lines = text.replace("\r\n", "\n").split("\n")
    begin, end = _bounds(lines, spec, path)
    mine = [line_no for g, line_no in _split(lines[begin + 1 : end], spec, begin + 2) if _key_of(g, spec) == key]
    if not mine and required:
        raise KernelkitError(f"{path}: no entry for '{key}' in region {spec.name}")
    if len(mine) > 1:
        raise KernelkitError(
            f"{path}:{mine[1]}: a second entry for '{key}' in region {spec.name} (the first is at line {mine[0]}); "
            "kernelkit writes one: delete the extra one, then run it again",
            exit_code=2,
        )
    stray = [(n, line) for n, line in stray_lines(text, spec, path) if re.search(rf"\b{re.escape(key)}\b", line)]
    if stray:
        line_no, line = stray[0]
        raise KernelkitError(
            f"{path}:{line_no}: '{line.strip()}' in region {spec.name} names '{key}' but is not an entry kernelkit "
            f"writes ({spec.entry_shape}), so it is left to you: make it that "
            "entry again or take it out, then run it again",
            exit_code=2,
        )


def stray_lines(text: str, spec: RegionSpec, path: str = "<file>") -> list[tuple[int, str]]:
    """(1-based line, text) of every line inside the region that is neither part of an entry, nor blank, nor a
    comment: what kernelkit cannot read (hand edits: two entries on a line, a renamed import, ...)."""
    lines = text.replace("\r\n", "\n").split("\n")
    begin, end = _bounds(lines, spec, path)
    stray = []
    for group, line_no in _split(lines[begin + 1 : end], spec, begin + 2):
        if _key_of(group, spec) is not None:
            continue
        for offset, line in enumerate(group):
            if line.strip() and not line.strip().startswith("#"):
                stray.append((line_no + offset, line))
    return stray
