"""The Builder: cycle, reconcile, build, and one feed published now; the flow CRM → render →
publish, per batch of feeds.

A cycle marks the feeds that changes touched (``crm.detect``), then builds every dirty feed in
batches (``batches``): on PostgreSQL claimed with ``FOR UPDATE SKIP LOCKED``, so several workers
share the work and a worker that dies mid-batch leaves its feeds dirty for the next cycle.
"""

from __future__ import annotations

import threading
import time as clock
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, or_, select, update

from ..config import Config
from ..crm.activities import load_batch
from ..crm.detect import detect
from ..crm.index import Changes
from ..crm.people import Teams, Users
from ..db import chunks
from ..errors import CleanupRefused
from ..model import exact_now, utc_now
from ..publish.cdn import NoopPurger, Purger
from ..publish.removals import Removal, clean_storage, process_deletions
from ..publish.storage import Storage
from ..publish.uploads import ensure_robots
from ..render.events import EventCache
from ..render.feed import RenderedFeed, render_feed
from ..state import tables as state
from ..state.feeds import feed_from_row
from . import cleanup, parallel
from .batches import Batches
from .claims import audience_of, subjects_of
from .report import RunReport

# A cycle's batches are mostly patched, a fraction of a full build's work each, and starting the
# processes costs about half a second of imports: on a 1,500-user CRM and 2 cores, cycles of 2
# and 4 batches took up to a third longer on two processes than on one, 7 about as long. With
# processes = "auto" a cycle takes them from this many batches on; a number set by hand, from 2.
CYCLE_BATCHES_FOR_PROCESSES = 8


