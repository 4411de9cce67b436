"""Ctrl-C and SIGKILL at every step of `new`, `remove`, `init` and `release` (issue 21, class 3).

Each case runs kernelkit as a process of its own with KERNELKIT_FAULT=POINT:SIGNAL, so that it sends itself
the signal at exactly that named step of its file transaction (or of the release), and then asserts:

- SIGINT (Ctrl-C): the command ends by itself, either rolled back (exit 130, saying so, the tree byte for
  byte as before) or complete (exit 0, its usual report plus a note, the tree byte for byte as a clean run
  leaves it); never a change applied and then reported as "interrupted".
- SIGKILL: the next command (`check`; `init` again; `check` then `release` again) says what the killed run
  left and repairs it, after which the tree is byte for byte as before or as after a clean run, with no
  journal, staged file, backup or lock left.

The point lists are checked against the points a clean run passes (KERNELKIT_FAULT_TRACE), so a step
added later without a case here fails. Runs are forked from one process that has kernelkit imported
(each is a real process with its own pid and signals; ~0.1 s instead of ~0.5 s to start Python).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernelkit import recovery
from kernelkit.codegen import initproject, transaction

pytest.importorskip("tomlkit", reason="kernelkit release needs tomlkit (pip install tomlkit)")

REPO_ROOT = Path(__file__).resolve().parents[2]
OP, CATEGORY = "my_op", "demo"
NEW = ("new", OP, "--category", CATEGORY)
REMOVE = ("remove", OP, "--yes")
INIT = ("init", "proj", "--json")
RELEASE = ("release", "patch", "--yes")
BOOKKEEPING = (transaction.JOURNAL_NAME, transaction.LOCK_NAME, ".kernelkit-release.json")
ROLLED_BACK = "error: interrupted; the change was rolled back: no file was changed"
RELEASE_ROLLED_BACK = "error: interrupted; the release was rolled back: files, HEAD and tags are as before"
LATE_NOTE = "note: Ctrl-C came when the change could no longer stop cleanly"


def transaction_points(entries: int) -> list[str]:
    """Every step of `transaction.apply` for a change of `entries` files, in order."""
    return [
        "journal",
        *(f"stage-{i}" for i in range(1, entries + 1)),
        *(f"swap-{i}" for i in range(1, entries + 1)),
        "swapped",
        "applied",
        "cleaned",
    ]


# 6 files of the op + the new category's __init__.py, and the CMake list and the package __init__.py edited.
NEW_POINTS = transaction_points(9)
REMOVE_POINTS = transaction_points(9)
INIT_POINTS = transaction_points(
    len(initproject.generic_files(initproject.generic_source_root()))
    + len(initproject.TEMPLATED_FILES)
    + len(initproject.KEEP_DIRS)
)
# pyproject.toml, the package __init__.py (__version__) and CHANGELOG.md.
RELEASE_POINTS = [
    "release-journal",
    *transaction_points(3),
    "release-files",
    "release-commit",
    "release-tag",
    "release-done",
]


def rolls_back(command_points: list[str], point: str, sig: str) -> bool:
    """Whether a run stopped at `point` by `sig` must end as if it never ran (else: as a clean run ends)."""
    if command_points is RELEASE_POINTS:  # Ctrl-C and SIGKILL alike are undone until the tag exists
        return RELEASE_POINTS.index(point) <= RELEASE_POINTS.index("release-commit")
    if sig == "INT":  # held once the swap has begun: the change then finishes
        return point == "journal" or point.startswith("stage-")
    return command_points.index(point) < command_points.index("applied")  # the journal's commit point


# ------------------------------------------------------------------------------------ fork server

# Started once per test session (per xdist worker): imports kernelkit from this checkout (never an editable
# install's copy elsewhere), then forks one child per command. The child is the command: its own pid,
# cwd, environment and stdio files; the reply is its exit status (negative: the signal that ended it).
_SERVER = r"""
import json, os, signal, sys, traceback
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith('_editable')]
sys.path.insert(0, sys.argv[1])
import kernelkit.cli
import kernelkit.codegen.initproject as _init
# init checks its namespace against torch's registered ones, which imports torch (2 s a run); the names
# used here are fixed and valid, so the static list is enough.
_init._torch_namespaces = lambda: set(_init.TORCH_NAMESPACES)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(120)  # a hung command dies instead of hanging the test session
            os.chdir(req["cwd"])
            os.environ.clear()
            os.environ.update(req["env"])
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 1)
            os.dup2(os.open(req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), 2)
            sys.argv = ["kernelkit", *req["args"]]
            try:
                kernelkit.cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:
                traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


