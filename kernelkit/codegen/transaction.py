"""All-or-nothing changes to a project tree, under a lock, that survive being cut off.

A ChangeSet maps paths to their new text (or None to delete). `apply` first writes a journal
(`.kernelkit-journal.json`: every target with its staged copy and its backup), then stages every new
file next to its target (so the final move is a same-filesystem rename) and hard-links a backup of
every file it replaces or deletes, then swaps them in. The journal turning "applied" (an atomic
rename) is the commit point: before it, whatever stops the run (an error, Ctrl-C, SIGKILL) is undone,
in process or by `recover` at the start of the next command; after it the change stands and only
the backups are left to remove. `diff` renders the same change as a unified diff for --dry-run.

Ctrl-C (SIGINT) is held while a change is made: it stops the run at checkpoints while files are
staged (rolled back, exit 130), and once the swap has begun it lets the change finish; the command
then reports what it did, with a note, instead of an "interrupted" that would make a retry say
"already exists". `fault_point` names every step; KERNELKIT_FAULT=POINT:SIGNAL delivers that signal
to this process there (the interruption tests), KERNELKIT_FAULT_TRACE=FILE lists the points reached.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kernelkit.errors import KernelkitError

LOCK_NAME = ".kernelkit.lock"
JOURNAL_NAME = ".kernelkit-journal.json"
STAGED_SUFFIX = ".kernelkit-new"  # a new file's text, next to its target until the swap
BACKUP_SUFFIX = ".kernelkit-old"  # a hard link to the file a swap replaces or deletes, until the change stands
FAULT_ENV = "KERNELKIT_FAULT"
FAULT_TRACE_ENV = "KERNELKIT_FAULT_TRACE"
PENDING, APPLIED = "pending", "applied"
_JOURNAL_FORMAT = 1
# Folders never searched for leftover staging files: kernelkit writes nothing there.
_NOT_WALKED = frozenset(".git .venv build dist __pycache__ .pytest_cache .ruff_cache node_modules".split())


@dataclass
class ChangeSet:
    root: Path
    changes: dict[Path, str | None] = field(default_factory=dict)  # None: delete
    executable: set[Path] = field(default_factory=set)  # written with the x bits set (init's scripts)
    label: str = "a kernelkit command"  # how the next run names this one if it is cut off: "kernelkit new my_op"

    def write(self, path: Path, text: str, *, executable: bool = False) -> None:
        self.changes[path] = text
        if executable:
            self.executable.add(path)

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


def write_atomic(path: Path, data: bytes) -> None:
    """`data` into `path` through a rename: a run cut off midway leaves the old bytes or the new, never half."""
    tmp = path.with_name(f".{path.name}{STAGED_SUFFIX}")
    tmp.write_bytes(data)
    if path.exists():
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
    os.replace(tmp, path)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------- interrupts


@dataclass
class InterruptState:
    """Ctrl-C while a change is being made: held, then acted on where that is clean."""

    depth: int = 0  # nested interrupts_held() blocks
    pending: bool = False  # a Ctrl-C not acted on yet
    late: bool = False  # a Ctrl-C that came once the command could no longer stop cleanly: it finished instead
    final: bool = False  # past the command's point of no return
    scoped: bool = False  # inside a CLI command (command_scope): the handler stays until the command ends
    installed: bool = False
    previous: object = None


_interrupts = InterruptState()


def _on_sigint(signum: int, frame: object) -> None:
    if _interrupts.final:
        _interrupts.late = True
    else:
        _interrupts.pending = True


def _install_handler() -> None:
    st = _interrupts
    if st.installed:
        return
    try:
        st.previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread: no signal is delivered here anyway
        return
    st.installed = True


def _restore_handler() -> None:
    st = _interrupts
    if st.installed:
        signal.signal(signal.SIGINT, st.previous)  # type: ignore[arg-type]
        st.installed, st.previous = False, None


@contextlib.contextmanager
def interrupts_held() -> Iterator[InterruptState]:
    """Inside, Ctrl-C is recorded instead of raised: `checkpoint()` raises it where stopping is clean.

    Leaving the outermost block with one still pending raises it. Past the point of no return
    (`complete()`), a CLI command (command_scope) instead runs to its end, its report, and notes the
    interrupt; other callers get the KeyboardInterrupt once the change is whole. Nested blocks (apply
    inside a release) share the outermost's handler."""
    st = _interrupts
    if st.depth == 0:
        if not st.scoped:  # a fresh change outside any CLI command: nothing carries over
            st.pending = st.late = st.final = False
        _install_handler()
    st.depth += 1
    finished = False
    try:
        yield st
        finished = True
    finally:
        st.depth -= 1
        if st.depth == 0:
            if st.final:
                st.late, st.pending = st.late or st.pending, False
            if not (st.final and st.scoped):
                _restore_handler()
            stop = st.pending or (st.late and not st.scoped)
            st.pending = False
            if stop and finished:
                raise KeyboardInterrupt


