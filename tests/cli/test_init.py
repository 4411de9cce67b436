"""kernelkit init: a standalone project where every command works; init + new + build in a temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelkit.cli import app
from kernelkit.model import layout, regions

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], cwd: Path, monkeypatch) -> object:
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args)


def test_init_writes_a_project_with_its_own_names(tmp_path, monkeypatch):
    result = run(
        ["init", str(tmp_path / "mylib"), "--name", "mylib", "--namespace", "myops", "--json"], tmp_path, monkeypatch
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "mylib"
    created = set(json.loads(result.stdout)["created"])
    for rel in (
        "pyproject.toml",
        "Makefile",
        "README.md",
        ".gitignore",
        ".ci/run",
        "tools/bootstrap.py",
        "library/CMakeLists.txt",
        "library/csrc/library.cc",
        "library/include/kernelkit/binding.h",
        "library/include/kernelkit/core/dispatch.cuh",
        "library/include/kernelkit/core/pdl.cuh",
        "library/include/kernelkit/core/reduce.cuh",
        "library/include/kernelkit/core/vec.cuh",
        "library/python/mylib/__init__.py",
        "library/python/mylib/_library.py",
        "library/python/mylib/_defaults.py",
        "library/python/mylib/_archguard.py",
        "tests/conftest.py",
    ):
        assert rel in created and (root / rel).is_file(), rel
    # The import-time arch guard is kernelkit_ops' own, byte for byte, and the package's loader calls it.
    guard = (REPO_ROOT / "library/python/kernelkit_ops/_archguard.py").read_bytes()
    assert (root / "library/python/mylib/_archguard.py").read_bytes() == guard
    assert "_archguard.check(__package__, _FEATURES)" in (root / "library/python/mylib/_library.py").read_text()
    # The house helpers are kernelkit's own, every file of include/kernelkit/core/ (what templates build on).
    core = sorted(p.name for p in (REPO_ROOT / "library/include/kernelkit/core").iterdir() if p.is_file())
    assert sorted(p.name for p in (root / "library/include/kernelkit/core").iterdir()) == core
    for name in core:
        rel = f"library/include/kernelkit/core/{name}"
        assert (root / rel).read_bytes() == (REPO_ROOT / rel).read_bytes(), rel
    # No shared launcher header or registration TU: an op is its own files; library.cc only claims the namespace.
    assert not (root / "library/include/mylib.h").exists() and not (root / "library/csrc/registration.cc").exists()
    library_cc = (root / "library/csrc/library.cc").read_text()
    assert "STABLE_TORCH_LIBRARY(myops, m) {}" in library_cc and "KERNELKIT_FEATURES:fp4=" in library_cc
    assert '",archs=" KERNELKIT_FEATURE_ARCHS' in library_cc
    cmake = (root / "library/CMakeLists.txt").read_text()
    assert 'COMPILE_DEFINITIONS "KERNELKIT_FEATURE_ARCHS=' in cmake
    assert 'OUTPUT_NAME "_mylib"' in cmake and "set(KERNELKIT_SOURCES csrc/library.cc)" in cmake
    for spec in (layout.OPS, layout.FP4_OPS):
        assert regions.entries(cmake, spec) == []  # both lists there, empty
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "mylib"' in pyproject and 'namespace = "myops"' in pyproject
    assert "make build" in (root / "README.md").read_text() and "make test" in (root / "README.md").read_text()
    assert os.access(root / ".ci/run", os.X_OK) and os.access(root / "tools/bootstrap.py", os.X_OK)
    # commands find the project from a sub-folder of it
    listed = run(["list", "--json"], root / "library" / "csrc", monkeypatch)
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert run(["check"], root / "tests", monkeypatch).exit_code == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["init", "{tmp}/x", "--name", "My-Lib"], "lowercase Python identifier"),
        (["init", "{tmp}/x", "--name", "class"], "lowercase Python identifier"),
        (["init", "{tmp}/x", "--name", "kernelkit"], "shadow the kernelkit CLI"),
        (["init", "{tmp}/full"], "not an empty folder"),
    ],
)
def test_init_refuses_bad_names_and_non_empty_folders(tmp_path, monkeypatch, args, message):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = run([a.format(tmp=tmp_path) for a in args], tmp_path, monkeypatch)
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["keep.txt"]


@pytest.mark.slow
def test_init_then_new_builds_loads_and_passes_its_cpu_tests(tmp_path, monkeypatch):
    root = tmp_path / "demo"
    assert run(["init", str(root), "--name", "demolib"], tmp_path, monkeypatch).exit_code == 0
    assert run(["new", "scale_it", "--category", "demo"], root, monkeypatch).exit_code == 0
    assert (
        run(
            ["new", "row_total", "--category", "demo", "--template", "rowwise", "--dtypes", "bf16,fp32"],
            root,
            monkeypatch,
        ).exit_code
        == 0
    )
    assert run(["new", "row_total2", "--like", "row_total"], root, monkeypatch).exit_code == 0
    assert run(["check"], root, monkeypatch).exit_code == 0

    build = subprocess.run(
        [sys.executable, "-m", "kernelkit", "build"], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert (root / "library/python/demolib/_demolib.so").is_file()

    env = dict(os.environ, PYTHONPATH=str(root / "library" / "python"))
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import demolib, torch; print(demolib.__file__); "
            "print(torch.ops.demolib.scale_it.default._schema); print(torch.ops.demolib.row_total.default._schema); "
            "print(torch.ops.demolib.row_total2.default._schema); print(demolib._library.features()['archs'])",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    lines = probe.stdout.splitlines()
    assert lines[0].startswith(str(root)) and "demolib::scale_it(" in lines[1] and "demolib::row_total(" in lines[2]
    assert lines[3] == lines[2].replace("row_total(", "row_total2(")
    # the build records its archs for the import-time arch guard, which let the import through
    from kernelkit.builder import features

    assert lines[4] and lines[4] == features.read_features(root / "library/python/demolib/_demolib.so")["archs"]

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/ops", "-m", "not gpu", "-q", "-p", "no:cacheprovider"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout and " failed" not in tests.stdout


def test_init_under_a_file_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "afile").write_text("x")
    result = run(["init", str(tmp_path / "afile" / "x"), "--name", "x"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "cannot create" in result.output and "internal error" not in result.output


def test_error_messages_keep_their_brackets(tmp_path, monkeypatch):
    # Messages are printed as text, not Rich markup: "[tool.kernelkit]" must survive, "[/]" must not crash.
    result = run(["list"], tmp_path, monkeypatch)
    assert result.exit_code == 2 and "[tool.kernelkit]" in result.output
    (tmp_path / "p").mkdir()
    assert run(["init", str(tmp_path / "p" / "lib"), "--name", "lib"], tmp_path, monkeypatch).exit_code == 0
    bad = run(["new", "x[/]"], tmp_path / "p" / "lib", monkeypatch)
    assert bad.exit_code == 2 and "x[/]" in bad.output and "Traceback" not in bad.output