@dataclass
class Run:
    code: int  # -9: killed by SIGKILL
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Kernelkit:
    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KERNELKIT_", "GIT_")) and k not in ("FORCE_COLOR", "PYTHONPATH")
        }
        # No color, one wide line per message, git isolated from the user's configuration.
        self.env.update(NO_COLOR="1", COLUMNS="250", TERM="dumb", GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
        self.env["GIT_CONFIG_GLOBAL"] = os.devnull
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(REPO_ROOT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.count = 0

    def __call__(self, cwd: Path, *args: str, fault: str | None = None, trace: Path | None = None) -> Run:
        self.count += 1
        out, err = self.scratch / f"{self.count}.out", self.scratch / f"{self.count}.err"
        env = dict(self.env)
        if fault:
            env[transaction.FAULT_ENV] = fault
        if trace:
            env[transaction.FAULT_TRACE_ENV] = str(trace)
        request = {"cwd": str(cwd), "env": env, "args": list(args), "out": str(out), "err": str(err)}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, "the fork server died"
        return Run(json.loads(reply), out.read_text(), err.read_text())

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def git(root: Path, *args: str, input: str | None = None) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, GIT_TERMINAL_PROMPT="0")
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, env=env, input=input)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout.strip()


# ---------------------------------------------------------------------------------------- trees


@dataclass(frozen=True)
class Tree:
    """Every file (bytes and whether it is executable) and folder under a root, .git and bytecode aside."""

    files: dict[str, tuple[bytes, bool]]
    dirs: frozenset[str]

    def diff(self, other: Tree) -> str:
        added = sorted(set(other.files) - set(self.files))
        removed = sorted(set(self.files) - set(other.files))
        changed = sorted(p for p in set(self.files) & set(other.files) if self.files[p] != other.files[p])
        parts = [f"{label}: {items}" for label, items in (("added", added), ("removed", removed), ("changed", changed))]
        parts += [
            f"folders added: {sorted(other.dirs - self.dirs)}",
            f"folders removed: {sorted(self.dirs - other.dirs)}",
        ]
        return "; ".join(parts)


def tree(root: Path) -> Tree:
    files, dirs = {}, set()
    for folder, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in (".git", "__pycache__")]
        rel = os.path.relpath(folder, root)
        dirs.update(os.path.normpath(os.path.join(rel, d)) for d in subdirs)
        for name in names:
            path = Path(folder) / name
            files[os.path.normpath(os.path.join(rel, name))] = (path.read_bytes(), os.access(path, os.X_OK))
    return Tree(files, frozenset(dirs))


def assert_tree(root: Path, expected: Tree, what: str) -> None:
    now = tree(root)
    assert now == expected, f"not {what}: {expected.diff(now)}"


def assert_no_leftovers(root: Path) -> None:
    left = [
        p for p in root.rglob("*") if p.name.endswith((".kernelkit-new", ".kernelkit-old")) or p.name in BOOKKEEPING
    ]
    assert not left, f"left behind: {left}"


# ------------------------------------------------------------------------------------- fixtures


