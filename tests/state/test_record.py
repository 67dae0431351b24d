"""Recording a batch's builds: what was published clears the feed's dirty flag and is kept for
the next build to compare with; a failure is counted and kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from feedgen.model import FeedOptions, SubjectKind
from feedgen.state import tables as state
from feedgen.state.feeds import issue_feed
from feedgen.state.record import BuildResult, record
from tests.conftest import NOW
from tests.factories import Crm

RESULT = BuildResult(
    content_hash="c" * 64,
    key="k" * 43 + ".ics",
    page_key="p" * 43 + ".html",
    size=2048,
    events=12,
    trimmed=3,
    skipped=1,
    left_out="-\n",
    uploaded=True,
)


@pytest.fixture
def feed_id(crm: Crm, engine: sa.Engine) -> int:
    anna = crm.user("Anna Schmidt")
    with engine.begin() as conn:
        return issue_feed(conn, SubjectKind.USER, anna, NOW, FeedOptions()).id


def build_row(engine: sa.Engine, feed_id: int) -> sa.Row:
    b = state.builds
    with engine.connect() as conn:
        return conn.execute(sa.select(b).where(b.c.feed_id == feed_id)).one()


def test_a_published_build_is_recorded_and_clears_the_dirty_flag(
    engine: sa.Engine, feed_id: int
) -> None:
    with engine.begin() as conn:
        record(conn, {feed_id: RESULT}, {}, NOW)
    row = build_row(engine, feed_id)
    assert (row.dirty, row.content_hash, row.object_key, row.page_key) == (
        False,
        RESULT.content_hash,
        RESULT.key,
        RESULT.page_key,
    )
    assert (row.size, row.event_count, row.trimmed, row.skipped) == (2048, 12, 3, 1)
    assert (row.left_out, row.pending_ids, row.built_at, row.failures) == ("-\n", "", NOW, 0)


def test_a_failure_is_counted_and_the_feed_stays_dirty(engine: sa.Engine, feed_id: int) -> None:
    with engine.begin() as conn:
        record(conn, {feed_id: RESULT}, {feed_id: "S3 put of AbCdEf….ics failed: SlowDown"}, NOW)
        record(conn, {}, {feed_id: "S3 put of AbCdEf….ics failed: SlowDown"}, NOW)
    row = build_row(engine, feed_id)
    assert (row.dirty, row.content_hash, row.failures) == (True, None, 2)
    assert row.last_error == "S3 put of AbCdEf….ics failed: SlowDown"


def test_a_success_after_failures_clears_them(engine: sa.Engine, feed_id: int) -> None:
    with engine.begin() as conn:
        record(conn, {}, {feed_id: "render failed"}, NOW)
        record(conn, {feed_id: RESULT}, {}, NOW)
    row = build_row(engine, feed_id)
    assert (row.failures, row.last_error) == (0, None)
