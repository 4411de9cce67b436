"""`kernelkit release`: bump the version everywhere it lives, write the changelog, commit and tag.

A release is planned first (every refusal happens there, before anything is touched), then carried
out in steps: the files (through `transaction.apply`, atomic), the optional wheel builds and import
checks, the commit, the annotated tag. If any step fails or Ctrl-C comes before the tag is made,
everything done so far is undone (tag deleted, HEAD and index reset to the commit we started from,
files rewritten from the bytes saved before), so the repository is exactly as it was.

A journal (`.kernelkit-release.json`, written before the first file) survives a run that is killed
outright: the next command undoes a release cut off before its commit, and `kernelkit release`
finishes one cut off between its commit and its tag (it tags the commit); other commands say so.

The version lives in pyproject.toml ([project].version), in the library's own `<library-dir>/pyproject.toml`
when the library is a distribution of its own (kernelkit: `kernelkit-ops` beside the CLI), in `__version__` of
the op library's package (and of the `kernelkit` package when the project is kernelkit itself), and in any file
listed in `[tool.kernelkit] version-files`; they must all agree before a bump.

`--wheel` builds one wheel per distribution into dist/: the library's gets the manylinux tag that the audit of
its compiled library proves (kernelkit/builder/manylinux.py) and is imported in a fresh venv where only torch is
installed; the CLI's is pure Python (py3-none-any).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from kernelkit.builder import buildsys, manylinux
from kernelkit.builder.toolchain import find_nvcc, tool_env
from kernelkit.codegen import transaction
from kernelkit.errors import KernelkitError
from kernelkit.model import layout, registry
from kernelkit.project import PYPROJECT, Project

BUMPS = ("patch", "minor", "major")
CHANGELOG = "CHANGELOG.md"
CHANGELOG_TITLE = "# Changelog\n"
TAG_PREFIX = "v"
TAG_GLOB = "v[0-9]*"

# Strict X.Y.Z (no leading zeros): the tag, the wheel name and every file must spell it the same way.
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
_DUNDER_VERSION = re.compile(r"""^[ \t]*__version__[ \t]*=[ \t]*(['"])(?P<version>[^'"\n]*)\1""", re.M)
_PLAIN_VERSION = re.compile(r"""^[ \t]*version[ \t]*=[ \t]*(['"])(?P<version>[^'"\n]*)\1""", re.M)
_SCHEMA_CALL = re.compile(r'm\.def\("(.*)"\)')

# Steps of `execute`, in order; `_after_step` is called after each.
FILES_WRITTEN = "files-written"
WHEEL_CHECKED = "wheel-checked"
COMMITTED = "committed"
TAGGED = "tagged"


RELEASE_JOURNAL = ".kernelkit-release.json"
RUNNING, ROLLING_BACK = "running", "rolling-back"
_JOURNAL_FORMAT = 1


def _after_step(step: str) -> None:
    """Hook after each step of `execute`; tests replace it to inject a failure there."""


# ------------------------------------------------------------------------------------------ git


def _git(root: Path, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
    try:
        proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, text=True, env=env)
    except FileNotFoundError:
        raise KernelkitError("git not found: releasing needs git on PATH") from None
    if check and proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        raise KernelkitError(
            f"`git {' '.join(args[:2])}` failed: {reason[-1] if reason else f'exit {proc.returncode}'}"
        )
    return proc


def _git_out(root: Path, *args: str) -> str:
    return _git(root, *args).stdout.strip()


def last_tag(root: Path) -> str | None:
    """The newest v[0-9]* tag reachable from HEAD, or None when there is none."""
    proc = _git(root, "describe", "--tags", "--abbrev=0", "--match", TAG_GLOB, check=False)
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def _tag_exists(root: Path, tag: str) -> bool:
    return _git(root, "rev-parse", "-q", "--verify", f"refs/tags/{tag}", check=False).returncode == 0


# ------------------------------------------------------------------------------------- versions


def parse_bump(text: str) -> str:
    """patch / minor / major, or an explicit X.Y.Z (a leading v is accepted and dropped)."""
    value = text.strip()
    if value in BUMPS:
        return value
    value = value.removeprefix(TAG_PREFIX)
    if not _SEMVER.match(value):
        raise KernelkitError(
            f"'{text}' is not a version: give patch, minor, major or an explicit X.Y.Z (e.g. 1.2.0)", exit_code=2
        )
    return value


def next_version(current: str, bump: str) -> str:
    if bump not in BUMPS:
        return bump
    match = _SEMVER.match(current)
    if not match:
        raise KernelkitError(
            f"the current version '{current}' is not X.Y.Z, so `{bump}` cannot bump it; give the new version explicitly"
        )
    major, minor, patch = (int(g) for g in match.groups())
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def announces_breaking(current: str, new: str) -> bool:
    """Whether going current -> new tells users to expect breaking changes, per semver.

    From 1.0.0 on that takes a major bump; below it, semver's 0.x convention lets a minor bump
    carry breaking changes (0.1.x -> 0.2.0)."""
    old, nxt = Version(current), Version(new)
    if old.major >= 1:
        return nxt.major > old.major
    return nxt.major > old.major or nxt.minor > old.minor


@dataclass(frozen=True)
class VersionSpot:
    """One place the version is written: a file, the version there, and how to rewrite it."""

    path: Path
    version: str
    kind: str  # "pyproject" (tomlkit) or "line" (a __version__ = / version = line)
    span: tuple[int, int] = (0, 0)  # of the version text, for "line"

    def rewrite(self, text: str, new: str) -> str:
        if self.kind == "pyproject":
            # Imported here: only releasing needs tomlkit, and the GPU machine (no network) may lack it.
            try:
                import tomlkit
                from tomlkit.items import String
            except ImportError:
                raise KernelkitError("kernelkit release needs tomlkit: pip install tomlkit") from None
            doc = tomlkit.parse(text)
            old = doc["project"]["version"]
            # Same quote style as before; tomlkit keeps the line's comment and every other byte.
            doc["project"]["version"] = String.from_raw(new, old.type) if isinstance(old, String) else new
            out = tomlkit.dumps(doc)
            if tomllib.loads(out).get("project", {}).get("version") != new:  # never write a pyproject we misread
                raise KernelkitError(f"{self.path}: could not rewrite [project].version")
            return out
        start, end = self.span
        return text[:start] + new + text[end:]


def _read(path: Path) -> str:
    # Bytes, decoded: no newline translation, so a CRLF file keeps its line endings.
    return path.read_bytes().decode("utf-8")


def library_pyproject(project: Project) -> Path | None:
    """The op library's own pyproject.toml (`<library-dir>/pyproject.toml`), when the library is a distribution of
    its own beside the project's (kernelkit: `kernelkit-ops` beside the CLI); None when one pyproject builds all."""
    path = project.library_dir / PYPROJECT
    if not path.is_file() or path.resolve() == (project.root / PYPROJECT).resolve():
        return None
    return path


def _pyproject_spot(project: Project, path: Path | None = None) -> VersionSpot:
    path = path or project.root / PYPROJECT
    rel = layout.rel(project, path)
    version = tomllib.loads(_read(path)).get("project", {}).get("version")
    if not isinstance(version, str):
        raise KernelkitError(
            f"{rel}: no [project].version string (a dynamic version is not supported by `kernelkit release`)"
        )
    return VersionSpot(path, version, "pyproject")


def _line_spot(project: Project, path: Path, *, allow_plain: bool) -> VersionSpot:
    rel = layout.rel(project, path)
    try:
        text = _read(path)
    except FileNotFoundError:
        raise KernelkitError(f"{rel}: missing (it should hold the version)") from None
    except (UnicodeDecodeError, IsADirectoryError):
        raise KernelkitError(f"{rel}: not a UTF-8 text file") from None
    found = list(_DUNDER_VERSION.finditer(text))
    what = '`__version__ = "X"`'
    if not found and allow_plain:
        found = list(_PLAIN_VERSION.finditer(text))
        what = '`__version__ = "X"` or `version = "X"`'
    if len(found) != 1:
        lines = ", ".join(str(text.count("\n", 0, m.start()) + 1) for m in found)
        raise KernelkitError(
            f"{rel}: expected exactly one {what} line, found {len(found)}{f' (lines {lines})' if found else ''}"
        )
    match = found[0]
    return VersionSpot(path, match.group("version"), "line", match.span("version"))


def _extra_version_files(project: Project) -> list[Path]:
    table = tomllib.loads(_read(project.root / PYPROJECT)).get("tool", {}).get("kernelkit", {})
    listed = table.get("version-files", [])
    if not isinstance(listed, list) or not all(isinstance(p, str) and p for p in listed):
        raise KernelkitError(
            f'{PYPROJECT}: [tool.kernelkit] version-files must be a list of paths, e.g. ["src/pkg/_version.py"]'
        )
    paths = []
    root = project.root.resolve()
    for rel in listed:
        path = (project.root / rel).resolve()
        if root not in path.parents:
            raise KernelkitError(f"{PYPROJECT}: version-files entry '{rel}' is outside the project")
        paths.append(path)
    return paths


def version_spots(project: Project) -> list[VersionSpot]:
    """Every place the version lives, pyproject.toml first."""
    spots = [_pyproject_spot(project)]
    library = library_pyproject(project)
    if library is not None:  # the library's distribution: released with the same version
        spots.append(_pyproject_spot(project, library))
    cli_init = project.root / "kernelkit" / "__init__.py"  # the project is kernelkit itself
    builtin = [layout.init_file(project)] if not cli_init.is_file() else [cli_init, layout.init_file(project)]
    for path, allow_plain in [*((p, False) for p in builtin), *((p, True) for p in _extra_version_files(project))]:
        if any(path.resolve() == spot.path.resolve() for spot in spots):
            continue  # named twice (e.g. a built-in place also listed in version-files): one rewrite per file
        spots.append(_line_spot(project, path, allow_plain=allow_plain))
    return spots


def current_version(project: Project, spots: list[VersionSpot]) -> str:
    """The version every spot agrees on; refuses naming the files that disagree."""
    reference = spots[0].version
    odd = [s for s in spots if s.version != reference]
    if odd:
        raise KernelkitError(
            f"the version differs between files: {', '.join(layout.rel(project, s.path) for s in odd)} "
            f"disagree{'s' if len(odd) == 1 else ''} with {PYPROJECT} ({reference}); make them equal first",
            details=[f"{layout.rel(project, s.path)}: {s.version}" for s in spots],
        )
    return reference


# ------------------------------------------------------------------------------------------ ops


@dataclass
class OpChanges:
    added: dict[str, str] = field(default_factory=dict)  # name -> schema
    removed: dict[str, str] = field(default_factory=dict)
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (old, new)

    @property
    def breaking(self) -> bool:
        return bool(self.removed or self.changed)

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "removed": self.removed,
            "changed": {name: {"old": old, "new": new} for name, (old, new) in self.changed.items()},
        }


