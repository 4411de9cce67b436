"""kernelkit.project.find_project: the nearest pyproject.toml upward with a [tool.kernelkit] table."""

from __future__ import annotations

import pytest

from kernelkit.errors import KernelkitError
from kernelkit.project import find_project


def test_found_from_a_sub_folder(repo_root):
    project = find_project(repo_root / "library" / "csrc")
    assert project.root == repo_root
    assert project.name == "kernelkit_ops"
    assert project.namespace == "kernelkit"
    assert project.library_dir == repo_root / "library"
    assert project.python_package_dir == repo_root / "library" / "python" / "kernelkit_ops"
    assert project.library_file.is_file()
    assert project.cmake_file.is_file()
    assert project.op_tests_dir == repo_root / "tests" / "ops"
    assert project.build_dir == repo_root / "build" / "dev"


def test_found_from_the_working_directory(repo_root, monkeypatch):
    monkeypatch.chdir(repo_root / "library" / "python")
    assert find_project().root == repo_root


def test_no_pyproject_is_exit_code_2(tmp_path):
    with pytest.raises(KernelkitError) as info:
        find_project(tmp_path)
    assert info.value.exit_code == 2
    assert "no kernelkit project" in str(info.value)
    assert "[tool.kernelkit]" in str(info.value)


def test_pyproject_without_the_table_is_skipped(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    with pytest.raises(KernelkitError) as info:
        find_project(tmp_path)
    assert info.value.exit_code == 2


def test_nearest_table_wins_over_a_plain_pyproject_below(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.kernelkit]\nname = "outer"\n')
    inner = tmp_path / "sub" / "deeper"
    inner.mkdir(parents=True)
    (tmp_path / "sub" / "pyproject.toml").write_text('[project]\nname = "not-kernelkit"\n')
    project = find_project(inner)
    assert project.root == tmp_path
    assert project.name == "outer"


def test_namespace_defaults_to_the_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.kernelkit]\nname = "mylib"\n')
    (tmp_path / "src").mkdir()
    project = find_project(tmp_path / "src")
    assert project.root == tmp_path
    assert project.name == "mylib"
    assert project.namespace == "mylib"
    assert project.library_dir == tmp_path / "library"
    assert project.python_package_dir == tmp_path / "library" / "python" / "mylib"


def test_empty_table_uses_defaults(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.kernelkit]\n")
    project = find_project(tmp_path)
    assert (project.name, project.namespace) == ("kernelkit_ops", "kernelkit_ops")


def test_bad_toml_is_a_clear_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.kernelkit\nname = ")
    with pytest.raises(KernelkitError, match="not valid TOML"):
        find_project(tmp_path)


@pytest.mark.parametrize("value", ['""', "3"])
def test_bad_value_names_the_key(tmp_path, value):
    (tmp_path / "pyproject.toml").write_text(f"[tool.kernelkit]\nname = {value}\n")
    with pytest.raises(KernelkitError, match=r"\[tool.kernelkit\] name must be a non-empty string"):
        find_project(tmp_path)


def test_cli_outside_a_project_exits_2(cli, tmp_path):
    result = cli("build", cwd=tmp_path)
    assert result.exit_code == 2
    assert "no kernelkit project" in result.output
    assert "Traceback" not in result.output
