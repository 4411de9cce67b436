"""`kernelkit release` end to end, each test in its own committed git copy of this repository.

What is asserted is what a maintainer relies on: every version string moves together (pyproject.toml
otherwise byte for byte), the changelog says which ops changed since the last tag and which commits
went in, the commit and annotated tag are made, and every refusal or failure midway (files written,
wheel checked, commit made, tag made) leaves the tree, HEAD and the tags exactly as they were.
Nothing here ever runs against the checkout the tests run from.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

# Releasing needs tomlkit, an optional install (the GPU machine has no network to fetch it); CI has it.
pytest.importorskip("tomlkit", reason="kernelkit release needs tomlkit (pip install tomlkit)")

from scaffold_helpers import Result, copy_ignore

from kernelkit import release as core
from kernelkit.codegen import transaction
from kernelkit.errors import KernelkitError

REPO_ROOT = Path(__file__).resolve().parents[2]
COPY_IGNORE = shutil.ignore_patterns(
    ".venv",
    "build",
    ".git",
    "__pycache__",
    "*.so",
    "compile_commands.json",
    ".pytest_cache",
    "*.whl",
    "dist",
    ".kernelkit.lock",
    "*.kernelkit-new",
)
PYPROJECT = "pyproject.toml"
LIBRARY_PYPROJECT = "library/pyproject.toml"  # the kernelkit-ops distribution, released with the CLI
CLI_INIT = "kernelkit/__init__.py"
OPS_INIT = "library/python/kernelkit_ops/__init__.py"
GELU_BINDING = "library/csrc/activation/gelu_and_mul.cc"
VERSION_FILES = (PYPROJECT, LIBRARY_PYPROJECT, CLI_INIT, OPS_INIT)
GELU_SCHEMA = '"gelu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()"'
OLD_OP = 'KERNELKIT_REGISTER_OP(kernelkit, old_op, &kernelkit::binding::old_op, "old_op(Tensor! out) -> ()");\n'
_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Local to each copy: the tests never depend on (or fight) the user's global git config.
_GIT_CONFIG = {
    "user.name": "kernelkit tests",
    "user.email": "tests@kernelkit.invalid",
    "commit.gpgsign": "false",
    "tag.gpgsign": "false",
    "core.autocrlf": "false",
    "core.hooksPath": ".git/hooks",
}


def plain(text: str) -> str:
    return _ANSI_RE.sub("", text)


def git(root: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    proc = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", *args], cwd=root, capture_output=True, text=True, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


@dataclass(frozen=True)
class State:
    """What a refused or rolled-back release must leave exactly as it was."""

    head: str
    tags: str  # every tag with the object it names
    status: str  # including ignored files: no wheel, lock or staging file may be left behind
    files: dict[str, bytes]  # the files a release touches


class Repo:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self._mp = monkeypatch

    def run(self, *args: str, input: str | None = None) -> Result:
        from kernelkit.cli import _ui, app

        self._mp.chdir(self.root)
        self._mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        self._mp.delenv("KERNELKIT_TRACEBACK", raising=False)
        # Wide consoles: messages are not folded mid-word (restored after the test).
        self._mp.setattr(_ui.console, "_width", 250)
        self._mp.setattr(_ui.err_console, "_width", 250)
        result = CliRunner().invoke(app, ["release", *args], input=input)
        return Result(
            result.exit_code, plain(result.output), plain(result.stdout), plain(result.stderr), result.exception
        )

    def ok(self, *args: str) -> Result:
        result = self.run(*args)
        assert result.exit_code == 0, f"kernelkit release {' '.join(args)} -> {result.exit_code}:\n{result.output}"
        return result

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.root, *args, check=check)

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def write(self, rel: str, text: str) -> None:
        (self.root / rel).write_text(text)

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.read(rel)
        assert old in text, f"{old!r} not in {rel}"
        self.write(rel, text.replace(old, new, 1))

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def tag(self, name: str) -> None:
        self.git("tag", "-a", "-m", name, name)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def tags(self) -> list[str]:
        return self.git("tag", "-l").split()

    def subjects(self, rev_range: str = "HEAD") -> list[str]:
        return self.git("log", "--format=%s", rev_range).splitlines()

    def state(self) -> State:
        files = {}
        for rel in (*VERSION_FILES, "CHANGELOG.md"):
            path = self.root / rel
            files[rel] = path.read_bytes() if path.exists() else b""
        return State(
            self.head(),
            self.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/tags"),
            self.git("status", "--porcelain", "--untracked-files=all", "--ignored"),
            files,
        )

    def assert_unchanged(self, before: State) -> None:
        after = self.state()
        assert self.git("status", "--porcelain", "--untracked-files=all") == "", "the tree is not clean"
        assert after.head == before.head, "HEAD moved"
        assert after.tags == before.tags, f"tags changed:\n{before.tags}\n->\n{after.tags}"
        assert after.status == before.status, f"ignored/untracked files changed:\n{before.status}\n->\n{after.status}"
        assert after.files == before.files, [k for k in after.files if after.files[k] != before.files[k]]
        assert not list(self.root.rglob("*.kernelkit-new")), "staging files left behind"
        assert not (self.root / transaction.LOCK_NAME).exists(), "the project lock was left behind"


def assert_refused(result: Result, *needles: str, code: int | None = None) -> str:
    assert result.exit_code != 0, result.output
    assert result.exit_code != 70, f"an internal error, not a refusal:\n{result.output}"
    if code is not None:
        assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    error = next((line for line in result.lines if line.startswith("error: ")), None)
    assert error is not None, result.output
    for needle in needles:
        assert needle in result.output, f"{needle!r} not in:\n{result.output}"
    return error


def with_version(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1
    return text.replace(old, new)


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git copy of this checkout: one commit tagged v0.1.0, then two more commits after the tag."""
    root = tmp_path_factory.mktemp("release_pristine") / "project"
    # what a clean clone holds: also without the checkout's git-ignored scratch (copy_ignore)
    shutil.copytree(REPO_ROOT, root, ignore=lambda d, names: set(COPY_IGNORE(d, names)) | copy_ignore(d, names),
                    symlinks=True)  # fmt: skip
    git(root, "init", "-q")
    for key, value in _GIT_CONFIG.items():
        git(root, "config", key, value)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "pristine copy")
    git(root, "tag", "-a", "-m", "v0.1.0", "v0.1.0")
    (root / "README.md").write_text((root / "README.md").read_text() + "\nA note after v0.1.0.\n")
    git(root, "commit", "-q", "-am", "docs: a note after the tag")
    git(root, "commit", "-q", "--allow-empty", "-m", "tests: nothing, but a subject")
    assert git(root, "status", "--porcelain") == "", "the pristine copy is not clean"
    return root