def _collapse(schema: str) -> str:
    return " ".join(schema.split())  # reformatting is not a change


def schemas_of(project: Project) -> dict[str, str]:
    """op -> its schema as registered by the binding files of the working tree (KERNELKIT_REGISTER_OP), and the
    host functions registered beside ops (KERNELKIT_REGISTER_HOST_FN)."""
    out: dict[str, str] = {}
    for op in registry.scan(project).values():
        if op.registered:
            out[op.name] = _collapse(op.registered.schema_text)
        if op.binding_file is not None:
            text = op.binding_file.path.read_text(errors="replace")
            out.update({fn.name: _collapse(fn.schema_text) for fn in registry.host_functions(text)})
    return out


def schemas_at(project: Project, tag: str) -> dict[str, str]:
    """op -> its schema at `tag`: from the binding files (csrc/<category>/<op>.cc) and, for a tag made before
    ops had their own files, from the m.def lines of csrc/registration.cc."""
    csrc = layout.rel(project, project.csrc_dir)
    # ./path: relative to the project root (the cwd), which need not be the repository's top.
    listed = _git(project.root, "ls-tree", "-r", "--name-only", tag, "--", f"./{csrc}", check=False)
    if listed.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for rel in listed.stdout.splitlines():  # relative to the cwd, as given
        if rel == f"{csrc}/registration.cc":
            text = _git(project.root, "show", f"{tag}:./{rel}").stdout
            out.update({name: schema for name, schema in _legacy_schemas(text).items() if name not in out})
        elif rel.endswith(".cc") and rel.count("/") == csrc.count("/") + 2:  # csrc/<category>/<op>.cc
            text = _git(project.root, "show", f"{tag}:./{rel}").stdout
            out.update({reg.name: _collapse(reg.schema_text) for reg in registry.registrations(text)})
            out.update({fn.name: _collapse(fn.schema_text) for fn in registry.host_functions(text)})
    return out


