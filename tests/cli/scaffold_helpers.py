"""Helpers of the `new`/`remove`/`check`/`list` tests: a committed copy of the project in a temp dir,
the CLI run inside it, byte-level snapshots of its tree, and running Python against the copy.

Nothing here ever touches the checkout the tests run from: every changing command runs in a copy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelkit.model import regions
from kernelkit.model.regions import RegionSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    "build",
    ".git",
    "__pycache__",
    "*.so",
    "compile_commands.json",
    ".pytest_cache",
    ".whl",
    ".kernelkit.lock",
    "*.kernelkit-new",
)


def _ignored_by_git() -> set[str]:
    """The checkout's paths git ignores (.gitignore and .git/info/exclude: local scratch such as .peer/ or
    .whl-lint/), relative, folders without their trailing slash; empty where the checkout is no git repository."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "ls-files", "--others", "--ignored", "--exclude-standard", "--directory"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {line.rstrip("/") for line in out.splitlines() if line}


def copy_ignore(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore for copies of this checkout: COPY_IGNORE's patterns plus whatever git ignores here,
    so a copy holds what a clean clone would (its formatters and checks see no local scratch)."""
    skipped = set(COPY_IGNORE(folder, names))
    rel = os.path.relpath(folder, REPO_ROOT)
    if rel.startswith(".."):
        return skipped
    ignored = _IGNORED_BY_GIT
    return skipped | {n for n in names if os.path.normpath(os.path.join(rel, n)) in ignored}


_IGNORED_BY_GIT = _ignored_by_git()
CUSTOM_SCHEMA = "my_custom(Tensor! out, Tensor x, Tensor? bias, int[] dims, float alpha, bool flag=False) -> ()"
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_GIT_CONFIG = [
    "-c", "user.name=kernelkit tests",
    "-c", "user.email=tests@kernelkit.invalid",
    "-c", "commit.gpgsign=false",
    "-c", "core.autocrlf=false",
    "-c", "core.excludesFile=/dev/null",
    "-c", "init.defaultBranch=main",
]  # fmt: skip
# Strips an editable install's import hook (scikit-build-core's redirecting finder), which would
# otherwise resolve `kernelkit_ops` to the checkout instead of the copy on PYTHONPATH.
_BOOT = "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith('_editable')]\n"


def plain(text: str) -> str:
    """Output without ANSI escapes (Rich adds them when a CI sets FORCE_COLOR)."""
    return _ANSI_RE.sub("", text)


def git(root: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    proc = subprocess.run(["git", *_GIT_CONFIG, *args], cwd=root, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


# ----------------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class Snapshot:
    """Every file's bytes and every folder of a tree, minus what builds and test runs add."""

    files: dict[str, bytes]
    dirs: frozenset[str]


def _skipped(rel: str, name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in (".git", "__pycache__", ".pytest_cache") or rel == "build"
    return name.endswith(".so")


def snapshot(root: Path) -> Snapshot:
    files: dict[str, bytes] = {}
    dirs: set[str] = set()
    for folder, subdirs, names in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        keep = []
        for d in subdirs:
            rel = os.path.normpath(os.path.join(rel_folder, d))
            if not _skipped(rel, d, True):
                keep.append(d)
                dirs.add(rel)
        subdirs[:] = keep
        for n in names:
            rel = os.path.normpath(os.path.join(rel_folder, n))
            if not _skipped(rel, n, False):
                files[rel] = (Path(folder) / n).read_bytes()
    return Snapshot(files, frozenset(dirs))


def describe_difference(before: Snapshot, after: Snapshot) -> str:
    parts = []
    added = sorted(set(after.files) - set(before.files))
    removed = sorted(set(before.files) - set(after.files))
    changed = sorted(p for p in set(before.files) & set(after.files) if before.files[p] != after.files[p])
    new_dirs = sorted(after.dirs - before.dirs)
    gone_dirs = sorted(before.dirs - after.dirs)
    for label, items in (
        ("files added", added),
        ("files removed", removed),
        ("files changed", changed),
        ("folders added", new_dirs),
        ("folders removed", gone_dirs),
    ):
        if items:
            parts.append(f"{label}: {', '.join(items)}")
    return "; ".join(parts) or "identical"


# ------------------------------------------------------------------------------------ the copy


@dataclass
class Result:
    exit_code: int
    output: str  # stdout and stderr as a user sees them
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self):
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.strip()]


