"""The worker's metrics, scraped over HTTP from the real endpoint after real cycles on a small CRM
(both databases): each figure is what the cycle did or what the database holds."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from feedgen import __version__
from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.config import Config, PublishConfig, WorkerConfig
from feedgen.model import Feed, FeedOptions, SubjectKind
from feedgen.publish.storage.memory import MemoryStorage
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed, revoke
from feedgen.tokens import keys_of
from jobs.health import Health, MetricsServer
from jobs.metrics import WorkerMetrics
from jobs.tasks import Jobs
from tests.conftest import NOW
from tests.factories import Crm

CONFIG = Config(publish=PublishConfig(uid_domain="crm.test"), worker=WorkerConfig(batch_size=4))
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: MetricsServer) -> Samples:
    """Every sample of /metrics, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def feeds(crm: Crm, engine: sa.Engine) -> list[Feed]:
    """Eight agents, each with a few activities, one shared; a team of four: nine feeds."""
    users = [crm.user(f"Agent {i}") for i in range(8)]
    team = crm.team("Lettings", users[:4])
    for i, user in enumerate(users):
        crm.activity(user, title=f"Viewing {i}", colleagues=(users[(i + 1) % 8],))
        crm.activity(user, "task", f"Call back landlord {i}", due=NOW)
    with engine.begin() as conn:
        issued = [issue_feed(conn, SubjectKind.USER, user, NOW, FeedOptions()) for user in users]
        return [*issued, issue_feed(conn, SubjectKind.TEAM, team, NOW, FeedOptions())]


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


@pytest.fixture
def metrics(engine: sa.Engine) -> WorkerMetrics:
    return WorkerMetrics(engine)


@pytest.fixture
def server(metrics: WorkerMetrics) -> Iterator[MetricsServer]:
    with MetricsServer(metrics, Health(metrics, 60, 3), "127.0.0.1", 0) as started:
        yield started


@pytest.fixture
def jobs(engine: sa.Engine, storage: MemoryStorage, metrics: WorkerMetrics) -> Jobs:
    builder = Builder(engine, storage, CONFIG, now=lambda: NOW)
    return Jobs(builder, CONFIG.worker, metrics=metrics)


def test_a_cycle_counts_the_feeds_it_built_uploaded_and_their_bytes(
    feeds: list[Feed], storage: MemoryStorage, jobs: Jobs, server: MetricsServer
) -> None:
    report = jobs.cycle()
    assert report is not None and report.feeds_built == len(feeds)
    samples = scrape(server)
    assert value(samples, "feedgen_feeds_built_total") == len(feeds)
    assert value(samples, "feedgen_feeds_uploaded_total") == len(feeds)
    assert value(samples, "feedgen_feeds_failed_total") == 0
    stored = [obj.data for key, obj in storage.objects.items() if key != "robots.txt"]
    assert len(stored) == 2 * len(feeds)  # each feed and its subscribe page
    assert value(samples, "feedgen_uploaded_bytes_total") == sum(map(len, stored))
    ics = [obj.data for key, obj in storage.objects.items() if key.endswith(".ics")]
    events = sum(data.count(b"BEGIN:VEVENT") + data.count(b"BEGIN:VTODO") for data in ics)
    assert value(samples, "feedgen_events_rendered_total") == events > 0


def test_jobs_are_counted_by_outcome_and_timed(
    feeds: list[Feed], jobs: Jobs, metrics: WorkerMetrics, server: MetricsServer
) -> None:
    jobs.cycle()
    jobs.cycle()
    jobs.reconcile()
    samples = scrape(server)
    assert value(samples, "feedgen_jobs_total", job="cycle", outcome="ok") == 2
    assert value(samples, "feedgen_jobs_total", job="reconcile", outcome="ok") == 1
    assert value(samples, "feedgen_jobs_total", job="cycle", outcome="failed") == 0
    assert value(samples, "feedgen_job_duration_seconds_count", job="cycle") == 2
    assert value(samples, "feedgen_job_duration_seconds_bucket", job="reconcile", le="+Inf") == 1
    succeeded = metrics.succeeded_at("reconcile")
    assert value(samples, "feedgen_last_success_timestamp_seconds", job="reconcile") == succeeded


def test_the_feeds_per_state_are_read_after_each_job(
    feeds: list[Feed], storage: MemoryStorage, jobs: Jobs, server: MetricsServer
) -> None:
    broken = feeds[2]
    storage.failing_keys.add(keys_of(broken)[0])
    jobs.cycle()
    samples = scrape(server)
    assert value(samples, "feedgen_feeds", state="current") == len(feeds) - 1
    assert value(samples, "feedgen_feeds", state="waiting") == 1
    assert value(samples, "feedgen_feeds", state="failing") == 1
    assert value(samples, "feedgen_feeds_failed_total") == 1
    assert value(samples, "feedgen_jobs_total", job="cycle", outcome="feeds_failed") == 1


def test_deletions_the_store_refuses_stay_pending(
    feeds: list[Feed], storage: MemoryStorage, engine: sa.Engine, jobs: Jobs, server: MetricsServer
) -> None:
    jobs.cycle()
    gone = feeds[0]
    storage.failing_keys.update(keys_of(gone))
    with engine.begin() as conn:
        revoke(conn, gone, NOW)
    jobs.cycle()
    samples = scrape(server)
    with engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(state.deletions)).scalar()
    assert value(samples, "feedgen_deletions_pending") == queued == 2  # the feed and its page
    assert value(samples, "feedgen_purges_pending") == 0
    assert value(samples, "feedgen_feeds", state="current") == len(feeds) - 1


def test_the_worker_says_its_version_and_serialiser(server: MetricsServer) -> None:
    labels = {"version": __version__, "serialiser": "C"}
    assert value(scrape(server), "feedgen_worker_info", **labels) == 1


def test_idle_cycles_read_the_feeds_state_at_most_once_a_minute() -> None:
    now = [1000.0]
    metrics = WorkerMetrics(clock=lambda: now[0])
    reads = []
    metrics.read_state = lambda: reads.append(now[0])  # type: ignore[method-assign]
    for _ in range(13):  # a minute of idle cycles every 5 s
        metrics.job_finished("cycle", "ok", 0.01, RunReport("cycle"))
        now[0] += 5
    metrics.job_finished("cycle", "ok", 0.2, RunReport("cycle", feeds_built=2))
    assert reads == [1000.0, 1060.0, 1065.0]