def _legacy_schemas(text: str) -> dict[str, str]:
    """The m.def("...") schemas of a registration.cc (the layout before each op had its own binding file)."""
    out = {}
    for match in _SCHEMA_CALL.finditer(registry.code_only(text)):
        name = re.match(r"\s*(\w+)", match.group(1))
        if name:
            out[name.group(1)] = _collapse(match.group(1))
    return out


def op_changes(project: Project, tag: str | None) -> OpChanges:
    """Ops added / removed / with a changed schema between `tag` and the working tree."""
    now = schemas_of(project)
    before = schemas_at(project, tag) if tag is not None else {}
    changes = OpChanges()
    for name in sorted(now.keys() | before.keys()):
        if name not in before:
            changes.added[name] = now[name]
        elif name not in now:
            changes.removed[name] = before[name]
        elif now[name] != before[name]:
            changes.changed[name] = (before[name], now[name])
    return changes


# ------------------------------------------------------------------------------------ changelog


def changelog_section(version: str, date: datetime.date, ops: OpChanges, commits: list[str], since: str | None) -> str:
    lines = [f"## {TAG_PREFIX}{version} — {date.isoformat()}", "", "### Ops", ""]
    for schema in ops.added.values():
        lines.append(f"- added: `{schema}`")
    for schema in ops.removed.values():
        lines.append(f"- removed (breaking): `{schema}`")
    for name, (old, new) in ops.changed.items():
        lines.append(f"- schema changed (breaking): `{name}`: `{old}` → `{new}`")
    if not (ops.added or ops.removed or ops.changed):
        lines.append(f"- no op added, removed or changed since {since}")
    lines += ["", "### Commits", ""]
    lines += [f"- {subject}" for subject in commits] or [f"- no commits since {since}"]
    return "\n".join(lines) + "\n"


def with_section(existing: str | None, section: str) -> str:
    """The changelog with `section` on top of the previous ones (below the title and any intro)."""
    if existing is None:
        return f"{CHANGELOG_TITLE}\n{section}"
    lines = existing.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("## "):
            return "".join(lines[:i]) + section + "\n" + "".join(lines[i:])
    body = existing.rstrip("\n")
    return f"{body}\n\n{section}" if body else f"{CHANGELOG_TITLE}\n{section}"


# ----------------------------------------------------------------------------------------- plan


@dataclass
class Plan:
    project: Project
    current: str
    version: str
    previous_tag: str | None
    head: str  # the commit the release starts from: what a rollback goes back to
    spots: list[VersionSpot]
    ops: OpChanges
    commits: list[str]
    section: str  # the changelog section, also the tag's message
    changes: transaction.ChangeSet
    warning: str | None = None
    wheel: bool = False

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.version}"

    @property
    def commit_message(self) -> str:
        return f"release {self.tag}"

    @property
    def files(self) -> list[Path]:
        return sorted(self.changes.changes)

    def to_json(self) -> dict:
        rel = lambda p: layout.rel(self.project, p)  # noqa: E731
        return {
            "previous_version": self.current,
            "version": self.version,
            "tag": self.tag,
            "previous_tag": self.previous_tag,
            "commit_message": self.commit_message,
            "files": [rel(p) for p in self.files],
            "version_files": [rel(s.path) for s in self.spots],
            "ops": self.ops.to_json(),
            "breaking": self.ops.breaking,
            "warning": self.warning,
            "commits": self.commits,
            "changelog": self.section,
        }


