"""`kernelkit build` flags -> CMake cache options, and refusing bad ones before anything runs."""

from __future__ import annotations

import pytest

from kernelkit.builder import buildsys
from kernelkit.builder.buildsys import BuildOptions, cmake_cache_args, parse_archs, parse_define
from kernelkit.errors import KernelkitError
from kernelkit.project import find_project

# ---------------------------------------------------------------------------------------------- --arch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90a,100a", ("90a", "100a")),
        ("90a", ("90a",)),
        ("sm_90a", ("90a",)),
        ("SM_100A", ("100a",)),
        ("compute_89", ("89",)),
        ("sm_90a, 100a ,120f", ("90a", "100a", "120f")),
        ("90a;100a", ("90a", "100a")),
        ("90a,sm_90a,90a", ("90a",)),  # deduplicated, first occurrence kept
        ("100a,90a,100a", ("100a", "90a")),
        ("75", ("75",)),  # the oldest CUDA 13 target
        ("90a,,100a", ("90a", "100a")),
    ],
)
def test_parse_archs_accepts(text, expected):
    assert parse_archs(text) == expected


@pytest.mark.parametrize("text", ["abc", "50", "", " , ", "74", "90b", "sm90a", "1000a", "9"])
def test_parse_archs_rejects_naming_the_flag(text):
    with pytest.raises(KernelkitError) as info:
        parse_archs(text)
    assert "--arch" in str(info.value)
    assert info.value.exit_code != 0


def test_parse_archs_too_old_says_the_minimum():
    with pytest.raises(KernelkitError, match=r"sm_50.*sm_75\+"):
        parse_archs("50")


def test_parse_archs_not_an_arch_quotes_the_value():
    with pytest.raises(KernelkitError, match="'abc' is not a CUDA arch"):
        parse_archs("90a,abc")


# ------------------------------------------------------------------------------------------------- -D


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CMAKE_BUILD_TYPE=RelWithDebInfo", ("CMAKE_BUILD_TYPE", "RelWithDebInfo")),
        ("NAME:BOOL=ON", ("NAME:BOOL", "ON")),
        ("SOME_PATH:PATH=/opt/x", ("SOME_PATH:PATH", "/opt/x")),
        ("EMPTY=", ("EMPTY", "")),
        ("FLAGS=-O3 -g", ("FLAGS", "-O3 -g")),
        ("EQ=a=b", ("EQ", "a=b")),
    ],
)
def test_parse_define_passthrough(text, expected):
    assert parse_define(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=x", "1ABC=2", "NAME:WEIRD=1", ""])
def test_parse_define_rejects_malformed(text):
    with pytest.raises(KernelkitError, match="expected NAME=VALUE"):
        parse_define(text)


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("KERNELKIT_ENABLE_FP4", "--fp4"),
        ("KERNELKIT_CUDA_ARCHS", "--arch"),
        ("KERNELKIT_COMPILE_THREADS", "--threads"),
        ("KERNELKIT_DEBUG", "--debug"),
    ],
)
def test_parse_define_points_own_options_to_their_flag(name, flag):
    with pytest.raises(KernelkitError) as info:
        parse_define(f"{name}=ON")
    message = str(info.value)
    assert name in message
    assert flag in message
    assert "instead" in message


def test_parse_define_fp4_with_type_also_refused():
    with pytest.raises(KernelkitError, match="--fp4"):
        parse_define("KERNELKIT_ENABLE_FP4:BOOL=ON")


def test_parse_define_rejects_unknown_kernelkit_option_listing_known():
    with pytest.raises(KernelkitError) as info:
        parse_define("KERNELKIT_FOO=1")
    message = str(info.value)
    assert "KERNELKIT_FOO" in message
    assert "unknown kernelkit option" in message
    for known in buildsys.FLAG_FOR_OPTION:
        assert known in message


# ----------------------------------------------------------------------------------- cmake_cache_args


@pytest.fixture
def project(repo_root):
    return find_project(repo_root)


