"""build --dry-run: which feeds a build would rebuild and why, with nothing built or marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from feedgen.cli import cli
from feedgen.cli.helpers import RET_OK
from feedgen.crm import tables as crm
from feedgen.model import SubjectKind
from feedgen.state import feeds
from feedgen.state import tables as state
from tests.cli.invoking import invoke, json_document
from tests.conftest import NOW, _drop_everything
from tests.factories import Crm


def plan(runner: CliRunner, config: Path, *args: str) -> dict[str, Any]:
    result = invoke(runner, config, "build", "--dry-run", "--json", *args)
    assert result.exit_code == RET_OK, result.output
    document: dict[str, Any] = json_document(result)
    return document


def reasons(document: dict[str, Any], subject_id: int) -> list[str]:
    (found,) = [f for f in document["rebuilt"] if f["subject_id"] == subject_id]
    return list(found["reasons"])


def saved_state(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        builds = conn.execute(sa.select(state.builds).order_by(state.builds.c.feed_id)).all()
        cursors = conn.execute(sa.select(state.cursors).order_by(state.cursors.c.name)).all()
        index = conn.execute(sa.select(sa.func.count()).select_from(state.activity_index))
        return [*builds, *cursors, index.scalar_one()]


def test_a_feed_never_built_is_said_so(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    with crm_engine.begin() as conn:  # issued by a CRM that lets the worker publish
        feeds.issue_feed(conn, SubjectKind.USER, anna, NOW)
    document = plan(runner, config)
    assert (document["feeds"], document["changed"]) == (1, 1)
    assert reasons(document, anna) == ["never built"]


def test_a_changed_activity_is_named_and_nothing_is_marked(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    invoke(runner, config, "cycle")
    Crm(crm_engine, NOW).activity(anna)
    before = saved_state(crm_engine)
    document = plan(runner, config)
    assert reasons(document, anna) == ["changed since the last cycle: 1 activity(ies) changed"]
    assert saved_state(crm_engine) == before
    # Not marked, not built: the next cycle still finds the change and builds the feed.
    assert json_document(invoke(runner, config, "cycle", "--json"))["feeds_built"] == 1


def test_a_renamed_user_is_named(
    runner: CliRunner, config: Path, anna: int, crm_engine: sa.Engine
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    invoke(runner, config, "cycle")
    Crm(crm_engine, NOW).update_user(anna, name="Anna Weber")
    assert reasons(plan(runner, config), anna) == [
        "the user changed (name, time zone, teams or a day's window)"
    ]


def test_a_current_feed_is_rebuilt_without_a_reason(
    runner: CliRunner, config: Path, anna: int
) -> None:
    invoke(runner, config, "feed", "issue", "--user", str(anna))
    invoke(runner, config, "cycle")
    document = plan(runner, config)
    assert (document["feeds"], document["changed"], reasons(document, anna)) == (1, 0, [])
    text = invoke(runner, config, "build", "--dry-run").output
    assert text.startswith("build would rebuild 1 active feed(s) in full, uploading those whose")
    assert text.endswith(
        "0 changed since their last build:\nnothing was built, uploaded or marked\n"
    )


def test_force_names_the_feeds_missing_in_storage(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    url = json_document(invoke(runner, config, "feed", "issue", "--user", str(anna), "--json"))
    invoke(runner, config, "cycle")
    (tmp_path / "feeds" / url["feed_url"].rsplit("/", 1)[1]).unlink()
    document = plan(runner, config, "--force")
    assert document["force"] is True
    assert reasons(document, anna) == ["missing in storage", "--force uploads it"]


@pytest.mark.postgres
def test_a_dry_run_marks_nothing_on_postgresql(
    runner: CliRunner, config: Path, pg_server: sa.URL
) -> None:
    url = pg_server.render_as_string(hide_password=False)
    engine = sa.create_engine(pg_server)
    _drop_everything(engine)
    crm.metadata.create_all(engine)
    anna = Crm(engine, NOW).user("Anna Schmidt")
    env = {"FEEDGEN_DATABASE_URL": url}

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(config), *args], env=env)

    for args in (["db", "upgrade"], ["feed", "issue", "--user", str(anna)], ["cycle"]):
        assert run(*args).exit_code == RET_OK
    Crm(engine, NOW).activity(anna)
    before = saved_state(engine)
    document = json_document(run("build", "--dry-run", "--json"))
    assert reasons(document, anna) == ["changed since the last cycle: 1 activity(ies) changed"]
    assert saved_state(engine) == before
    assert json_document(run("cycle", "--json"))["feeds_built"] == 1
    engine.dispose()