def _dirty(root: Path) -> list[str]:
    lines = _git(root, "status", "--porcelain").stdout.splitlines()
    # Our own lock, held while releasing, is the one entry that is not the user's (a project whose
    # .gitignore lacks it would otherwise never be releasable). Porcelain paths are from the top.
    lock = _git_out(root, "rev-parse", "--show-prefix") + transaction.LOCK_NAME
    return [line for line in lines if line != f"?? {lock}"]


def plan_release(project: Project, bump: str, *, wheel: bool = False, today: datetime.date | None = None) -> Plan:
    """Everything the release will do, or a KernelkitError saying why it must not happen."""
    bump = parse_bump(bump)
    root = project.root
    if _git(root, "rev-parse", "--show-toplevel", check=False).returncode != 0:
        raise KernelkitError(f"{root} is not in a git repository: a release is a commit and a tag (`git init` first)")
    head = _git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).stdout.strip()
    if not head:
        raise KernelkitError("the repository has no commit yet: commit the project before releasing it")
    dirty = _dirty(root)
    if dirty:
        raise KernelkitError(
            f"the working tree is not clean ({len(dirty)} change{'s' if len(dirty) != 1 else ''}): "
            "commit or stash them first, so the release commit holds only the release",
            details=dirty[:20] + ([f"... and {len(dirty) - 20} more"] if len(dirty) > 20 else []),
        )

    spots = version_spots(project)
    current = current_version(project, spots)
    version = next_version(current, bump)
    try:
        greater = Version(version) > Version(current)
    except InvalidVersion:
        raise KernelkitError(f"{PYPROJECT}: the current version '{current}' is not a valid version") from None
    if not greater:
        raise KernelkitError(f"{version} is not greater than the current version {current}")
    tag = f"{TAG_PREFIX}{version}"
    if _tag_exists(root, tag):
        raise KernelkitError(f"tag {tag} already exists: pick another version (or delete the tag if it was a mistake)")

    findings = registry.check(project)
    if findings:
        raise KernelkitError(
            f"`kernelkit check` finds {len(findings)} problem{'s' if len(findings) != 1 else ''}: "
            "fix them before releasing",
            details=[f"{f.where}: {f.op}: {f.message}" for f in findings],
        )
    if wheel:
        check_wheel_tools(project)  # a missing nvcc/cmake/ninja/wheel refuses now, not after the files are written

    previous = last_tag(root)
    ops = op_changes(project, previous)
    log_range = [f"{previous}..HEAD"] if previous else ["HEAD"]
    commits = _git(root, "log", "--format=%s", *log_range).stdout.splitlines()
    section = changelog_section(version, today or datetime.date.today(), ops, commits, previous or "the start")

    changes = transaction.ChangeSet(root)
    for spot in spots:
        changes.write(spot.path, spot.rewrite(_read(spot.path), version))
    changelog = root / CHANGELOG
    changes.write(changelog, with_section(_read(changelog) if changelog.is_file() else None, section))

    warning = None
    if ops.breaking and not announces_breaking(current, version):
        parts = [
            f"removed {', '.join(ops.removed)}" if ops.removed else "",
            f"changed the schema of {', '.join(ops.changed)}" if ops.changed else "",
        ]
        needed = "a minor or major bump (0.x)" if Version(current).major == 0 else "a major bump"
        warning = (
            f"breaking change: since {previous} the ops {'; '.join(p for p in parts if p)}, "
            f"but {current} -> {version} does not say so; semver asks for {needed}"
        )
    return Plan(project, current, version, previous, head, spots, ops, commits, section, changes, warning, wheel)


# ---------------------------------------------------------------------------------------- wheel


@dataclass(frozen=True)
class Distribution:
    """One wheel the release builds: its project name and the folder holding its pyproject.toml."""

    name: str
    source: Path


def distributions(project: Project) -> list[Distribution]:
    """The library's own distribution first (when it has one), then the project's."""
    dists = []
    for pyproject in (library_pyproject(project), project.root / PYPROJECT):
        if pyproject is not None:
            dists.append(Distribution(tomllib.loads(_read(pyproject))["project"]["name"], pyproject.parent))
    return dists


@dataclass(frozen=True)
class WheelCheck:
    path: Path
    size: int
    imported: dict[str, str]  # module -> the __version__ it reported in the fresh venv
    tag: str = "any"  # the platform tag: manylinux_2_X_<arch> for a wheel with a compiled library
    audits: tuple[manylinux.LibraryAudit, ...] = ()
    ops: int | None = None  # ops registered in torch.ops.<namespace> by the library wheel's import
    alone: bool = False  # imported where nothing but torch (and torch's own dependencies) is installed

    def to_json(self) -> dict:
        return {
            "path": str(self.path),
            "size": self.size,
            "imported": self.imported,
            "tag": self.tag,
            "audits": [a.to_json() for a in self.audits],
            "ops": self.ops,
            "alone_with_torch": self.alone,
        }


