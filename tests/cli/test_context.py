"""The shared options (--config, -v, --log-format), the lazily loaded configuration, help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import (
    RET_CONFIG,
    RET_OK,
)
from tests.cli.invoking import BASE_URL, assert_one_line_error, feed_url, invoke

COMMANDS = {"db", "demo", "config", "feed", "build", "cycle", "reconcile", "worker", "status"}


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    listed = re.search(r"^Commands:\n((?:  .*\n?)+)", result.output, re.MULTILINE)
    assert result.exit_code == RET_OK and listed
    assert {line.split()[0] for line in listed[1].splitlines()} == COMMANDS


@pytest.mark.parametrize(
    "command",
    [
        ["db", "upgrade"],
        ["db", "status"],
        ["demo"],
        ["feed", "issue"],
        ["feed", "show"],
        ["feed", "rotate"],
        ["feed", "revoke"],
        ["feed", "options"],
        ["build"],
        ["cycle"],
        ["reconcile"],
        ["worker"],
        ["status"],
    ],
    ids=" ".join,
)
def test_every_command_has_help(runner: CliRunner, config: Path, command: list[str]) -> None:
    result = invoke(runner, config, *command, "--help")
    assert result.exit_code == RET_OK
    assert re.search(r"^  \S", result.output.split("Options:")[0], re.MULTILINE), result.output


def test_a_missing_config_file_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, tmp_path / "nowhere.toml", "build")
    assert "no such file" in assert_one_line_error(result, RET_CONFIG)


def test_a_malformed_config_file_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "feedgen.toml"
    path.write_text('[database]\nurl = "sqlite:///crm.sqlite\n', encoding="utf-8")
    assert "not valid TOML" in assert_one_line_error(invoke(runner, path, "build"), RET_CONFIG)


def test_an_unknown_config_key_exits_3_naming_it(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "feedgen.toml"
    path.write_text('[storage]\nbucket = "tesoro-feeds"\n', encoding="utf-8")
    assert "storage.bucket" in assert_one_line_error(invoke(runner, path, "build"), RET_CONFIG)


def test_a_bad_environment_value_exits_3_naming_the_key(runner: CliRunner, config: Path) -> None:
    result = runner.invoke(
        cli, ["--config", str(config), "build"], env={"FEEDGEN_PUBLISH_DAYS_BACK": "-1"}
    )
    assert "publish.days_back" in assert_one_line_error(result, RET_CONFIG)


def test_the_config_file_can_come_from_the_environment(
    runner: CliRunner, anna: int, config: Path
) -> None:
    result = runner.invoke(
        cli, ["feed", "issue", "--user", str(anna)], env={"FEEDGEN_CONFIG": str(config)}
    )
    assert result.exit_code == RET_OK and feed_url(result).startswith(BASE_URL)