@pytest.fixture
def repo(pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    root = tmp_path / "project"
    shutil.copytree(pristine, root, symlinks=True)
    return Repo(root, monkeypatch)


# --------------------------------------------------------------------------------------- dry run


def test_dry_run_shows_the_diff_and_changes_nothing(repo: Repo) -> None:
    before = repo.state()
    out = repo.ok("patch", "--dry-run").output
    assert '-version = "0.1.0"' in out and '+version = "0.1.1"' in out
    assert '+__version__ = "0.1.1"' in out
    for rel in (*VERSION_FILES,):
        assert f"+++ b/{rel}" in out, rel
    assert "+++ b/CHANGELOG.md" in out and "+## v0.1.1 — " in out
    assert "would commit 'release v0.1.1' and tag v0.1.1" in out
    assert "nothing was changed" in out
    repo.assert_unchanged(before)


def test_dry_run_json(repo: Repo) -> None:
    before = repo.state()
    data = repo.ok("minor", "--dry-run", "--json").json()
    assert data["dry_run"] is True and data["commit"] is None
    assert (data["previous_version"], data["version"], data["tag"], data["previous_tag"]) == (
        "0.1.0",
        "0.2.0",
        "v0.2.0",
        "v0.1.0",
    )
    assert data["files"] == sorted(["CHANGELOG.md", *VERSION_FILES])
    assert data["commits"] == ["tests: nothing, but a subject", "docs: a note after the tag"]
    assert '+version = "0.2.0"' in data["diff"]
    repo.assert_unchanged(before)


# ----------------------------------------------------------------------------------- real ones


def test_patch_release_bumps_every_version_writes_the_changelog_commits_and_tags(repo: Repo) -> None:
    start = repo.head()
    originals = {rel: repo.read(rel) for rel in VERSION_FILES}
    out = repo.ok("patch", "--yes").output
    assert "released v0.1.1 (0.1.0 → 0.1.1)" in out

    # pyproject.toml: only the version changes, every other byte (comments, layout) is kept.
    assert repo.read(PYPROJECT) == originals[PYPROJECT].replace('version = "0.1.0"', 'version = "0.1.1"', 1)
    assert repo.read(PYPROJECT).count("0.1.1") == 1
    library = originals[LIBRARY_PYPROJECT]
    assert repo.read(LIBRARY_PYPROJECT) == library.replace('version = "0.1.0"', 'version = "0.1.1"', 1)
    assert repo.read(CLI_INIT) == originals[CLI_INIT].replace('__version__ = "0.1.0"', '__version__ = "0.1.1"')
    assert repo.read(OPS_INIT) == originals[OPS_INIT].replace('__version__ = "0.1.0"', '__version__ = "0.1.1"')

    changelog = repo.read("CHANGELOG.md")
    today = datetime.date.today().isoformat()
    assert changelog.startswith("# Changelog\n\n## v0.1.1 — ")
    assert f"## v0.1.1 — {today}" in changelog
    assert "### Ops" in changelog and "- no op added, removed or changed since v0.1.0" in changelog
    commits = changelog.split("### Commits", 1)[1]
    assert "- tests: nothing, but a subject" in commits and "- docs: a note after the tag" in commits
    assert "pristine copy" not in commits  # before the tag

    assert repo.subjects()[:1] == ["release v0.1.1"]
    assert repo.git("rev-parse", "HEAD~1").strip() == start
    changed = repo.git("diff", "--name-only", "HEAD~1", "HEAD").split()
    assert sorted(changed) == sorted(["CHANGELOG.md", *VERSION_FILES])
    assert repo.git("cat-file", "-t", "v0.1.1").strip() == "tag"  # annotated
    assert repo.git("rev-parse", "v0.1.1^{commit}").strip() == repo.head()
    message = repo.git("tag", "-l", "--format=%(contents)", "v0.1.1")
    assert message.startswith(f"## v0.1.1 — {today}") and "### Ops" in message and "### Commits" in message
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert not (repo.root / transaction.LOCK_NAME).exists()


@pytest.mark.parametrize(
    ("bump", "version"), [("minor", "0.2.0"), ("major", "1.0.0"), ("0.3.0", "0.3.0"), ("v0.1.7", "0.1.7")]
)
def test_minor_major_and_explicit_versions(repo: Repo, bump: str, version: str) -> None:
    repo.ok(bump, "--yes")
    assert f'version = "{version}"' in repo.read(PYPROJECT) and f'version = "{version}"' in repo.read(LIBRARY_PYPROJECT)
    for rel in (CLI_INIT, OPS_INIT):
        assert f'__version__ = "{version}"' in repo.read(rel)
    assert f"## v{version} — " in repo.read("CHANGELOG.md")
    assert repo.subjects()[0] == f"release v{version}"
    assert f"v{version}" in repo.tags()


def test_json_summary_of_a_real_release(repo: Repo) -> None:
    data = repo.ok("patch", "--yes", "--json").json()
    assert data["dry_run"] is False and data["commit"] == repo.head()
    assert data["tag"] == "v0.1.1" and data["wheels"] == [] and data["breaking"] is False
    assert LIBRARY_PYPROJECT in data["version_files"]
    assert data["changelog"].startswith("## v0.1.1 — ")


def test_next_release_goes_on_top_and_lists_only_newer_commits(repo: Repo) -> None:
    repo.ok("patch", "--yes")
    repo.commit("perf: something after 0.1.1")
    repo.ok("minor", "--yes")
    changelog = repo.read("CHANGELOG.md")
    assert changelog.index("## v0.2.0") < changelog.index("## v0.1.1")
    newest = changelog.split("## v0.1.1", 1)[0]
    assert "- perf: something after 0.1.1" in newest
    assert "release v0.1.1" not in newest and "docs: a note after the tag" not in newest  # the tag and before
    assert changelog.count("# Changelog") == 1


def test_without_a_previous_tag_every_op_is_added_and_every_commit_listed(repo: Repo) -> None:
    repo.git("tag", "-d", "v0.1.0")
    repo.ok("patch", "--yes")
    changelog = repo.read("CHANGELOG.md")
    for op in ("gelu_and_mul", "gelu_tanh_and_mul", "silu_and_mul"):
        assert f"- added: `{op}(Tensor! out, Tensor input, bool enable_pdl) -> ()`" in changelog
    assert "- pristine copy" in changelog and "- docs: a note after the tag" in changelog


def test_existing_changelog_keeps_its_intro_and_history(repo: Repo) -> None:
    repo.write("CHANGELOG.md", "# Changelog\n\nAll notable changes.\n\n## v0.1.0 — 2025-01-01\n\n- first\n")
    repo.commit("changelog exists")
    repo.ok("patch", "--yes")
    assert repo.read("CHANGELOG.md").startswith("# Changelog\n\nAll notable changes.\n\n## v0.1.1 — ")
    assert repo.read("CHANGELOG.md").endswith("\n## v0.1.0 — 2025-01-01\n\n- first\n")


def test_extra_version_files(repo: Repo) -> None:
    repo.replace(
        PYPROJECT,
        'python-package = "library/python/kernelkit_ops"\n',
        'python-package = "library/python/kernelkit_ops"\nversion-files = ["tools/_version.py", "tools/meta.toml"]\n',
    )
    repo.write("tools/_version.py", '"""Version."""\n__version__ = "0.1.0"\n')
    repo.write("tools/meta.toml", '[meta]\nname = "x"\nversion = "0.1.0"  # keep\n')
    repo.commit("extra version files")
    repo.ok("minor", "--yes")
    assert repo.read("tools/_version.py") == '"""Version."""\n__version__ = "0.2.0"\n'
    assert repo.read("tools/meta.toml") == '[meta]\nname = "x"\nversion = "0.2.0"  # keep\n'


def test_pyproject_quote_style_and_comment_are_kept(repo: Repo) -> None:
    repo.replace(PYPROJECT, 'version = "0.1.0"\n', "version = '0.1.0'  # bumped by kernelkit release\n")
    repo.commit("literal string")
    repo.ok("patch", "--yes")
    assert "version = '0.1.1'  # bumped by kernelkit release\n" in repo.read(PYPROJECT)


def test_a_lock_file_git_does_not_ignore_is_not_dirt(repo: Repo) -> None:
    repo.replace(".gitignore", ".kernelkit.lock\n", "")
    repo.commit("lock not ignored")
    repo.ok("patch", "--yes")
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""
    assert ".kernelkit.lock" not in repo.git("show", "--name-only", "HEAD")


# ------------------------------------------------------------------------------ breaking changes


@pytest.fixture
def breaking(repo: Repo) -> Repo:
    """The tag v0.1.0 names a commit where gelu_and_mul had another schema and an op old_op existed (its
    binding TU alone is enough: a release reads the schemas the binding files register); HEAD has today's
    bindings, so since the tag one op changed and one was removed."""
    repo.git("tag", "-d", "v0.1.0")
    original = repo.read(GELU_BINDING)
    repo.replace(GELU_BINDING, GELU_SCHEMA, '"gelu_and_mul(Tensor! out, Tensor input, float scale) -> ()"')
    (repo.root / "library/csrc/misc").mkdir()
    repo.write("library/csrc/misc/old_op.cc", OLD_OP)
    repo.commit("the old schemas")
    repo.tag("v0.1.0")
    repo.write(GELU_BINDING, original)
    (repo.root / "library/csrc/misc/old_op.cc").unlink()
    repo.commit("gelu_and_mul loses scale; old_op goes")
    return repo


def test_breaking_change_with_a_patch_bump_warns_and_the_changelog_says_so(breaking: Repo) -> None:
    result = breaking.ok("patch", "--yes")
    assert "warning: breaking change" in result.stderr
    assert "removed old_op" in result.stderr and "changed the schema of gelu_and_mul" in result.stderr
    changelog = breaking.read("CHANGELOG.md")
    ops = changelog.split("### Ops", 1)[1].split("### Commits", 1)[0]
    assert "- removed (breaking): `old_op(Tensor! out) -> ()`" in ops
    assert (
        "- schema changed (breaking): `gelu_and_mul`: `gelu_and_mul(Tensor! out, Tensor input, float scale) -> ()`"
        " → `gelu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()`"
    ) in ops
    assert "silu_and_mul" not in ops  # unchanged ops are not listed
    assert "v0.1.1" in breaking.tags()


def test_breaking_change_json_and_dry_run(breaking: Repo) -> None:
    before = breaking.state()
    result = breaking.ok("patch", "--dry-run", "--json")
    data = result.json()  # the warning goes to stderr: stdout stays JSON
    assert data["breaking"] is True and "breaking change" in data["warning"]
    assert data["ops"]["removed"] == {"old_op": "old_op(Tensor! out) -> ()"}
    assert set(data["ops"]["changed"]) == {"gelu_and_mul"}
    breaking.assert_unchanged(before)


@pytest.mark.parametrize("bump", ["minor", "major", "0.2.0"])
def test_breaking_change_with_a_0x_minor_or_major_bump_does_not_warn(breaking: Repo, bump: str) -> None:
    result = breaking.ok(bump, "--yes")
    assert "warning" not in result.output


def test_breaking_change_from_1_0_needs_a_major_bump(breaking: Repo) -> None:
    for rel in VERSION_FILES:
        breaking.write(rel, with_version(breaking.read(rel), '"0.1.0"', '"1.0.0"'))
    breaking.commit("1.0.0")
    assert "warning: breaking change" in breaking.ok("1.1.0", "--dry-run").stderr
    assert "a major bump" in breaking.ok("minor", "--dry-run").stderr
    assert "warning" not in breaking.ok("major", "--dry-run").output


@pytest.fixture
def legacy_tag(repo: Repo) -> Repo:
    """The tag v0.1.0 names a commit of the layout before ops had their own files: no binding TUs, every
    schema an m.def line of csrc/registration.cc (gelu_and_mul's another, old_op one more)."""
    from kernelkit.model import registry
    from kernelkit.project import find_project

    repo.git("tag", "-d", "v0.1.0")
    ops = registry.scan(find_project(repo.root))
    schemas = [op.registered.schema_text for op in ops.values() if op.registered]
    # the host functions registered beside ops (the all-reduce's handles) had their m.def lines there too
    schemas += [
        fn.schema_text
        for op in ops.values()
        if op.binding_file
        for fn in registry.host_functions(op.binding_file.path.read_text())
    ]
    schemas = [
        s.replace(
            "gelu_and_mul(Tensor! out, Tensor input, bool enable_pdl)",
            "gelu_and_mul(Tensor! out, Tensor input, float scale)",
        )
        for s in schemas
    ]
    lines = "".join(f'  m.def("{s}");\n' for s in [*schemas, "old_op(Tensor! out) -> ()"])
    ccs = {op.binding_file.path: op.binding_file.path.read_bytes() for op in ops.values() if op.binding_file}
    for path in ccs:
        path.unlink()
    repo.write(
        "library/csrc/registration.cc",
        "STABLE_TORCH_LIBRARY(kernelkit, m) {\n  // kernelkit:schemas-begin\n"
        + lines
        + "  // kernelkit:schemas-end\n}\n",
    )
    repo.commit("the layout of registration.cc")
    repo.tag("v0.1.0")
    (repo.root / "library/csrc/registration.cc").unlink()
    for path, data in ccs.items():
        path.write_bytes(data)
    repo.commit("every op its own files")
    return repo


def test_a_tag_of_the_registration_cc_layout_is_read_too(legacy_tag: Repo) -> None:
    data = legacy_tag.ok("patch", "--dry-run", "--json").json()
    assert data["ops"]["added"] == {}  # every op of today was in registration.cc: none is new
    assert data["ops"]["removed"] == {"old_op": "old_op(Tensor! out) -> ()"}
    assert data["ops"]["changed"] == {
        "gelu_and_mul": {
            "old": "gelu_and_mul(Tensor! out, Tensor input, float scale) -> ()",
            "new": "gelu_and_mul(Tensor! out, Tensor input, bool enable_pdl) -> ()",
        }
    }


def test_announces_breaking() -> None:
    assert core.announces_breaking("0.1.0", "0.2.0") and core.announces_breaking("0.1.3", "1.0.0")
    assert not core.announces_breaking("0.1.0", "0.1.1")
    assert core.announces_breaking("1.2.3", "2.0.0")
    assert not core.announces_breaking("1.2.3", "1.3.0") and not core.announces_breaking("1.2.3", "1.2.4")


# ------------------------------------------------------------------------------------- refusals


def test_refuses_a_dirty_tree(repo: Repo) -> None:
    before_head = repo.head()
    repo.write("README.md", repo.read("README.md") + "uncommitted\n")
    assert_refused(repo.run("patch", "--yes"), "not clean", "README.md")
    repo.git("checkout", "--", "README.md")
    (repo.root / "scratch.txt").write_text("untracked\n")
    assert_refused(repo.run("patch", "--yes"), "not clean", "scratch.txt")
    assert repo.head() == before_head and repo.tags() == ["v0.1.0"]
    assert 'version = "0.1.0"' in repo.read(PYPROJECT) and not (repo.root / "CHANGELOG.md").exists()


@pytest.mark.parametrize("bad", ["1.2", "abc", "1.2.3.4", "01.2.3", "1.2.3rc1", "-1.0.0"])
def test_refuses_an_invalid_version(repo: Repo, bad: str) -> None:
    before = repo.state()
    assert_refused(repo.run("--yes", "--", bad), f"'{bad}' is not a version", code=2)
    repo.assert_unchanged(before)


@pytest.mark.parametrize("version", ["0.1.0", "0.0.9"])
def test_refuses_a_version_not_greater(repo: Repo, version: str) -> None:
    before = repo.state()
    assert_refused(repo.run(version, "--yes"), f"{version} is not greater than the current version 0.1.0")
    repo.assert_unchanged(before)


def test_refuses_an_existing_tag(repo: Repo) -> None:
    repo.git("tag", "v0.1.1", "HEAD~1")
    before = repo.state()
    assert_refused(repo.run("patch", "--yes"), "tag v0.1.1 already exists")
    repo.assert_unchanged(before)


def test_refuses_when_check_fails(repo: Repo) -> None:
    (repo.root / "tests/ops/activation/test_silu_and_mul.py").unlink()
    repo.commit("lose a test")
    before = repo.state()
    result = repo.run("patch", "--yes")
    assert_refused(
        result,
        "`kernelkit check` finds 1 problem",
        "tests/ops/activation/test_silu_and_mul.py: silu_and_mul: missing: test",
    )
    repo.assert_unchanged(before)


def test_refuses_versions_that_disagree(repo: Repo) -> None:
    repo.replace(OPS_INIT, '__version__ = "0.1.0"', '__version__ = "0.1.5"')
    repo.commit("a stray version")
    before = repo.state()
    error = assert_refused(repo.run("patch", "--yes"), "library/python/kernelkit_ops/__init__.py: 0.1.5")
    assert OPS_INIT in error and CLI_INIT not in error and "pyproject.toml (0.1.0)" in error
    repo.assert_unchanged(before)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("x = 1\n", "found 0"),
        ('__version__ = "0.1.0"\n__version__ = "0.1.0"\n', "found 2 (lines 1, 2)"),
        ('version = "0.1.0"\nversion = "0.1.0"\n', "found 2"),
    ],
)
def test_refuses_a_version_file_without_exactly_one_version_line(repo: Repo, content: str, needle: str) -> None:
    repo.replace(
        PYPROJECT,
        'python-package = "library/python/kernelkit_ops"\n',
        'python-package = "library/python/kernelkit_ops"\nversion-files = ["tools/VERSION.txt"]\n',
    )
    repo.write("tools/VERSION.txt", content)
    repo.commit("a version file")
    before = repo.state()
    assert_refused(repo.run("patch", "--yes"), "tools/VERSION.txt: expected exactly one", needle)
    repo.assert_unchanged(before)