def test_cmake_cache_args_maps_every_flag(project):
    options = BuildOptions(
        fp4=True,
        archs=("90a", "100a"),
        compile_threads=4,
        debug=True,
        defines=(("CMAKE_BUILD_TYPE", "RelWithDebInfo"),),
    )
    args = cmake_cache_args(project, options, python="/usr/bin/python3")
    for expected in (
        "-DKERNELKIT_ENABLE_FP4=ON",
        "-DKERNELKIT_CUDA_ARCHS=90a,100a",
        "-DKERNELKIT_COMPILE_THREADS=4",
        "-DKERNELKIT_DEBUG=ON",
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
        "-DPython_EXECUTABLE=/usr/bin/python3",
        f"-DKERNELKIT_PACKAGE_DIR={project.python_package_dir}",
    ):
        assert expected in args
    # Passthrough defines come last, so they are what a user reads at the end of the command.
    assert args[-1] == "-DCMAKE_BUILD_TYPE=RelWithDebInfo"


def test_cmake_cache_args_defaults(project, monkeypatch):
    # A machine without a GPU builds for the default arch.
    monkeypatch.setattr(buildsys, "detect_gpus", lambda: [])
    args = cmake_cache_args(project, BuildOptions())
    assert "-DKERNELKIT_ENABLE_FP4=OFF" in args
    assert "-DKERNELKIT_DEBUG=OFF" in args
    assert "-DKERNELKIT_COMPILE_THREADS=1" in args
    assert f"-DKERNELKIT_CUDA_ARCHS={buildsys.DEFAULT_ARCH}" in args
    assert not any(a.startswith("-DCMAKE_BUILD_TYPE") for a in args)


def test_cmake_cache_args_archs_follow_the_gpus_present(project, monkeypatch):
    from kernelkit.builder.toolchain import Gpu

    gpus = [Gpu("H100", (9, 0)), Gpu("B200", (10, 0)), Gpu("H100", (9, 0)), Gpu("L4", (8, 9))]
    monkeypatch.setattr(buildsys, "detect_gpus", lambda: gpus)
    assert "-DKERNELKIT_CUDA_ARCHS=90a,100a,89" in cmake_cache_args(project, BuildOptions())


def test_cmake_cache_args_typed_define_keeps_its_type(project):
    args = cmake_cache_args(project, BuildOptions(archs=("90a",), defines=(parse_define("FOO:BOOL=ON"),)))
    assert "-DFOO:BOOL=ON" in args


def test_cmake_cache_args_equal_options_equal_args(project):
    # buildsys reconfigures only when these differ, so they must be deterministic.
    options = BuildOptions(archs=("90a",), compile_threads=2)
    assert cmake_cache_args(project, options) == cmake_cache_args(project, options)
    assert cmake_cache_args(project, options) != cmake_cache_args(project, BuildOptions(archs=("100a",)))


# ------------------------------------------------------------------------------ through the CLI itself


def _refused_before_building(result, *needles):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, KernelkitError)  # turned into an exit code, not raised
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]
    # Nothing was configured or built: no progress output, no build result.
    assert "built in" not in result.output


def test_cli_build_bad_arch(cli, monkeypatch):
    called = []
    monkeypatch.setattr(buildsys, "build", lambda *a, **k: called.append(1))
    result = cli("build", "--arch", "bogus")
    _refused_before_building(result, "--arch", "bogus")
    assert result.exit_code == 1
    assert called == []


def test_cli_build_unknown_kernelkit_define(cli, monkeypatch):
    called = []
    monkeypatch.setattr(buildsys, "build", lambda *a, **k: called.append(1))
    result = cli("build", "-D", "KERNELKIT_TYPO=1")
    _refused_before_building(result, "KERNELKIT_TYPO", "unknown kernelkit option")
    assert called == []


def test_cli_build_define_of_a_typed_flag(cli, monkeypatch):
    called = []
    monkeypatch.setattr(buildsys, "build", lambda *a, **k: called.append(1))
    result = cli("build", "--define", "KERNELKIT_ENABLE_FP4=ON")
    _refused_before_building(result, "--fp4")
    assert called == []


