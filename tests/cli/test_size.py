"""`kernelkit size`: machine code per op and arch from each op's object file, and the budget `check` enforces."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kernelkit.builder import size
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project

DATA = Path(__file__).parent / "data"
# Recorded `cuobjdump -elf` of gelu_tanh_and_mul.cu.o (sm_90a; the sm_100a block is the same cubin relabelled)
# and of an op file with no kernels; sizes below are the .text.* rows of the recorded section table.
TWO_ARCHS = DATA / "cuobjdump_elf_two_archs.txt"
NO_KERNELS = DATA / "cuobjdump_elf_no_kernels.txt"
GELU_TEXT = [0x600, 0x800, 0xB80, 0x1200, 0x600, 0x800, 0xB80, 0x1180, 0x2000, 0x1780, 0xC00, 0x1200]


def test_parse_counts_text_sections_per_arch():
    sizes = size.parse_cuobjdump_elf(TWO_ARCHS.read_text())
    assert list(sizes) == ["90a", "100a"]
    for arch_size in sizes.values():
        assert arch_size.sass_bytes == sum(GELU_TEXT)
        assert arch_size.kernels == len(GELU_TEXT)
        assert arch_size.cubin_bytes > arch_size.sass_bytes  # line info, constants, symbols
    # The stray row after the table (a dump, not the section table) is not counted.
    assert "not_in_a_table" in TWO_ARCHS.read_text()


def test_parse_an_object_without_kernels():
    sizes = size.parse_cuobjdump_elf(NO_KERNELS.read_text())
    assert sizes["90a"].sass_bytes == 0 and sizes["90a"].kernels == 0 and sizes["90a"].cubin_bytes > 0
    assert size.parse_cuobjdump_elf("") == {}


def _fake_project(tmp_path: Path, budget: str | None = None, so_bytes: int | None = None):
    root = tmp_path / "p"
    pkg = root / "library/python/mylib"
    pkg.mkdir(parents=True)
    extra = f"\nsize-budget-mb = {budget}" if budget is not None else ""
    (root / "pyproject.toml").write_text(f'[tool.kernelkit]\nname = "mylib"{extra}\n')
    if so_bytes is not None:
        (pkg / "_mylib.so").write_bytes(b"\0" * so_bytes)
    return find_project(root)


def _fake_build(project, objects: dict[str, Path]):
    """build.ninja naming `objects` (op source -> recorded cuobjdump output), plus one stale object it does not name."""
    build = project.build_dir
    named = []
    for source in [*objects, "csrc/old/stale.cu"]:
        obj = build / "CMakeFiles/mylib.dir" / f"{source}.o"
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_text(source)
        if source in objects:
            named.append(f"build CMakeFiles/mylib.dir/{source}.o: CUDA_COMPILER ../../library/{source}")
    (build / "build.ninja").write_text("\n".join(named) + "\n")


def _fake_cuobjdump(tmp_path: Path, objects: dict[str, Path]) -> str:
    """A cuobjdump that prints the recorded output of whichever op object it is given."""
    script = tmp_path / "cuobjdump"
    cases = "\n".join(f'  *{Path(src).name}.o) cat "{out}" ;;' for src, out in objects.items())
    script.write_text(f'#!/bin/sh\ncase "$2" in\n{cases}\n  *) echo "unexpected $2" >&2; exit 3 ;;\nesac\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


OBJECTS = {"csrc/activation/gelu_tanh_and_mul.cu": TWO_ARCHS, "csrc/quantization/quant.cu": NO_KERNELS}


def test_measure_sizes_each_linked_op_object(tmp_path):
    project = _fake_project(tmp_path, budget="0.5", so_bytes=600_000)
    _fake_build(project, OBJECTS)
    report = size.measure(project, _fake_cuobjdump(tmp_path, OBJECTS))
    assert [(o.op, o.source) for o in report.ops] == [
        ("gelu_tanh_and_mul", "csrc/activation/gelu_tanh_and_mul.cu"),
        ("quant", "csrc/quantization/quant.cu"),
    ]  # biggest first, and the stale object build.ninja no longer names is left out
    assert report.archs == ["100a", "90a"]
    assert report.sass_bytes == 2 * sum(GELU_TEXT)
    data = report.to_json()
    assert data["over_budget"] is True and data["budget_mb"] == 0.5 and data["library_bytes"] == 600_000
    assert data["ops"][0]["archs"]["90a"] == {"sass_bytes": sum(GELU_TEXT), "cubin_bytes": 196103, "kernels": 12}
    only = size.measure(project, _fake_cuobjdump(tmp_path, OBJECTS), arch="90a")
    assert only.archs == ["90a"] and only.sass_bytes == sum(GELU_TEXT)
    with pytest.raises(KernelkitError, match=r"--arch 120a: the build has no code for it \(built for: 100a, 90a\)"):
        size.measure(project, _fake_cuobjdump(tmp_path, OBJECTS), arch="120a")


def test_cli_size_table_and_json(cli, tmp_path):
    project = _fake_project(tmp_path, budget="50", so_bytes=1000)
    _fake_build(project, OBJECTS)
    tool = _fake_cuobjdump(tmp_path, OBJECTS)
    result = cli("size", "--cuobjdump", tool, cwd=project.root)
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "sm_90a" in flat and "sm_100a" in flat
    assert f"{sum(GELU_TEXT) / 1000:,.1f} {sum(GELU_TEXT) / 1000:,.1f} 24" in flat  # both archs, 12 kernels each
    assert "total" in flat and "_mylib.so: 0.0 MB (within the budget of 50 MB)" in flat
    data = json.loads(cli("size", "--cuobjdump", tool, "--json", cwd=project.root).stdout)
    assert data["sass_bytes"] == 2 * sum(GELU_TEXT) and data["over_budget"] is False


def test_cli_size_without_cuobjdump_says_how_to_get_it(cli, tmp_path, monkeypatch):
    project = _fake_project(tmp_path)
    _fake_build(project, OBJECTS)
    monkeypatch.delenv(size.CUOBJDUMP_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "nocuda"))
    monkeypatch.setattr(size, "which", lambda name: None)
    monkeypatch.setattr(size, "_wheel_cuobjdumps", lambda: [])
    monkeypatch.setattr(size.Path, "is_file", lambda self: False if self.name == "cuobjdump" else os.path.isfile(self))
    result = cli("size", cwd=project.root)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cuobjdump not found" in lines[0] and "pip install nvidia-cuda-cuobjdump" in lines[0]
    result = cli("size", "--cuobjdump", str(tmp_path / "nope"), cwd=project.root)
    assert result.exit_code == 1 and "--cuobjdump:" in result.stderr and "not an executable" in result.stderr


def test_find_cuobjdump_looks_in_the_env_var_and_the_nvidia_wheel(tmp_path, monkeypatch):
    tool = _fake_cuobjdump(tmp_path, OBJECTS)
    monkeypatch.setenv(size.CUOBJDUMP_ENV, tool)
    assert size.find_cuobjdump() == tool
    monkeypatch.delenv(size.CUOBJDUMP_ENV)
    monkeypatch.setattr(size, "which", lambda name: None)
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "nocuda"))
    monkeypatch.setattr(size, "_wheel_cuobjdumps", lambda: [Path(tool)])
    if not Path("/usr/local/cuda/bin/cuobjdump").is_file():
        assert size.find_cuobjdump() == tool


def test_size_without_a_build_is_one_line(cli, tmp_path):
    project = _fake_project(tmp_path)
    result = cli("size", "--cuobjdump", _fake_cuobjdump(tmp_path, OBJECTS), cwd=project.root)
    assert result.exit_code == 1 and "run `kernelkit build` first" in result.stderr


@pytest.mark.parametrize(("budget", "expected"), [(None, None), ("25", 25.0), ("0.5", 0.5)])
def test_read_budget(tmp_path, budget, expected):
    assert size.read_budget_mb(_fake_project(tmp_path, budget)) == expected


@pytest.mark.parametrize("budget", ["0", "-3", '"big"', "true"])
def test_a_bad_budget_is_refused(tmp_path, budget):
    with pytest.raises(KernelkitError, match="size-budget-mb must be a positive number"):
        size.read_budget_mb(_fake_project(tmp_path, budget))


def test_budget_message_only_when_over(tmp_path):
    assert size.budget_message(_fake_project(tmp_path / "a", "1", so_bytes=999_999)) is None
    assert size.budget_message(_fake_project(tmp_path / "b", None, so_bytes=10)) is None
    assert size.budget_message(_fake_project(tmp_path / "c", "1", so_bytes=None)) is None  # nothing built to weigh
    message = size.budget_message(_fake_project(tmp_path / "d", "1", so_bytes=1_500_000))
    assert message == "_mylib.so is 1.5 MB, over the size budget of 1 MB (`kernelkit size` shows which ops weigh most)"


def test_check_enforces_the_budget_in_an_init_project(cli, tmp_path):
    """`kernelkit init`'s pyproject carries the key (commented); set, `check` fails on a library over it."""
    result = cli("init", str(tmp_path / "lib"), "--name", "mylib", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    root = tmp_path / "lib"
    pyproject = root / "pyproject.toml"
    assert "# size-budget-mb = " in pyproject.read_text()
    assert cli("check", cwd=root).exit_code == 0
    pyproject.write_text(pyproject.read_text().replace("# size-budget-mb = 50", "size-budget-mb = 1"))
    (root / "library/python/mylib/_mylib.so").write_bytes(b"\0" * 2_000_000)
    result = cli("check", "--json", cwd=root)
    assert result.exit_code == 1
    findings = json.loads(result.stdout)["findings"]
    assert [f["op"] for f in findings] == ["(library)"] and "over the size budget of 1 MB" in findings[0]["message"]
