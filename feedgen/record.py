"""Recording a batch's builds in feedgen's tables: what was published, what failed, and what a
rotate or revoke made obsolete while it was being built."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from . import state
from .feeds import feed_from_row, keys_of, queue_deletion
from .report import RunReport
from .storage import Storage
from .tokens import redact

log = logging.getLogger(__name__)


def record(
    conn: Connection,
    results: dict[int, dict[str, Any]],
    errors: dict[int, str],
    report: RunReport,
    now: datetime,
) -> None:
    """Clear the dirty flag of what was published; count a failure on what was not."""
    b = state.builds
    done = []
    for feed_id, result in results.items():
        if feed_id in errors:
            continue
        report.feeds_built += 1
        report.events += result["events"]
        report.trimmed_feeds += bool(result["trimmed"])
        if not result["uploaded"]:
            report.unchanged += 1
        done.append(
            {
                "b_id": feed_id,
                "b_hash": result["hash"],
                "b_key": result["key"],
                "b_page": result["page_key"],
                "b_size": result["size"],
                "b_events": result["events"],
                "b_trimmed": result["trimmed"],
                "b_skipped": result["skipped"],
                "b_left_out": result["left_out"],
                "b_now": now,
            }
        )
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
                failures=0,
                last_error=None,
            ),
            done,
        )
    for feed_id, message in errors.items():
        report.failed += 1
        conn.execute(
            update(b)
            .where(b.c.feed_id == feed_id)
            .values(failures=b.c.failures + 1, last_error=message[:2000], last_error_at=now)
        )


def superseded(
    conn: Connection, storage: Storage, rows: Sequence[Any], now: datetime, report: RunReport
) -> None:
    """Delete what this batch uploaded for feeds rotated or revoked since it claimed them.

    Runs after ``record``, in the batch's transaction: a rotate or revoke that committed before
    this read is seen here, and one that commits after it deletes the old objects itself, after
    our uploads. On PostgreSQL the claim's row locks make the first case impossible; on SQLite a
    CLI command can commit between the claim and the record.
    """
    if not rows:
        return
    f, b = state.feeds, state.builds
    claimed = {row.id: row for row in rows}
    now_held = conn.execute(
        select(f.c.id, f.c.token, f.c.revoked_at).where(f.c.id.in_(list(claimed)))
    ).all()
    for feed_id, token, revoked_at in now_held:
        row = claimed[feed_id]
        if token == row.token and revoked_at is None:
            continue
        old = keys_of(feed_from_row(row))
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
