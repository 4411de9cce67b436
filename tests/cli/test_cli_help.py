"""`kernelkit --help`, `--version` and each command's `--help`."""

from __future__ import annotations

import pytest

import kernelkit


def test_root_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert "Usage: kernelkit" in result.output
    for command in ("build", "test", "doctor"):
        assert command in result.output
    assert "--version" in result.output
    assert "--install-completion" in result.output


def test_short_help_flag_works_too(cli):
    result = cli("-h")
    assert result.exit_code == 0
    assert "Usage: kernelkit" in result.output


def test_no_arguments_prints_usage(cli):
    result = cli()
    assert "Usage: kernelkit" in result.output
    assert "doctor" in result.output
    assert result.exit_code == 2  # click's no_args_is_help convention


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(cli, flag):
    result = cli(flag)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"kernelkit {kernelkit.__version__}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "build",
            ["--arch", "--fp4", "--no-fp4", "--threads", "--debug", "--define", "-D", "NAME=VALUE", "--jobs", "--json"],
        ),
        ("test", ["-k", "--gpu", "--cpu", "--pytest-arg", "ops"]),
        ("doctor", ["--json"]),
    ],
)
def test_command_help(cli, command, expected):
    result = cli(command, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: kernelkit {command}" in result.output
    for option in expected:
        assert option in result.output, f"{command} --help does not mention {option}"


def test_unknown_command_is_a_usage_error(cli):
    result = cli("frobnicate")
    assert result.exit_code == 2
    assert "frobnicate" in result.output
    assert "Traceback" not in result.output


def test_each_command_summary_is_one_line_of_its_docstring():
    """The commands panel of `kernelkit --help` shows each command's first docstring paragraph with its line breaks
    kept: a summary spread over two source lines breaks mid-sentence in every terminal. One line, then details."""
    from kernelkit.cli import app

    for info in app.registered_commands:
        summary = (info.callback.__doc__ or "").strip().split("\n\n")[0]
        assert summary and "\n" not in summary, f"{info.name}: {summary!r}"