def test_refuses_outside_a_git_repository(repo: Repo) -> None:
    shutil.rmtree(repo.root / ".git")
    before = {rel: repo.read(rel) for rel in VERSION_FILES}
    assert_refused(repo.run("patch", "--yes"), "is not in a git repository")
    assert {rel: repo.read(rel) for rel in VERSION_FILES} == before
    assert not (repo.root / "CHANGELOG.md").exists() and not (repo.root / ".git").exists()


def test_refuses_without_yes_and_without_a_tty(repo: Repo) -> None:
    before = repo.state()
    assert_refused(repo.run("patch"), "pass --yes", code=2)
    repo.assert_unchanged(before)


class _Tty:
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "released"), [("n\n", False), ("y\n", True)])
def test_asks_on_a_tty(repo: Repo, monkeypatch: pytest.MonkeyPatch, answer: str, released: bool) -> None:
    import kernelkit.cli.release as cli_release

    monkeypatch.setattr(cli_release.typer, "get_text_stream", lambda name: _Tty())
    before = repo.state()
    result = repo.run("patch", input=answer)
    assert "Release v0.1.1?" in result.output and "## v0.1.1" in result.output
    if released:
        assert result.exit_code == 0, result.output
        assert "v0.1.1" in repo.tags()
    else:
        assert result.exit_code == 1, result.output
        repo.assert_unchanged(before)


