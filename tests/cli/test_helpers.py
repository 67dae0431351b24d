"""Errors: one line and the exit code of each failure; subjects and option values checked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import (
    RET_CONFIG,
    RET_NOT_FOUND,
    RET_OK,
    RET_SOURCE,
    RET_STATE,
    RET_STORAGE,
    RET_USAGE,
)
from feedgen.crm import tables as crm
from tests.cli.invoking import assert_one_line_error, feed_url, invoke, json_document
from tests.conftest import NOW
from tests.factories import Crm


def test_an_unreachable_database_exits_4(runner: CliRunner, config: Path) -> None:
    result = runner.invoke(
        cli,
        ["--config", str(config), "build"],
        env={"FEEDGEN_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/x"},
    )
    message = assert_one_line_error(result, RET_SOURCE)
    assert "cannot connect" in message and "database.url" in message


@pytest.mark.parametrize(
    "url", ["postgresql://nobody@127.0.0.1:1/x", "sqlite+nosuchdriver:///crm.sqlite"]
)
def test_a_database_url_without_its_driver_exits_4(
    runner: CliRunner, config: Path, url: str
) -> None:
    result = runner.invoke(
        cli, ["--config", str(config), "build"], env={"FEEDGEN_DATABASE_URL": url}
    )
    assert "database.url" in assert_one_line_error(result, RET_SOURCE)


def test_a_database_url_with_a_bad_port_exits_3_naming_the_key(
    runner: CliRunner, config: Path
) -> None:
    result = runner.invoke(
        cli,
        ["--config", str(config), "status"],
        env={"FEEDGEN_DATABASE_URL": "postgresql://u@h:notaport/db"},
    )
    message = assert_one_line_error(result, RET_CONFIG)
    assert message.startswith("Error: config key 'database.url': the port is not a number")


def test_a_database_lost_mid_command_exits_4_in_one_line_without_a_token(
    runner: CliRunner, config: Path, anna: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = feed_url(invoke(runner, config, "feed", "issue", "--user", str(anna)))[-47:-4]

    def lost(_builder: object) -> None:
        raise sa.exc.OperationalError(
            "UPDATE feedgen_builds SET object_key=?",
            {"object_key": f"{token}.ics"},
            sqlite3.OperationalError(f"disk I/O error\nwriting {token}.ics"),
        )

    monkeypatch.setattr("feedgen.build.builder.Builder.cycle", lost)
    message = assert_one_line_error(invoke(runner, config, "cycle"), RET_SOURCE)
    assert message == "Error: database error: disk I/O error"


def test_a_build_on_an_empty_database_names_the_missing_crm_table(
    runner: CliRunner, config: Path
) -> None:
    message = assert_one_line_error(invoke(runner, config, "build"), RET_SOURCE)
    assert "CRM table 'users' is missing" in message and "CRM contract" in message


def test_a_build_before_db_upgrade_says_to_run_it(
    runner: CliRunner, config: Path, crm_engine: sa.Engine
) -> None:
    message = assert_one_line_error(invoke(runner, config, "build"), RET_STATE)
    assert "run `feedgen db upgrade`" in message


def test_a_feed_command_before_db_upgrade_says_to_run_it(
    runner: CliRunner, config: Path, crm_engine: sa.Engine
) -> None:
    user = Crm(crm_engine, NOW).user("Anna Schmidt")
    message = assert_one_line_error(
        invoke(runner, config, "feed", "issue", "--user", str(user)), RET_STATE
    )
    assert "run `feedgen db upgrade`" in message


def test_a_missing_bucket_exits_5_naming_it(
    runner: CliRunner, config: Path, anna: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    env = {
        "FEEDGEN_STORAGE_URL": "s3://no-such-bucket/feeds",
        "FEEDGEN_STORAGE_REGION": "us-east-1",
    }
    with mock_aws():
        result = runner.invoke(cli, ["--config", str(config), "build"], env=env)
    assert "no-such-bucket" in assert_one_line_error(result, RET_STORAGE)


def test_an_unknown_user_exits_6(runner: CliRunner, config: Path, anna: int) -> None:
    result = invoke(runner, config, "feed", "issue", "--user", "999999")
    assert "no user 999999 in the CRM" in assert_one_line_error(result, RET_NOT_FOUND)


def test_user_and_team_together_is_a_usage_error(
    runner: CliRunner, config: Path, anna: int
) -> None:
    result = invoke(runner, config, "feed", "issue", "--user", str(anna), "--team", "1")
    assert result.exit_code == RET_USAGE and "exactly one of --user" in result.output


def test_neither_user_nor_team_is_a_usage_error(runner: CliRunner, config: Path, anna: int) -> None:
    result = invoke(runner, config, "feed", "rotate")
    assert result.exit_code == RET_USAGE and "exactly one of --user" in result.output


def test_options_out_of_range_is_a_usage_error(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "feed", "options", "--user", str(anna), "--days-back", "-3")
    assert result.exit_code == RET_USAGE and "--days-back" in result.output


def test_an_unknown_kind_is_named_with_the_valid_ones(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(
        runner, config, "feed", "options", "--user", str(anna), "--kinds", "meeting,foo"
    )
    assert result.exit_code == RET_USAGE
    assert "unknown kind(s) 'foo'; choose from meeting, viewing, call, task" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["feed", "issue"],
        ["feed", "show"],
        ["feed", "rotate"],
        ["feed", "revoke"],
        ["feed", "options"],
        ["build"],
        ["build", "--dry-run"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("subject", ["user", "team"])
def test_an_unknown_subject_is_said_to_be_unknown_to_the_crm(
    runner: CliRunner, config: Path, anna: int, command: list[str], subject: str
) -> None:
    result = invoke(runner, config, *command, f"--{subject}", "9999")
    assert assert_one_line_error(result, RET_NOT_FOUND) == f"Error: no {subject} 9999 in the CRM"


def test_a_user_gone_from_the_crm_can_still_have_the_feed_revoked(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    with crm_engine.begin() as conn:
        conn.execute(sa.delete(crm.users).where(crm.users.c.id == anna))
    assert invoke(runner, config, "feed", "revoke", "--user", str(anna)).exit_code == RET_OK


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--limit", "-1"],
        ["feed", "show", "--user", "0"],
        ["feed", "options", "--user", "1", "--reminder", "-2"],
        ["feed", "options", "--user", "1", "--days-ahead", "4000"],
        ["demo", "--users", "0"],
    ],
    ids=" ".join,
)
def test_values_out_of_range_are_usage_errors_naming_the_range(
    runner: CliRunner, config: Path, args: list[str]
) -> None:
    result = invoke(runner, config, *args)
    assert result.exit_code == RET_USAGE and "is not in the range" in result.output


def test_with_json_an_error_is_also_a_json_object_on_stdout(
    runner: CliRunner, config: Path, anna: int
) -> None:
    result = invoke(runner, config, "feed", "show", "--user", "9999", "--json")
    assert result.exit_code == RET_NOT_FOUND
    assert json_document(result) == {"error": "no user 9999 in the CRM", "exit_code": 6}
    assert result.stderr == "Error: no user 9999 in the CRM\n"


def test_with_json_a_usage_error_is_also_a_json_object_on_stdout(
    runner: CliRunner, config: Path
) -> None:
    result = invoke(runner, config, "status", "--limit", "-1", "--json")
    document = json_document(result)
    assert result.exit_code == document["exit_code"] == RET_USAGE
    assert "'--limit'" in document["error"] and "Error: " in result.stderr


def test_with_json_a_bad_option_before_the_command_is_also_a_json_object(
    runner: CliRunner, config: Path
) -> None:
    result = invoke(runner, config, "--log-format", "xml", "status", "--json")
    assert json_document(result)["exit_code"] == result.exit_code == RET_USAGE
