"""db upgrade, db status and demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from feedgen.cli import cli
from feedgen.cli.helpers import (
    RET_OK,
)
from feedgen.state import tables as state
from tests.cli.invoking import invoke
from tests.parsers import parse_all


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
