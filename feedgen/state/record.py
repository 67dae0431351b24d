"""Recording a batch's builds in feedgen's tables: what was published and what failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, DateTime, bindparam, func, update

from ..model import exact_now
from . import tables as state


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What one build of a feed published: what the next build compares with and starts from."""

    content_hash: str
    key: str
    page_key: str
    size: int
    events: int
    trimmed: int  # events the size budget left out
    skipped: int  # broken activities left out
    left_out: str | None  # ``RenderedFeed.trimmed_state``: what an incremental update needs
    uploaded: bool  # False: the bytes were unchanged and not uploaded again


def record(
    conn: Connection,
    results: Mapping[int, BuildResult],
    errors: Mapping[int, str],
    now: datetime,
) -> None:
    """Clear the dirty flag of what was published (``results`` whose feed is not in ``errors``);
    count a failure on what was not.

    ``uploaded_at`` is the wall clock once the batch's uploads are done (``now`` may be a run's
    fixed clock): a force build leaves alone the feeds uploaded after it started
    (``Builder.build``).
    """
    uploaded_at = exact_now()
    b = state.builds
    done = [
        {
            "b_id": feed_id,
            "b_hash": result.content_hash,
            "b_key": result.key,
            "b_page": result.page_key,
            "b_size": result.size,
            "b_events": result.events,
            "b_trimmed": result.trimmed,
            "b_skipped": result.skipped,
            "b_left_out": result.left_out,
            "b_now": now,
            "b_uploaded": uploaded_at if result.uploaded else None,
        }
        for feed_id, result in results.items()
        if feed_id not in errors
    ]
    if done:
        conn.execute(
            update(b)
            .where(b.c.feed_id == bindparam("b_id"))
            .values(
                dirty=False,
                content_hash=bindparam("b_hash"),
                object_key=bindparam("b_key"),
                page_key=bindparam("b_page"),
                size=bindparam("b_size"),
                event_count=bindparam("b_events"),
                trimmed=bindparam("b_trimmed"),
                skipped=bindparam("b_skipped"),
                left_out=bindparam("b_left_out"),
                pending_ids="",
                built_at=bindparam("b_now"),
                uploaded_at=func.coalesce(bindparam("b_uploaded", type_=DateTime), b.c.uploaded_at),
                failures=0,
                last_error=None,
            ),
            done,
        )
    for feed_id, message in errors.items():
        conn.execute(
            update(b)
            .where(b.c.feed_id == feed_id)
            .values(failures=b.c.failures + 1, last_error=message[:2000], last_error_at=now)
        )
