"""Builds on several processes give the same feeds as one process, each built once, on SQLite
and on PostgreSQL (where workers claim feeds with row locks)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from feedgen.build import Builder
from feedgen.config import Config, DatabaseConfig, StorageConfig, WorkerConfig
from feedgen.db import open_engine
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage import open_storage
from feedgen.state.feeds import issue_feed
from tests.conftest import NOW
from tests.factories import Crm


def seeded(engine: sa.Engine) -> str:
    """Eight agents, four of them a team, each with a viewing shared with the next; their URL."""
    factory = Crm(engine, NOW)
    users = [factory.user(f"Agent {i}") for i in range(8)]
    team = factory.team("Sales", users[:4])
    for i, user in enumerate(users):
        factory.activity(user, title=f"Viewing {i}", colleagues=(users[(i + 1) % 8],))
    with engine.begin() as conn:
        for user in users:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
        issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())
    return engine.url.render_as_string(hide_password=False)


def build(url: str, folder: Path, processes: int) -> dict[str, bytes]:
    config = Config(
        database=DatabaseConfig(url=url),
        storage=StorageConfig(url=f"file://{folder}"),
        worker=WorkerConfig(batch_size=2, processes=processes),
    )
    engine = open_engine(url)
    report = Builder(engine, open_storage(config.storage), config, now=lambda: NOW).build(
        force=True
    )
    engine.dispose()
    assert report.failed == 0 and report.feeds_built == 9
    return {p.name: p.read_bytes() for p in folder.glob("*.ics")}


def test_two_processes_build_the_same_bytes_as_one(engine: sa.Engine, tmp_path: Path) -> None:
    url = seeded(engine)
    alone = build(url, tmp_path / "one", processes=1)
    together = build(url, tmp_path / "two", processes=2)
    assert len(alone) == 9 and together == alone


def test_after_a_parallel_build_nothing_is_left_dirty(engine: sa.Engine, tmp_path: Path) -> None:
    url = seeded(engine)
    build(url, tmp_path / "feeds", processes=2)
    with engine.connect() as conn:
        dirty = conn.execute(sa.text("SELECT count(*) FROM feedgen_builds WHERE dirty")).scalar()
    assert dirty == 0
