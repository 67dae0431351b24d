"""A store that stalls, against a real worker: uploads wait and finish when it comes back; a stop
that cannot finish its batch ends the process at once after a second signal or after
worker.stop_seconds, and the next cycle repairs."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.faults.conftest import MakeDeployment
from tests.support.deployment import Deployment
from tests.support.moto_server import moto_server_process

pytestmark = pytest.mark.slow

BUCKET = "feeds-faults"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    with moto_server_process() as server:
        yield server


def on_s3(make_sqlite: MakeDeployment, endpoint: str, **worker: object) -> Deployment:
    """A new deployment publishing to a bucket of the moto server."""
    deployment = make_sqlite(
        storage_url=f"s3://{BUCKET}/feeds",
        new=True,
        storage_keys={"region": "us-east-1", "endpoint_url": endpoint},
        env=AWS,
        **worker,
    )
    deployment.storage.client.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    return deployment


def test_uploads_wait_out_a_stalled_store(
    make_sqlite: MakeDeployment, moto: tuple[str, subprocess.Popen[bytes]]
) -> None:
    endpoint, server = moto
    deployment = on_s3(make_sqlite, endpoint)
    worker = deployment.start_worker()
    worker.wait_for(deployment.objects, "a first feed in the bucket")
    server.send_signal(signal.SIGSTOP)
    time.sleep(3)
    server.send_signal(signal.SIGCONT)
    worker.wait_for_line("INFO feedgen.worker: cycle: ", timeout=120)
    line = next(x for x in worker.log.splitlines() if "feedgen.worker: cycle: " in x)
    assert ", 0 failed," in line
    assert float(line.rpartition(" in ")[2].rstrip("s")) >= 3  # the cycle waited out the stall
    assert worker.stopped_within(signal.SIGTERM, timeout=30)[0] == 0
    assert deployment.differences() == []


def test_a_second_signal_ends_a_stop_that_waits_for_a_stalled_store(
    make_sqlite: MakeDeployment, moto: tuple[str, subprocess.Popen[bytes]]
) -> None:
    endpoint, server = moto
    deployment = on_s3(make_sqlite, endpoint)
    worker = deployment.start_worker()
    worker.wait_for(deployment.objects, "a first feed in the bucket")
    server.send_signal(signal.SIGSTOP)
    worker.signal(signal.SIGTERM)
    worker.wait_for_line("SIGTERM: stopping after the batch in hand")
    code, seconds = worker.stopped_within(signal.SIGTERM, timeout=30)
    assert code == 128 + signal.SIGTERM and seconds < 10, worker.log
    assert "second signal (SIGTERM): exiting at once with 143" in worker.log
    server.send_signal(signal.SIGCONT)
    assert deployment.feedgen("cycle").returncode == 0
    assert deployment.differences() == []


def test_a_stop_longer_than_stop_seconds_ends_at_once(
    make_sqlite: MakeDeployment, moto: tuple[str, subprocess.Popen[bytes]]
) -> None:
    endpoint, server = moto
    deployment = on_s3(make_sqlite, endpoint, stop_seconds=2)
    worker = deployment.start_worker()
    worker.wait_for(deployment.objects, "a first feed in the bucket")
    server.send_signal(signal.SIGSTOP)
    code, seconds = worker.stopped_within(signal.SIGINT, timeout=30)
    assert code == 128 + signal.SIGINT and 2 <= seconds < 10, worker.log
    assert "the stop took longer than 2 s: exiting at once with 130" in worker.log
    server.send_signal(signal.SIGCONT)
    assert deployment.feedgen("cycle").returncode == 0
    assert deployment.differences() == []
