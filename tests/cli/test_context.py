"""The shared options (--config, -v, --log-format), the lazily loaded configuration, help."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import (
    RET_CONFIG,
    RET_OK,
    RET_USAGE,
)
from tests.cli.invoking import BASE_URL, assert_one_line_error, command_paths, feed_url, invoke

COMMANDS = {"db", "demo", "config", "feed", "build", "cycle", "reconcile", "worker", "status"}


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    listed = re.search(r"^Commands:\n((?:  .*\n?)+)", result.output, re.MULTILINE)
    assert result.exit_code == RET_OK and listed
    assert {line.split()[0] for line in listed[1].splitlines()} == COMMANDS


@pytest.mark.parametrize("command", command_paths(), ids=" ".join)
def test_every_command_has_help_whatever_the_configuration(
    runner: CliRunner, tmp_path: Path, command: list[str]
) -> None:
    result = invoke(runner, tmp_path / "nowhere.toml", *command, "--help")
    assert result.exit_code == RET_OK, result.output
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


def test_version_needs_no_configuration(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, tmp_path / "nowhere.toml", "--version")
    assert result.exit_code == RET_OK and result.output.startswith("feedgen, version ")


def test_the_config_option_is_taken_after_the_command_name(
    runner: CliRunner, config: Path, anna: int
) -> None:
    result = runner.invoke(cli, ["feed", "issue", "--user", str(anna), "--config", str(config)])
    assert result.exit_code == RET_OK and feed_url(result).startswith(BASE_URL)


def test_the_config_option_after_the_command_name_wins_over_the_environment(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    env = {"FEEDGEN_CONFIG": str(tmp_path / "nowhere.toml")}
    result = runner.invoke(cli, ["status", "--config", str(config)], env=env)
    assert result.exit_code == RET_OK, result.output


@pytest.fixture
def logging_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The (level, fmt) each command set logging up with."""
    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "feedgen.cli.context.setup_logging", lambda level, fmt: calls.append((level, fmt))
    )
    return calls


@pytest.mark.parametrize(
    ("args", "env", "level"),
    [
        ([], {}, "INFO"),
        (["-v"], {}, "DEBUG"),
        (["status", "-v"], {}, "DEBUG"),
        ([], {"FEEDGEN_VERBOSE": "1"}, "DEBUG"),
        ([], {"FEEDGEN_LOGGING_LEVEL": "ERROR"}, "ERROR"),
        (["-v", "status", "-v"], {"FEEDGEN_LOGGING_LEVEL": "ERROR"}, "INFO"),
    ],
    ids=["configured", "-v before", "-v after", "env", "level from config", "-v twice"],
)
def test_each_verbose_flag_logs_one_level_more(
    runner: CliRunner,
    config: Path,
    anna: int,
    logging_calls: list[tuple[str, str]],
    args: list[str],
    env: dict[str, str],
    level: str,
) -> None:
    command = args if "status" in args else [*args, "status"]
    result = runner.invoke(cli, ["--config", str(config), *command], env=env)
    assert result.exit_code == RET_OK, result.output
    assert logging_calls == [(level, "text")]


def test_the_log_format_reaches_the_logging_set_up(
    runner: CliRunner, config: Path, anna: int, logging_calls: list[tuple[str, str]]
) -> None:
    assert invoke(runner, config, "status", "--log-format", "json").exit_code == RET_OK
    assert logging_calls == [("INFO", "json")]


def test_an_unknown_log_format_is_a_usage_error_naming_the_choices(
    runner: CliRunner, config: Path
) -> None:
    result = invoke(runner, config, "status", "--log-format", "xml")
    assert result.exit_code == RET_USAGE and "'text', 'json'" in result.output


def test_the_shell_completion_script_comes_from_the_command() -> None:
    env = {**os.environ, "_FEEDGEN_COMPLETE": "bash_source"}
    script = subprocess.run(
        [sys.executable, "-m", "feedgen"], env=env, capture_output=True, text=True, check=True
    )
    assert "complete -o nosort -F _feedgen_completion feedgen" in script.stdout


def test_the_shell_completes_a_command_without_a_configuration(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "_FEEDGEN_COMPLETE": "bash_complete",
        "COMP_WORDS": "feedgen --config nowhere.toml fe",
        "COMP_CWORD": "3",
    }
    done = subprocess.run(
        [sys.executable, "-m", "feedgen"], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.splitlines() == ["plain,feed"] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--log-format", "json"], {}), ([], {"FEEDGEN_LOGGING_FORMAT": "json"})],
    ids=["--log-format", "logging.format"],
)
def test_a_build_logs_one_json_object_a_line(
    config: Path, args: list[str], env: dict[str, str]
) -> None:
    """The demo CRM holds activities a build skips with a warning: each is a JSON line."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")} | env
    feedgen = [sys.executable, "-m", "feedgen", "--config", str(config), *args]
    subprocess.run([*feedgen, "demo", "--users", "3", "--teams", "1"], env=environ, check=True)
    build = subprocess.run([*feedgen, "build"], env=environ, capture_output=True, text=True)
    assert build.returncode == RET_OK, build.stderr
    records = [json.loads(line) for line in build.stderr.splitlines()]
    assert records and all(r["level"] == "WARNING" for r in records)
    assert all(r["message"].startswith("skipped activity ") for r in records)
