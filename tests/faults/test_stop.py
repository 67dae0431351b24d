"""Stopping a real worker process at every moment: SIGTERM and SIGINT end it with 0 within seconds,
after the batch in hand; kill -9 and forced stops lose nothing. Each time, the next cycle leaves
storage equal to a clean build."""

from __future__ import annotations

import signal

import pytest

from tests.faults.conftest import MakeDeployment
from tests.support.deployment import Deployment, Process

pytestmark = pytest.mark.slow

SIGNALS = [signal.SIGTERM, signal.SIGINT]
# Seconds from the signal to the exit: a batch of 5 feeds and the scheduler's shutdown take well
# under one; the margin is for a loaded machine.
BOUND = 10.0


def assert_stops_cleanly(worker: Process, number: signal.Signals, midway: bool) -> None:
    code, seconds = worker.stopped_within(number, timeout=60)
    log = worker.log
    assert code == 0, log
    assert seconds < BOUND, f"took {seconds:.1f} s:\n{log}"
    assert f"{number.name}: stopping after the batch in hand" in log
    assert log.rstrip().endswith("worker stopped")
    assert ("stopped early, the rest waits for the next run" in log) == midway, log
    assert "Traceback" not in log and "ERROR" not in log


def assert_next_cycle_repairs(deployment: Deployment) -> None:
    result = deployment.feedgen("cycle")
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployment.differences() == []


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_the_first_cycle_of_a_new_deployment(
    make_sqlite: MakeDeployment, number: signal.Signals
) -> None:
    deployment = make_sqlite(new=True)
    worker = deployment.start_worker()
    worker.wait_for(deployment.objects, "a first feed in storage")
    assert_stops_cleanly(worker, number, midway=True)
    assert len(deployment.objects()) < len(deployment.tokens())
    assert "worker started" in worker.log  # the schedule never ran past the stop
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_scheduled_cycle(
    make_sqlite: MakeDeployment, number: signal.Signals
) -> None:
    deployment = make_sqlite(cycle_minutes=0.1)
    worker = deployment.start_worker()
    worker.wait_for_line("INFO feedgen.worker: cycle: 0 feed(s) built")
    deployment.rename_users()
    worker.wait_for(deployment.renamed_feeds, "a feed rebuilt by the scheduled cycle")
    assert_stops_cleanly(worker, number, midway=True)
    assert deployment.renamed_feeds() < len(deployment.tokens())
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_reconcile(make_sqlite: MakeDeployment, number: signal.Signals) -> None:
    deployment = make_sqlite()
    deployment.rename_users()
    worker = deployment.start(module="tests.support.reconcile_first")
    worker.wait_for(deployment.renamed_feeds, "a feed rebuilt by the reconcile")
    assert_stops_cleanly(worker, number, midway=True)
    assert "INFO feedgen.worker: reconcile: " in worker.log
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_between_jobs(make_sqlite: MakeDeployment, number: signal.Signals) -> None:
    deployment = make_sqlite()
    deployment.rename_users()
    worker = deployment.start_worker()
    worker.wait_for_line("INFO feedgen.worker: cycle: ")
    assert_stops_cleanly(worker, number, midway=False)
    assert deployment.differences() == []


def test_a_signal_stops_processes_after_their_chunks(make_sqlite: MakeDeployment) -> None:
    deployment = make_sqlite(processes=2)
    deployment.rename_users()
    worker = deployment.start_worker()
    worker.wait_for(deployment.renamed_feeds, "a feed rebuilt by a process")
    assert_stops_cleanly(worker, signal.SIGTERM, midway=True)
    assert_next_cycle_repairs(deployment)


def test_kill_9_mid_cycle_loses_nothing(make_sqlite: MakeDeployment) -> None:
    deployment = make_sqlite()
    deployment.rename_users()
    worker = deployment.start_worker()
    worker.wait_for(deployment.renamed_feeds, "a first rebuilt feed")
    code, _ = worker.stopped_within(signal.SIGKILL, timeout=30)
    assert code == -signal.SIGKILL
    assert_next_cycle_repairs(deployment)
