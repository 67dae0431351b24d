"""The feed lifecycle commands: issue, show, rotate, revoke, options, as text and as JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli.helpers import (
    RET_NOT_FOUND,
    RET_OK,
    RET_STORAGE,
)
from tests.cli.invoking import BASE_URL, assert_one_line_error, feed_url, invoke, json_document


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


def test_issue_with_json_prints_the_whole_urls_and_links(
    runner: CliRunner, config: Path, anna: int
) -> None:
    result = invoke(runner, config, "feed", "issue", "--user", str(anna), "--json")
    assert result.exit_code == RET_OK, result.output
    document = json_document(result)
    token = document["feed_url"].removeprefix(f"{BASE_URL}/").removesuffix(".ics")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)
    assert document["kind"] == "user" and document["subject_id"] == anna
    assert document["name"] == "Anna Schmidt · CRM"
    assert document["page_url"].startswith(f"{BASE_URL}/") and document["page_url"].endswith(
        ".html"
    )
    assert set(document["links"]) == {"webcal", "google", "outlook_web", "outlook_365"}
    assert all(token in link for link in document["links"].values())
    assert document["options"]["busy_only"] is False


def test_show_with_json_gives_the_feed_issue_gave(
    runner: CliRunner, config: Path, anna: int
) -> None:
    issued = json_document(invoke(runner, config, "feed", "issue", "--user", str(anna), "--json"))
    shown = json_document(invoke(runner, config, "feed", "show", "--user", str(anna), "--json"))
    assert shown == issued


def test_rotate_with_json_gives_the_new_url(runner: CliRunner, config: Path, anna: int) -> None:
    issued = json_document(invoke(runner, config, "feed", "issue", "--user", str(anna), "--json"))
    rotated = invoke(runner, config, "feed", "rotate", "--user", str(anna), "--json")
    assert rotated.exit_code == RET_OK
    document = json_document(rotated)
    assert document["feed_url"] != issued["feed_url"] and document["rotated_at"] is not None


def test_revoke_with_json_says_it_is_revoked(runner: CliRunner, config: Path, anna: int) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(runner, config, "feed", "revoke", "--user", str(anna), "--json")
    assert json_document(result) == {"kind": "user", "subject_id": anna, "revoked": True}


def test_options_with_json_gives_the_feed_with_its_new_options(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    result = invoke(
        runner, config, "feed", "options", "--user", str(anna), "--kinds", "call,task", "--json"
    )
    options = json_document(result)["options"]
    assert options["kinds"] == ["call", "task"] and options["days_back"] == 30


def test_issue_with_json_when_storing_fails_gives_the_feed_in_the_error_object(
    runner: CliRunner, config: Path, anna: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedgen.errors import StorageError
    from feedgen.publish.storage.local import LocalStorage

    def refuse(self: LocalStorage, key: str, data: bytes, **headers: str) -> None:
        raise StorageError("local put failed: No space left on device")

    monkeypatch.setattr(LocalStorage, "put", refuse)
    result = invoke(runner, config, "feed", "issue", "--user", str(anna), "--json")
    document = json_document(result)
    assert result.exit_code == document["exit_code"] == RET_STORAGE
    assert document["error"].startswith("the feed is issued, but storing it failed")
    assert document["feed"]["feed_url"].startswith(f"{BASE_URL}/")
    assert result.stderr.startswith("Error: the feed is issued") and result.stderr.count("\n") == 1