@dataclass
class World:
    kk: Kernelkit
    base: Path  # an init project, committed and tagged v0.1.0, one commit after the tag
    with_op: Path  # the same with `new my_op -c demo` committed
    released: Path  # base after a clean `release patch`
    init_done: Tree  # the folder a clean `init proj` leaves


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    top = tmp_path_factory.mktemp("interruption")
    scratch = top / "out"
    scratch.mkdir()
    kk = Kernelkit(scratch)
    made = top / "init"
    made.mkdir()
    assert kk(made, *INIT).code == 0
    base = top / "base"
    shutil.copytree(made / "proj", base)
    git(base, "init", "-q", "-b", "main")
    for key, value in (("user.name", "kernelkit tests"), ("user.email", "tests@kernelkit.invalid")):
        git(base, "config", key, value)
    git(base, "config", "commit.gpgsign", "false")
    git(base, "config", "tag.gpgsign", "false")
    git(base, "add", "-A")
    git(base, "commit", "-q", "-m", "the project")
    git(base, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
    git(base, "commit", "-q", "--allow-empty", "-m", "a commit after the tag")
    with_op = top / "with_op"
    shutil.copytree(base, with_op, symlinks=True)
    assert kk(with_op, *NEW).code == 0
    git(with_op, "add", "-A")
    git(with_op, "commit", "-q", "-m", "my_op")
    released = top / "released"
    shutil.copytree(base, released, symlinks=True)
    run = kk(released, *RELEASE)
    assert run.code == 0, run.output
    yield World(kk, base, with_op, released, tree(made))
    kk.close()


def copy(world_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(world_root, root, symlinks=True)
    return root


# ----------------------------------------------------------------------------- the point lists


@pytest.mark.parametrize(
    "command, points",
    [(NEW, NEW_POINTS), (REMOVE, REMOVE_POINTS), (INIT, INIT_POINTS), (RELEASE, RELEASE_POINTS)],
    ids=["new", "remove", "init", "release"],
)
def test_every_point_a_clean_run_passes_is_tested(world: World, tmp_path: Path, command, points) -> None:
    if command is INIT:
        cwd = tmp_path
    else:
        cwd = copy(world.with_op if command is REMOVE else world.base, tmp_path)
    trace = tmp_path / "trace"
    run = world.kk(cwd, *command, trace=trace)
    assert run.code == 0, run.output
    assert trace.read_text().split() == points


# ---------------------------------------------------------------------------------- new, remove


def _new_or_remove(world: World, tmp_path: Path, command, points, point: str, sig: str) -> None:
    start, done = (world.base, world.with_op) if command is NEW else (world.with_op, world.base)
    before, after = tree(start), tree(done)
    root = copy(start, tmp_path)
    back = rolls_back(points, point, sig)
    run = world.kk(root, *command, fault=f"{point}:{sig}")
    if sig == "INT":
        if back:
            assert run.code == 130, run.output
            assert run.stderr.strip() == ROLLED_BACK
            assert_tree(root, before, "untouched")
        else:
            assert run.code == 0, run.output
            assert f"{OP} {'added' if command is NEW else 'removed'}" in run.stdout
            assert LATE_NOTE in run.stderr and "error" not in run.stderr
            assert_tree(root, after, "fully changed")
        return
    assert run.code == -signal.SIGKILL, run.output
    follow = world.kk(root, "check")
    assert follow.code == 0, follow.output
    label = f"`kernelkit {' '.join(command[:2])}`"
    if point == "cleaned":  # killed after its last write: nothing but its lock file was left, removed quietly
        assert "earlier run" not in follow.stderr, follow.stderr
    else:
        said = "cut off before its change was complete; undid it" if back else "cut off after its change was complete"
        assert f"earlier run: {label}" in follow.stderr and said in follow.stderr, follow.stderr
    assert_tree(root, before if back else after, "untouched" if back else "fully changed")
    assert_no_leftovers(root)


@pytest.mark.parametrize("sig", ["INT", "KILL"])
@pytest.mark.parametrize("point", NEW_POINTS)
def test_new_stopped_at_every_point(world: World, tmp_path: Path, point: str, sig: str) -> None:
    _new_or_remove(world, tmp_path, NEW, NEW_POINTS, point, sig)


@pytest.mark.parametrize("sig", ["INT", "KILL"])
@pytest.mark.parametrize("point", REMOVE_POINTS)
def test_remove_stopped_at_every_point(world: World, tmp_path: Path, point: str, sig: str) -> None:
    _new_or_remove(world, tmp_path, REMOVE, REMOVE_POINTS, point, sig)


def test_a_retry_after_a_killed_new_just_works(world: World, tmp_path: Path) -> None:
    """The retry a user types first: it repairs, then adds the op (no 'already exists')."""
    root = copy(world.base, tmp_path)
    assert world.kk(root, *NEW, fault="swap-5:KILL").code == -signal.SIGKILL
    retry = world.kk(root, *NEW)
    assert retry.code == 0, retry.output
    assert "undid it" in retry.stderr and f"{OP} added" in retry.stdout
    assert_tree(root, tree(world.with_op), "fully changed")


def test_a_retry_after_a_new_killed_once_complete_says_so(world: World, tmp_path: Path) -> None:
    root = copy(world.base, tmp_path)
    assert world.kk(root, *NEW, fault="applied:KILL").code == -signal.SIGKILL
    retry = world.kk(root, *NEW)
    assert "cut off after its change was complete" in retry.stderr  # why the op now exists
    assert retry.code == 2 and f"op '{OP}' already exists" in retry.stderr
    assert_tree(root, tree(world.with_op), "fully changed")


@pytest.mark.parametrize("command", ["remove", "doctor"])
def test_other_commands_repair_first_too(world: World, tmp_path: Path, command: str) -> None:
    root = copy(world.base, tmp_path)
    assert world.kk(root, *NEW, fault="swap-2:KILL").code == -signal.SIGKILL
    run = world.kk(root, *(REMOVE if command == "remove" else ("doctor", "--json")))
    assert "earlier run: `kernelkit new my_op`" in run.stderr and "undid it" in run.stderr, run.output
    if command == "remove":  # repaired first, so the op is not there to remove
        assert run.code == 2 and f"no op '{OP}' in this project" in run.stderr
    assert_tree(root, tree(world.base), "untouched")


def test_staged_files_without_a_journal_are_removed_and_backups_reported(world: World, tmp_path: Path) -> None:
    """What a kernelkit from before the journal left (or anything else that names its files so)."""
    root = copy(world.base, tmp_path)
    staged = root / "library" / f".CMakeLists.txt{transaction.STAGED_SUFFIX}"
    staged.write_text("half of something\n")
    backup = root / "library" / f".CMakeLists.txt{transaction.BACKUP_SUFFIX}"
    backup.write_text("an old version\n")
    run = world.kk(root, "check")
    assert "removed 1 staged file" in run.stderr and "library/.CMakeLists.txt.kernelkit-new" in run.stderr
    assert "library/.CMakeLists.txt.kernelkit-old: a backup of library/CMakeLists.txt" in run.stderr
    assert not staged.exists() and backup.exists()  # which version is right only the user can tell


def test_a_file_edited_after_the_kill_is_not_overwritten(world: World, tmp_path: Path) -> None:
    root = copy(world.base, tmp_path)
    assert world.kk(root, *NEW, fault="swapped:KILL").code == -signal.SIGKILL
    cmake = root / "library" / "CMakeLists.txt"
    cmake.write_text(cmake.read_text() + "# edited by hand after the kill\n")
    run = world.kk(root, "check")
    assert run.code == 1 and "undoing it would overwrite files changed since" in run.stderr, run.output
    assert "library/CMakeLists.txt changed since the run was cut off" in run.stderr
    assert cmake.read_text().endswith("# edited by hand after the kill\n")
    assert (root / transaction.JOURNAL_NAME).exists()  # kept until the user has chosen


def test_check_leaves_a_live_commands_work_alone(world: World, tmp_path: Path) -> None:
    import fcntl

    root = copy(world.base, tmp_path)
    assert world.kk(root, *NEW, fault="swap-3:KILL").code == -signal.SIGKILL
    with open(root / transaction.LOCK_NAME, "w") as lock:  # as if the run were still alive
        fcntl.flock(lock, fcntl.LOCK_EX)
        run = world.kk(root, "check")
    assert "another kernelkit command is changing this project right now" in run.stderr
    assert (root / transaction.JOURNAL_NAME).exists()


# ------------------------------------------------------------------------------------------ init


@pytest.mark.parametrize("sig", ["INT", "KILL"])
@pytest.mark.parametrize("point", INIT_POINTS)
def test_init_stopped_at_every_point(world: World, tmp_path: Path, point: str, sig: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    empty = tree(work)
    back = rolls_back(INIT_POINTS, point, sig)
    run = world.kk(work, *INIT, fault=f"{point}:{sig}")
    if sig == "INT":
        if back:
            assert run.code == 130 and run.stderr.strip() == ROLLED_BACK, run.output
            assert_tree(work, empty, "untouched")
        else:
            assert run.code == 0, run.output
            assert len(json.loads(run.stdout)["created"]) == len(world.init_done.files)
            assert LATE_NOTE in run.stderr
            assert_tree(work, world.init_done, "fully changed")
        return
    assert run.code == -signal.SIGKILL, run.output
    if back:
        # The repair alone (on a copy) leaves the folder as it was: no project folder at all.
        spare = tmp_path / "spare"
        shutil.copytree(work, spare, symlinks=True)
        messages = recovery.repair_init_target(spare / "proj").messages
        assert len(messages) == 1 and "undid it" in messages[0]
        assert_tree(spare, empty, "untouched")
    again = world.kk(work, *INIT)  # what the user runs next
    if back:
        assert again.code == 0, again.output
        assert "earlier run: `kernelkit init proj`" in again.stderr and "undid it" in again.stderr
        assert len(json.loads(again.stdout)["created"]) == len(world.init_done.files)  # made from nothing
    else:
        assert again.code == 2 and "exists and is not an empty folder" in again.stderr, again.output
        said = "earlier run: `kernelkit init proj`" in again.stderr and "after its change was complete" in again.stderr
        assert said is (point != "cleaned"), again.stderr
    assert_tree(work, world.init_done, "fully changed")


# --------------------------------------------------------------------------------------- release


@dataclass(frozen=True)
class RepoState:
    head: str
    tags: dict[str, str]  # tag -> the commit it names
    status: str  # with ignored files
    files: Tree


def repo_state(root: Path) -> RepoState:
    tags = {}
    for line in git(root, "for-each-ref", "--format=%(refname:short) %(*objectname)", "refs/tags").splitlines():
        name, _, commit = line.partition(" ")
        tags[name] = commit
    return RepoState(
        git(root, "rev-parse", "HEAD"),
        tags,
        git(root, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        tree(root),
    )


def assert_released(root: Path, start: str, reference: Path) -> None:
    """Exactly one release v0.1.1 on top of `start`, byte for byte what a clean release made."""
    state = repo_state(root)
    assert git(root, "rev-parse", "HEAD^") == start, "not one commit on top of where the release began"
    assert git(root, "rev-parse", "HEAD^{tree}") == git(reference, "rev-parse", "HEAD^{tree}")
    assert set(state.tags) == {"v0.1.0", "v0.1.1"} and state.tags["v0.1.1"] == state.head
    message = lambda repo: git(repo, "cat-file", "-p", "v0.1.1").split("\n\n", 1)[1]  # noqa: E731
    assert message(root) == message(reference), "the tag's message is not the changelog section"
    assert state.status == "", state.status
    assert_tree(root, tree(reference), "released")


@pytest.mark.parametrize("sig", ["INT", "KILL"])
@pytest.mark.parametrize("point", RELEASE_POINTS)
def test_release_stopped_at_every_point(world: World, tmp_path: Path, point: str, sig: str) -> None:
    root = copy(world.base, tmp_path)
    before = repo_state(root)
    back = rolls_back(RELEASE_POINTS, point, sig)
    run = world.kk(root, *RELEASE, fault=f"{point}:{sig}")
    if sig == "INT":
        if back:
            assert run.code == 130 and run.stderr.strip() == RELEASE_ROLLED_BACK, run.output
            assert repo_state(root) == before
        else:
            assert run.code == 0 and "released v0.1.1" in run.stdout and LATE_NOTE in run.stderr, run.output
            assert_released(root, before.head, world.released)
        return
    assert run.code == -signal.SIGKILL, run.output

    check = world.kk(root, "check")  # any command: it repairs what it can and says what it cannot
    assert check.code == 0, check.output
    if point == "release-commit":  # committed, not tagged: only a release may tag, so check says how
        assert "cut off between its commit" in check.stderr and "run `kernelkit release` to finish it" in check.stderr
        assert git(root, "rev-parse", "HEAD^") == before.head and "v0.1.1" not in repo_state(root).tags
    elif back:
        assert "earlier run: `kernelkit release` of v0.1.1" in check.stderr, check.stderr
        assert "cut off before its commit; undid it" in check.stderr
        assert repo_state(root) == before
    else:
        assert ("the release is complete" in check.stderr) is (point == "release-tag"), check.stderr
        assert_released(root, before.head, world.released)
        return

    again = world.kk(root, *RELEASE)  # the user's retry ends released, once
    assert again.code == 0, again.output
    if point == "release-commit":
        assert "tagged" in again.stderr and "as v0.1.1 now" in again.stderr
        assert "released v0.1.1 (the earlier, cut-off run's release, finished)" in again.stdout
    else:
        assert "earlier run" not in again.stderr and "released v0.1.1 (0.1.0 → 0.1.1)" in again.stdout
    assert_released(root, before.head, world.released)


def test_a_release_killed_between_commit_and_tag_is_finished_by_the_next_release(world: World, tmp_path: Path):
    root = copy(world.base, tmp_path)
    start = git(root, "rev-parse", "HEAD")
    assert world.kk(root, *RELEASE, fault="release-commit:KILL").code == -signal.SIGKILL
    again = world.kk(root, *RELEASE)
    assert again.code == 0, again.output
    assert "cut off between its commit and its tag; tagged" in again.stderr
    assert_released(root, start, world.released)


def test_a_release_killed_while_undoing_itself_is_undone(world: World, tmp_path: Path) -> None:
    """A release that failed after its commit records "rolling-back" before undoing; killed during the undo,
    the next command goes on undoing (it does not finish the release the user saw fail)."""
    root = copy(world.base, tmp_path)
    before = repo_state(root)
    assert world.kk(root, *RELEASE, fault="release-commit:KILL").code == -signal.SIGKILL
    journal = root / ".kernelkit-release.json"
    data = json.loads(journal.read_text())
    data["state"] = "rolling-back"  # what `execute` writes before its undo
    journal.write_text(json.dumps(data))
    check = world.kk(root, "check")
    assert "failed and was cut off while undoing itself; undid it" in check.stderr, check.output
    assert repo_state(root) == before


def test_a_ctrl_c_that_also_stops_git_is_reported_as_an_interrupt(world: World, tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the git a release runs too: the failed commit is the interrupt, undone."""
    root = copy(world.base, tmp_path)
    before = repo_state(root)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    hook = hooks / "pre-commit"  # git's parent is kernelkit: Ctrl-C both, as the terminal would
    hook.write_text("#!/bin/sh\nkill -INT \"$(awk '{print $4}' /proc/$PPID/stat)\"\nexit 130\n")
    hook.chmod(0o755)
    git(root, "config", "core.hooksPath", str(hooks))
    run = world.kk(root, *RELEASE)
    assert run.code == 130 and run.stderr.strip() == RELEASE_ROLLED_BACK, run.output
    git(root, "config", "--unset", "core.hooksPath")
    assert repo_state(root) == before
