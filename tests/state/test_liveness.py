"""Liveness: heartbeats and the last runs, as `feedgen status` lists them (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from feedgen.build.report import RunReport
from feedgen.state import tables as state
from feedgen.state.liveness import (
    KEEP_RUNS,
    STOPPED_SHOWN,
    Heartbeat,
    Run,
    record_run,
    status_documents,
    status_lines,
)
from tests.conftest import NOW


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def heartbeat(engine: sa.Engine, clock: Clock) -> Iterator[Heartbeat]:
    beat = Heartbeat(engine, clock=clock, interval=3600)
    beat.start()
    yield beat
    beat.stop()


def lines(engine: sa.Engine, now: datetime) -> list[str]:
    with engine.connect() as conn:
        return status_lines(conn, now)


def worker_lines(engine: sa.Engine, now: datetime) -> list[str]:
    found = lines(engine, now)
    return found[: found.index(next(x for x in found if x.startswith("last runs")))]


def test_a_started_worker_is_listed_as_running(
    engine: sa.Engine, heartbeat: Heartbeat, clock: Clock
) -> None:
    head, worker = worker_lines(engine, NOW + timedelta(seconds=12))
    assert head == "workers: 1 running (seen in the last 24 h)"
    assert worker == (
        f"  {heartbeat.host} pid {heartbeat.pid}: running since 2026-11-24 09:30:00 UTC, "
        "seen 12 s ago"
    )


def test_the_running_job_is_shown_with_how_long_it_runs(
    engine: sa.Engine, heartbeat: Heartbeat, clock: Clock
) -> None:
    heartbeat.job_started("reconcile")
    clock.now = NOW + timedelta(minutes=7)
    heartbeat.beat()  # a long job does not silence the heartbeat
    _, worker = worker_lines(engine, clock.now + timedelta(seconds=5))
    assert worker.endswith("seen 5 s ago, running a reconcile for 7 min")


def test_runs_are_listed_newest_first_with_their_counts(
    engine: sa.Engine, heartbeat: Heartbeat, clock: Clock
) -> None:
    report = RunReport("cycle", feeds_built=3, uploaded=2, seconds=1.5)
    heartbeat.job_finished(report.as_run(NOW))
    clock.now = NOW + timedelta(minutes=5)
    heartbeat.job_finished(
        Run("reconcile", clock.now, 0.25, outcome="failed", error="database error: gone")
    )
    found = lines(engine, clock.now)
    runs = found[found.index("last runs:") + 1 :]
    assert runs == [
        f"  2026-11-24 09:35:00 UTC  reconcile     0.25s  built 0, uploaded 0, failed 0  "
        f"failed: database error: gone  ({heartbeat.runner})",
        f"  2026-11-24 09:30:00 UTC  cycle         1.50s  built 3, uploaded 2, failed 0  ok  "
        f"({heartbeat.runner})",
    ]


def test_a_worker_whose_jobs_keep_failing_stands_out(
    engine: sa.Engine, heartbeat: Heartbeat, clock: Clock
) -> None:
    for minute in range(3):
        clock.now = NOW + timedelta(minutes=minute)
        heartbeat.job_finished(
            Run("cycle", clock.now, 0.1, outcome="failed", error="S3 bucket 'feeds' cannot be used")
        )
    head, worker = worker_lines(engine, clock.now)
    assert head == "workers: 1 failing (seen in the last 24 h)"
    assert worker.endswith(
        "FAILING since 2026-11-24 09:30:00 UTC, seen 0 s ago; its last 3 job(s) failed, "
        "the last: S3 bucket 'feeds' cannot be used"
    )
    heartbeat.job_finished(Run("cycle", clock.now, 0.1))
    assert worker_lines(engine, clock.now)[0] == "workers: 1 running (seen in the last 24 h)"


def test_a_worker_not_seen_for_minutes_is_silent(engine: sa.Engine, heartbeat: Heartbeat) -> None:
    head, worker = worker_lines(engine, NOW + timedelta(minutes=10))
    assert head == "workers: 1 silent (seen in the last 24 h)"
    assert "SILENT since" in worker and "seen 10 min ago; it never said it stopped" in worker


def test_a_stopped_worker_says_when(engine: sa.Engine, heartbeat: Heartbeat, clock: Clock) -> None:
    clock.now = NOW + timedelta(hours=2)
    heartbeat.stop()
    head, worker = worker_lines(engine, clock.now)
    assert head == "workers: 1 stopped (seen in the last 24 h)"
    assert worker.endswith("stopped at 2026-11-24 11:30:00 UTC")
    assert worker_lines(engine, clock.now + timedelta(days=2)) == [
        "workers: none (seen in the last 24 h)"
    ]


def test_runs_of_an_outage_are_recorded_once_the_database_is_back(
    engine: sa.Engine, heartbeat: Heartbeat, tmp_path: object
) -> None:
    heartbeat.engine = sa.create_engine("sqlite:////nonexistent/dir/crm.sqlite")
    heartbeat.job_finished(Run("cycle", NOW, 0.1, outcome="failed", error="database error: gone"))
    heartbeat.job_finished(Run("cycle", NOW, 0.1, outcome="failed", error="database error: gone"))
    heartbeat.engine.dispose()
    heartbeat.engine = engine
    heartbeat.job_finished(Run("cycle", NOW + timedelta(minutes=1), 2.0, built=4))
    with engine.connect() as conn:
        outcomes = conn.execute(sa.select(state.runs.c.outcome).order_by(state.runs.c.id)).all()
    assert [o for (o,) in outcomes] == ["failed", "failed", "ok"]


def test_old_runs_and_workers_are_forgotten_when_a_worker_starts(
    engine: sa.Engine, clock: Clock
) -> None:
    with engine.begin() as conn:
        record_run(conn, Run("cycle", NOW - KEEP_RUNS - timedelta(days=1), 1.0), "worker on x")
        record_run(conn, Run("cycle", NOW - timedelta(days=1), 1.0), "worker on x")
    Heartbeat(engine, clock=clock, interval=3600).start()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(state.runs)).scalar() == 1


@pytest.mark.parametrize(
    ("report", "outcome", "error"),
    [
        (RunReport("cycle", feeds_built=2), "ok", None),
        (RunReport("cycle", feeds_built=2, stopped=True), "stopped", None),
        (
            RunReport("cycle", feeds_built=2, failed=1, errors={3: "render failed"}),
            "feeds failed",
            "1× render failed",
        ),
        (
            RunReport(
                "cycle", failed=2, errors={3: "S3 put of Ab… failed", 4: "S3 put of Cd… failed"}
            ),
            "failed",
            "2× S3 put of … failed",
        ),
    ],
)
def test_a_report_becomes_a_run(report: RunReport, outcome: str, error: str | None) -> None:
    run = report.as_run(NOW)
    assert (run.outcome, run.error) == (outcome, error)


def test_of_the_workers_that_stopped_only_the_latest_few_are_listed(
    engine: sa.Engine, clock: Clock
) -> None:
    for minute in range(STOPPED_SHOWN + 3):
        clock.now = NOW + timedelta(minutes=minute)
        restarted = Heartbeat(engine, clock=clock, interval=3600)
        restarted.start()
        restarted.stop()
    found = worker_lines(engine, clock.now)
    assert found[0] == f"workers: {STOPPED_SHOWN + 3} stopped (seen in the last 24 h)"
    assert len(found) == 1 + STOPPED_SHOWN + 1 and found[-1] == "  and 3 more that stopped"
    assert found[1].endswith(f"stopped at 2026-11-24 09:{30 + STOPPED_SHOWN + 2}:00 UTC")


def test_status_documents_give_the_workers_and_runs_as_objects(
    engine: sa.Engine, heartbeat: Heartbeat, clock: Clock
) -> None:
    heartbeat.job_finished(RunReport("cycle", feeds_built=3, uploaded=2, seconds=1.5).as_run(NOW))
    clock.now = NOW + timedelta(minutes=5)
    heartbeat.job_finished(
        Run("reconcile", clock.now, 0.25, outcome="failed", error="database error: gone")
    )
    heartbeat.job_started("cycle")
    with engine.connect() as conn:
        found = status_documents(conn, clock.now + timedelta(seconds=5))
    [worker] = found["workers"]
    assert worker | {"seen_at": None} == {
        "host": heartbeat.host,
        "pid": heartbeat.pid,
        "state": "failing",
        "started_at": NOW,
        "seen_at": None,
        "stopped_at": None,
        "job": "cycle",
        "job_started_at": clock.now,
        "failures": 1,
        "last_error": "database error: gone",
    }
    assert [(r["kind"], r["outcome"], r["error"], r["built"]) for r in found["runs"]] == [
        ("reconcile", "failed", "database error: gone", 0),
        ("cycle", "ok", None, 3),
    ]
    assert found["runs"][1] | {"runner": None} == {
        "kind": "cycle",
        "runner": None,
        "started_at": NOW,
        "seconds": 1.5,
        "built": 3,
        "uploaded": 2,
        "failed": 0,
        "outcome": "ok",
        "error": None,
    }
