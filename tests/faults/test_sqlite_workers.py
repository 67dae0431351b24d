"""Two workers on one SQLite database: the second refuses in one line; a command waits for the
worker's running job instead of building the same feeds beside it."""

from __future__ import annotations

import signal

import pytest

from feedgen.cli.helpers import RET_BUSY
from tests.faults.conftest import MakeDeployment
from tests.support.gate import Gate

pytestmark = pytest.mark.slow


def test_a_second_worker_refuses_in_one_line_saying_why(make_sqlite: MakeDeployment) -> None:
    deployment = make_sqlite()
    first = deployment.start_worker()
    first.wait_for_line("worker started")
    second = deployment.feedgen("worker", timeout=60)
    assert second.returncode == RET_BUSY
    [line] = (second.stdout + second.stderr).splitlines()
    assert line.startswith(f"Error: a worker (pid {first.process.pid} on ")
    assert line.endswith(
        "already runs on this SQLite database; run one worker per SQLite database "
        "(several workers need PostgreSQL)"
    )
    code, _ = first.stopped_within(signal.SIGTERM, timeout=30)
    assert code == 0


def test_a_worker_can_start_once_the_first_has_gone(make_sqlite: MakeDeployment) -> None:
    deployment = make_sqlite()
    first = deployment.start_worker()
    first.wait_for_line("worker started")
    first.stopped_within(signal.SIGKILL, timeout=30)  # a crash leaves no lock behind
    second = deployment.start_worker(name="second")
    second.wait_for_line("INFO feedgen.worker: cycle: ")
    assert second.stopped_within(signal.SIGTERM, timeout=30)[0] == 0


def test_a_cycle_command_waits_for_the_workers_job_and_builds_nothing_twice(
    make_sqlite: MakeDeployment, gate: Gate
) -> None:
    deployment = make_sqlite(s3=True)
    deployment.rename_users()
    gate.close()
    worker = deployment.start_worker()
    gate.wait_held()  # the worker's cycle is in its first batch, holding the job lock
    command = deployment.start("cycle", name="command")
    command.wait_for_line(f"waiting up to 30 s for the worker's cycle (pid {worker.process.pid} ")
    gate.open()
    assert command.process.wait(timeout=120) == 0, command.log
    assert "cycle: 0 feed(s) built" in command.log  # the worker built them all, once
    assert f"cycle: {len(deployment.tokens())} feed(s) built" in worker.log
    assert worker.stopped_within(signal.SIGTERM, timeout=30)[0] == 0
    assert deployment.differences() == []
