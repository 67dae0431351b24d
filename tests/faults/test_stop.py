"""Stopping a real worker process at every moment: SIGTERM and SIGINT end it with 0 within seconds,
after the batch in hand; kill -9 loses nothing. Each time, the next cycle leaves storage equal to
a clean build.

"Mid-job" is made exact with a gate in front of the S3 server: the first upload of the job waits
there, so the signal lands while a batch is in hand however fast or slow the machine is.
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import MakeDeployment
from tests.support.deployment import Deployment, Process
from tests.support.gate import Gate

pytestmark = pytest.mark.slow

SIGNALS = [signal.SIGTERM, signal.SIGINT]
BATCH = 5  # worker.batch_size of the test deployments
# Seconds from the signal to the exit: the batch in hand and the scheduler's shutdown take well
# under one; the margin is for a loaded machine. (The worker's own bound is worker.stop_seconds.)
BOUND = 10.0


def stop_in_batch(worker: Process, gate: Gate, number: signal.Signals) -> tuple[int, float]:
    """Signal the worker while its batch's uploads wait at the gate, then let them through."""
    gate.wait_held()
    sent = time.monotonic()
    worker.signal(number)
    worker.wait_for_line(f"{number.name}: stopping after the batch in hand")
    gate.open()
    code = worker.process.wait(timeout=60)
    return code, time.monotonic() - sent


def assert_stopped_cleanly(worker: Process, code: int, seconds: float, midway: bool) -> None:
    log = worker.log
    assert code == 0, log
    assert seconds < BOUND, f"took {seconds:.1f} s:\n{log}"
    assert log.rstrip().endswith("worker stopped")
    assert ("stopped early, the rest waits for the next run" in log) == midway, log
    assert "Traceback" not in log and "ERROR" not in log


def assert_next_cycle_repairs(deployment: Deployment) -> None:
    result = deployment.feedgen("cycle")
    assert result.returncode == 0, result.stdout + result.stderr
    assert deployment.differences() == []


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_the_first_cycle_of_a_new_deployment(
    make_sqlite: MakeDeployment, gate: Gate, number: signal.Signals
) -> None:
    deployment = make_sqlite(s3=True, new=True)
    gate.close()
    worker = deployment.start_worker()
    assert_stopped_cleanly(worker, *stop_in_batch(worker, gate, number), midway=True)
    assert f"cycle: {BATCH} feed(s) built" in worker.log  # the batch in hand, recorded
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_scheduled_cycle(
    make_sqlite: MakeDeployment, gate: Gate, number: signal.Signals
) -> None:
    deployment = make_sqlite(s3=True, cycle_seconds=6)
    worker = deployment.start_worker()
    worker.wait_for_line("INFO feedgen.worker: cycle: 0 feed(s) built")
    gate.close()
    deployment.rename_users()
    assert_stopped_cleanly(worker, *stop_in_batch(worker, gate, number), midway=True)
    assert f"cycle: {BATCH} feed(s) built" in worker.log
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_during_a_reconcile(
    make_sqlite: MakeDeployment, gate: Gate, number: signal.Signals
) -> None:
    deployment = make_sqlite(s3=True)
    deployment.rename_users()
    gate.close()
    worker = deployment.start(module="tests.support.reconcile_first")
    assert_stopped_cleanly(worker, *stop_in_batch(worker, gate, number), midway=True)
    assert f"reconcile: {BATCH} feed(s) built" in worker.log
    assert_next_cycle_repairs(deployment)


@pytest.mark.parametrize("number", SIGNALS, ids=lambda s: s.name)
def test_a_signal_between_jobs(make_sqlite: MakeDeployment, number: signal.Signals) -> None:
    deployment = make_sqlite()
    deployment.rename_users()
    worker = deployment.start_worker()
    worker.wait_for_line("INFO feedgen.worker: cycle: ")
    assert_stopped_cleanly(worker, *worker.stopped_within(number, BOUND * 3), midway=False)
    assert f"{number.name}: stopping after the batch in hand" in worker.log
    assert deployment.differences() == []


def test_a_signal_stops_processes_after_their_chunks(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    deployment = make_sqlite(s3=True, processes=2)
    deployment.rename_users()
    gate.close()
    worker = deployment.start_worker()
    assert_stopped_cleanly(worker, *stop_in_batch(worker, gate, signal.SIGTERM), midway=True)
    assert_next_cycle_repairs(deployment)


def test_kill_9_mid_batch_loses_nothing(make_sqlite: MakeDeployment, gate: Gate) -> None:
    deployment = make_sqlite(s3=True)
    deployment.rename_users()
    gate.close()
    worker = deployment.start_worker()
    gate.wait_held()
    code, _ = worker.stopped_within(signal.SIGKILL, timeout=30)
    gate.open()
    assert code == -signal.SIGKILL
    assert_next_cycle_repairs(deployment)