def checkpoint() -> None:
    """A place where stopping is clean: a Ctrl-C held since the last one stops the run here."""
    st = _interrupts
    if st.pending and not st.final:
        st.pending = False
        raise KeyboardInterrupt


def interrupt_pending() -> bool:
    """Whether a Ctrl-C is held and not acted on yet (a step that failed meanwhile may have failed of it: a
    terminal's Ctrl-C reaches the git or pip a step runs, too)."""
    return _interrupts.pending


def complete() -> None:
    """The command's point of no return: a Ctrl-C from now on (or held until now) lets it finish."""
    st = _interrupts
    st.final = True
    st.late, st.pending = st.late or st.pending, False


@contextlib.contextmanager
def command_scope() -> Iterator[InterruptState]:
    """One CLI command: once it passes its point of no return, Ctrl-C is held until it has reported.

    The state it yields says afterwards (`late`) whether a Ctrl-C came that the command finished through."""
    st = _interrupts
    st.depth, st.pending, st.late, st.final, st.scoped = 0, False, False, False, True
    try:
        yield st
    finally:
        st.scoped = False
        st.final = False
        _restore_handler()


class Interrupted(KeyboardInterrupt):
    """Ctrl-C that stopped a change before its point of no return; the message says what was undone."""


def fault_point(name: str) -> None:
    """A named step of a change. KERNELKIT_FAULT=NAME:SIGNAL[,NAME:SIGNAL...] sends SIGNAL (INT, KILL, TERM...)
    to this process here, as a Ctrl-C or a kill at exactly this step would; KERNELKIT_FAULT_TRACE=FILE appends
    NAME to FILE (which points a command passes)."""
    trace = os.environ.get(FAULT_TRACE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(name + "\n")
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for item in spec.split(","):
        point, _, sig = item.strip().rpartition(":")
        if point != name:
            continue
        try:
            signum = signal.Signals["SIG" + sig.strip().upper().removeprefix("SIG")]
        except KeyError:
            raise KernelkitError(f"{FAULT_ENV}: '{item.strip()}': unknown signal '{sig}' (e.g. INT or KILL)") from None
        signal.raise_signal(signum)


def _before_swap(index: int, path: Path) -> None:
    """Hook between swaps; tests replace it to inject a failure midway."""


# ---------------------------------------------------------------------------------------- journal


@dataclass
class _Entry:
    target: Path
    staged: Path | None  # None: the target is deleted
    backup: Path | None  # None: the target did not exist
    sha256: str | None  # of the new text: tells the file this change wrote from one changed since


def _beside(path: Path, suffix: str) -> Path:
    return path.with_name(f".{path.name}{suffix}")


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _file_sha(path: Path) -> str | None:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return None


def _same_file(a: Path, b: Path) -> bool:
    """The same file (the backup's hard link), or the same bytes (a backup copied where links are not)."""
    try:
        return os.path.samefile(a, b) or a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _remove_if_empty(folder: Path) -> None:
    """Remove `folder` when nothing but Python's bytecode cache is in it."""
    with contextlib.suppress(OSError):
        leftovers = [p for p in folder.iterdir() if p.name != "__pycache__"]
        if leftovers:
            return
        cache = folder / "__pycache__"
        if cache.is_dir():
            for f in cache.iterdir():
                f.unlink()
            cache.rmdir()
        folder.rmdir()


@dataclass
class Journal:
    """What `apply` is doing, on disk before it touches anything, so a cut-off run can be undone or finished."""

    root: Path
    label: str
    entries: list[_Entry]
    made_dirs: list[Path]  # created by this change, outermost first
    state: str = PENDING
    pid: int = field(default_factory=os.getpid)

    @property
    def path(self) -> Path:
        return self.root / JOURNAL_NAME

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def save(self) -> None:
        data = {
            "kernelkit_journal": _JOURNAL_FORMAT,
            "state": self.state,
            "label": self.label,
            "pid": self.pid,
            "entries": [
                {
                    "target": self.rel(e.target),
                    "staged": self.rel(e.staged) if e.staged else None,
                    "backup": self.rel(e.backup) if e.backup else None,
                    "sha256": e.sha256,
                }
                for e in self.entries
            ],
            "made_dirs": [self.rel(d) for d in self.made_dirs],
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        # Whole or absent, never half-written. No fsync: what it guards against is a process cut off (the
        # kernel keeps its writes), not the machine losing power.
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, root: Path) -> Journal | None:
        path = root / JOURNAL_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("kernelkit_journal") != _JOURNAL_FORMAT or data["state"] not in (PENDING, APPLIED):
                raise ValueError("unknown format")
            at = lambda rel: root / rel if rel is not None else None  # noqa: E731
            entries = [_Entry(at(e["target"]), at(e["staged"]), at(e["backup"]), e["sha256"]) for e in data["entries"]]
            return cls(root, data["label"], entries, [root / d for d in data["made_dirs"]], data["state"], data["pid"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KernelkitError(
                f"{path}: a kernelkit journal it cannot read ({exc}); it describes a change an earlier run was "
                f"making: look at the *{STAGED_SUFFIX} and *{BACKUP_SUFFIX} files it names, then delete it"
            ) from None

    def roll_back(self) -> list[str]:
        """Put every target back as it was; what cannot be (changed by hand since) is listed and left alone."""
        conflicts: list[str] = []
        for e in reversed(self.entries):
            if e.staged is not None and _exists(e.staged):
                e.staged.unlink()
            if e.backup is not None:
                if not _exists(e.backup):  # never made (nothing was swapped yet) or already put back
                    continue
                if _exists(e.target) and _same_file(e.target, e.backup):  # not swapped yet
                    e.backup.unlink()
                elif not _exists(e.target) or (e.sha256 is not None and _file_sha(e.target) == e.sha256):
                    os.replace(e.backup, e.target)
                else:
                    conflicts.append(
                        f"{self.rel(e.target)} changed since the run was cut off; kept as it is, with the version "
                        f"before that run in {self.rel(e.backup)}: keep one of them and delete the other"
                    )
            elif e.staged is not None and _exists(e.target):  # a file the change created
                if _file_sha(e.target) == e.sha256:
                    e.target.unlink()
                else:
                    conflicts.append(
                        f"{self.rel(e.target)} did not exist before the run and is not what it wrote; kept as it is"
                    )
        if conflicts:
            return conflicts
        self._drop()
        for folder in reversed(self.made_dirs):
            _remove_if_empty(folder)
        return []

    def roll_forward(self) -> None:
        """The change stands: remove the backups, the folders its deletions emptied, and the journal."""
        for e in self.entries:
            for side in (e.staged, e.backup):
                if side is not None and _exists(side):
                    side.unlink()
        for e in self.entries:
            if e.staged is None:  # a deleted file may leave an empty category folder behind
                _prune_empty(e.target.parent, self.root)
        self._drop()

    def _drop(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ apply


def _make_root(root: Path) -> list[Path]:
    """The project folder and its missing parents (init), made now: the journal lives in it."""
    missing = [p for p in (root, *root.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
    return list(reversed(missing))


def _back_up(target: Path, backup: Path) -> None:
    backup.unlink(missing_ok=True)
    try:
        os.link(target, backup, follow_symlinks=False)  # a hard link: free, and the swap cannot touch it
    except OSError:  # a filesystem without hard links
        shutil.copy2(target, backup, follow_symlinks=False)


def apply(changes: ChangeSet, *, final: bool = True) -> None:
    """Make the change, all or nothing (see the module docstring).

    `final`: the change is the command's point of no return, so a Ctrl-C during the swap lets the command
    finish and report. A release passes False: its commit and tag still follow, and a Ctrl-C held during the
    swap stops the release at its next checkpoint, which undoes these files too."""
    root = changes.root
    with interrupts_held():
        checkpoint()
        made = _make_root(root)
        items = sorted(changes.changes.items())
        entries = [
            _Entry(
                path,
                _beside(path, STAGED_SUFFIX) if text is not None else None,
                _beside(path, BACKUP_SUFFIX) if _exists(path) else None,
                sha256(text.encode("utf-8")) if text is not None else None,
            )
            for path, text in items
        ]
        written = [path for path, text in items if text is not None]
        new_dirs = sorted({p for path in written for p in path.parents if root in p.parents and not p.exists()})
        journal = Journal(root, changes.label, entries, made + new_dirs)
        try:
            journal.save()
            fault_point("journal")
            checkpoint()
            for folder in new_dirs:
                folder.mkdir()
            for i, entry in enumerate(entries, 1):
                text = changes.changes[entry.target]
                if entry.staged is not None and text is not None:
                    write_exact(entry.staged, text)
                    if entry.backup is not None:
                        os.chmod(entry.staged, stat.S_IMODE(entry.target.stat().st_mode))
                    if entry.target in changes.executable:
                        os.chmod(entry.staged, stat.S_IMODE(entry.staged.stat().st_mode) | 0o111)
                if entry.backup is not None:
                    _back_up(entry.target, entry.backup)
                fault_point(f"stage-{i}")
                checkpoint()
            for i, entry in enumerate(entries):
                fault_point(f"swap-{i + 1}")
                _before_swap(i, entry.target)
                if entry.staged is None:
                    entry.target.unlink(missing_ok=True)
                else:
                    os.replace(entry.staged, entry.target)
            fault_point("swapped")
            journal.state = APPLIED
            journal.save()  # the commit point
        except BaseException as exc:
            problems = journal.roll_back()
            if problems:
                raise KernelkitError(
                    f"{changes.label} failed ({exc or type(exc).__name__}) and could not be fully undone:",
                    details=problems,
                ) from exc
            if isinstance(exc, KeyboardInterrupt):
                raise Interrupted("the change was rolled back: no file was changed") from None
            raise
        if final:
            complete()
        fault_point("applied")
        journal.roll_forward()
        fault_point("cleaned")


# --------------------------------------------------------------------------------------- recovery


def _leftover_files(root: Path) -> Iterator[Path]:
    for folder, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _NOT_WALKED]
        for name in names:
            if name.endswith((STAGED_SUFFIX, BACKUP_SUFFIX)):
                yield Path(folder) / name


def has_leftovers(root: Path) -> bool:
    """Whether a cut-off run left anything in `root` (a journal, staged or backup files, its lock file): cheap,
    no lock taken."""
    journal = root / JOURNAL_NAME
    if any(_exists(p) for p in (journal, journal.with_name(journal.name + ".tmp"), root / LOCK_NAME)):
        return True
    return next(_leftover_files(root), None) is not None


def recover(root: Path) -> list[str]:
    """Undo or finish what a cut-off `apply` left in `root`; one message per repair. The caller holds the lock.

    A journal still pending is rolled back (the run never reported success); an applied one is finished.
    Staged or backup files no journal names (left by a kernelkit before journals) are removed or reported."""
    messages: list[str] = []
    journal = Journal.load(root)
    if journal is not None:
        who = f"`{journal.label}` (pid {journal.pid})"
        if journal.state == APPLIED:
            journal.roll_forward()
            messages.append(
                f"{who} was cut off after its change was complete; removed the backups it left: the change stands"
            )
        else:
            conflicts = journal.roll_back()
            if conflicts:
                raise KernelkitError(
                    f"{who} was cut off while making its change, and undoing it would overwrite files changed "
                    f"since; kernelkit left them alone. Resolve each, then delete {JOURNAL_NAME}:",
                    details=conflicts,
                )
            messages.append(
                f"{who} was cut off before its change was complete; undid it: every file is as before that command"
            )
    else:
        (root / (JOURNAL_NAME + ".tmp")).unlink(missing_ok=True)  # cut off while writing it: nothing else done yet
    removed, kept = [], []
    for path in _leftover_files(root):
        if path.name.endswith(STAGED_SUFFIX):
            path.unlink()
            removed.append(os.path.relpath(path, root))
        else:
            kept.append(os.path.relpath(path, root))
    if removed:
        messages.append(
            f"removed {len(removed)} staged file{'s' if len(removed) != 1 else ''} an earlier cut-off run left "
            f"(never swapped in): {', '.join(sorted(removed))}"
        )
    for rel in sorted(kept):
        target = os.path.join(os.path.dirname(rel), os.path.basename(rel)[1 : -len(BACKUP_SUFFIX)])
        messages.append(
            f"{rel}: a backup of {target} an earlier cut-off run left, with no journal saying whether its change "
            f"was made; compare it with {target}, keep what is right and delete {rel}"
        )
    return messages


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
