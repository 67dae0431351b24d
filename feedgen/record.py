"""Recording a batch's builds in feedgen's tables: what was published, and what failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, update

from . import state
from .report import RunReport


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