@dataclass(frozen=True)
class BuiltWheel:
    path: Path
    audits: tuple[manylinux.LibraryAudit, ...] = ()  # of its compiled libraries (none in a pure wheel)


def _wheels(dist: Path, name: str, version: str) -> list[Path]:
    found = []
    for path in dist.glob("*.whl") if dist.is_dir() else []:
        try:
            wname, wversion, _, _ = parse_wheel_filename(path.name)
        except InvalidWheelFilename:
            continue
        if wname == canonicalize_name(name) and wversion == Version(version):
            found.append(path)
    return found


def _is_platform_wheel(wheel: Path) -> bool:
    return any(tag.platform != "any" for tag in parse_wheel_filename(wheel.name)[3])


def check_wheel_tools(project: Project) -> None:
    """Refuse, before anything is written, when a tool the wheel build needs is missing."""
    buildsys.check_requisites()  # nvcc, cmake, ninja: the library wheel compiles the library
    if importlib.util.find_spec("wheel") is None:
        raise KernelkitError(
            "kernelkit release --wheel gives the library wheel its manylinux tag with the `wheel` package's "
            "`wheel tags`; install it: pip install 'wheel>=0.40'"
        )
    for dist in distributions(project):
        table = tomllib.loads(_read(dist.source / PYPROJECT)).get("tool", {}).get("scikit-build", {})
        if "force-include" in table.get("wheel", {}):
            try:
                found = importlib.metadata.version("scikit-build-core")
            except importlib.metadata.PackageNotFoundError:
                found = None
            if found is None or Version(found) < Version("1.0"):
                raise KernelkitError(
                    f"{layout.rel(project, dist.source / PYPROJECT)} uses wheel.force-include, which needs "
                    f"scikit-build-core >= 1.0 (this Python has {found or 'none'}): "
                    "pip install 'scikit-build-core>=1.0'"
                )


def build_wheels(project: Project, version: str, on_step: Callable[[str], None] | None = None) -> list[BuiltWheel]:
    """Every distribution's wheel into dist/ (`pip wheel` with this Python's torch and scikit-build-core: no
    isolation); a wheel with a compiled library is audited and retagged with the manylinux tag the audit proves."""
    say = on_step or (lambda message: None)
    env = tool_env(project.root)
    nvcc = find_nvcc()
    if nvcc.path:
        env.setdefault("CUDACXX", nvcc.path)
    dist_dir = project.root / "dist"
    built = []
    for dist in distributions(project):
        # "./library", not "library": pip reads a bare name as a requirement to fetch, not a folder
        source = "." if dist.source == project.root else f"./{layout.rel(project, dist.source)}"
        table = tomllib.loads(_read(dist.source / PYPROJECT)).get("tool", {}).get("scikit-build", {})
        compiles = table.get("wheel", {}).get("cmake", True) is not False
        say(f"building the {dist.name} wheel" + (" (compiles the library)" if compiles else ""))
        cmd = [sys.executable, "-m", "pip", "wheel", source, "--no-build-isolation", "--no-deps", "-w", "dist/"]
        proc = subprocess.run(cmd, cwd=project.root, env=env, capture_output=True, text=True)
        log = proc.stdout + proc.stderr
        if proc.returncode != 0:
            raise KernelkitError(
                f"the {dist.name} wheel build failed (`{' '.join(cmd[1:])}`, exit {proc.returncode})",
                details=buildsys.extract_errors(log) or log.splitlines()[-25:],
            )
        wheels = _wheels(dist_dir, dist.name, version)
        if not wheels:
            raise KernelkitError(f"the wheel build succeeded but dist/ holds no {dist.name} {version} wheel")
        wheel = max(wheels, key=lambda p: p.stat().st_mtime_ns)
        audits: tuple[manylinux.LibraryAudit, ...] = ()
        if _is_platform_wheel(wheel):
            say(f"auditing {wheel.name} for a manylinux tag")
            audits = tuple(manylinux.audit_wheel(wheel))
            tag = manylinux.wheel_tag(list(audits))
            if tag:
                wheel = manylinux.retag(wheel, tag)
        built.append(BuiltWheel(wheel, audits))
    return built


_IMPORT_CHECK = """
import importlib, json, sys
request = json.loads(sys.argv[1])
out = {"modules": {}, "ops": None, "project_files": None}
for name in request["modules"]:
    module = importlib.import_module(name)
    top = sys.modules[name.split(".")[0]]
    out["modules"][name] = {"version": getattr(top, "__version__", None), "file": module.__file__}
if request["namespace"]:
    import torch
    prefix = request["namespace"] + "::"
    out["ops"] = sorted(n[len(prefix):] for n in torch._C._dispatch_get_all_op_names() if n.startswith(prefix))
if "kernelkit.cli" in request["modules"]:
    from kernelkit.codegen.initproject import generic_source_root
    out["project_files"] = str(generic_source_root())
print(json.dumps(out))
"""


