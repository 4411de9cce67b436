"""`kernelkit build` names its slowest translation units, from this build's entries of `.ninja_log` only."""

from __future__ import annotations

import json

import pytest

from kernelkit.builder import buildsys, ninjalog
from kernelkit.errors import KernelkitError

T0 = 1_796_651_000_000_000_000  # an earlier build's outputs
T1 = 1_796_652_000_000_000_000  # this build starts here (ns)

LOG_LINES = [
    # an earlier build: the slowest step in the file, but not this build's
    f"0\t90000\t{T0}\tCMakeFiles/k.dir/csrc/gemm/old.cu.o\taaaa",
    f"0\t4000\t{T0}\tCMakeFiles/k.dir/csrc/norm/rmsnorm.cu.o\tbbbb",
    # this build: rmsnorm rebuilt (its newer line wins), three more units and the link
    f"5\t12005\t{T1 + 1}\tCMakeFiles/k.dir/csrc/quantization/quant.cu.o\tcccc",
    f"7\t1507\t{T1 + 2}\tCMakeFiles/k.dir/csrc/norm/rmsnorm.cc.o\tdddd",
    f"9\t30009\t{T1 + 3}\tCMakeFiles/k.dir/csrc/moe/topk.cu.o\teeee",
    f"11\t2011\t{T1 + 4}\tCMakeFiles/k.dir/csrc/norm/rmsnorm.cu.o\tffff",
    f"30010\t33010\t{T1 + 5}\t/p/library/python/k/_k.so\tgggg",
    "12\t40",  # cut short by an interrupted build
]


def _log(version: int = 5) -> str:
    return "\n".join([f"# ninja log v{version}", *LOG_LINES]) + "\n"


@pytest.mark.parametrize("version", [5, 6, 7])
def test_ranking_keeps_only_this_builds_compile_steps(version):
    steps = ninjalog.ranking(_log(version), T1)
    assert [s.source for s in steps] == [
        "csrc/moe/topk.cu",
        "csrc/quantization/quant.cu",
        "csrc/norm/rmsnorm.cu",
        "csrc/norm/rmsnorm.cc",
    ]
    assert [s.seconds for s in steps] == [30.0, 12.0, 2.0, 1.5]


def test_ranking_without_a_start_takes_every_build_newest_entry_per_output():
    steps = ninjalog.ranking(_log(), None)
    assert steps[0].source == "csrc/gemm/old.cu"
    rms = [s for s in steps if s.source == "csrc/norm/rmsnorm.cu"]
    assert len(rms) == 1 and rms[0].seconds == 2.0  # the rebuilt entry, not the earlier 4 s one


@pytest.mark.parametrize(
    ("text", "needle"), [("", "not a Ninja log"), ("hello\n", "not a Ninja log"), ("# ninja log v4\n", "v4")]
)
def test_unknown_logs_are_refused_in_one_line(text, needle):
    with pytest.raises(KernelkitError, match=needle):
        ninjalog.parse(text)


def test_read_ranking_without_a_log_is_empty(tmp_path):
    assert ninjalog.read_ranking(tmp_path, T1) == []
    (tmp_path / ".ninja_log").write_text(_log())
    assert len(ninjalog.read_ranking(tmp_path, T1)) == 4


def _fake_build(steps):
    def fake(project, options, **kwargs):
        return buildsys.BuildResult(ok=True, elapsed_s=31.0, configured=False, steps=5, ccache=None, slowest=steps)

    return fake


def test_cli_build_prints_the_three_slowest(cli, monkeypatch):
    monkeypatch.setattr(buildsys, "build", _fake_build(ninjalog.ranking(_log(), T1)))
    result = cli("build", "--arch", "90a")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())
    assert (
        "slowest: csrc/moe/topk.cu 30.0 s, csrc/quantization/quant.cu 12.0 s, csrc/norm/rmsnorm.cu 2.0 s "
        "(--profile ranks all 4)" in flat
    )
    assert "rmsnorm.cc" not in flat


def test_cli_build_profile_ranks_everything(cli, monkeypatch):
    monkeypatch.setattr(buildsys, "build", _fake_build(ninjalog.ranking(_log(), T1)))
    result = cli("build", "--arch", "90a", "--profile")
    assert result.exit_code == 0, result.output
    lines = [line.replace("│", " ") for line in result.stdout.splitlines() if "csrc/" in line]
    assert [line.split()[-1].rsplit("/", 1)[-1] for line in lines] == [
        "topk.cu",
        "quant.cu",
        "rmsnorm.cu",
        "rmsnorm.cc",
    ]
    assert "1.5" in lines[-1]


def test_cli_build_nothing_compiled_prints_no_ranking(cli, monkeypatch):
    monkeypatch.setattr(buildsys, "build", _fake_build([]))
    result = cli("build", "--arch", "90a")
    assert result.exit_code == 0, result.output
    assert "slowest" not in result.stdout


def test_cli_build_json_carries_the_ranking(cli, monkeypatch):
    monkeypatch.setattr(buildsys, "build", _fake_build(ninjalog.ranking(_log(), T1)))
    result = cli("build", "--arch", "90a", "--json")
    data = json.loads(result.stdout)
    assert data["slowest"][0] == {
        "output": "CMakeFiles/k.dir/csrc/moe/topk.cu.o",
        "source": "csrc/moe/topk.cu",
        "seconds": 30.0,
    }
    assert len(data["slowest"]) == 4


@pytest.mark.slow
def test_a_real_build_ranks_only_what_it_compiled(tmp_path, repo_root):
    """Touch one op's source: the rebuild's ranking names that unit and nothing compiled before it."""
    import shutil

    from kernelkit.project import find_project

    copy = tmp_path / "p"
    shutil.copytree(
        repo_root,
        copy,
        ignore=shutil.ignore_patterns(".venv", "build", ".git", "__pycache__", "*.so", ".whl", "compile_commands.json"),
    )
    project = find_project(copy)
    # without the CUTLASS GEMMs: a copy's first build compiles them anew, minutes of CI's two cores
    first = buildsys.build(project, buildsys.BuildOptions(cutlass=False))
    assert first.ok, first.log[-2000:]
    assert first.slowest and all(s.is_compile for s in first.slowest)
    assert [s.seconds for s in first.slowest] == sorted((s.seconds for s in first.slowest), reverse=True)
    source = copy / "library/csrc/norm/rmsnorm.cu"
    source.write_text(source.read_text() + "\n// touched\n")
    second = buildsys.build(project, buildsys.BuildOptions(cutlass=False))
    assert second.ok, second.log[-2000:]
    assert [s.source for s in second.slowest] == ["csrc/norm/rmsnorm.cu"]