def test_cli_build_passes_parsed_options_to_buildsys(cli, monkeypatch, repo_root):
    """The flags reach buildsys.build as one BuildOptions (no real build: buildsys.build is stubbed)."""
    seen = {}

    def fake_build(project, options, *, jobs=None, on_progress=None, on_line=None):
        seen.update(project=project, options=options, jobs=jobs)
        return buildsys.BuildResult(
            ok=True, elapsed_s=0.5, configured=True, steps=3, ccache=buildsys.CcacheStats(2, 1, 0)
        )

    monkeypatch.setattr(buildsys, "build", fake_build)
    result = cli(
        "build",
        "--fp4",
        "--arch",
        "sm_90a,100a",
        "--threads",
        "4",
        "--debug",
        "-D",
        "CMAKE_BUILD_TYPE=RelWithDebInfo",
        "-j",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert seen["options"] == BuildOptions(
        fp4=True,
        archs=("90a", "100a"),
        compile_threads=4,
        debug=True,
        defines=(("CMAKE_BUILD_TYPE", "RelWithDebInfo"),),
    )
    assert seen["jobs"] == 3
    assert seen["project"].root == repo_root
    flat = " ".join(result.output.split())  # Rich may wrap at the terminal width
    assert "built in 0.5 s (3 steps, reconfigured); ccache: 2 hits, 1 misses (67% hit rate)" in flat


def test_cli_build_failure_lists_errors_without_traceback(cli, monkeypatch):
    errors = ["FAILED: x.cu.o", 'library/csrc/x.cu(7): error: identifier "y" is undefined']

    def fake_build(project, options, **kwargs):
        return buildsys.BuildResult(ok=False, elapsed_s=1.5, configured=False, steps=1, ccache=None, errors=errors)

    monkeypatch.setattr(buildsys, "build", fake_build)
    result = cli("build", "--arch", "90a")
    assert result.exit_code == 1
    assert "error: build failed after 1.5 s" in result.stderr
    for line in errors:
        assert line in result.stderr
    assert "Traceback" not in result.output


def test_cli_build_json_reports_result(cli, monkeypatch):
    import json

    def fake_build(project, options, **kwargs):
        return buildsys.BuildResult(
            ok=False,
            elapsed_s=2.0,
            configured=True,
            steps=0,
            ccache=None,
            errors=["CMake Error at x"],
            log="secret log",
        )

    monkeypatch.setattr(buildsys, "build", fake_build)
    result = cli("build", "--arch", "90a", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["errors"] == ["CMake Error at x"]
    assert "log" not in data


@pytest.mark.slow
def test_a_define_left_off_is_dropped_from_the_cache(tmp_path, repo_root, monkeypatch):
    # Every build flag describes this build: a -D given last time and not now must not stick.
    import shutil

    from kernelkit.builder import buildsys
    from kernelkit.project import find_project

    copy = tmp_path / "p"
    shutil.copytree(
        repo_root,
        copy,
        ignore=shutil.ignore_patterns(".venv", "build", ".git", "__pycache__", "*.so", ".whl", "compile_commands.json"),
    )
    project = find_project(copy)
    # no CUTLASS GEMMs: a Debug build of them alone takes minutes of CI's two cores
    first = buildsys.build(project, buildsys.BuildOptions(cutlass=False, defines=(("CMAKE_BUILD_TYPE", "Debug"),)))
    assert first.ok, first.log[-2000:]
    assert "CMAKE_BUILD_TYPE:STRING=Debug" in (project.build_dir / "CMakeCache.txt").read_text()
    second = buildsys.build(project, buildsys.BuildOptions(cutlass=False))
    assert second.ok and second.configured, second.log[-2000:]
    assert "CMAKE_BUILD_TYPE:STRING=Debug" not in (project.build_dir / "CMakeCache.txt").read_text()