def _torch_closure() -> list[importlib.metadata.Distribution]:
    """torch and every distribution it requires, transitively (as installed in this Python)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    todo = ["torch"]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # an optional dependency this platform does without
        found[name] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(found.values())


def _torch_only_site(folder: Path) -> Path | None:
    """A folder holding only torch and its dependencies (links to this Python's installed copies): the site a fresh
    venv gets, so the library wheel is imported where nothing else is installed. None when torch's files are not
    listed (a torch installed without a RECORD, e.g. by a system package manager)."""
    folder.mkdir(parents=True)
    for dist in _torch_closure():
        base = Path(dist.locate_file(""))
        for rel in dist.files or []:
            top = Path(rel).parts[0] if Path(rel).parts else ""
            if not top or top == ".." or (folder / top).exists():
                continue
            source = base / top
            if source.exists():
                (folder / top).symlink_to(source, target_is_directory=source.is_dir())
    return folder if (folder / "torch" / "__init__.py").is_file() else None


def _wheel_names(wheel: Path) -> set[str]:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return set(zf.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise KernelkitError(f"wheel check: {wheel} is not a valid wheel ({exc})") from None


def check_wheel(project: Project, built: BuiltWheel, version: str) -> WheelCheck:
    """Install the wheel alone in a fresh venv and import it there; every module must say `version`.

    The library's wheel (it holds the package) goes where only torch and torch's dependencies are installed, so
    it is proven to need nothing else; `pip check` confirms its declared dependencies are met there, and its
    import must register ops in torch.ops.<namespace>, each one the project defines. Any other wheel (the CLI)
    gets this Python's site-packages for its dependencies."""
    wheel = built.path
    names = _wheel_names(wheel)
    library = f"{project.name}/__init__.py" in names
    cli = "kernelkit/cli/__init__.py" in names
    modules = ([project.name] if library else []) + (["kernelkit.cli"] if cli else [])
    if not modules:
        raise KernelkitError(f"wheel check: {wheel.name} holds neither {project.name} nor the kernelkit CLI")
    torch_spec = importlib.util.find_spec("torch")
    if torch_spec is None or torch_spec.origin is None:
        raise KernelkitError(f"cannot check the wheel: this Python ({sys.executable}) has no torch")

    with tempfile.TemporaryDirectory(prefix="kernelkit-wheel-check-") as tmp:
        venv = Path(tmp) / "venv"
        python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
        }
        env["PYTHONNOUSERSITE"] = "1"

        def run(cmd: list[str], what: str) -> str:
            proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise KernelkitError(
                    f"wheel check of {wheel.name}: {what} failed (exit {proc.returncode})",
                    details=(proc.stdout + proc.stderr).splitlines()[-25:],
                )
            return proc.stdout

        pip = [sys.executable, "-m", "pip", "--python", str(python)]
        # No pip inside: this Python's pip installs into it (--python), which also works where the
        # base Python lacks ensurepip.
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], "creating a venv")
        site = Path(
            run(
                [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], "locating the venv"
            ).strip()
        )
        # torch is a multi-GB dependency: rather than install it again, the fresh venv sees this Python's torch
        # through a .pth line (after the venv's own site-packages, so the wheel's packages win). The library wheel
        # sees a folder of only torch and its dependencies; the CLI wheel this Python's whole site-packages.
        deps = _torch_only_site(Path(tmp) / "torch-only") if library and not cli else None
        alone = deps is not None
        deps = deps or Path(torch_spec.origin).parent.parent
        (site / "_kernelkit_wheel_check_torch.pth").write_text(f"{deps}\n")
        run([*pip, "install", "--no-deps", "--no-index", "--quiet", str(wheel)], "pip install of the wheel")
        if alone:
            run([*pip, "check"], "`pip check` (are its requirements met by torch alone?)")
        request = {"modules": modules, "namespace": project.namespace if library else None}
        out = run([str(python), "-c", _IMPORT_CHECK, json.dumps(request)], f"importing {', '.join(modules)}")
        result = json.loads(out.strip().splitlines()[-1])
        for module, info in result["modules"].items():
            if not Path(info["file"]).resolve().is_relative_to(site.resolve()):
                raise KernelkitError(
                    f"wheel check: {module} was imported from {info['file']}, not from the installed wheel"
                )
            if info["version"] != version:
                raise KernelkitError(f"wheel check: {module} reports version {info['version']}, expected {version}")
        if library:
            known = set(schemas_of(project))
            if not result["ops"]:
                raise KernelkitError(
                    f"wheel check: importing {project.name} registered no torch.ops.{project.namespace}"
                )
            strangers = sorted(set(result["ops"]) - known)
            if strangers:
                raise KernelkitError(
                    f"wheel check: the wheel's library registers ops no binding of the project defines: "
                    f"{', '.join(strangers)} (a stale build?)"
                )
        if cli and not Path(result["project_files"]).resolve().is_relative_to(site.resolve()):
            raise KernelkitError(
                f"wheel check: the CLI wheel lacks the files `kernelkit init` copies (found {result['project_files']})"
            )
    tags = parse_wheel_filename(wheel.name)[3]
    return WheelCheck(
        wheel,
        wheel.stat().st_size,
        {m: info["version"] for m, info in result["modules"].items()},
        ".".join(sorted({t.platform for t in tags})),
        built.audits,
        len(result["ops"]) if result["ops"] is not None else None,
        alone,
    )


# -------------------------------------------------------------------------------------- execute


@dataclass
class Released:
    plan: Plan
    commit: str
    wheels: list[WheelCheck] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            **self.plan.to_json(),
            "dry_run": False,
            "commit": self.commit,
            "wheels": [w.to_json() for w in self.wheels],
        }


