"""Builds on several processes give the same feeds as one process, each built once, on SQLite
and on PostgreSQL (where workers claim feeds with row locks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.build import Builder, parallel
from feedgen.config import Config, DatabaseConfig, StorageConfig, WorkerConfig
from feedgen.db import open_engine
from feedgen.model import FeedOptions, SubjectKind
from feedgen.publish.storage import open_storage
from feedgen.publish.storage.local import LocalStorage
from feedgen.publish.storage.memory import MemoryStorage
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


def config_of(database: str, storage: str, processes: int | str) -> Config:
    return Config(
        database=DatabaseConfig(url=database),
        storage=StorageConfig(url=storage),
        worker=WorkerConfig(processes=processes),
    )


def test_auto_uses_every_core_this_process_may_run_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    config = config_of("sqlite:///var/crm.sqlite", "file://var/feeds", "auto")
    assert parallel.process_count(config) == 3


def test_auto_prefers_the_process_cpu_count_of_newer_pythons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "process_cpu_count", lambda: 6, raising=False)
    config = config_of("postgresql://crm@db/crm", "s3://feeds", "auto")
    assert parallel.process_count(config) == 6


def test_a_number_of_processes_is_taken_as_given() -> None:
    config = config_of("sqlite:///var/crm.sqlite", "file://var/feeds", 5)
    assert parallel.process_count(config) == 5


@pytest.mark.parametrize(
    ("database", "storage"),
    [
        ("sqlite:///var/crm.sqlite", "memory://"),
        ("sqlite://", "file://var/feeds"),
        ("sqlite:///:memory:", "file://var/feeds"),
    ],
)
def test_a_store_or_database_in_memory_builds_on_one_process(database: str, storage: str) -> None:
    for processes in ("auto", 4):
        config = config_of(database, storage, processes)
        assert parallel.process_count(config) == 1
        assert not parallel.usable(config)


def test_processes_are_used_only_when_they_reach_the_builders_database_and_store(
    tmp_path: Path,
) -> None:
    database = f"sqlite:///{tmp_path / 'crm.sqlite'}"
    config = config_of(database, f"file://{tmp_path / 'feeds'}", 2)
    engine = sa.create_engine(database)
    assert parallel.shared_with(config, engine, LocalStorage(tmp_path / "feeds"))
    assert not parallel.shared_with(config, engine, LocalStorage(tmp_path / "elsewhere"))
    assert not parallel.shared_with(config, engine, MemoryStorage())
    other = sa.create_engine(f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert not parallel.shared_with(config, other, LocalStorage(tmp_path / "feeds"))


def spawns(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int | str
) -> tuple[Builder, list[int]]:
    """A builder of the 9 feeds in batches of 2 on two cores; the batches each run it hands to
    processes."""
    url = seeded(engine)
    config = Config(
        database=DatabaseConfig(url=url),
        storage=StorageConfig(url=f"file://{tmp_path / 'feeds'}"),
        worker=WorkerConfig(batch_size=2, processes=processes),
    )
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    spawned: list[int] = []
    monkeypatch.setattr(parallel, "build_chunks", lambda _c, parts, *_a: spawned.append(len(parts)))
    return Builder(engine, open_storage(config.storage), config, now=lambda: NOW), spawned


def test_on_auto_a_cycle_of_a_few_batches_builds_on_one_process(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder, spawned = spawns(engine, tmp_path, monkeypatch, "auto")
    report = builder.cycle()  # every feed is new: 5 batches
    assert spawned == [] and report.feeds_built == 9
    builder.build(force=True)
    assert spawned == [5]  # a full build of as many batches goes to the processes


def test_a_number_of_processes_set_by_hand_takes_any_cycle_of_batches(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder, spawned = spawns(engine, tmp_path, monkeypatch, 2)
    builder.cycle()
    assert spawned == [5]


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1), ("max 100000\n", None)],
    ids=["2 CPUs", "1.5 CPUs", "half a CPU", "unlimited"],
)
def test_auto_takes_no_more_processes_than_the_cgroup_quota_allows(
    tmp_path: Path, cpu_max: str, expected: int | None
) -> None:
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max, encoding="ascii")
    unlimited = parallel.available_cores(tmp_path / "absent")
    assert parallel.available_cores(path) == min(unlimited, expected or unlimited)
