"""`feedgen worker` whose first job is the nightly reconcile, so that a test can stop a reconcile
midway without waiting for its hour: ``python -m tests.support.reconcile_first --config PATH``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import jobs.schedule
from feedgen.cli import cli

_make_scheduler = jobs.schedule.make_scheduler


def _reconcile_first(*args: Any) -> Any:
    scheduler = _make_scheduler(*args)
    now = datetime.now(UTC)
    scheduler.modify_job("reconcile", next_run_time=now)
    scheduler.modify_job("cycle", next_run_time=now + timedelta(hours=1))
    return scheduler


if __name__ == "__main__":
    jobs.schedule.make_scheduler = _reconcile_first  # type: ignore[assignment]
    cli(args=[*sys.argv[1:], "worker"], prog_name="feedgen")
