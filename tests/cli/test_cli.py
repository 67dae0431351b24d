"""The operators' command line through click's CliRunner: commands, output and exit codes."""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from feedgen.cli import cli
from feedgen.cli.helpers import (
    RET_BUSY,
    RET_CONFIG,
    RET_NOT_FOUND,
    RET_OK,
    RET_REFUSED,
    RET_SOURCE,
    RET_STATE,
    RET_STORAGE,
    RET_USAGE,
)
from feedgen.crm import tables as crm
from feedgen.render import events as render
from feedgen.state import tables as state
from feedgen.state.runlock import RunLock
from tests.conftest import NOW
from tests.factories import Crm
from tests.parsers import parse_all

BASE_URL = "https://cal.tesoro.example"
COMMANDS = {"db", "demo", "config", "feed", "build", "cycle", "reconcile", "worker", "status"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner that sees no FEEDGEN_* variable of the environment the tests run in."""
    for name in list(os.environ):
        if name.startswith("FEEDGEN_"):
            monkeypatch.delenv(name)
    return CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(
        f"""
        [database]
        url = "sqlite:///{tmp_path / "crm.sqlite"}"
        [storage]
        url = "file://{tmp_path / "feeds"}"
        [publish]
        public_base_url = "{BASE_URL}"
        """,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def crm_engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """The CRM's tables, as the CRM has them, before feedgen's own exist."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    crm.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def anna(crm_engine: sa.Engine, runner: CliRunner, config: Path) -> int:
    """A CRM user, with feedgen's tables upgraded."""
    user_id = Crm(crm_engine, NOW).user("Anna Schmidt", email="anna.schmidt@tesoro.example")
    assert invoke(runner, config, "db", "upgrade").exit_code == RET_OK
    return user_id


def invoke(runner: CliRunner, config: Path, *args: str) -> Result:
    return runner.invoke(cli, ["--config", str(config), *args])


def feed_url(result: Result) -> str:
    match = re.search(r"^feed:\s+(\S+)$", result.output, re.MULTILINE)
    assert match, result.output
    return match[1]


def assert_one_line_error(result: Result, code: int) -> str:
    """The error is a single ``Error: ...`` line with the exit code, and no traceback."""
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


# --- help -------------------------------------------------------------------------------------


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


# --- demo and build ---------------------------------------------------------------------------


def test_demo_then_build_publishes_a_feed_per_subject(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    demo = invoke(
        runner, config, "demo", "--users", "4", "--teams", "1", "--activities-per-user", "8"
    )
    assert demo.exit_code == RET_OK, demo.output
    build = invoke(runner, config, "build")
    assert build.exit_code == RET_OK, build.output
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    with engine.connect() as conn:
        tokens = set(conn.execute(sa.select(state.feeds.c.token)).scalars())
    engine.dispose()
    files = sorted((tmp_path / "feeds").glob("*.ics"))
    assert {f.name for f in files} == {f"{t}.ics" for t in tokens} and len(tokens) == 5
    assert all(parse_all(f.read_bytes()) for f in files)


def test_a_build_reports_what_it_did(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "build")
    assert result.exit_code == RET_OK
    assert result.output.startswith("build: 1 feed(s) built, ") and " 0 failed" in result.output


# --- feeds ------------------------------------------------------------------------------------


def test_issue_prints_the_url_and_subscribe_links(
    runner: CliRunner, config: Path, anna: int
) -> None:
    result = invoke(runner, config, "feed", "issue", "--user", str(anna))
    assert result.exit_code == RET_OK, result.output
    url = feed_url(result)
    token = url.removeprefix(f"{BASE_URL}/").removesuffix(".ics")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)
    links = [line for line in result.output.splitlines() if line.startswith("  ")]
    assert links and all(token in line for line in links)
    assert any(f"webcal://{BASE_URL.removeprefix('https://')}/{token}.ics" in x for x in links)


def test_issue_again_prints_the_same_url(runner: CliRunner, config: Path, anna: int) -> None:
    first = invoke(runner, config, "feed", "issue", "--user", str(anna))
    again = invoke(runner, config, "feed", "issue", "--user", str(anna))
    assert feed_url(again) == feed_url(first)


def test_rotate_prints_a_new_url(runner: CliRunner, config: Path, anna: int) -> None:
    old = feed_url(invoke(runner, config, "feed", "issue", "--user", str(anna)))
    rotated = invoke(runner, config, "feed", "rotate", "--user", str(anna))
    assert rotated.exit_code == RET_OK
    new = feed_url(rotated)
    assert new != old
    assert feed_url(invoke(runner, config, "feed", "show", "--user", str(anna))) == new


def test_issue_prints_the_url_and_exits_5_when_storing_it_fails(
    runner: CliRunner, config: Path, anna: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from feedgen.errors import StorageError
    from feedgen.publish.storage.local import LocalStorage

    def refuse(self: LocalStorage, key: str, data: bytes, **headers: str) -> None:
        raise StorageError("local put failed: No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(LocalStorage, "put", refuse)
        result = invoke(runner, config, "feed", "issue", "--user", str(anna))
    assert result.exit_code == RET_STORAGE
    url = feed_url(result)
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("Error: the feed is issued, but storing it failed")
    assert "No space left on device" in error and url.rsplit("/", 1)[1] not in error
    assert invoke(runner, config, "cycle").exit_code == RET_OK
    assert (tmp_path / "feeds" / url.rsplit("/", 1)[1]).exists()


def test_reconcile_dry_run_says_what_it_would_delete_and_deletes_nothing(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    stray = tmp_path / "feeds" / f"{'s' * 43}.ics"
    stray.write_bytes(b"BEGIN:VCALENDAR")
    result = invoke(runner, config, "reconcile", "--dry-run")
    assert result.exit_code == RET_OK, result.output
    assert "delete 1 object(s) that no active feed owns" in result.output
    assert f"delete {'s' * 6}….ics: no active feed owns it" in result.output
    assert stray.exists()


def test_reconcile_refuses_to_empty_storage_and_exits_8(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    with crm_engine.begin() as conn:
        conn.execute(sa.update(state.feeds).values(revoked_at=NOW))
    result = invoke(runner, config, "reconcile")
    assert "no active feeds, yet 2 feed object(s)" in assert_one_line_error(result, RET_REFUSED)
    forced = invoke(runner, config, "reconcile", "--force")
    assert forced.exit_code == RET_OK, forced.output
    assert "2 object(s) deleted" in forced.output


def test_revoke_ends_the_feed(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    revoked = invoke(runner, config, "feed", "revoke", "--user", str(anna))
    assert (revoked.exit_code, revoked.output) == (
        RET_OK,
        f"revoked the feed of user {anna}: its URL no longer answers\n",
    )
    shown = invoke(runner, config, "feed", "show", "--user", str(anna))
    assert "no active feed" in assert_one_line_error(shown, RET_NOT_FOUND)


def test_options_busy_only_is_stored(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    changed = invoke(runner, config, "feed", "options", "--user", str(anna), "--busy-only")
    assert changed.exit_code == RET_OK and '"busy_only":true' in changed.output
    shown = invoke(runner, config, "feed", "show", "--user", str(anna))
    assert '"busy_only":true' in shown.output


def test_options_out_of_range_is_a_usage_error(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "feed", "options", "--user", str(anna), "--days-back", "-3")
    assert result.exit_code == RET_USAGE and "--days-back" in result.output


def test_status_with_show_urls_prints_the_same_links_as_show(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    shown = invoke(runner, config, "feed", "show", "--user", str(anna)).output.splitlines()
    status = invoke(runner, config, "status", "--show-urls").output.splitlines()
    links = [line for line in shown if line.startswith("  ")]
    assert links and [line for line in links if line not in status] == []


def test_status_does_not_print_whole_urls_by_default(
    runner: CliRunner, config: Path, anna: int
) -> None:
    issued = invoke(runner, config, "feed", "issue", "--user", str(anna)).output
    feed = next(line.split()[-1] for line in issued.splitlines() if line.startswith("feed:"))
    page = next(line.split()[-1] for line in issued.splitlines() if line.startswith("page:"))
    token = feed.rsplit("/", 1)[1].removesuffix(".ics")
    page_token = page.rsplit("/", 1)[1].removesuffix(".html")
    status = invoke(runner, config, "status")
    assert status.exit_code == RET_OK
    assert token not in status.output and page_token not in status.output
    assert f"feed:  {feed.rsplit('/', 1)[0]}/{token[:6]}…" in status.output


def test_status_says_which_serialiser_renders(runner: CliRunner, config: Path, anna: int) -> None:
    line = "serialiser: C" if render._speedups is not None else "serialiser: Python"
    assert line in invoke(runner, config, "status").output


# --- errors -----------------------------------------------------------------------------------


def test_status_lists_the_last_runs_and_the_workers_seen(
    runner: CliRunner, config: Path, anna: int
) -> None:
    assert invoke(runner, config, "feed", "issue", "--user", str(anna)).exit_code == RET_OK
    assert invoke(runner, config, "cycle").exit_code == RET_OK
    output = invoke(runner, config, "status").output
    assert "workers: none (seen in the last 24 h)" in output
    runs = output[output.index("last runs:") :].splitlines()
    # The feed was stored when issued: the cycle finds its bytes unchanged.
    assert "  cycle " in runs[1] and "built 1, uploaded 0, failed 0  ok  (command on " in runs[1]


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


def test_a_cycle_while_another_job_holds_the_sqlite_database_exits_8_naming_it(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feedgen.state.runlock.JOB_WAIT_SECONDS", 0.3)
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    with lock.job("the worker's reconcile"):
        result = invoke(runner, config, "cycle")
    assert result.exit_code == RET_BUSY
    waiting, error = result.output.strip().splitlines()
    assert waiting.startswith("waiting up to 0.3 s for the worker's reconcile (pid ")
    assert error.startswith("Error: the worker's reconcile (pid ")
    assert error.endswith("holds this SQLite database after 0.3 s; run this again later")


def test_a_cycle_runs_once_the_running_job_ends(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    holding = lock.job("the worker's cycle")
    holding.__enter__()
    threading.Timer(0.5, holding.__exit__, args=(None, None, None)).start()
    result = invoke(runner, config, "cycle")
    assert result.exit_code == RET_OK
    waiting, summary = result.output.strip().splitlines()
    assert waiting.startswith("waiting up to 30 s for the worker's cycle (pid ")
    assert summary.startswith("cycle: ")


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


@pytest.mark.postgres
def test_demo_build_and_cycle_run_on_postgresql(
    runner: CliRunner, config: Path, pg_server: sa.URL
) -> None:
    env = {"FEEDGEN_DATABASE_URL": pg_server.render_as_string(hide_password=False)}

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(config), *args], env=env)

    assert run("demo", "--reset", "--users", "12", "--teams", "2").exit_code == RET_OK
    built = run("build")
    assert (
        built.exit_code == RET_OK and "12 feed(s) built" in built.output
    )  # 10 active users, 2 teams
    assert "0 feed(s) built" in run("cycle").output


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
