"""Two ``feedgen build --force`` at once, or one beside a running worker, with real processes:
each feed is built once. A force build leaves alone the feeds that a batch claimed and uploaded
after the force build started; on PostgreSQL the claims' row locks share out the rest. On SQLite
the job lock runs the second force build after the first."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.deployment import Deployment, Process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Imports feedgen, waits for the gate file, then runs the command line: both commands start
# their work within milliseconds of each other, however long each took to start.
GATED = """
import sys, time
from pathlib import Path
from typing import Any
from feedgen.cli import cli
gate = Path(sys.argv[1])
deadline = time.monotonic() + 60
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
cli(sys.argv[2:], prog_name="feedgen")
"""
# A cycle or a force build whose calendar uploads wait for a gate file: caught inside its first
# batch, with that batch's feeds locked (tests.support.gated_build).
HELD = """
import sys
from pathlib import Path
from typing import Any
from feedgen.app import App
from feedgen.build import Builder
from tests.support.gated_build import GatedStorage
config, gate, arrived, job = sys.argv[1:5]
app = App.from_sources(config)
root = app.config.storage.url.removeprefix("file://")
builder = Builder(app.engine, GatedStorage(root, Path(gate), Path(arrived)), app.config)
print((builder.build(force=True) if job == "force" else builder.cycle()).summary())
"""
BUILT = re.compile(r"build: (\d+) feed\(s\) built \((\d+) uploaded")


@pytest.fixture
def deployment(engine: sa.Engine, tmp_path: Path) -> Deployment:
    """A demo CRM of 30 users in two teams and their 30 feeds, built once (6 batches of 5)."""
    url = engine.url.render_as_string(hide_password=False)
    # One process per command: the held cycle's storage must be the one that uploads.
    made = Deployment(tmp_path, url, f"file://{tmp_path / 'feeds'}", worker={"processes": 1})
    for command in (["demo", "--users", "30", "--teams", "2"], ["build"]):
        result = made.feedgen(*command)
        assert result.returncode == 0, result.stderr
    return made


def force_builds_at_once(deployment: Deployment, count: int) -> list[tuple[int, str]]:
    """Run ``count`` force builds released together; their exit codes and outputs."""
    gate = deployment.root / "gate"
    config = str(deployment.config_path)
    started = [
        subprocess.Popen(
            [sys.executable, "-c", GATED, str(gate), "--config", config, "build", "--force"],
            env=deployment.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    time.sleep(3)  # every interpreter has imported feedgen and waits at the gate
    gate.touch()
    results = []
    for process in started:
        out, err = process.communicate(timeout=180)
        results.append((process.returncode, out + err))
    return results


def built(output: str) -> tuple[int, int]:
    match = BUILT.search(output)
    assert match, output
    return int(match[1]), int(match[2])


def feed_count(deployment: Deployment) -> int:
    return len(deployment.tokens())


@pytest.mark.postgres
def test_two_force_builds_at_once_build_each_feed_once(deployment: Deployment) -> None:
    if deployment.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one command at a time (the next test)")
    deployment.env["FEEDGEN_WORKER_PROCESSES"] = "2"  # each command builds on two processes
    results = force_builds_at_once(deployment, 2)
    assert [code for code, _ in results] == [0, 0], results
    counts = [built(output) for _, output in results]
    assert sum(b for b, _ in counts) == feed_count(deployment) == 30
    assert sum(u for _, u in counts) == 30  # forced: uploaded whatever the stored hash
    assert deployment.differences() == []


@pytest.mark.postgres
def test_a_force_build_started_during_another_leaves_its_batches_alone(
    deployment: Deployment,
) -> None:
    """The first force build is held inside its first batch; the second starts then, waits for
    that batch's locks, and builds none of what the first uploaded after it started."""
    if deployment.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one command at a time")
    first, gate = held(deployment, "force")
    output = after_the_lock(deployment, first, gate, force_build(deployment))
    by_second, _ = built(output)
    by_first, _ = built(first.log)
    assert by_first + by_second == feed_count(deployment) == 30
    assert by_first >= 5  # the batch the second waited for
    assert deployment.differences() == []


def test_on_sqlite_the_second_force_build_waits_for_the_first(deployment: Deployment) -> None:
    if deployment.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL runs them together (the test before)")
    results = force_builds_at_once(deployment, 2)
    assert [code for code, _ in results] == [0, 0], results
    # Run one after the other, each builds and uploads every feed.
    assert [built(output) for _, output in results] == [(30, 30), (30, 30)]
    assert deployment.differences() == []


@pytest.mark.postgres
def test_a_force_build_beside_a_worker_builds_each_feed_once(deployment: Deployment) -> None:
    """A worker's cycle, held inside its first batch's upload (its feeds locked), and a force
    build started then: the force build waits for that batch, and they share out the rest."""
    if deployment.engine.dialect.name != "postgresql":
        pytest.skip("a SQLite worker holds the job lock while it builds")
    deployment.rename_users()  # the cycle rebuilds every feed
    cycle, gate = held(deployment, "cycle")
    output = after_the_lock(deployment, cycle, gate, force_build(deployment))
    by_force, _ = built(output)
    by_cycle = int(re.findall(r"cycle: (\d+) feed\(s\) built", cycle.log)[0])
    assert by_force + by_cycle == feed_count(deployment) == 30
    assert by_cycle >= 5  # the batch the force build waited for
    assert deployment.differences() == []


def held(deployment: Deployment, job: str) -> tuple[Process, Path]:
    """``job`` ("cycle" or "force") in its own process, held inside its first batch's upload;
    the process and the gate that lets it go on."""
    gate, arrived = deployment.root / f"{job}-gate", deployment.root / f"{job}-arrived"
    log = deployment.root / f"{job}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", HELD, str(deployment.config_path), str(gate), str(arrived), job],
            env=deployment.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deployment.processes.append(Process(process, log))
    deployment.processes[-1].wait_for(arrived.exists, f"the {job}'s first upload")
    return deployment.processes[-1], gate


def force_build(deployment: Deployment) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "feedgen", "--config", str(deployment.config_path), "build"]
        + ["--force"],
        env=deployment.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def after_the_lock(deployment: Deployment, first: Process, gate: Path, second: Any) -> str:
    """Let ``first`` go on once ``second`` waits for its locks; ``second``'s output."""
    first.wait_for(lambda: waiting_for_a_lock(deployment), "the second job at the first's lock")
    gate.touch()
    out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert first.process.wait(timeout=180) == 0, first.log
    return str(out + err)


def waiting_for_a_lock(deployment: Deployment) -> bool:
    with deployment.engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(conn.execute(sa.text(query)).scalar())
