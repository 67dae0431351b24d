"""build, cycle, reconcile and status: what they report (text, JSON) and what they leave alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import RET_FEEDS_FAILED, RET_OK, RET_REFUSED, RET_SOURCE, RET_STORAGE
from feedgen.render import events as render
from feedgen.state import tables as state
from tests.cli.invoking import assert_one_line_error, invoke, json_document
from tests.conftest import NOW
from tests.factories import Crm


def test_a_build_reports_what_it_did(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "build", "--force", "--user", str(anna))
    assert result.exit_code == RET_OK
    # Feeds and their subscribe pages are counted apart: one feed is not two uploads.
    assert result.output.startswith(
        "build: 1 feed(s) built (1 uploaded, 0 unchanged, 0 patched), 0 failed, "
        "1 subscribe page(s) uploaded, "
    ), result.output


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


READ_ONLY = [
    ["status"],
    ["feed", "show", "--user", "1"],
    ["db", "status"],
    ["reconcile", "--dry-run"],
    ["build", "--dry-run"],
    ["config", "check"],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=" ".join)
def test_a_read_only_command_in_an_empty_folder_creates_nothing(
    runner: CliRunner, tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no configuration: the defaults, var/crm.sqlite and var/feeds
    result = runner.invoke(cli, command)
    assert result.exit_code == RET_SOURCE, result.output
    assert "Error: no CRM database at var/crm.sqlite (database.url)" in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [c for c in READ_ONLY if "show" not in c], ids=" ".join)
def test_a_read_only_command_does_not_create_the_storage_folder(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path, command: list[str]
) -> None:
    result = invoke(runner, config, *command)
    # config check says the folder is missing (exit 5), the others find an empty store.
    assert result.exit_code == (RET_STORAGE if command[0] == "config" else RET_OK), result.output
    assert not (tmp_path / "feeds").exists()


def test_status_lists_no_more_feeds_than_the_limit(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    bob = Crm(crm_engine, NOW).user("Bob Meyer")
    for user in (anna, bob):
        invoke(runner, config, "feed", "issue", "--user", str(user))
    result = invoke(runner, config, "status", "--limit", "1", "--json")
    assert len(json_document(result)["feeds"]) == 1


def test_status_with_limit_0_gives_the_counts_alone(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    status = json_document(invoke(runner, config, "status", "--limit", "0", "--json"))
    assert status["feeds"] == [] and status["summary"][0].startswith("1 active feed(s)")


def test_status_with_json_shortens_urls_unless_asked(
    runner: CliRunner, config: Path, anna: int
) -> None:
    issued = json_document(invoke(runner, config, "feed", "issue", "--user", str(anna), "--json"))
    short = json_document(invoke(runner, config, "status", "--json"))
    whole = json_document(invoke(runner, config, "status", "--json", "--show-urls"))
    token = issued["feed_url"].rsplit("/", 1)[1].removesuffix(".ics")
    assert token not in json.dumps(short) and short["feeds"][0]["links"] is None
    assert whole["feeds"][0]["feed_url"] == issued["feed_url"]
    assert whole["feeds"][0]["links"] == issued["links"]
    assert short["summary"][0].startswith("1 active feed(s)")
    assert short["serialiser"].startswith(("C", "Python")) and short["feeds"][0]["events"] == 0


def test_status_with_json_lists_the_last_runs_as_objects(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    assert invoke(runner, config, "cycle").exit_code == 0
    status = json_document(invoke(runner, config, "status", "--json"))
    assert status["workers"] == []  # commands are runs, not workers
    [run] = status["runs"]
    assert (run["kind"], run["outcome"], run["error"]) == ("cycle", "ok", None)
    assert run["runner"].startswith("command ") and run["seconds"] >= 0


@pytest.mark.parametrize("command", [["build"], ["cycle"], ["reconcile"]], ids=" ".join)
def test_a_run_with_json_prints_its_report(
    runner: CliRunner, config: Path, anna: int, command: list[str]
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, *command, "--json")
    assert result.exit_code == RET_OK, result.output
    report = json_document(result)
    assert report["kind"] == command[0] and report["failed"] == 0 and report["causes"] == []
    assert report["feeds_built"] == 1
    assert {"feeds_uploaded", "pages_uploaded", "unchanged", "seconds"} <= set(report)


def test_a_run_with_failed_feeds_prints_their_causes_in_json_and_exits_1(
    runner: CliRunner, config: Path, anna: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedgen.errors import StorageError
    from feedgen.publish.storage.local import LocalStorage

    invoke(runner, config, "feed", "issue", "--user", str(anna))

    def refuse(self: LocalStorage, key: str, data: bytes, **headers: str) -> None:
        raise StorageError("local put failed: No space left on device")

    monkeypatch.setattr(LocalStorage, "put", refuse)
    result = invoke(runner, config, "build", "--force", "--json")
    report = json_document(result)
    assert result.exit_code == RET_FEEDS_FAILED and report["failed"] == 1
    assert report["causes"] == [{"cause": "local put failed: No space left on device", "feeds": 1}]


def test_reconcile_dry_run_with_json_lists_the_strays_shortened(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    (tmp_path / "feeds" / f"{'s' * 43}.ics").write_bytes(b"BEGIN:VCALENDAR")
    found = json_document(invoke(runner, config, "reconcile", "--dry-run", "--json"))
    assert found == {
        "dry_run": True,
        "active_feeds": 1,
        "objects": 3,
        "missing_feeds": 0,
        "missing_pages": 0,
        "stray": [f"{'s' * 6}….ics"],
        "refusal": None,
    }
