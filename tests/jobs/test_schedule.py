"""The worker's schedule: the jobs, their triggers, error isolation and a graceful stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import time as clock_time
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from feedgen.config import WorkerConfig
from feedgen.report import RunReport
from jobs.schedule import make_scheduler
from jobs.tasks import run_cycle, run_reconcile


class FakeBuilder:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[str] = []

    def cycle(self) -> RunReport:
        self.calls.append("cycle")
        if self.fail:
            raise RuntimeError("database went away")
        return RunReport("cycle")

    def reconcile(self) -> RunReport:
        self.calls.append("reconcile")
        return RunReport("reconcile")


def test_the_schedule_has_a_cycle_interval_and_a_nightly_reconcile() -> None:
    config = WorkerConfig(cycle_minutes=2.5, reconcile_at=clock_time(4, 15))
    scheduler = make_scheduler(FakeBuilder(), config)  # type: ignore[arg-type]
    jobs = {job.id: job for job in scheduler.get_jobs()}
    cycle, reconcile = jobs["cycle"].trigger, jobs["reconcile"].trigger
    assert isinstance(cycle, IntervalTrigger) and cycle.interval.total_seconds() == 150
    assert isinstance(reconcile, CronTrigger)
    assert str(reconcile) == "cron[hour='4', minute='15']"


def test_a_failing_cycle_is_logged_and_does_not_raise(caplog: pytest.LogCaptureFixture) -> None:
    assert run_cycle(FakeBuilder(fail=True)) is None  # type: ignore[arg-type]
    assert "cycle failed; it runs again at its next time" in caplog.text


def test_a_reconcile_reports_its_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    report = run_reconcile(FakeBuilder())  # type: ignore[arg-type]
    assert report is not None and "reconcile: 0 feed(s) built" in caplog.text


@pytest.mark.slow
def test_sigterm_stops_the_worker_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "feedgen.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "crm.sqlite"}"\n'
        f'[storage]\nurl = "file://{tmp_path / "feeds"}"\n'
        "[worker]\ncycle_minutes = 60\n",
        encoding="utf-8",
    )
    feedgen = [sys.executable, "-m", "feedgen", "--config", str(config)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")}
    subprocess.run([*feedgen, "demo", "--users", "6", "--teams", "2"], check=True, env=env)
    worker = subprocess.Popen([*feedgen, "worker"], stderr=subprocess.PIPE, text=True, env=env)
    assert worker.stderr is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = worker.stderr.readline()
        lines.append(line)
        if "cycle:" in line:  # the first cycle ran: the scheduler is starting
            break
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    _, rest = worker.communicate(timeout=30)
    assert worker.returncode == 0, "".join(lines) + rest
    assert "worker stopped" in rest
    assert any((tmp_path / "feeds").glob("*.ics"))