def execute(plan: Plan, on_step: Callable[[str], None] | None = None) -> Released:
    """Write the files, build + check the wheel (when asked), commit, tag; on any failure or Ctrl-C undo it all.

    Ctrl-C is held (transaction.interrupts_held) and acted on between the steps, so the undoing itself is
    never cut short; once the tag is made the release stands, and a Ctrl-C then lets it finish."""
    root = plan.project.root
    say = on_step or (lambda message: None)
    if _dirty(root) or _git_out(root, "rev-parse", "HEAD") != plan.head:  # e.g. edited while we asked for confirmation
        raise KernelkitError("the working tree or HEAD changed since the release was planned; run the release again")
    originals = {path: (path.read_bytes() if path.exists() else None) for path in plan.files}
    plan.changes.label = f"kernelkit release {plan.tag}"
    wheels_before: set[Path] | None = None  # what dist/ held: a rollback deletes every wheel this run added
    tagged = False
    checks: list[WheelCheck] = []
    commit = ""
    with transaction.interrupts_held():
        transaction.checkpoint()
        _save_journal(plan, originals, RUNNING)
        try:
            transaction.fault_point("release-journal")
            transaction.checkpoint()
            transaction.apply(plan.changes, final=False)  # all files or none: a failure inside rolls back by itself
            transaction.fault_point("release-files")
            transaction.checkpoint()
            _after_step(FILES_WRITTEN)
            if plan.wheel:
                wheels_before = set((root / "dist").glob("*.whl"))
                built = build_wheels(plan.project, plan.version, on_step=say)
                transaction.checkpoint()
                for wheel in built:
                    say(f"installing {wheel.path.name} in a fresh venv and importing it")
                    checks.append(check_wheel(plan.project, wheel, plan.version))
                    transaction.checkpoint()
                _after_step(WHEEL_CHECKED)
            say(f"committing {plan.commit_message!r}")
            _git(root, "add", "--", *(str(p) for p in plan.files))
            _git(root, "commit", "-q", "-m", plan.commit_message)
            commit = _git_out(root, "rev-parse", "HEAD")
            transaction.fault_point("release-commit")
            transaction.checkpoint()
            _after_step(COMMITTED)
            say(f"tagging {plan.tag}")
            # verbatim: the default cleanup would strip the section's "## " and "### " lines as comments.
            _git(root, "tag", "-a", "--cleanup=verbatim", "-F", "-", plan.tag, input=plan.section)
            tagged = True
            transaction.fault_point("release-tag")
            _after_step(TAGGED)
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt) or transaction.interrupt_pending()
            with contextlib.suppress(OSError):  # a run killed while undoing goes on undoing, not finishing
                _save_journal(plan, originals, ROLLING_BACK)
            added = sorted(set((root / "dist").glob("*.whl")) - wheels_before) if wheels_before is not None else []
            problems = _rollback(plan, originals, tagged, added)
            if problems:
                raise KernelkitError(
                    f"the release failed ({exc or type(exc).__name__}) and could not be fully undone; fix by hand, "
                    f"then delete {RELEASE_JOURNAL}:",
                    details=problems,
                ) from exc
            _journal_path(root).unlink(missing_ok=True)
            if interrupted:
                raise transaction.Interrupted(
                    "the release was rolled back: files, HEAD and tags are as before"
                ) from None
            if isinstance(exc, KernelkitError):
                raise KernelkitError(
                    f"{exc} (rolled back: files, HEAD and tags are as before)",
                    exit_code=exc.exit_code,
                    details=exc.details,
                ) from exc
            raise
        transaction.complete()  # the tag is made: the release stands
        _journal_path(root).unlink(missing_ok=True)
        transaction.fault_point("release-done")
    return Released(plan, commit, checks)


