"""Running a job from the command line: the SQLite run lock, the progress bar."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli.helpers import (
    RET_BUSY,
    RET_OK,
)
from feedgen.state.runlock import RunLock
from tests.cli.invoking import invoke


def test_a_cycle_while_another_job_holds_the_sqlite_database_exits_8_naming_it(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feedgen.state.runlock.JOB_WAIT_SECONDS", 0.3)
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    with lock.job("the worker's reconcile"):
        result = invoke(runner, config, "cycle")
    assert result.exit_code == RET_BUSY
    waiting, error = result.output.strip().splitlines()
    assert waiting.startswith("waiting up to 0.3 s for the worker's reconcile (pid ")
    assert error.startswith("Error: the worker's reconcile (pid ")
    assert error.endswith("holds this SQLite database after 0.3 s; run this again later")


def test_a_cycle_runs_once_the_running_job_ends(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    holding = lock.job("the worker's cycle")
    holding.__enter__()
    threading.Timer(0.5, holding.__exit__, args=(None, None, None)).start()
    result = invoke(runner, config, "cycle")
    assert result.exit_code == RET_OK
    waiting, summary = result.output.strip().splitlines()
    assert waiting.startswith("waiting up to 30 s for the worker's cycle (pid ")
    assert summary.startswith("cycle: ")
