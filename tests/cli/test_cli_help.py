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
