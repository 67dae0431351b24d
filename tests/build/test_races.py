"""A rotate or revoke while a worker is publishing the same feed, with real processes: the build
never brings the old URL back to life (on PostgreSQL the revoke waits for the build's row lock;
on SQLite the build sees the change after recording and deletes what it uploaded)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from feedgen.model import Feed, FeedOptions, SubjectKind
from feedgen.state.feeds import active_feed, issue_feed
from feedgen.tokens import keys_of
from tests.conftest import NOW
from tests.factories import Crm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path: Path, engine: sa.Engine) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(
        f"""
        [database]
        url = "{engine.url.render_as_string(hide_password=False)}"
        [storage]
        url = "file://{tmp_path / "feeds"}"
        """,
        encoding="utf-8",
    )
    return path


@pytest.fixture
def feed(engine: sa.Engine, config: Path) -> Iterator[tuple[Feed, Crm, int]]:
    """Anna's feed, published once, then an edit that the next cycle publishes."""
    crm = Crm(engine, NOW)
    anna = crm.user("Anna Schmidt")
    activity = crm.activity(anna, "viewing", "Loft")
    with engine.begin() as conn:
        feed = issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions())
    assert feedgen(config, "build").returncode == 0
    crm.edit(activity, title="Loft, new price")
    yield feed, crm, anna


def feedgen(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "feedgen", "--config", str(config), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)


def caught_uploading(config: Path, tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A cycle in its own process, stopped inside its first calendar upload."""
    gate, arrived = tmp_path / "gate", tmp_path / "arrived"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.support.gated_build", str(config), str(gate), str(arrived)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not arrived.exists():
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the worker never reached its upload"
        time.sleep(0.02)
    return worker, gate


def race(config: Path, tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` while the worker is stuck uploading, then let the worker go on."""
    worker, gate = caught_uploading(config, tmp_path)
    cli = subprocess.Popen(
        [sys.executable, "-m", "feedgen", "--config", str(config), *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)  # on PostgreSQL the command now waits for the worker's row lock
    gate.touch()
    out, err = cli.communicate(timeout=120)
    worker_out, worker_err = worker.communicate(timeout=120)
    assert worker.returncode == 0, worker_err
    return subprocess.CompletedProcess(cli.args, cli.returncode, out, err)


def test_a_feed_revoked_while_it_is_uploaded_stays_gone(
    config: Path, tmp_path: Path, feed: tuple[Feed, Crm, int]
) -> None:
    issued, _, anna = feed
    revoked = race(config, tmp_path, "feed", "revoke", "--user", str(anna))
    assert revoked.returncode == 0, revoked.stderr
    stored = {key for key in keys_of(issued) if (tmp_path / "feeds" / key).exists()}
    assert stored == set()
    assert feedgen(config, "cycle").returncode == 0
    assert not any((tmp_path / "feeds" / key).exists() for key in keys_of(issued))


def test_a_feed_rotated_while_it_is_uploaded_keeps_only_its_new_url(
    config: Path, tmp_path: Path, engine: sa.Engine, feed: tuple[Feed, Crm, int]
) -> None:
    issued, _, anna = feed
    rotated = race(config, tmp_path, "feed", "rotate", "--user", str(anna))
    assert rotated.returncode == 0, rotated.stderr
    with engine.connect() as conn:
        current = active_feed(conn, SubjectKind.USER, anna)
    assert current is not None
    stored = {key for key in (*keys_of(issued), *keys_of(current))}
    present = {key for key in stored if (tmp_path / "feeds" / key).exists()}
    assert present == set(keys_of(current))
    assert feedgen(config, "cycle").returncode == 0
    assert {k for k in stored if (tmp_path / "feeds" / k).exists()} == set(keys_of(current))
