"""build, cycle, reconcile and status: what they report (text, JSON) and what they leave alone."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from feedgen.cli.helpers import (
    RET_OK,
    RET_REFUSED,
)
from feedgen.render import events as render
from feedgen.state import tables as state
from tests.cli.invoking import assert_one_line_error, invoke
from tests.conftest import NOW


def test_a_build_reports_what_it_did(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "build", "--force", "--user", str(anna))
    assert result.exit_code == RET_OK
    # Feeds and their subscribe pages are counted apart: one feed is not two uploads.
    assert result.output.startswith(
        "build: 1 feed(s) built (1 uploaded, 0 unchanged, 0 patched), 0 failed; "
        "1 subscribe page(s) uploaded; "
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
