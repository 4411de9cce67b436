"""All-or-nothing changes to a project tree, under a lock.

A ChangeSet maps paths to their new text (or None to delete). `apply` stages every new file next
to its target first (so the final move is a same-filesystem rename), then swaps them in with
SIGINT held off; if anything fails before the last swap, every file is put back as it was, and
folders it created are removed. `diff` renders the same change as a unified diff for --dry-run.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.errors import KernelkitError

LOCK_NAME = ".kernelkit.lock"


@dataclass
class ChangeSet:
    root: Path
    changes: dict[Path, str | None] = field(default_factory=dict)  # None: delete

    def write(self, path: Path, text: str) -> None:
        self.changes[path] = text

    def delete(self, path: Path) -> None:
        self.changes[path] = None

    def current(self, path: Path) -> str | None:
        """The text `path` will have after this change (what is planned, else what is on disk)."""
        if path in self.changes:
            return self.changes[path]
        return read_exact(path) if path.is_file() else None

    @property
    def created(self) -> list[Path]:
        return sorted(p for p, t in self.changes.items() if t is not None and not p.exists())

    @property
    def modified(self) -> list[Path]:
        return sorted(p for p, t in self.changes.items() if t is not None and p.exists() and read_exact(p) != t)

    @property
    def deleted(self) -> list[Path]:
        return sorted(p for p, t in self.changes.items() if t is None and p.exists())

    def diff(self) -> str:
        chunks = []
        for path in sorted(self.changes):
            old = read_exact(path) if path.is_file() else ""
            new = self.changes[path] or ""
            if old == new and (self.changes[path] is not None or not path.exists()):
                continue
            rel = path.relative_to(self.root)
            chunks.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=f"a/{rel}" if path.exists() else "/dev/null",
                    tofile=f"b/{rel}" if self.changes[path] is not None else "/dev/null",
                )
            )
        return "".join(chunks)


def read_exact(path: Path) -> str:
    """The file's text with its line endings as they are (CRLF stays CRLF through an edit)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def write_exact(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _before_swap(index: int, path: Path) -> None:
    """Hook between swaps; tests replace it to inject a failure midway."""


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[list[int]]:
    """Ctrl-C during the swap is held until it is complete (or rolled back), then re-raised."""
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main thread: signals cannot arrive here anyway
        yield received
        return
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def apply(changes: ChangeSet) -> None:
    staged: list[tuple[Path, Path | None]] = []  # (target, staged file or None for delete)
    made_dirs: list[Path] = []
    try:
        for path, text in sorted(changes.changes.items()):
            if text is None:
                staged.append((path, None))
                continue
            for parent in reversed(path.parents):
                if not parent.exists() and changes.root in parent.parents:
                    parent.mkdir()
                    made_dirs.append(parent)
            tmp = path.with_name(f".{path.name}.kernelkit-new")
            staged.append((path, tmp))  # recorded first: a failure while writing it still cleans it up
            write_exact(tmp, text)
            if path.exists():
                os.chmod(tmp, path.stat().st_mode & 0o7777)
    except BaseException:
        _discard(staged, made_dirs)
        raise

    backups: dict[Path, str | None] = {p: (read_exact(p) if p.exists() else None) for p, _ in staged}
    done: list[Path] = []
    with _sigint_deferred():
        try:
            for i, (path, tmp) in enumerate(staged):
                _before_swap(i, path)
                if tmp is None:
                    path.unlink()
                else:
                    os.replace(tmp, path)
                done.append(path)
        except BaseException:
            for path in done:
                old = backups[path]
                if old is None:
                    path.unlink(missing_ok=True)
                else:
                    write_exact(path, old)
            _discard(staged, made_dirs)
            raise
        for path, tmp in staged:  # a deleted file may leave an empty category folder behind
            if tmp is None:
                _prune_empty(path.parent, changes.root)


def _discard(staged: list[tuple[Path, Path | None]], made_dirs: list[Path]) -> None:
    for _, tmp in staged:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    for folder in reversed(made_dirs):
        with contextlib.suppress(OSError):
            folder.rmdir()


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents and folder.is_dir():
        leftovers = [p for p in folder.iterdir() if p.name != "__pycache__"]
        if leftovers:
            return
        for cache in folder.glob("__pycache__"):
            for f in cache.iterdir():
                f.unlink()
            cache.rmdir()
        folder.rmdir()
        folder = folder.parent


@contextlib.contextmanager
def project_lock(root: Path) -> Iterator[None]:
    """One changing command per project at a time.

    An flock on .kernelkit.lock (the kernel drops it when its process dies, so there are no stale
    locks to guess about); the file holds the owner's pid for the message. After locking, the path
    must still name the locked file, else another process removed it meanwhile and we retry.
    """
    lock = root / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        except OSError as exc:  # a folder, a dangling link, no write permission: nothing kernelkit made
            raise KernelkitError(
                f"{lock}: cannot open the project's lock file ({exc.strerror}); kernelkit makes and removes it "
                f"itself around every change: remove what is there (e.g. `rm -r {LOCK_NAME}` in {root}) or make "
                "the folder writable, and run it again",
                exit_code=2,
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise KernelkitError(
                f"another kernelkit command (pid {owner}) is changing this project; wait for it to finish"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # before unlocking: a waiter then re-checks the path and retries
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