def test_refuses_when_the_tree_changes_while_asking(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    import kernelkit.cli.release as cli_release

    def confirm_and_edit(*args, **kwargs) -> bool:
        (repo.root / "README.md").write_text("edited meanwhile\n")
        return True

    monkeypatch.setattr(cli_release.typer, "get_text_stream", lambda name: _Tty())
    monkeypatch.setattr(cli_release.typer, "confirm", confirm_and_edit)
    head = repo.head()
    assert_refused(repo.run("patch"), "changed since the release was planned")
    assert repo.head() == head and repo.tags() == ["v0.1.0"] and 'version = "0.1.0"' in repo.read(PYPROJECT)
    assert repo.git("status", "--porcelain") == " M README.md\n"


def test_refuses_while_another_command_holds_the_lock(repo: Repo) -> None:
    import fcntl

    lock = repo.root / transaction.LOCK_NAME
    with lock.open("w") as held:  # what another kernelkit command holds while it changes the project
        held.write(str(os.getpid()))
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before_head = repo.head()
        assert_refused(repo.run("patch", "--yes"), "another kernelkit command")
        assert repo.head() == before_head and repo.tags() == ["v0.1.0"]
    lock.unlink()


# ------------------------------------------------------------------------------------- rollback


def test_failure_after_the_first_file_swap_rolls_back(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail_at_second(index: int, path: Path) -> None:
        if index == 1:
            raise KernelkitError("injected failure mid-swap")

    monkeypatch.setattr(transaction, "_before_swap", fail_at_second)
    before = repo.state()
    assert_refused(repo.run("patch", "--yes"), "injected failure mid-swap")
    repo.assert_unchanged(before)


@pytest.mark.parametrize("step", [core.FILES_WRITTEN, core.COMMITTED, core.TAGGED])
@pytest.mark.parametrize("error", [KernelkitError, RuntimeError])
def test_failure_after_a_step_rolls_everything_back(
    repo: Repo, monkeypatch: pytest.MonkeyPatch, step: str, error: type
) -> None:
    seen: list[str] = []

    def fail_at(name: str) -> None:
        seen.append(name)
        if name == step:
            raise error(f"injected failure after {name}")

    monkeypatch.setattr(core, "_after_step", fail_at)
    before = repo.state()
    result = repo.run("patch", "--yes")
    assert seen[-1] == step
    if error is KernelkitError:
        assert_refused(result, f"injected failure after {step}", "rolled back")
    else:  # a bug, not a refusal: still nothing is left changed
        assert result.exit_code == 70 and "internal error" in result.output
    repo.assert_unchanged(before)


def test_a_failing_commit_hook_rolls_back(repo: Repo) -> None:
    hook = repo.root / ".git/hooks/pre-commit"
    hook.write_text("#!/bin/sh\necho 'hook says no' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = repo.state()
    assert_refused(repo.run("patch", "--yes"), "git commit", "hook says no", "rolled back")
    repo.assert_unchanged(before)


def test_a_failing_wheel_rolls_back_and_leaves_no_wheel(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_wheels(project, version, on_step=None):
        (project.root / "dist").mkdir(exist_ok=True)
        good = project.root / "dist" / f"kernelkit-{version}-py3-none-any.whl"
        good.write_bytes(b"")  # built first; the rollback deletes it all the same
        wheel = project.root / "dist" / f"kernelkit_ops-{version}-py3-none-manylinux_2_34_x86_64.whl"
        wheel.write_bytes(b"not a zip")
        return [core.BuiltWheel(wheel)]

    monkeypatch.setattr(core, "check_wheel_tools", lambda project: None)
    monkeypatch.setattr(core, "build_wheels", broken_wheels)
    (repo.root / "dist").mkdir()
    before = repo.state()
    assert_refused(repo.run("patch", "--yes", "--wheel"), "is not a valid wheel", "rolled back")
    assert not list((repo.root / "dist").glob("*.whl"))
    repo.assert_unchanged(before)


# ---------------------------------------------------------------------------------------- wheel


def test_the_library_is_checked_where_only_torch_is_installed(tmp_path: Path) -> None:
    """The fresh venv of the library wheel's check sees torch and torch's own dependencies, nothing else: a
    dependency the library forgot to declare (or the CLI's) would fail its import there."""
    site = core._torch_only_site(tmp_path / "torch-only")
    assert site is not None and (site / "torch" / "__init__.py").is_file()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    (Path(purelib) / "torch_only.pth").write_text(f"{site}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    probe = (
        "import importlib.util, torch; "
        "print([m for m in ('typer', 'rich', 'tomlkit', 'kernelkit', 'kernelkit_ops') if importlib.util.find_spec(m)])"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_both_distributions_are_released_library_first(repo: Repo) -> None:
    from kernelkit.project import find_project

    dists = core.distributions(find_project(repo.root))
    assert [(d.name, d.source) for d in dists] == [("kernelkit-ops", repo.root / "library"), ("kernelkit", repo.root)]


def test_the_wheel_tools_are_checked_before_anything_is_written(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.buildsys, "check_requisites", lambda: {})
    real_find_spec = core.importlib.util.find_spec
    monkeypatch.setattr(core.importlib.util, "find_spec", lambda n: None if n == "wheel" else real_find_spec(n))
    before = repo.state()
    assert_refused(repo.run("patch", "--yes", "--wheel"), "pip install 'wheel>=0.40'")
    repo.assert_unchanged(before)


@pytest.mark.slow
def test_wheels_are_built_tagged_and_each_imported_in_a_fresh_venv(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """The library wheel: manylinux-tagged as the audit of its .so proves, depends on torch only, and imports
    (registering its ops) where nothing but torch is installed. The CLI wheel: pure Python, with what init copies."""
    import zipfile

    from kernelkit.builder import manylinux, toolchain

    missing = [t for t in ("cmake", "ninja") if not toolchain.find_tool(t).found] + (
        [] if toolchain.find_nvcc().found else ["nvcc"]
    )
    if missing:
        pytest.skip(f"needs {', '.join(missing)} to compile the library into the wheel")
    pytest.importorskip("wheel", reason="the manylinux retag needs the `wheel` package (pip install wheel)")
    # The wheel's build folder shares no objects with build/dev's ccache entries: without the CUTLASS GEMM ops it
    # compiles in a minute on CI's two cores instead of several (scikit-build-core reads SKBUILD_CMAKE_DEFINE).
    monkeypatch.setenv("SKBUILD_CMAKE_DEFINE", "KERNELKIT_CUTLASS=OFF")
    start = repo.head()
    result = repo.ok("patch", "--yes", "--wheel")
    dist = repo.root / "dist"
    assert sorted(p.name for p in dist.glob("*.whl")) == sorted(
        ["kernelkit-0.1.1-py3-none-any.whl", *(p.name for p in dist.glob("kernelkit_ops-0.1.1-py3-none-manylinux_2_*"))]
    ), result.output
    library = next(dist.glob("kernelkit_ops-0.1.1-py3-none-manylinux_2_*_x86_64.whl"))
    cli = dist / "kernelkit-0.1.1-py3-none-any.whl"

    # the tag is the one an independent audit of the wheel's .so gives, and the wheel's own metadata says it
    audits = manylinux.audit_wheel(library)
    assert [a.library for a in audits] == ["kernelkit_ops/_kernelkit_ops.so"]
    assert audits[0].problems == [] and audits[0].left_to_torch == ["libtorch_cpu.so"]
    tag = audits[0].tag
    assert library.name == f"kernelkit_ops-0.1.1-py3-none-{tag}.whl"
    with zipfile.ZipFile(library) as zf:
        names = zf.namelist()
        wheel_meta = zf.read("kernelkit_ops-0.1.1.dist-info/WHEEL").decode()
        metadata = zf.read("kernelkit_ops-0.1.1.dist-info/METADATA").decode()
    assert f"Tag: py3-none-{tag}" in wheel_meta and "linux_x86_64" not in wheel_meta.replace(tag, "")
    assert [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")] == [
        "Requires-Dist: torch>=2.10"
    ]
    assert "kernelkit_ops/_kernelkit_ops.so" in names and not any(n.startswith("kernelkit/") for n in names)
    with zipfile.ZipFile(cli) as zf:
        cli_names = zf.namelist()
    assert "kernelkit/cli/__init__.py" in cli_names and not any(n.startswith("kernelkit_ops/") for n in cli_names)
    assert "kernelkit/project_files/library/python/kernelkit_ops/_archguard.py" in cli_names
    assert not any(n.endswith(".so") for n in cli_names)

    lines = [line.strip() for line in result.lines if line.strip().startswith("wheel ")]
    assert len(lines) == 2, result.output
    assert f"dist/{library.name}" in lines[0] and re.search(r"\(\d+\.\d MiB", lines[0]), lines[0]
    assert "imports kernelkit_ops 0.1.1 in a fresh venv with only torch installed" in lines[0]
    cmake = (repo.root / "library/CMakeLists.txt").read_text()

    def listed(region: str) -> list[str]:
        body = cmake.split(f"# kernelkit:{region}-begin")[1].split(f"# kernelkit:{region}-end")[0]
        return [line.strip() for line in body.splitlines() if line.strip()]

    # every op of the plain list (the FP4 ops need --fp4; the GEMMs are left out above), and the host functions
    # registered beside them
    from kernelkit.model import registry

    hosts = [registry.host_functions((repo.root / f"library/csrc/{op}.cc").read_text()) for op in listed("ops")]
    expected = len(listed("ops")) + sum(len(h) for h in hosts)
    assert f", {expected} ops registered" in lines[0], lines[0]
    assert f"{tag}: needs GLIBC_{audits[0].needs['GLIBC']}" in lines[0] and "libtorch_cpu.so left to torch" in lines[0]
    assert f"dist/{cli.name}" in lines[1] and "imports kernelkit.cli 0.1.1 in a fresh venv" in lines[1]

    assert repo.subjects()[0] == "release v0.1.1" and repo.git("rev-parse", "HEAD~1").strip() == start
    assert "v0.1.1" in repo.tags()
    assert repo.git("status", "--porcelain", "--untracked-files=all") == ""  # dist/ and build/ are ignored
