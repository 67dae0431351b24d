"""Running a job from the command line: the SQLite run lock, the progress bar."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedgen.cli.helpers import (
    RET_BUSY,
    RET_OK,
)
from feedgen.state.runlock import RunLock
from tests.cli.invoking import invoke, json_document


def test_a_cycle_while_another_job_holds_the_sqlite_database_exits_8_naming_it(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    with lock.job("the worker's reconcile"):
        result = invoke(runner, config, "cycle", "--wait", "0.3")
    assert result.exit_code == RET_BUSY
    waiting, error = result.output.strip().splitlines()
    assert waiting.startswith("waiting up to 0.3 s for the worker's reconcile (pid ")
    assert error.startswith("Error: the worker's reconcile (pid ")
    assert error.endswith("holds this SQLite database after 0.3 s; run this again later")


@pytest.mark.parametrize("command", ["build", "reconcile"])
def test_wait_bounds_the_wait_of_every_build_command(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path, command: str
) -> None:
    lock = RunLock.for_url(f"sqlite:///{tmp_path / 'crm.sqlite'}")
    assert lock is not None
    with lock.job("the worker's cycle"):
        result = invoke(runner, config, command, "--wait", "0")
    assert result.exit_code == RET_BUSY
    assert "waiting" not in result.output  # --wait 0: one try
    assert result.output.startswith("Error: the worker's cycle (pid ")


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


def run_on_a_terminal(config: Path, *args: str, processes: int = 1) -> tuple[str, str, int]:
    """Run ``feedgen`` in a real process whose stderr is a pseudo-terminal and stdout a pipe,
    building in batches of two feeds: (stdout, what the terminal showed, exit code)."""
    main, terminal = pty.openpty()
    env = {
        **os.environ,
        "FEEDGEN_WORKER_BATCH_SIZE": "2",
        "FEEDGEN_WORKER_PROCESSES": str(processes),
        "COLUMNS": "120",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "feedgen", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=env,
    ) as process:
        os.close(terminal)
        shown = b""
        while True:
            ready, _, _ = select.select([main], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        os.close(main)
        assert process.stdout is not None
        stdout = process.stdout.read().decode()
        code = process.wait(timeout=60)
    return stdout, shown.decode(errors="replace"), code


@pytest.fixture
def active_feeds(runner: CliRunner, config: Path) -> int:
    """A demo CRM of a few users and a team, each active one with a feed: how many feeds."""
    args = ["demo", "--users", "8", "--teams", "1", "--activities-per-user", "4"]
    assert invoke(runner, config, *args).exit_code == RET_OK
    summary = json_document(invoke(runner, config, "status", "--json"))["summary"][0]
    return int(summary.split()[0])


@pytest.mark.parametrize("processes", [1, 2])
def test_a_build_on_a_terminal_shows_a_progress_bar_with_counts_and_rate(
    config: Path, active_feeds: int, processes: int
) -> None:
    stdout, shown, code = run_on_a_terminal(config, "build", processes=processes)
    assert code == RET_OK, shown
    assert stdout.startswith(f"build: {active_feeds} feed(s) built") and stdout.count("\n") == 1
    assert "build: feeds  [" in shown and f"{active_feeds}/{active_feeds}" in shown
    assert re.search(r"\d+ feeds/s", shown), shown


def test_a_reconcile_with_json_shows_no_bar_even_on_a_terminal(
    config: Path, active_feeds: int
) -> None:
    stdout, shown, code = run_on_a_terminal(config, "reconcile", "--json")
    assert code == RET_OK, shown
    assert json.loads(stdout)["feeds_built"] == active_feeds
    assert "feeds/s" not in shown and "[" not in shown


def test_a_build_off_a_terminal_shows_no_bar(
    runner: CliRunner, config: Path, active_feeds: int
) -> None:
    result = invoke(runner, config, "build")
    assert result.exit_code == RET_OK and "feeds/s" not in result.output
    assert result.output.count("\n") == 1