def _rollback(plan: Plan, originals: dict[Path, bytes | None], tagged: bool, wheels: list[Path]) -> list[str]:
    """Undo the tag, the commit, the index and the files; returns what could not be undone."""
    root = plan.project.root
    problems: list[str] = []

    def attempt(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - keep undoing the rest, report each failure
            problems.append(f"{what}: {exc}")

    if tagged or _tag_exists(root, plan.tag):  # it did not exist when planned: any such tag is ours
        attempt(f"delete tag {plan.tag} (`git tag -d {plan.tag}`)", lambda: _git(root, "tag", "-d", plan.tag))
    # The tree was clean at plan.head, so HEAD and the whole index go back there (a commit made is
    # dropped, like `git reset --soft HEAD~1` + unstaging); the working tree is left to the next step.
    attempt(
        f"reset HEAD and the index to {plan.head[:12]} (`git reset {plan.head[:12]}`)",
        lambda: _git(root, "reset", "-q", plan.head),
    )
    for path, data in originals.items():
        rel = layout.rel(plan.project, path)
        if data is None:
            attempt(f"delete {rel}", lambda path=path: path.unlink(missing_ok=True))
        else:
            attempt(
                f"restore {rel} (`git checkout -- {rel}`)",
                lambda path=path, data=data: transaction.write_atomic(path, data),
            )
    for wheel in wheels:
        attempt(f"delete {wheel}", lambda wheel=wheel: wheel.unlink(missing_ok=True))
    return problems


# ------------------------------------------------------------------------------------- recovery


def _journal_path(root: Path) -> Path:
    return root / RELEASE_JOURNAL


def _save_journal(plan: Plan, originals: dict[Path, bytes | None], state: str) -> None:
    """What the next run needs to undo or finish this release if it is killed: written before any file is."""
    root = plan.project.root
    files = {}
    for path, data in originals.items():
        new = plan.changes.changes[path]
        files[os.path.relpath(path, root)] = {
            "original": base64.b64encode(data).decode("ascii") if data is not None else None,
            "sha256": transaction.sha256(new.encode("utf-8")) if new is not None else None,
        }
    data = {
        "kernelkit_release_journal": _JOURNAL_FORMAT,
        "state": state,
        "pid": os.getpid(),
        "tag": plan.tag,
        "head": plan.head,
        "commit_message": plan.commit_message,
        "section": plan.section,
        "files": files,
    }
    transaction.write_atomic(_journal_path(root), json.dumps(data, indent=1).encode("utf-8"))


def _release_commit(root: Path, head: str, message: str) -> str | None:
    """The commit `message` made on top of `head`, if HEAD has it in its history."""
    log = _git(root, "log", "--format=%H %P%x00%s", f"{head}..HEAD", check=False)
    for line in log.stdout.splitlines() if log.returncode == 0 else []:
        ids, _, subject = line.partition("\0")
        commit, *parents = ids.split()
        if parents == [head] and subject == message:
            return commit
    return None


def _restore_files(root: Path, head: str, files: dict[Path, tuple[bytes | None, str | None]]) -> list[str]:
    """Every file the release wrote back to its bytes before it, and its index entry back to `head`; refuses,
    changing nothing, when a file is neither what it was nor what the release wrote (edited since)."""
    todo, conflicts = [], []
    for path, (original, new_sha) in files.items():
        current = path.read_bytes() if path.is_file() else None
        if current == original:
            continue
        if current is None or transaction.sha256(current) == new_sha:
            todo.append((path, original))
        else:
            conflicts.append(
                f"{os.path.relpath(path, root)}: changed since; restore it with `git checkout {head[:12]} -- "
                f"{os.path.relpath(path, root)}` if the change is not yours"
            )
    if conflicts:
        raise KernelkitError(
            f"an interrupted release left files that were edited since; kernelkit changed nothing. Resolve them, "
            f"then delete {RELEASE_JOURNAL}:",
            details=conflicts,
        )
    for path, original in todo:
        if original is None:
            path.unlink(missing_ok=True)
        else:
            transaction.write_atomic(path, original)
    _git(root, "reset", "-q", head, "--", *(str(p) for p in files), check=False)  # unstage what `git add` staged
    return [os.path.relpath(path, root) for path, _ in todo]


def recover(root: Path, *, finish: bool) -> tuple[list[str], str | None]:
    """Undo or finish a release a killed run left (its journal); messages, and the tag when this finished it.

    Cut off before its commit: the files go back. Between its commit and its tag: `finish` (the release
    command) tags the commit; other commands say how, and leave the journal for `kernelkit release`.
    The caller holds the project lock."""
    path = _journal_path(root)
    if not path.exists():
        return [], None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("kernelkit_release_journal") != _JOURNAL_FORMAT:
            raise ValueError("unknown format")
        tag, head, message, state = data["tag"], data["head"], data["commit_message"], data["state"]
        files = {
            root / rel: (base64.b64decode(f["original"]) if f["original"] is not None else None, f["sha256"])
            for rel, f in data["files"].items()
        }
        who = f"`kernelkit release` of {tag} (pid {data['pid']})"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KernelkitError(
            f"{path}: the journal of an interrupted release, unreadable ({exc}); check `git log`, `git tag` and "
            "`git status`, then delete it"
        ) from None
    now = _git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).stdout.strip()
    commit = _release_commit(root, head, message)

    def undone(what: str) -> str:
        restored = _restore_files(root, head, files)
        path.unlink()
        put_back = (
            f"{len(restored)} file{'s' if len(restored) != 1 else ''} put back" if restored else "no file to put back"
        )
        return f"{who} {what}; undid it ({put_back}): the repository is as before it"

    if state == ROLLING_BACK:
        if _tag_exists(root, tag):  # it did not exist when the release was planned: it is the release's
            _git(root, "tag", "-d", tag)
        if commit is not None and now == commit:
            _git(root, "reset", "-q", head)
        return [undone("failed and was cut off while undoing itself")], None
    if _tag_exists(root, tag):
        path.unlink()
        return [f"{who} was cut off after tagging {tag}: the release is complete; removed its journal"], None
    if now == head:
        return [undone("was cut off before its commit")], None
    if commit is not None and now == commit:
        if not finish:
            return [
                f"{who} was cut off between its commit ({commit[:12]}) and its tag: run `kernelkit release` to "
                f"finish it (it tags {commit[:12]} as {tag}), or drop the commit with `git reset --keep {head[:12]}`"
            ], None
        _git(root, "tag", "-a", "--cleanup=verbatim", "-F", "-", tag, input=data["section"])
        path.unlink()
        return [f"{who} was cut off between its commit and its tag; tagged {commit[:12]} as {tag} now"], tag
    path.unlink()
    if commit is not None:
        return [
            f"{who} was cut off between its commit ({commit[:12]}) and its tag, and HEAD has moved on since; tag "
            f"the release commit by hand: `git tag -a {tag} {commit[:12]}`"
        ], None
    return [
        f"{who} was cut off, and HEAD has moved since ({head[:12]} -> {now[:12] or 'none'}) without its commit, "
        "so kernelkit changed nothing; check `git log` and `git status`"
    ], None
