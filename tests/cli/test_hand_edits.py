"""Hand edits of the lines `new` manages (the CMake op lists, the package's exports and __all__): `remove` takes out
exactly what `new` wrote, never touches what the user wrote, and refuses, saying where, what it cannot recognise
(`check` reports the same lines); a tree run through the project's formatters still round-trips byte for byte."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from scaffold_helpers import ProjectCopy, pristine_project, project  # noqa: F401  (fixtures)
from test_scaffold import CMAKE, INIT, assert_one_line_error

LONG = ("abcdefghij_" * 6)[:63]  # with one more letter: the longest op name new takes (64)


def _lint(project: ProjectCopy, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/lint.py", *flags], cwd=project.root, capture_output=True, text=True, timeout=300
    )


def _formatters_or_skip() -> None:
    from pathlib import Path

    beside = Path(sys.executable).parent / "clang-format"
    if not beside.is_file() and shutil.which("clang-format") is None:
        pytest.skip("needs clang-format (tools/lint.py)")


def test_a_formatted_tree_round_trips(project: ProjectCopy):
    """New ops of every template (names of the longest length, digits that sort naturally), the whole tree run
    through the formatters (tools/lint.py --fix, as `make format`), then new + remove leaves it byte for byte,
    and removing the formatted ops gives back the original shared files."""
    _formatters_or_skip()
    added = {
        f"{LONG}e": ["-c", "fresh_cat"],
        f"{LONG}r": ["-t", "rowwise"],
        f"{LONG}c": [
            "--schema",
            f"{LONG}c(Tensor! out, Tensor x, int dim, float eps=1e-06, bool enable_pdl=False) -> ()",
        ],
        "op9": ["-c", "fresh_cat"],
        "op10": ["-c", "fresh_cat"],
        "my_like": ["--like", "rmsnorm"],
    }
    for name, flags in added.items():
        project.ok("new", name, *flags)
    linted = _lint(project)
    assert linted.returncode == 0, linted.stdout[-3000:] + linted.stderr[-3000:]  # generated as formatted
    fixed = _lint(project, "--fix")
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    project.commit("new ops, formatted")

    project.ok("new", "probe_op", "-c", "fresh_cat")
    project.ok("remove", "probe_op", "--yes")
    project.assert_unchanged()

    for name in added:
        project.ok("remove", name, "--yes")
    project.ok("check")
    assert project.git("diff", "HEAD~1", "--", CMAKE, INIT) == ""


# (file, old, new): hand edits inside the managed regions that leave every entry recognisable
USER_LINES = {
    "blank-lines-and-comments": [
        (CMAKE, "  norm/rmsnorm\n", "\n  # the norms\n  norm/rmsnorm\n\n"),
        (
            INIT,
            "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
            "\n# norms\nfrom kernelkit_ops.norm.rmsnorm import rmsnorm\n\n",
        ),
        (INIT, '    "rmsnorm",\n', '\n    # norms\n    "rmsnorm",\n'),
    ],
    "user-content-next-to-entries": [
        (CMAKE, "  norm/rmsnorm\n", "  norm/rmsnorm\n  ${EXTRA_KERNELKIT_OPS}\n"),
        (
            INIT,
            "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
            "from kernelkit_ops.norm.rmsnorm import rmsnorm\nfrom kernelkit_ops.norm import rmsnorm_cases_helpers\n",
        ),
    ],  # fmt: skip
    "an-export-wrapped-by-hand": [
        (
            INIT,
            "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
            "from kernelkit_ops.norm.rmsnorm import (\n    rmsnorm,\n)\n",
        ),
    ],
    "indentation": [(CMAKE, "  norm/rmsnorm\n", "    norm/rmsnorm   \n"), (INIT, '    "rmsnorm",\n', "  'rmsnorm',\n")],
}


def _edit(project: ProjectCopy, edits: list[tuple[str, str, str]]) -> None:
    for rel, old, new in edits:
        text = project.read(rel)
        assert text.count(old) == 1, (rel, old)
        project.write(rel, text.replace(old, new))


@pytest.mark.parametrize("case", list(USER_LINES))
def test_user_lines_in_the_regions_stay_byte_for_byte(project: ProjectCopy, case):
    _edit(project, USER_LINES[case])
    project.commit(case)
    assert project.run("check", "--json").json()["findings"] == []
    for args in (["my_op", "-c", "norm"], ["aaa_first"], ["zzz_last", "-c", "zzz"]):
        project.ok("new", *args)
        project.ok("remove", args[0], "--yes")
        project.assert_unchanged()
    # The op next to the user's lines comes out; the user's lines stay.
    before = {rel: project.read(rel) for rel in (CMAKE, INIT)}
    project.ok("remove", "rmsnorm", "--yes")
    for rel, _, new in USER_LINES[case]:
        for line in new.splitlines():
            if line.strip() and "rmsnorm" not in line.replace("rmsnorm_cases", ""):
                assert line in project.read(rel), (rel, line)
    for rel in (CMAKE, INIT):
        gone = set(before[rel].splitlines()) - set(project.read(rel).splitlines())
        assert all("rmsnorm" in line or line.strip() in ("rmsnorm,", "from kernelkit_ops.norm.rmsnorm import (", ")")
                   for line in gone), gone  # fmt: skip


# (file, old, new, where remove points): edits that make an op's line unrecognisable
UNRECOGNISED = {
    "two-entries-on-one-line": (CMAKE, "  norm/rmsnorm\n", "  norm/rmsnorm norm/fused_add_rmsnorm\n", CMAKE),
    "a-trailing-comment": (CMAKE, "  norm/rmsnorm\n", "  norm/rmsnorm  # fast\n", CMAKE),
    "a-quoted-entry": (CMAKE, "  norm/rmsnorm\n", '  "norm/rmsnorm"\n', CMAKE),
    "an-entry-wrapped-over-two-lines": (CMAKE, "  norm/rmsnorm\n", "  norm/\n  rmsnorm\n", CMAKE),
    "an-export-renamed": (
        INIT,
        "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
        "from kernelkit_ops.norm.rmsnorm import rmsnorm as rmsnorm\n",
        INIT,
    ),
    "an-export-with-a-second-name": (
        INIT,
        "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
        "from kernelkit_ops.norm.rmsnorm import rmsnorm, reference\n",
        INIT,
    ),
    "an-export-from-another-module": (
        INIT,
        "from kernelkit_ops.norm.rmsnorm import rmsnorm\n",
        "from kernelkit_ops.norm.gemma_rmsnorm import rmsnorm\n",
        INIT,
    ),
    "all-on-one-line": (INIT, '    "rmsnorm",\n', '    "rmsnorm", "extra",\n', INIT),
}


@pytest.mark.parametrize(("rel", "old", "new", "where"), list(UNRECOGNISED.values()), ids=list(UNRECOGNISED))
def test_remove_refuses_an_entry_it_cannot_recognise_saying_where(project: ProjectCopy, rel, old, new, where):
    _edit(project, [(rel, old, new)])
    project.commit("hand edit")
    line_no = next(
        i
        for i, line in enumerate(project.read(rel).splitlines(), 1)
        if line in new.splitlines() and re.search(r"\brmsnorm\b", line)
    )
    result = project.run("remove", "rmsnorm", "--yes")
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, f"{where}:{line_no}", "names 'rmsnorm'", "not an entry kernelkit writes")
    project.assert_unchanged()
    # check reports the same line
    findings = project.run("check", "--json").json()["findings"]
    assert any(f["where"] == f"{where}:{line_no}" and "not an entry kernelkit writes" in f["message"] for f in findings)


@pytest.mark.parametrize(
    ("rel", "entry"),
    [
        (CMAKE, "  norm/rmsnorm\n"),
        (INIT, "from kernelkit_ops.norm.rmsnorm import rmsnorm\n"),
        (INIT, '    "rmsnorm",\n'),
    ],
    ids=["cmake", "export", "all"],
)
def test_a_duplicated_entry_is_refused_and_reported(project: ProjectCopy, rel, entry):
    _edit(project, [(rel, entry, entry + entry)])
    project.commit("duplicated entry")
    lines = [i for i, line in enumerate(project.read(rel).splitlines(), 1) if line == entry.rstrip("\n")]
    assert len(lines) == 2
    result = project.run("remove", "rmsnorm", "--yes")
    assert result.exit_code == 2, result.output
    assert_one_line_error(result, f"{rel}:{lines[1]}", "a second entry for 'rmsnorm'", f"line {lines[0]}")
    project.assert_unchanged()
    findings = project.run("check", "--json").json()["findings"]
    assert any(f["where"] == f"{rel}:{lines[1]}" and "second" in f["message"] for f in findings), findings
    # new of another op is still fine: what it writes does not depend on the duplicate
    project.ok("new", "my_op", "-c", "norm")
    project.ok("remove", "my_op", "--yes")
    project.assert_unchanged()


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("  # kernelkit:ops-end\n", "", ["found 1 begin and 0 end markers; begin at line"]),
        ("  # kernelkit:ops-begin\n", "  # kernelkit:ops-begin\n  # kernelkit:ops-begin\n", ["found 2 begin"]),
    ],
    ids=["end-marker-missing", "begin-marker-twice"],
)
def test_broken_markers_are_refused_with_their_lines(project: ProjectCopy, old, new, needles):
    _edit(project, [(CMAKE, old, new)])
    project.commit("markers")
    for args in (["new", "my_op"], ["remove", "silu_and_mul", "--yes"]):
        result = project.run(*args)
        assert_one_line_error(result, CMAKE, "kernelkit:ops-begin", "restore the markers", *needles)
        project.assert_unchanged()