class ProjectCopy:
    """A committed copy of the project; `run` is `kernelkit ...` with the copy as working directory."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self._monkeypatch = monkeypatch
        self.initial = snapshot(root)

    # -- the CLI, in process
    def run(self, *args: str, width: int = 250) -> Result:
        from kernelkit.cli import _ui, app

        mp = self._monkeypatch
        mp.chdir(self.root)
        mp.delenv("KERNELKIT_TRACEBACK", raising=False)
        # Wide consoles: tables and messages are not folded mid-word (the widths are restored after the test).
        mp.setattr(_ui.console, "_width", width)
        mp.setattr(_ui.err_console, "_width", width)
        result = CliRunner().invoke(app, list(args))
        return Result(
            result.exit_code, plain(result.output), plain(result.stdout), plain(result.stderr), result.exception
        )

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, f"kernelkit {' '.join(args)} -> {result.exit_code}:\n{result.output}"
        return result

    # -- the tree
    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text()

    def write(self, rel: str, text: str) -> None:
        self.path(rel).write_text(text)

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.root, *args, check=check)

    def git_status(self) -> str:
        return self.git("status", "--porcelain", "--untracked-files=all")

    def commit(self, message: str = "test state") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        self.initial = snapshot(self.root)

    def staging_leftovers(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*.kernelkit-new"))

    def assert_unchanged(self) -> None:
        """Byte for byte what it was at the last commit: git sees nothing, no new or lost folders,
        no staging files, no lock."""
        assert self.git_status() == "", self.git_status()
        assert self.git("diff", "HEAD") == ""
        assert self.staging_leftovers() == []
        assert not (self.root / ".kernelkit.lock").exists(), "the project lock was left behind"
        now = snapshot(self.root)
        assert now == self.initial, describe_difference(self.initial, now)

    # -- Python against the copy (its library/python first, never the checkout's editable install)
    def python(self, code: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=str(self.root / "library" / "python"))
        env.pop("KERNELKIT_TRACEBACK", None)
        return subprocess.run(
            [sys.executable, "-c", _BOOT + code, *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def pytest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.python("import pytest\nsys.exit(pytest.main(sys.argv[1:]))\n", *args, timeout=timeout)


def make_pristine(dest: Path) -> Path:
    shutil.copytree(REPO_ROOT, dest, ignore=copy_ignore, symlinks=True)
    for folder, _, _ in sorted(os.walk(dest), key=lambda entry: -len(entry[0])):
        if folder != str(dest) and not os.listdir(folder):
            os.rmdir(folder)  # git does not keep empty folders; the copy matches what git tracks
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "pristine copy")
    return dest


@pytest.fixture(scope="session")
def pristine_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One committed copy of the checkout per session; each test copies it (with its .git)."""
    return make_pristine(tmp_path_factory.mktemp("kernelkit_pristine") / "project")


@pytest.fixture
def project(pristine_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectCopy:
    root = tmp_path / "project"
    shutil.copytree(pristine_project, root, symlinks=True)
    copy = ProjectCopy(root, monkeypatch)
    assert copy.git_status() == "", "the fresh copy is not clean"
    return copy


# ----------------------------------------------------------------------------------- the build


def build_tools() -> dict[str, str]:
    """cmake, ninja and nvcc as kernelkit finds them; skips the test when one is missing."""
    from kernelkit.builder import toolchain

    tools = {name: toolchain.find_tool(name).path for name in ("cmake", "ninja")}
    tools["nvcc"] = toolchain.find_nvcc().path
    missing = [name for name, path in tools.items() if not path]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to compile the generated op")
    return tools  # type: ignore[return-value]


def build_env(tools: dict[str, str], root: Path | None = None) -> dict[str, str]:
    """What `kernelkit build` gives its compilers; with the copy's root, ccache hits what the repo's own
    build compiled (the same sources at the same relative paths), so only new files compile."""
    from kernelkit.builder import toolchain

    env = toolchain.tool_env(root)
    env.setdefault("CUDACXX", tools["nvcc"])
    return env


def configure(copy: ProjectCopy, tools: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """`cmake -S library -B build -G Ninja` in the copy, against this Python's torch, for sm_90a; without the
    CUTLASS GEMM ops unless `extra` turns them on: in build/ (not build/dev) no object hits ccache, and the GEMM
    translation units alone take minutes of CI's two cores (tests/cli/test_cutlass.py builds a CUTLASS op)."""
    cmd = [
        tools["cmake"], "-S", "library", "-B", "build", "-G", "Ninja",
        f"-DPython_EXECUTABLE={sys.executable}",
        "-DKERNELKIT_CUDA_ARCHS=90a",
        f"-DCMAKE_MAKE_PROGRAM={tools['ninja']}",
        "-DKERNELKIT_CUTLASS=OFF",
        *extra,
    ]  # fmt: skip
    return subprocess.run(
        cmd, cwd=copy.root, env=build_env(tools, copy.root), capture_output=True, text=True, timeout=300
    )


def compile_commands(copy: ProjectCopy) -> dict[str, str]:
    """source path relative to library/ -> the exact compile command of the configured copy."""
    entries = json.loads((copy.root / "build" / "compile_commands.json").read_text())
    library = (copy.root / "library").resolve()
    return {
        str(Path(e["file"]).resolve().relative_to(library)): e.get("command") or shlex.join(e["arguments"])
        for e in entries
    }


def check_findings(project: ProjectCopy) -> list[dict]:
    """`kernelkit check --json` in the copy, which must fail: its findings."""
    result = project.run("check", "--json")
    assert result.exit_code == 1, result.output
    return result.json()["findings"]


def line_of(project: ProjectCopy, rel: str, needle: str) -> int:
    """The 1-based line of the copy's file `rel` that first contains `needle`."""
    return next(i for i, line in enumerate(project.read(rel).splitlines(), 1) if needle in line)


def move_cmake_line(project: ProjectCopy, name: str, src: RegionSpec, dst: RegionSpec) -> None:
    """Moves op `name`'s line of library/CMakeLists.txt from CMake list `src` to `dst` (a hand edit)."""
    cmake = "library/CMakeLists.txt"
    text = project.read(cmake)
    entry = next(e for e in regions.entries(text, src) if e.key == name)
    project.write(cmake, regions.insert(regions.remove(text, src, name), dst, name, entry.text))


def table_cells(table_text: str, op: str) -> list[str]:
    """The cells of `op`'s row in `kernelkit list`'s table (one line per op), stripped."""
    row = next(line for line in table_text.splitlines() if line.startswith("│") and line.split("│")[1].strip() == op)
    return [cell.strip() for cell in row.split("│")[1:-1]]
