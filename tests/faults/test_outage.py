"""The database lost mid-cycle, on PostgreSQL: a command exits 4 in one line, a worker says one
line per failed job and backs off; no output holds a token; the first job after recovery repairs
everything, and `feedgen status` shows the failed jobs."""

from __future__ import annotations

import re
import signal
import time

import pytest

from feedgen.cli.helpers import RET_SOURCE
from tests.conftest import PgDatabase
from tests.faults.conftest import MakeDeployment
from tests.support.deployment import Deployment
from tests.support.gate import Gate

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")


def not_log_lines(output: str) -> list[str]:
    """What the output holds besides log lines: error lines, or tracebacks and SQL."""
    return [line for line in output.splitlines() if not LOG_LINE.match(line)]


def assert_no_token(deployment: Deployment, *outputs: str) -> None:
    for token in deployment.tokens():
        assert not any(token in output for output in outputs), "a whole token was printed"


def test_a_cycle_that_loses_the_database_exits_4_in_one_line(
    make_pg: MakeDeployment, pg_database: PgDatabase, gate: Gate
) -> None:
    deployment = make_pg()
    deployment.rename_users()
    gate.close()
    command = deployment.start("cycle", name="cycle")
    gate.wait_held()  # mid-batch: its uploads wait while the database goes away
    with pg_database.away():
        gate.open()
        code = command.process.wait(timeout=60)
    output = command.log
    assert code == RET_SOURCE, output
    [error] = not_log_lines(output)
    assert error.startswith("Error: database error: "), output
    assert_no_token(deployment, output)
    again = deployment.feedgen("cycle")
    assert again.returncode == 0, again.stderr
    assert deployment.differences() == []


def test_a_worker_rides_out_a_database_outage_and_repairs_after_it(
    make_pg: MakeDeployment, pg_database: PgDatabase, gate: Gate
) -> None:
    deployment = make_pg(cycle_seconds=6)
    worker = deployment.start_worker()
    worker.wait_for_line("INFO feedgen.worker: cycle: ")
    gate.close()
    deployment.rename_users()
    gate.wait_held()  # a scheduled cycle is in its first batch
    with pg_database.away():
        gate.open()
        worker.wait_for_line("WARNING feedgen.worker: cycle failed")
        time.sleep(8)  # a cycle interval or two without the database
    worker.wait_for_line("(back after", timeout=120)
    assert worker.stopped_within(signal.SIGTERM, timeout=30)[0] == 0
    log = worker.log
    assert not_log_lines(log) == [], log
    failed = [line for line in log.splitlines() if "feedgen.worker: cycle failed after" in line]
    warnings = [line for line in log.splitlines() if " WARNING feedgen.worker: " in line]
    assert failed and warnings == failed, log  # one line per failed job, nothing else
    assert all("database error: " in line for line in failed)
    assert_no_token(deployment, log)
    assert deployment.differences() == []
    status = deployment.feedgen("status", "--limit", "0")
    assert status.returncode == 0, status.stderr
    assert "workers: 1 stopped" in status.stdout
    runs = status.stdout[status.stdout.index("last runs:") :]
    assert runs.count("  failed: database error: ") == len(failed), status.stdout
