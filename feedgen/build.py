"""Builds, cycles and reconciles: the flow source → render → publish, per batch of feeds.

A cycle marks the feeds that changes touched (``changes``), then builds every dirty feed. Feeds are
claimed in batches; on PostgreSQL with ``FOR UPDATE SKIP LOCKED``, so several workers share the
work and a worker that dies mid-batch leaves its feeds dirty for the next cycle.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select, update

from . import changes, cleanup, crm, parallel, source, state
from .batch import BatchRun, audience_of, subjects_of
from .cdn import NoopPurger, Purger
from .config import Config
from .content import FeedView
from .detect import detect as detect_changes
from .errors import CleanupRefused, RenderError
from .feeds import feed_from_row, object_key, page_key
from .incremental import Patcher
from .looks import Looks
from .model import Activity, Feed, SubjectKind, Team, User, Window
from .patch import TAIL_BYTES
from .publish import (
    HTML_CONTENT_TYPE,
    Publisher,
    Removal,
    Upload,
    clean_storage,
    content_hash,
    ensure_robots,
    process_deletions,
)
from .record import record, superseded
from .render import (
    CalendarHeader,
    EventCache,
    RenderedFeed,
    Variant,
    render_feed,
)
from .report import RunReport
from .storage import Storage
from .subscribe import page_html, subscribe_links
from .tokens import redact

log = logging.getLogger(__name__)

_TEAM = SubjectKind.TEAM.value


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


class Builder:
    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        config: Config,
        purger: Purger | None = None,
        now: Callable[[], datetime] = utc_now,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.config = config
        self.purger = purger or NoopPurger()
        self.now = now
        # Set from another thread (a signal handler) to end a run after the batch in hand.
        self.stop = stop or threading.Event()
        self.looks = Looks(config.publish)
        self.patcher = Patcher(storage, self.looks, config.publish.max_feed_bytes)
        self._warned: set[int] = set()

    # --- the three entry points -------------------------------------------------------------

    def cycle(self) -> RunReport:
        """Detect what changed since the last cycle and build only the feeds it touched."""
        report = RunReport("cycle")
        started = clock.perf_counter()
        self.detect(report)
        self._build_dirty(report)
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
        self.build_chunks([[feed_id]], report, urgent=True)
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
            users = source.Users(conn)
            teams = source.Teams(conn)
            row = conn.execute(select(state.feeds).where(state.feeds.c.id == feed_id)).one()
            feed = feed_from_row(row)
            users.need(subjects_of(feed, teams))
            audience = audience_of(feed, users, teams)
            batch = source.load_batch(conn, audience, feed.options.window(today), users)
            header, view = self.looks.header_and_view(feed, audience, users, teams)
            # Rendered while the connection is open: ``users`` reads any user not read yet.
            return render_feed(
                header,
                view,
                batch.for_users(audience),
                today=today,
                max_bytes=self.config.publish.max_feed_bytes,
                cache=EventCache(),
            )

    # --- detection ----------------------------------------------------------------------------

    def detect(self, report: RunReport, full: bool = False) -> changes.Changes:
        lookback = timedelta(seconds=self.config.worker.lookback_seconds)
        found = detect_changes(self.engine, self.now().date(), lookback, full)
        report.changed_activities += found.activities_changed + found.activities_vanished
        return found

    # --- building -----------------------------------------------------------------------------

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

    def _build_dirty(self, report: RunReport, only: Sequence[int] | None = None) -> None:
        with self.engine.connect() as conn:
            order = self._build_order(conn, only)
        chunks = list(source.chunks(order, self.config.worker.batch_size))
        if len(chunks) > 1 and parallel.usable(self.config):
            parallel.build_chunks(self.config, chunks, self.now(), report, self.stop)
        else:
            self.build_chunks(chunks, report)

    def build_chunks(
        self, chunks: Sequence[Sequence[int]], report: RunReport, *, urgent: bool = False
    ) -> None:
        """Claim and build each chunk of feed ids, one transaction each.

        Each batch reads the users and teams it shows (``source.Users``, ``source.Teams``), never
        a whole table. ``urgent`` (``publish_now``): claim the feeds dirty or not, wait for a
        worker that holds them, and upload the feed and its page whatever the last build stored.
        """
        publisher = Publisher(
            self.storage, self.config.cache_control, self.config.storage.upload_workers
        )
        cache = EventCache()
        try:
            for chunk in chunks:
                if self.stop.is_set():
                    report.stopped = True
                    break
                with self.engine.begin() as conn:
                    rows = self._claim(conn, chunk, urgent)
                    if rows:
                        today = self.now().date()
                        users, teams = source.Users(conn), source.Teams(conn)
                        teams.need(r.subject_id for r in rows if r.subject_kind == _TEAM)
                        users.need(
                            u for row in rows for u in subjects_of(feed_from_row(row), teams)
                        )
                        run = BatchRun(
                            conn, users, teams, cache, publisher, report, today, force=urgent
                        )
                        self._build_batch(run, rows)
        finally:
            publisher.close()
        report.uploaded += publisher.uploaded
        report.pages_uploaded += publisher.pages
        report.bytes_uploaded += publisher.bytes

    def _build_order(self, conn: Connection, only: Sequence[int] | None) -> array[int]:
        """The dirty feeds, each team's feed followed by its members' own.

        Colleagues share most activities: built in one batch, those are read and rendered once,
        and the team overview's events lend their bodies to the members' feeds right after it
        (``EventCache``), which then drop them. The database sorts; the run keeps one int per feed.
        """
        b, f, tm = state.builds, state.feeds, crm.team_members
        # A member of several teams is built after the first of them.
        first_team = (
            select(tm.c.user_id, func.min(tm.c.team_id).label("team_id"))
            .group_by(tm.c.user_id)
            .subquery()
        )
        is_team = f.c.subject_kind == _TEAM
        query = (
            select(f.c.id)
            .join(b, b.c.feed_id == f.c.id)
            .outerjoin(first_team, and_(~is_team, first_team.c.user_id == f.c.subject_id))
            .where(b.c.dirty.is_(True), f.c.revoked_at.is_(None))
            .order_by(
                case((is_team, f.c.subject_id), else_=func.coalesce(first_team.c.team_id, 0)),
                case((is_team, 0), else_=1),
                f.c.id,
            )
        )
        if only is not None:
            query = query.where(f.c.id.in_(list(only)))
        return array("q", conn.scalars(query))

    def _claim(self, conn: Connection, feed_ids: Sequence[int], urgent: bool) -> list[Any]:
        """Lock the feeds of ``feed_ids`` that are still dirty and that no other worker holds
        (``urgent``: dirty or not, waiting for a worker that holds one).

        On PostgreSQL the feed rows are locked with their build rows: a rotate or revoke of a feed
        being built waits for the build to commit, then deletes what the build uploaded.
        """
        b, f = state.builds, state.feeds
        query = (
            select(
                f,
                b.c.content_hash,
                b.c.object_key.label("stored_key"),
                b.c.page_key.label("stored_page_key"),
                b.c.pending_ids,
                b.c.left_out,
                b.c.built_at,
                b.c.trimmed,
                b.c.skipped,
            )
            .join(b, b.c.feed_id == f.c.id)
            .where(f.c.revoked_at.is_(None), f.c.id.in_(list(feed_ids)))
        )
        if not urgent:
            query = query.where(b.c.dirty.is_(True))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=[b, f], skip_locked=not urgent)
        rows = {row.id: row for row in conn.execute(query)}
        return [rows[feed_id] for feed_id in feed_ids if feed_id in rows]

    def _build_batch(self, run: BatchRun, claimed: list[Any]) -> None:
        rows = self._patch_feeds(run, claimed)
        for group in self._groups(rows, run.users, run.teams):
            self._build_group(run, group)
        run.errors.update(run.publisher.wait())
        run.report.errors.update(run.errors)
        record(run.conn, run.results, run.errors, run.report, self.now())
        superseded(run.conn, self.storage, claimed, self.now(), run.report)

    def _groups(
        self, rows: list[Any], users: Mapping[int, User], teams: Mapping[int, Team]
    ) -> list[list[tuple[Feed, Any, list[int]]]]:
        """Split claimed feeds so that no group reads more than batch_size users' activities.

        A team feed's audience is every member: without this, a batch of team feeds would read a
        whole CRM's activities at once.
        """
        limit = self.config.worker.batch_size
        groups: list[list[tuple[Feed, Any, list[int]]]] = [[]]
        seen: set[int] = set()
        for row in rows:
            feed = feed_from_row(row)
            audience = audience_of(feed, users, teams)
            new = set(audience) - seen
            if groups[-1] and len(seen) + len(new) > limit:
                groups.append([])
                seen = set()
            groups[-1].append((feed, row, audience))
            seen.update(audience)
        return [group for group in groups if group]

    def _build_group(self, run: BatchRun, group: list[tuple[Feed, Any, list[int]]]) -> None:
        windows = [feed.options.window(run.today) for feed, _, _ in group]
        window = Window(min(w.start for w in windows), max(w.end for w in windows))
        wanted = sorted({u for _, _, audience in group for u in audience})
        # A group's feeds share its activities; the next group reads others. Memory stays flat.
        run.cache.clear()
        batch = source.load_batch(run.conn, wanted, window, run.users)
        self._warn(batch.errors, run.report)
        # Each rendered event is kept until the last feed of the group that shows it.
        looks = {
            feed.id: self.looks.header_and_view(feed, audience, run.users, run.teams)
            for feed, _, audience in group
        }
        uses: Counter[tuple[int, Variant]] = Counter()
        for feed, _, audience in group:
            variant = looks[feed.id][1].variant
            for activity in batch.for_users(audience):
                uses[activity.id, variant] += 1
        run.cache.expect(uses)
        for feed, row, audience in group:
            try:
                header, view = looks[feed.id]
                run.results[feed.id] = self._build_one(
                    run, feed, row, batch.for_users(audience), header, view
                )
            except Exception as exc:  # a bug in one feed must not stop the others
                log.exception("feed %s (%s) failed to render", feed.id, redact(feed.token))
                run.errors[feed.id] = f"render failed: {type(exc).__name__}: {exc}"

    def _build_one(
        self,
        run: BatchRun,
        feed: Feed,
        row: Any,
        activities: list[Activity],
        header: CalendarHeader,
        view: FeedView,
    ) -> dict[str, Any]:
        rendered = render_feed(
            header,
            view,
            activities,
            today=run.today,
            max_bytes=self.config.publish.max_feed_bytes,
            cache=run.cache,
            # A trimmed feed keeps the first events it leaves out, for its incremental updates.
            tail_bytes=TAIL_BYTES,
        )
        self._warn(rendered.skipped, run.report)
        return self._publish(run, feed, row, rendered, header.name)

    def _publish(
        self,
        run: BatchRun,
        feed: Feed,
        row: Any,
        rendered: RenderedFeed,
        name: str,
        skipped: int | None = None,
    ) -> dict[str, Any]:
        """Upload the feed when its bytes changed, and its page when the last build did not
        store this one (``run.force``: both, whatever was stored)."""
        digest = content_hash(rendered.data)
        key = object_key(feed.token)
        upload = run.force or row.stored_key != key or digest != row.content_hash
        if upload:
            run.publisher.submit(Upload(feed.id, key, rendered.data))
        page = page_key(feed.page_token)
        if run.force or row.stored_page_key != page:
            links = subscribe_links(f"{self.config.publish.public_base_url}/{key}", name)
            html = page_html(links, name)
            run.publisher.submit(Upload(feed.id, page, html, HTML_CONTENT_TYPE))
        return {
            "hash": digest,
            "key": key,
            "page_key": page,
            "size": len(rendered.data),
            "events": rendered.event_count,
            "trimmed": rendered.trimmed,
            "skipped": len(rendered.skipped) if skipped is None else skipped,
            "left_out": rendered.trimmed_state,
            "uploaded": upload,
        }

    # --- incremental updates ------------------------------------------------------------------

    def _patch_feeds(self, run: BatchRun, rows: list[Any]) -> list[Any]:
        """Patch the feeds that only activity changes touched; return the rows left to build."""
        patched, errors = self.patcher.patch(run, rows)
        self._warn(errors, run.report)
        for done in patched:
            run.results[done.feed.id] = self._publish(
                run, done.feed, done.row, done.rendered, done.name, done.skipped
            )
            run.report.patched += 1
        ids = {done.feed.id for done in patched}
        return [row for row in rows if row.id not in ids]

    # --- helpers ------------------------------------------------------------------------------

    def _warn(self, errors: Iterable[RenderError], report: RunReport) -> None:
        """Log each broken activity once per builder, count it once per run."""
        for error in errors:
            if error.activity_id in report.skipped_ids:
                continue
            report.skipped_ids.add(error.activity_id)
            if error.activity_id not in self._warned:
                self._warned.add(error.activity_id)
                log.warning("skipped %s", error)
