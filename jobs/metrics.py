"""The worker's Prometheus metrics: updated from each job's RunReport, and from one query of the
feeds and the deletion queue after each job (never per scrape: a scrape costs no database work).

The metrics live in a registry of their own, not prometheus_client's global one, so that tests and
several apps in one process do not collide.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from feedgen import __version__
from feedgen.build.report import RunReport
from feedgen.logs import describe_failure
from feedgen.render.events import SERIALISER
from feedgen.state import tables as state

log = logging.getLogger("feedgen.worker")

# A cycle takes well under a second when little changed; a nightly reconcile of a large CRM, hours.
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)
# How a job ended, as the ``outcome`` label says it. The first three count as a success.
OUTCOMES = ("ok", "feeds_failed", "stopped", "failed", "skipped")
SUCCEEDED = frozenset(OUTCOMES[:3])


def outcome_of(report: RunReport) -> str:
    """How a job that returned ended: failed when nothing got through (``Jobs`` backs off)."""
    if report.errors:
        return "feeds_failed" if report.feeds_built else "failed"
    return "stopped" if report.stopped else "ok"


# Feeds per state are read again after an idle cycle once this many seconds have passed.
STATE_SECONDS = 60.0


class WorkerMetrics:
    """The worker's metrics in ``self.registry``; ``clock`` gives the seconds since the epoch."""

    def __init__(
        self, engine: sa.Engine | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.started_at = clock()
        self.progressed_at = self.started_at  # a batch of a running job ended
        self.state_read_at = float("-inf")  # feeds per state and the deletion queue, last read
        self._succeeded_at: dict[str, float] = {}
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.duration = Histogram(
            "feedgen_job_duration_seconds",
            "How long a job (cycle or reconcile) took.",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.jobs = Counter(
            "feedgen_jobs", "Jobs run, by how they ended.", ["job", "outcome"], registry=registry
        )
        self.built = Counter("feedgen_feeds_built", "Feeds built.", registry=registry)
        self.patched = Counter(
            "feedgen_feeds_patched",
            "Team feeds built by patching their last bytes.",
            registry=registry,
        )
        self.uploaded = Counter(
            "feedgen_feeds_uploaded", "Feeds uploaded (their bytes changed).", registry=registry
        )
        self.failed = Counter(
            "feedgen_feeds_failed", "Feeds that failed to build or upload.", registry=registry
        )
        self.bytes = Counter(
            "feedgen_uploaded_bytes",
            "Bytes uploaded: feeds and subscribe pages.",
            registry=registry,
        )
        self.events = Counter(
            "feedgen_events_rendered", "Events and to-dos in the feeds built.", registry=registry
        )
        self.last_success = Gauge(
            "feedgen_last_success_timestamp_seconds",
            "When a job of this kind last succeeded (Unix time).",
            ["job"],
            registry=registry,
        )
        self.feeds = Gauge(
            "feedgen_feeds",
            "Active feeds: current (published) or waiting for a build; failing ones also wait.",
            ["state"],
            registry=registry,
        )
        self.deletions = Gauge(
            "feedgen_deletions_pending",
            "Objects of rotated or revoked feeds waiting for deletion from storage.",
            registry=registry,
        )
        self.purges = Gauge(
            "feedgen_purges_pending",
            "Objects deleted from storage and waiting for their CDN purge.",
            registry=registry,
        )
        info = Info("feedgen_worker", "The worker's version and serialiser.", registry=registry)
        info.info({"version": __version__, "serialiser": SERIALISER.split()[0]})
        for job in ("cycle", "reconcile"):  # every series from the start: rate() needs a zero
            self.duration.labels(job)
            for outcome in OUTCOMES:
                self.jobs.labels(job, outcome)

    def job_finished(
        self, job: str, outcome: str, seconds: float, report: RunReport | None = None
    ) -> None:
        """Count a job that ran (``report`` None: it raised), then read the feeds' state."""
        self.jobs.labels(job, outcome).inc()
        if outcome == "skipped":
            return
        self.duration.labels(job).observe(seconds)
        if outcome in SUCCEEDED:
            self._succeeded_at[job] = self.clock()
            self.last_success.labels(job).set(self._succeeded_at[job])
        if report is not None:
            self.built.inc(report.feeds_built)
            self.patched.inc(report.patched)
            self.uploaded.inc(report.uploaded)
            self.failed.inc(report.failed)
            self.bytes.inc(report.bytes_uploaded)
            self.events.inc(report.events)
            # Not after a job that raised: the database is likely away, and the stale figures
            # beside a failing job say enough. Idle cycles come every few seconds and change
            # nothing: a query of every feed each time would be most of their cost.
            if not report.idle or self.clock() - self.state_read_at >= STATE_SECONDS:
                self.state_read_at = self.clock()
                self.read_state()

    def progressed(self, done: int = 0, total: int = 0) -> None:
        """A batch of the running job ended: a long reconcile is progress, not a hang."""
        self.progressed_at = self.clock()

    def succeeded_at(self, job: str) -> float | None:
        return self._succeeded_at.get(job)

    def read_state(self) -> None:
        """Feeds per state (as ``feedgen status`` counts them) and the deletion queue: one query."""
        if self.engine is None:
            return
        f, b, d = state.feeds, state.builds, state.deletions
        active = f.c.revoked_at.is_(None)

        def count(table: sa.FromClause, *where: sa.ColumnElement[bool]) -> sa.ScalarSelect[int]:
            return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()

        built = b.join(f, f.c.id == b.c.feed_id)
        query = sa.select(
            count(f, active),
            count(built, active, b.c.dirty),
            count(built, active, b.c.failures > 0),
            count(d, d.c.deleted_at.is_(None)),
            count(d, d.c.deleted_at.is_not(None)),
        )
        try:
            with self.engine.connect() as conn:
                total, waiting, failing, deletions, purges = conn.execute(query).one()
        except sa.exc.SQLAlchemyError as exc:  # the figures stay; the job's own line says more
            log.debug("metrics: cannot read the feeds' state: %s", describe_failure(exc))
            return
        self.feeds.labels("current").set(total - waiting)
        self.feeds.labels("waiting").set(waiting)
        self.feeds.labels("failing").set(failing)
        self.deletions.set(deletions)
        self.purges.set(purges)
