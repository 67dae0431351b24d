"""Claiming a batch of feeds, building them, uploading and recording them: one transaction each."""

from __future__ import annotations

import logging
import threading
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine, and_, case, func, select, update

from ..config import Config
from ..crm import tables as crm
from ..crm.activities import load_batch
from ..crm.people import Teams, Users
from ..errors import RenderError
from ..model import Activity, SubjectKind, Team, User, Window, utc_now
from ..publish.pages import page_html, subscribe_links
from ..publish.storage import Storage
from ..publish.uploads import HTML_CONTENT_TYPE, Publisher, Upload, content_hash
from ..render.content import FeedView
from ..render.events import EventCache, Variant
from ..render.feed import RenderedFeed, render_feed
from ..render.header import CalendarHeader, Looks
from ..render.patch import TAIL_BYTES
from ..state import tables as state
from ..state.feeds import queue_deletion
from ..state.record import BuildResult, record
from ..tokens import keys_of, object_key, page_key, redact
from .claims import BatchRun, ClaimedFeed, audience_of, subjects_of
from .incremental import Patcher
from .report import RunReport

log = logging.getLogger(__name__)


TEAM = SubjectKind.TEAM.value


class Batches:
    """Claims batches of dirty feeds and builds them: patched from their last bytes where only
    activities changed (``incremental``), rendered in full otherwise, uploaded, recorded."""

    def __init__(
        self,
        engine: Engine,
        storage: Storage,
        config: Config,
        now: Callable[[], datetime] = utc_now,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.config = config
        self.now = now
        self.stop = stop or threading.Event()
        self.looks = Looks(config.publish)
        self.patcher = Patcher(storage, self.looks, config.publish.max_feed_bytes)
        self._warned: set[int] = set()

    def build_chunks(
        self,
        chunks: Sequence[Sequence[int]],
        report: RunReport,
        *,
        urgent: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Claim and build each chunk of feed ids, one transaction each.

        Each batch reads the users and teams it shows (``Users``, ``Teams``), never
        a whole table. ``urgent`` (``publish_now``): claim the feeds dirty or not, wait for a
        worker that holds them, and upload the feed and its page whatever the last build stored.
        ``progress`` hears (feeds done, feeds in all) after each chunk.
        """
        publisher = Publisher(
            self.storage, self.config.cache_control, self.config.storage.upload_workers
        )
        cache = EventCache()
        done, total = 0, sum(map(len, chunks))
        try:
            for chunk in chunks:
                if self.stop.is_set():
                    report.stopped = True
                    break
                with self.engine.begin() as conn:
                    claimed = self.claim(conn, chunk, urgent)
                    if claimed:
                        today = self.now().date()
                        users, teams = Users(conn), Teams(conn)
                        feeds = [item.feed for item in claimed]
                        teams.need(f.subject_id for f in feeds if f.subject_kind == TEAM)
                        users.need(u for f in feeds for u in subjects_of(f, teams))
                        run = BatchRun(
                            conn, users, teams, cache, publisher, report, today, force=urgent
                        )
                        self._build_batch(run, claimed)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        finally:
            publisher.close()
        report.uploaded += publisher.uploaded
        report.pages_uploaded += publisher.pages
        report.bytes_uploaded += publisher.bytes

    def build_order(self, conn: Connection, only: Sequence[int] | None) -> array[int]:
        """The dirty feeds, each team's feed followed by its members' own.

        Colleagues share most activities: built in one batch, those are read and rendered once,
        and the team overview's events lend their bodies to the members' feeds right after it
        (``EventCache``), which then drop them. The database sorts; the run keeps one int per feed.
        """
        b, f, tm = state.builds, state.feeds, crm.team_members
        # Nothing dirty (most cycles): skip the grouping of every membership below.
        if conn.execute(select(b.c.feed_id).where(b.c.dirty.is_(True)).limit(1)).first() is None:
            return array("q")
        # A member of several teams is built after the first of them.
        first_team = (
            select(tm.c.user_id, func.min(tm.c.team_id).label("team_id"))
            .group_by(tm.c.user_id)
            .subquery()
        )
        is_team = f.c.subject_kind == TEAM
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

    def claim(
        self, conn: Connection, feed_ids: Sequence[int], urgent: bool = False
    ) -> list[ClaimedFeed]:
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
        rows = {row.id: ClaimedFeed.from_row(row) for row in conn.execute(query)}
        return [rows[feed_id] for feed_id in feed_ids if feed_id in rows]

    def _build_batch(self, run: BatchRun, claimed: list[ClaimedFeed]) -> None:
        rest = self._patch_feeds(run, claimed)
        for group in self._groups(rest, run.users, run.teams):
            self._build_group(run, group)
        run.errors.update(run.publisher.wait())
        _count(run.report, run.results, run.errors)
        record(run.conn, run.results, run.errors, self.now())
        superseded(run.conn, self.storage, claimed, self.now(), run.report)

    def _groups(
        self, claimed: list[ClaimedFeed], users: Mapping[int, User], teams: Mapping[int, Team]
    ) -> list[list[tuple[ClaimedFeed, list[int]]]]:
        """Split claimed feeds so that no group reads more than batch_size users' activities.

        A team feed's audience is every member: without this, a batch of team feeds would read a
        whole CRM's activities at once.
        """
        limit = self.config.worker.batch_size
        groups: list[list[tuple[ClaimedFeed, list[int]]]] = [[]]
        seen: set[int] = set()
        for item in claimed:
            audience = audience_of(item.feed, users, teams)
            new = set(audience) - seen
            if groups[-1] and len(seen) + len(new) > limit:
                groups.append([])
                seen = set()
            groups[-1].append((item, audience))
            seen.update(audience)
        return [group for group in groups if group]

    def _build_group(self, run: BatchRun, group: list[tuple[ClaimedFeed, list[int]]]) -> None:
        windows = [item.feed.options.window(run.today) for item, _ in group]
        window = Window(min(w.start for w in windows), max(w.end for w in windows))
        wanted = sorted({u for _, audience in group for u in audience})
        # A group's feeds share its activities; the next group reads others. Memory stays flat.
        run.cache.clear()
        batch = load_batch(run.conn, wanted, window, run.users)
        self._warn(batch.errors, run.report)
        # Each rendered event is kept until the last feed of the group that shows it.
        looks = {
            item.id: self.looks.header_and_view(item.feed, audience, run.users, run.teams)
            for item, audience in group
        }
        uses: Counter[tuple[int, Variant]] = Counter()
        for item, audience in group:
            variant = looks[item.id][1].variant
            for activity in batch.for_users(audience):
                uses[activity.id, variant] += 1
        run.cache.expect(uses)
        for item, audience in group:
            feed = item.feed
            try:
                header, view = looks[feed.id]
                run.results[feed.id] = self._build_one(
                    run, item, batch.for_users(audience), header, view
                )
            except Exception as exc:  # a bug in one feed must not stop the others
                log.exception("feed %s (%s) failed to render", feed.id, redact(feed.token))
                run.errors[feed.id] = f"render failed: {type(exc).__name__}: {exc}"

    def _build_one(
        self,
        run: BatchRun,
        item: ClaimedFeed,
        activities: list[Activity],
        header: CalendarHeader,
        view: FeedView,
    ) -> BuildResult:
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
        return self._publish(run, item, rendered, header.name)

    def _publish(
        self,
        run: BatchRun,
        item: ClaimedFeed,
        rendered: RenderedFeed,
        name: str,
        skipped: int | None = None,
    ) -> BuildResult:
        """Upload the feed when its bytes changed, and its page when the last build did not
        store this one (``run.force``: both, whatever was stored)."""
        feed = item.feed
        digest = content_hash(rendered.data)
        key = object_key(feed.token)
        upload = run.force or item.stored_key != key or digest != item.content_hash
        if upload:
            run.publisher.submit(Upload(feed.id, key, rendered.data))
        page = page_key(feed.page_token)
        if run.force or item.stored_page_key != page:
            links = subscribe_links(f"{self.config.publish.public_base_url}/{key}", name)
            html = page_html(links, name)
            run.publisher.submit(Upload(feed.id, page, html, HTML_CONTENT_TYPE))
        return BuildResult(
            content_hash=digest,
            key=key,
            page_key=page,
            size=len(rendered.data),
            events=rendered.event_count,
            trimmed=rendered.trimmed,
            skipped=len(rendered.skipped) if skipped is None else skipped,
            left_out=rendered.trimmed_state,
            uploaded=upload,
        )

    def _patch_feeds(self, run: BatchRun, claimed: list[ClaimedFeed]) -> list[ClaimedFeed]:
        """Patch the feeds that only activity changes touched; return those left to build."""
        patched, errors = self.patcher.patch(run, claimed)
        self._warn(errors, run.report)
        for done in patched:
            run.results[done.claimed.id] = self._publish(
                run, done.claimed, done.rendered, done.name, done.skipped
            )
            run.report.patched += 1
        ids = {done.claimed.id for done in patched}
        return [item for item in claimed if item.id not in ids]

    def _warn(self, errors: Iterable[RenderError], report: RunReport) -> None:
        """Log each broken activity once per builder, count it once per run."""
        for error in errors:
            if error.activity_id in report.skipped_ids:
                continue
            report.skipped_ids.add(error.activity_id)
            if error.activity_id not in self._warned:
                self._warned.add(error.activity_id)
                log.warning("skipped %s", error)


def superseded(
    conn: Connection,
    storage: Storage,
    claimed: Sequence[ClaimedFeed],
    now: datetime,
    report: RunReport,
) -> None:
    """Delete what this batch uploaded for feeds rotated or revoked since it claimed them.

    Runs after ``record``, in the batch's transaction: a rotate or revoke that committed before
    this read is seen here, and one that commits after it deletes the old objects itself, after
    our uploads. On PostgreSQL the claim's row locks make the first case impossible; on SQLite a
    CLI command can commit between the claim and the record.
    """
    if not claimed:
        return
    f, b = state.feeds, state.builds
    by_id = {item.id: item.feed for item in claimed}
    now_held = conn.execute(
        select(f.c.id, f.c.token, f.c.revoked_at).where(f.c.id.in_(list(by_id)))
    ).all()
    for feed_id, token, revoked_at in now_held:
        if token == by_id[feed_id].token and revoked_at is None:
            continue
        old = keys_of(by_id[feed_id])
        log.info("feed %s changed URL while it was built: deleting %s", feed_id, redact(old[0]))
        queue_deletion(conn, old, now)
        if revoked_at is None:  # rotated: the new URL still needs its build
            conn.execute(
                update(b)
                .where(b.c.feed_id == feed_id)
                .values(**state.FULL_BUILD, content_hash=None, page_key=None, object_key=None)
            )
        for key in old:
            try:
                storage.delete(key)
            except Exception as exc:  # queued above: the next cycle deletes it
                report.storage_errors.append(f"delete of {redact(key)}: {exc}")


def _count(
    report: RunReport, results: Mapping[int, BuildResult], errors: Mapping[int, str]
) -> None:
    """Add a batch's builds to the run's report."""
    report.errors.update(errors)
    report.failed += len(errors)
    for feed_id, result in results.items():
        if feed_id in errors:
            continue
        report.feeds_built += 1
        report.events += result.events
        report.trimmed_feeds += bool(result.trimmed)
        report.unchanged += not result.uploaded
