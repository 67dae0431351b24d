"""The worker's schedule and jobs: triggers, one line per job, back-off after failures."""

from __future__ import annotations

import logging
import threading
from datetime import time as clock_time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedgen.build.report import RunReport
from feedgen.config import WorkerConfig
from feedgen.errors import StorageError
from feedgen.state.liveness import Run
from feedgen.state.runlock import RunLock
from feedgen.tokens import new_token, redact
from jobs.schedule import make_scheduler
from jobs.tasks import Jobs

CONFIG = WorkerConfig(cycle_seconds=60)


class FakeBuilder:
    """Runs that succeed, raise, or report failed feeds, as the test says."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.calls: list[str] = []
        self.outcome: Exception | RunReport | None = None

    def cycle(self) -> RunReport:
        return self._run("cycle")

    def reconcile(self) -> RunReport:
        return self._run("reconcile")

    def _run(self, kind: str) -> RunReport:
        self.calls.append(kind)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome or RunReport(kind, feeds_built=3, uploaded=1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def builder() -> FakeBuilder:
    return FakeBuilder()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jobs(builder: FakeBuilder, clock: FakeClock) -> Jobs:
    return Jobs(builder, CONFIG, clock=clock)  # type: ignore[arg-type]


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "feedgen.worker" and r.levelno >= level]


def test_the_schedule_runs_a_cycle_at_once_then_every_interval_and_a_nightly_reconcile(
    jobs: Jobs,
) -> None:
    config = WorkerConfig(cycle_seconds=150, reconcile_at=clock_time(4, 15))
    scheduler = make_scheduler(jobs, config)
    found = {job.id: job for job in scheduler.get_jobs()}
    cycle, reconcile = found["cycle"], found["reconcile"]
    assert isinstance(cycle.trigger, IntervalTrigger)
    assert cycle.trigger.interval.total_seconds() == 150
    assert cycle.next_run_time is not None  # the first cycle does not wait an interval
    assert isinstance(reconcile.trigger, CronTrigger)
    assert str(reconcile.trigger) == "cron[hour='4', minute='15']"


def test_a_failed_job_is_one_warning_line_with_its_cause_and_no_traceback(
    jobs: Jobs, builder: FakeBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    builder.outcome = RuntimeError("database went away\nwith a long story")
    assert jobs.cycle() is None
    [warning] = lines(caplog, logging.WARNING)
    assert warning.exc_info is None
    assert "cycle failed after" in warning.getMessage()
    assert "RuntimeError: database went away (1 failed in a row" in warning.getMessage()
    [debug] = [r for r in lines(caplog, logging.DEBUG) if r.levelno == logging.DEBUG]
    assert debug.exc_info is not None  # the traceback, for DEBUG only


def test_cycles_back_off_after_failures_and_come_back_on_success(
    jobs: Jobs, builder: FakeBuilder, clock: FakeClock
) -> None:
    builder.outcome = RuntimeError("down")
    ran_at = []
    for tick in range(13):  # one scheduled cycle a minute
        clock.now = 1000.0 + 60 * tick
        before = len(builder.calls)
        jobs.cycle()
        if len(builder.calls) > before:
            ran_at.append(tick)
    assert ran_at == [0, 1, 3, 7, 12]  # 1, 2, 4, 5 minutes apart: 2^(n-1), capped at 5 min
    builder.outcome = None
    clock.now += 5 * 60
    assert jobs.cycle() is not None and jobs.failures == 0
    clock.now += 60
    assert jobs.cycle() is not None  # back to every interval


def test_the_first_job_after_failures_says_so_in_its_line(
    jobs: Jobs, builder: FakeBuilder, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    builder.outcome = RuntimeError("down")
    jobs.cycle()
    builder.outcome = None
    clock.now += 3600
    jobs.cycle()
    assert lines(caplog)[-1].getMessage().endswith("(back after 1 failed job(s))")


def test_a_store_that_fails_every_upload_is_one_line_and_counts_as_a_failed_job(
    jobs: Jobs, builder: FakeBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    errors = {i: f"S3 put of {redact(new_token())} failed: timed out" for i in range(30)}
    builder.outcome = RunReport("cycle", failed=30, errors=errors)
    jobs.cycle()
    [line] = lines(caplog)
    assert line.levelno == logging.WARNING
    assert "30× S3 put of … failed: timed out; retried at the next cycle" in line.getMessage()
    assert jobs.failures == 1


def test_a_few_failed_feeds_do_not_make_the_job_fail(
    jobs: Jobs, builder: FakeBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    builder.outcome = RunReport("cycle", feeds_built=9, failed=1, errors={4: "render failed"})
    jobs.cycle()
    assert [r.levelno for r in lines(caplog)] == [logging.WARNING] and jobs.failures == 0


def test_a_job_queued_behind_a_stop_does_not_start(jobs: Jobs, builder: FakeBuilder) -> None:
    builder.stop.set()
    assert jobs.reconcile() is None and builder.calls == []


def test_a_reconcile_runs_even_while_cycles_back_off(
    jobs: Jobs, builder: FakeBuilder, clock: FakeClock
) -> None:
    builder.outcome = StorageError("S3 bucket 'feeds' cannot be used")
    jobs.cycle()
    builder.outcome = None
    clock.now += 1
    assert jobs.reconcile() is not None


def test_a_job_is_skipped_in_one_line_while_a_command_holds_the_sqlite_database(
    builder: FakeBuilder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    jobs = Jobs(builder, CONFIG, lock=lock)  # type: ignore[arg-type]
    assert lock is not None
    with lock.job("`feedgen build`"):
        assert jobs.cycle() is None
    [line] = lines(caplog)
    assert line.getMessage().startswith("cycle skipped: `feedgen build` (pid ")
    assert builder.calls == [] and jobs.failures == 0
    assert jobs.cycle() is not None


class FakeHeartbeat:
    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[Run] = []

    def job_started(self, kind: str) -> None:
        self.started.append(kind)

    def job_finished(self, run: Run, record: bool = True) -> None:
        if record:
            self.finished.append(run)


def test_each_job_is_recorded_with_its_outcome(builder: FakeBuilder) -> None:
    heartbeat = FakeHeartbeat()
    jobs = Jobs(builder, CONFIG, heartbeat=heartbeat)  # type: ignore[arg-type]
    builder.outcome = RuntimeError("database went away")
    jobs.cycle()
    builder.outcome = None
    jobs.reconcile()
    assert heartbeat.started == ["cycle", "reconcile"]
    failed, ok = heartbeat.finished
    assert (failed.kind, failed.outcome, failed.error) == (
        "cycle",
        "failed",
        "RuntimeError: database went away",
    )
    assert (ok.kind, ok.outcome, ok.built) == ("reconcile", "ok", 3)


def test_idle_cycles_after_the_first_are_debug_lines_and_no_run_is_kept(
    builder: FakeBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = FakeHeartbeat()
    jobs = Jobs(builder, CONFIG, heartbeat=heartbeat)  # type: ignore[arg-type]
    builder.outcome = RunReport("cycle")  # nothing changed
    with caplog.at_level(logging.DEBUG, logger="feedgen.worker"):
        for _ in range(3):
            jobs.cycle()
    assert len(lines(caplog)) == 1 and len(lines(caplog, logging.DEBUG)) == 3
    assert heartbeat.started == ["cycle"] * 3 and heartbeat.finished == []


def test_a_cycle_that_deleted_an_object_is_a_line_and_a_run(
    builder: FakeBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    heartbeat = FakeHeartbeat()
    jobs = Jobs(builder, CONFIG, heartbeat=heartbeat)  # type: ignore[arg-type]
    builder.outcome = RunReport("cycle", deleted=2)  # a revoked feed's objects went
    with caplog.at_level(logging.INFO, logger="feedgen.worker"):
        jobs.cycle()
    assert len(lines(caplog)) == 1 and [run.kind for run in heartbeat.finished] == ["cycle"]
