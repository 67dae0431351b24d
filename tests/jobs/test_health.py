"""The worker's health over HTTP: healthy while cycles succeed (and while it starts), 503 with one
line once none has for ``unhealthy_after_cycles`` intervals, healthy again after one does; and a
real ``feedgen worker`` serving it, stopped by SIGTERM."""

from __future__ import annotations

import signal
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from feedgen.build.report import RunReport
from feedgen.config import MetricsConfig, WorkerConfig
from feedgen.errors import ConfigError
from jobs.health import MIN_UNHEALTHY_SECONDS, Health, MetricsServer
from jobs.metrics import WorkerMetrics
from jobs.tasks import Jobs
from tests.support.deployment import Deployment

INTERVAL = 60.0
START = 1_764_500_000.0  # 2025-11-30 10:53:20 UTC


class FakeBuilder:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.failure: Exception | None = None

    def cycle(self) -> RunReport:
        if self.failure:
            raise self.failure
        return RunReport("cycle", feeds_built=2, uploaded=2)


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def builder() -> FakeBuilder:
    return FakeBuilder()


@pytest.fixture
def metrics(clock: FakeClock) -> WorkerMetrics:
    return WorkerMetrics(clock=clock)


@pytest.fixture
def jobs(builder: FakeBuilder, clock: FakeClock, metrics: WorkerMetrics) -> Jobs:
    config = WorkerConfig(cycle_seconds=INTERVAL)
    return Jobs(builder, config, clock=clock, metrics=metrics)  # type: ignore[arg-type]


@pytest.fixture
def base(metrics: WorkerMetrics) -> Iterator[str]:
    health = Health(metrics, INTERVAL, after_cycles=3)
    with MetricsServer(metrics, health, "127.0.0.1", 0) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_a_starting_worker_is_healthy_until_three_intervals_pass_without_a_cycle(
    clock: FakeClock, base: str
) -> None:
    assert get(f"{base}/healthz") == (200, "ok\n")
    clock.now += 3 * INTERVAL
    assert get(f"{base}/healthz") == (200, "ok\n")
    clock.now += 1
    assert get(f"{base}/healthz") == (
        503,
        "no cycle succeeded since the worker started at 2025-11-30 10:53:20 UTC (181 s ago)\n",
    )


def test_health_turns_503_when_cycles_fail_and_back_when_one_succeeds(
    jobs: Jobs, builder: FakeBuilder, clock: FakeClock, base: str
) -> None:
    jobs.cycle()
    builder.failure = RuntimeError("database went away")
    answers = []
    for _ in range(5):  # a scheduled cycle a minute; back-off skips some
        clock.now += INTERVAL
        jobs.cycle()
        answers.append(get(f"{base}/healthz")[0])
    assert answers == [200, 200, 200, 503, 503]
    status, line = get(f"{base}/-/healthy")
    assert (status, line) == (
        503,
        "no cycle succeeded since 2025-11-30 10:53:20 UTC (300 s ago)\n",
    )
    builder.failure = None
    clock.now += 5 * INTERVAL  # past the back-off
    assert jobs.cycle() is not None
    assert get(f"{base}/healthz") == (200, "ok\n")


def test_a_reconcile_does_not_make_a_worker_whose_cycles_fail_healthy(
    metrics: WorkerMetrics, clock: FakeClock, base: str
) -> None:
    clock.now += 10 * INTERVAL
    metrics.job_finished("reconcile", "ok", 1.0, RunReport("reconcile"))
    assert get(f"{base}/healthz")[0] == 503


def test_port_0_serves_nothing(metrics: WorkerMetrics) -> None:
    assert MetricsServer.from_config(metrics, MetricsConfig(), cycle_seconds=300) is None


def test_a_port_in_use_is_one_line_naming_the_key(metrics: WorkerMetrics) -> None:
    health = Health(metrics, INTERVAL, 3)
    in_use = r"^config key 'metrics.port': cannot listen on 127.0.0.1:\d+: Address already in use"
    with (
        MetricsServer(metrics, health, "127.0.0.1", 0) as taken,
        pytest.raises(ConfigError, match=in_use),
    ):
        MetricsServer(metrics, health, "127.0.0.1", taken.port)


# --- a real worker ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_worker_serves_metrics_and_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    deployment = Deployment(
        tmp_path,
        f"sqlite:///{tmp_path / 'crm.sqlite'}",
        f"file://{tmp_path / 'feeds'}",
        worker={"cycle_seconds": 6},
        env={"FEEDGEN_METRICS_PORT": str(port), "FEEDGEN_METRICS_ADDRESS": "127.0.0.1"},
    )
    try:
        seeded = deployment.feedgen("demo", "--users", "6", "--teams", "1")
        assert seeded.returncode == 0, seeded.stderr
        worker = deployment.start_worker()
        worker.wait_for_line("INFO feedgen.worker: cycle: ")
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/healthz") == (200, "ok\n")
        status, text = get(f"{base}/metrics")
        found = samples(text)
        assert status == 200
        assert found[("feedgen_jobs_total", frozenset({("job", "cycle"), ("outcome", "ok")}))] >= 1
        active = len(deployment.tokens())  # the demo's feeds, all built by the first cycle
        assert active > 0
        assert found[("feedgen_feeds_built_total", frozenset())] == active
        assert found[("feedgen_feeds", frozenset({("state", "current")}))] == active
        code, seconds = worker.stopped_within(signal.SIGTERM, timeout=30)
        assert code == 0, worker.log
        assert "Traceback" not in worker.log
        with pytest.raises(urllib.error.URLError):  # the endpoint went with the worker
            get(f"{base}/healthz")
    finally:
        deployment.close()


def test_short_intervals_turn_unhealthy_after_two_minutes_not_three_cycles(
    metrics: WorkerMetrics, clock: FakeClock
) -> None:
    health = Health(metrics, cycle_seconds=5, after_cycles=3)
    clock.now += MIN_UNHEALTHY_SECONDS
    assert health.check() == (True, "ok")
    clock.now += 1
    assert not health.check()[0]


def test_a_long_job_whose_batches_go_on_ending_stays_healthy_until_they_stop(
    metrics: WorkerMetrics, clock: FakeClock
) -> None:
    health = Health(metrics, INTERVAL, after_cycles=3)
    for _ in range(20):  # a reconcile holding cycles back for 20 intervals
        clock.now += INTERVAL
        metrics.progressed(200, 4000)
        assert health.check() == (True, "ok")
    clock.now += 3 * INTERVAL + 1  # its batches stop ending: a hang
    assert not health.check()[0]