class Builder:
    """Runs of builds against one CRM database, one store and one CDN."""

    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        config: Config,
        purger: Purger | None = None,
        now: Callable[[], datetime] = utc_now,
        stop: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.engine = engine
        # Hears (feeds done, feeds to build) as batches end: the command line's progress bar.
        self.progress = progress
        self.storage = storage
        self.config = config
        self.purger = purger or NoopPurger()
        self.now = now
        # Set from another thread (a signal handler) to end a run after the batch in hand.
        self.stop = stop or threading.Event()
        self.batches = Batches(engine, storage, config, now, self.stop)

    def cycle(self) -> RunReport:
        """Detect what changed since the last cycle and build only the feeds it touched."""
        report = RunReport("cycle")
        started = clock.perf_counter()
        self.detect(report)
        self._build_dirty(report, least_for_processes=CYCLE_BATCHES_FOR_PROCESSES)
        if not report.stopped:  # stopping: the deletions wait for the next cycle
            self._delete_queued(report)
            self._ensure_robots(report)
        report.seconds = clock.perf_counter() - started
        return report

    def reconcile(self, *, force: bool = False) -> RunReport:
        """Rebuild and compare every feed, upload what storage lacks, resync the index and delete
        the objects no active feed owns. Refuses (CleanupRefused, nothing done) when that would
        delete an unsafe share of storage (``cleanup.Survey.refusal``), unless ``force``."""
        report = RunReport("reconcile")
        started = clock.perf_counter()
        max_share = self.config.worker.max_delete_share
        before = cleanup.survey(self.engine, self.storage)
        refusal = before.refusal(max_share)
        if refusal is not None and not force:
            raise CleanupRefused(f"reconcile refused: {refusal} (see --dry-run; --force)")
        self.detect(report, full=True)
        with self.engine.begin() as conn:
            conn.execute(update(state.builds).values(**state.FULL_BUILD))
            cleanup.mark_missing(conn, before)
        self._build_dirty(report)
        if report.stopped:  # the feeds left are still dirty: the next cycle builds them
            report.seconds = clock.perf_counter() - started
            return report
        # Listed again: feeds issued, rotated or revoked during the build.
        after = cleanup.survey(self.engine, self.storage)
        refusal = after.refusal(max_share)
        if refusal is not None and not force:
            raise CleanupRefused(f"reconcile built every feed but refused to clean up: {refusal}")
        with self.engine.begin() as conn:
            report.deleted += clean_storage(conn, self.storage, after.stray, self.now())
        self._delete_queued(report)
        self._ensure_robots(report)
        report.seconds = clock.perf_counter() - started
        return report

    def build(self, feed_ids: Sequence[int] | None = None, force: bool = False) -> RunReport:
        """Build the given feeds (all when None) now; ``force`` uploads every feed, changed or not,
        and every subscribe page missing from storage (one listing: pages cost a QR code each), so
        storage emptied, restored or edited by hand is whole again."""
        report = RunReport("build")
        started = clock.perf_counter()
        since = exact_now()
        self.detect(report)
        b = state.builds
        missing = cleanup.survey(self.engine, self.storage) if force and feed_ids is None else None
        with self.engine.begin() as conn:
            values: dict[str, Any] = dict(state.FULL_BUILD)
            if force:
                values["content_hash"] = None
                if feed_ids is not None:
                    values["page_key"] = None
            query = update(b).values(**values)
            if feed_ids is not None:
                query = query.where(b.c.feed_id.in_(list(feed_ids)))
            if force:
                # A feed uploaded since this build started is done: of two force builds at once,
                # or one beside a worker, the later leaves the other's work alone.
                query = query.where(or_(b.c.uploaded_at.is_(None), b.c.uploaded_at < since))
            conn.execute(query)
            if missing is not None:
                cleanup.mark_missing(conn, missing)
        self._build_dirty(report, only=feed_ids)
        if not report.stopped:
            self._delete_queued(report)
            self._ensure_robots(report)
        report.seconds = clock.perf_counter() - started
        return report

    def publish_now(self, feed_id: int) -> RunReport:
        """Build one feed in full and store it and its subscribe page before returning, so its
        URL works the moment it is shown (issue, rotate, new options). Waits for a worker that
        is building the feed at that moment rather than skipping it."""
        report = RunReport("publish")
        started = clock.perf_counter()
        with self.engine.begin() as conn:
            b = state.builds
            conn.execute(update(b).where(b.c.feed_id == feed_id).values(**state.FULL_BUILD))
        self.batches.build_chunks([[feed_id]], report, urgent=True)
        report.seconds = clock.perf_counter() - started
        return report

    def remove_now(self, keys: Sequence[str]) -> Removal:
        """Delete queued objects from storage and purge them from the CDN at once (rotate,
        revoke); what fails stays queued for the next cycles."""
        with self.engine.begin() as conn:
            return process_deletions(conn, self.storage, self.purger, self.now(), keys)

    def preview(self, feed_id: int) -> RenderedFeed:
        """The feed as a full build would write it now; stores and changes nothing.

        An incremental update of a feed must give exactly these bytes.
        """
        today = self.now().date()
        with self.engine.connect() as conn:
            users = Users(conn)
            teams = Teams(conn)
            row = conn.execute(select(state.feeds).where(state.feeds.c.id == feed_id)).one()
            feed = feed_from_row(row)
            users.need(subjects_of(feed, teams))
            audience = audience_of(feed, users, teams)
            batch = load_batch(conn, audience, feed.options.window(today), users)
            header, view = self.batches.looks.header_and_view(feed, audience, users, teams)
            # Rendered while the connection is open: ``users`` reads any user not read yet.
            return render_feed(
                header,
                view,
                batch.for_users(audience),
                today=today,
                max_bytes=self.config.publish.max_feed_bytes,
                cache=EventCache(),
            )

    def detect(self, report: RunReport, full: bool = False) -> Changes:
        lookback = timedelta(seconds=self.config.worker.lookback_seconds)
        found = detect(self.engine, self.now().date(), lookback, full)
        report.changed_activities += found.activities_changed + found.activities_vanished
        return found

    def _delete_queued(self, report: RunReport) -> None:
        with self.engine.begin() as conn:
            removal = process_deletions(conn, self.storage, self.purger, self.now())
        report.deleted += removal.deleted
        report.storage_errors += removal.failed

    def _ensure_robots(self, report: RunReport) -> None:
        try:
            ensure_robots(self.storage, self.config.cache_control)
        except Exception as exc:  # the feeds are published; robots.txt is retried next time
            report.storage_errors.append(f"robots.txt: {exc}")

    def _build_dirty(
        self,
        report: RunReport,
        only: Sequence[int] | None = None,
        least_for_processes: int = 2,
    ) -> None:
        with self.engine.connect() as conn:
            order = self.batches.build_order(conn, only)
        parts = list(chunks(order, self.config.worker.batch_size))
        if self.config.worker.processes != "auto":  # a number set by hand: any run of batches
            least_for_processes = 2
        if (
            len(parts) >= least_for_processes
            and parallel.usable(self.config)
            and parallel.shared_with(self.config, self.engine, self.storage)
        ):
            parallel.build_chunks(self.config, parts, self.now(), report, self.stop, self.progress)
        else:
            self.batches.build_chunks(parts, report, progress=self.progress)
