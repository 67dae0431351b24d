"""Builds on several processes give the same feeds as one process, each built once."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from feedgen import crm, migrations
from feedgen.build import Builder
from feedgen.config import Config, DatabaseConfig, StorageConfig, WorkerConfig
from feedgen.db import open_engine
from feedgen.feeds import issue_feed
from feedgen.model import FeedOptions, SubjectKind
from feedgen.storage import open_storage
from tests.conftest import NOW
from tests.factories import Crm


def seeded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    engine = open_engine(url)
    crm.metadata.create_all(engine)
    migrations.upgrade(engine)
    factory = Crm(engine, NOW)
    users = [factory.user(f"Agent {i}") for i in range(8)]
    team = factory.team("Sales", users[:4])
    for i, user in enumerate(users):
        factory.activity(user, title=f"Viewing {i}", colleagues=(users[(i + 1) % 8],))
    with engine.begin() as conn:
        for user in users:
            issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions())
        issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())
    engine.dispose()
    return url


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


def test_two_processes_build_the_same_bytes_as_one(tmp_path: Path) -> None:
    url = seeded(tmp_path)
    alone = build(url, tmp_path / "one", processes=1)
    together = build(url, tmp_path / "two", processes=2)
    assert len(alone) == 9 and together == alone


def test_after_a_parallel_build_nothing_is_left_dirty(tmp_path: Path) -> None:
    url = seeded(tmp_path)
    build(url, tmp_path / "feeds", processes=2)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        dirty = conn.execute(sa.text("SELECT count(*) FROM feedgen_builds WHERE dirty")).scalar()
    engine.dispose()
    assert dirty == 0
