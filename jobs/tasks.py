"""The scheduled jobs around a Builder: a line each, back-off after failures, never an escape.

A job that raises (the database or the store went away) costs one WARNING line with the cause in
a few words; its traceback is logged at DEBUG only. Cycles then back off: after n failed jobs in a
row the next cycle waits 2^(n-1) intervals, at most MAX_BACKOFF_SECONDS (or one interval when
that is longer). The first job that succeeds repairs what the failed ones left: feeds stay dirty
until a build records them.

Each job's line carries its figures as ``extra`` (job, duration_seconds, outcome and the counts),
so that the JSON log format gives a pipeline fields to key on; ``metrics`` counts the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext

from feedgen.build import Builder
from feedgen.build.report import RunReport
from feedgen.config import WorkerConfig
from feedgen.errors import Busy
from feedgen.logs import describe_failure
from feedgen.model import utc_now
from feedgen.state.liveness import Heartbeat, Run
from feedgen.state.runlock import RunLock

from .metrics import WorkerMetrics, outcome_of

log = logging.getLogger("feedgen.worker")

MAX_BACKOFF_SECONDS = 300.0
# Per-feed failures logged (at DEBUG) after a job's line; `feedgen status` lists them all.
FEED_LINES = 20


class Jobs:
    """The worker's cycle and reconcile. One runs at a time (the scheduler has one thread)."""

    def __init__(
        self,
        builder: Builder,
        config: WorkerConfig,
        clock: Callable[[], float] = time.monotonic,
        lock: RunLock | None = None,
        heartbeat: Heartbeat | None = None,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.builder = builder
        self.lock = lock
        self.heartbeat = heartbeat
        self.metrics = metrics
        self.interval = config.cycle_seconds
        self.clock = clock
        self.failures = 0  # jobs failed in a row
        self.logged = False  # a job's line was written: idle cycles after it go to DEBUG
        self.resume_at = 0.0  # cycles before this moment are skipped (back-off)

    def cycle(self) -> RunReport | None:
        if self.clock() < self.resume_at:
            log.debug("cycle skipped: backing off after %d failed job(s)", self.failures)
            return None
        return self._run("cycle", self.builder.cycle)

    def reconcile(self) -> RunReport | None:
        return self._run("reconcile", self.builder.reconcile)

    def _run(self, name: str, job: Callable[[], RunReport]) -> RunReport | None:
        if self.builder.stop.is_set():  # queued behind the job that was running at the signal
            return None
        started, started_at = self.clock(), utc_now()
        try:
            with self.lock.job(f"the worker's {name}") if self.lock else nullcontext():
                if self.heartbeat:
                    self.heartbeat.job_started(name)
                report = job()
        except Busy as exc:  # a command runs a job on this SQLite database: it does the work
            log.info("%s skipped: %s", name, exc)
            if self.metrics:
                self.metrics.job_finished(name, "skipped", 0.0)
            return None
        except Exception as exc:  # the schedule must go on; the next job repairs
            log.debug("%s failed", name, exc_info=True)
            self._failed(started)
            seconds, cause = self.clock() - started, describe_failure(exc)
            if self.metrics:  # counted before the line: whoever reads the line finds them
                self.metrics.job_finished(name, "failed", seconds)
            log.warning(
                "%s failed after %.1fs: %s (%s)",
                name,
                seconds,
                cause,
                self._next_try(),
                extra={"job": name, "duration_seconds": round(seconds, 3), "outcome": "failed"},
            )
            if self.heartbeat:
                failed = Run(name, started_at, seconds, outcome="failed", error=cause)
                self.heartbeat.job_finished(failed)
            return None
        recovered = ""
        if report.errors and report.feeds_built == 0:
            self._failed(started)  # nothing got through: an outage of the store, most likely
        elif self.failures:
            recovered = f" (back after {self.failures} failed job(s))"
            self.failures, self.resume_at = 0, 0.0
        if self.metrics:
            self.metrics.job_finished(name, outcome_of(report), report.seconds, report)
        self._log(report, recovered)
        if self.heartbeat:
            # Idle cycles are counted by the metrics, not kept as runs.
            self.heartbeat.job_finished(report.as_run(started_at), record=not report.idle)
        return report

    def _failed(self, started: float) -> None:
        self.failures += 1
        delay = min(
            self.interval * 2 ** (self.failures - 1), max(self.interval, MAX_BACKOFF_SECONDS)
        )
        # Counted from the job's start, half an interval early: cycles come on whole intervals.
        self.resume_at = started + delay - self.interval / 2

    def _next_try(self) -> str:
        wait = max(self.resume_at - self.clock(), 0) + self.interval / 2
        return f"{self.failures} failed in a row; next cycle in about {wait:.0f}s"

    def _log(self, report: RunReport, recovered: str) -> None:
        """One line per job: INFO when all went well, WARNING with the causes otherwise."""
        problems = []
        if report.errors:
            causes = report.causes()
            cause, count = causes[0]
            others = f", {len(causes) - 1} other cause(s)" if len(causes) > 1 else ""
            retry = f" ({self._next_try()})" if report.feeds_built == 0 else ""
            problems.append(f"{count}× {cause}{others}; retried at the next cycle{retry}")
        if report.storage_errors:  # deletions, CDN purges, robots.txt: queued and retried
            more = len(report.storage_errors) - 1
            others = f" and {more} more" if more else ""
            problems.append(f"{report.storage_errors[0]}{others}; retried later")
        fields = _fields(report)
        if not problems:
            # A cycle every few seconds that finds nothing is the schedule working: not a line,
            # but for the worker's first, which shows it is up.
            quiet = report.idle and not recovered and self.logged
            log.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s%s",
                report.summary(),
                recovered,
                extra=fields,
            )
            self.logged = True
            return
        log.warning("%s%s; %s", report.summary(), recovered, "; ".join(problems), extra=fields)
        for feed_id, message in sorted(report.errors.items())[:FEED_LINES]:
            log.debug("feed %s: %s", feed_id, message)


# The counts of a job's line, as fields of a JSON log line.
_COUNTS = (
    *("feeds_built", "uploaded", "pages_uploaded", "unchanged", "failed", "patched", "events"),
    *("bytes_uploaded", "deleted", "skipped_activities"),
)


def _fields(report: RunReport) -> dict[str, object]:
    fields: dict[str, object] = {
        "job": report.kind,
        "duration_seconds": round(report.seconds, 3),
        "outcome": outcome_of(report),
    }
    fields.update((name, getattr(report, name)) for name in _COUNTS)
    return fields
